"""Python steps in process: an attempt in a forked child (values, output, failures,
signals, its process group), values and their serializers, the code's identity for
the cache key, and how gitruns.Pipeline resolves arguments and refuses what cannot run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import gitruns
from gitruns.errors import UsageError
from gitruns.pipelines import pystep
from gitruns.pipelines.plan import StepContext, StepSpec, value_path
from gitruns.pipelines.pyapi import Step


def _ctx(tmp_path: Path, spec: StepSpec, params: dict[str, Any] | None = None,
         env: dict[str, str] | None = None) -> StepContext:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    logs = tmp_path / "logs" / spec.name
    logs.mkdir(parents=True, exist_ok=True)
    return StepContext(run_id="r1", step=spec, root=str(work), cwd=str(work),
                       env=env if env is not None else {"PATH": os.environ.get("PATH", ""), "ONLY": "this"},
                       config={}, params=params or {}, stdout_path=str(logs / "stdout"),
                       stderr_path=str(logs / "stderr"), values_dir=str(tmp_path / "values"))


def _run(ctx: StepContext, timeout: float = 30) -> int:
    child = pystep.launch(ctx)
    deadline = time.monotonic() + timeout
    while (code := child.poll()) is None:
        assert time.monotonic() < deadline, "the step's child did not end"
        time.sleep(0.01)
    return code


def _spec(func: Any, **kw: Any) -> StepSpec:
    return StepSpec(name=kw.pop("name", func.__name__), func=func, **kw)


def _out(ctx: StepContext, stream: str) -> str:
    path = Path(ctx.stdout_path if stream == "stdout" else ctx.stderr_path)
    return path.read_text() if path.exists() else ""


# --- launch: a forked child -----------------------------------------------------------------------


def test_values_round_trip_between_two_steps(tmp_path: Path) -> None:
    def prepare(split: float) -> dict[str, Any]:
        return {"rows": [1, 2, 3, 4], "split": split}

    def train(data: dict[str, Any], lr: float = 0.5) -> tuple[float, bytes]:
        return sum(data["rows"]) * data["split"] * lr, b"\x00raw\xff"

    first = _ctx(tmp_path, _spec(prepare, params=["prepare.split"], value_outputs=["data"]),
                 params={"prepare.split": 0.5})
    assert _run(first) == 0
    stored = value_path(first.values_dir, "prepare", "data")
    assert pystep.serializer_of(stored) == "pickle"
    assert pystep.read_value(stored) == {"rows": [1, 2, 3, 4], "split": 0.5}

    second = _ctx(tmp_path, _spec(train, value_inputs={"data": ("prepare", "data")},
                                  value_outputs=["score", "blob"]))
    assert _run(second) == 0, _out(second, "stderr")
    assert pystep.read_value(value_path(second.values_dir, "train", "score")) == 2.5  # lr kept its default
    blob = value_path(second.values_dir, "train", "blob")
    assert pystep.serializer_of(blob) == "bytes"
    assert Path(blob).read_bytes() == b"gitruns-value bytes\n\x00raw\xff"  # one header line, then the raw bytes
    assert pystep.read_value(blob) == b"\x00raw\xff"


def test_output_lands_in_the_files_environment_and_directory_are_the_steps(tmp_path: Path) -> None:
    def show() -> None:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        os.write(1, b"raw fd 1\n")
        print(json.dumps({"cwd": os.getcwd(), "env": dict(os.environ), "stdin": sys.stdin.read()}))

    ctx = _ctx(tmp_path, _spec(show))
    Path(ctx.stdout_path).write_text("earlier attempt\n")
    assert _run(ctx) == 0
    out = _out(ctx, "stdout").splitlines()
    assert out[:3] == ["earlier attempt", "to stdout", "raw fd 1"]  # appended, in order
    seen = json.loads(out[3])
    assert seen["cwd"] == ctx.cwd
    assert seen["env"] == {"PATH": os.environ.get("PATH", ""), "ONLY": "this"}
    assert seen["stdin"] == ""  # /dev/null
    assert _out(ctx, "stderr") == "to stderr\n"


def test_an_exception_is_exit_1_with_its_traceback_in_stderr(tmp_path: Path) -> None:
    def broken() -> None:
        print("before")
        raise RuntimeError("the step broke")

    ctx = _ctx(tmp_path, _spec(broken, value_outputs=["never"]))
    assert _run(ctx) == 1
    err = _out(ctx, "stderr")
    assert "Traceback (most recent call last)" in err and "RuntimeError: the step broke" in err
    assert _out(ctx, "stdout") == "before\n"
    assert not os.path.exists(value_path(ctx.values_dir, "broken", "never"))  # nothing half-written


def test_sys_exit_codes_pass_through(tmp_path: Path) -> None:
    def leaves() -> None:
        raise SystemExit(7)

    assert _run(_ctx(tmp_path, _spec(leaves))) == 7


def test_a_killed_child_reports_a_negative_code_and_leads_its_own_group(tmp_path: Path) -> None:
    def waits() -> None:
        print(os.getpid(), os.getpgid(0), flush=True)
        time.sleep(60)

    ctx = _ctx(tmp_path, _spec(waits))
    child = pystep.launch(ctx)
    assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
    deadline = time.monotonic() + 20
    while not _out(ctx, "stdout"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid, pgid = map(int, _out(ctx, "stdout").split())
    assert pid == pgid == child.pid
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert child.poll() == -signal.SIGKILL


def test_sigterm_to_the_group_ends_the_step(tmp_path: Path) -> None:
    def waits() -> None:
        time.sleep(60)

    child = pystep.launch(_ctx(tmp_path, _spec(waits)))
    time.sleep(0.2)
    os.killpg(child.pid, signal.SIGTERM)
    assert child.wait() == -signal.SIGTERM


def test_params_come_by_step_key_then_plain_key(tmp_path: Path) -> None:
    def train(lr: float, epochs: int = 3, *, seed: int = 0) -> list[Any]:
        return [lr, epochs, seed]

    ctx = _ctx(tmp_path, _spec(train, params=["train.lr", "seed"], value_outputs=["got"]),
               params={"train.lr": 0.1, "seed": 42})
    assert _run(ctx) == 0
    assert pystep.read_value(value_path(ctx.values_dir, "train", "got")) == [0.1, 3, 42]


def test_several_outputs_a_tuple_or_a_dict_else_a_clear_error(tmp_path: Path) -> None:
    def as_dict() -> dict[str, int]:
        return {"b": 2, "a": 1}

    def wrong() -> list[int]:
        return [1, 2]

    ctx = _ctx(tmp_path, _spec(as_dict, value_outputs=["a", "b"]))
    assert _run(ctx) == 0
    assert pystep.read_value(value_path(ctx.values_dir, "as_dict", "a")) == 1
    bad = _ctx(tmp_path, _spec(wrong, value_outputs=["a", "b"]))
    assert _run(bad) == 1
    assert "return a tuple of 2 or a dict with those keys, not list" in _out(bad, "stderr")


def test_a_value_returned_without_outputs_is_noted_in_the_steps_stderr(tmp_path: Path) -> None:
    def forgot() -> int:
        return 3

    ctx = _ctx(tmp_path, _spec(forgot))
    assert _run(ctx) == 0
    assert _out(ctx, "stderr") == ("gitruns: step forgot returned a value (int) but declares no outputs: "
                                   "it is not kept (@gitruns.step(outputs=[...]) names them)\n")


def test_path_values_are_plain_files_and_directories(tmp_path: Path) -> None:
    def make() -> tuple[Path, Path]:
        Path("model.bin").write_bytes(b"weights")
        Path("shards").mkdir()
        Path("shards/0.txt").write_text("zero")
        return Path("model.bin"), Path("shards")

    def use(model: Path, shards: Path) -> str:
        assert isinstance(model, Path) and isinstance(shards, Path)
        return model.read_text() + "+" + (shards / "0.txt").read_text()

    ctx = _ctx(tmp_path, _spec(make, value_outputs=["model", "shards"]))
    assert _run(ctx) == 0, _out(ctx, "stderr")
    model = value_path(ctx.values_dir, "make", "model")
    assert Path(model).read_bytes() == b"weights"  # the file itself, no header
    assert Path(value_path(ctx.values_dir, "make", "shards"), "0.txt").read_text() == "zero"
    after = _ctx(tmp_path, _spec(use, value_inputs={"model": ("make", "model"), "shards": ("make", "shards")},
                                 value_outputs=["joined"]))
    assert _run(after) == 0, _out(after, "stderr")
    assert pystep.read_value(value_path(ctx.values_dir, "use", "joined")) == "weights+zero"


def test_a_missing_returned_path_fails_the_step(tmp_path: Path) -> None:
    def gone() -> Path:
        return Path("nowhere.bin")

    ctx = _ctx(tmp_path, _spec(gone, value_outputs=["model"]))
    assert _run(ctx) == 1
    assert "nowhere.bin is neither a file nor a directory" in _out(ctx, "stderr")


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_serializers_by_type_and_by_choice(tmp_path: Path) -> None:
    name = gitruns.serializer(Point, lambda p: str(p.x).encode(), lambda b: Point(int(b)))
    assert name == f"{__name__}.Point"
    dest = str(tmp_path / "v")
    assert pystep.write_value(Point(5), dest) == name
    assert Path(dest).read_bytes() == f"gitruns-value {name}\n5".encode()
    assert pystep.read_value(dest).x == 5
    assert pystep.write_value({"a": [1, 2]}, dest, "json") == "json"
    assert Path(dest).read_bytes() == b'gitruns-value json\n{"a": [1, 2]}'
    assert pystep.read_value(dest) == {"a": [1, 2]}
    with pytest.raises(ValueError, match="built in"):
        gitruns.serializer(dict, json.dumps, json.loads, name="json")
    Path(dest).write_bytes(b"gitruns-value not.registered\nxx")
    with pytest.raises(ValueError, match="not registered here"):
        pystep.read_value(dest)


# --- the code's identity -----------------------------------------------------------------------------


def test_definition_is_the_code_not_the_name(tmp_path: Path) -> None:
    def one(x: int) -> int:
        return x + 1

    a = pystep.definition(_spec(one, name="a", value_outputs=["y"]))
    b = pystep.definition(_spec(one, name="b", value_outputs=["y"]))
    assert a == b and "source" in a["python"]
    assert pystep.definition(_spec(one, value_outputs=["z"])) != a  # declared value names count

    namespace: dict[str, Any] = {}
    exec(compile("def two(x):\n    return x + 2\n", "<no file>", "exec"), namespace)  # no source to read
    exec(compile("def three(x):\n    return x + 3\n", "<no file>", "exec"), namespace)
    two = pystep.definition(_spec(namespace["two"]))
    assert "bytecode" in two["python"]
    assert two != pystep.definition(_spec(namespace["three"]))

    chosen = gitruns.step(outputs=["m"], serializers={"m": "json"})(one)
    plain = gitruns.step(outputs=["m"])(one)
    assert pystep.definition(_spec(chosen)) != pystep.definition(_spec(plain))
    assert pystep.definition(_spec(chosen))["serializers"] == {"m": "json"}


# --- gitruns.Pipeline: arguments resolved, refusals before anything runs -------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "raw.csv").write_text("1\n2\n")
    monkeypatch.chdir(root)
    return root


@gitruns.step(outputs=["data"], deps=["raw.csv"])
def prepare(split: float) -> list[int]:
    return [1, 2]


@gitruns.step(outputs=["model"], retries=2, timeout=5)
def train(data: list[int], lr: float, epochs: int = 3, note: object = len) -> float:
    return 0.0


@gitruns.step(inputs={"m": "train"})
def evaluate(m: float, threshold: float = 0.5) -> None:
    return None


def test_arguments_are_values_then_config_then_defaults(repo: Path) -> None:
    pipe = gitruns.Pipeline([prepare, train, evaluate], name="demo")
    plan = pipe.plan(config={"split": 0.2, "lr": 0.1, "train": {"lr": 0.3}})
    assert plan.format == "python" and list(plan.steps) == ["prepare", "train", "evaluate"]
    assert plan.steps["prepare"].params == ["split"]
    assert plan.steps["prepare"].deps == ["raw.csv"]
    t = plan.steps["train"]
    assert t.value_inputs == {"data": ("prepare", "data")}  # matched by name
    assert t.params == ["train.lr", "train.epochs"]  # the step's own key wins; a plain default is recorded
    assert (t.retries, t.timeout_s, t.needs) == (2, 5.0, ["prepare"])
    assert t.func is train and pystep.function(t) is train.func
    e = plan.steps["evaluate"]
    assert e.value_inputs == {"m": ("train", "model")}  # "train": its only value
    assert e.params == ["evaluate.threshold"]
    built = pipe._build({"split": 0.2, "lr": 0.1}, (), (), None)
    # note=len is no config value: the function gets it, the record does not hold it
    assert built.defaults == {"train": {"epochs": 3}, "evaluate": {"threshold": 0.5}}
    assert built.plan.steps["train"].params == ["lr", "train.epochs"]
    assert train([1], 0.1) == 0.0  # still a function


def test_the_decorator_with_and_without_arguments() -> None:
    @gitruns.step
    def bare(x: int) -> int:
        return x * 2

    assert isinstance(bare, Step) and bare.name == "bare" and bare.outputs == []
    assert bare(4) == 8 and bare.__name__ == "bare" and bare.__doc__ is None
    named = gitruns.step(name="renamed", outputs="single", deps="raw.csv")(bare.func)
    assert (named.name, named.outputs, named.deps) == ("renamed", ["single"], ["raw.csv"])


def test_config_files_and_overrides_count(repo: Path) -> None:
    (repo / "params.yaml").write_text("split: 0.3\nlr: 0.1\n")
    plan = gitruns.Pipeline([prepare, train]).plan(config_files=["params.yaml"], overrides=["train.epochs=9"])
    assert plan.steps["train"].params == ["lr", "train.epochs"]


@pytest.mark.parametrize(("steps", "config", "message"), [
    ("prepare train", {"split": 1}, "step train: argument lr is not a value of another step, not in the config "
                                    "(train.lr or lr) and has no default"),
    ("prepare", {}, "argument split is not a value"),
    ("prepare prepare", {"split": 1}, "two steps are named prepare"),
    ("evaluate", {}, "step evaluate: argument m reads train, but there is no step train"),
    ("reads_nothing", {}, "step reads_nothing: argument x reads prepare.nope, which step prepare does not return"),
    ("loop_a loop_b", {}, "steps form a cycle"),
    ("prepare other_data uses_data", {"split": 1}, "argument data matches the values of steps prepare, other_data: "
                                                   "say which with inputs={'data': 'prepare.data'}"),
    ("bad_input", {}, "inputs names argument y, which the function does not take (its arguments: x)"),
    ("bad_serializer", {}, "no serializer 'yaml' for v"),
    ("bad_output", {}, "output 'not-a-name' is not a Python identifier"),
    ("escapes", {}, "outside"),
    ("none", {}, "a pipeline with no steps: give Pipeline the steps it runs"),
    ("endless", {}, "step endless: retries must be a whole number from 0 to 100, not 100000000000000000000"),
    ("no_time", {}, "step no_time: timeout must be a number of seconds above 0 and at most 2592000, not 0"),
    ("long_wait", {}, "step long_wait: retry_delay must be a number of seconds from 0 to 86400"),
])
def test_refusals_before_anything_runs(repo: Path, steps: str, config: dict[str, Any], message: str) -> None:
    table = {
        "prepare": prepare, "train": train, "evaluate": evaluate,
        "reads_nothing": gitruns.step(name="reads_nothing", inputs={"x": "prepare.nope"})(lambda x: x),
        "loop_a": gitruns.step(name="loop_a", outputs=["a"])(lambda b: 1),
        "loop_b": gitruns.step(name="loop_b", outputs=["b"])(lambda a: 1),
        "other_data": gitruns.step(name="other_data", outputs=["data"])(lambda: 1),
        "uses_data": gitruns.step(name="uses_data")(lambda data: 1),
        "bad_input": gitruns.step(name="bad_input", inputs={"y": "prepare"})(lambda x=1: x),
        "bad_serializer": gitruns.step(name="bad_serializer", outputs=["v"], serializers={"v": "yaml"})(lambda: 1),
        "bad_output": gitruns.step(name="bad_output", outputs=["not-a-name"])(lambda: 1),
        "escapes": gitruns.step(name="escapes", outs=["../outside.txt"])(lambda: 1),
        "endless": gitruns.step(name="endless", retries=10**20)(lambda: 1),
        "no_time": gitruns.step(name="no_time", timeout=0)(lambda: 1),
        "long_wait": gitruns.step(name="long_wait", retries=1, retry_delay=1e9)(lambda: 1),
    }
    chosen = [table[s] for s in steps.split() if s != "none"]
    if steps == "reads_nothing":
        chosen = [prepare, table["reads_nothing"]]
        config = {"split": 1}
    with pytest.raises(UsageError) as caught:
        gitruns.Pipeline(chosen).plan(config=config)
    assert message in str(caught.value)


def test_import_gitruns_loads_no_pipeline_code() -> None:
    code = ("import sys, gitruns\n"
            "gitruns.__dir__()\n"
            "print(sorted(m for m in ('gitruns.pipelines.pyapi', 'gitruns.pipelines.pystep', 'pickle', 'inspect',"
            " 'typing', 'gitruns.pipelines.engine') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert out.stdout == "[]\n", out.stderr
    assert {"step", "Pipeline", "serializer"} <= set(gitruns.__all__) <= set(dir(gitruns)) | {"__version__"}
