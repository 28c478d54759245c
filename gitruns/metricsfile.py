"""Metrics: files named with ``-m`` and the final value of each metric.

Non-finite numbers (a diverged loss is ``NaN``; ``json.dump`` writes it as the
bare token ``NaN``, YAML as ``.nan``) are recorded as the strings ``"nan"``,
``"inf"`` and ``"-inf"``, as ``gitruns.log_metric`` writes them: the record
stays strict JSON that every reader can parse.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import yaml

from .errors import GitrunsError
from .userconfig import flatten


def read_metrics_file(path: str, label: str | None = None) -> list[dict[str, Any]]:
    """Points from a flat or nested JSON/YAML mapping of names to numbers.

    ``label`` is how messages name the file (the path as the user wrote it).
    """
    shown = label or path
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise GitrunsError(f"metrics file {shown} was not written by the command") from None
    except OSError as exc:
        raise GitrunsError(f"cannot read metrics file {shown}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise GitrunsError(f"metrics file {shown} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: "
                           f"{str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GitrunsError(f"metrics file {shown} must hold a mapping of metric names to numbers")
    when = os.path.getmtime(path) if os.path.exists(path) else time.time()
    points = []
    for name, value in flatten(data).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        points.append({"name": name, "value": json_safe(value), "step": None, "time": when})
    return points


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name ("nan", "inf", "-inf"),
    in nested lists and mappings too, so that strict JSON can hold it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def final_values(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The last value of each metric, by step then by time of logging."""
    best: dict[str, tuple[float, float, Any]] = {}
    for i, p in enumerate(points):
        name = p.get("name")
        if not isinstance(name, str):
            continue
        step = p.get("step")
        key = (float(step) if isinstance(step, (int, float)) else -math.inf, float(i))
        if name not in best or key >= best[name][:2]:
            best[name] = (key[0], key[1], p.get("value"))
    return {name: best[name][2] for name in sorted(best)}
