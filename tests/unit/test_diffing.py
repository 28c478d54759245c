"""diffing.py's pure parts: mapping differences, version order, the human diff."""
from __future__ import annotations

from typing import Any

from gitruns import diffing


def test_mapping_diff() -> None:
    a = {"lr": 0.1, "opt": "sgd", "epochs": 2, "same": [1]}
    b = {"lr": 0.05, "epochs": 2, "seed": 1, "same": [1]}
    assert diffing._mapping_diff(a, b) == {
        "added": {"seed": 1},
        "removed": {"opt": "sgd"},
        "changed": {"lr": {"a": 0.1, "b": 0.05}},
    }
    assert diffing._mapping_diff({}, {}) == {"added": {}, "removed": {}, "changed": {}}


def test_version_order() -> None:
    ordered = ["1.2", "1.2.1", "1.10", "2.0.0-rc1", "2.0.0"]
    keys = [diffing._version_key(v) for v in ordered]
    assert keys[0] < keys[1] < keys[2]
    assert diffing._version_key("1.10") > diffing._version_key("1.9")  # not string order
    assert diffing._version_key("2.0.0") != diffing._version_key("2.0.0-rc1")


def _result(**parts: Any) -> dict[str, Any]:
    empty = {"added": {}, "removed": {}, "changed": {}}
    base: dict[str, Any] = {
        "a": "01aaaaaaaaaaaaaaaaaaaaaaaa", "b": "01bbbbbbbbbbbbbbbbbbbbbbbb", "run": {}, "config": empty,
        "metrics": {}, "code": {"a": "t1", "b": "t1", "files": []}, "inputs": empty, "artifacts": empty,
        "environment": {"packages": {"added": {}, "removed": {}, "upgraded": {}, "downgraded": {}},
                        "changed": {}, "variables": empty},
    }
    base.update(parts)
    return base


def test_human_same_everywhere() -> None:
    result = _result()
    abbrev = {result["a"]: "01aaaaaa", result["b"]: "01bbbbbb"}
    assert diffing.human(result, abbrev) == (
        "diff run 01aaaaaa -> run 01bbbbbb\n"
        "run: same\nconfig: same\nmetrics: same\ncode: same\ninputs: same\nartifacts: same\nenvironment: same\n"
    )


def test_human_every_kind_of_change() -> None:
    result = _result(
        run={"status": {"a": "succeeded", "b": "failed"}},
        config={"added": {"seed": 1}, "removed": {"opt": "sgd"}, "changed": {"lr": {"a": 0.1, "b": 0.05}}},
        metrics={"loss": {"a": 0.5, "b": 0.25, "delta": -0.25}, "acc": {"a": 0.5, "b": 0.75, "delta": 0.25},
                 "note": {"a": None, "b": "nan", "delta": None}},
        code={"a": "t1", "b": "t2", "files": [{"status": "M", "path": "train.py"},
                                              {"status": "R", "path": "new.py", "old_path": "old.py"}],
              "patch": "--- a\n+++ b\n-x\t1\n+y\x1b[31m\n"},
        environment={"packages": {"added": {"rich": "13.0"}, "removed": {"six": "1.16"},
                                  "upgraded": {"numpy": {"a": "1.26", "b": "2.0"}},
                                  "downgraded": {"torch": {"a": "2.2", "b": "2.1"}}},
                     "changed": {"python": {"a": "3.11.7", "b": "3.12.1"}},
                     "variables": {"added": {"OMP_NUM_THREADS": "4"}, "removed": {}, "changed": {}}},
    )
    assert diffing.human(result, {}).splitlines() == [
        f"diff run {result['a']} -> run {result['b']}",
        "run:", "  ~ status: succeeded -> failed",
        "config:", "  + seed: 1", "  - opt: sgd", "  ~ lr: 0.1 -> 0.05",
        "metrics:", "  loss: 0.5 -> 0.25 (-0.25)", "  acc: 0.5 -> 0.75 (+0.25)", "  note: - -> nan",
        "code:", "  M train.py", "  R old.py -> new.py",
        "inputs: same", "artifacts: same",
        "environment:", "  ~ python: 3.11.7 -> 3.12.1", "  + rich 13.0", "  - six 1.16", "  ^ numpy 1.26 -> 2.0",
        "  v torch 2.2 -> 2.1", "  + $OMP_NUM_THREADS: 4",
        "", "--- a", "+++ b", "-x\t1", "+y^[[31m",
    ]


def test_human_values_from_records_cannot_forge_lines() -> None:
    result = _result(config={"added": {"evil\nrun: same": "\x1b[2Jx"}, "removed": {}, "changed": {}})
    text = diffing.human(result, {})
    assert "  + evil\\x0arun: same: ^[[2Jx\n" in text and "\x1b" not in text
    assert len(text.splitlines()) == 9  # the title, seven sections, one added key
