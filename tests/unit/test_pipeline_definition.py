"""Reading pipeline files (gitruns.yaml and dvc.yaml) into plans: every accepted
form, and every refusal as the one line a user would read (exit 2)."""
from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from gitruns import hashing
from gitruns.errors import UsageError
from gitruns.pipelines import definition
from gitruns.pipelines.plan import Plan

GET_STARTED = Path(__file__).resolve().parent.parent / "data" / "dvc-get-started"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(root: Path, text: str, name: str = "gitruns.yaml") -> Plan:
    write(root, name, text)
    return definition.load(str(root / name), str(root))


def refused(root: Path, text: str, name: str = "gitruns.yaml") -> str:
    with pytest.raises(UsageError) as info:
        load(root, text, name)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in message
    return message


# Accepted forms


def test_a_three_step_pipeline_links_its_steps_by_files(tmp_path: Path) -> None:
    write(tmp_path, "raw.csv", "a\n")
    plan = load(tmp_path, """
        steps:
          prepare:
            cmd: python prepare.py --seed ${prepare.seed}
            deps: [raw.csv]
            outs: [data/prepared]
            params: [prepare.seed]
          train:
            cmd: python train.py
            deps: [data/prepared/train.csv]
            outs: [model.pkl]
          evaluate:
            cmd: python evaluate.py
            deps: [model.pkl, data/prepared]
            metrics: [eval/metrics.json]
        """)
    assert list(plan.steps) == ["prepare", "train", "evaluate"]
    assert plan.steps["train"].needs == ["prepare"]
    assert plan.steps["evaluate"].needs == ["prepare", "train"]
    prepare = plan.steps["prepare"]
    assert prepare.cmd == "python prepare.py --seed ${prepare.seed}"  # replaced by the engine, not here
    assert prepare.params == ["prepare.seed"]
    assert prepare.wdir == "."
    assert (prepare.retries, prepare.retry_delay_s, prepare.timeout_s, prepare.always_run) == (0, 1.0, None, False)
    assert plan.steps["evaluate"].metrics == ["eval/metrics.json"]
    assert plan.steps["evaluate"].outs == ["eval/metrics.json"]  # a metrics file is an output too
    assert plan.format == "gitruns"
    assert plan.file == "gitruns.yaml"
    assert plan.digest == hashing.digest_bytes((tmp_path / "gitruns.yaml").read_bytes())
    assert plan.params_files == [] and plan.declared == {}


def test_a_list_cmd_is_joined_with_and(tmp_path: Path) -> None:
    plan = load(tmp_path, """
        steps:
          build:
            cmd: [mkdir -p out, "echo $${HOME} > out/x"]
            outs: [out]
        """)
    assert plan.steps["build"].cmd == "mkdir -p out && echo $${HOME} > out/x"


def test_output_entries_may_carry_dvc_options(tmp_path: Path) -> None:
    plan = load(tmp_path, """
        steps:
          train:
            cmd: python train.py
            outs:
              - model.pkl: {cache: false, persist: true, desc: the model, remote: s3, push: false,
                            type: model, labels: [nlp], meta: {owner: ada}}
              - logs/
              - model.pkl
            metrics:
              - logs/metrics.json: {cache: false}
              - scores.json:
        """)
    step = plan.steps["train"]
    assert step.outs == ["model.pkl", "logs", "scores.json"]  # logs/metrics.json is inside logs
    assert step.metrics == ["logs/metrics.json", "scores.json"]


def test_retries_timeout_env_always_changed(tmp_path: Path) -> None:
    plan = load(tmp_path, """
        steps:
          a:
            cmd: "true"
            retries: 2
            timeout: 600
            env: {OMP_NUM_THREADS: 1, MODE: fast, RATE: 0.5}
            always_changed: true
          b:
            cmd: "true"
            retries: {count: 3, delay: 0.5}
            timeout: 1.5
          c:
            cmd: "true"
            retries: {count: 1}
        """)
    a, b, c = plan.steps["a"], plan.steps["b"], plan.steps["c"]
    assert (a.retries, a.retry_delay_s, a.timeout_s, a.always_run) == (2, 1.0, 600.0, True)
    assert a.env == {"OMP_NUM_THREADS": "1", "MODE": "fast", "RATE": "0.5"}
    assert (b.retries, b.retry_delay_s, b.timeout_s) == (3, 0.5, 1.5)
    assert (c.retries, c.retry_delay_s) == (1, 1.0)


def test_paths_are_relative_to_the_file_and_wdir(tmp_path: Path) -> None:
    write(tmp_path, "ml/src/data.csv", "x\n")
    write(tmp_path, "shared.txt", "x\n")
    plan = load(tmp_path, f"""
        steps:
          fit:
            cmd: python fit.py
            wdir: src
            deps: [data.csv, ../../shared.txt, {tmp_path / "shared.txt"}]
            outs: [./out//model.bin, ../reports/]
        """, name="ml/gitruns.yaml")
    step = plan.steps["fit"]
    assert step.wdir == "ml/src"
    assert step.deps == ["ml/src/data.csv", "shared.txt"]
    assert step.outs == ["ml/src/out/model.bin", "ml/reports"]
    assert plan.file == "ml/gitruns.yaml"


def test_stages_is_another_name_for_steps_in_gitruns_yaml(tmp_path: Path) -> None:
    plan = load(tmp_path, """
        stages:
          a: {cmd: "true", retries: 1}
        """)
    assert plan.format == "gitruns" and plan.steps["a"].retries == 1


def test_params_yaml_beside_the_file_is_the_default_config(tmp_path: Path) -> None:
    write(tmp_path, "params.yaml", "lr: 0.1\n")
    plan = load(tmp_path, "steps: {a: {cmd: 'true', params: [lr]}}\n")
    assert plan.params_files == [str(tmp_path / "params.yaml")]


def test_params_files_can_be_named(tmp_path: Path) -> None:
    write(tmp_path, "params.yaml", "lr: 0.1\n")
    write(tmp_path, "conf/base.yaml", "lr: 0.1\n")
    write(tmp_path, "conf/extra.json", "{}\n")
    plan = load(tmp_path, "params: [conf/base.yaml, conf/extra.json]\nsteps: {a: {cmd: 'true'}}\n")
    assert plan.params_files == [str(tmp_path / "conf/base.yaml"), str(tmp_path / "conf/extra.json")]


def test_a_file_named_otherwise_with_stages_is_read_as_dvc_yaml(tmp_path: Path) -> None:
    plan = load(tmp_path, "stages: {a: {cmd: 'true', desc: first}}\n", name="pipeline.yaml")
    assert plan.format == "dvc" and plan.file == "pipeline.yaml"


def test_the_pipeline_file_may_be_given_relative_to_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "sub/gitruns.yaml", "steps: {a: {cmd: 'true', outs: [x]}}\n")
    monkeypatch.chdir(tmp_path / "sub")
    plan = definition.load("gitruns.yaml", str(tmp_path))
    assert plan.file == "sub/gitruns.yaml" and plan.steps["a"].outs == ["sub/x"]


# Refusals


def test_unknown_keys_are_refused_naming_the_step_and_the_key(tmp_path: Path) -> None:
    message = refused(tmp_path, "steps: {train: {cmd: 'true', foreach: [1, 2]}}\n")
    assert message == ("gitruns.yaml: step train: unknown key 'foreach' (known: cmd, deps, outs, metrics, "
                       "params, wdir, env, retries, timeout, always_changed)")
    assert refused(tmp_path, "steps: {a: {cmd: 'true'}}\nvars: [x]\n") == (
        "gitruns.yaml: unknown key 'vars' (known: params, steps, stages)")
    assert "unknown key of retries 'tries'" in refused(tmp_path, "steps: {a: {cmd: x, retries: {tries: 2}}}\n")
    assert refused(tmp_path, "steps: {a: {cmd: x, outs: [{m.pkl: {cache: false, compress: true}}]}}\n") == (
        "gitruns.yaml: step a: outs: 'm.pkl' has unknown option 'compress' "
        "(known: cache, persist, desc, remote, push, type, labels, meta)")


@pytest.mark.parametrize("name", ["-x", ".hidden", "a/b", "a b", "ünï", "x" * 101, "a:b"])
def test_step_names_that_cannot_be_tree_names_are_refused(tmp_path: Path, name: str) -> None:
    message = refused(tmp_path, json.dumps({"steps": {name: {"cmd": "true"}}}))
    assert message.startswith("gitruns.yaml: step name '")


def test_a_step_name_that_yaml_reads_as_a_number_is_refused(tmp_path: Path) -> None:
    assert "quote it" in refused(tmp_path, "steps: {1: {cmd: 'true'}}\n")
    assert list(load(tmp_path, "steps: {'1': {cmd: 'true'}, a.b-c_9: {cmd: 'true'}}\n").steps) == ["1", "a.b-c_9"]


@pytest.mark.parametrize(("spec", "expected"), [
    ("deps: [../outside.csv]", "step a: deps: ../outside.csv leads outside the working tree"),
    ("outs: [sub/../../x]", "step a: outs: sub/../../x leads outside the working tree"),
    ("deps: [/etc/passwd]", "step a: deps: /etc/passwd is outside the working tree"),
    ("outs: [.git/hooks/post-commit]", "step a: outs: .git/hooks/post-commit is inside the git directory"),
    ("outs: [data/.GIT/x]", "step a: outs: data/.GIT/x is inside the git directory"),
    ("deps: [.git/config]", "step a: deps: .git/config is inside the git directory"),
    ("outs: [.]", "step a: outs: . is the working tree root itself"),
    ("outs: [.gitruns/run.json]", "step a: outs: .gitruns/run.json is inside .gitruns"),
    ("wdir: ..", "step a: wdir: .. leads outside the working tree"),
    ("wdir: nowhere", "step a: wdir nowhere is not a directory"),
    ("outs: ['data/${name}.csv']", "step a: outs: placeholders in paths are not supported"),
])
def test_paths_leaving_the_tree_or_into_git_are_refused(tmp_path: Path, spec: str, expected: str) -> None:
    assert expected in refused(tmp_path, f"steps:\n  a:\n    cmd: 'true'\n    {spec}\n")


def test_an_output_through_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    (root / "link").symlink_to(outside)
    write(root, "gitruns.yaml", "steps: {a: {cmd: 'true', outs: [link/model.pkl]}}\n")
    with pytest.raises(UsageError, match=r"step a: outs: link/model.pkl is outside the working tree"):
        definition.load(str(root / "gitruns.yaml"), str(root))


@pytest.mark.parametrize(("spec", "expected"), [
    ("cmd: 3", "step a: cmd must be a string or a list of strings, not a number"),
    ("cmd: [echo, 3]", "step a: cmd must be a string or a list of strings; it holds a number"),
    ("cmd: ''", "step a: cmd is empty"),
    ("cmd: []", "step a: cmd is an empty list"),
    ("deps: [x]", "step a: no cmd"),
    ("{cmd: x, retries: -1}", "step a: retries must be a whole number from 0 to 100"),
    ("{cmd: x, retries: 100000000000000000000}", "step a: retries must be a whole number from 0 to 100"),
    ("{cmd: x, retries: {count: 2, delay: 99999999999999}}", "step a: retries: delay must be a number of "
                                                            "seconds from 0 to 86400"),
    ("{cmd: x, timeout: 99999999999999}", "step a: timeout must be a number of seconds above 0 and at most"),
    ("{cmd: x, retries: true}", "step a: retries must be a whole number"),
    ("{cmd: x, retries: 1.5}", "step a: retries must be a whole number"),
    ("{cmd: x, retries: {count: 2, delay: -1}}", "step a: retries: delay must be a number of seconds"),
    ("{cmd: x, timeout: '10'}", "step a: timeout must be a number of seconds above 0 and at most 2592000, not '10'"),
    ("{cmd: x, timeout: 0}", "step a: timeout must be a number of seconds above 0"),
    ("{cmd: x, timeout: .inf}", "step a: timeout must be a number of seconds above 0"),
    ("{cmd: x, env: {DEBUG: yes}}", "step a: env: DEBUG must be a string or a number"),
    ("{cmd: x, env: [A=1]}", "step a: env must be a mapping"),
    ("{cmd: x, env: {A=B: 1}}", "step a: env: 'A=B' is not a variable name"),
    ("{cmd: x, always_changed: 'yes'}", "step a: always_changed must be true or false"),
    ("{cmd: x, deps: data.csv}", "step a: deps must be a list of paths, not a string"),
    ("{cmd: x, outs: [{a: {}, b: {}}]}", "step a: outs: an entry with options must be one path"),
    ("{cmd: x, outs: [{m: {cache: 'no'}}]}", "step a: outs: option cache of 'm' must be true or false"),
    ("{cmd: x, params: [a b]}", "step a: params: 'a b' is not a config key"),
    ("{cmd: x, params: {a: 1}}", "step a: params must be a list of strings"),
    ("{cmd: x, wdir: 3}", "step a: wdir must be a directory name"),
    ("[x]", "step a: must be a mapping of keys"),
])
def test_wrong_types_are_refused_naming_the_step_and_key(tmp_path: Path, spec: str, expected: str) -> None:
    body = spec if spec.startswith(("{", "[")) else "{" + spec + "}"
    assert expected in refused(tmp_path, f"steps:\n  a: {body}\n")


@pytest.mark.parametrize("cmd", ["echo ${", "echo ${a", "echo ${}", "echo ${ }", "echo ${a b}", "echo ${a${b}}"])
def test_malformed_placeholders_are_refused(tmp_path: Path, cmd: str) -> None:
    message = refused(tmp_path, json.dumps({"steps": {"a": {"cmd": cmd}}}))
    assert message.startswith("gitruns.yaml: step a: malformed placeholder")


def test_well_formed_placeholders_are_left_for_the_engine(tmp_path: Path) -> None:
    cmd = "train --lr ${ train.lr } --name $${literal} ${model-name}"
    assert load(tmp_path, json.dumps({"steps": {"a": {"cmd": cmd}}})).steps["a"].cmd == cmd


def test_graph_refusals_name_the_file(tmp_path: Path) -> None:
    cycle = "steps:\n  a: {cmd: x, deps: [b.txt], outs: [a.txt]}\n  b: {cmd: x, deps: [a.txt], outs: [b.txt]}\n"
    assert refused(tmp_path, cycle) == "gitruns.yaml: steps form a cycle: a -> b -> a"
    two = "steps:\n  a: {cmd: x, outs: [data]}\n  b: {cmd: x, outs: [data/x.csv]}\n"
    assert refused(tmp_path, two) == "gitruns.yaml: steps a and b both write data"
    missing = "steps:\n  a: {cmd: x, deps: [raw.csv]}\n"
    assert refused(tmp_path, missing) == "gitruns.yaml: step a: dep raw.csv does not exist and no step writes it"


def test_no_steps_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "") == "gitruns.yaml: the file is empty: no steps"
    assert refused(tmp_path, "steps: {}\n") == "gitruns.yaml: no steps: write them under 'steps:'"
    assert refused(tmp_path, "params: [params.yaml]\n") == "gitruns.yaml: no steps: write them under 'steps:'"
    assert refused(tmp_path, "- a\n") == "gitruns.yaml: must hold a mapping (steps: ...), not a list"
    assert "both steps and stages" in refused(tmp_path, "steps: {a: {cmd: x}}\nstages: {b: {cmd: x}}\n")


def test_params_files_must_exist_and_be_yaml_or_json(tmp_path: Path) -> None:
    assert refused(tmp_path, "params: [conf.yaml]\nsteps: {a: {cmd: x}}\n") == (
        "gitruns.yaml: params: config file conf.yaml does not exist")
    write(tmp_path, "params.toml", "a = 1\n")
    assert "gitruns reads YAML and JSON config files" in refused(
        tmp_path, "params: [params.toml]\nsteps: {a: {cmd: x}}\n")
    assert "leads outside the working tree" in refused(tmp_path, "params: [../p.yaml]\nsteps: {a: {cmd: x}}\n")


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    text = "steps:\n  a: {cmd: x}\n  b: {cmd: y}\n  a: {cmd: z}\n"
    assert refused(tmp_path, text) == "gitruns.yaml: line 4: key 'a' is given twice in one mapping"
    assert "line 2: key 'cmd' is given twice" in refused(tmp_path, "steps:\n  a: {cmd: x, cmd: y}\n")
    merged = "base: &base {cmd: x, retries: 1}\n"
    assert "unknown key 'base'" in refused(tmp_path, merged + "steps: {a: {<<: *base, timeout: 5}}\n")
    plan = load(tmp_path, "steps:\n  a: &a {cmd: x, retries: 1}\n  b: {<<: *a, cmd: y}\n")
    assert (plan.steps["b"].cmd, plan.steps["b"].retries) == ("y", 1)


def test_a_missing_file_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        definition.load(str(tmp_path / definition.DEFAULT_FILE), str(tmp_path))
    assert str(info.value) == f"no pipeline file gitruns.yaml in {tmp_path}; write one or give -f FILE"


def test_a_file_outside_the_tree_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "gitruns.yaml", "steps: {a: {cmd: x}}\n")
    (tmp_path / "repo").mkdir()
    with pytest.raises(UsageError, match="is outside the working tree"):
        definition.load(str(tmp_path / "gitruns.yaml"), str(tmp_path / "repo"))


def test_a_pipeline_file_linked_from_outside_the_tree_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "elsewhere.yaml", "steps: {a: {cmd: x}}\n")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "gitruns.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(UsageError, match="is a symlink out of the working tree"):
        definition.load(str(tmp_path / "repo" / "gitruns.yaml"), str(tmp_path / "repo"))


def test_the_file_is_bounded_before_it_is_parsed(tmp_path: Path) -> None:
    big = "steps: {a: {cmd: x}}\n" + "# padding\n" * 120_000
    message = refused(tmp_path, big)
    assert message.startswith("pipeline file ") and "too large" in message
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    for level in "bcdefgh":
        prev = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
    assert "refused: more than 250,000 values once aliases are expanded" in refused(tmp_path, bomb)
    assert "is not valid YAML" in refused(tmp_path, "steps: [a\n")


def test_a_directory_or_fifo_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "gitruns.yaml").mkdir()
    with pytest.raises(UsageError, match="is a directory"):
        definition.load(str(tmp_path / "gitruns.yaml"), str(tmp_path))
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(UsageError, match="is not a regular file"):
        definition.load(str(tmp_path / "fifo.yaml"), str(tmp_path))


# dvc.yaml


def test_dvc_yaml_stages_with_plots_params_files_and_top_level_metrics(tmp_path: Path) -> None:
    write(tmp_path, "params.yaml", "train: {lr: 0.1}\n")
    write(tmp_path, "conf/eval.yaml", "threshold: 0.5\n")
    write(tmp_path, "extra.json", "{}\n")
    plan = load(tmp_path, """
        params: [extra.json]
        stages:
          train:
            cmd: [python train.py, echo done]
            params: [train.lr]
            outs: [model.pkl]
            desc: fits the model
            meta: {owner: ada}
            frozen: false
            always_changed: true
          evaluate:
            cmd: python eval.py
            deps: [model.pkl]
            params: [{conf/eval.yaml: [threshold]}, train.lr]
            outs: [eval]
            plots:
              - roc.json: {x: fpr, y: tpr, template: simple, cache: false}
            metrics: [{scores.json: {cache: false}}]
        metrics: [eval/metrics.json, elsewhere.json]
        plots:
          - ROC: {x: fpr, y: {roc.json: tpr}}
          - eval/importance.png
        artifacts:
          model: {path: model.pkl, type: model, labels: [nlp], released: 2024-01-02}
        """, name="dvc.yaml")
    assert plan.format == "dvc"
    train, evaluate = plan.steps["train"], plan.steps["evaluate"]
    assert train.cmd == "python train.py && echo done"
    assert train.always_run and train.params == ["train.lr"]
    assert evaluate.needs == ["train"]
    assert evaluate.params == ["threshold", "train.lr"]
    assert evaluate.outs == ["eval", "scores.json", "roc.json"]  # plots and metrics are outputs
    assert evaluate.metrics == ["scores.json", "eval/metrics.json"]  # the top-level one is read by its writer
    assert plan.params_files == [str(tmp_path / p) for p in ("params.yaml", "extra.json", "conf/eval.yaml")]
    assert plan.declared == {
        "metrics": ["eval/metrics.json", "elsewhere.json"],
        "plots": [{"ROC": {"x": "fpr", "y": {"roc.json": "tpr"}}}, "eval/importance.png"],
        "artifacts": {"model": {"path": "model.pkl", "type": "model", "labels": ["nlp"], "released": "2024-01-02"}},
    }
    json.dumps(plan.declared)  # kept in the record as JSON


@pytest.mark.parametrize(("text", "expected"), [
    ("stages: {a: {foreach: [1, 2], do: {cmd: 'echo ${item}'}}}",
     "dvc.yaml: stage a: 'foreach' is not supported; templated stages are not expanded by gitruns"),
    ("stages: {a: {matrix: {x: [1, 2]}, cmd: 'echo ${item.x}'}}",
     "dvc.yaml: stage a: 'matrix' is not supported"),
    ("vars: [{x: 1}]\nstages: {a: {cmd: x}}", "dvc.yaml: top-level 'vars' is not supported"),
    ("stages: {a: {cmd: x, frozen: true}}", "dvc.yaml: stage a: frozen: true is not supported"),
    ("stages: {a: {cmd: x, frozen: 1}}", "dvc.yaml: stage a: frozen must be true or false"),
    ("stages: {a: {cmd: x, retries: 2}}", "dvc.yaml: stage a: unknown key 'retries' (known: cmd, deps, outs,"),
    ("stages: {a: {cmd: x}}\nschema: '2.0'", "dvc.yaml: unknown key 'schema' (known: stages, params,"),
    ("stages: {a: {cmd: x, params: [{other.yaml: null}]}}", "dvc.yaml: stage a: params: file other.yaml names no keys"),
    ("stages: {a: {cmd: x, params: [{other.yaml: [k]}]}}",
     "dvc.yaml: stage a: params: config file other.yaml does not exist"),
    ("stages: {a: {cmd: x, params: [{p.toml: [k]}]}}", "gitruns reads YAML and JSON config files"),
    ("stages: {a: {cmd: x, plots: [{p.json: {colour: red}}]}}", "stage a: plots: 'p.json' has unknown option 'colour'"),
    ("stages: {a: {cmd: x, outs: [../up]}}", "dvc.yaml: stage a: outs: ../up leads outside the working tree"),
    ("stages: {a b: {cmd: x}}", "dvc.yaml: stage name 'a b' is not allowed"),
    ("stages: {}", "dvc.yaml: no stages"),
    ("stages: {a: {cmd: x}}\nmetrics: eval.json", "dvc.yaml: top-level metrics must be a list of file names"),
    ("stages: {a: {cmd: x}}\nartifacts: [model.pkl]", "dvc.yaml: artifacts must be a mapping"),
    ("stages:\n  a: {cmd: x, outs: [m]}\n  b: {cmd: x, outs: [m]}", "dvc.yaml: steps a and b both write m"),
])
def test_dvc_yaml_refusals(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refused(tmp_path, text + "\n", name="dvc.yaml")


def test_dvc_params_are_read_from_the_stage_wdir(tmp_path: Path) -> None:
    write(tmp_path, "sub/params.yaml", "k: 1\n")
    write(tmp_path, "sub/more.yaml", "m: 1\n")
    plan = load(tmp_path, "stages: {a: {cmd: x, wdir: sub, params: [k, {more.yaml: [m]}]}}\n", name="dvc.yaml")
    assert plan.params_files == [str(tmp_path / "sub/params.yaml"), str(tmp_path / "sub/more.yaml")]
    assert plan.steps["a"].params == ["k", "m"]


def test_the_published_get_started_pipeline_loads_as_dvc_runs_it(tmp_path: Path) -> None:
    root = tmp_path / "example-get-started"
    shutil.copytree(GET_STARTED, root)
    plan = definition.load(str(root / "dvc.yaml"), str(root))
    assert plan.format == "dvc" and plan.file == "dvc.yaml"
    assert plan.digest == hashing.digest_bytes((root / "dvc.yaml").read_bytes())
    assert list(plan.steps) == ["prepare", "featurize", "train", "evaluate"]
    steps = plan.steps
    assert {name: s.needs for name, s in steps.items()} == {
        "prepare": [], "featurize": ["prepare"], "train": ["featurize"], "evaluate": ["featurize", "train"]}
    assert steps["prepare"].cmd == "python src/prepare.py data/data.xml"
    assert steps["prepare"].deps == ["data/data.xml", "src/prepare.py"]
    assert steps["prepare"].params == ["prepare.seed", "prepare.split"]
    assert steps["featurize"].outs == ["data/features"]
    assert steps["train"].params == ["train.min_split", "train.n_est", "train.seed"]
    assert steps["train"].outs == ["model.pkl"]
    assert steps["evaluate"].deps == ["data/features", "model.pkl", "src/evaluate.py"]
    assert steps["evaluate"].outs == ["eval"]
    assert steps["evaluate"].metrics == ["eval/metrics.json"]
    assert plan.params_files == [str(root / "params.yaml")]
    assert plan.declared["metrics"] == ["eval/metrics.json"]
    assert [next(iter(p)) if isinstance(p, dict) else p for p in plan.declared["plots"]] == [
        "ROC", "Confusion-Matrix", "Precision-Recall", "eval/plots/images/importance.png"]
    assert set(plan.declared["artifacts"]) == {"stackoverflow-dataset", "text-classification"}
    assert plan.declared["artifacts"]["text-classification"]["path"] == "model.pkl"


def test_the_get_started_scripts_write_what_dvc_yaml_declares(tmp_path: Path) -> None:
    # The stand-in scripts, run in the plan's order as plain commands: each stage
    # writes its declared outputs, and evaluate the files the top-level plots name.
    import subprocess
    import sys

    from gitruns.pipelines import graph

    root = tmp_path / "example-get-started"
    shutil.copytree(GET_STARTED, root)
    plan = definition.load(str(root / "dvc.yaml"), str(root))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for name in graph.order(plan, []):
        step = plan.steps[name]
        assert step.cmd is not None
        subprocess.run(["/bin/sh", "-c", step.cmd], cwd=root / step.wdir, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert all((root / out).exists() for out in step.outs), name
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"avg_prec", "roc_auc"} and set(metrics["roc_auc"]) == {"train", "test"}
    for plot in plan.declared["plots"]:
        files = [plot] if isinstance(plot, str) else list(next(iter(plot.values()))["y"])
        assert all((root / f).is_file() for f in files), plot


def test_a_params_yaml_leading_out_of_the_tree_or_not_a_file_is_refused(tmp_path: Path) -> None:
    # params.yaml is read without being named: one from a teammate's commit must not
    # reach a file elsewhere on this machine through a symlink.
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "elsewhere.yaml").write_text("x: secret\n")
    (root / "params.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    text = "steps:\n  a:\n    cmd: echo ${x}\n"
    assert refused(root, text) == ("gitruns.yaml: params.yaml leads outside the working tree; "
                                   "a config from elsewhere is named with -c")
    (root / "params.yaml").unlink()
    (root / "params.yaml").mkdir()
    assert refused(root, text) == "gitruns.yaml: params.yaml is not a file"


def test_an_output_left_as_a_symlink_out_of_the_tree_says_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "l.txt").symlink_to("/etc/hostname")
    message = refused(root, "steps:\n  link:\n    cmd: ln -s /etc/hostname l.txt\n    outs: [l.txt]\n")
    assert message.startswith("gitruns.yaml: step link: outs: l.txt is a symlink leading outside the working tree")
    assert message.endswith("; remove it (an output must be written inside the working tree)")
