"""Fast checks of resume's pure parts: the original's -p and --config read back
from the command it recorded, and the choice of the steps to reuse.  The
behaviour end to end is tests/test_resume.py."""
from __future__ import annotations

from typing import Any

import pytest

from gitruns.pipelines.plan import Plan, StepSpec
from gitruns.pipelines.resume import _reusable, parse_pipeline_argv


@pytest.mark.parametrize(("argv", "overrides", "files"), [
    (["git", "run", "pipeline"], [], []),
    (["git", "run", "pipeline", "-p", "a.b=1", "--param", "c=2", "--param=d=3", "-pe=4"],
     ["a.b=1", "c=2", "d=3", "e=4"], []),
    (["git", "run", "pipeline", "-c", "x.yaml", "--config", "y.yaml", "--config=z.yaml", "-cw.yaml", "train"],
     [], ["x.yaml", "y.yaml", "z.yaml", "w.yaml"]),
    (["git", "run", "--no-pager", "pipeline", "-j", "2", "-p", "lr=0.1", "--fail-fast", "train"], ["lr=0.1"], []),
    (["python", "train.py", "-p", "x=1"], [], []),  # not a pipeline command
    (["git", "run", "pipeline", "-p"], [], []),  # cut short: nothing
])
def test_the_original_overrides_are_read_from_its_command(argv: list[str], overrides: list[str],
                                                          files: list[str]) -> None:
    assert parse_pipeline_argv(argv) == (overrides, files)


def _plan(*steps: tuple[str, list[str]]) -> Plan:
    return Plan(steps={name: StepSpec(name=name, cmd="true", needs=needs) for name, needs in steps}, format="gitruns")


def _step(status: str, key: str | None = "xxh3_128:0") -> Any:
    return {"status": status, "cache_key": key}


def test_only_succeeded_steps_with_every_need_reused_are_reused() -> None:
    plan = _plan(("a", []), ("b", ["a"]), ("c", ["b"]), ("d", []), ("e", ["d"]))
    recorded = {"a": _step("succeeded"), "b": _step("cached"), "c": _step("failed"),
                "d": _step("succeeded", None), "e": _step("succeeded")}
    # d had a dep change while it ran (no key): it runs, so e, below it, runs too.
    assert _reusable(plan, list(plan.steps), recorded) == ["a", "b"]
