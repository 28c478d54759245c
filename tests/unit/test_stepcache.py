"""The step cache key: content only, never a step's name or a dep's path."""
from __future__ import annotations

from typing import Any

from gitruns.pipelines.plan import StepSpec
from gitruns.pipelines.stepcache import key
from gitruns.record import StepInput

A = "xxh3_128:" + "a" * 32
B = "xxh3_128:" + "b" * 32


def _key(name: str = "train", dep: str = "data.csv", digest: str = A, params: dict[str, Any] | None = None,
         cmd: str = "python fit.py", **kw: Any) -> str:
    step = StepSpec(name, cmd=cmd, deps=[dep], outs=kw.pop("outs", ["model.json"]), **kw)
    inputs: list[StepInput] = [{"path": dep, "kind": "file", "size": 3, "digest": digest}]
    return key(cmd, step, inputs, params or {"train.lr": 0.1})


def test_the_key_ignores_the_steps_name_and_its_deps_paths() -> None:
    assert _key() == _key(name="fit") == _key(dep="renamed.csv")


def test_the_key_follows_content_params_command_env_wdir_and_outputs() -> None:
    base = _key()
    assert _key(digest=B) != base
    assert _key(params={"train.lr": 0.2}) != base
    assert _key(cmd="python fit.py --fast") != base
    assert _key(env={"SEED": "1"}) != base
    assert _key(wdir="sub") != base
    assert _key(outs=["model2.json"]) != base
    assert base.startswith("xxh3_128:") and len(base) == len(A)
