"""Run commits on ``refs/runs/<id>``: writing, listing, resolving ids.

A run's first commit has the launch HEAD as first parent; every later update
is a new commit whose first parent is the previous one, and the ref moves by
compare-and-swap, so the ref's history is the run's timeline and every push a
fast-forward.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pygit2

from . import bounds, record, runid
from .errors import AmbiguousRun, ConcurrentUpdate, GitrunsError, RecordError, UnknownRun
from .repo import Repo

REF_PREFIX = "refs/runs/"
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


def commit_message(rec: dict[str, Any], note: str | None = None) -> str:
    cmd = " ".join(rec.get("command") or [])
    if len(cmd) > 60:
        cmd = cmd[:57] + "..."
    title = f"run {rec['id'][:12]}: {note or rec['status']}"
    if rec.get("name"):
        title += f" ({rec['name']})"
    return f"{title}: {cmd}\n\nRun-Id: {rec['id']}\nRun-Status: {rec['status']}\n"


def write(
    repo: Repo,
    rec: dict[str, Any],
    files: dict[str, bytes],
    code_tree: str,
    parents: list[str],
    previous: str | None,
) -> str:
    """Write one commit of a run and move its ref from ``previous`` to it.

    ``code_tree`` is the code's tree id; the commit's tree is it plus .gitruns/
    holding run.json and ``files``.
    """
    git = repo.git
    sub = git.TreeBuilder()
    for name in sorted({"run.json", *files}):
        data = record.dumps(rec) if name == "run.json" else files[name]
        sub.insert(name, git.create_blob(data), BLOB)
    try:
        base = git.TreeBuilder(git[pygit2.Oid(hex=code_tree)].peel(pygit2.Tree))
    except (KeyError, ValueError):
        raise GitrunsError(f"code snapshot tree {code_tree} is missing") from None
    base.insert(RECORD_DIR, sub.write(), TREE)
    return _commit(repo, rec, base.write(), parents, previous, None)


def update_record(repo: Repo, commit_id: str, rec: dict[str, Any], note: str) -> str:
    """A further commit of a run that changes only run.json (code and other files
    stay as they are); ``note`` is its title, like "code = commit abc"."""
    git = repo.git
    run_tree = git[pygit2.Oid(hex=commit_id)].peel(pygit2.Tree)
    sub = git.TreeBuilder(record_files(git, commit_id))
    sub.insert("run.json", git.create_blob(record.dumps(rec)), BLOB)
    base = git.TreeBuilder(run_tree)
    base.insert(RECORD_DIR, sub.write(), TREE)
    return _commit(repo, rec, base.write(), [commit_id], commit_id, note)


def _commit(repo: Repo, rec: dict[str, Any], tree: pygit2.Oid, parents: list[str], previous: str | None,
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


TRACK_PREFIX = "refs/gitruns/remotes/"


def scan_refs(repo: Repo) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """One pass over the refs: local runs (id -> commit) and, per remote, the runs
    last seen there (remote -> id -> commit, from refs/gitruns/remotes/<remote>/<id>)."""
    local: dict[str, str] = {}
    tracking: dict[str, dict[str, str]] = {}
    for ref in repo.git.references.iterator():
        name = ref.name
        if name.startswith(REF_PREFIX):
            rid = name[len(REF_PREFIX):]
            if runid.is_valid(rid):
                local[rid] = str(ref.target)
        elif name.startswith(TRACK_PREFIX):
            where, _, rid = name[len(TRACK_PREFIX):].rpartition("/")
            if where and runid.is_valid(rid):
                tracking.setdefault(where, {})[rid] = str(ref.target)
    return local, tracking


def iter_refs(repo: Repo) -> Iterator[tuple[str, str]]:
    """(run id, commit id) of every local run, oldest first."""
    return iter(sorted(scan_refs(repo)[0].items()))


def visible_refs(repo: Repo) -> list[tuple[str, str, str | None]]:
    """(run id, commit, source) of every run this repository can show, oldest first.

    ``source`` is None for a local run (refs/runs/<id>) and a remote's name for a
    run known only from that remote's tracking refs (a plain `git fetch` with
    the refspec of `git run remote setup` brings those).
    """
    local, tracking = scan_refs(repo)
    out: list[tuple[str, str, str | None]] = [(rid, oid, None) for rid, oid in local.items()]
    seen = set(local)
    for where in sorted(tracking):
        for rid, oid in tracking[where].items():
            if rid not in seen:
                seen.add(rid)
                out.append((rid, oid, where))
    out.sort()
    return out


def record_files(git: pygit2.Repository, commit_id: str) -> pygit2.Tree:
    commit = git[pygit2.Oid(hex=commit_id)]
    try:
        entry = commit.peel(pygit2.Tree)[RECORD_DIR]
    except KeyError:
        raise RecordError(f"commit {commit_id[:12]} has no {RECORD_DIR}/ record") from None
    if entry.type_str != "tree":  # a crafted commit: a file or submodule named .gitruns
        raise RecordError(f"commit {commit_id[:12]} has no {RECORD_DIR}/ record ({RECORD_DIR} is a {entry.type_str})")
    return git[entry.id].peel(pygit2.Tree)


def read_file(git: pygit2.Repository, commit_id: str, name: str, limit: int | None = -1) -> bytes | None:
    """A file of a run's ``.gitruns/`` directory, or None when it has none.

    ``limit`` (default: the limit for ``name`` in bounds.LIMITS, if any; None:
    no limit) is checked against the object's size before its bytes are read.
    An object this repository does not have (a partial clone) is read through
    git, which fetches it from the promisor remote.
    """
    most = bounds.LIMITS.get(name) if limit == -1 else limit
    try:
        tree = record_files(git, commit_id)
        try:
            entry = tree[name]
        except KeyError:
            return None
        if entry.type_str != "blob":
            raise RecordError(f"{RECORD_DIR}/{name} is a {entry.type_str}, not a file")
        oid = entry.id
        if most is not None:
            _kind, size = git.odb.read_header(oid)
            bounds.check_size(name, size, most)
        return bytes(git[oid].peel(pygit2.Blob).data)
    except KeyError:
        pass  # an object this clone lacks: partial clones fetch it on demand, through git
    except pygit2.GitError as exc:
        if "not found" not in str(exc).lower() and "missing" not in str(exc).lower():
            raise UnreadableRecord(f"cannot read {name} of commit {commit_id[:12]}: {exc}") from None
    return _read_through_git(git, f"{commit_id}:{RECORD_DIR}/{name}", name, most)


def _read_through_git(git: pygit2.Repository, spec: str, name: str, limit: int | None) -> bytes | None:
    import subprocess

    def cat(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "cat-file", *args], cwd=git.path, capture_output=True, check=False)

    if limit is not None:
        proc = cat("-s", spec)
        if proc.returncode != 0:
            return _missing(spec, proc.stderr)
        bounds.check_size(name, int(proc.stdout), limit)
    proc = cat("blob", spec)
    if proc.returncode != 0:
        return _missing(spec, proc.stderr)
    return proc.stdout


class UnreadableRecord(RecordError):
    """A record file that could not be read (an object a partial clone could not
    fetch, say): unlike a refused record it may well be read next time."""


def _missing(spec: str, stderr: bytes) -> bytes | None:
    text = stderr.decode(errors="replace")
    if "does not exist" in text or "exists on disk, but not in" in text:
        return None  # the tree has no such file
    detail = text.strip().splitlines()[-1] if text.strip() else "not found"
    raise UnreadableRecord(f"cannot read {spec.split(':', 1)[-1]}: {detail}")


def promisor_remotes(git: pygit2.Repository) -> list[str]:
    """The remotes this clone may fetch missing objects from (a partial clone's);
    empty for a full clone, which is checked once, from the config."""
    out = []
    try:
        for entry in git.config:
            key = entry.name.lower()
            if key == "extensions.partialclone" and entry.value:
                out.append(entry.value)
            elif key.startswith("remote.") and key.endswith(".promisor") and (entry.value or "").lower() in (
                    "true", "yes", "on", "1"):
                out.append(entry.name[len("remote."):-len(".promisor")])
    except (pygit2.GitError, ValueError):
        return []
    return list(dict.fromkeys(out))


def prefetch(git: pygit2.Repository, oids: list[str]) -> None:
    """Bring objects a partial clone lacks in one fetch from its promisor remote
    (what git does itself before a diff), instead of one lazy fetch per object.
    Best effort: anything still missing is fetched one by one when read."""
    import subprocess

    missing = [o for o in dict.fromkeys(oids) if o and o != "0" * 40 and pygit2.Oid(hex=o) not in git]
    if not missing:
        return
    for name in promisor_remotes(git):
        subprocess.run(["git", "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", name, "--no-tags",
                        "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin"],
                       cwd=git.path, input="".join(f"{o}\n" for o in missing).encode(),
                       capture_output=True, check=False)
        missing = [o for o in missing if pygit2.Oid(hex=o) not in git]
        if not missing:
            return


def prefetch_records(git: pygit2.Repository, commits: list[str], names: tuple[str, ...] = ("run.json",)) -> None:
    """In a partial clone, fetch the ``.gitruns/`` files ``names`` of ``commits`` in one go."""
    if not commits or not promisor_remotes(git):
        return
    oids = []
    for commit in commits:
        try:
            tree = record_files(git, commit)
            oids += [str(tree[n].id) for n in names if n in tree]
        except (KeyError, RecordError, ValueError, pygit2.GitError):
            continue  # a tree this clone lacks too: read one by one through git later
    prefetch(git, oids)


def parse_record(raw: bytes, run_id: str, check: str = "schema") -> dict[str, Any]:
    """run.json bytes into the current record shape, bounded first (size, depth).

    ``check``: "schema" validates the record as written against its version's
    JSON Schema (for any record that did not come from this gitruns: fetched,
    tracking, or shown alone); "shape" only checks the types listing relies on,
    which is cheap enough for 10,000 records; "none" for bytes accepted before.
    """
    try:
        bounds.check_size("run.json", len(raw))
        data = bounds.load_json(raw, "run.json")
        if check == "schema":
            validate_untrusted(data, run_id)
        elif check == "shape":
            _check_shape(data, run_id)
        return record.upgrade(data)
    except RecordError as exc:
        text = str(exc)
        kind = type(exc)
        raise kind(text if text.startswith(f"run {run_id}") else f"run {run_id}: {text}") from None


def _check_times(data: dict[str, Any]) -> None:
    """Times must be real dates, not only look like them (2026-13-45 matches the
    schema's pattern), since every reader turns them into local time."""
    from .timeutil import parse_iso

    for key in ("started_at", "ended_at"):
        if isinstance(data.get(key), str):
            try:
                parse_iso(data[key])
            except (ValueError, OverflowError):
                raise RecordError(f"invalid record at {key}: not a date and time") from None


_SHAPE: dict[str, tuple[type, ...]] = {
    "id": (str,), "name": (str, type(None)), "status": (str,), "command": (list,),
    "started_at": (str, type(None)), "duration_s": (int, float, type(None)), "code": (dict,),
    "metrics": (dict, type(None)), "tags": (dict, type(None)), "host": (str, type(None)),
    "process": (dict, type(None)), "pid": (int, type(None)),
}


def _check_shape(data: Any, run_id: str) -> None:
    """The types `ls` relies on, for records not validated against the schema."""
    if not isinstance(data, dict):
        raise RecordError("run.json is not a JSON object")
    for key, types in _SHAPE.items():
        if key in data and not isinstance(data[key], types):
            raise RecordError(f"invalid record at {key}")
    for c in data.get("command") or ():
        if type(c) is not str:
            raise RecordError("invalid record at command")
    # (Times are not parsed here, for speed: ls shows a bad one as it is.)
    code = data.get("code") or {}
    for key in ("commit", "reproducible_from"):
        if not isinstance(code.get(key), (str, type(None))):
            raise RecordError(f"invalid record at code/{key}")
    if data.get("id") != run_id:
        raise RecordError(f"its record says it is run {data.get('id')}")


def read_record(git: pygit2.Repository, commit_id: str) -> dict[str, Any]:
    raw = read_file(git, commit_id, "run.json")
    if raw is None:
        raise RecordError(f"commit {commit_id[:12]} has no run.json")
    return record.loads(raw)


def read_untrusted(git: pygit2.Repository, commit_id: str, run_id: str) -> dict[str, Any]:
    """A record from elsewhere: bounded, then validated, as written, against its
    version's schema."""
    try:
        raw = read_file(git, commit_id, "run.json")
    except RecordError as exc:
        raise type(exc)(f"run {run_id}: {exc}") from None
    if raw is None:
        raise RecordError(f"run {run_id}: commit {commit_id[:12]} has no run.json")
    return parse_record(raw, run_id, "schema")


@dataclass
class Run:
    id: str
    commit: str
    record: dict[str, Any]
    source: str | None = None  # None: a local run; else the remote it is only known from

    @property
    def status(self) -> str:
        return record.effective_status(self.record)


class ListingCache:
    """commit id -> run.json, so listing 10,000 runs reads 10,000 small rows,
    not 10,000 commits, trees and blobs.  Keyed by commit id, it never goes stale.

    It also remembers the commits whose record was refused (and why), so a bad
    run fetched into a tracking ref is reported once, not on every listing."""

    def __init__(self, repo: Repo) -> None:
        self.db: sqlite3.Connection | None = None
        try:
            os.makedirs(repo.state_dir, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(repo.state_dir, "records.sqlite"), timeout=30,
                                      isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS records (commit_id TEXT PRIMARY KEY, json BLOB)")
            # A refusal holds for the reader that made it: another gitruns
            # version (newer schemas, other limits) judges again.
            self.db.execute("CREATE TABLE IF NOT EXISTS refused (commit_id TEXT PRIMARY KEY, reason TEXT, "
                            "reader TEXT)")
        except (sqlite3.Error, OSError):
            self.db = None

    def get_many(self, commits: list[str]) -> dict[str, bytes]:
        if self.db is None:
            return {}
        try:
            rows = self.db.execute("SELECT commit_id, json FROM records").fetchall()
        except sqlite3.Error:
            return {}
        wanted = set(commits)
        return {c: j for c, j in rows if c in wanted}

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        if self.db is None or not items:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)", items)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            pass

    def refused(self) -> dict[str, str]:
        """commit id -> why its record was refused."""
        if self.db is None:
            return {}
        try:
            return dict(self.db.execute("SELECT commit_id, reason FROM refused WHERE reader = ?",
                                        (_reader(),)).fetchall())
        except sqlite3.Error:
            return {}

    def refuse(self, items: list[tuple[str, str]]) -> None:
        if self.db is None or not items:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO refused VALUES (?, ?, ?)",
                                [(c, r, _reader()) for c, r in items])
            self.db.execute("COMMIT")
        except sqlite3.Error:
            pass


def _reader() -> str:
    from . import __version__

    return f"{__version__} schema {record.SCHEMA_VERSION}"


def warn_refused(rid: str, reason: str, local: bool) -> None:
    """The one warning for a record that is not listed (record text made safe)."""
    import sys

    from .terminal import warning_text

    hint = f" (delete it with 'git update-ref -d {ref_name(rid)}')" if local else ""
    print(f"warning: skipping run {rid}: {warning_text(reason)}{hint}", file=sys.stderr)


def all_runs(repo: Repo, refs: list[tuple[str, str, str | None]] | None = None) -> list[Run]:
    """Every visible run (or those of ``refs``), newest first.

    A record that cannot be read or is refused (too large, too deep, invalid) is
    skipped with one warning.  A local run (refs/runs/*) warns every time, as it
    is this repository's own and should be deleted; a run known only from a
    tracking ref warns once (fetch reports it too) and is then skipped quietly.
    """
    refs = visible_refs(repo) if refs is None else sorted(refs)
    cache = ListingCache(repo)
    known = cache.get_many([c for _, c, _ in refs])
    refused = cache.refused()
    unknown = [c for _, c, _ in refs if c not in known and c not in refused]
    prefetch_records(repo.git, unknown)
    batch = _read_records_batch(repo, unknown) if len(unknown) >= BATCH_FROM else {}
    fresh: list[tuple[str, bytes]] = []
    newly_refused: list[tuple[str, str]] = []
    runs: list[Run] = []
    for rid, commit, source in reversed(refs):
        if commit in refused:
            if source is None:
                warn_refused(rid, refused[commit], True)
            continue
        raw = known.get(commit) or batch.get(commit)
        try:
            if raw is None:
                raw = read_file(repo.git, commit, "run.json")
                if raw is None:
                    raise RecordError(f"commit {commit[:12]} has no run.json")
            # Bytes accepted before are only parsed; new ones are bounded and
            # checked: against the schema when they came from elsewhere.
            check = "none" if commit in known else "schema" if source is not None else "shape"
            rec = parse_record(raw, rid, check)
        except (RecordError, KeyError, ValueError) as exc:
            reason = str(exc).removeprefix(f"run {rid}: ")
            warn_refused(rid, reason, source is None)
            if isinstance(exc, RecordError) and not isinstance(exc, UnreadableRecord):
                newly_refused.append((commit, reason))  # its bytes never change: no need to read them again
            continue
        if commit not in known:
            fresh.append((commit, raw))
        runs.append(Run(rid, commit, rec, source))
    cache.put_many(fresh)
    cache.refuse(newly_refused)
    return runs


# From this many records unknown to the listing cache, one `git cat-file --batch`
# reads them about three times faster than object-by-object lookups.
BATCH_FROM = 500


def _read_records_batch(repo: Repo, commits: list[str]) -> dict[str, bytes]:
    """commit -> its .gitruns/run.json, read through one `git cat-file --batch`,
    streamed: a blob over the size limit is skipped as it goes by, never held."""
    import subprocess
    import threading

    spec = "".join(f"{c}:{RECORD_DIR}/run.json\n" for c in commits).encode()
    try:
        proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo.git_dir, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return {}  # the object-by-object path still works
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        # A thread, so that git never waits on a full pipe we are not reading.
        try:
            stdin.write(spec)
            stdin.close()
        except OSError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out: dict[str, bytes] = {}
    try:
        for commit in commits:
            header = stdout.readline().split()
            if not header:
                break
            if len(header) != 3:
                continue  # "<spec> missing": read the slow way, which reports why
            size = int(header[2])
            if header[1] == b"blob" and size <= bounds.MAX_RECORD_BYTES:
                out[commit] = stdout.read(size + 1)[:size]
                continue
            left = size + 1  # not a blob, or too large: the slow way refuses it; skip its bytes
            while left > 0:
                chunk = stdout.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
    finally:
        stdout.close()
        proc.wait()
        writer.join()
    return out


def resolve(repo: Repo, text: str, refs: list[tuple[str, str, str | None]] | None = None) -> str:
    """A full run id from a unique prefix (or ``refs/runs/<id>``, or an exact --name)."""
    raw = text.strip()
    if raw.startswith(REF_PREFIX):
        raw = raw[len(REF_PREFIX):]
    refs = visible_refs(repo) if refs is None else refs
    ids = [rid for rid, _, _ in refs]
    prefix = runid.normalize_prefix(raw)
    if prefix and all(c in runid.ALPHABET for c in prefix):
        matches = [rid for rid in ids if rid.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            abbrev = runid.abbreviations(ids)
            raise AmbiguousRun(raw, [abbrev[m] for m in reversed(matches)])
    named = [r.id for r in all_runs(repo, refs) if r.record.get("name") == raw]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        abbrev = runid.abbreviations(ids)
        raise AmbiguousRun(raw, [abbrev[m] for m in named])
    if not ids:
        raise UnknownRun(f"no run matches '{raw}': this repository has no runs yet")
    raise UnknownRun(f"no run matches '{raw}' (see 'git run ls')")


def load(repo: Repo, text: str) -> Run:
    """One run, for show, diff, log and checkout: its record bounded and validated
    against its schema, local or not (a local ref can be crafted too)."""
    refs = visible_refs(repo)
    rid = resolve(repo, text, refs)
    found = {r: (c, s) for r, c, s in refs}
    commit, source = found[rid]
    from .terminal import warning_text

    try:
        rec = read_untrusted(repo.git, commit, rid)
    except RecordError as exc:
        raise RecordError(f"record refused: {warning_text(exc, 400)}") from None
    return Run(rid, commit, rec, source)


def validate_untrusted(data: Any, run_id: str) -> None:
    """A record fetched from elsewhere is untrusted input: check it, as written,
    against the schema of the version it claims."""
    import jsonschema

    version = data.get("schema") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > record.SCHEMA_VERSION:
        raise RecordError(f"run {run_id} has record schema {version}, newer than this gitruns "
                          f"understands ({record.SCHEMA_VERSION}); upgrade gitruns")
    if not isinstance(version, int) or not 1 <= version <= record.SCHEMA_VERSION:
        raise RecordError(f"run {run_id}: unknown record schema {version!r}")
    error = jsonschema.exceptions.best_match(record.validator(version).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "record"
        raise RecordError(f"run {run_id}: invalid record at {where}: {error.message}")
    if data.get("id") != run_id:
        raise RecordError(f"run {run_id}: its record says it is run {data.get('id')}")
    try:
        _check_times(data)
    except RecordError as exc:
        raise RecordError(f"run {run_id}: {exc}") from None
