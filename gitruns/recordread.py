"""Reading a run's record files (``.gitruns/*`` of a run commit) out of git.

Sizes are checked before bytes are read (see ``bounds``); an object a partial
clone lacks is read through git, which fetches it from the promisor remote.
Parsing and validating what was read is ``validation``'s job.
"""
from __future__ import annotations

import pygit2

from . import bounds, record
from .errors import RecordError
from .promisor import prefetch, promisor_remotes
from .runrefs import RECORD_DIR, record_files
from .validation import parse_record


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


def read_record(git: pygit2.Repository, commit_id: str) -> record.RunRecord:
    raw = read_file(git, commit_id, "run.json")
    if raw is None:
        raise RecordError(f"commit {commit_id[:12]} has no run.json")
    return record.loads(raw)


def read_untrusted(git: pygit2.Repository, commit_id: str, run_id: str) -> record.RunRecord:
    """A record from elsewhere: bounded, then validated, as written, against its
    version's schema."""
    try:
        raw = read_file(git, commit_id, "run.json")
    except RecordError as exc:
        raise type(exc)(f"run {run_id}: {exc}") from None
    if raw is None:
        raise RecordError(f"run {run_id}: commit {commit_id[:12]} has no run.json")
    return parse_record(raw, run_id, "schema")
