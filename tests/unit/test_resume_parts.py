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


def test_a_reused_step_names_the_step_that_made_its_outputs() -> None:
    from gitruns.pipelines.stepcache import Reuse

    made = Reuse("01resumed", {"name": "prep", "cached_from": {"run": "01maker", "step": "prepare"}})  # type: ignore[typeddict-item]
    assert made.candidate().origin == {"run": "01maker", "step": "prepare"} and made.candidate().run == "01resumed"
    ran = Reuse("01ran", {"name": "prep", "cached_from": None})  # type: ignore[typeddict-item]
    assert ran.candidate().origin == {"run": "01ran", "step": "prep"}


def test_an_output_missing_from_the_cache_and_with_no_store_is_named(tmp_path: Any) -> None:
    from gitruns.cache import ArtifactCache
    from gitruns.hashing import digest_bytes
    from gitruns.pipelines.stepcache import unavailable

    cache = ArtifactCache(str(tmp_path / "cache"))
    here, gone = digest_bytes(b"here"), digest_bytes(b"gone")
    cache.store_bytes(b"here")
    step: Any = {"outputs": [{"path": "a.txt", "status": "stored", "kind": "file", "digest": here}]}
    assert unavailable(step, cache) is None
    step["outputs"].append({"path": "b.txt", "status": "stored", "kind": "file", "digest": gone})
    assert unavailable(step, cache, lambda: None) == "b.txt"
    assert unavailable({"outputs": [{"path": "c", "status": "missing", "digest": None}]}, cache) == "c"  # type: ignore[typeddict-item]
