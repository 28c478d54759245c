"""The engine's pure parts: the order the config is built in, usage errors before anything runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from gitruns.errors import UsageError
from gitruns.pipelines import engine
from gitruns.pipelines.plan import Plan, StepSpec


def test_the_config_is_params_files_then_config_files_then_the_mapping_then_p(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("train: {lr: 0.1, epochs: 3, seed: 1}\nkeep: yes\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("train: {lr: 0.2, epochs: 4}\n")
    plan = Plan({}, "gitruns", params_files=[str(params)])
    options = engine.PipelineOptions(config_files=[str(extra)], config={"train": {"lr": 0.3}},
                                     overrides=["train.lr=0.4"])
    assert engine.effective_config(plan, options) == {"train": {"lr": 0.4, "epochs": 4, "seed": 1}, "keep": True}


@pytest.mark.parametrize(("options", "message"), [
    (engine.PipelineOptions(jobs=0), "-j 0"),
    (engine.PipelineOptions(targets=["nosuch"]), "no step nosuch"),
    (engine.PipelineOptions(force_steps=["nosuch"]), "--force-step nosuch"),
])
def test_usage_errors_come_before_any_run(tmp_path: Path, options: engine.PipelineOptions, message: str) -> None:
    plan = Plan({"a": StepSpec("a", cmd="true")}, "gitruns")
    options.cwd = str(tmp_path)  # not a repository: refused before a session would need one
    with pytest.raises(UsageError, match=message):
        engine.run(plan, options)


def test_a_missing_key_in_a_command_names_the_step(tmp_path: Path) -> None:
    plan = Plan({"train": StepSpec("train", cmd="python fit.py ${train.lr}")}, "gitruns")
    with pytest.raises(UsageError, match=r"step train: \$\{train.lr\}"):
        engine.run(plan, engine.PipelineOptions(cwd=str(tmp_path)))
