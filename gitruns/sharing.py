"""push, fetch and pull: runs through git remotes, artifacts through stores
(checkout is in ``gitruns.checkout``)."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import record as record_mod
from . import remote as remote_mod
from . import tracking
from .artifactstore import RemoteStore, fetch_into_cache, store_for
from .bounds import MAX_RECORD_BYTES
from .cache import ArtifactCache, local_cache
from .catfile import read_blobs
from .errors import GitrunsError, RecordError, UsageError
from .hashing import digest_bytes, digest_file
from .lookup import Run, resolve
from .manifest import MAX_LISTING_BYTES, parse_manifest
from .record import RunRecord
from .recordread import read_record
from .repo import Repo, open_at
from .runrefs import RECORD_DIR
from .terminal import safe


def _objects(rec: Mapping[str, Any], cache: ArtifactCache) -> list[tuple[str, str]]:
    """(digest, what it is) of every cache object a run's record refers to: artifacts,
    directory listings and their files, full logs kept outside git, and kept inputs;
    a pipeline run's step outputs (values included), step logs and kept step inputs too.  A listing
    that is not here (or corrupt: then quarantined) is named, its files cannot be."""
    out: list[tuple[str, str]] = []
    # A pipeline run's steps hold outputs (Python values among them) and logs of their own.
    steps = [s for s in rec.get("steps") or [] if isinstance(s, dict)]
    owners: list[tuple[str, Mapping[str, Any]]] = [("", rec)] + [(f"step {s.get('name')} ", s) for s in steps]
    for owner, holder in owners:
        for art in (holder.get("artifacts") if not owner else holder.get("outputs")) or []:
            if not isinstance(art, dict) or art.get("status") != "stored" or not art.get("digest"):
                continue
            apath = str(art.get("path"))
            out.append((art["digest"], f"{owner}artifact {apath}"))
            if art.get("kind") == "dir" or (art.get("kind") == "value" and isinstance(art.get("files"), int)):
                data = cache.read_verified(art["digest"], MAX_LISTING_BYTES)
                if data is not None:
                    out += [(d, f"{owner}artifact {apath}/{rel}") for d, _, _, rel in parse_manifest(data, apath)]
        for item in holder.get("inputs") or []:
            # Kept inputs (docs/inputs.md): copies of what git does not track, by digest.
            if not isinstance(item, dict) or item.get("kept") is not True or not item.get("digest"):
                continue
            ipath = str(item.get("path"))
            out.append((item["digest"], f"{owner}kept input {ipath}"))
            if item.get("kind") == "dir":
                data = cache.read_verified(item["digest"], MAX_LISTING_BYTES)
                if data is not None:
                    out += [(d, f"{owner}kept input {ipath}/{rel}") for d, _, _, rel in parse_manifest(data, ipath)]
        for stream, meta in (holder.get("logs") or {}).items():
            if isinstance(meta, dict) and meta.get("truncated") and meta.get("digest"):
                out.append((meta["digest"], f"{owner}full {stream} log"))
    first: dict[str, str] = {}
    for digest, what in out:
        first.setdefault(digest, what)  # an object shared by several artifacts is named once
    return list(first.items())


def run_objects(rec: Mapping[str, Any], cache: ArtifactCache) -> list[str]:
    """Every cache object a run's record refers to (see _objects)."""
    return [d for d, _ in _objects(rec, cache)]


def _diverged(rep: remote_mod.SyncReport) -> list[dict[str, str]]:
    """The refusal entry of each run changed both here and there (push and fetch alike)."""
    return [{"id": rid, "reason": "diverged", "message": "changed here and there; not overwritten"}
            for rid in rep.diverged]


def _named(items: list[dict[str, str]]) -> list[dict[str, str]]:
    """Refusals of promotions: keyed by ``name``, not ``id``."""
    return [{"name": i["id"], "reason": i["reason"], "message": i["message"]} for i in items]


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
    promotions: remote_mod.SyncReport = field(default_factory=remote_mod.SyncReport)

    def refusals(self) -> list[dict[str, str]]:
        """Runs not pushed, each with a reason: ``diverged`` (changed here and there),
        ``rejected`` (by the remote; its message), ``invalid`` (the local record)."""
        rep = self.report
        out = _diverged(rep)
        out += [{"id": rid, "reason": "rejected", "message": why} for rid, why in _split(rep.rejected)]
        out += [{"id": rid, "reason": "invalid", "message": why} for rid, why in _split(self.refused)]
        return out

    def failed(self) -> bool:
        """Whether anything was refused or is corrupt (the command exits 1)."""
        rep = self.report
        prom = self.promotions
        return bool(rep.diverged or rep.invalid or rep.rejected or self.corrupt or self.refused
                    or prom.diverged or prom.rejected)

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run push --json`` prints (docs/sharing.md)."""
        rep, prom = self.report, self.promotions
        return {
            "remote": self.remote,
            "pushed": rep.pushed,
            "up_to_date": rep.unchanged,
            "behind": rep.behind,
            "refused": self.refusals(),
            "promotions": {
                "pushed": prom.pushed,
                "up_to_date": prom.unchanged,
                "behind": prom.behind,
                "refused": _named(_diverged(prom) + [{"id": n, "reason": "rejected", "message": why}
                                                     for n, why in _split(prom.rejected)]),
            },
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
    promotions: remote_mod.SyncReport = field(default_factory=remote_mod.SyncReport)

    def refusals(self, rep: remote_mod.SyncReport | None = None) -> list[dict[str, str]]:
        """Runs (or, given ``self.promotions``, promotions) not taken in: ``diverged``
        (changed here and there; yours kept) or ``invalid`` (the remote's record
        failed validation; the message says why)."""
        rep = rep or self.report
        out = _diverged(rep)
        out += [{"id": rid, "reason": "invalid", "message": why} for rid, why in _split(rep.invalid)]
        return out

    def failed(self) -> bool:
        return any(r.diverged or r.invalid or r.rejected for r in (self.report, self.promotions))

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run fetch --json`` prints (docs/sharing.md)."""
        rep, prom = self.report, self.promotions
        return {
            "remote": self.remote,
            "new": rep.new,
            "updated": rep.updated,
            "unchanged": rep.unchanged,
            "ahead": rep.ahead,
            "refused": self.refusals(),
            "promotions": {
                "new": prom.new,
                "updated": prom.updated,
                "unchanged": prom.unchanged,
                "ahead": prom.ahead,
                "refused": _named(self.refusals(prom)),
            },
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


def push(remote: str | None = None, ids: Sequence[str] | None = None, *,
         repo: str | os.PathLike[str] | Repo | None = None) -> PushResult:
    """``git run push``: the runs REMOTE lacks (or ``ids``) and their artifacts to its
    store.  ``repo``: a path inside the repository (default: the current directory).
    Problems are in the result (``refusals()``, ``failed()``); ``to_dict()`` is what
    ``--json`` prints."""
    repo = open_at(repo)
    name = remote_mod.default_remote(repo, remote)
    refs = tracking.scan(repo, name)
    local = refs.runs
    wanted = [resolve(repo, i) for i in ids] if ids else None
    for rid in wanted or []:
        if rid not in local:
            raise UsageError(f"run {rid} is known here only from a remote; 'git run fetch' takes it in")
    plan = remote_mod.plan_push(repo, name, refs, wanted, with_promotions=wanted is None)
    todo, report = plan.runs, plan.report
    result = PushResult(name, report, promotions=plan.promotion_report)
    records: dict[str, RunRecord] = {}
    # All records in one `git cat-file --batch`; what it could not read, the slow way (which says why).
    raws = read_blobs(repo.git.path, [f"{local[rid]}:{RECORD_DIR}/run.json" for rid in todo], MAX_RECORD_BYTES)
    keep = []
    for rid in todo:
        # A bad record (crafted, or damaged here) is not spread further, and never
        # stops the others from being pushed.
        raw = raws.get(f"{local[rid]}:{RECORD_DIR}/run.json")
        try:
            records[rid] = record_mod.loads(raw) if raw is not None else read_record(repo.git, local[rid])
            keep.append(rid)
        except RecordError as exc:
            result.refused.append(f"{rid}: {exc}")
    todo[:] = keep
    remote_store = store_for(repo, name)
    result.has_store = remote_store is not None
    if remote_store is not None:
        _upload(repo, local, todo, report.unchanged, remote_store, result, records)
    # Artifacts first, then the records that point at them.
    # Everything the remote lacks goes, nothing was left out: one glob refspec (see push_refs).
    glob = wanted is None and not result.refused and len(todo) > 100 and refs.only_runs
    remote_mod.push_refs(repo, name, {rid: local[rid] for rid in todo}, report,
                         {n: plan.promoted[n] for n in plan.promotions}, plan.promotion_report, glob=glob)
    return result


def _upload(repo: Repo, local: dict[str, str], todo: list[str], unchanged: list[str],
            remote_store: RemoteStore, result: PushResult, records: dict[str, RunRecord]) -> None:
    """Upload, verified, every object the store lacks: of the runs being pushed, of runs
    the remote already has but this store was never confirmed to hold, and good copies
    of objects the store quarantined as corrupt."""
    cache = local_cache(repo)
    confirmed = _Confirmed(repo, remote_store.url)
    try:
        later = [rid for rid in unchanged if local[rid] not in confirmed.done]
        for rid in todo + later:
            try:
                rec = records.get(rid) or read_record(repo.git, local[rid])
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


def fetch(remote: str | None = None, *, repo: str | os.PathLike[str] | Repo | None = None) -> FetchResult:
    """``git run fetch``: take in the remote's runs (new ones, and updates that
    fast-forward); ``to_dict()`` is what ``--json`` prints."""
    repo = open_at(repo)
    name = remote_mod.default_remote(repo, remote)
    runs, promotions = remote_mod.fetch(repo, name)
    return FetchResult(name, runs, promotions)


def pull(remote: str | None = None, *, repo: str | os.PathLike[str] | Repo | None = None) -> FetchResult:
    """``git run pull``: fetch; artifacts come later, on demand, with checkout (or
    ``Run.artifacts.restore()``)."""
    return fetch(remote, repo=repo)


def store_of_default_remote(repo: Repo, remote: str | None = None) -> RemoteStore | None:
    if not remote and not remote_mod.remotes(repo):
        return None
    try:
        return store_for(repo, remote_mod.default_remote(repo, remote))
    except GitrunsError:
        if remote:
            raise
        return None


def fetch_logs(repo: Repo, run: Run, cache: ArtifactCache) -> None:
    """Bring a run's full logs (kept outside git when large) into the local cache,
    from the usual remote's store; without one, git's head and tail are shown."""
    wanted = [d for m in (run.record.get("logs") or {}).values()
              if isinstance(m, dict) and m.get("truncated") and (d := m.get("digest")) and not cache.has(d)]
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
