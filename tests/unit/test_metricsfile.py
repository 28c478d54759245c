"""metricsfile.py: -m files read as points, final values, strict-JSON numbers."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from gitruns import metricsfile
from gitruns.errors import GitrunsError


def test_json_file_nested_names_and_non_numbers(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"loss": 0.25, "eval": {"acc": 0.9, "f1": NaN}, "note": "x", "done": true, "n": 3}')
    os.utime(path, (1_700_000_000, 1_700_000_000))
    points = metricsfile.read_metrics_file(str(path))
    assert points == [
        {"name": "loss", "value": 0.25, "step": None, "time": 1_700_000_000},
        {"name": "eval.acc", "value": 0.9, "step": None, "time": 1_700_000_000},
        {"name": "eval.f1", "value": "nan", "step": None, "time": 1_700_000_000},
        {"name": "n", "value": 3, "step": None, "time": 1_700_000_000},
    ]


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("loss: .inf\nacc: -.inf\n")
    assert [(p["name"], p["value"]) for p in metricsfile.read_metrics_file(str(path))] == [
        ("loss", "inf"), ("acc", "-inf")]


@pytest.mark.parametrize("name, text, message", [
    ("m.json", "{", "metrics file out/m.json is not valid JSON: "),
    ("m.yaml", "a: [", "metrics file out/m.yaml is not valid YAML: "),
    ("m.json", "[1, 2]", "metrics file out/m.json must hold a mapping of metric names to numbers"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(GitrunsError) as caught:
        metricsfile.read_metrics_file(str(path), label=f"out/{name}")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GitrunsError, match=r"^metrics file m.json was not written by the command$"):
        metricsfile.read_metrics_file(str(tmp_path / "m.json"), label="m.json")


def test_json_safe() -> None:
    assert metricsfile.json_safe({"a": [math.nan, 1.0, (math.inf,)], "b": -math.inf, "c": "x"}) == {
        "a": ["nan", 1.0, ["inf"]], "b": "-inf", "c": "x"}


def test_final_values_by_step_then_order() -> None:
    points = [
        {"name": "loss", "value": 0.9, "step": 1},
        {"name": "loss", "value": 0.5, "step": 3},
        {"name": "loss", "value": 0.7, "step": 2},  # logged later, an earlier step
        {"name": "acc", "value": 0.1, "step": None},
        {"name": "acc", "value": 0.2, "step": None},  # no steps: the last logged
        {"name": 7, "value": 1},  # not a name: ignored
        {"name": "lr", "value": 0.1, "step": 5},
        {"name": "lr", "value": 0.01, "step": 5},  # same step: the later one
    ]
    assert metricsfile.final_values(points) == {"acc": 0.2, "loss": 0.5, "lr": 0.01}
    assert list(metricsfile.final_values(points)) == ["acc", "loss", "lr"]
