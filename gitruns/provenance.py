"""``git run which PATH|DIGEST``: the runs that produced a file, and those that used it.

By digest, from the run index: the file's content now (hashed as ``-i``/``-o``
hash it) or the digest given, so a renamed or copied artifact is still found.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import GitrunsError

if TYPE_CHECKING:
    from .repo import Repo


class NotProduced(GitrunsError):
    """No run has the file as an artifact or an input (exit 1)."""


@dataclass
class Use:
    """One run that has the digest as an artifact (produced) or an input (used)."""

    run: str
    commit: str
    name: str | None
    status: str | None
    path: str | None  # its path in that run
    step: str | None  # the pipeline step, if a step's
    when: str | None  # the run's end (else its start), UTC ISO 8601
    retired: bool
    source: str | None  # None: a local run; else the remote it is known from

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Which:
    digest: str
    path: str | None  # the path asked about, relative to the repository root
    produced_by: list[Use] = field(default_factory=list)  # newest first
    used_by: list[Use] = field(default_factory=list)  # newest first

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "path": self.path, "produced_by": [u.to_dict() for u in self.produced_by],
                "used_by": [u.to_dict() for u in self.used_by]}


def which(target: str, repo: Repo | str | os.PathLike[str] | None = None, cwd: str | None = None) -> Which:
    """The runs that produced ``target`` (a file or directory in the working tree, by
    its digest now, or a digest, abbreviated to at least 8 hex digits) and those
    that used it as an input, newest first; :class:`NotProduced` when there are none."""
    from .lineagegraph import iso_of, parse_target, short
    from .repo import open_at, open_repo
    from .runindex import RunIndex

    repo = open_repo(cwd) if repo is None else open_at(repo)
    with RunIndex.open(repo) as index:
        parsed = parse_target(index, target, repo, cwd, runs=False)
        assert parsed.digest is not None
        found = Which(parsed.digest, parsed.path)
        rows = index.db.execute(
            "SELECT d.role, v.run_id, v.commit_id, r.name, gitruns_status(r.status, r.host, r.pid, r.process), "
            "d.path, d.step, COALESCE(r.ended, r.started), r.retired, v.source FROM digests d "
            "JOIN visible v ON v.commit_id = d.commit_id JOIN runs r ON r.commit_id = d.commit_id "
            "WHERE d.digest = ? ORDER BY v.run_id DESC, d.step IS NULL, d.step, d.path", (parsed.digest,)).fetchall()
    seen: set[tuple[str, str]] = set()
    for role, rid, commit, name, status, path, step, when, retired, source in rows:
        if (role, rid) in seen:
            continue  # a pipeline lists a step's output among the run's artifacts too
        seen.add((role, rid))
        use = Use(rid, commit, name, status, path, step, iso_of(when), bool(retired), source)
        (found.produced_by if role == "artifact" else found.used_by).append(use)
    if not found.produced_by and not found.used_by:
        what = f"{parsed.path} (digest {short(parsed.digest)})" if parsed.path else parsed.digest
        raise NotProduced(f"no run produced or used {what}")
    return found
