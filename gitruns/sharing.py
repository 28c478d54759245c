"""push, fetch and pull: runs through git remotes, artifacts through stores
(checkout is in ``gitruns.checkout``)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from . import remote as remote_mod
from . import store
from .artifactstore import CorruptObject, RemoteStore, store_for
from .cache import ArtifactCache
from .cache import for_repo as cache_for_repo
from .errors import GitrunsError, RecordError, UsageError
from .hashing import digest_bytes, digest_file
from .repo import Repo
from .settings import load as load_settings
from .terminal import safe


def local_cache(repo: Repo) -> ArtifactCache:
    return cache_for_repo(repo, load_settings(repo.git))


# A directory artifact's listing comes from the cache or a store: untrusted, so bounded.
MAX_LISTING_BYTES = 256 * 1024 * 1024
_DIGEST = re.compile(r"xxh3_128:[0-9a-f]{32}")
_SIZE = re.compile(r"[0-9]{1,19}")


def parse_manifest(data: bytes, where: str = "a directory artifact") -> list[tuple[str, int, bool, str]]:
    """(digest, size, executable, relative path) of each file of a directory artifact.

    The listing is checked line by line (digest format, size, mode, no repeated
    path); its paths go through the same checks as record paths when restored."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"malformed listing of {where}: not UTF-8") from None
    if text.endswith("\n"):
        text = text[:-1]
    out = []
    seen: set[str] = set()
    for number, line in enumerate(text.split("\n") if text else [], 1):
        fields = line.split(" ", 3)
        if (len(fields) != 4 or not _DIGEST.fullmatch(fields[0]) or not _SIZE.fullmatch(fields[1])
                or fields[2] not in ("x", "-") or not fields[3] or fields[3] in seen):
            raise RecordError(f"malformed listing of {where}: line {number}: {safe(line[:80])}")
        seen.add(fields[3])
        out.append((fields[0], int(fields[1]), fields[2] == "x", fields[3]))
    return out


def directory_listing(cache: ArtifactCache, remote_store: RemoteStore | None, digest: str, where: str) -> bytes:
    """A directory artifact's listing, verified, from the cache or else the store."""
    data = cache.read_verified(digest, MAX_LISTING_BYTES)  # a corrupt copy is quarantined
    if data is None:
        if remote_store is None:
            raise GitrunsError(f"the listing of {where} ({digest}) is not in the local cache "
                               "and no artifact store is configured")
        fetch_into_cache(cache, remote_store, digest, where)
        data = cache.read_verified(digest, MAX_LISTING_BYTES)
        if data is None:
            raise GitrunsError(f"the listing of {where} ({digest}) could not be read from the cache")
    return data


def _objects(rec: dict[str, Any], cache: ArtifactCache) -> list[tuple[str, str]]:
    """(digest, what it is) of every cache object a run's record refers to: artifacts,
    directory listings and their files, and full logs kept outside git.  A listing
    that is not here (or corrupt: then quarantined) is named, its files cannot be."""
    out: list[tuple[str, str]] = []
    for art in rec.get("artifacts") or []:
        if art.get("status") != "stored" or not art.get("digest"):
            continue
        apath = str(art.get("path"))
        out.append((art["digest"], f"artifact {apath}"))
        if art.get("kind") == "dir":
            data = cache.read_verified(art["digest"], MAX_LISTING_BYTES)
            if data is not None:
                out += [(d, f"artifact {apath}/{rel}") for d, _, _, rel in parse_manifest(data, apath)]
    for stream, meta in (rec.get("logs") or {}).items():
        if isinstance(meta, dict) and meta.get("truncated") and meta.get("digest"):
            out.append((meta["digest"], f"full {stream} log"))
    first: dict[str, str] = {}
    for digest, what in out:
        first.setdefault(digest, what)  # an object shared by several artifacts is named once
    return list(first.items())


def run_objects(rec: dict[str, Any], cache: ArtifactCache) -> list[str]:
    """Every cache object a run's record refers to (see _objects)."""
    return [d for d, _ in _objects(rec, cache)]


def fetch_into_cache(cache: ArtifactCache, remote_store: RemoteStore, digest: str, what: str = "") -> None:
    """Download an object into the cache, verified.  A copy that fails verification is
    quarantined and fetched once more (a transfer can go wrong); a second bad copy
    means the store's own object is bad: it is moved aside in the store, so a push
    from a clone with a good copy uploads it again, and the error says so."""
    dest = cache.object_path(digest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    for attempt in (1, 2):
        try:
            remote_store.download(digest, dest)
        except CorruptObject as exc:
            kept = cache.quarantine(digest, exc.path)
            if attempt == 1:
                continue
            moved = remote_store.quarantine(digest)
            raise GitrunsError(
                f"{digest}{f' ({what})' if what else ''} in artifact store {remote_store.shown} is corrupt: "
                f"two downloads failed verification (bad copy kept in {kept}"
                + (f"; the store's copy moved to {moved}" if moved else "")
                + "); repair: run 'git run push' in a clone that has a good copy, then try again") from None
        os.chmod(dest, 0o444)
        return


def _split(items: list[str]) -> list[tuple[str, str]]:
    """(run id, reason) of each "ID: reason" line of a report (run ids hold no colon)."""
    out = []
    for item in items:
        rid, _, reason = item.partition(": ")
        out.append((rid, reason))
    return out


@dataclass
class PushResult:
    """What ``push`` did.  Reasons quote remotes and records: show them through
    ``terminal.safe``/``json_text``."""

    remote: str
    report: remote_mod.SyncReport
    uploaded: int = 0
    upload_bytes: int = 0
    store: str | None = None  # the store shown (password redacted) when push used one
    missing_locally: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # one line each: object, what, run, where it went
    refused: list[str] = field(default_factory=list)  # local runs whose record is unreadable: not pushed
    repaired: int = 0  # objects re-uploaded in place of ones the store had quarantined
    has_store: bool = False  # whether the remote has an artifact store at all

    def refusals(self) -> list[dict[str, str]]:
        """Runs not pushed, each with a reason: ``diverged`` (changed here and there),
        ``rejected`` (by the remote; its message), ``invalid`` (the local record)."""
        rep = self.report
        out = [{"id": rid, "reason": "diverged", "message": "changed here and there; not overwritten"}
               for rid in rep.diverged]
        out += [{"id": rid, "reason": "rejected", "message": why} for rid, why in _split(rep.rejected)]
        out += [{"id": rid, "reason": "invalid", "message": why} for rid, why in _split(self.refused)]
        return out

    def failed(self) -> bool:
        """Whether anything was refused or is corrupt (the command exits 1)."""
        rep = self.report
        return bool(rep.diverged or rep.invalid or rep.rejected or self.corrupt or self.refused)

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run push --json`` prints (docs/sharing.md)."""
        rep = self.report
        return {
            "remote": self.remote,
            "pushed": rep.pushed,
            "up_to_date": rep.unchanged,
            "behind": rep.behind,
            "refused": self.refusals(),
            "artifacts": {
                "store": self.store,
                "has_store": self.has_store,
                "uploaded": self.uploaded,
                "bytes": self.upload_bytes,
                "repaired": self.repaired,
                "missing_locally": self.missing_locally,
                "corrupt": self.corrupt,
            },
            "ok": not self.failed(),
        }


@dataclass
class FetchResult:
    """What ``fetch`` (and ``pull``) did."""

    remote: str
    report: remote_mod.SyncReport

    def refusals(self) -> list[dict[str, str]]:
        """Runs not taken in: ``diverged`` (changed here and there; yours kept) or
        ``invalid`` (the remote's record failed validation; the message says why)."""
        rep = self.report
        out = [{"id": rid, "reason": "diverged", "message": "changed here and there; not overwritten"}
               for rid in rep.diverged]
        out += [{"id": rid, "reason": "invalid", "message": why} for rid, why in _split(rep.invalid)]
        return out

    def failed(self) -> bool:
        return bool(self.report.diverged or self.report.invalid or self.report.rejected)

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run fetch --json`` prints (docs/sharing.md)."""
        rep = self.report
        return {
            "remote": self.remote,
            "new": rep.new,
            "updated": rep.updated,
            "unchanged": rep.unchanged,
            "ahead": rep.ahead,
            "refused": self.refusals(),
            "ok": not self.failed(),
        }


class _Confirmed:
    """Run commits whose objects (those this clone holds) are known to be in a store.

    So that push can upload what the store lacks for runs the remote already has
    (pushed with plain git, or before a store was configured) without asking the
    store about every object of every run on every push: each run commit is
    checked once per store.  Kept in SQLite in the state dir; losing it only
    costs one more check."""

    def __init__(self, repo: Repo, store_url: str) -> None:
        import sqlite3

        self.key = digest_bytes(store_url.encode())  # the URL may hold a password
        self.db: Any = None
        self.added: list[str] = []
        try:
            os.makedirs(repo.state_dir, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(repo.state_dir, "stores.sqlite"), timeout=30,
                                      isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS confirmed (store TEXT, run_commit TEXT, "
                            "PRIMARY KEY (store, run_commit))")
            self.done = {row[0] for row in self.db.execute(
                "SELECT run_commit FROM confirmed WHERE store = ?", (self.key,))}
        except sqlite3.Error:
            self.db, self.done = None, set()

    def add(self, commit: str) -> None:
        self.added.append(commit)

    def close(self) -> None:
        """Keep what was confirmed, in one transaction (one disk sync, not one a run)."""
        import sqlite3

        if self.db is None:
            return
        try:
            if self.added:
                with self.db:
                    self.db.execute("BEGIN")
                    self.db.executemany("INSERT OR IGNORE INTO confirmed VALUES (?, ?)",
                                        [(self.key, c) for c in self.added])
        except sqlite3.Error:
            pass  # only costs one more check next time
        finally:
            self.db.close()


def push(repo: Repo, remote: str | None, ids: list[str] | None) -> PushResult:
    name = remote_mod.default_remote(repo, remote)
    local = dict(store.iter_refs(repo))
    wanted = [store.resolve(repo, i) for i in ids] if ids else None
    for rid in wanted or []:
        if rid not in local:
            raise UsageError(f"run {rid} is known here only from a remote; 'git run fetch' takes it in")
    todo, report = remote_mod.plan_push(repo, name, local, wanted)
    result = PushResult(name, report)
    records: dict[str, dict[str, Any]] = {}
    for rid in list(todo):
        # A bad record (crafted, or damaged here) is not spread further, and never
        # stops the others from being pushed.
        try:
            records[rid] = store.read_record(repo.git, local[rid])
        except RecordError as exc:
            todo.remove(rid)
            result.refused.append(f"{rid}: {exc}")
    remote_store = store_for(repo, name)
    result.has_store = remote_store is not None
    if remote_store is not None:
        _upload(repo, local, todo, report.unchanged, remote_store, result, records)
    # Artifacts first, then the records that point at them.
    remote_mod.push_refs(repo, name, local, todo, report)
    return result


def _upload(repo: Repo, local: dict[str, str], todo: list[str], unchanged: list[str],
            remote_store: RemoteStore, result: PushResult, records: dict[str, dict[str, Any]]) -> None:
    """Upload, verified, every object the store lacks: of the runs being pushed, of runs
    the remote already has but this store was never confirmed to hold, and good copies
    of objects the store quarantined as corrupt."""
    cache = local_cache(repo)
    confirmed = _Confirmed(repo, remote_store.url)
    try:
        later = [rid for rid in unchanged if local[rid] not in confirmed.done]
        for rid in todo + later:
            try:
                rec = records.get(rid) or store.read_record(repo.git, local[rid])
            except RecordError:
                continue  # already on the remote; its record is refused by every reader anyway
            complete = True
            for digest, what in _objects(rec, cache):
                if not cache.has(digest):
                    if rid in todo:
                        result.missing_locally.append(digest)
                    continue
                if not remote_store.has(digest):
                    complete &= _upload_verified(cache, remote_store, digest, f"{what} of run {rid}", result)
            if complete:
                confirmed.add(local[rid])
        for digest in remote_store.quarantined():
            if cache.has(digest) and not remote_store.has(digest):
                if _upload_verified(cache, remote_store, digest, "an object the store had quarantined", result):
                    result.repaired += 1
        if todo or result.uploaded or result.corrupt:
            result.store = remote_store.shown
    finally:
        confirmed.close()


def _upload_verified(cache: ArtifactCache, remote_store: RemoteStore, digest: str, what: str,
                     result: PushResult) -> bool:
    """Upload one cache object after checking its bytes against its digest; a corrupt
    one is quarantined and reported, and never reaches the store."""
    path = cache.object_path(digest)
    if digest_file(path) != digest:
        kept = cache.quarantine(digest)
        result.corrupt.append(f"{digest} ({safe(what)}) is corrupt in the local cache; moved to {kept}, "
                              "not uploaded (a clone with a good copy can upload it with 'git run push')")
        return False
    remote_store.upload(path, digest)
    result.uploaded += 1
    result.upload_bytes += os.path.getsize(path)
    return True


def fetch(repo: Repo, remote: str | None) -> FetchResult:
    """Take in the remote's runs (new ones, and updates that fast-forward)."""
    name = remote_mod.default_remote(repo, remote)
    return FetchResult(name, remote_mod.fetch(repo, name))


def pull(repo: Repo, remote: str | None) -> FetchResult:
    """fetch; artifacts come later, on demand, with checkout."""
    return fetch(repo, remote)


def store_of_default_remote(repo: Repo, remote: str | None = None) -> RemoteStore | None:
    if not remote and not remote_mod.remotes(repo):
        return None
    try:
        return store_for(repo, remote_mod.default_remote(repo, remote))
    except GitrunsError:
        if remote:
            raise
        return None


def fetch_logs(repo: Repo, run: store.Run, cache: ArtifactCache) -> None:
    """Bring a run's full logs (kept outside git when large) into the local cache,
    from the usual remote's store; without one, git's head and tail are shown."""
    wanted = [m["digest"] for m in (run.record.get("logs") or {}).values()
              if isinstance(m, dict) and m.get("truncated") and m.get("digest") and not cache.has(m["digest"])]
    if not wanted:
        return
    remote_store = store_of_default_remote(repo)
    if remote_store is None:
        return
    for digest in wanted:
        try:
            if remote_store.has(digest):
                fetch_into_cache(cache, remote_store, digest)
        except GitrunsError:
            pass  # the head and tail in git are still there to show
