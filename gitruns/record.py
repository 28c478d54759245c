"""The run record (``.gitruns/run.json``): its shape, versions and readers.

The record is a public contract.  ``SCHEMA_VERSION`` is written into every
record; ``upgrade`` turns any older shape into the current one, so a reader of
next year still understands runs pushed today.  The JSON Schema of the current
version ships in ``gitruns/schema/run.schema.json``.
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any, TypedDict, cast

from .errors import RecordError

SCHEMA_VERSION = 5
STATUSES = ("running", "succeeded", "failed", "canceled")
KINDS = ("command", "pipeline")
# A step's status: "cached" when its outputs came from an earlier identical step,
# "skipped" when a step it needs failed (or the run stopped before it).
STEP_STATUSES = ("pending", "running", "succeeded", "failed", "cached", "skipped", "canceled")
DERIVED_STATUSES = STATUSES + ("crashed",)
INVOKERS = ("manual", "rerun", "pipeline", "hook", "ci", "run", "sweep")
# How a run with ``rerun`` came about: ``git run rerun``, ``reproduce`` or ``resume``.
RERUN_MODES = ("rerun", "reproduce", "resume")

# The order of keys in run.json, so that `git diff` between runs lines up.
FIELD_ORDER = (
    "schema", "id", "name", "kind", "status", "command", "cwd", "exit_code", "signal",
    "started_at", "ended_at", "duration_s", "user", "host", "pid", "process",
    "invoked_by", "invocation", "tags", "code", "inputs", "artifacts", "metrics",
    "params", "logs", "pipeline", "steps", "run_group", "rerun_of", "rerun", "sweep", "cancel", "upstream",
    "retired", "error",
    "gitruns_version",
)


# -- the record's shape, for the type checker -------------------------------
#
# The JSON Schema (gitruns/schema/) is the contract and what untrusted records
# are checked against; these types say the same for mypy, for records built
# here and records read back after validation and upgrade: the types say what
# every written record holds.  A record in memory has every top-level key
# (``new`` and ``upgrade`` see to that); only between ``new`` and the launch
# (which fills them before the first commit) do command, cwd, started_at,
# user, host, pid, invoked_by and code hold None.  Keys of nested objects that
# older records may lack are in the ``total=False`` parts.  A record may hold
# keys unknown here (from a newer writer); they are kept as they are.


class Process(TypedDict, total=False):
    boot_id: str | None
    start_ticks: int | None


class ChangedFile(TypedDict):
    path: str
    status: str


class _UntrackedLarge(TypedDict):
    path: str
    size: int
    digest: str


class UntrackedLarge(_UntrackedLarge, total=False):
    reason: str


class OverflowDirectory(TypedDict):
    path: str
    files: int
    size: int


class _UntrackedOverflow(TypedDict):
    files: int
    size: int


class UntrackedOverflow(_UntrackedOverflow, total=False):
    directories: list[OverflowDirectory]


class _SubmoduleChange(TypedDict):
    path: str
    status: str


class SubmoduleChange(_SubmoduleChange, total=False):
    digest: str | None


class _Submodule(TypedDict):
    path: str
    commit: str


class Submodule(_Submodule, total=False):
    dirty: bool
    changed_files: list[SubmoduleChange]


class _Code(TypedDict):
    commit: str | None
    branch: str | None
    dirty: bool
    changed_files: list[ChangedFile]
    untracked_files: list[str]
    snapshot_tree: str
    reproducible_from: str | None


class Code(_Code, total=False):
    detached: bool
    untracked_large: list[UntrackedLarge]
    untracked_overflow: UntrackedOverflow
    untracked_withheld: list[str]
    submodules: list[Submodule]


class _Input(TypedDict):
    path: str
    kind: str  # "file" | "dir"
    size: int
    digest: str


class Input(_Input, total=False):
    files: int
    tracked: bool
    kept: bool  # a copy is in the artifact cache by digest (schema 4)
    not_kept: str  # why an input git does not track has no copy (schema 4)


class _Artifact(TypedDict):
    path: str
    status: str  # "stored" | "missing" | "error" | ...
    digest: str | None


class Artifact(_Artifact, total=False):
    source: str  # "output" | "logged"
    kind: str | None  # "file" | "dir"; None when it could not be read
    size: int | None
    files: int
    stored_by: list[str]
    error: str


class Log(TypedDict):
    size: int
    digest: str | None
    truncated: bool


class _Error(TypedDict):
    type: str
    message: str


class Error(_Error, total=False):
    stderr_tail: str
    record_problems: list[str]
    step: str  # a pipeline run's failed step


class _StepInput(TypedDict):
    path: str  # a path relative to the repository root, or "<step>.<name>" for a value
    kind: str  # "file" | "dir" | "value"
    size: int
    digest: str


class StepInput(_StepInput, total=False):
    files: int
    from_step: str  # the step whose output it is
    kept: bool  # a source dep git does not track: a copy is in the artifact cache (schema 4)
    not_kept: str  # why such a dep has no copy (schema 4)


class Attempt(TypedDict):
    number: int
    started_at: str
    ended_at: str | None
    duration_s: float | None
    exit_code: int | None
    signal: str | None
    error: Error | None


class CachedFrom(TypedDict):
    run: str
    step: str


class _Step(TypedDict):
    name: str
    status: str  # one of STEP_STATUSES
    command: str | None  # the shell command after ${key} interpolation; None for a Python step
    needs: list[str]  # the steps whose outputs it reads
    wdir: str  # relative to the repository root ("." for the root)
    params: dict[str, Any]  # dotted config key -> value
    inputs: list[StepInput]
    outputs: list[Artifact]
    metrics: dict[str, Any]
    attempts: list[Attempt]
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    cache_key: str | None
    cached_from: CachedFrom | None
    logs: dict[str, Log]
    error: Error | None


class _Upstream(TypedDict):
    run: str  # the earlier run's id
    commit: str  # its ref's commit when this run started (a further parent of this run's first commit)
    digest: str  # what was consumed, by content
    path: str  # where: the input path in this run (or this step)


class Upstream(_Upstream, total=False):
    """An earlier run whose artifact this run or step consumed (schema 5)."""

    artifact: str | None  # its path among the earlier run's artifacts (or step outputs)
    step: str | None  # the earlier run's step that wrote it


class _Retired(TypedDict):
    at: str  # when (UTC, ISO 8601)
    by: str  # who ran git run retire
    reason: str


class Retired(_Retired, total=False):
    """Set by ``git run retire`` on a new commit of the run (schema 5)."""

    superseded_by: str | None  # the run that replaces it


class Step(_Step, total=False):
    upstream: list[Upstream]  # schema 5: earlier runs (or this run's earlier steps) it consumed
    command_template: str  # the command as written, when ${key} made it differ
    function: str  # a Python step: module:qualname
    env: dict[str, str]
    retries: int
    timeout_s: float | None


class _Pipeline(TypedDict):
    file: str | None  # the definition, relative to the repository root
    format: str  # "gitruns" | "dvc" | "python"
    targets: list[str]
    jobs: int


class Pipeline(_Pipeline, total=False):
    digest: str | None  # of the definition file
    fail_fast: bool
    forced: list[str]  # steps run even when an identical earlier step could be reused
    declared: dict[str, Any]  # dvc.yaml's top-level metrics, plots and artifacts, as written


class _Change(TypedDict):
    kind: str  # "param" | "config" | "input" | "from_step" | "environment" | "definition" | "code"
    name: str  # the dotted key, the path, the step...


class Change(_Change, total=False):
    """One intended difference of a rerun from its original (``from`` and ``to``
    are keywords in Python: read them as ``change.get("from")``)."""


class InputSource(TypedDict):
    path: str
    digest: str
    source: str  # "code" | "cache" | "store" | "working_tree" | "changed"


class _Rerun(TypedDict):
    of: str  # the original run's id
    mode: str  # one of RERUN_MODES
    changes: list[Change]


class Rerun(_Rerun, total=False):
    from_step: str | None
    env: str  # "current" | "recreate"
    inputs: list[InputSource]  # where each recorded input of the original came from


class _Sweep(TypedDict):
    id: str  # the sweep's id, also the run_group of its points
    index: int  # this point's place in the sweep, from 0
    size: int  # how many points the sweep launched
    point: dict[str, Any]  # dotted key -> the value swept to


class Sweep(_Sweep, total=False):
    random: bool
    seed: int | None


class _Cancel(TypedDict):
    by: str  # the user who ran git run cancel
    host: str
    at: str  # when (UTC, ISO 8601)


class Cancel(_Cancel, total=False):
    pid: int | None  # of the git run cancel process
    grace_s: float
    killed: bool  # SIGKILL was needed after the grace period


class _RunRecord(TypedDict):

    schema: int
    id: str
    name: str | None
    kind: str  # one of KINDS
    status: str  # one of STATUSES (readers derive "crashed": effective_status)
    command: list[str]
    cwd: str
    exit_code: int | None
    signal: str | None
    started_at: str
    ended_at: str | None
    duration_s: float | None
    user: str
    host: str
    pid: int
    process: Process | None
    invoked_by: str  # one of INVOKERS
    invocation: dict[str, Any]
    tags: dict[str, str]
    code: Code
    inputs: list[Input]
    artifacts: list[Artifact]
    metrics: dict[str, Any]  # final values: numbers, or "nan"/"inf"/"-inf"
    params: dict[str, Any]
    logs: dict[str, Log]
    pipeline: Pipeline | None
    steps: list[Step]
    run_group: str  # its own id, the original's group (rerun, resume) or the sweep's id
    rerun_of: str | None
    rerun: Rerun | None
    sweep: Sweep | None
    cancel: Cancel | None
    upstream: list[Upstream]  # schema 5
    retired: Retired | None  # schema 5
    error: Error | None
    gitruns_version: str | None


class RunRecord(_RunRecord, total=False):
    """``.gitruns/run.json``: the fields ``FIELD_ORDER`` lists, then the optional ones."""

    command_template: list[str]  # the command as typed, when ${key} made it differ from ``command``
    metrics_files: list[str]  # -m files, relative to the repository root (schema 4), so a rerun reads them too


def new(run_id: str) -> RunRecord:
    """An empty record of the current schema with every field present."""
    rec: dict[str, Any] = {k: None for k in FIELD_ORDER}
    rec.update(schema=SCHEMA_VERSION, id=run_id, kind="command", status="running", run_group=run_id, tags={}, inputs=[],
               artifacts=[], metrics={}, params={}, steps=[], logs={}, invocation={}, upstream=[])
    return cast(RunRecord, rec)


def ordered(rec: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: rec.get(k) for k in FIELD_ORDER}
    for k, v in rec.items():
        if k not in out:
            out[k] = v
    return out


def dumps(rec: Mapping[str, Any]) -> bytes:
    return (json.dumps(ordered(rec), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def upgrade(data: Any) -> RunRecord:
    """Read a record of any known schema version into the current shape."""
    if not isinstance(data, dict):
        raise RecordError("run.json is not a JSON object")
    version = data.get("schema")
    if not isinstance(version, int):
        raise RecordError("run.json has no schema version")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"run {data.get('id', '?')} has record schema {version}, newer than this gitruns "
            f"understands ({SCHEMA_VERSION}); upgrade gitruns"
        )
    if version == 1:
        data = _v1_to_v2(data)
    if data.get("schema") == 2:
        data = _v2_to_v3(data)
    if data.get("schema") == 3:
        data = _v3_to_v4(data)
    if data.get("schema") == 4:
        data = _v4_to_v5(data)
    rec: dict[str, Any] = dict(new(str(data.get("id", ""))))
    rec.update(data)
    return cast(RunRecord, rec)


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added ``code.reproducible_from``: the commit whose tree is exactly
    the run's code, noted after the fact by the post-commit hook."""
    out = dict(data)
    code = dict(out.get("code") or {})
    code.setdefault("reproducible_from", None)
    out["code"] = code
    out["schema"] = 2
    return out


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added pipeline runs: ``kind`` ("command" for every earlier run),
    ``pipeline`` (None) and the shape of ``steps`` (always empty before)."""
    out = dict(data)
    out.setdefault("kind", "command")
    out.setdefault("pipeline", None)
    out["steps"] = list(out.get("steps") or [])
    out["schema"] = 3
    return out


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Version 4 added run groups and reruns: ``run_group`` (every earlier run is a
    group of its own), ``rerun``, ``sweep`` and ``cancel`` (None), and an input's
    ``kept``/``not_kept`` (absent: earlier inputs were never kept)."""
    out = dict(data)
    out.setdefault("run_group", out.get("id"))
    for key in ("rerun_of", "rerun", "sweep", "cancel"):
        out.setdefault(key, None)
    out["schema"] = 4
    return out


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    """Version 5 added lineage and retirement: ``upstream`` (empty: earlier runs were
    not linked to the runs whose artifacts they consumed) and ``retired`` (None)."""
    out = dict(data)
    out.setdefault("upstream", [])
    out.setdefault("retired", None)
    out["schema"] = 5
    return out


def group_of(rec: Mapping[str, Any]) -> str:
    """The run's group: ``run_group``, or its own id."""
    group = rec.get("run_group")
    return group if isinstance(group, str) and group else str(rec.get("id", ""))


def loads(raw: bytes) -> RunRecord:
    """A run.json, bounded before it is parsed (size and nesting: see bounds)."""
    from . import bounds

    bounds.check_size("run.json", len(raw))
    return upgrade(bounds.load_json(raw, "run.json"))


@functools.lru_cache(maxsize=4)
def _schema_text(version: int) -> str:
    name = "run.schema.json" if version == SCHEMA_VERSION else f"run.schema.v{version}.json"
    from importlib import resources  # here: importing it costs every command a few milliseconds

    return resources.files("gitruns").joinpath(f"schema/{name}").read_text(encoding="utf-8")


def schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema of run.json as written by schema ``version``."""
    return dict(json.loads(_schema_text(version)))


@functools.lru_cache(maxsize=4)
def validator(version: int = SCHEMA_VERSION) -> Any:
    """A JSON Schema validator of run.json, built once (building checks the schema itself)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema(version))
    return cls(schema(version))


# -- crash detection -------------------------------------------------------

def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def process_start_ticks(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (guards pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def this_process() -> Process:
    return {"boot_id": boot_id(), "start_ticks": process_start_ticks(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(rec: Mapping[str, Any]) -> str:
    """The status to show: a 'running' run whose process is gone is 'crashed'.

    Only a run of this host can be judged; one from another host stays
    'running' because its process cannot be seen from here.
    """
    status = str(rec.get("status"))
    if status != "running" or rec.get("host") != _hostname():
        return status
    pid = rec.get("pid")
    proc = rec.get("process") or {}
    if not isinstance(pid, int):
        return status
    if proc.get("boot_id") and proc.get("boot_id") != boot_id():
        return "crashed"
    if not _alive(pid):
        return "crashed"
    ticks = proc.get("start_ticks")
    if ticks is not None and process_start_ticks(pid) not in (None, ticks):
        return "crashed"  # the pid now belongs to another process
    return status


@functools.lru_cache(maxsize=1)
def _hostname() -> str:
    import socket  # only for a running run: most listings never load it

    return socket.gethostname()
