"""A run's declared inputs (``-i``): hashed at launch, with a hint whether git tracks them."""
from __future__ import annotations

from . import record
from .hashing import StatCache, hash_path
from .progress import trace
from .repo import Repo, relative_to_root
from .runpaths import RunPaths


def entry(path: str, paths: RunPaths, repo: Repo, statcache: StatCache) -> record.Input:
    """The record's entry for the input ``path`` (as the user wrote it)."""
    full = paths.abs(path)
    hashed = hash_path(full, statcache, label=path)
    trace(f"input {path}: {len(hashed.files)} files, {hashed.size} bytes, {hashed.bytes_read} bytes read, "
          f"{hashed.cache_hits} stat-cache hits")
    rel = relative_to_root(paths.root, full)
    tracked = False
    if rel is not None and hashed.kind == "file":
        try:
            tracked = rel in repo.git.index
        except Exception:  # an unreadable index only loses this hint
            tracked = False
    return {"path": paths.display(full), "kind": hashed.kind, "size": hashed.size,
            "digest": hashed.digest, "files": len(hashed.files), "tracked": tracked}
