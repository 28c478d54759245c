"""One `git cat-file --batch` for many blobs at once.

From a few hundred objects on, one batch process reads them about three times
faster than object-by-object lookups through libgit2.  Output is streamed: a
blob over the size limit is skipped as it goes by, never held in memory.
"""
from __future__ import annotations

import subprocess
import threading


def read_blobs(git_dir: str, specs: list[str], limit: int) -> dict[str, bytes]:
    """spec -> the blob's bytes (see :func:`read_objects`)."""
    return read_objects(git_dir, specs, limit, "blob")


def read_objects(git_dir: str, specs: list[str], limit: int, kind: str) -> dict[str, bytes]:
    """spec -> the object's bytes, for each of ``specs`` (``<rev>:<path>``, any
    object name git accepts) that names an object of type ``kind`` ("blob", "tree")
    of at most ``limit`` bytes.

    A spec missing from the answer names nothing, something of another type,
    or a blob over the limit: the caller reads it the slow way, which says why.
    Returns what was read before any failure of git itself (never raises for it).
    """
    if not specs:
        return {}
    data = "".join(f"{s}\n" for s in specs).encode()
    try:
        proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=git_dir, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return {}  # the object-by-object path still works
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        # A thread, so that git never waits on a full pipe we are not reading.
        try:
            stdin.write(data)
            stdin.close()
        except OSError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out: dict[str, bytes] = {}
    try:
        for spec in specs:
            header = stdout.readline().split()
            if not header:
                break
            if len(header) != 3:
                continue  # "<spec> missing" (or ambiguous): read the slow way, which reports why
            size = int(header[2])
            if header[1] == kind.encode() and size <= limit:
                out[spec] = stdout.read(size + 1)[:size]
                continue
            left = size + 1  # not a blob, or too large: skip its bytes (and the newline after them)
            while left > 0:
                chunk = stdout.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
    finally:
        stdout.close()
        proc.wait()
        writer.join()
    return out
