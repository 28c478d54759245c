"""``git run promote``: freeze an artifact of a run under a stable name, ``refs/promoted/<NAME>``.

A promotion is a commit whose tree holds only ``.gitruns/promotion.json`` (the
record of :mod:`gitruns.promotion`); its parents are the previous promotion of
the name (so ``git log --first-parent refs/promoted/NAME`` is the name's
history) and the run's commit (so the run travels with it).  The commit is
written with ``git commit-tree -S`` when signing is asked for (``-S``, or git
config ``commit.gpgSign``), so whatever git signs with (gpg, ssh, x509, an
agent) just works; with pygit2 otherwise.  The ref moves by compare-and-swap.

``promotions`` lists the local ones.  Nothing here prints.  See docs/promotion.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import promotion, timeutil
from .errors import ConcurrentUpdate, GitrunsError, RecordError, UsageError
from .repo import Repo


class CannotPromote(GitrunsError):
    """The run or artifact cannot be promoted (exit 1)."""


@dataclass
class PromoteResult:
    name: str
    commit: str
    run: str
    artifact: str
    digest: str
    previous: str | None  # the name's promotion commit before this one
    signed: bool
    step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "commit": self.commit, "run": self.run, "artifact": self.artifact,
                "step": self.step, "digest": self.digest, "previous": self.previous, "signed": self.signed}


@dataclass
class PromotionEntry:
    """One local promotion for ``promote --list``."""

    name: str
    commit: str
    record: promotion.Promotion

    @property
    def retired(self) -> bool:
        return self.record.get("retired") is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "commit": self.commit}
        out.update({k: v for k, v in self.record.items() if k not in ("name",)})
        return out


# -- writing promotion commits (promote and retire) -----------------------------

def wants_signature(repo: Repo, sign: bool | None) -> bool:
    """``sign`` when given (-S / --no-sign), else git config ``commit.gpgSign``."""
    if sign is not None:
        return sign
    try:
        return bool(repo.git.config.get_bool("commit.gpgSign"))
    except (KeyError, ValueError):
        return False


def write_commit(repo: Repo, data: promotion.Promotion, parents: list[str], message: str, sign: bool) -> str:
    """The commit of a promotion record (not yet on any ref)."""
    import pygit2

    from .runrefs import BLOB, TREE, signature

    git = repo.git
    sub = git.TreeBuilder()
    sub.insert(promotion.RECORD_FILE, git.create_blob(promotion.dumps(data)), BLOB)
    top = git.TreeBuilder()
    top.insert(promotion.RECORD_DIR, sub.write(), TREE)
    tree = top.write()
    sig = signature(git)
    if not sign:
        return str(git.create_commit(None, sig, sig, message, tree, [pygit2.Oid(hex=p) for p in parents]))
    from .gitcmd import run

    env = dict(os.environ)
    for who in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{who}_NAME", sig.name)
        env.setdefault(f"GIT_{who}_EMAIL", sig.email)
    argv = ["git", "--git-dir", repo.git_dir, "commit-tree", "-S", str(tree)]
    for p in parents:
        argv += ["-p", p]
    proc = run(argv, env=env, check=False, input=message.encode())
    if proc.returncode != 0:
        from .terminal import warning_text

        lines = [ln for ln in proc.stderr.decode(errors="replace").strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"git commit-tree exited {proc.returncode}"
        raise GitrunsError(f"could not sign the promotion commit: {warning_text(detail, 300)}; nothing was "
                           "promoted (check gpg.format and user.signingKey, or promote with --no-sign)")
    return proc.stdout.decode().strip()


def move_ref(repo: Repo, name: str, old: str | None, new: str) -> None:
    """Move refs/promoted/NAME from ``old`` (None: it must not exist) to ``new``,
    failing if it moved meanwhile."""
    import pygit2

    ref = promotion.ref_name(name)
    git = repo.git
    try:
        if old is None:
            git.references.create(ref, pygit2.Oid(hex=new), force=False)
            return
        current = git.references[ref]
        if str(current.target) != old:
            raise ConcurrentUpdate(f"promotion {name} was updated meanwhile; nothing written, try again")
        current.set_target(pygit2.Oid(hex=new))
    except pygit2.AlreadyExistsError:
        raise ConcurrentUpdate(f"promotion {name} was created meanwhile; nothing written, try again") from None
    except (KeyError, pygit2.GitError) as exc:
        raise ConcurrentUpdate(f"could not update {ref}: {exc}") from None


def current(repo: Repo, name: str) -> str | None:
    """The commit refs/promoted/NAME points at, or None; RecordError when it points at
    something else than a commit (made by hand: nothing is built on it)."""
    import pygit2

    try:
        ref = repo.git.references.get(promotion.ref_name(name))
    except (ValueError, KeyError):
        return None
    if ref is None:
        return None
    try:
        obj = repo.git[ref.target]
    except (KeyError, ValueError):
        obj = None
    if obj is None or obj.type != pygit2.enums.ObjectType.COMMIT:
        raise RecordError(f"{promotion.ref_name(name)} does not point at a commit; delete it with "
                          f"'git update-ref -d {promotion.ref_name(name)}'")
    return str(ref.target)


def message(verb: str, data: promotion.Promotion) -> str:
    from .terminal import safe

    art = data["artifact"]
    return (f"{verb} {data['name']}: run {data['run'][:12]} {safe(art['path'])}\n\n"
            f"Promoted-Run: {data['run']}\nPromoted-Digest: {art['digest']}\n")


# -- the verb ----------------------------------------------------------------

def _candidates(rec: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    out: list[tuple[str | None, dict[str, Any]]] = [
        (None, a) for a in rec.get("artifacts") or [] if isinstance(a, dict)]
    for step in rec.get("steps") or []:
        if isinstance(step, dict):
            out.extend((str(step.get("name")), a) for a in step.get("outputs") or [] if isinstance(a, dict))
    return out


def find_artifact(rec: dict[str, Any], run_id: str, text: str) -> tuple[dict[str, Any], str | None]:
    """The stored artifact ``text`` (a path, or ``step:path`` for a step's output) of a run."""
    from .terminal import safe

    cands = _candidates(rec)
    step: str | None = None
    path = text.rstrip("/")
    steps = {s for s, _ in cands if s is not None}
    if ":" in text and text.split(":", 1)[0] in steps:
        step, path = text.split(":", 1)
        path = path.rstrip("/")
    hits = [(s, a) for s, a in cands if a.get("path") == path and (step is None or s == step)]
    if not hits:
        raise UsageError(f"run {run_id[:12]} has no artifact at {safe(text)} (see 'git run show {run_id[:12]}')")
    stored = [(s, a) for s, a in hits if a.get("status", "stored") == "stored" and a.get("digest")]
    if not stored:
        raise CannotPromote(f"run {run_id[:12]} declared {safe(path)} but did not store it "
                            f"({safe(hits[0][1].get('status'))}); only a stored artifact can be promoted")
    if len({a["digest"] for _, a in stored}) > 1:
        names = ", ".join(f"{s}:{path}" for s, _ in stored if s is not None)
        raise UsageError(f"{safe(path)} names different outputs of run {run_id[:12]}; say which: {safe(names)}")
    # The run's own artifact when it is one (a pipeline's final output), else the step's.
    hit = next(((s, a) for s, a in stored if s is None), stored[0])
    return hit[1], hit[0]


def _criteria(rec: dict[str, Any], run_id: str, where: str | None, repo: Repo) -> dict[str, Any]:
    """``criteria`` of the record: ``where`` as typed and the run's metrics it names
    (all of them when it names none); the run must meet it (the run index)."""
    metrics = rec.get("metrics") or {}
    if where is None:
        return {"where": None, "metrics": dict(metrics)}
    from . import query
    from .runindex import RunIndex

    expr = query.parse(where, "--where")  # malformed: one line pointing at the column, exit 2
    sql, params = query.compile_where(expr, timeutil.now())
    with RunIndex.open(repo) as index:
        met = index.count(f"({sql}) AND v.run_id = ?", [*params, run_id])
    if not met:
        from .terminal import safe

        raise CannotPromote(f"run {run_id[:12]} does not meet --where {safe(where)}; nothing promoted")
    named = [f.removeprefix("metrics.") for f in sorted(query.fields(expr)) if f.startswith("metrics.")]
    chosen = {m: metrics[m] for m in named if m in metrics}
    return {"where": where, "metrics": chosen if named else dict(metrics)}


def promote(run_text: str, artifact: str, name: str, reason: str, where: str | None = None,
            sign: bool | None = None, repo: Repo | str | os.PathLike[str] | None = None) -> PromoteResult:
    """Promote ``artifact`` of run ``run_text`` (id, prefix or name) as ``name``."""
    from . import lookup
    from .cache import local_cache
    from .launchspec import user
    from .repo import open_at
    from .sharing import store_of_default_remote
    from .terminal import safe

    repo = _open() if repo is None else open_at(repo)
    name = promotion.check_name(name)
    if not reason.strip():
        raise UsageError("--reason is empty: say why this artifact is promoted")
    run = lookup.load(repo, run_text)
    short = run.id[:12]
    if run.source is not None:
        raise CannotPromote(f"run {short} is known only from remote {safe(run.source)}; fetch it first "
                            f"('git run fetch {safe(run.source)}')")
    rec: dict[str, Any] = dict(run.record)
    if (retired := rec.get("retired")) is not None:
        raise CannotPromote(f"run {short} was retired on {safe(retired.get('at'))}: {safe(retired.get('reason'))}")
    if run.status != "succeeded":
        raise CannotPromote(f"run {short} {run.status}; only a succeeded run can be promoted")
    art, step = find_artifact(rec, run.id, artifact)
    digest = str(art["digest"])
    if not local_cache(repo).has(digest):
        store = store_of_default_remote(repo)
        if store is None or not store.has(digest):
            raise CannotPromote(f"{safe(art['path'])} ({digest}) is in neither the local artifact cache nor a "
                                "remote's store; nothing to promote")
    criteria = _criteria(rec, run.id, where, repo)
    previous = current(repo, name)
    data: promotion.Promotion = {
        "schema": promotion.SCHEMA_VERSION, "kind": "promotion", "name": name, "run": run.id,
        "run_commit": run.commit,
        "artifact": {"path": str(art["path"]), "digest": digest, "size": art.get("size"),
                     "kind": art.get("kind"), "step": step},
        "reason": reason, "criteria": criteria, "promoted_by": user(),
        "promoted_at": timeutil.iso(timeutil.now()), "retired": None,
    }
    promotion.parse(promotion.dumps(data), name)  # what we write, we could read back
    signed = wants_signature(repo, sign)
    parents = ([previous] if previous else []) + [run.commit]
    commit = write_commit(repo, data, parents, message("promote", data), signed)
    move_ref(repo, name, previous, commit)
    return PromoteResult(name, commit, run.id, str(art["path"]), digest, previous, signed, step)


def _open() -> Repo:
    from .repo import open_repo

    return open_repo(os.getcwd())


def promotions(include_retired: bool = False, repo: Repo | None = None,
               on_refused: Any = None) -> list[PromotionEntry]:
    """The local promotions, by name; a record that is refused is reported to
    ``on_refused(name, reason)`` (default: a warning) and skipped."""
    repo = repo or _open()
    out: list[PromotionEntry] = []
    for name, commit in sorted(promotion.scan(repo.git).items()):
        try:
            data = promotion.read_untrusted(repo.git, commit, name)
        except RecordError as exc:
            if on_refused is not None:
                on_refused(name, str(exc))
            else:
                from .warn import warn

                warn(f"skipping promotion {name}: {exc}")
            continue
        entry = PromotionEntry(name, commit, data)
        if entry.retired and not include_retired:
            continue
        out.append(entry)
    return out


def load(repo: Repo, text: str) -> tuple[str, str, promotion.Promotion]:
    """A promotion by NAME or refs/promoted/NAME: (name, commit, its record validated)."""
    name = promotion.check_name(text)
    commit = current(repo, name)
    if commit is None:
        from .terminal import safe

        raise UsageError(f"no promotion named '{safe(name)}' (see 'git run promote --list')")
    return name, commit, promotion.read_untrusted(repo.git, commit, name)
