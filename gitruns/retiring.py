"""``git run retire``: mark a run or a promotion as withdrawn, with a new commit on its ref.

A run: one more commit on ``refs/runs/<id>`` whose run.json has ``retired``
{at, by, reason, superseded_by}; the earlier commits keep the record as it was.
A promotion: one more commit on ``refs/promoted/<NAME>`` (first parent the
current one, second the run's commit) whose record has ``retired`` set.
Both refs move by compare-and-swap.  Nothing here prints.  See docs/promotion.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from . import promotion, timeutil
from .errors import AmbiguousRun, GitrunsError, UnknownRun, UsageError
from .repo import Repo


class CannotRetire(GitrunsError):
    """Already retired, still running, or not local (exit 1)."""


@dataclass
class RetireResult:
    kind: str  # "run" or "promotion"
    target: str  # the run id or the promotion name
    commit: str  # the new commit on its ref
    previous: str
    at: str
    by: str
    reason: str
    superseded_by: str | None
    dependents: list[dict[str, Any]] = field(default_factory=list)  # lineage.dependents: who used it

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "ref": self.ref, "commit": self.commit,
                "previous": self.previous, "retired": {"at": self.at, "by": self.by, "reason": self.reason,
                                                       "superseded_by": self.superseded_by},
                "dependents": self.dependents}

    @property
    def ref(self) -> str:
        return (promotion.ref_name(self.target) if self.kind == "promotion" else f"refs/runs/{self.target}")


def _as_promotion(repo: Repo, text: str) -> str | None:
    """The promotion name ``text`` names, if such a promotion exists here."""
    from .promoting import current

    bare = text[len(promotion.REF_PREFIX):] if text.startswith(promotion.REF_PREFIX) else text
    if promotion.name_problem(bare) is not None:
        return None
    return bare if current(repo, bare) is not None else None


def _as_run(repo: Repo, text: str) -> str | None:
    from . import lookup

    if text.startswith(promotion.REF_PREFIX):
        return None
    try:
        return lookup.resolve(repo, text)
    except UnknownRun:
        return None


def retire(target: str, reason: str, superseded_by: str | None = None,
           repo: Repo | str | os.PathLike[str] | None = None) -> RetireResult:
    """Retire the run or promotion ``target`` (run id, prefix or name; promotion NAME or
    refs/promoted/NAME)."""
    from .launchspec import user
    from .repo import open_at
    from .terminal import safe

    repo = open_at(repo)
    if not reason.strip():
        raise UsageError("--reason is empty: say why it is retired")
    try:
        run_id = _as_run(repo, target)
    except AmbiguousRun:
        if _as_promotion(repo, target) is None:
            raise
        run_id = "?"
    name = _as_promotion(repo, target)
    if run_id is not None and name is not None:
        raise UsageError(f"'{safe(target)}' names both a run and a promotion: say 'refs/promoted/{safe(name)}' "
                         "for the promotion or 'refs/runs/<id>' for the run")
    if run_id is None and name is None:
        if target.startswith(promotion.REF_PREFIX):
            promotion.check_name(target)
            raise UsageError(f"no promotion named '{safe(target)}' (see 'git run promote --list')")
        raise UsageError(f"no run or promotion matches '{safe(target)}' (see 'git run ls', "
                         "'git run promote --list')")
    retired: dict[str, Any] = {"at": timeutil.iso(timeutil.now()), "by": user(), "reason": reason,
                               "superseded_by": None}
    from .lineagegraph import dependents

    if name is not None:
        result = _retire_promotion(repo, name, retired, superseded_by)
        result.dependents = [d.to_dict() for d in dependents(repo, promotion=name)]
        return result
    assert run_id is not None
    result = _retire_run(repo, run_id, retired, superseded_by)
    result.dependents = [d.to_dict() for d in dependents(repo, run_id=run_id)]
    return result


def _superseding_run(repo: Repo, text: str, not_self: str | None) -> str:
    from . import lookup

    rid = lookup.resolve(repo, text)
    if rid == not_self:
        raise UsageError(f"run {rid[:12]} cannot supersede itself")
    return rid


def _retire_run(repo: Repo, rid: str, retired: dict[str, Any], superseded_by: str | None) -> RetireResult:
    from . import lookup, record, runrefs
    from .metricsfile import json_safe
    from .recordread import read_record
    from .terminal import safe

    run = lookup.load(repo, rid)  # validated (a local ref can be crafted too)
    short = rid[:12]
    if run.source is not None:
        raise CannotRetire(f"run {short} is known only from remote {safe(run.source)}; fetch it first "
                           f"('git run fetch {safe(run.source)}'), then retire it and push")
    if superseded_by is not None:
        retired["superseded_by"] = _superseding_run(repo, superseded_by, rid)
    head = run.commit
    rec: dict[str, Any] = dict(read_record(repo.git, head))
    if (was := rec.get("retired")) is not None:
        raise CannotRetire(f"run {short} already retired on {safe(was.get('at'))}: {safe(was.get('reason'))}")
    if record.effective_status(run.record) == "running":
        raise CannotRetire(f"run {short} is still running; retire it when it has ended (or cancel it)")
    rec["retired"] = retired
    commit = runrefs.update_record(repo, head, json_safe(rec), "retired")
    return RetireResult("run", rid, commit, head, retired["at"], retired["by"], retired["reason"],
                        retired["superseded_by"])


def _retire_promotion(repo: Repo, name: str, retired: dict[str, Any], superseded_by: str | None) -> RetireResult:
    from .promoting import current, load, message, move_ref, wants_signature, write_commit
    from .terminal import safe

    name, head, data = load(repo, name)
    if (was := data.get("retired")) is not None:
        raise CannotRetire(f"promotion {name} already retired on {safe(was.get('at'))}: {safe(was.get('reason'))}")
    if superseded_by is not None:
        # Another promotion (its name) or a run (its full id).
        other = _as_promotion(repo, superseded_by)
        if other == name:
            raise UsageError(f"promotion {name} cannot supersede itself")
        retired["superseded_by"] = (promotion.ref_name(other) if other is not None
                                    else _superseding_run(repo, superseded_by, None))
    new: promotion.Promotion = {**data, "retired": {
        "at": retired["at"], "by": retired["by"], "reason": retired["reason"],
        "superseded_by": retired["superseded_by"]}}
    promotion.parse(promotion.dumps(new), name)
    commit = write_commit(repo, new, [head, data["run_commit"]], message("retire", new), wants_signature(repo, None))
    if current(repo, name) != head:
        from .errors import ConcurrentUpdate

        raise ConcurrentUpdate(f"promotion {name} was updated meanwhile; nothing written, try again")
    move_ref(repo, name, head, commit)
    return RetireResult("promotion", name, commit, head, retired["at"], retired["by"], retired["reason"],
                        retired["superseded_by"])
