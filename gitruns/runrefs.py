"""Run refs: ``refs/runs/<id>``, their names, scanning them, and the commits they point at.

A run's first commit has the launch HEAD as first parent; every later update
is a new commit whose first parent is the previous one, and the ref moves by
compare-and-swap, so the ref's history is the run's timeline and every push a
fast-forward.  Nothing here reads a record back (see ``recordread``).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pygit2

from . import record
from .errors import ConcurrentUpdate, GitrunsError, RecordError
from .repo import Repo
from .runid import REF_PREFIX as REF_PREFIX  # defined with the ids, for readers without pygit2

RECORD_DIR = ".gitruns"
TREE = pygit2.enums.FileMode.TREE
BLOB = pygit2.enums.FileMode.BLOB


def ref_name(run_id: str) -> str:
    return REF_PREFIX + run_id


def signature(git: pygit2.Repository) -> pygit2.Signature:
    try:
        return git.default_signature
    except (KeyError, pygit2.GitError):
        import getpass
        import socket

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return pygit2.Signature(user, f"{user}@{socket.gethostname()}")


def commit_message(rec: Mapping[str, Any], note: str | None = None) -> str:
    from .terminal import command_text, safe

    # One line, pasteable: a newline or escape in an argument or the name would
    # otherwise break `git log --oneline` or reach the terminal raw.
    cmd = command_text(rec.get("command") or [])
    if len(cmd) > 60:
        cmd = cmd[:57] + "..."
    title = f"run {rec['id'][:12]}: {note or rec['status']}"
    if rec.get("name"):
        title += f" ({safe(rec['name'])})"
    return f"{title}: {cmd}\n\nRun-Id: {rec['id']}\nRun-Status: {rec['status']}\n"


def _tree(git: pygit2.Repository, blobs: Mapping[str, pygit2.Oid]) -> pygit2.Oid:
    """A tree of ``blobs``, whose names may hold ``/`` (``steps/train/stdout.log``)."""
    builder = git.TreeBuilder()
    subdirs: dict[str, dict[str, pygit2.Oid]] = {}
    for name, oid in blobs.items():
        head, sep, rest = name.partition("/")
        if sep:
            subdirs.setdefault(head, {})[rest] = oid
        else:
            builder.insert(name, oid, BLOB)
    for head, inner in subdirs.items():
        builder.insert(head, _tree(git, inner), TREE)
    return builder.write()


def write(
    repo: Repo,
    rec: Mapping[str, Any],
    files: dict[str, bytes],
    code_tree: str,
    parents: list[str],
    previous: str | None,
    note: str | None = None,
) -> str:
    """Write one commit of a run and move its ref from ``previous`` to it.

    ``code_tree`` is the code's tree id; the commit's tree is it plus .gitruns/
    holding run.json and ``files`` (a name may hold ``/``: ``steps/<step>/stdout.log``).
    ``note`` titles the commit instead of the status ("step train succeeded").
    """
    git = repo.git
    blobs = {name: git.create_blob(data) for name, data in files.items() if name != "run.json"}
    blobs["run.json"] = git.create_blob(record.dumps(rec))
    sub = _tree(git, blobs)
    try:
        base = git.TreeBuilder(git[pygit2.Oid(hex=code_tree)].peel(pygit2.Tree))
    except (KeyError, ValueError):
        raise GitrunsError(f"code snapshot tree {code_tree} is missing") from None
    base.insert(RECORD_DIR, sub, TREE)
    return _commit(repo, rec, base.write(), parents, previous, note)


def update_record(repo: Repo, commit_id: str, rec: Mapping[str, Any], note: str) -> str:
    """A further commit of a run that changes only run.json (code and other files
    stay as they are); ``note`` is its title, like "code = commit abc"."""
    git = repo.git
    run_tree = git[pygit2.Oid(hex=commit_id)].peel(pygit2.Tree)
    sub = git.TreeBuilder(record_files(git, commit_id))
    sub.insert("run.json", git.create_blob(record.dumps(rec)), BLOB)
    base = git.TreeBuilder(run_tree)
    base.insert(RECORD_DIR, sub.write(), TREE)
    return _commit(repo, rec, base.write(), [commit_id], commit_id, note)


def _commit(repo: Repo, rec: Mapping[str, Any], tree: pygit2.Oid, parents: list[str], previous: str | None,
            note: str | None) -> str:
    git = repo.git
    sig = signature(git)
    oid = git.create_commit(None, sig, sig, commit_message(rec, note), tree, [pygit2.Oid(hex=p) for p in parents])
    if previous is not None:
        move_ref(git, rec["id"], previous, str(oid))
        return str(oid)
    try:
        git.references.create(ref_name(rec["id"]), oid, force=False)
    except pygit2.AlreadyExistsError:
        raise ConcurrentUpdate(f"run {rec['id']} already exists") from None
    except pygit2.GitError as exc:
        raise ConcurrentUpdate(f"could not create {ref_name(rec['id'])}: {exc}") from None
    return str(oid)


def move_ref(git: pygit2.Repository, run_id: str, old: str, new: str) -> None:
    """Move refs/runs/<id> from ``old`` to ``new``, failing if it moved meanwhile."""
    name = ref_name(run_id)
    try:
        ref = git.references[name]
        if str(ref.target) != old:
            raise ConcurrentUpdate(f"run {run_id} was updated elsewhere; not overwriting it")
        ref.set_target(pygit2.Oid(hex=new))  # libgit2 refuses if the ref moved since it was read
    except (KeyError, pygit2.GitError) as exc:
        raise ConcurrentUpdate(f"could not update {name}: {exc}") from None


def scan_refs(repo: Repo) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """One pass over the refs: local runs (id -> commit) and, per remote, the runs
    last seen there (remote -> id -> commit, from refs/gitruns/remotes/<remote>/<id>)."""
    from .runindex import scan

    local, remotes, _promoted = scan(repo)
    return local, remotes


def iter_refs(repo: Repo) -> Iterator[tuple[str, str]]:
    """(run id, commit id) of every local run, oldest first."""
    return iter(sorted(scan_refs(repo)[0].items()))


def visible_refs(repo: Repo) -> list[tuple[str, str, str | None]]:
    """(run id, commit, source) of every run this repository can show, oldest first.

    ``source`` is None for a local run (refs/runs/<id>) and a remote's name for a
    run known only from that remote's tracking refs (a plain `git fetch` with
    the refspec of `git run remote setup` brings those).
    """
    local, remotes = scan_refs(repo)
    out: list[tuple[str, str, str | None]] = [(rid, oid, None) for rid, oid in local.items()]
    seen = set(local)
    for where in sorted(remotes):
        for rid, oid in remotes[where].items():
            if rid not in seen:
                seen.add(rid)
                out.append((rid, oid, where))
    out.sort()
    return out


def record_files(git: pygit2.Repository, commit_id: str) -> pygit2.Tree:
    """The ``.gitruns/`` tree of a run commit."""
    commit = git[pygit2.Oid(hex=commit_id)]
    try:
        entry = commit.peel(pygit2.Tree)[RECORD_DIR]
    except KeyError:
        raise RecordError(f"commit {commit_id[:12]} has no {RECORD_DIR}/ record") from None
    if entry.type_str != "tree":  # a crafted commit: a file or submodule named .gitruns
        raise RecordError(f"commit {commit_id[:12]} has no {RECORD_DIR}/ record ({RECORD_DIR} is a {entry.type_str})")
    return git[entry.id].peel(pygit2.Tree)


