"""Metrics: files named with ``-m`` and the final value of each metric."""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import yaml

from .errors import GitrunsError
from .userconfig import flatten


def read_metrics_file(path: str) -> list[dict[str, Any]]:
    """Points from a flat or nested JSON/YAML mapping of names to numbers."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise GitrunsError(f"metrics file {path} was not written by the command") from None
    except OSError as exc:
        raise GitrunsError(f"cannot read metrics file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise GitrunsError(f"metrics file {path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: "
                           f"{str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GitrunsError(f"metrics file {path} must hold a mapping of metric names to numbers")
    when = os.path.getmtime(path) if os.path.exists(path) else time.time()
    points = []
    for name, value in flatten(data).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        points.append({"name": name, "value": value, "step": None, "time": when})
    return points


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
