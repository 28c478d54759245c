"""git run cancel: a running run of this machine stopped and recorded canceled."""
from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import gitrun, make_repo, plant_record, record, run_ids, untouched, validate

LOOP = "import time\nwhile True:\n    time.sleep(0.05)\n"
STUBBORN = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "open('ready', 'w').close()\nwhile True:\n    time.sleep(0.05)\n")


def start(repo: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["git", "run", *args], cwd=repo, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def wait_running(repo: Path, proc: subprocess.Popen[bytes], ready: Path | None = None,
                 step_started: str | None = None) -> str:
    """The run id once the run is recorded running (and its command is ready)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        ids = run_ids(repo)
        if ids and (ready is None or ready.exists()):
            rec = record(repo, ids[-1])
            if step_started is None or any(s["name"] == step_started and s["status"] == "running"
                                           for s in rec.get("steps") or []):
                return ids[-1]
        time.sleep(0.05)
    raise AssertionError("the run did not start")


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return True
    return state in (b"Z", b"X")


def command_pids(pid: int) -> list[int]:
    """Every process below ``pid``."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = open(f"/proc/{name}/stat", "rb").read()
            except OSError:
                continue
            if int(raw.rsplit(b")", 1)[1].split()[1]) == pid:
                out.append(int(name))
                out.extend(command_pids(int(name)))
    return out


def test_cancel_of_a_long_exec_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"loop.py": LOOP})
    before = untouched(repo)
    proc = start(repo, "exec", "--", "python", "loop.py")
    rid = wait_running(repo, proc)
    children = command_pids(proc.pid)
    assert children
    done = gitrun(repo, "cancel", rid[:10])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"run {rid[:12]} canceled by {getpass.getuser()} at ")
    proc.wait(30)
    assert all(gone(p) for p in children)
    rec = record(repo, rid)
    validate(rec)
    assert rec["status"] == "canceled"
    assert rec["cancel"]["by"] == getpass.getuser() and rec["cancel"]["at"]
    assert rec["cancel"]["killed"] is False and rec["cancel"]["grace_s"] == 10.0
    assert rec["error"]["type"] == "canceled"
    assert rec["error"]["message"].startswith(f"canceled by {getpass.getuser()} at {rec['cancel']['at']}")
    assert untouched(repo) == before
    again = gitrun(repo, "cancel", rid)
    assert again.returncode == 1
    assert f"run {rid[:12]} already ended (canceled at " in again.stderr


def test_a_command_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"stubborn.py": STUBBORN, ".gitignore": "ready\n"})
    proc = start(repo, "exec", "--", "python", "stubborn.py")
    rid = wait_running(repo, proc, ready=repo / "ready")
    children = command_pids(proc.pid)
    done = gitrun(repo, "cancel", "--grace", "1", rid)
    assert done.returncode == 0, done.stderr
    assert "SIGKILL" in done.stdout
    proc.wait(30)
    assert all(gone(p) for p in children)
    rec = record(repo, rid)
    assert rec["status"] == "canceled" and rec["cancel"]["killed"] is True and rec["cancel"]["grace_s"] == 1.0
    assert rec["signal"] == "SIGKILL"


def test_a_grandchild_is_gone_too(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    proc = start(repo, "exec", "--", "sh", "-c", "sleep 600 & wait")
    rid = wait_running(repo, proc)
    deadline = time.monotonic() + 30
    while len(command_pids(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    family = command_pids(proc.pid)
    assert len(family) >= 2  # sh and its sleep
    done = gitrun(repo, "cancel", "--grace", "2", rid)
    assert done.returncode == 0, done.stderr
    proc.wait(30)
    assert all(gone(p) for p in family)
    assert record(repo, rid)["status"] == "canceled"


def test_cancel_of_a_running_pipeline_step(tmp_path: Path) -> None:
    pipeline = """steps:
  slow:
    cmd: "python -c 'import time\\nwhile True: time.sleep(0.05)'"
    outs: [never.txt]
  after:
    cmd: "echo later > later.txt"
    deps: [never.txt]
    outs: [later.txt]
"""
    repo = make_repo(tmp_path / "repo", {"gitruns.yaml": pipeline, ".gitignore": "never.txt\nlater.txt\n"})
    before = untouched(repo)
    proc = start(repo, "pipeline")
    rid = wait_running(repo, proc, step_started="slow")
    done = gitrun(repo, "cancel", "--grace", "2", rid)
    assert done.returncode == 0, done.stderr
    proc.wait(30)
    rec = record(repo, rid)
    validate(rec)
    steps = {s["name"]: s["status"] for s in rec["steps"]}
    assert rec["status"] == "canceled"
    # A step that had not started is recorded canceled too (as for SIGTERM: engine.py), never run.
    assert steps == {"slow": "canceled", "after": "canceled"}
    after = next(s for s in rec["steps"] if s["name"] == "after")
    assert not after.get("attempts")
    assert rec["cancel"]["by"] == getpass.getuser() and rec["cancel"]["killed"] is False
    assert rec["error"]["message"].startswith("canceled by ")
    assert untouched(repo) == before


def test_a_pipeline_step_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    pipeline = """steps:
  stubborn:
    cmd: "exec python stubborn.py"
"""
    repo = make_repo(tmp_path / "repo", {"gitruns.yaml": pipeline, "stubborn.py": STUBBORN, ".gitignore": "ready\n"})
    proc = start(repo, "pipeline")
    rid = wait_running(repo, proc, ready=repo / "ready", step_started="stubborn")
    steps = command_pids(proc.pid)
    done = gitrun(repo, "cancel", "--grace", "1", rid)
    assert done.returncode == 0, done.stderr
    proc.wait(30)
    assert all(gone(p) for p in steps)
    rec = record(repo, rid)
    assert rec["status"] == "canceled" and rec["cancel"]["killed"] is True
    assert rec["steps"][0]["status"] == "canceled" and rec["steps"][0]["attempts"][-1]["signal"] == "SIGKILL"


def test_a_run_of_another_host_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    raw = json.loads((Path(__file__).parent / "data" / "run-v3.json").read_text())
    raw.update({"status": "running", "host": "elsewhere", "ended_at": None, "exit_code": None,
                "duration_s": None})
    rid = plant_record(repo, json.dumps(raw).encode(), "a run of another host")
    proc = gitrun(repo, "cancel", rid)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"git run: error: run {rid[:12]} is running on host elsewhere; cancel it there"


def test_an_ended_run_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    assert gitrun(repo, "exec", "--", "true").returncode == 0
    rid = run_ids(repo)[-1]
    ref = subprocess.run(["git", "rev-parse", f"refs/runs/{rid}"], cwd=repo, capture_output=True, text=True).stdout
    proc = gitrun(repo, "cancel", rid)
    assert proc.returncode == 1
    assert f"run {rid[:12]} already ended (succeeded at " in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert subprocess.run(["git", "rev-parse", f"refs/runs/{rid}"], cwd=repo, capture_output=True,
                          text=True).stdout == ref


def planted_running(repo: Path, pid: int | None, host: str | None = None) -> str:
    """A run recorded running on this host by process ``pid`` (or one that is gone)."""
    import socket

    raw = json.loads((Path(__file__).parent / "data" / "run-v3.json").read_text())
    ticks = None
    if pid is not None:
        stat = open(f"/proc/{pid}/stat", "rb").read()
        ticks = int(stat.rsplit(b")", 1)[1].split()[19])
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    raw.update({"status": "running", "host": host or socket.gethostname(), "ended_at": None, "exit_code": None,
                "duration_s": None, "pid": pid if pid is not None else 2**22 + 7,
                "process": {"boot_id": boot, "start_ticks": ticks}, "error": None})
    return plant_record(repo, json.dumps(raw).encode(), "a running run")


def test_a_crashed_run_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    rid = planted_running(repo, None)
    proc = gitrun(repo, "cancel", rid)
    assert proc.returncode == 1
    assert f"run {rid[:12]} crashed" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_run_whose_process_ends_without_recording_is_recorded_canceled_by_cancel(tmp_path: Path) -> None:
    # The recorded git-run dies of SIGTERM and writes nothing (a stand-in named
    # git-run that only sleeps), so cancel writes the final record itself, a new
    # commit over the last one.
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    stand_in = tmp_path / "bin" / "git-run"
    stand_in.parent.mkdir()
    stand_in.write_text("import time\ntime.sleep(600)\n")
    sleeper = subprocess.Popen([sys.executable, str(stand_in)])
    try:
        rid = planted_running(repo, sleeper.pid)
        last = subprocess.run(["git", "rev-parse", f"refs/runs/{rid}"], cwd=repo, capture_output=True,
                              text=True).stdout.strip()
        proc = gitrun(repo, "cancel", "--grace", "5", "--json", rid)
        assert proc.returncode == 0, proc.stderr
        assert sleeper.wait(10) == -15
    finally:
        sleeper.kill()
    result = json.loads(proc.stdout)
    assert result["status"] == "canceled" and result["record_written_by_cancel"] is True
    rec = record(repo, rid)
    validate(rec)
    assert rec["status"] == "canceled" and rec["cancel"]["by"] == getpass.getuser()
    assert rec["ended_at"] and rec["error"]["type"] == "canceled"
    parent = subprocess.run(["git", "rev-parse", f"refs/runs/{rid}^"], cwd=repo, capture_output=True,
                            text=True).stdout.strip()
    assert parent == last


def test_a_record_naming_a_process_that_is_not_git_run_is_refused(tmp_path: Path) -> None:
    """A record (which may come from someone else) that names any live process with
    its right start time must not make cancel signal it (review)."""
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    victim = subprocess.Popen(["sleep", "600"])
    try:
        rid = planted_running(repo, victim.pid)
        proc = gitrun(repo, "cancel", "--grace", "1", rid)
        assert proc.returncode == 1 and "not a git-run process" in proc.stderr, proc.stderr
        assert victim.poll() is None  # not signalled
        assert record(repo, rid)["status"] == "running"
    finally:
        victim.kill()
        victim.wait()
