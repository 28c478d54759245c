"""Linking at launch: the earlier runs whose artifacts a run (or a pipeline step)
consumes, found by digest among the visible runs of the run index, for the
record's ``upstream`` and the further parents of the run's first commit (or of a
step's start commit).  Lineage is a bonus: when the index cannot be opened the
run goes ahead without it, with one warning.  See docs/lineage.md.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import GitrunsError

if TYPE_CHECKING:
    from . import record
    from .repo import Repo
    from .runindex import RunIndex

CHUNK = 500  # digests in one IN (...) list


def link_inputs(repo: Repo, items: Sequence[tuple[str, str]], this_run: str | None = None,
                index: RunIndex | None = None) -> list[record.Upstream]:
    """The ``upstream`` entries of a run (or step) consuming ``items`` (digest, path
    here): for each digest some other visible run has as an artifact, that run
    (the newest that succeeded and is not retired, else the newest), its commit now, and the artifact's
    path and step there.  One query; the index is opened unless given.  When it
    cannot be opened, no upstream and one warning."""
    wanted = {d: p for d, p in items if isinstance(d, str) and d}
    if not wanted:
        return []
    own = index is None
    if index is None:
        index = open_index(repo)
        if index is None:
            return []
    try:
        rows = producer_rows(index, list(wanted))
    except Exception as exc:  # noqa: BLE001 - lineage is a bonus: the run goes ahead without it
        if not _index_trouble(exc):
            raise
        _cannot(exc)
        return []
    finally:
        if own:
            index.close()
    out: list[record.Upstream] = []
    for digest, path in wanted.items():
        best = best_producer([r for r in rows.get(digest, []) if r[0] != this_run])
        if best is None:
            continue
        rid, commit, step, art, _status = best
        out.append({"run": rid, "commit": commit, "digest": digest, "path": path, "artifact": art, "step": step})
    return out


def _index_trouble(exc: BaseException) -> bool:
    import sqlite3

    import pygit2

    return isinstance(exc, (sqlite3.Error, OSError, GitrunsError, pygit2.GitError))


def _cannot(exc: BaseException) -> None:
    from .warn import warn

    warn(f"cannot look up the runs that produced the inputs (the run index: {' '.join(str(exc).split())}); "
         "the run is recorded without upstream")


def open_index(repo: Repo) -> RunIndex | None:
    """The run index for linking at launch, or None (and one warning) when it cannot
    be opened: the run is then recorded without upstream."""
    from .runindex import RunIndex

    try:
        return RunIndex.open(repo)
    except Exception as exc:  # noqa: BLE001 - lineage is a bonus: the run goes ahead without it
        if not _index_trouble(exc):
            raise
        _cannot(exc)
        return None


def producer_rows(index: RunIndex, digests: Sequence[str]
                   ) -> dict[str, list[tuple[str, str, str | None, str | None, str | None]]]:
    """digest -> (run id, commit, step, path, status; 'retired' for a retired run) of
    every visible run with it as an artifact."""
    out: dict[str, list[tuple[str, str, str | None, str | None, str | None]]] = {}
    wanted = sorted(set(digests))
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i:i + CHUNK]
        sql = ("SELECT d.digest, v.run_id, v.commit_id, d.step, d.path, "
               "CASE WHEN r.retired THEN 'retired' ELSE r.status END FROM digests d "
               "JOIN visible v ON v.commit_id = d.commit_id JOIN runs r ON r.commit_id = d.commit_id "
               f"WHERE d.role = 'artifact' AND d.digest IN ({','.join('?' * len(chunk))})")
        for digest, rid, commit, step, path, status in index.db.execute(sql, chunk):
            out.setdefault(digest, []).append((rid, commit, step, path, status))
    return out


def best_producer(rows: Sequence[tuple[str, str, str | None, str | None, str | None]]
                   ) -> tuple[str, str, str | None, str | None, str | None] | None:
    """The newest run that succeeded and is not retired (else the newest); of its rows,
    a step's (a pipeline lists a step's outputs among the run's artifacts too)."""
    if not rows:
        return None
    return max(rows, key=lambda r: (r[4] in ("succeeded", "cached"), r[0], r[2] is not None))


def digests_of(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(digest, path) of record entries (inputs or outputs) that have a digest."""
    return [(str(r["digest"]), str(r.get("path"))) for r in rows
            if isinstance(r, Mapping) and isinstance(r.get("digest"), str) and r.get("kind") != "value"]
