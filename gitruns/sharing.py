"""push, fetch, pull and checkout: runs through git remotes, artifacts through stores."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from . import remote as remote_mod
from . import store
from .artifactstore import RemoteStore, store_for
from .cache import ArtifactCache
from .cache import for_repo as cache_for_repo
from .errors import GitrunsError, PathError, UsageError
from .hashing import copy_and_digest, digest_file
from .repo import Repo
from .settings import load as load_settings


def local_cache(repo: Repo) -> ArtifactCache:
    return cache_for_repo(repo, load_settings(repo.git))


def parse_manifest(data: bytes) -> list[tuple[str, int, bool, str]]:
    """(digest, size, executable, relative path) of each file of a directory artifact."""
    out = []
    for line in data.decode("utf-8").splitlines():
        digest, size, mode, rel = line.split(" ", 3)
        out.append((digest, int(size), mode == "x", rel))
    return out


def run_objects(rec: dict[str, Any], cache: ArtifactCache) -> list[str]:
    """Every cache object a run's record refers to: artifacts, directory manifests
    and their files, and full logs kept outside git."""
    digests: list[str] = []
    for art in rec.get("artifacts") or []:
        if art.get("status") != "stored" or not art.get("digest"):
            continue
        digests.append(art["digest"])
        if art.get("kind") == "dir":
            if cache.has(art["digest"]):
                digests += [d for d, _, _, _ in parse_manifest(cache.read_bytes(art["digest"]))]
    for meta in (rec.get("logs") or {}).values():
        if isinstance(meta, dict) and meta.get("truncated") and meta.get("digest"):
            digests.append(meta["digest"])
    return list(dict.fromkeys(digests))


def fetch_into_cache(cache: ArtifactCache, remote_store: RemoteStore, digest: str) -> None:
    dest = cache.object_path(digest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    remote_store.download(digest, dest)
    os.chmod(dest, 0o444)


@dataclass
class PushResult:
    remote: str
    report: remote_mod.SyncReport
    uploaded: int = 0
    upload_bytes: int = 0
    store: str | None = None
    missing_locally: list[str] = field(default_factory=list)


def push(repo: Repo, remote: str | None, ids: list[str] | None) -> PushResult:
    name = remote_mod.default_remote(repo, remote)
    local = dict(store.iter_refs(repo))
    wanted = [store.resolve(repo, i) for i in ids] if ids else None
    for rid in wanted or []:
        if rid not in local:
            raise UsageError(f"run {rid} is known here only from a remote; 'git run fetch' takes it in")
    todo, report = remote_mod.plan_push(repo, name, local, wanted)
    result = PushResult(name, report)
    remote_store = store_for(repo, name)
    cache = local_cache(repo)
    if todo and remote_store is not None:
        result.store = remote_store.shown
        for rid in todo:
            rec = store.read_record(repo.git, local[rid])
            for digest in run_objects(rec, cache):
                if not cache.has(digest):
                    result.missing_locally.append(digest)
                    continue
                if not remote_store.has(digest):
                    remote_store.upload(cache.object_path(digest), digest)
                    result.uploaded += 1
                    result.upload_bytes += os.path.getsize(cache.object_path(digest))
    # Artifacts first, then the records that point at them.
    remote_mod.push_refs(repo, name, local, todo, report)
    return result


def fetch(repo: Repo, remote: str | None) -> tuple[str, remote_mod.SyncReport]:
    name = remote_mod.default_remote(repo, remote)
    return name, remote_mod.fetch(repo, name)


def _store_of_default_remote(repo: Repo, remote: str | None = None) -> RemoteStore | None:
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
    remote_store = _store_of_default_remote(repo)
    if remote_store is None:
        return
    for digest in wanted:
        try:
            if remote_store.has(digest):
                fetch_into_cache(cache, remote_store, digest)
        except GitrunsError:
            pass  # the head and tail in git are still there to show


@dataclass
class Restore:
    path: str  # relative to the working tree root
    digest: str
    size: int
    executable: bool


def _safe_target(root: str, rel: str) -> str:
    """The absolute target of a record path, refusing anything that leaves the working tree."""
    if not rel or os.path.isabs(rel) or rel.startswith(("/", "\\")) or "\0" in rel:
        raise PathError(f"refusing artifact path '{rel}': not a relative path")
    parts = rel.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts) or any(p.lower() == ".git" for p in parts):
        raise PathError(f"refusing artifact path '{rel}': it would leave the working tree")
    real_root = os.path.realpath(root)
    current = real_root
    for part in parts[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            resolved = os.path.realpath(current)
            if resolved != real_root and not resolved.startswith(real_root + os.sep):
                raise PathError(f"refusing artifact path '{rel}': {part} is a symlink leaving the working tree")
    target = os.path.join(real_root, *parts)
    if os.path.islink(target):
        raise PathError(f"refusing artifact path '{rel}': the working tree has a symlink there")
    return target


def plan_checkout(repo: Repo, run: store.Run, paths: list[str], cache: ArtifactCache,
                  remote_store: RemoteStore | None) -> list[Restore]:
    chosen = [p.rstrip("/") for p in paths]
    out: list[Restore] = []
    matched: set[str] = set()
    for art in run.record.get("artifacts") or []:
        apath = str(art.get("path"))
        if art.get("status") != "stored" or not art.get("digest"):
            if apath in chosen:
                raise PathError(f"run {run.id[:12]} declared {apath} but did not store it ({art.get('status')})")
            continue
        if chosen:
            hits = [c for c in chosen if apath == c or apath.startswith(c + "/") or c.startswith(apath + "/")]
            if not hits:
                continue
            matched.update(hits)
        if art.get("kind") == "dir":
            if not cache.has(art["digest"]):
                if remote_store is None:
                    raise GitrunsError(f"the listing of {apath} ({art['digest']}) is not in the local cache "
                                       "and no artifact store is configured")
                fetch_into_cache(cache, remote_store, art["digest"])
            for digest, size, exe, rel in parse_manifest(cache.read_bytes(art["digest"])):
                full = f"{apath}/{rel}"
                if chosen and not any(full == c or full.startswith(c + "/") or c == apath
                                      or apath.startswith(c + "/") for c in chosen):
                    continue
                out.append(Restore(full, digest, size, exe))
        else:
            out.append(Restore(apath, art["digest"], int(art.get("size") or 0), False))
    missing = [c for c in chosen if c not in matched]
    if missing:
        raise PathError(f"run {run.id[:12]} has no artifact at {', '.join(missing)}")
    return out


def checkout(repo: Repo, run_id: str, paths: list[str], force: bool, remote: str | None) -> list[str]:
    """Restore a run's artifacts into the working tree; returns the paths written."""
    root = repo.require_worktree()
    run = store.load(repo, run_id)
    cache = local_cache(repo)
    remote_store = _store_of_default_remote(repo, remote)
    plan = plan_checkout(repo, run, paths, cache, remote_store)
    targets = [(item, _safe_target(root, item.path)) for item in plan]
    # Refuse before writing anything, as git checkout does.
    conflicts = []
    todo = []
    for item, target in targets:
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                conflicts.append(f"{item.path} (a directory)")
                continue
            if digest_file(target) == item.digest:
                continue
            if not force:
                conflicts.append(item.path)
                continue
        todo.append((item, target))
    if conflicts:
        raise GitrunsError(f"would overwrite modified files (use --force): {', '.join(conflicts[:5])}"
                           + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""))
    written = []
    for item, target in todo:
        if not cache.has(item.digest):
            if remote_store is None:
                raise GitrunsError(f"{item.path} ({item.digest}) is not in the local cache and no "
                                   "artifact store is configured for a remote")
            fetch_into_cache(cache, remote_store, item.digest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.gitruns-tmp"
        # One pass: hash the bytes as they are copied, and publish only a match.
        if copy_and_digest(cache.object_path(item.digest), tmp) != item.digest:
            os.unlink(tmp)
            raise GitrunsError(f"cache object {item.digest} is corrupt; not restoring {item.path}")
        mode = 0o755 if item.executable else 0o644
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, target)
        written.append(item.path)
    return written


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
