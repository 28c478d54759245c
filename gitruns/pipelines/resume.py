"""``git run resume ID``: finish a failed, canceled or crashed pipeline run as a
new run of its group, reusing the steps that succeeded.

The new run runs in a temporary worktree (:mod:`gitruns.tempworktree`) holding
the user's *current* code (the working tree as ``exec`` snapshots it, uncommitted
edits included), so a fix made after the failure is what runs, and the user's
working tree, index and HEAD are not touched.  Untracked source inputs the
snapshot lacks (ignored data) are brought in from the user's tree
(:func:`gitruns.staging.stage`).

The steps that succeeded (or were cached) in the run resumed are not run: their
outputs are restored, verified, from the artifact cache (or the default
remote's store) through the engine's reuse hook (``PipelineOptions.reuse``).
The rest run as ``git run pipeline`` runs them.

Refused before anything runs (:class:`ResumeRefused`, exit 1, one line): a
definition that changed for any step since the run (its command, deps, outs,
params keys, wdir or env; a step added or removed), and a step to reuse whose
source inputs or params values are not what they were.  The run resumed is never
modified.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import record, redact
from ..errors import GitrunsError, UsageError
from ..metricsfile import json_safe
from ..repo import Repo, open_repo
from .engine import PipelineOptions, PipelineOutcome, StepEvent, effective_config
from .plan import Plan

# Changed code files named in rerun.changes at most (the rest are counted).
MAX_CODE_CHANGES = 50
# How far a resume of a resume of ... is followed to find the original's -p and -c.
MAX_CHAIN = 100
RESUMABLE = ("failed", "canceled", "crashed")


class ResumeRefused(GitrunsError):
    """The run cannot be resumed as it is (exit 1)."""


@dataclass
class ResumeOptions:
    jobs: int | None = None  # None: the run's own -j
    fail_fast: bool | None = None  # None: the run's own --fail-fast
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    argv: list[str] | None = None  # the command the record keeps
    cwd: str | None = None
    progress: Callable[[StepEvent], None] | None = None


def resume(run_id: str, options: ResumeOptions | None = None, repo: Repo | None = None) -> PipelineOutcome:
    """Resume the pipeline run ``run_id`` (any unique prefix, or its name) as a new
    run of its group; the outcome of the new run."""
    from .. import lookup

    options = options or ResumeOptions()
    repo = repo or open_repo(options.cwd or os.getcwd())
    user_root = repo.require_worktree()
    run = lookup.load(repo, run_id)
    rec = run.record
    short = run.id[:12]
    _check_resumable(run.id, rec)
    pipeline = rec["pipeline"]
    assert pipeline is not None and pipeline.get("file")
    rel_file = str(pipeline["file"])
    _check_rel(rel_file, "the definition file")
    plan = _load_current(user_root, rel_file, short)
    targets = [str(t) for t in pipeline.get("targets") or []]
    from . import graph

    try:
        names = graph.order(plan, targets)
    except UsageError as exc:
        raise ResumeRefused(f"resume refused: {exc} (since run {short}); run git run pipeline for a new run") from None
    recorded = {str(s.get("name")): s for s in rec.get("steps") or [] if isinstance(s, dict)}
    _check_definition(plan, names, recorded, _recorded_plan(repo, rec, rel_file, user_root), short)
    reuse = _reusable(plan, names, recorded)
    overrides, config_files = _original_config(repo, rec)
    return _run_in_worktree(repo, user_root, run.id, rec, plan, names, recorded, reuse, overrides, config_files,
                            options)


# -- what may be resumed -----------------------------------------------------

def _check_resumable(rid: str, rec: record.RunRecord) -> None:
    short = rid[:12]
    if rec.get("kind") != "pipeline" or not rec.get("pipeline"):
        raise UsageError(f"run {short} is not a pipeline run; use git run rerun")
    status = record.effective_status(rec)
    if status == "running":
        raise ResumeRefused(f"run {short} is still running; wait for it to end, or cancel it")
    if status == "succeeded":
        raise ResumeRefused(f"run {short} succeeded; nothing to resume")
    if status not in RESUMABLE:
        raise ResumeRefused(f"run {short} is {status}; only a failed, canceled or crashed run can be resumed")
    pipeline: dict[str, Any] = dict(rec["pipeline"] or {})
    if pipeline.get("format") == "python" or not pipeline.get("file"):
        raise UsageError(f"run {short} is a pipeline defined in Python (no definition file to read); "
                         "run it again from Python")


def _check_rel(rel: str, what: str) -> None:
    """A path from a record: relative, normalised, inside the tree, never in .git."""
    from ..checkout import check_path

    try:
        check_path(rel)
    except GitrunsError:
        raise ResumeRefused(f"resume refused: {what} {rel!r} named by the record is not a path inside "
                            "the working tree") from None


def _load_current(root: str, rel_file: str, short: str) -> Plan:
    from .definition import load

    full = os.path.join(root, rel_file)
    if not os.path.isfile(full):
        raise ResumeRefused(f"resume refused: the pipeline definition {rel_file} is gone since run {short}; "
                            "run git run pipeline for a new run")
    return load(full, root)


def _recorded_plan(repo: Repo, rec: record.RunRecord, rel_file: str, root: str) -> Plan | None:
    """The definition as it was when the run started, read from its code snapshot
    (None when the snapshot lacks it or is not here, as for a record from a
    teammate's clone with the code not fetched)."""
    import pygit2

    from .definition import parse_bytes

    tree_id = (rec.get("code") or {}).get("snapshot_tree")
    try:
        tree = repo.git[str(tree_id)].peel(pygit2.Tree)
        blob = repo.git[tree[rel_file].id]
    except (KeyError, ValueError, TypeError, pygit2.GitError):
        return None
    if not isinstance(blob, pygit2.Blob) or blob.size > 1024 * 1024:
        return None
    try:
        return parse_bytes(blob.data, rel_file, root)
    except UsageError:
        return None


def _changed(step: str, short: str, what: str) -> ResumeRefused:
    return ResumeRefused(f"resume refused: step {step} changed since run {short} ({what}); "
                         "run git run pipeline for a new run")


def _check_definition(plan: Plan, names: list[str], recorded: dict[str, record.Step], old: Plan | None,
                      short: str) -> None:
    """Every step the run would run must be defined as it was (see the module doc)."""
    for name in names:
        if name not in recorded:
            raise ResumeRefused(f"resume refused: step {name} was added since run {short}; "
                                "run git run pipeline for a new run")
    for name in recorded:
        if name not in names:
            raise ResumeRefused(f"resume refused: step {name} was removed since run {short}; "
                                "run git run pipeline for a new run")
    for name in names:
        spec = plan.steps[name]
        step = recorded[name]
        if old is not None and name in old.steps:
            before = old.steps[name]
            for what, a, b in (("command", before.cmd, spec.cmd), ("deps", before.deps, spec.deps),
                               ("outs", before.outs, spec.outs), ("metrics", before.metrics, spec.metrics),
                               ("params", before.params, spec.params), ("wdir", before.wdir, spec.wdir),
                               ("env", before.env, spec.env)):
                if a != b:
                    raise _changed(name, short, what)
            continue
        template = step.get("command_template", step.get("command"))
        if spec.func is not None or step.get("function"):
            raise _changed(name, short, "function")
        if template != spec.cmd:
            raise _changed(name, short, "command")
        if sorted(step.get("params") or {}) != sorted(spec.params):
            raise _changed(name, short, "params")
        if step.get("wdir") != spec.wdir:
            raise _changed(name, short, "wdir")
        if (step.get("env") or {}) != redact.mapping(dict(spec.env)):
            raise _changed(name, short, "env")
        deps = [str(i.get("path")) for i in step.get("inputs") or [] if i.get("kind") != "value"]
        if step.get("inputs") and deps != list(spec.deps):
            raise _changed(name, short, "deps")
        outs = [str(a.get("path")) for a in step.get("outputs") or [] if a.get("source") == "output"]
        if step.get("status") in ("succeeded", "cached") and sorted(outs) != sorted(spec.outs):
            raise _changed(name, short, "outs")


def _reusable(plan: Plan, names: list[str], recorded: dict[str, record.Step]) -> list[str]:
    """The steps to reuse: those that succeeded (or were cached) with a cache key
    (one without had a dep change while it ran) and whose needs are all reused."""
    out: list[str] = []
    for name in names:  # in dependency order
        step = recorded[name]
        if step.get("status") not in ("succeeded", "cached") or not step.get("cache_key"):
            continue
        if all(up in out for up in plan.steps[name].needs if up in names):
            out.append(name)
    return out


# -- the original's -p and -c --------------------------------------------------

def _original_config(repo: Repo, rec: record.RunRecord) -> tuple[list[str], list[str]]:
    """The run's ``-p`` overrides and ``--config`` files (as typed, relative to its
    cwd): read from the command it recorded; a resume's are its original's."""
    from .. import lookup

    for _ in range(MAX_CHAIN):
        rerun: dict[str, Any] = dict(rec.get("rerun") or {})
        if rerun.get("mode") == "resume" and rec.get("rerun_of"):
            try:
                rec = lookup.load(repo, str(rec["rerun_of"])).record
            except GitrunsError as exc:
                raise ResumeRefused(f"resume refused: the run it resumed, {str(rec['rerun_of'])[:12]}, "
                                    f"cannot be read ({exc}), so its -p and --config are unknown") from None
            continue
        break
    overrides, files = parse_pipeline_argv([str(a) for a in rec.get("command") or []])
    sweep: dict[str, Any] = dict(rec.get("sweep") or {})
    for key, value in (sweep.get("point") or {}).items():
        overrides.append(f"{key}={json_safe_yaml(value)}")
    for change in rerun_param_changes(rec):
        overrides.append(change)
    for item in overrides:
        if redact.REDACTED in item:
            raise ResumeRefused(f"resume refused: the run's -p {item.partition('=')[0]} was redacted in its "
                                "record, so its value is unknown; run git run pipeline for a new run")
    return overrides, files


def json_safe_yaml(value: Any) -> str:
    """A value as a ``-p`` right-hand side (YAML flow: JSON is YAML)."""
    import json

    return json.dumps(value, ensure_ascii=False)


def rerun_param_changes(rec: record.RunRecord) -> list[str]:
    """``-p`` of a ``git run rerun`` of a pipeline, from its recorded changes."""
    rerun: dict[str, Any] = dict(rec.get("rerun") or {})
    if rerun.get("mode") not in ("rerun", "reproduce"):
        return []
    return [f"{c['name']}={json_safe_yaml(c.get('to'))}" for c in rerun.get("changes") or []
            if isinstance(c, dict) and c.get("kind") == "param" and isinstance(c.get("name"), str)]


def parse_pipeline_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """``-p``/``--param`` values and ``-c``/``--config`` files of a recorded
    ``git run pipeline ...`` command line (every spelling click accepts)."""
    overrides: list[str] = []
    files: list[str] = []
    try:
        start = argv.index("pipeline") + 1
    except ValueError:
        return overrides, files
    args = argv[start:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        for long, short, into in (("--param", "-p", overrides), ("--config", "-c", files)):
            if arg in (long, short):
                if i + 1 < len(args):
                    into.append(args[i + 1])
                i += 1
                break
            if arg.startswith(long + "="):
                into.append(arg[len(long) + 1:])
                break
            if arg.startswith(short) and not arg.startswith("--") and len(arg) > 2:
                into.append(arg[2:])
                break
        i += 1
    return overrides, files


# -- the run -----------------------------------------------------------------

def _run_in_worktree(repo: Repo, user_root: str, rid: str, rec: record.RunRecord, plan: Plan, names: list[str],
                     recorded: dict[str, record.Step], reuse: list[str], overrides: list[str],
                     config_files: list[str], options: ResumeOptions) -> PipelineOutcome:
    from .. import snapshot, staging
    from ..tempworktree import open_worktree, temporary_worktree
    from .definition import load
    from .engine import run as run_plan
    from .stepcache import Reuse

    short = rid[:12]
    code = snapshot.current(repo)
    rel_cwd = str(rec.get("cwd") or ".")
    if rel_cwd != ".":
        _check_rel(rel_cwd, "the working directory")
    with temporary_worktree(repo, code.commit, code.snapshot_tree) as wt:
        # Untracked inputs and config files the snapshot lacks (ignored data), from the user's tree.
        written = {o for s in plan.steps.values() for o in s.outs}
        wanted = [d for n in names for d in plan.steps[n].deps if d not in written]
        wanted += [os.path.relpath(p, user_root) for p in plan.params_files]
        # The run's --config files: relative to its cwd; one outside the working tree is read where it is.
        typed = [os.path.normpath(os.path.join(rel_cwd, f)) for f in config_files if not os.path.isabs(f)]
        inside = [rel for rel in typed if rel != ".." and not rel.startswith(".." + os.sep)]
        for rel in dict.fromkeys(wanted + inside):
            if os.path.lexists(os.path.join(user_root, rel)) and not _written_by(rel, written):
                staging.stage(user_root, wt, rel)
        wrepo = open_worktree(wt)
        wplan = load(os.path.join(wt, plan.file or ""), wt)
        cwd = os.path.join(wt, rel_cwd)
        if not os.path.isdir(cwd):
            cwd = wt
        files = [f if os.path.isabs(f) else os.path.join(wt if rel in inside else user_root, rel)
                 for f, rel in ((f, os.path.normpath(os.path.join(rel_cwd, f))) for f in config_files)]
        recorded_pipeline: dict[str, Any] = dict(rec["pipeline"] or {})
        popts = PipelineOptions(
            targets=[str(t) for t in recorded_pipeline.get("targets") or []],
            jobs=options.jobs if options.jobs is not None else int(recorded_pipeline.get("jobs") or 1),
            config_files=files, overrides=list(overrides),
            fail_fast=options.fail_fast if options.fail_fast is not None
            else bool(recorded_pipeline.get("fail_fast")),
            name=options.name, tags=list(options.tags),
            argv=list(options.argv or ["git", "run", "resume", rid]), cwd=cwd, progress=options.progress,
            invoked_by="rerun", repo=wrepo,
        )
        popts.force_steps = [str(s) for s in recorded_pipeline.get("forced") or [] if s in names and s not in reuse]
        config = effective_config(wplan, popts)
        _check_inputs(wt, wplan, reuse, recorded, config, short)
        _check_available(wrepo, reuse, recorded, short)
        changes = _param_changes(wplan, names, reuse, recorded, config)
        changes += _code_changes(repo, rec, code.snapshot_tree)
        popts.reuse = {name: Reuse(rid, recorded[name]) for name in reuse}
        popts.lineage = {
            "run_group": record.group_of(rec), "rerun_of": rid,
            "rerun": {"of": rid, "mode": "resume", "changes": changes, "from_step": None},
        }
        return run_plan(wplan, popts)


def _written_by(rel: str, written: set[str]) -> bool:
    from .graph import overlaps

    return any(overlaps(rel, o) for o in written)


def _check_inputs(root: str, plan: Plan, reuse: list[str], recorded: dict[str, record.Step],
                  config: dict[str, Any], short: str) -> None:
    """A step to reuse must read what it read: its source deps (not another step's
    outputs, which are restored as they were) by digest, and its params' values."""
    from ..hashing import StatCache, hash_path
    from .graph import step_params

    statcache = StatCache(None)
    for name in reuse:
        step = recorded[name]
        for entry in step.get("inputs") or []:
            if entry.get("kind") == "value" or entry.get("from_step"):
                continue
            path = str(entry.get("path"))
            if path not in plan.steps[name].deps:
                continue
            try:
                now: str | None = hash_path(os.path.join(root, path), statcache, label=path).digest
            except GitrunsError:
                now = None
            if now != entry.get("digest"):
                raise ResumeRefused(f"resume refused: step {name}'s input {path} "
                                    + ("is gone" if now is None else "changed") + f" since run {short}; "
                                    "run git run pipeline for a new run")
        params = json_safe(redact.mapping(step_params(plan.steps[name], config)))
        before = step.get("params") or {}
        for key in plan.steps[name].params:
            if params.get(key) != before.get(key):
                raise ResumeRefused(f"resume refused: step {name}'s param {key} changed since run {short} "
                                    f"({_short_value(before.get(key))} -> {_short_value(params.get(key))}); "
                                    "run git run pipeline for a new run")


def _short_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_available(repo: Repo, reuse: list[str], recorded: dict[str, record.Step], short: str) -> None:
    """Every output of a step to reuse can be restored (the cache, else the store)."""
    from ..cache import for_repo
    from ..settings import load as load_settings
    from ..sharing import store_of_default_remote
    from .stepcache import unavailable

    cache = for_repo(repo, load_settings(repo.git))
    looked: list[Any] = []

    def remote() -> Any:
        if not looked:
            try:
                looked.append(store_of_default_remote(repo))
            except GitrunsError:
                looked.append(None)
        return looked[0]

    for name in reuse:
        missing = unavailable(recorded[name], cache, remote)
        if missing is not None:
            raise ResumeRefused(f"resume refused: step {name}'s output {missing} of run {short} is in neither "
                                "the artifact cache nor the default remote's store; run git run pipeline "
                                "for a new run")


def _param_changes(plan: Plan, names: list[str], reuse: list[str], recorded: dict[str, record.Step],
                   config: dict[str, Any]) -> list[record.Change]:
    """A param of a step that runs now whose value is not the one the run recorded."""
    from .graph import step_params

    out: dict[str, record.Change] = {}
    for name in names:
        if name in reuse:
            continue
        now = json_safe(redact.mapping(step_params(plan.steps[name], config)))
        before = recorded[name].get("params") or {}
        for key, value in now.items():
            if key in before and before[key] != value and key not in out:
                change: dict[str, Any] = {"kind": "param", "name": key, "from": before[key], "to": value}
                out[key] = change  # type: ignore[assignment]
    return list(out.values())


def _code_changes(repo: Repo, rec: record.RunRecord, tree: str) -> list[record.Change]:
    """Code files that differ between the run's snapshot and the code resumed with."""
    import pygit2

    before = (rec.get("code") or {}).get("snapshot_tree")
    if not before or before == tree:
        return []
    try:
        diff = repo.git[str(before)].peel(pygit2.Tree).diff_to_tree(repo.git[tree].peel(pygit2.Tree))
    except (KeyError, ValueError, pygit2.GitError):
        return []
    out: list[record.Change] = []
    for delta in diff.deltas:
        if len(out) >= MAX_CODE_CHANGES:
            break
        path = delta.new_file.path if delta.status != pygit2.enums.DeltaStatus.DELETED else delta.old_file.path
        change: dict[str, Any] = {"kind": "code", "name": path,
                                  "from": None if delta.status == pygit2.enums.DeltaStatus.ADDED
                                  else str(delta.old_file.id),
                                  "to": None if delta.status == pygit2.enums.DeltaStatus.DELETED
                                  else str(delta.new_file.id)}
        out.append(change)  # type: ignore[arg-type]
    return out
