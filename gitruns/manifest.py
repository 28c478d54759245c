"""Directory manifests: the listing whose digest is a directory artifact's digest.

One line per file, sorted by path: ``<digest> <size> <x|-> <relative path>\\n``.
Written when a directory is hashed and stored; read back (untrusted: it comes
from the cache or a store) when a run's objects are pushed or restored.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from .errors import GitrunsError, RecordError
from .terminal import safe

if TYPE_CHECKING:
    from .artifactstore import RemoteStore
    from .cache import ArtifactCache
    from .hashing import HashedFile

# A listing comes from the cache or a store: untrusted, so bounded.
MAX_LISTING_BYTES = 256 * 1024 * 1024
_DIGEST = re.compile(r"xxh3_128:[0-9a-f]{32}")
_SIZE = re.compile(r"[0-9]{1,19}")


class Entry(NamedTuple):
    digest: str
    size: int
    executable: bool
    path: str  # relative to the directory, with '/'


def manifest_bytes(files: Iterable[HashedFile]) -> bytes:
    """The canonical listing of hashed files, whose digest is the directory's digest."""
    lines = [f"{f.digest} {f.size} {'x' if f.mode & 0o111 else '-'} {f.rel}\n" for f in files]
    return "".join(sorted(lines, key=lambda line: line.split(" ", 3)[3])).encode()


def parse_manifest(data: bytes, where: str = "a directory artifact") -> list[Entry]:
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
        out.append(Entry(fields[0], int(fields[1]), fields[2] == "x", fields[3]))
    return out


def directory_listing(cache: ArtifactCache, remote_store: RemoteStore | None, digest: str, where: str) -> bytes:
    """A directory artifact's listing, verified, from the cache or else the store."""
    from .artifactstore import fetch_into_cache

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
