"""push, fetch and pull: runs through git remotes, artifacts through stores
(checkout is in ``gitruns.checkout``)."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from . import record as record_mod
from . import remote as remote_mod
from . import tracking
from .artifactstore import RemoteStore, fetch_into_cache, store_for
from .bounds import MAX_RECORD_BYTES
from .cache import ArtifactCache, local_cache
from .catfile import read_blobs
from .errors import GitrunsError, RecordError, UsageError
from .hashing import digest_file
from .lookup import Run, resolve
from .manifest import MAX_LISTING_BYTES, parse_manifest
from .quickpush import Confirmed
from .record import RunRecord
from .recordread import read_record
from .repo import Repo, open_at
from .runrefs import RECORD_DIR
from .shareresult import FetchResult as FetchResult  # the results are part of this module's API
from .shareresult import PushResult as PushResult
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


def push(remote: str | None = None, ids: Sequence[str] | None = None, *,
         repo: str | os.PathLike[str] | Repo | None = None) -> PushResult:
    """``git run push``: the runs REMOTE lacks (or ``ids``) and their artifacts to its
    store.  ``repo``: a path inside the repository (default: the current directory).
    Problems are in the result (``refusals()``, ``failed()``); ``to_dict()`` is what
    ``--json`` prints."""
    repo = open_at(repo)
    name = remote_mod.default_remote(repo, remote)
    there = remote_mod.remote_refs(repo, name)  # the remote answers while the refs here are read
    try:
        refs = tracking.scan(repo, name)
        local = refs.runs
        wanted = [resolve(repo, i) for i in ids] if ids else None
        for rid in wanted or []:
            if rid not in local:
                raise UsageError(f"run {rid} is known here only from a remote; 'git run fetch' takes it in")
        plan = remote_mod.plan_push(repo, name, refs, wanted, with_promotions=wanted is None, there=there)
    finally:
        there.close()
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
    confirmed = Confirmed(repo.state_dir, remote_store.url)
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
