"""A run's outputs (``-o``) and the artifacts its code logged, stored in the
artifact cache once the run ends; one record entry each, saying how far it got."""
from __future__ import annotations

import os

from . import record
from .cache import ArtifactCache, CacheError
from .errors import GitrunsError
from .hashing import HashedPath, StatCache, hash_path
from .manifest import manifest_bytes
from .outcome import Problems
from .runpaths import RunPaths


def store_all(outputs: list[str], logged: list[str], paths: RunPaths, cache: ArtifactCache,
              statcache_path: str, problems: Problems) -> list[record.Artifact]:
    """The -o outputs, then the paths logged from code, each stored once."""
    artifacts: list[record.Artifact] = []
    seen: set[str] = set()
    statcache = StatCache(statcache_path)
    try:
        for full, source in [(p, "output") for p in outputs] + [(p, "logged") for p in logged]:
            if full in seen:
                continue
            seen.add(full)
            artifacts.append(store(full, source, paths, cache, statcache, problems))
    finally:
        statcache.close()
    return artifacts


def store(full: str, source: str, paths: RunPaths, cache: ArtifactCache, statcache: StatCache,
          problems: Problems) -> record.Artifact:
    """One artifact of the record; what goes wrong is added to ``problems`` and the
    entry says how far it got (a digest computed before the cache failed is kept)."""
    shown = paths.display(full)
    what = f"output {shown}" if source == "output" else f"logged artifact {shown}"
    entry: record.Artifact = {"path": shown, "source": source, "status": "error", "kind": None,
                              "size": None, "digest": None}
    reason = paths.refusal(full)
    if reason is not None:
        # Checked again here: a path logged from code, or an output the command
        # turned into a symlink into .git, must never be read into the cache.
        message = f"{what} is {reason}; it was not stored"
        problems.append(("storage", message))
        entry["error"] = message
        return entry
    if not os.path.exists(full):
        if source == "output":
            problems.append(("missing", f"output {shown} was not written by the command"))
        entry["status"] = "missing"
        return entry
    try:
        hashed: HashedPath = hash_path(full, statcache, label=shown)
    except GitrunsError as exc:
        message = f"{what} could not be stored: {exc}"
        problems.append(("storage", message))
        entry["error"] = message
        return entry
    entry["kind"] = hashed.kind
    entry["size"] = hashed.size
    entry["digest"] = hashed.digest
    entry["files"] = len(hashed.files)
    methods: set[str] = set()
    try:
        for f in hashed.files:
            methods.add(cache.store_file(f.abspath, f.digest))
        if hashed.kind == "dir":
            cache.store_bytes(manifest_bytes(hashed.files))
    except CacheError as exc:
        message = f"{what} was not stored: {exc}"
        problems.append(("disk_full" if exc.disk_full else "storage", message))
        entry["error"] = message
        entry["stored_by"] = sorted(methods)
        return entry
    entry["status"] = "stored"
    entry["stored_by"] = sorted(methods)
    return entry
