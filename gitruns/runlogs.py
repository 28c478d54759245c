"""A run's captured output, read in chunks so that a log of any size costs
the same little memory.

Where a stream comes from, in order:

- the full log in the artifact cache, when git holds only its head and tail
  (logs larger than ``gitruns.logMaxSize``);
- the capture spool in ``<git common dir>/gitruns/work/<id>/``, for a run of
  this host whose record has no logs yet (still running, or ``crashed``: its
  ``git-run`` was killed, and what the command printed so far is there);
- the ``stdout.log``/``stderr.log`` blob of the record.
"""
from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

import pygit2

from . import recordread, runid, runrefs
from .cache import ArtifactCache
from .errors import RecordError
from .lookup import Run
from .repo import Repo

CHUNK = 1 << 20


def spool_path(repo: Repo, run: Run, stream: str) -> str | None:
    """The live capture spool of a run of this host that has no logs recorded, if it exists."""
    rec = run.record
    if run.source is not None or rec.get("logs") or rec.get("host") != socket.gethostname():
        return None
    if not runid.is_valid(run.id):  # never a path built from an odd id
        return None
    path = os.path.join(repo.state_dir, "work", run.id, f"{stream}.spool")
    return path if os.path.isfile(path) else None


def chunks(repo: Repo, run: Run, stream: str, cache: ArtifactCache) -> Iterator[bytes]:
    """The captured ``stream`` ("stdout" or "stderr"), in chunks of at most 1 MiB."""
    meta: Mapping[str, Any] = (run.record.get("logs") or {}).get(stream) or {}
    path = None
    if isinstance(meta, dict) and meta.get("truncated") and meta.get("digest") and cache.has(str(meta["digest"])):
        path = cache.object_path(str(meta["digest"]))
    else:
        path = spool_path(repo, run, stream)
    if path is not None:
        yield from _file_chunks(path)
        return
    # In git: at most gitruns.logMaxSize when this host wrote it, but a fetched
    # record's log can be any size, so a large blob is streamed through git.
    oid = _large_blob(repo, run, f"{stream}.log")
    if oid is not None:
        yield from _git_blob_chunks(repo, oid)
        return
    data = recordread.read_file(repo.git, run.commit, f"{stream}.log", limit=None) or b""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])


def _large_blob(repo: Repo, run: Run, name: str) -> str | None:
    """The id of the record's ``name`` when it is a blob this clone has and larger
    than a few chunks; None otherwise (read it whole, or through a partial clone)."""
    try:
        entry = runrefs.record_files(repo.git, run.commit)[name]
        if entry.type_str != "blob":
            return None
        _kind, size = repo.git.odb.read_header(entry.id)
    except (KeyError, ValueError, RecordError, pygit2.GitError):
        return None
    return str(entry.id) if size > 4 * CHUNK else None


def _git_blob_chunks(repo: Repo, oid: str) -> Iterator[bytes]:
    proc = subprocess.Popen(["git", "cat-file", "blob", oid], cwd=repo.git_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(CHUNK):
            yield chunk
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def _file_chunks(path: str) -> Iterator[bytes]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; a generator holds it across yields
    except OSError:
        return
    with fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to ``fd`` (os.write may take less than asked)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]
