"""Seeing a pipeline run: show's step tree, ls's step count and failing step,
log --step, diff step by step, and the read API, through the real ``git run``
on pipeline runs written as the engine writes them (tests/pipelinerecords.py)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitrun, make_repo, plant_record, record, run_ids
from pipelinerecords import BASE, FOUR, pipeline_run, step

ROOT = Path(__file__).resolve().parent.parent
UTF8 = {"PYTHONIOENCODING": "utf-8"}


def _exec(repo: Path, *argv: str) -> str:
    before = set(run_ids(repo))
    proc = gitrun(repo, "exec", "--", *argv)
    assert proc.returncode == 0, proc.stderr
    [rid] = set(run_ids(repo)) - before
    return rid


def _steps_section(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("steps:"))
    return lines[start:]


def test_the_helper_writes_a_pipeline_run_as_the_engine_does(repo: Path) -> None:
    rid = pipeline_run(repo, FOUR, name="four")
    titles = git(repo, "log", "--format=%s", f"refs/runs/{rid}").splitlines()
    assert [t.split(": ")[1].split(" (")[0] for t in titles[:-1]][::-1] == [
        "running", "step prepare started", "step prepare succeeded", "step train started", "step train failed",
        "step evaluate skipped", "step features cached", "failed"]
    rec = record(repo, rid)
    assert rec["kind"] == "pipeline" and rec["error"]["step"] == "train" and rec["metrics"] == {"prepare.rows": 100}
    assert git(repo, "show", f"refs/runs/{rid}:.gitruns/steps/train/stderr.log") == "Traceback: loss is nan\n"


def test_show_draws_the_step_tree_with_every_status(repo: Path) -> None:
    steps = [*FOUR,
             step("report", "canceled", ["evaluate"], duration=0.5, error="interrupted (SIGINT)"),
             step("publish", "pending", ["report"]),
             step("lint", "running")]
    rid = pipeline_run(repo, steps, name="all", status="canceled")
    proc = gitrun(repo, "show", rid[:12], env=UTF8)
    assert proc.returncode == 0, proc.stderr
    assert "\npipeline:   gitruns.yaml (gitruns), targets: all\n" in proc.stdout
    assert _steps_section(proc.stdout) == [
        "steps:      7 (1 pending, 1 running, 1 succeeded, 1 failed, 1 cached, 1 skipped, 1 canceled)",
        "  prepare                  succeeded  1.50s",
        "  ├── train                failed     3.25s  3 attempts",
        "  │       error: exit 1: loss went to nan",
        "  └── features             cached     0.01s  cached from 01jd3kx5q7e8/features",
        "      └── evaluate         skipped    needs train, which failed  (also needs train)",
        "          └── report       canceled   0.50s",
        "              │   error: interrupted (SIGINT)",
        "              └── publish  pending",
        "  lint                     running",
    ]
    # Without UTF-8 on stdout the tree is drawn in ASCII.
    ascii_out = gitrun(repo, "show", rid, env={"PYTHONIOENCODING": "latin-1"}).stdout
    assert "  |-- train                failed     3.25s  3 attempts\n" in ascii_out
    assert "      `-- evaluate" in ascii_out and "  `-- features" in ascii_out
    # --json is still the record.
    data = json.loads(gitrun(repo, "show", "--json", rid).stdout)
    assert data["kind"] == "pipeline" and [s["status"] for s in data["steps"]] == [s["status"] for s in steps]
    assert data["steps"][1]["attempts"][0]["exit_code"] == 1


def test_show_colours_step_statuses_like_ls(repo: Path) -> None:
    rid = pipeline_run(repo, FOUR)
    out = gitrun(repo, "show", "--color=always", rid, env=UTF8).stdout
    assert "  prepare           \x1b[32msucceeded\x1b[m  1.50s\n" in out
    assert "├── train         \x1b[31mfailed\x1b[m     3.25s" in out
    assert "\x1b[34mcached\x1b[m" in out and "\x1b[2mskipped\x1b[m" in out
    assert "\x1b" not in gitrun(repo, "show", rid).stdout  # piped: no colour


def _hostile(rec: dict[str, Any]) -> None:
    rec["steps"][1]["name"] = "train\x1b[2J\nstatus:     succeeded"
    rec["steps"][1]["error"] = {"type": "exit", "message": "boom\r\x1b[32mall fine\x1b]0;owned\x07"}
    rec["steps"][2]["needs"] = ["train\x1b[2J\nstatus:     succeeded", "features\u202e"]
    rec["steps"][2]["error"]["message"] = "skipped\nerror: forged line"
    rec["steps"][3]["cached_from"] = {"run": "01jd3kx5q7e8r9s0t1v2w3x4y5", "step": "f\x1b[31m"}
    rec["error"]["step"] = rec["steps"][1]["name"]


def test_hostile_step_names_and_errors_are_shown_safely(repo: Path) -> None:
    rid = pipeline_run(repo, FOUR, record_edit=_hostile)
    for args in (["show", rid], ["show", "--color=always", rid], ["ls"], ["diff", rid, rid]):
        proc = gitrun(repo, *args, env=UTF8)
        assert proc.returncode == 0, (args, proc.stderr)
        # Our colour is only ever around a status word; nothing else escapes.
        own = re.sub("\x1b\\[[0-9;]+m(succeeded|failed|skipped|cached|canceled|running|pending)\x1b\\[m", "",
                     proc.stdout)
        assert "\x1b" not in own and "\x07" not in proc.stdout and "\u202e" not in proc.stdout, (args, proc.stdout)
        assert "forged line" not in "\n".join(line for line in proc.stdout.splitlines() if line.startswith("error:"))
    out = gitrun(repo, "show", rid, env=UTF8).stdout
    assert "├── train^[[2J\\x0astatus:     succeeded  failed" in out
    assert "error: boom\\x0d^[[32mall fine^[]0;owned\\x07" in out
    assert "skipped\\x0aerror: forged line" in out and "features\\u202e" in out
    assert "cached from 01jd3kx5q7e8/f^[[31m" in out
    assert sum(line.startswith("status:") for line in out.splitlines()) == 1
    table = gitrun(repo, "ls").stdout
    assert len(table.splitlines()) == 2 and "failed at train^[[2J\\x0a" in table


def test_ls_shows_pipeline_runs_beside_command_runs(repo: Path) -> None:
    cmd = _exec(repo, "python", "-c", "print('hi')")
    failed = pipeline_run(repo, FOUR, name="four")
    ok = pipeline_run(repo, [step("only", "succeeded", metrics={"acc": 0.5})], name="one",
                      started=BASE + dt.timedelta(minutes=1))
    running = pipeline_run(repo, [step("a", "succeeded"), step("b", "running", ["a"]), step("c", "pending", ["b"])],
                           file="pipelines/other.yaml", started=BASE + dt.timedelta(minutes=2))
    table = gitrun(repo, "ls").stdout.splitlines()
    assert table[0].split()[:7] == ["ID", "NAME", "STATUS", "STARTED", "DURATION", "CODE", "COMMAND"]
    column = table[0].index("COMMAND")
    cells = {line.split()[0]: line[column:].split("  ")[0] for line in table[1:]}
    assert cells == {cmd[:8]: "python -c 'print('\"'\"'hi'\"'\"')'",
                     failed[:8]: "pipeline gitruns.yaml: 4 steps, failed at train",
                     ok[:8]: "pipeline gitruns.yaml: 1 step",
                     running[:8]: "pipeline pipelines/other.yaml: 3 steps, 1 done"}
    # --kind
    only = gitrun(repo, "ls", "--kind", "pipeline").stdout
    assert len(only.splitlines()) == 4 and cmd[:8] not in only
    assert [line.split()[0] for line in gitrun(repo, "ls", "--kind", "command").stdout.splitlines()[1:]] == [cmd[:8]]
    bad = gitrun(repo, "ls", "--kind", "dag")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "'dag' is not one of" in bad.stderr
    # --json: the record's keys as before, and what one filters pipeline runs on.
    listed = {r["id"]: r for r in json.loads(gitrun(repo, "ls", "--json").stdout)}
    assert "step_count" not in listed[cmd] and listed[cmd]["kind"] == "command"
    assert (listed[failed]["kind"], listed[failed]["step_count"], listed[failed]["failed_step"]) \
        == ("pipeline", 4, "train")
    assert listed[ok]["failed_step"] is None and listed[running]["status"] == "running"
    # --csv: kind, steps and failed_step after duration when pipeline runs are listed.
    rows = list(csv.DictReader(io.StringIO(gitrun(repo, "ls", "--csv").stdout)))
    assert list(rows[0])[:8] == ["id", "name", "status", "started", "duration", "kind", "steps", "failed_step"]
    by_id = {r["id"]: r for r in rows}
    assert (by_id[failed]["steps"], by_id[failed]["failed_step"], by_id[cmd]["kind"], by_id[cmd]["steps"]) \
        == ("4", "train", "command", "")
    assert list(csv.DictReader(io.StringIO(gitrun(repo, "ls", "--csv", "--kind", "command").stdout)))[0].keys() \
        == {"id", "name", "status", "started", "duration"}  # command runs alone: the columns as before


def test_log_step_prints_one_steps_output(repo: Path) -> None:
    rid = pipeline_run(repo, [step("prepare", "succeeded", stdout=b"rows: 100\n", stderr=b"warn: old data\n"),
                              step("train", "failed", ["prepare"], stdout=b"epoch 1\n", stderr=b"\x1b[31mnan\x1b[m\n",
                                   error="exit 1"),
                              step("evaluate", "skipped", ["train"], error="needs train, which failed")])
    proc = subprocess.run(["git", "run", "log", rid, "--step", "prepare"], cwd=repo, capture_output=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"rows: 100\n", b"warn: old data\n")
    proc = subprocess.run(["git", "run", "log", rid, "--step", "train", "--stderr"], cwd=repo, capture_output=True)
    assert proc.stdout == b"\x1b[31mnan\x1b[m\n"  # the command's own bytes, as log always replays them
    assert gitrun(repo, "log", rid, "--step", "train", "--stdout").stdout == "epoch 1\n"
    assert gitrun(repo, "log", rid, "--step", "evaluate").stdout == ""  # did not run: nothing printed
    unknown = gitrun(repo, "log", rid, "--step", "deploy")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == f"git run: error: run {rid} has no step 'deploy'; its steps: prepare, train, evaluate\n"
    cmd = _exec(repo, "python", "-c", "print('hi')")
    on_command = gitrun(repo, "log", cmd, "--step", "prepare")
    assert on_command.returncode == 2 and on_command.stderr.count("\n") == 1 and "command run" in on_command.stderr


def test_log_step_reads_a_truncated_log_whole_from_the_cache(repo: Path) -> None:
    from gitruns.cache import local_cache
    from gitruns.hashing import digest_bytes
    from gitruns.repo import open_at

    full = b"".join(b"line %d\n" % i for i in range(20000))
    digest = local_cache(open_at(str(repo))).store_bytes(full)
    assert digest == digest_bytes(full)
    kept = full[:100] + b"\n[gitruns: bytes omitted here]\n" + full[-100:]

    def truncate(rec: dict[str, Any]) -> None:
        rec["steps"][0]["logs"]["stdout"] = {"size": len(full), "digest": digest, "truncated": True}

    rid = pipeline_run(repo, [step("big", "succeeded", stdout=full)], record_edit=truncate,
                       extra_files={"steps/big/stdout.log": kept})
    assert git(repo, "show", f"refs/runs/{rid}:.gitruns/steps/big/stdout.log").encode() == kept
    proc = subprocess.run(["git", "run", "log", rid, "--step", "big", "--stdout"], cwd=repo, capture_output=True)
    assert proc.returncode == 0 and proc.stdout == full


def test_diff_compares_two_pipeline_runs_step_by_step(repo: Path) -> None:
    a = pipeline_run(repo, [step("prepare", "succeeded", duration=1.5, metrics={"rows": 100}),
                            step("train", "failed", ["prepare"], duration=3.25, attempts=2, error="exit 1",
                                 metrics={"loss": 0.5}),
                            step("old", "succeeded", ["prepare"], duration=0.5)])
    b = pipeline_run(repo, [step("prepare", "cached", duration=0.01, metrics={"rows": 100}, cached_from=(a, "prepare")),
                            step("train", "succeeded", ["prepare"], duration=2.5, metrics={"loss": 0.25}),
                            step("report", "succeeded", ["train"], duration=0.25)],
                     started=BASE + dt.timedelta(minutes=5))
    proc = gitrun(repo, "diff", a, b)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout[proc.stdout.index("\nsteps:\n") + 1:]
    assert tail == (
        "steps:\n"
        f"  ~ prepare: succeeded 1.50s -> cached 0.01s (from {a[:12]}/prepare)\n"
        "  ~ train: failed 3.25s (2 attempts) -> succeeded 2.50s\n"
        "      loss: 0.5 -> 0.25 (-0.25)\n"
        f"  + report: succeeded 0.25s (only in {b[:8]})\n"
        f"  - old: succeeded 0.50s (only in {a[:8]})\n"
    )
    assert "train.loss: 0.5 -> 0.25 (-0.25)" in proc.stdout  # the run's own metrics section, as before
    steps = json.loads(gitrun(repo, "diff", "--json", a, b).stdout)["steps"]
    assert [(s["name"], (s["a"] or {}).get("status"), (s["b"] or {}).get("status")) for s in steps] == [
        ("prepare", "succeeded", "cached"), ("train", "failed", "succeeded"), ("report", None, "succeeded"),
        ("old", "succeeded", None)]
    assert steps[0]["b"]["cached_from"] == {"run": a, "step": "prepare"} and steps[0]["metrics"] == {}
    assert steps[1]["metrics"] == {"loss": {"a": 0.5, "b": 0.25, "delta": -0.25}}
    assert (steps[1]["a"]["duration_s"], steps[1]["b"]["duration_s"], steps[1]["a"]["attempts"]) == (3.25, 2.5, 2)
    # Two command runs: no steps part, the output as before.
    c1, c2 = _exec(repo, "python", "-c", "pass"), _exec(repo, "python", "-c", "print(1)")
    assert "steps" not in json.loads(gitrun(repo, "diff", "--json", c1, c2).stdout)
    assert "steps:" not in gitrun(repo, "diff", c1, c2).stdout


def test_the_read_api_sees_steps(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gitruns

    rid = pipeline_run(repo, FOUR)
    cmd = _exec(repo, "python", "-c", "print('hi')")
    monkeypatch.chdir(repo)
    run = gitruns.load(rid)
    assert run.kind == "pipeline" and gitruns.load(cmd).kind == "command" and gitruns.load(cmd).steps == []
    by_name = {s.name: s for s in run.steps}
    assert [s.name for s in run.steps] == ["prepare", "train", "evaluate", "features"]
    assert (by_name["train"].status, by_name["train"].attempts, by_name["train"].error) \
        == ("failed", 3, "exit 1: loss went to nan")
    assert by_name["features"].cached_from == ("01jd3kx5q7e8r9s0t1v2w3x4y5", "features")
    assert by_name["prepare"].metrics == {"rows": 100} and by_name["prepare"].duration_s == 1.5
    assert by_name["evaluate"].needs == ["train", "features"] and by_name["evaluate"].duration_s is None
    assert gitruns.logs(rid, step="prepare") == "prepared 100 rows\n"
    assert gitruns.logs(rid, "stderr", step="train") == "Traceback: loss is nan\n"
    assert run.step_logs("train").stderr == "Traceback: loss is nan\n"
    with pytest.raises(gitruns.UsageError, match="has no step 'nope'; its steps: prepare, train"):
        gitruns.logs(rid, step="nope")
    assert [r.id for r in gitruns.runs(kind="pipeline")] == [rid]
    frame = gitruns.runs().to_pandas()
    assert list(frame.columns[:8]) == ["id", "name", "status", "started", "duration", "kind", "steps", "failed_step"]
    assert dict(zip(frame["id"], frame["kind"], strict=True)) == {rid: "pipeline", cmd: "command"}


def test_show_of_a_record_written_before_pipelines(tmp_path: Path) -> None:
    """tests/data/run-v2.json was written by the code of issue 8; show reads it as a command run."""
    raw = (ROOT / "tests" / "data" / "run-v2.json").read_bytes()
    old = json.loads(raw)
    repo = make_repo(tmp_path / "old", {"a.py": "pass\n"})
    plant_record(repo, raw, "a run written by the code of issue 8")
    proc = gitrun(repo, "show", old["id"][:12], env=UTF8)
    assert proc.returncode == 0, proc.stderr
    assert "run 01m85w43nc4gdqtg4k259fbppb  (v2-run)\nstatus:     succeeded (exit 0)\n" in proc.stdout
    assert "command:    python train.py --lr 0.1\n" in proc.stdout
    assert "steps:" not in proc.stdout and "pipeline:" not in proc.stdout
    listed = gitrun(repo, "ls").stdout
    assert "python train.py --lr 0.1" in listed
    step_log = gitrun(repo, "log", old["id"], "--step", "x")
    assert step_log.returncode == 2 and "command run" in step_log.stderr


def test_a_pipeline_record_written_before_reruns_stays_readable(tmp_path: Path) -> None:
    """tests/data/run-v3-pipeline.json was written by the code of issue 9 (schema 3): a
    pipeline failed at its middle step.  Read today, it is a group of its own."""
    raw = (ROOT / "tests" / "data" / "run-v3-pipeline.json").read_bytes()
    old = json.loads(raw)
    repo = make_repo(tmp_path / "old", {"a.py": "pass\n"})
    plant_record(repo, raw, "a pipeline run written by the code of issue 9")
    shown = json.loads(gitrun(repo, "show", old["id"], "--json").stdout)
    assert shown["schema"] == 5 and shown["run_group"] == old["id"] and shown["rerun"] is None
    assert [(s["name"], s["status"]) for s in shown["steps"]] \
        == [("prepare", "succeeded"), ("train", "failed"), ("report", "skipped")]
    proc = gitrun(repo, "show", old["id"][:12])
    assert proc.returncode == 0 and "train" in proc.stdout and "failed" in proc.stdout, proc.stderr
