"""A run's declared inputs (``-i``): hashed at launch, with a hint whether git
tracks them; the ones git does not track are kept in the artifact cache by digest.

Keeping is what lets a run be rerun from its record alone (see docs/inputs.md):
an input git does not track is copied into the content-addressed cache (reflink
when the filesystem can, else a copy; never a hardlink, which would make the
user's data file the read-only cache object), stored as an output is (a
directory is its listing plus its files), so it can be restored by its digest
like an artifact.  ``gitruns.keepInputs`` turns it off, ``gitruns.keepInputsMaxSize``
caps it; an input that cannot be kept (too large, disk full, changed while being
copied) is recorded by digest with ``not_kept`` saying why, and never fails the run.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import record
from .cache import ArtifactCache, CacheError, ChangedWhileStoring
from .errors import GitrunsError
from .hashing import HashedPath, StatCache, hash_path
from .manifest import manifest_bytes
from .progress import Progress, human_size, trace
from .repo import Repo, relative_to_root
from .runpaths import RunPaths
from .warn import warn

if TYPE_CHECKING:
    from .settings import Settings

CHANGED = "changed while being kept"
TURNED_OFF = "gitruns.keepInputs is false"


def entries(given: list[str], paths: RunPaths, repo: Repo, statcache: StatCache,
            keeper: Keeper) -> list[record.Input]:
    """The record's entries for a run's inputs, those git does not track kept by
    ``keeper`` (one warning for all that could not be)."""
    out = []
    for path in given:
        item, hashed = hashed_entry(path, paths, repo, statcache)
        if not item.get("tracked"):
            keeper.keep(item, hashed)
        out.append(item)
    keeper.tell()
    return out


def entry(path: str, paths: RunPaths, repo: Repo, statcache: StatCache) -> record.Input:
    """The record's entry for the input ``path`` (as the user wrote it)."""
    return hashed_entry(path, paths, repo, statcache)[0]


def hashed_entry(path: str, paths: RunPaths, repo: Repo,
                 statcache: StatCache) -> tuple[record.Input, HashedPath]:
    """The record's entry for the input ``path``, and its files as hashed (for keeping)."""
    full = paths.abs(path)
    hashed = hash_path(full, statcache, label=path)
    trace(f"input {path}: {len(hashed.files)} files, {hashed.size} bytes, {hashed.bytes_read} bytes read, "
          f"{hashed.cache_hits} stat-cache hits")
    item: record.Input = {"path": paths.display(full), "kind": hashed.kind, "size": hashed.size,
                          "digest": hashed.digest, "files": len(hashed.files),
                          "tracked": tracked(repo, paths.root, full, hashed)}
    return item, hashed


def tracked(repo: Repo, root: str, full: str, hashed: HashedPath) -> bool:
    """Whether git has the input: a file in the index, or a directory all of whose
    files are (a directory with any file git does not track is not).  A symlink git
    tracks is not its target's content: an input read through one is not tracked."""
    rel = relative_to_root(root, full)
    if rel is None or not hashed.files or any(os.path.islink(f.abspath) for f in hashed.files):
        return False
    try:
        index = repo.git.index
        if hashed.kind == "file":
            return rel in index
        prefix = "" if rel in ("", ".") else rel + "/"
        return all(prefix + f.rel in index for f in hashed.files)
    except Exception:  # noqa: BLE001 - an unreadable index only loses this hint (and keeps the input)
        return False


@dataclass
class Keeper:
    """Keeps inputs git does not track in the artifact cache, as settings say.

    ``keep`` marks each entry ``kept`` or ``not_kept``; copies that failed are
    collected and told in one warning by :meth:`tell` (the run goes on)."""

    cache: ArtifactCache
    enabled: bool = True
    max_size: int = 1024**3
    failed: list[str] = field(default_factory=list)

    @classmethod
    def for_settings(cls, settings: Settings, cache_root: str) -> Keeper:
        """A keeper with the repository's settings: its cache, by the link types of
        gitruns.linkType other than hardlink (reflink, copy when none is left)."""
        methods = [m for m in settings.items("gitruns.linkType") if m != "hardlink"] or ["reflink", "copy"]
        return cls(ArtifactCache(cache_root, methods), settings.flag("gitruns.keepInputs"),
                   settings.size("gitruns.keepInputsMaxSize"))

    def keep(self, item: record.Input | record.StepInput, hashed: HashedPath) -> None:
        """Keep one input (its entry was made from ``hashed``) unless git tracks it;
        sets ``kept: true`` or ``not_kept`` on the entry."""
        if not self.enabled:
            item["not_kept"] = TURNED_OFF
            return
        if hashed.size > self.max_size:
            item["not_kept"] = f"larger than gitruns.keepInputsMaxSize ({human_size(self.max_size)})"
            return
        why = keep_hashed(self.cache, hashed, item["path"])
        if why is None:
            item["kept"] = True
            return
        item["not_kept"] = why
        self.failed.append(f"{item['path']} ({why})")

    def tell(self) -> None:
        """One warning for every input that could not be copied (none when all were)."""
        if self.failed:
            warn("not kept in the artifact cache, so a rerun will need them where they are: "
                 + "; ".join(self.failed))
            self.failed = []


def keep_hashed(cache: ArtifactCache, hashed: HashedPath, label: str) -> str | None:
    """Copy a hashed file or directory into ``cache`` under the digests it was hashed
    to (a directory: its files, then its listing, as outputs are stored); None when
    done, else why not.  Objects already there are not copied again."""
    todo = sum(f.size for f in hashed.files if not cache.has(f.digest))
    progress = Progress(f"keeping {label}", todo)
    try:
        for f in hashed.files:
            cache.store_copy(f.abspath, f.digest, progress.advance)
        if hashed.kind == "dir":
            listing = manifest_bytes(hashed.files)
            cache.store_bytes(listing)
    except ChangedWhileStoring:
        return CHANGED
    except CacheError as exc:
        if exc.errno == errno.ENOENT:
            return CHANGED  # a file of it was removed since it was hashed
        if exc.disk_full:
            return f"the artifact cache's disk is full ({os.strerror(exc.errno or errno.ENOSPC)})"
        return f"could not be copied into the artifact cache: {exc}"
    finally:
        progress.close()
    trace(f"kept input {label}: {len(hashed.files)} files, {todo} bytes copied")
    return None


def keep_step_inputs(keeper: Keeper, entries: list[record.StepInput], root: str, repo: Repo,
                     statcache: StatCache) -> None:
    """Keep a pipeline step's source deps (inputs no earlier step wrote) that git does
    not track.  Each is hashed again (the stat cache makes that a stat per file) to
    have its files; one whose digest moved meanwhile is ``not_kept``: changed."""
    for item in entries:
        if item["kind"] == "value" or "from_step" in item:
            continue
        full = os.path.join(root, item["path"])
        try:
            hashed = hash_path(full, statcache, label=item["path"])
        except GitrunsError:  # gone or unreadable since: the step itself will tell
            item["not_kept"] = CHANGED
            continue
        if tracked(repo, root, full, hashed):
            continue
        if hashed.digest != item["digest"]:
            item["not_kept"] = CHANGED
            continue
        keeper.keep(item, hashed)
