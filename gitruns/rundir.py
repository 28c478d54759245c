"""A run's working directory (``GITRUNS_RUN_DIR``, under the state dir): the
effective config the command reads, and what its code logged there (metrics,
parameters, artifacts), read back when the run ends."""
from __future__ import annotations

import json
import os
from typing import Any

from . import userconfig
from .errors import GitrunsError
from .metricsfile import json_safe, read_metrics_file
from .outcome import Problems


def config_file_path(run_dir: str, config_files: list[str], overrides: list[str]) -> str | None:
    """Where the command finds the effective config: only when there is one (-c or
    -p), under the first -c file's own name so code that looks at the name or the
    extension still works; ``config.yaml`` for -p alone."""
    if not (config_files or overrides):
        return None
    name = os.path.basename(config_files[0]) if config_files else "config.yaml"
    return os.path.join(run_dir, "config", name or "config.yaml")


def write_config(path: str, config: dict[str, Any]) -> None:
    """The effective config, where the command finds it (``GITRUNS_CONFIG_FILE``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(userconfig.dump_for(path, config))


def read_jsonl(run_dir: str, name: str) -> list[dict[str, Any]]:
    """The JSON objects of one file the code logged to, lines that are not one skipped."""
    out = []
    try:
        with open(os.path.join(run_dir, name), encoding="utf-8") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict):
                    out.append(item)
    except OSError:
        pass
    return out


def metric_points(run_dir: str, metrics_files: list[tuple[str, str]], problems: Problems) -> list[dict[str, Any]]:
    """Every metric point: logged from code, then read from the -m files (each an
    absolute path and the path as the user wrote it)."""
    points = [json_safe(p) for p in read_jsonl(run_dir, "metrics.jsonl")]
    for full, label in metrics_files:
        try:
            points.extend(read_metrics_file(full, label=label))
        except GitrunsError as exc:
            problems.append(("record", str(exc)))
    return points


def params(run_dir: str) -> dict[str, Any]:
    """The parameters logged from code, merged in the order they were logged."""
    merged: dict[str, Any] = {}
    for item in read_jsonl(run_dir, "params.jsonl"):
        merged = userconfig.deep_merge(merged, json_safe(item))
    return merged


def logged_artifacts(run_dir: str) -> list[str]:
    """The paths logged from code as artifacts, in the order they were logged."""
    return [p["path"] for p in read_jsonl(run_dir, "artifacts.jsonl") if isinstance(p.get("path"), str)]
