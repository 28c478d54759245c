"""The command's captured stdout and stderr kept with its run: the spool that
:mod:`gitruns.capture` wrote becomes the record's ``<stream>.log``, whole up to
``gitruns.logMaxSize``; past it, its head and tail in git and the whole stream
in the artifact cache (:mod:`gitruns.runlogs` reads it back)."""
from __future__ import annotations

import os

from . import record
from .cache import ArtifactCache, CacheError
from .hashing import digest_file
from .outcome import Problems


def keep_both(stdout_spool: str | None, stderr_spool: str | None, cap: int, cache: ArtifactCache,
              files: dict[str, bytes], problems: Problems) -> dict[str, record.Log]:
    """The record's ``stdout.log`` and ``stderr.log``, put in ``files`` one by one,
    and its ``logs`` field."""
    logs: dict[str, record.Log] = {}
    for stream, spool in (("stdout", stdout_spool), ("stderr", stderr_spool)):
        data, logs[stream] = keep(stream, spool, cap, cache, problems)
        files[f"{stream}.log"] = data
    return logs


def keep(stream: str, spool: str | None, cap: int, cache: ArtifactCache,
         problems: Problems) -> tuple[bytes, record.Log]:
    """The bytes of ``<stream>.log`` and the record's entry for it."""
    if spool is None or not os.path.exists(spool):
        return b"", {"size": 0, "digest": None, "truncated": False}
    size = os.path.getsize(spool)
    digest = digest_file(spool)
    if size <= cap:
        with open(spool, "rb") as fh:
            return fh.read(), {"size": size, "digest": digest, "truncated": False}
    # Keep the head and the tail in git (errors are usually at the end);
    # the whole stream goes to the artifact cache.
    try:
        cache.store_file(spool, digest)
        where = f"is {digest} in the artifact cache; 'git run log' prints it"
    except CacheError as exc:
        problems.append(("disk_full" if exc.disk_full else "storage",
                         f"the full {stream} ({size} bytes) was not stored: {exc}"))
        where = f"({digest}) could not be stored in the artifact cache"
    half = cap // 2
    with open(spool, "rb") as fh:
        head = fh.read(half)
        fh.seek(size - half)
        tail = fh.read(half)
    marker = (f"\n[gitruns: {size - 2 * half} bytes omitted here; the full log ({size} bytes) "
              f"{where}]\n").encode()
    return head + marker + tail, {"size": size, "digest": digest, "truncated": True}
