"""The content-addressed artifact cache, and the layout it shares with stores.

Objects live at ``<root>/xxh3_128/<2 hex>/<30 hex>``, read-only (``object_key``
is that layout, for the cache and for every artifact store).  An object is
written to a temporary name in the same filesystem and renamed into place, so a
half-written object is never visible under its digest.  A copy found bad is
moved aside into ``<root>/quarantine/``, never deleted silently.  The cache of
a repository is ``gitruns.cacheDir``, else ``gitruns/cache`` in its common git
dir (so worktrees share it).
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import xxhash

from .errors import GitrunsError, PathError
from .hashing import CHUNK, PREFIX, digest_bytes, digest_file, split_digest

if TYPE_CHECKING:
    from .repo import Repo
    from .settings import Settings

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


QUARANTINE = "quarantine"  # where bad copies go, in the cache and in stores


def object_key(digest: str) -> str:
    """Where an object lives under a cache's or store's root: ``xxh3_128/ab/<30 hex>``."""
    algo, hexpart = split_digest(digest)
    return f"{algo}/{hexpart[:2]}/{hexpart[2:]}"


def default_root(state_dir: str) -> str:
    """A repository's cache, given its gitruns state dir, unless gitruns.cacheDir says otherwise."""
    return os.path.join(state_dir, "cache")


class CacheError(GitrunsError):
    """Something could not be put into the cache; ``errno`` says why when the OS did
    (ENOSPC or EDQUOT: the disk is full)."""

    def __init__(self, message: str, err: int | None) -> None:
        super().__init__(message)
        self.errno = err

    @property
    def disk_full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


class ChangedWhileStoring(CacheError):
    """The file's bytes no longer have the digest computed earlier: it changed
    between hashing and copying, and nothing was stored."""


def for_repo(repo: Repo, settings: Settings) -> ArtifactCache:
    """The repository's cache: gitruns.cacheDir, else gitruns/cache in the common git dir."""
    return ArtifactCache(settings.get("gitruns.cacheDir") or default_root(repo.state_dir),
                         settings.items("gitruns.linkType"))


def local_cache(repo: Repo) -> ArtifactCache:
    """The repository's cache, as its git config says."""
    from .settings import load as load_settings

    return for_repo(repo, load_settings(repo.git))


class ArtifactCache:
    def __init__(self, root: str, link_types: list[str] | None = None) -> None:
        self.root = root
        self.link_types = link_types or ["reflink", "copy"]
        for lt in self.link_types:
            if lt not in ("reflink", "hardlink", "copy"):
                raise GitrunsError(f"gitruns.linkType: unknown link type '{lt}'")

    def object_path(self, digest: str) -> str:
        return os.path.join(self.root, *object_key(digest).split("/"))

    def has(self, digest: str) -> bool:
        return os.path.exists(self.object_path(digest))

    def _tmp(self) -> str:
        tmpdir = os.path.join(self.root, "tmp")
        os.makedirs(tmpdir, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmpdir, prefix="incoming-")
        os.close(fd)
        return name

    def _publish(self, tmp: str, digest: str) -> str:
        dest = self.object_path(digest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
        return dest

    def store_bytes(self, data: bytes) -> str:
        digest = digest_bytes(data)
        if self.has(digest):
            return digest
        tmp = None
        try:
            tmp = self._tmp()
            with open(tmp, "wb") as fh:
                fh.write(data)
            self._publish(tmp, digest)
        except OSError as exc:
            if tmp is not None:
                _unlink_quiet(tmp)
            raise CacheError(f"cannot write into the artifact cache {self.root}: {exc.strerror or exc}",
                             exc.errno) from None
        return digest

    def store_file(self, src: str, digest: str) -> str:
        """Put ``src`` (whose digest is known) into the cache; return the method used.

        The user's file is never changed, except by ``hardlink``: then it *is* the
        cache object and shares its read-only mode.  Any failure is a
        :class:`CacheError` (with the errno, so a full disk can be told apart) and
        leaves no partial object or temporary file behind.
        """
        if self.has(digest):
            return "present"
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create artifact cache {self.root}: {exc.strerror}", exc.errno) from None
        for method in self.link_types:
            if method == "hardlink":
                dest = self.object_path(digest)
                try:
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    os.link(src, dest)
                except FileExistsError:
                    return "present"
                except OSError:
                    continue  # another filesystem, or links not allowed: the next method
                # Only now that the link exists does the user's file become the
                # read-only object; a failed link leaves its mode alone.
                try:
                    os.chmod(dest, stat.S_IMODE(os.stat(dest).st_mode) & ~0o222)
                except OSError as exc:
                    _unlink_quiet(dest)
                    raise CacheError(f"cannot make {src} read-only in the cache: {exc.strerror or exc}",
                                     exc.errno) from None
                return "hardlink"
            tmp = None
            try:
                tmp = self._tmp()
                if method == "reflink":
                    if not _reflink(src, tmp):
                        os.unlink(tmp)
                        continue
                else:
                    shutil.copyfile(src, tmp)
                self._publish(tmp, digest)
            except OSError as exc:
                if tmp is not None:
                    _unlink_quiet(tmp)
                raise CacheError(f"cannot copy {src} into the cache: {exc.strerror or exc}", exc.errno) from None
            return method
        raise CacheError(f"could not store {src} in the cache with {', '.join(self.link_types)}", None)

    def store_copy(self, src: str, digest: str, advance: Callable[[int], None] | None = None) -> str:
        """Put a copy of ``src`` into the cache as ``digest`` and return the method
        used (``present``, ``reflink`` or ``copy``); the user's file is never linked,
        so its mode and inode stay its own (kept inputs).

        ``digest`` was computed earlier: the copy is hashed (while it is made, or
        read back after a reflink) and published only when it matches, so a file
        that changed since raises :class:`ChangedWhileStoring` and leaves nothing
        under the digest.  Other failures are :class:`CacheError`."""
        if self.has(digest):
            return "present"
        methods = [m for m in self.link_types if m != "hardlink"] or ["reflink", "copy"]
        for method in methods:
            tmp = None
            try:
                tmp = self._tmp()
                if method == "reflink":
                    if not _reflink(src, tmp):
                        os.unlink(tmp)
                        tmp = None
                        continue
                    got = digest_file(tmp, advance)
                else:
                    got = _copy_hashing(src, tmp, advance)
                if got != digest:
                    os.unlink(tmp)
                    tmp = None
                    raise ChangedWhileStoring(f"{src} changed while being copied into the cache", None)
                self._publish(tmp, digest)
            except OSError as exc:
                if tmp is not None:
                    _unlink_quiet(tmp)
                raise CacheError(f"cannot copy {src} into the cache: {exc.strerror or exc}", exc.errno) from None
            except PathError as exc:  # digest_file: the copy could not be read back
                if tmp is not None:
                    _unlink_quiet(tmp)
                raise CacheError(str(exc), None) from None
            return method
        raise CacheError(f"could not store {src} in the cache with {', '.join(methods)}", None)

    def read_bytes(self, digest: str) -> bytes:
        with open(self.object_path(digest), "rb") as fh:
            return fh.read()

    def verify(self, digest: str) -> bool:
        path = self.object_path(digest)
        return os.path.exists(path) and digest_file(path) == digest

    def read_verified(self, digest: str, limit: int) -> bytes | None:
        """An object's bytes if it holds what its digest says; a bad one is
        quarantined and None returned (as for an absent one)."""
        path = self.object_path(digest)
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            return None
        if size > limit:
            raise GitrunsError(f"cache object {digest} is {size} bytes, more than the {limit} allowed here")
        data = self.read_bytes(digest)
        if digest_bytes(data) != digest:
            self.quarantine(digest)
            return None
        return data

    def quarantine(self, digest: str, path: str | None = None) -> str | None:
        """Move a bad copy of ``digest`` (the cache's own object, or ``path``) aside into
        ``<root>/quarantine/``, where it can be inspected; it is never deleted silently.
        Inside the cache root, so the move is a rename on the same filesystem.
        Returns where it went, or None when there was nothing to move."""
        src = path or self.object_path(digest)
        qdir = os.path.join(self.root, QUARANTINE)
        os.makedirs(qdir, exist_ok=True)
        dest = os.path.join(qdir, f"{split_digest(digest)[1]}-{time.time_ns()}-{os.getpid()}")
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            return None
        return dest


def _reflink(src: str, dest: str) -> bool:
    try:
        with open(src, "rb") as s, open(dest, "wb") as d:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
        return True
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF, errno.EPERM):
            return False
        raise


def _copy_hashing(src: str, dest: str, advance: Callable[[int], None] | None) -> str:
    """Copy ``src`` over ``dest`` and return the digest of the bytes copied (one pass)."""
    h = xxhash.xxh3_128()
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(CHUNK):
            h.update(chunk)
            fout.write(chunk)
            if advance:
                advance(len(chunk))
    return PREFIX + h.hexdigest()


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
