"""``git run rerun ID``: a new run from an earlier run's record alone.

The run's exact code is checked out in a temporary worktree
(:mod:`gitruns.tempworktree`), its inputs are brought there by digest
(:mod:`gitruns.reruninputs`), and its command (or pipeline) runs there with the
original's effective config, then ``--config`` files, then ``-p`` overrides.
The new run names the original (``rerun_of``), joins its group (``run_group``)
and lists every intended difference (``rerun.changes``).  The user's working
tree, index and HEAD are never touched, and neither is the original run.

``reproduce`` calls :func:`rerun` with ``mode="reproduce"``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from . import lookup, record, redact, userconfig
from .errors import GitrunsError, UsageError
from .record import Change, RunRecord
from .repo import Repo, open_repo
from .terminal import safe
from .warn import warn


@dataclass
class RerunOptions:
    mode: str = "rerun"  # "rerun" | "reproduce" (reproduce: no -p/--config/--from-step)
    overrides: list[str] = field(default_factory=list)  # -p key=value
    config_files: list[str] = field(default_factory=list)  # --config FILE, relative to the caller's cwd
    from_step: str | None = None  # pipelines only
    allow_changed_inputs: bool = False
    env: str = "current"  # "current" | "recreate"
    path_prefix: list[str] = field(default_factory=list)  # bin dirs put first on the command's PATH
    env_changes: list[Change] = field(default_factory=list)  # kind "environment"
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    quiet: bool = False


@dataclass
class RerunOutcome:
    run_id: str  # the new run
    original: str
    status: str
    exit_code: int  # the command's own (exec) / the pipeline's
    record: RunRecord  # the new run's final record
    changes: list[Change]
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # problems recording the run, for the caller to tell

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "rerun_of": self.original, "status": self.status,
                "exit_code": self.exit_code, "changes": list(self.changes), "errors": list(self.errors)}


def check_options(options: RerunOptions) -> None:
    """Usage errors that need no run."""
    if options.mode not in record.RERUN_MODES or options.mode == "resume":
        raise UsageError(f"unknown rerun mode {options.mode!r}")
    if options.env not in ("current", "recreate"):
        raise UsageError(f"--env {options.env}: expected current or recreate")
    if options.mode == "reproduce" and (options.overrides or options.config_files or options.from_step):
        raise UsageError("reproduce reruns exactly: -p, --config and --from-step are for git run rerun")
    for text in options.overrides:
        userconfig.parse_override(text)


# -- config ----------------------------------------------------------------------

def launch_commit(repo: Repo, commit: str, code_commit: str | None) -> str:
    """The run's first commit (its launch record): the final record may have folded
    in parameters the program logged, which were not its config."""
    import pygit2

    current = repo.git[commit].peel(pygit2.Commit)
    for _ in range(100000):
        parents = current.parent_ids
        if not parents or str(parents[0]) == code_commit:
            return str(current.id)
        current = repo.git[parents[0]].peel(pygit2.Commit)
    return str(current.id)


def original_config(repo: Repo, run: lookup.Run) -> dict[str, Any]:
    """The original's effective config as its launch recorded it (redacted values and all)."""
    from .bounds import load_yaml
    from .recordread import read_file

    code: Any = run.record.get("code") or {}
    raw = read_file(repo.git, launch_commit(repo, run.commit, code.get("commit")), "config.yaml")
    if raw is None:
        return {}
    data = load_yaml(raw, "config.yaml")
    return data if isinstance(data, dict) else {}


def without_redacted(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``config`` less the values a record could not keep (the redaction placeholder),
    and their dotted keys."""
    lost: list[str] = []

    def clean(node: Any, prefix: str) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                name = f"{prefix}.{key}" if prefix else str(key)
                if isinstance(value, str) and redact.REDACTED in value:
                    lost.append(name)
                    continue
                out[key] = clean(value, name)
            return out
        return node

    return clean(config, ""), lost


def change(kind: str, name: str, before: Any, after: Any) -> Change:
    """A change with its ``from`` and ``to`` (Python keywords, so not TypedDict syntax)."""
    return cast(Change, {"kind": kind, "name": name, "from": before, "to": after})


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """{kind: param} per dotted key whose (redacted) value differs; absent is None."""
    old = userconfig.flatten(redact.mapping(before))
    new = userconfig.flatten(redact.mapping(after))
    changes: list[Change] = []
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key), new.get(key)
        if a != b:
            changes.append(change("param", key, a, b))
    return changes


# -- the rerun ---------------------------------------------------------------------

def rerun(run_id: str, options: RerunOptions | None = None, repo: Repo | None = None) -> RerunOutcome:
    """Rerun ``run_id`` (an id, prefix or name) in a temporary worktree; return how it went."""
    from . import cache as cache_mod
    from . import reruninputs, tempworktree
    from .sharing import store_of_default_remote

    options = options or RerunOptions()
    check_options(options)
    repo = repo or open_repo(os.getcwd())
    repo.require_worktree()
    run = lookup.load(repo, run_id)
    rec = run.record
    if run.status == "running":
        raise GitrunsError(f"run {run.id[:12]} is still running; rerun it when it has ended "
                           f"(or git run cancel {run.id[:12]})")
    pipeline = rec.get("kind") == "pipeline"
    if options.from_step and not pipeline:
        raise UsageError(f"--from-step: run {run.id[:12]} ran a command, not a pipeline")
    code: Any = rec.get("code") or {}
    if not code.get("snapshot_tree"):
        raise GitrunsError(f"run {run.id[:12]} recorded no code snapshot; it cannot be rerun")
    cwd_rel = str(rec.get("cwd") or ".")
    if cwd_rel not in (".", ""):
        from .checkout import check_path

        check_path(cwd_rel)
    caller_cwd = os.getcwd()
    config_files = [os.path.abspath(os.path.join(caller_cwd, p)) for p in options.config_files]
    for path in config_files:
        if not os.path.isfile(path):
            raise UsageError(f"--config {path}: no such file")
    recorded = original_config(repo, run)
    base, lost = without_redacted(recorded)
    given = userconfig.effective(config_files, options.overrides)
    unrestored = [k for k in lost if userconfig.lookup(given, k) is userconfig.MISSING]
    if unrestored:
        warn(f"the record of run {run.id[:12]} does not keep the value of {', '.join(safe(k) for k in unrestored)} "
             "(redacted); give it with -p KEY=VALUE or --config FILE")
    new_config = userconfig.deep_merge(base, given)
    changes: list[Change] = config_changes(recorded, new_config)
    # A key whose value the record could not keep and the user gave is not a change we can see.
    changes = [c for c in changes if c["name"] not in lost]
    changes += [{"kind": "config", "name": p} for p in options.config_files]
    cache = cache_mod.local_cache(repo)
    store = store_of_default_remote(repo, None)
    group = record.group_of(rec)
    with tempworktree.temporary_worktree(repo, code.get("commit"), str(code["snapshot_tree"]), run.commit) as wt:
        prepared = reruninputs.prepare(repo, wt, rec, cache, store, options.allow_changed_inputs)
        changes += prepared.changes
        if options.from_step:
            changes.append({"kind": "from_step", "name": options.from_step})
        changes += list(options.env_changes)
        rerun_field: record.Rerun = {"of": run.id, "mode": options.mode, "changes": changes,
                                     "from_step": options.from_step, "env": options.env,
                                     "inputs": prepared.sources}
        lineage = {"run_group": group, "rerun_of": run.id, "rerun": rerun_field}
        tags = [f"{k}={v}" for k, v in (rec.get("tags") or {}).items()] + list(options.tags)
        cwd = _run_cwd(wt, cwd_rel)
        tmp = tempfile.mkdtemp(prefix="gitruns-rerun-")
        try:
            if pipeline:
                return _rerun_pipeline(run, options, wt, cwd, new_config, lineage, tags, changes)
            return _rerun_command(repo, run, options, wt, cwd, base, tmp, config_files, lineage, tags, changes)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_cwd(wt: str, rel: str) -> str:
    """The run's cwd in the worktree (made when the code lacks it: an empty or ignored
    directory); a symlink on the way is refused, so nothing is made outside it."""
    from .errors import PathError

    cwd = wt
    for part in [] if rel in (".", "") else rel.split("/"):
        cwd = os.path.join(cwd, part)
        if os.path.islink(cwd):
            raise PathError(f"refusing the run's cwd {safe(rel)}: {safe(part)} is a symlink in its code")
        if not os.path.isdir(cwd):
            os.mkdir(cwd)
    return cwd


def _relative(wt: str, cwd: str, path: str) -> str:
    """A root-relative record path as the new run's cwd sees it."""
    from .checkout import check_path

    check_path(path)
    return os.path.relpath(os.path.join(wt, path), cwd)


def _rerun_command(repo: Repo, run: lookup.Run, options: RerunOptions, wt: str, cwd: str, base: dict[str, Any],
                   tmp: str, config_files: list[str], lineage: dict[str, Any], tags: list[str],
                   changes: list[Change]) -> RerunOutcome:
    from .execute import execute
    from .launchspec import LaunchSpec
    from .session import Session
    from .tempworktree import open_worktree

    rec = run.record
    template = rec.get("command_template")
    argv = [str(a) for a in (template or rec.get("command") or [])]
    if not argv:
        raise GitrunsError(f"run {run.id[:12]} recorded no command")
    if any(redact.REDACTED in a for a in argv):
        warn(f"the command of run {run.id[:12]} was recorded with a redacted argument; it runs with the "
             f"placeholder {redact.REDACTED} unless its template names a ${{key}} given with -p")
    files = list(config_files)
    if base:
        base_file = os.path.join(tmp, "config.yaml")
        with open(base_file, "w", encoding="utf-8") as fh:
            fh.write(userconfig.dump(base))
        files.insert(0, base_file)
    inputs = [_relative(wt, cwd, str(i["path"])) for i in rec.get("inputs") or []]
    outputs = [_relative(wt, cwd, str(a["path"])) for a in rec.get("artifacts") or []
               if a.get("source", "output") == "output"]
    metrics_files = [_relative(wt, cwd, str(m)) for m in rec.get("metrics_files") or []]
    spec = LaunchSpec(argv=argv, cwd=cwd, name=options.name,
                      tags=tags, config_files=files, overrides=list(options.overrides), inputs=inputs,
                      outputs=outputs, metrics_files=metrics_files, substitute=bool(template), lineage=lineage,
                      invoked_by="rerun", path_prefix=list(options.path_prefix))
    errors: list[str] = []
    outcome = execute(spec, report=errors.append, session=Session(spec, repo=open_worktree(wt)))
    from .recordread import read_record
    from .runrefs import ref_name

    final = read_record(repo.git, str(repo.git.references[ref_name(outcome.run_id)].target))
    code = outcome.exit_code if outcome.exit_code is not None else 1
    return RerunOutcome(outcome.run_id, run.id, outcome.status, code, final, changes, outcome.duration_s, errors)


@contextlib.contextmanager
def _pipeline_environ(path_prefix: list[str]) -> Iterator[None]:
    """The engine opens the repository of its cwd and gives its steps our environment:
    for the time of the rerun, no GIT_DIR (or the like) pointing at the user's
    repository, and ``path_prefix`` first on PATH.  Restored afterwards."""
    from .tempworktree import _LOCAL_VARS

    saved = {k: os.environ[k] for k in (*_LOCAL_VARS, "PATH") if k in os.environ}
    try:
        for key in _LOCAL_VARS:
            os.environ.pop(key, None)
        if path_prefix:
            os.environ["PATH"] = os.pathsep.join([*path_prefix, *([saved["PATH"]] if "PATH" in saved else [])])
        yield
    finally:
        for key in (*_LOCAL_VARS, "PATH"):
            if key in saved:
                os.environ[key] = saved[key]
            else:
                os.environ.pop(key, None)


def _rerun_pipeline(run: lookup.Run, options: RerunOptions, wt: str, cwd: str, config: dict[str, Any],
                    lineage: dict[str, Any], tags: list[str], changes: list[Change]) -> RerunOutcome:
    from .checkout import check_path
    from .pipelines import graph
    from .pipelines.definition import load
    from .pipelines.engine import PipelineOptions
    from .pipelines.engine import run as run_plan

    rec = run.record
    pipe: Any = rec.get("pipeline") or {}
    file = str(pipe.get("file") or "gitruns.yaml")
    check_path(file)
    plan = load(os.path.join(wt, file), wt)
    targets = [str(t) for t in pipe.get("targets") or []]
    force = True
    force_steps: list[str] = []
    if options.from_step:
        step = options.from_step
        if step not in plan.steps:
            raise UsageError(f"--from-step {step}: no step {step} in the pipeline (steps: {', '.join(plan.steps)})")
        names = graph.order(plan, targets)
        if step not in names:
            raise UsageError(f"--from-step {step}: step {step} is not among the steps the run needed "
                             f"({', '.join(names)})")
        force = False
        force_steps = [step] + [s for s in graph.downstream(plan, step) if s in names]
    argv = ["git", "run", "rerun", run.id]
    popts = PipelineOptions(targets=targets, jobs=int(pipe.get("jobs") or 1), config=config,
                            force=force, force_steps=force_steps, fail_fast=bool(pipe.get("fail_fast")),
                            name=options.name, tags=tags,
                            argv=argv, cwd=cwd, lineage=lineage, invoked_by="rerun",
                            reuse_from=run.id if options.from_step else None)
    with _pipeline_environ(options.path_prefix):
        out = run_plan(plan, popts)
    duration = float(out.record.get("duration_s") or 0.0)
    return RerunOutcome(out.run_id, run.id, out.status, out.exit_code, out.record, changes, duration,
                        list(out.errors))


class _CallableModule(types.ModuleType):
    """``gitruns.rerunning`` is both this module and, as the Python API, the function
    :func:`rerun`: importing the module binds its name on the package, so the
    module itself calls the function when called."""

    def __call__(self, run_id: str, options: RerunOptions | None = None, repo: Repo | None = None) -> RerunOutcome:
        return rerun(run_id, options, repo)


sys.modules[__name__].__class__ = _CallableModule
