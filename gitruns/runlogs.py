"""A run's captured output, read in chunks so that a log of any size costs
the same little memory.

Where a stream comes from, in order:

- the full log in the artifact cache, when git holds only its head and tail
  (logs larger than ``gitruns.logMaxSize``);
- the capture spool in ``<git common dir>/gitruns/work/<id>/``, for a run of
  this host whose record has no logs yet (still running, or ``crashed``: its
  ``git-run`` was killed, and what the command printed so far is there);
- the ``stdout.log``/``stderr.log`` blob of the record.

A pipeline run's steps each have their own, ``steps/<step>/stdout.log`` and
``stderr.log``, read the same way (the full stream from the cache when git holds
only its head and tail).
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
from .errors import GitrunsError, RecordError, UsageError
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


def step_logs(run: Run, step: str) -> Mapping[str, Any]:
    """The ``logs`` entry of ``step`` in a pipeline run's record ({} while it has none);
    UsageError naming the run's steps when it has no such step, or is a command run."""
    from .terminal import safe

    rec = run.record
    steps = [s for s in rec.get("steps") or [] if isinstance(s, Mapping)]
    if rec.get("kind") != "pipeline" or not steps:
        raise UsageError(f"run {run.id} is a command run: it has no steps (--step is for pipeline runs)")
    for s in steps:
        if s.get("name") == step:
            logs = s.get("logs")
            return logs if isinstance(logs, Mapping) else {}
    names = ", ".join(safe(s.get("name")) for s in steps[:50]) + (", ..." if len(steps) > 50 else "")
    raise UsageError(f"run {run.id} has no step {safe(step)!r}; its steps: {names}")


def _live_step_output(repo: Repo, run: Run, step: str, stream: str) -> str | None:
    """The output file a running step of a run of this host is writing, if it exists
    (the engine's ``work/<id>/steps/<name>/<stream>``), as spool_path is for a run."""
    rec = run.record
    if run.source is not None or rec.get("host") != socket.gethostname() or not runid.is_valid(run.id):
        return None
    path = os.path.join(repo.state_dir, "work", run.id, "steps", step, stream)
    return path if os.path.isfile(path) else None


def step_chunks(repo: Repo, run: Run, step: str, stream: str, cache: ArtifactCache) -> Iterator[bytes]:
    """What ``step`` printed on ``stream``, in chunks of at most 1 MiB: the full log
    from the artifact cache when git holds only its head and tail, else the blob
    ``steps/<step>/<stream>.log`` (nothing when the step has none: it did not run)."""
    meta = step_logs(run, step).get(stream) or {}
    if isinstance(meta, Mapping) and meta.get("truncated") and meta.get("digest") \
            and cache.has(str(meta["digest"])):
        yield from _file_chunks(cache.object_path(str(meta["digest"])))
        return
    if "/" in step or step in ("", ".", ".."):
        return  # a crafted name: never a path that reaches out of steps/<name>/
    live = _live_step_output(repo, run, step, stream) if not meta else None
    if live is not None:
        yield from _file_chunks(live)  # a step still running (or never ended): what it printed so far
        return
    name = f"steps/{step}/{stream}.log"
    oid = _large_blob(repo, run, name)
    if oid is not None:
        yield from _git_blob_chunks(repo, oid)
        return
    try:
        data = recordread.read_file(repo.git, run.commit, name, limit=None) or b""
    except RecordError:
        data = b""  # steps/<name> is not a directory of logs (a crafted record): nothing to show
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])


def fetch_step_logs(repo: Repo, logs: Mapping[str, Any], cache: ArtifactCache) -> None:
    """Bring a step's full logs (kept outside git when large) into the local cache from
    the usual remote's store, as sharing.fetch_logs does for a run's."""
    wanted = [d for m in logs.values()
              if isinstance(m, Mapping) and m.get("truncated") and (d := m.get("digest")) and not cache.has(str(d))]
    if not wanted:
        return
    from .artifactstore import fetch_into_cache
    from .sharing import store_of_default_remote

    store = store_of_default_remote(repo)
    if store is None:
        return
    for digest in wanted:
        try:
            if store.has(str(digest)):
                fetch_into_cache(cache, store, str(digest))
        except GitrunsError:
            pass  # the head and tail in git are still there to show


def _large_blob(repo: Repo, run: Run, name: str) -> str | None:
    """The id of the record's ``name`` when it is a blob this clone has and larger
    than a few chunks; None otherwise (read it whole, or through a partial clone)."""
    try:
        entry = runrefs.record_files(repo.git, run.commit)[name]  # a path: steps/<step>/stdout.log
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
