"""A ``dvc.yaml`` read as is: what is specific to DVC's pipeline file.

Its ``stages`` become steps (cmd, deps, outs, metrics, plots, params, wdir,
always_changed; desc and meta accepted), ``params.yaml`` beside it is the first
config file (as DVC reads it), stage ``params`` are keys of the effective config
(``{other.yaml: [keys]}`` adds that file), top-level ``metrics`` files are read as
metrics by the step that writes them, and top-level ``plots``, ``metrics`` and
``artifacts`` are kept as written in ``plan.declared``.  What gitruns cannot do as
DVC does (``foreach``/``matrix`` templating, ``vars``, frozen stages) is refused
naming the key, rather than run differently.
"""
from __future__ import annotations

import datetime
import math
from typing import Any

from .definition import (
    OUTPUT_OPTIONS,
    Origin,
    add_outputs,
    boolean,
    check_keys,
    check_name,
    command,
    config_file,
    default_params,
    paths,
    wdir,
)
from .plan import Plan, StepSpec

TOP_KEYS = ("stages", "params", "metrics", "plots", "artifacts")
STAGE_KEYS = ("cmd", "deps", "outs", "metrics", "plots", "params", "wdir", "desc", "always_changed", "frozen", "meta")
PLOT_OPTIONS = (*OUTPUT_OPTIONS, "x", "y", "x_label", "y_label", "title", "header", "template")
# Keys of DVC's that gitruns does not implement, and why.
_UNSUPPORTED_TOP = {
    "vars": "write the values in params.yaml and use ${key} in cmd",
    "datasets": "name the data as deps of the stages",
}
_UNSUPPORTED_STAGE = {
    "foreach": "templated stages are not expanded by gitruns; write one stage per item",
    "do": "templated stages are not expanded by gitruns; write one stage per item",
    "matrix": "templated stages are not expanded by gitruns; write one stage per combination",
    "vars": "write the values in params.yaml and use ${key} in cmd",
}
_STAGE = "stage"


def parse(data: dict[str, Any], origin: Origin) -> Plan:
    """A dvc.yaml's data into a Plan (not linked; ``file`` and ``digest`` filled by the caller)."""
    for key, hint in _UNSUPPORTED_TOP.items():
        if key in data:
            origin.fail(f"top-level '{key}' is not supported; {hint}")
    check_keys(data, TOP_KEYS, origin, None)
    body = data.get("stages")
    if body is None or body == {}:
        origin.fail("no stages: write them under 'stages:'")
    if not isinstance(body, dict):
        origin.fail(f"'stages' must be a mapping of stage names to stages, not a {type(body).__name__}")
    files = default_params(origin.dir, origin)
    for raw in _list_of_strings(data.get("params"), "params", origin):
        path = config_file(raw, origin.dir, origin, None, "params")
        if path not in files:
            files.append(path)
    steps: dict[str, StepSpec] = {}
    for name, spec in body.items():
        check_name(name, origin, _STAGE)
        steps[name] = _stage(name, spec, origin, files)
    declared: dict[str, Any] = {}
    metrics = _list_of_strings(data.get("metrics"), "metrics", origin)
    if metrics:
        declared["metrics"] = metrics
        for path in paths(metrics, "metrics", origin.dir, origin, None):
            _mark_metric(steps, path)
    if data.get("plots") is not None:
        if not isinstance(data["plots"], list):
            origin.fail("top-level plots must be a list")
        declared["plots"] = _jsonable(data["plots"], "plots", origin)
    if data.get("artifacts") is not None:
        artifacts = data["artifacts"]
        if not isinstance(artifacts, dict) or not all(isinstance(a, dict) for a in artifacts.values()):
            origin.fail("artifacts must be a mapping of names to {path: ..., type: ...}")
        declared["artifacts"] = _jsonable(artifacts, "artifacts", origin)
    return Plan(steps=steps, format="dvc", params_files=files, declared=declared)


def _stage(name: str, spec: Any, origin: Origin, files: list[str]) -> StepSpec:
    if not isinstance(spec, dict):
        origin.fail(f"must be a mapping of keys (cmd, deps, outs, ...), not a {type(spec).__name__}", name, _STAGE)
    for key, hint in _UNSUPPORTED_STAGE.items():
        if key in spec:
            origin.fail(f"'{key}' is not supported; {hint}", name, _STAGE)
    check_keys(spec, STAGE_KEYS, origin, name, _STAGE)
    if boolean(spec.get("frozen"), "frozen", origin, name, _STAGE):
        origin.fail("frozen: true is not supported (gitruns runs the stages it is asked to run); "
                    "remove it, or set it to false", name, _STAGE)
    if spec.get("desc") is not None and not isinstance(spec["desc"], str):
        origin.fail("desc must be a string", name, _STAGE)
    step = StepSpec(name=name, cmd=command(spec.get("cmd"), origin, name, _STAGE))
    step.wdir = wdir(spec.get("wdir"), origin, name, _STAGE)
    step.deps = paths(spec.get("deps"), "deps", step.wdir, origin, name, _STAGE)
    step.outs = paths(spec.get("outs"), "outs", step.wdir, origin, name, _STAGE, output=True)
    step.metrics = paths(spec.get("metrics"), "metrics", step.wdir, origin, name, _STAGE, output=True)
    plots = paths(spec.get("plots"), "plots", step.wdir, origin, name, _STAGE, output=True, options=PLOT_OPTIONS)
    add_outputs(step, step.metrics + plots)
    step.params = _params(spec.get("params"), step.wdir, origin, name, files)
    step.always_run = boolean(spec.get("always_changed"), "always_changed", origin, name, _STAGE)
    return step


def _params(value: Any, base: str, origin: Origin, name: str, files: list[str]) -> list[str]:
    """A stage's params: keys (of params.yaml in its wdir) or ``{file: [keys]}``; the
    keys in order; a file named this way joins ``files`` (DVC reads both relative to wdir)."""
    if value is None:
        return []
    if not isinstance(value, list):
        origin.fail("params must be a list of keys or {file: [keys]}", name, _STAGE)
    keys: list[str] = []
    for entry in value:
        if isinstance(entry, str):
            found = [entry]
            if base != origin.dir:
                files.extend(p for p in default_params(base, origin) if p not in files)
        elif isinstance(entry, dict):
            found = []
            for raw, listed in entry.items():
                if not isinstance(raw, str):
                    origin.fail(f"params: {raw!r} is not a file name", name, _STAGE)
                if not listed:
                    origin.fail(f"params: file {raw} names no keys; gitruns needs the keys the stage "
                                f"uses (- {raw}: [key, ...])", name, _STAGE)
                if not isinstance(listed, list) or not all(isinstance(k, str) for k in listed):
                    origin.fail(f"params: the keys of {raw} must be a list of strings", name, _STAGE)
                path = config_file(raw, base, origin, name, "params", _STAGE)
                if path not in files:
                    files.append(path)
                found.extend(listed)
        else:
            origin.fail(f"params entries must be keys or {{file: [keys]}}, not a {type(entry).__name__}", name, _STAGE)
        for key in found:
            if not key.strip() or any(c.isspace() for c in key):
                origin.fail(f"params: '{key[:60]}' is not a config key", name, _STAGE)
            if key not in keys:
                keys.append(key)
    return keys


def _mark_metric(steps: dict[str, StepSpec], path: str) -> None:
    """A top-level metrics file is read as metrics by the step whose output holds it."""
    for step in steps.values():
        if any(path == out or path.startswith(out + "/") for out in step.outs):
            if path not in step.metrics:
                step.metrics.append(path)
            return


def _list_of_strings(value: Any, key: str, origin: Origin) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        origin.fail(f"top-level {key} must be a list of file names")
    return value


def _jsonable(value: Any, key: str, origin: Origin) -> Any:
    """YAML data as JSON can hold it (for the record): dates as ISO 8601 text."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, (dict, list)):
                origin.fail(f"{key}: a key is a {type(k).__name__}")
            out[str(k) if not isinstance(k, str) else k] = _jsonable(v, key, origin)
        return out
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v, key, origin) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    origin.fail(f"{key}: a value of type {type(value).__name__} cannot be kept in the record")
