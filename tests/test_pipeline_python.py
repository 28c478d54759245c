"""Pipelines from Python (@gitruns.step, gitruns.Pipeline) in real repositories:
the example of docs/python.md run as a script (`python pipe.py`), and pipelines run
in this process; checked in the record on refs/runs/<id>, in the artifact cache
and with plain git."""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, make_repo, record, run_ids, state, validate

import gitruns
from gitruns.hashing import digest_file

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"
DATA = "".join(f"{x}\n" for x in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0))


def _doc_pipeline() -> str:
    [body] = re.findall(r"^```python pipe\.py\n(.*?)^```$", DOC.read_text(), flags=re.M | re.S)
    return str(body)


def _script(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "pipe.py", *args], cwd=repo, capture_output=True, text=True,
                          timeout=300)


def _steps(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in rec["steps"]}


def _cache_object(repo: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return repo / ".git" / "gitruns" / "cache" / "xxh3_128" / hexpart[:2] / hexpart[2:]


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_documented_pipeline_as_a_script(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"data.csv": DATA, "pipe.py": _doc_pipeline()})
    before = state(repo)

    first = _script(repo)
    assert first.returncode == 0, first.stdout + first.stderr
    [rid] = run_ids(repo)
    assert first.stdout.splitlines()[0] == f"{rid} succeeded"
    rec = record(repo, rid)
    validate(rec)  # the shipped JSON Schema
    assert rec["kind"] == "pipeline" and rec["status"] == "succeeded" and rec["name"] == "fit"
    assert rec["pipeline"]["format"] == "python" and rec["pipeline"]["file"] == "pipe.py"
    assert rec["pipeline"]["digest"] == digest_file(str(repo / "pipe.py"))
    assert rec["command"] == ["pipe.py"]
    steps = _steps(rec)
    assert list(steps) == ["prepare", "train", "evaluate"]
    assert all(s["status"] == "succeeded" and s["command"] is None for s in steps.values())
    assert steps["train"]["function"] == "__main__:train"
    assert steps["train"]["needs"] == ["prepare"] and steps["evaluate"]["needs"] == ["prepare", "train"]
    assert steps["train"]["params"] == {"lr": 0.1}
    assert steps["prepare"]["params"] == {"prepare.split": 0.75}  # the default the function got
    assert steps["evaluate"]["metrics"]["error"] == pytest.approx(float(first.stdout.split()[-1]))
    assert rec["metrics"]["evaluate.error"] == steps["evaluate"]["metrics"]["error"]
    assert [(i["path"], i["kind"], i.get("from_step")) for i in steps["evaluate"]["inputs"]] == [
        ("train.model", "value", "train"), ("prepare.test_rows", "value", "prepare")]  # in argument order
    for s in steps.values():  # every value is in the artifact cache under its digest
        for out in s["outputs"]:
            assert out["source"] == "value" and out["kind"] == "value" and out["status"] == "stored"
            obj = _cache_object(repo, out["digest"])
            assert obj.is_file() and digest_file(str(obj)) == out["digest"]
    assert "weight" in git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/steps/train/stdout.log")
    assert git(repo, "log", "--format=%s", f"refs/runs/{rid}").count("\n") >= 6  # launch, 3 starts, 3 ends, end
    git(repo, "fsck", "--strict")
    assert state(repo) == before
    model = first.stdout.split("model ", 1)[1].splitlines()[0]

    second = _script(repo)  # nothing changed: nothing executes, values come from the cache
    assert second.returncode == 0, second.stdout + second.stderr
    rid2 = run_ids(repo)[-1]
    rec2 = record(repo, rid2)
    validate(rec2)
    steps2 = _steps(rec2)
    assert {s["status"] for s in steps2.values()} == {"cached"}
    assert all(s["cached_from"] == {"run": rid, "step": name} for name, s in steps2.items())
    assert all(not s["attempts"] for s in steps2.values())
    assert second.stdout.split("model ", 1)[1].splitlines()[0] == model  # loaded back, the same

    third = _script(repo, "lr=0.5")  # one param changed: the steps using it (and after) run again
    assert third.returncode == 0, third.stdout + third.stderr
    rec3 = record(repo, run_ids(repo)[-1])
    assert rec3["command"] == ["pipe.py", "lr=0.5"]
    steps3 = _steps(rec3)
    assert [steps3[n]["status"] for n in ("prepare", "train", "evaluate")] == ["cached", "succeeded", "succeeded"]
    assert steps3["train"]["params"] == {"lr": 0.5}
    assert third.stdout.split("model ", 1)[1].splitlines()[0] != model
    git(repo, "fsck", "--strict")
    assert state(repo) == before


# --- in this process ----------------------------------------------------------------------------------


@gitruns.step(outputs=["rows"], deps=["data.csv"])
def load(scale: float = 1.0) -> list[float]:
    return [float(x) * scale for x in open("data.csv").read().split()]


@gitruns.step(outputs=["total"])
def total(rows: list[float]) -> float:
    return sum(rows)


@gitruns.step(outputs=["count"])
def count(rows: list[float], fail: bool = False) -> int:
    if fail:
        raise ValueError("count was told to fail")
    return len(rows)


@gitruns.step(outputs=["mean"])
def mean(total: float, count: int) -> float:
    return total / count


@gitruns.step(outputs=["report"])
def report(rows: list[float]) -> Path:
    Path("report.txt").write_text(f"{len(rows)} rows\n")
    return Path("report.txt")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "repo", {"data.csv": DATA, ".gitignore": "report.txt\nshards/\n"})
    monkeypatch.chdir(root)
    return root


def test_in_process_values_results_and_caching(repo: Path) -> None:
    pipe = gitruns.Pipeline([load, total, count, mean, report])
    result = pipe.run(jobs=2)
    assert result.ok and result.status == "succeeded", result.errors
    assert result["mean"] == 4.5 and result.steps["total"].value("total") == 36.0
    assert result["report"].read_text() == "8 rows\n"  # a Path value: the file
    rec = record(repo, result.run_id)
    assert rec["pipeline"]["format"] == "python" and rec["pipeline"]["file"] is None  # defined outside the repo
    assert _steps(rec)["mean"]["needs"] == ["total", "count"]

    again = pipe.run(config={"count": {"fail": False}})  # count.fail = its default: the same param value
    assert {s.status for s in again.steps.values()} == {"cached"}
    assert again["mean"] == 4.5 and again["report"].read_text() == "8 rows\n"
    assert again.steps["mean"].cached_from == {"run": result.run_id, "step": "mean"}

    scaled = pipe.run(config={"load": {"scale": 2.0}}, targets=["mean"])
    assert [s for s in scaled.steps] == ["load", "total", "count", "mean"]  # report is not needed
    assert {s.status for s in scaled.steps.values()} == {"succeeded"}
    assert scaled["mean"] == 9.0 and scaled.steps["total"].value() == 72.0

    forced = pipe.run(force=["count"])
    assert {n: s.status for n, s in forced.steps.items()} == {
        "load": "cached", "total": "cached", "count": "succeeded", "mean": "cached", "report": "cached"}


def test_a_failing_step_skips_its_dependents_and_the_rest_finishes(repo: Path) -> None:
    before = state(repo)
    result = gitruns.Pipeline([load, total, count, mean, report]).run(config={"count": {"fail": True}})
    assert not result.ok and result.status == "failed" and result.exit_code == 1
    assert {n: s.status for n, s in result.steps.items()} == {
        "load": "succeeded", "total": "succeeded", "count": "failed", "mean": "skipped", "report": "succeeded"}
    assert result.error is not None and result.error["step"] == "count"
    failed = result.steps["count"]
    assert failed.error is not None and "count was told to fail" in failed.error.get("stderr_tail", "")
    assert [a["exit_code"] for a in failed.attempts] == [1]
    assert "ValueError: count was told to fail" in git(
        repo, "cat-file", "-p", f"refs/runs/{result.run_id}:.gitruns/steps/count/stderr.log")
    with pytest.raises(KeyError):
        result.steps["mean"].value()
    assert record(repo, result.run_id)["error"]["step"] == "count"
    git(repo, "fsck", "--strict")
    assert state(repo) == before


@gitruns.step(outputs=["window"])
def slow_a() -> tuple[float, float]:
    start = time.time()
    time.sleep(1.0)
    return start, time.time()


@gitruns.step(outputs=["window"])
def slow_b() -> tuple[float, float]:
    start = time.time()
    time.sleep(1.0)
    return start, time.time()


def test_two_independent_steps_overlap_under_jobs_2(repo: Path) -> None:
    result = gitruns.Pipeline([slow_a, slow_b]).run(jobs=2)
    assert result.ok, result.errors
    (a0, a1), (b0, b1) = result.steps["slow_a"].value(), result.steps["slow_b"].value()
    assert a0 < b1 and b0 < a1  # their time windows overlap
    steps = _steps(result.record)
    assert _when(steps["slow_a"]["started_at"]) < _when(steps["slow_b"]["ended_at"])
    assert _when(steps["slow_b"]["started_at"]) < _when(steps["slow_a"]["ended_at"])

    serial = gitruns.Pipeline([slow_a, slow_b]).run(force=True)
    (a0, a1), (b0, b1) = serial.steps["slow_a"].value(), serial.steps["slow_b"].value()
    assert a1 <= b0  # one at a time by default


def test_refusals_raise_before_any_run_is_recorded(repo: Path) -> None:
    with pytest.raises(gitruns.UsageError, match="argument rows is not a value of another step"):
        gitruns.Pipeline([total]).run()
    with pytest.raises(gitruns.UsageError, match="two steps are named load"):
        gitruns.Pipeline([load, load]).run()
    with pytest.raises(gitruns.UsageError, match="no step nope"):
        gitruns.Pipeline([load]).run(targets=["nope"])
    with pytest.raises(gitruns.UsageError, match="force: no step nope in the pipeline"):
        gitruns.Pipeline([load]).run(force=["nope"])
    assert run_ids(repo) == []


def test_a_corrupt_value_in_the_cache_is_refused_not_loaded(repo: Path) -> None:
    result = gitruns.Pipeline([load, total]).run()
    out = next(o for o in result.steps["total"].record["outputs"] if o["path"] == "total.total")
    obj = _cache_object(repo, out["digest"])
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes()[:-1] + b"\x00")
    with pytest.raises(gitruns.GitrunsError, match="corrupt"):
        result.steps["total"].value()


@gitruns.step(outputs=["n"])
def flaky(counter: str) -> int:
    """Fails on its first attempt, succeeds on the second (the counter file says which)."""
    done = int(Path(counter).read_text()) if Path(counter).exists() else 0
    Path(counter).write_text(str(done + 1))
    if done == 0:
        raise RuntimeError("first attempt fails")
    return done + 1


def test_retries_keep_every_attempt(repo: Path, tmp_path: Path) -> None:
    flaky.retries, flaky.retry_delay = 1, 0.1
    try:
        result = gitruns.Pipeline([flaky]).run(config={"counter": str(tmp_path / "count")})
    finally:
        flaky.retries = 0
    assert result.ok and result["flaky"] == 2
    attempts = result.steps["flaky"].attempts
    assert [(a["number"], a["exit_code"]) for a in attempts] == [(1, 1), (2, 0)]
    stderr = git(repo, "cat-file", "-p", f"refs/runs/{result.run_id}:.gitruns/steps/flaky/stderr.log")
    assert "RuntimeError: first attempt fails" in stderr  # the failed attempt's traceback is kept


@gitruns.step(outputs=["shards"])
def shards() -> Path:
    Path("shards").mkdir(exist_ok=True)
    for i in range(3):
        Path("shards", f"{i}.txt").write_text(f"shard {i}\n")
    return Path("shards")


@gitruns.step(outputs=["lines"])
def read_shards(shards: Path) -> list[str]:
    return sorted(p.read_text() for p in shards.iterdir())


def test_a_directory_value(repo: Path) -> None:
    result = gitruns.Pipeline([shards, read_shards]).run()
    assert result.ok, (result.errors, result.error)
    assert result["read_shards"] == ["shard 0\n", "shard 1\n", "shard 2\n"]
    restored = result["shards"]  # from the cache by its listing, each file verified
    assert sorted(p.name for p in restored.iterdir()) == ["0.txt", "1.txt", "2.txt"]
    assert (restored / "2.txt").read_text() == "shard 2\n"
    [out] = result.steps["shards"].record["outputs"]
    assert out["kind"] == "value" and out["files"] == 3
    again = gitruns.Pipeline([shards, read_shards]).run()
    assert {s.status for s in again.steps.values()} == {"cached"}
    assert again["read_shards"] == result["read_shards"]


STUCK = """\
import os, sys, time
import gitruns

@gitruns.step(outputs=["never"])
def stuck():
    open(os.environ["MARK"], "w").write(str(os.getpid()))
    time.sleep(120)
    return 1

result = gitruns.Pipeline([stuck]).run()
print(result.status, result.exit_code)
sys.exit(result.exit_code)
"""


def test_ctrl_c_cancels_a_python_step_and_its_process_group(tmp_path: Path) -> None:
    import signal

    repo = make_repo(tmp_path / "repo", {"stuck.py": STUCK})
    mark = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "stuck.py"], cwd=repo, env={**os.environ, "MARK": str(mark)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (mark.exists() and mark.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    child = int(mark.read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert out == "canceled 130\n"
    rec = record(repo)
    assert rec["status"] == "canceled" and _steps(rec)["stuck"]["status"] == "canceled"
    with pytest.raises(ProcessLookupError):  # the step's process is gone, not left running
        os.kill(child, 0)


@gitruns.step(outputs=["never"], timeout=0.5)
def sleepy() -> int:
    time.sleep(30)
    return 1


def test_a_python_step_past_its_timeout_is_stopped(repo: Path) -> None:
    started = time.monotonic()
    result = gitruns.Pipeline([sleepy]).run()
    assert time.monotonic() - started < 20
    assert result.status == "failed" and result.steps["sleepy"].status == "failed"
    [attempt] = result.steps["sleepy"].attempts
    assert attempt["signal"] == "SIGTERM" and attempt["error"] is not None
    assert "timeout" in (attempt["error"]["type"] + attempt["error"]["message"]).lower()
