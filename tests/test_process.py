"""The command as a process: streaming, terminals, signals, crashes, big output, many at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import git, gitrun, latest, on_a_terminal, record, run_ids, validate

WAIT_FOR_GO = (
    "import os, sys, time\n"
    "print('ready', flush=True)\n"
    "for _ in range(600):\n"
    "    if os.path.exists('go'): break\n"
    "    time.sleep(0.05)\n"
    "else:\n"
    "    sys.exit(9)\n"
    "print('after go')\n"
)

TRAP = (
    "import signal, sys, time\n"
    "def bye(signum, frame):\n"
    "    print('child got', signal.Signals(signum).name, flush=True)\n"
    "    sys.exit(5)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "signal.signal(signal.SIGINT, bye)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _start(repo: Path, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(["git", "run", "exec", *args], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]


def test_output_streams_while_the_command_runs(repo: Path) -> None:
    proc = _start(repo, "--", "python", "-c", WAIT_FOR_GO)
    assert proc.stdout is not None
    # If gitruns buffered the stream, 'ready' would only come after the command ended,
    # and the command ends only once it sees 'go' (else it exits 9).
    assert proc.stdout.readline() == "ready\n"
    (repo / "go").write_text("")
    out, _ = proc.communicate(timeout=60)
    assert out == "after go\n" and proc.returncode == 0
    assert record(repo, name="stdout.log") == "ready\nafter go\n"


def test_a_terminal_stays_a_terminal_and_colours_survive(repo: Path) -> None:
    code = "import sys; print('tty=%s' % sys.stdout.isatty()); print('\\x1b[31mred\\x1b[0m')"
    status, seen = on_a_terminal(repo, ["git", "run", "exec", "--", "python", "-c", code], stdout=True, stderr=True)
    assert status == 0
    assert b"tty=True" in seen and b"\x1b[31mred\x1b[0m" in seen
    log = record(repo, name="stdout.log")
    assert "tty=True" in log and "\x1b[31mred\x1b[0m" in log


def test_sigterm_is_forwarded_and_the_run_is_canceled(repo: Path) -> None:
    proc = _start(repo, "--", "python", "-c", TRAP)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    running = record(repo)
    assert running["status"] == "running"
    os.kill(running["pid"], signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert "child got SIGTERM" in out
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "canceled" and rec["exit_code"] == 5
    assert "SIGTERM received" in rec["error"]["message"]
    assert proc.returncode == 5


def test_interrupt_through_git_cancels_the_run(repo: Path) -> None:
    # git itself passes the signal on to git-run, which passes it to the command.
    proc = _start(repo, "--", "python", "-c", TRAP)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "child got SIGINT" in out
    assert record(repo)["status"] == "canceled"


def test_killed_recorder_leaves_a_record_readers_show_as_crashed(repo: Path) -> None:
    proc = _start(repo, "--", "python", "-c", WAIT_FOR_GO)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    rid = latest(repo)
    running = record(repo, rid)
    os.kill(running["pid"], signal.SIGKILL)
    proc.wait(timeout=60)
    (repo / "go").write_text("")  # let the orphaned command finish
    time.sleep(0.2)
    rec = record(repo, rid)
    assert rec["status"] == "running"  # what the record says ...
    listed = json.loads(gitrun(repo, "ls", "--json").stdout)
    assert listed[0]["id"] == rid and listed[0]["status"] == "crashed"  # ... and what readers derive
    assert listed[0]["recorded_status"] == "running"
    table = gitrun(repo, "ls", "--status", "crashed").stdout
    assert rid[:8] in table and "crashed" in table
    assert "crashed" in gitrun(repo, "show", rid[:10]).stdout


def test_huge_output_is_capped_in_git_and_kept_whole_in_the_cache(repo: Path) -> None:
    git(repo, "config", "gitruns.logMaxSize", "64k")
    code = "import sys\nfor i in range(100000): sys.stdout.write('line %06d of a long log\\n' % i)\n"
    proc = gitrun(repo, "exec", "--", "python", "-c", code)
    assert proc.returncode == 0
    full = "".join(f"line {i:06d} of a long log\n" for i in range(100000))
    assert proc.stdout == full
    rid = latest(repo)
    size = int(git(repo, "cat-file", "-s", f"refs/runs/{rid}:.gitruns/stdout.log"))
    assert size < 64 * 1024 + 512
    stored = record(repo, rid, "stdout.log")
    assert stored.startswith("line 000000") and stored.endswith("line 099999 of a long log\n")
    assert "bytes omitted here" in stored
    rec = record(repo, rid)
    assert rec["logs"]["stdout"]["size"] == len(full) and rec["logs"]["stdout"]["truncated"] is True
    assert gitrun(repo, "log", rid, "--stdout").stdout == full


def test_twenty_runs_at_once_all_end_complete(repo: Path) -> None:
    before = git(repo, "status", "--porcelain")
    procs = [
        subprocess.Popen(["git", "run", "exec", "--name", f"par{i}", "-p", f"i={i}", "--",
                          "python", "-c", f"import gitruns; gitruns.log_metric('i', {i}); print({i})"],
                         cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(20)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, [o[1] for o in outs]
    ids = run_ids(repo)
    assert len(ids) == 20 and len(set(ids)) == 20
    seen = set()
    for rid in ids:
        rec = record(repo, rid)
        validate(rec)
        assert rec["status"] == "succeeded"
        i = int(rec["name"][3:])
        assert rec["metrics"] == {"i": i}
        assert record(repo, rid, "stdout.log") == f"{i}\n"
        seen.add(i)
    assert seen == set(range(20))
    assert git(repo, "status", "--porcelain") == before
    listed = json.loads(gitrun(repo, "ls", "--json").stdout)
    assert len(listed) == 20
