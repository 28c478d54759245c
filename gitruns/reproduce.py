"""``git run reproduce ID``: rerun a run exactly and say whether it reproduced.

A reproduction is a rerun (:func:`gitruns.rerunning.rerun`, mode ``reproduce``: the
run's code, config, command and inputs, nothing overridden) whose result is
compared with the original by :func:`gitruns.verdict.compare`: every artifact
by digest, every metric, and the environments.  With ``env="recreate"`` the
command runs in a fresh virtual environment holding the recorded Python
packages (:mod:`gitruns.envrecreate`), first on its PATH; otherwise in the
current environment, whose differences the verdict reports.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .envrecreate import Recreated
    from .repo import Repo
    from .rerunning import RerunOutcome
    from .verdict import Verdict

ENVS = ("current", "recreate")


@dataclass
class ReproduceOptions:
    env: str = "current"  # "current" | "recreate"
    installer: str = "auto"  # --env recreate: "auto" (uv when on PATH, else pip) | "uv" | "pip"
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    quiet: bool = False


@dataclass
class ReproduceResult:
    original: str
    run_id: str  # the reproduction
    verdict: Verdict
    rerun: RerunOutcome
    environment: Recreated | None = None  # the venv it ran in, with --env recreate

    @property
    def reproduced(self) -> bool:
        return self.verdict.reproduced

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "run": self.run_id,
            "reproduced": self.reproduced,
            "verdict": self.verdict.to_dict(),
            "environment": self.environment.to_dict() if self.environment is not None else None,
            "changes": [dict(c) for c in self.rerun.changes],
        }


def reproduce(run_id: str, options: ReproduceOptions | None = None, repo: Repo | str | None = None,
              progress: Callable[[str], None] | None = None) -> ReproduceResult:
    """Rerun ``run_id`` exactly and compare; the verdict says whether it reproduced.
    ``progress`` is told what the environment's recreation is doing (one line each).

    Refusals are those of a rerun (an input changed since: :class:`UsageError`, exit
    2); a recorded package that cannot be installed with ``env="recreate"`` is an
    :class:`gitruns.envrecreate.RecreateError` naming each one (exit 1)."""
    from . import envrecreate, lookup
    from . import verdict as verdict_mod
    from .cache import for_repo as cache_for_repo
    from .repo import open_at
    from .rerunning import RerunOptions, rerun
    from .settings import load as load_settings
    from .sharing import store_of_default_remote

    options = options or ReproduceOptions()
    if options.env not in ENVS:
        raise UsageError(f"--env {options.env}: expected one of {', '.join(ENVS)}")
    r = open_at(repo)
    original = lookup.load(r, run_id)
    made: Recreated | None = None
    prefix: list[str] = []
    env_changes: list[Any] = []
    if options.env == "recreate":
        env_json = verdict_mod.read_env(r, original.id)
        made = envrecreate.recreate_cached(r.state_dir, env_json, progress, options.installer)
        prefix = [made.bin_dir]
        env_changes = list(made.changes)
    try:
        outcome = rerun(original.id, RerunOptions(mode="reproduce", env=options.env, path_prefix=prefix,
                                                  env_changes=env_changes, name=options.name,
                                                  tags=list(options.tags), quiet=options.quiet), r)
    finally:
        if made is not None:
            envrecreate.discard(made)
    cache = cache_for_repo(r, load_settings(r.git))
    store = store_of_default_remote(r)
    verdict = verdict_mod.compare(r, original.record, outcome.record, cache, store)
    return ReproduceResult(original=original.id, run_id=outcome.run_id, verdict=verdict, rerun=outcome,
                           environment=made)
