"""Run commits on ``refs/runs/<id>``: writing, listing, resolving ids.

A run's first commit has the launch HEAD as first parent; every later update
is a new commit whose first parent is the previous one, and the ref moves by
compare-and-swap, so the ref's history is the run's timeline and every push a
fast-forward.
"""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pygit2

from . import record, runid
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
    return git[entry.id].peel(pygit2.Tree)


def read_file(git: pygit2.Repository, commit_id: str, name: str) -> bytes | None:
    tree = record_files(git, commit_id)
    try:
        return bytes(git[tree[name].id].peel(pygit2.Blob).data)
    except KeyError:
        return None


def read_record(git: pygit2.Repository, commit_id: str) -> dict[str, Any]:
    raw = read_file(git, commit_id, "run.json")
    if raw is None:
        raise RecordError(f"commit {commit_id[:12]} has no run.json")
    return record.loads(raw)


def read_untrusted(git: pygit2.Repository, commit_id: str, run_id: str) -> dict[str, Any]:
    """A record from elsewhere: validated, as written, against its version's schema."""
    raw = read_file(git, commit_id, "run.json")
    if raw is None:
        raise RecordError(f"run {run_id}: commit {commit_id[:12]} has no run.json")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RecordError(f"run {run_id}: run.json is not valid JSON: {exc}") from None
    validate_untrusted(data, run_id)
    return record.upgrade(data)


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
    not 10,000 commits, trees and blobs.  Keyed by commit id, it never goes stale."""

    def __init__(self, repo: Repo) -> None:
        self.db: sqlite3.Connection | None = None
        try:
            os.makedirs(repo.state_dir, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(repo.state_dir, "records.sqlite"), timeout=30,
                                      isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS records (commit_id TEXT PRIMARY KEY, json BLOB)")
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


def all_runs(repo: Repo, refs: list[tuple[str, str, str | None]] | None = None) -> list[Run]:
    """Every visible run (or those of ``refs``), newest first; unreadable records are
    skipped with a warning."""
    import sys

    refs = visible_refs(repo) if refs is None else sorted(refs)
    cache = ListingCache(repo)
    known = cache.get_many([c for _, c, _ in refs])
    unknown = [c for _, c, _ in refs if c not in known]
    batch = _read_records_batch(repo, unknown) if len(unknown) >= BATCH_FROM else {}
    fresh: list[tuple[str, bytes]] = []
    runs: list[Run] = []
    for rid, commit, source in reversed(refs):
        raw = known.get(commit) or batch.get(commit)
        if raw is None:
            try:
                raw = read_file(repo.git, commit, "run.json")
            except (RecordError, KeyError, ValueError) as exc:
                print(f"warning: skipping refs/runs/{rid}: {exc}", file=sys.stderr)
                continue
            if raw is None:
                print(f"warning: skipping refs/runs/{rid}: no run.json", file=sys.stderr)
                continue
        try:
            if source is not None and commit not in known:
                data = json.loads(raw)
                validate_untrusted(data, rid)
                rec = record.upgrade(data)
            else:
                rec = record.loads(raw)
        except (RecordError, ValueError) as exc:
            print(f"warning: skipping run {rid}: {exc}", file=sys.stderr)
            continue
        if commit not in known:
            fresh.append((commit, raw))
        runs.append(Run(rid, commit, rec, source))
    cache.put_many(fresh)
    return runs


# From this many records unknown to the listing cache, one `git cat-file --batch`
# reads them about three times faster than object-by-object lookups.
BATCH_FROM = 500


def _read_records_batch(repo: Repo, commits: list[str]) -> dict[str, bytes]:
    """commit -> its .gitruns/run.json, read through one `git cat-file --batch`."""
    import subprocess

    spec = "".join(f"{c}:{RECORD_DIR}/run.json\n" for c in commits).encode()
    try:
        proc = subprocess.run(["git", "cat-file", "--batch"], cwd=repo.git_dir, input=spec,
                              capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {}  # the object-by-object path still works
    out: dict[str, bytes] = {}
    data = proc.stdout
    pos = 0
    for commit in commits:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<spec> missing": read the slow way, which reports why
        size = int(header[2])
        out[commit] = data[pos:pos + size]
        pos += size + 1
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
    refs = visible_refs(repo)
    rid = resolve(repo, text, refs)
    found = {r: (c, s) for r, c, s in refs}
    commit, source = found[rid]
    rec = read_record(repo.git, commit) if source is None else read_untrusted(repo.git, commit, rid)
    return Run(rid, commit, rec, source)


def validate_untrusted(data: Any, run_id: str) -> None:
    """A record fetched from elsewhere is untrusted input: check it, as written,
    against the schema of the version it claims."""
    import jsonschema

    version = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(version, int) or not 1 <= version <= record.SCHEMA_VERSION:
        raise RecordError(f"run {run_id}: unknown record schema {version!r}")
    error = jsonschema.exceptions.best_match(record.validator(version).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "record"
        raise RecordError(f"run {run_id}: invalid record at {where}: {error.message}")
    if data.get("id") != run_id:
        raise RecordError(f"run {run_id}: its record says it is run {data.get('id')}")
