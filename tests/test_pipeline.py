"""`git run pipeline` end to end: real pipelines in temporary repositories, checked with git."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git, gitrun, make_repo, on_a_terminal, record, run_ids, state, validate

PREPARE = "mkdir -p data && tr a-z A-Z < raw.txt > data/clean.txt && echo prepared"
TRAIN = ("echo lr=${train.lr} > model.txt && cat data/clean.txt >> model.txt && echo trained"
         " && python -c 'import gitruns; gitruns.log_metric(\"loss\", 0.25, step=1)'")
EVALUATE = ("echo '{\"acc\": 0.75, \"loss\": 0.5}' > metrics.json && echo evaluated && echo plot > summary.txt"
            " && python -c 'import gitruns; gitruns.log_artifact(\"summary.txt\")'")
DESCRIBE = "wc -c < raw.txt > summary.txt"
q = json.dumps  # a JSON string is a YAML string: commands with ": " in them stay one string

THREE = f"""steps:
  prepare:
    cmd: {q(PREPARE)}
    deps: [raw.txt]
    outs: [data]
  train:
    cmd: {q(TRAIN)}
    deps: [data/clean.txt]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: {q(EVALUATE)}
    deps: [model.txt]
    metrics: [metrics.json]
"""

IGNORED = "data/\nmodel.txt\nmetrics.json\nsummary.txt\n*.log\n*.pid\ncount\nwindows/\n"


def pipeline_repo(tmp_path: Path, yaml_text: str, extra: dict[str, str] | None = None) -> Path:
    files = {"gitruns.yaml": yaml_text, "raw.txt": "some raw data\n", "params.yaml": "train:\n  lr: 0.1\n",
             ".gitignore": IGNORED}
    files.update(extra or {})
    return make_repo(tmp_path / "repo", files)


def steps_of(rec: dict) -> dict[str, dict]:
    return {s["name"]: s for s in rec["steps"]}


def timeline(repo: Path, rid: str) -> list[str]:
    """The subjects of the run's own commits, oldest first."""
    out = git(repo, "log", "--format=%s", "--reverse", "--first-parent", f"HEAD..refs/runs/{rid}")
    return [line.split(": ", 2)[1] for line in out.splitlines()]


def test_prepare_train_evaluate_is_one_run_with_a_commit_per_step_start_and_end(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, THREE)
    before = state(repo)
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    rid = run_ids(repo)[-1]
    assert proc.stderr.splitlines()[-1].startswith(f"gitruns: run {rid[:12]} succeeded in ")
    assert proc.stderr.splitlines()[-1].endswith("(3 succeeded)")
    assert "prepared" not in proc.stdout + proc.stderr  # the steps' output goes to the record
    assert state(repo) == before  # HEAD, index, status (outputs are ignored) and branches
    rec = record(repo, rid)
    validate(rec)
    assert rec["kind"] == "pipeline" and rec["status"] == "succeeded" and rec["exit_code"] == 0
    assert rec["pipeline"]["file"] == "gitruns.yaml" and rec["pipeline"]["jobs"] == 1
    steps = steps_of(rec)
    assert [s["name"] for s in rec["steps"]] == ["prepare", "train", "evaluate"]
    assert {s["status"] for s in rec["steps"]} == {"succeeded"}
    assert steps["train"]["command"] == TRAIN.replace("${train.lr}", "0.1")
    assert steps["train"]["command_template"] == TRAIN
    assert steps["train"]["params"] == {"train.lr": 0.1}
    assert steps["train"]["needs"] == ["prepare"] and steps["evaluate"]["needs"] == ["train"]
    assert steps["train"]["inputs"][0]["path"] == "data/clean.txt"
    assert steps["train"]["inputs"][0]["from_step"] == "prepare"
    assert steps["prepare"]["outputs"][0]["kind"] == "dir" and steps["prepare"]["outputs"][0]["status"] == "stored"
    assert steps["evaluate"]["metrics"] == {"acc": 0.75, "loss": 0.5}
    assert rec["metrics"]["evaluate.acc"] == 0.75
    # gitruns.log_metric from a step's command lands in that step.
    assert steps["train"]["metrics"] == {"loss": 0.25} and rec["metrics"]["train.loss"] == 0.25
    assert {a["path"] for a in rec["artifacts"]} == {"data", "model.txt", "metrics.json", "summary.txt"}
    assert steps["evaluate"]["outputs"][-1]["source"] == "logged"  # gitruns.log_artifact() in a step
    for s in rec["steps"]:
        assert len(s["attempts"]) == 1 and s["attempts"][0]["exit_code"] == 0
        assert s["cache_key"].startswith("xxh3_128:")
    out = git(repo, "show", f"refs/runs/{rid}:.gitruns/steps/prepare/stdout.log")
    assert out == "prepared\n"  # as the command printed it (only a retry's output is headed by a marker)
    assert (repo / "model.txt").read_text() == "lr=0.1\nSOME RAW DATA\n"
    # The ref's history is the timeline: launch, each start and end, the end.
    assert timeline(repo, rid) == ["running", "step prepare started", "step prepare succeeded",
                                   "step train started", "step train succeeded", "step evaluate started",
                                   "step evaluate succeeded", "succeeded"]
    launch = json.loads(git(repo, "show", f"refs/runs/{rid}~7:.gitruns/run.json"))
    assert launch["status"] == "running"
    assert [(s["name"], s["status"]) for s in launch["steps"]] == [
        ("prepare", "pending"), ("train", "pending"), ("evaluate", "pending")]
    mid = json.loads(git(repo, "show", f"refs/runs/{rid}~4:.gitruns/run.json"))
    assert [s["status"] for s in mid["steps"]] == ["succeeded", "running", "pending"]


FAILING = THREE.replace(q(TRAIN), q("echo boom-in-train >&2; exit 3")) + f"""  describe:
    cmd: {q(DESCRIBE)}
    deps: [raw.txt]
    outs: [summary.txt]
"""


def test_a_failed_step_skips_its_dependents_and_lets_the_others_finish(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, FAILING)
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 1, proc.stderr
    rid = run_ids(repo)[-1]
    assert f"gitruns: run {rid[:12]} failed at step train in " in proc.stderr
    assert "(2 succeeded, 1 failed, 1 skipped)" in proc.stderr
    rec = record(repo, rid)
    validate(rec)
    steps = steps_of(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 1
    assert rec["error"]["type"] == "step" and rec["error"]["step"] == "train"
    assert "boom-in-train" in rec["error"]["stderr_tail"]
    assert steps["train"]["status"] == "failed"
    attempt = steps["train"]["attempts"][0]
    assert attempt["exit_code"] == 3 and "boom-in-train" in attempt["error"]["stderr_tail"]
    assert steps["evaluate"]["status"] == "skipped"
    assert steps["evaluate"]["error"] == {"type": "skipped", "message": "step train failed"}
    assert steps["describe"]["status"] == "succeeded" and (repo / "summary.txt").exists()
    assert "boom-in-train" in git(repo, "show", f"refs/runs/{rid}:.gitruns/steps/train/stderr.log")
    # show says why, in the step's own words, under its error line.
    shown = gitrun(repo, "show", rid).stdout
    assert "error: command exited with code 3\n" in shown and "stderr: boom-in-train\n" in shown


def test_fail_fast_cancels_the_running_steps(tmp_path: Path) -> None:
    text = """steps:
  slow:
    cmd: "echo $$ > slow.pid; exec sleep 30"
  bad:
    cmd: "sleep 1; exit 1"
"""
    repo = pipeline_repo(tmp_path, text)
    started = time.monotonic()
    proc = gitrun(repo, "pipeline", "-j", "2", "--fail-fast")
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - started < 20
    steps = steps_of(record(repo))
    assert steps["bad"]["status"] == "failed" and steps["slow"]["status"] == "canceled"
    assert _group_gone(int((repo / "slow.pid").read_text()))


def test_retries_are_recorded_every_attempt(tmp_path: Path) -> None:
    text = """steps:
  flaky:
    cmd: "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt-$n >&2; [ $n -ge 3 ]"
    retries: {count: 2, delay: 0.3}
"""
    repo = pipeline_repo(tmp_path, text)
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    step = steps_of(record(repo))["flaky"]
    assert step["status"] == "succeeded" and step["retries"] == 2
    assert [a["number"] for a in step["attempts"]] == [1, 2, 3]
    assert [a["exit_code"] for a in step["attempts"]] == [1, 1, 0]
    assert "attempt-1" in step["attempts"][0]["error"]["stderr_tail"]
    assert "attempt-2" in step["attempts"][1]["error"]["stderr_tail"]
    assert step["attempts"][2]["error"] is None
    # Backoff: the second retry waited longer than the first.
    gap = [_t(step["attempts"][i + 1]["started_at"]) - _t(step["attempts"][i]["ended_at"]) for i in (0, 1)]
    assert gap[1] > 0.55 and gap[0] > 0.25 and gap[1] > gap[0]
    stderr = git(repo, "show", f"refs/runs/{run_ids(repo)[-1]}:.gitruns/steps/flaky/stderr.log")
    assert stderr.index("attempt-1") < stderr.index("attempt-2") < stderr.index("attempt-3")
    # Each failed attempt is on record when it fails, not only at the end.
    rid = run_ids(repo)[-1]
    assert timeline(repo, rid)[1:5] == ["step flaky started", "step flaky attempt 1 failed, retrying in 0.3s",
                                        "step flaky attempt 2 failed, retrying in 0.6s", "step flaky succeeded"]
    at_first_retry = json.loads(git(repo, "show", f"refs/runs/{rid}~3:.gitruns/run.json"))
    assert [a["exit_code"] for a in at_first_retry["steps"][0]["attempts"]] == [1]


def _t(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_two_independent_steps_overlap_with_j2(tmp_path: Path) -> None:
    window = "mkdir -p windows && date +%s.%N > windows/{0}.start && sleep 1 && date +%s.%N > windows/{0}.end"
    text = f"""steps:
  left:
    cmd: {q(window.format('left'))}
  right:
    cmd: {q(window.format('right'))}
"""
    repo = pipeline_repo(tmp_path, text)
    proc = gitrun(repo, "pipeline", "-j", "2")
    assert proc.returncode == 0, proc.stderr

    def read(name: str) -> float:
        return float((repo / "windows" / name).read_text())

    assert read("left.start") < read("right.end") and read("right.start") < read("left.end")
    steps = steps_of(record(repo))
    assert _t(steps["left"]["started_at"]) < _t(steps["right"]["ended_at"])
    assert _t(steps["right"]["started_at"]) < _t(steps["left"]["ended_at"])
    assert record(repo)["pipeline"]["jobs"] == 2


def test_a_step_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    text = """steps:
  stuck:
    cmd: sleep 60
    timeout: 1
"""
    repo = pipeline_repo(tmp_path, text)
    started = time.monotonic()
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 1
    assert time.monotonic() - started < 15
    step = steps_of(record(repo))["stuck"]
    assert step["status"] == "failed" and step["timeout_s"] == 1
    assert step["attempts"][0]["error"]["type"] == "timeout"
    assert step["attempts"][0]["signal"] == "SIGTERM"


def _group_gone(pgid: int) -> bool:
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _start_pipeline(repo: Path) -> tuple[subprocess.Popen[str], str]:
    """`git run pipeline` in the background, once its second step runs: the process and the run id."""
    proc = subprocess.Popen(["git", "run", "pipeline"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (repo / "slow.pid").exists() or not (repo / "slow.pid").read_text().strip():
        assert time.monotonic() < deadline, "the slow step never started"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    while "step slow started" not in git(repo, "log", "-1", "--format=%s", f"refs/runs/{run_ids(repo)[-1]}"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, run_ids(repo)[-1]


SLOW = """steps:
  quick:
    cmd: echo done > summary.txt
    outs: [summary.txt]
  slow:
    cmd: "echo $$ > slow.pid; exec sleep 60"
    deps: [summary.txt]
  after:
    cmd: echo never
    deps: [summary.txt]
    outs: [model.txt]
"""


EDITED = """steps:
  slow:
    cmd: "echo $$ > slow.pid; sleep 2; cat raw.txt > copy.txt"
    deps: [raw.txt]
    outs: [copy.txt]
"""


def test_one_pipeline_at_a_time_and_a_dep_changed_mid_step_is_never_reused(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, EDITED)
    proc, rid = _start_pipeline(repo)
    # A second pipeline in the same working tree is refused before it records anything.
    second = gitrun(repo, "pipeline")
    assert second.returncode == 1 and len(second.stderr.splitlines()) == 1, second.stderr
    assert "another git run pipeline" in second.stderr and "is running in this working tree" in second.stderr
    assert run_ids(repo) == [rid]
    # The dep changes while the step runs: the record keeps what the step was started on,
    # and the step is kept out of the cache (its output may come from either content).
    (repo / "raw.txt").write_text("edited meanwhile\n")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "raw.txt changed while the step ran" in err
    step = steps_of(record(repo, rid))["slow"]
    assert step["status"] == "succeeded" and step["cache_key"] is None
    again = gitrun(repo, "pipeline")
    assert again.returncode == 0, again.stderr
    assert steps_of(record(repo))["slow"]["status"] == "succeeded"  # run again, not reused
    assert (repo / "copy.txt").read_text() == "edited meanwhile\n"


def test_log_step_shows_what_a_running_step_printed_so_far(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, """steps:
  slow:
    cmd: "echo hello-so-far; echo warming-up >&2; echo $$ > slow.pid; exec sleep 60"
    deps: [raw.txt]
""")
    proc, rid = _start_pipeline(repo)
    try:
        assert gitrun(repo, "log", rid, "--step", "slow", "--stdout").stdout == "hello-so-far\n"
        assert gitrun(repo, "log", rid, "--step", "slow", "--stderr").stdout == "warming-up\n"
    finally:
        os.kill(record(repo, rid)["pid"], signal.SIGINT)
        proc.communicate(timeout=30)
    # Once it ended, the same from the record.
    assert gitrun(repo, "log", rid, "--step", "slow", "--stdout").stdout == "hello-so-far\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_cancels_the_running_steps(tmp_path: Path, sig: signal.Signals) -> None:
    repo = pipeline_repo(tmp_path, SLOW)
    proc, rid = _start_pipeline(repo)
    pid = record(repo, rid)["pid"]
    os.kill(pid, sig)
    _out, err = proc.communicate(timeout=30)
    code = 128 + sig
    assert proc.returncode == code, err
    assert f"run {rid[:12]} canceled (exit {code})" in err
    assert _group_gone(int((repo / "slow.pid").read_text()))
    rec = record(repo, rid)
    validate(rec)
    steps = steps_of(rec)
    assert rec["status"] == "canceled" and rec["exit_code"] == code
    assert steps["quick"]["status"] == "succeeded"
    assert steps["slow"]["status"] == "canceled"
    assert steps["slow"]["attempts"][0]["error"]["type"] == "canceled"
    assert steps["after"]["status"] == "canceled" and not (repo / "model.txt").exists()


def test_kill_9_leaves_finished_steps_on_record_and_the_run_crashed(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, SLOW)
    proc, rid = _start_pipeline(repo)
    pid = record(repo, rid)["pid"]
    slow = int((repo / "slow.pid").read_text())
    try:
        os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        try:
            os.killpg(slow, signal.SIGKILL)  # an orphan: nobody was left to stop it
        except ProcessLookupError:
            pass
    rec = record(repo, rid)
    steps = steps_of(rec)
    assert rec["status"] == "running" and steps["quick"]["status"] == "succeeded"
    assert steps["slow"]["status"] == "running"
    listed = json.loads(gitrun(repo, "ls", "--json").stdout)
    assert [r["status"] for r in listed if r["id"] == rid] == ["crashed"]


@pytest.mark.parametrize(("text", "args", "message"), [
    ("steps:\n  a:\n    cmd: 'true'\n    deps: [b.txt]\n    outs: [a.txt]\n"
     "  b:\n    cmd: 'true'\n    deps: [a.txt]\n    outs: [b.txt]\n", [], "cycle"),
    ("steps:\n  a:\n    cmd: 'true'\n    outs: [x.txt]\n  b:\n    cmd: 'true'\n    outs: [x.txt]\n", [],
     "steps a and b both write x.txt"),
    ("steps:\n  a:\n    cmd: 'true'\n    deps: [nowhere.csv]\n", [], "dep nowhere.csv does not exist"),
    ("steps:\n  a:\n    cmd: 'true'\n    params: [train.nope]\n", [], "param train.nope is not in the config"),
    ("steps:\n  a:\n    cmd: 'true'\n", ["nosuch"], "no step nosuch"),
    ("steps:\n  a:\n    cmd: echo ${train.missing}\n", [], "${train.missing}"),
    ("steps:\n  a:\n    cmd: 'true'\n  b:\n    cmd: 'true'\n", ["a", "--force-step", "b"],
     "--force-step b: step b is not among the steps this run needs (a)"),
    ("steps:\n  a:\n    cmd: 'true'\n", ["-f", "raw.txt/"], "raw.txt"),
    ("steps:\n  a:\n    cmd: 'true'\n", ["-f", "."], "is a directory; give -f FILE"),
    ("steps:\n  a:\n    cmd: 'true'\n", ["-f", ""], "-f: an empty file name"),
])
def test_refusals_exit_2_before_any_ref_is_made(tmp_path: Path, text: str, args: list[str], message: str) -> None:
    repo = pipeline_repo(tmp_path, text)
    proc = gitrun(repo, "pipeline", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert run_ids(repo) == []


def test_no_definition_is_one_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty", {"README": "x\n"})
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 2 and "no gitruns.yaml" in proc.stderr
    assert run_ids(repo) == []


DVC_DATA = Path(__file__).resolve().parent / "data" / "dvc-get-started"


def test_the_dvc_get_started_pipeline_runs_as_is(tmp_path: Path) -> None:
    if not DVC_DATA.is_dir():
        pytest.skip("tests/data/dvc-get-started is not there yet (part A of issue 9 brings it)")
    import shutil

    repo = tmp_path / "dvc"
    shutil.copytree(DVC_DATA, repo)
    make_repo(repo)
    proc = gitrun(repo, "pipeline", "-f", "dvc.yaml", timeout=600)
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["pipeline"]["format"] == "dvc"
    assert {s["status"] for s in rec["steps"]} == {"succeeded"}
    assert [s["name"] for s in rec["steps"]] == ["prepare", "featurize", "train", "evaluate"]
    assert rec["pipeline"]["declared"]  # top-level metrics, plots and artifacts, kept as written
    again = gitrun(repo, "pipeline", "-f", "dvc.yaml", timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stderr.endswith("(4 cached)\n")


def test_step_lines_on_a_terminal_only(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, THREE)
    code, seen = on_a_terminal(repo, ["git", "run", "pipeline"], stdout=False, stderr=True)
    assert code == 0, seen
    text = seen.decode().replace("\r\n", "\n")
    assert "gitruns: step prepare started\n" in text
    assert "gitruns: step evaluate succeeded in " in text
    assert "prepared" not in text  # the steps' own output is in the record
    piped = gitrun(repo, "pipeline")
    assert piped.returncode == 0
    assert piped.stderr.count("\n") == 1 and "gitruns: step" not in piped.stderr
    assert piped.stderr.endswith("(3 cached)\n")
    cached = steps_of(record(repo))["train"]["cached_from"]
    assert cached == {"run": run_ids(repo)[0], "step": "train"}
    # The record keeps the command as typed.
    assert record(repo)["command"] == ["git", "run", "pipeline"]


def test_a_step_runs_in_its_wdir_with_its_env(tmp_path: Path) -> None:
    text = """steps:
  inside:
    cmd: "echo $GREETING $GITRUNS_STEP $(basename $PWD) > out.txt"
    wdir: sub
    env: {GREETING: hello}
    outs: [out.txt]
"""
    repo = pipeline_repo(tmp_path, text, {"sub/keep.txt": "x\n", ".gitignore": IGNORED + "out.txt\n"})
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "sub" / "out.txt").read_text() == "hello inside sub\n"
    step = steps_of(record(repo))["inside"]
    assert step["wdir"] == "sub" and step["env"] == {"GREETING": "hello"}
    assert [o["path"] for o in step["outputs"]] == ["sub/out.txt"]


def test_two_steps_metrics_of_one_name_are_warned_about(tmp_path: Path) -> None:
    repo = pipeline_repo(tmp_path, """steps:
  a:
    cmd: "echo '{\\"b\\": {\\"c\\": 1}}' > m1.json"
    deps: [raw.txt]
    metrics: [m1.json]
  a.b:
    cmd: "echo '{\\"c\\": 2}' > m2.json"
    deps: [raw.txt]
    metrics: [m2.json]
""", {".gitignore": IGNORED + "m1.json\nm2.json\n"})
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    assert "gitruns: warning: metric a.b.c of step a.b has the name of step a's" in proc.stderr
    rec = record(repo)
    assert rec["metrics"]["a.b.c"] == 2
    assert steps_of(rec)["a"]["metrics"] == {"b.c": 1} and steps_of(rec)["a.b"]["metrics"] == {"c": 2}
