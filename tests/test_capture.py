"""Output capture is complete: grandchildren holding the stream, kill -9 of the
recorder, readers that go away, logs bigger than memory, a full disk."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, gitrun, latest, record, validate
from realparts import missing

MiB = 1024 * 1024


def _kill_pid_file(path: Path) -> None:
    """End a process a test's command left behind (its pid is in PATH)."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# -- 1. a grandchild keeps the stream open --------------------------------------------------

def test_everything_printed_is_recorded_when_a_grandchild_holds_the_streams(repo: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # 200 KB of numbered lines, then a final result line without a newline; then a
    # background grandchild inherits stdout and stderr and outlives the command.
    script = (
        "import os, subprocess, sys\n"
        "for i in range(10000): sys.stdout.write('line %05d of the log\\n' % i)\n"
        "sys.stdout.write('RESULT-LINE accuracy=0.93')\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write('warning: last words\\n'); sys.stderr.flush()\n"
        f"p = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
    )
    expected = "".join(f"line {i:05d} of the log\n" for i in range(10000)) + "RESULT-LINE accuracy=0.93"
    out_file, err_file = tmp_path / "out", tmp_path / "err"
    try:
        # Files, not pipes: the grandchild holds whatever it inherited, pipes to us included.
        with open(out_file, "wb") as out, open(err_file, "wb") as err:
            proc = subprocess.run(["git", "run", "exec", "--", sys.executable, "-c", script], cwd=repo,
                                  stdout=out, stderr=err, timeout=120)
        assert proc.returncode == 0, err_file.read_text()
        assert out_file.read_text() == expected  # what the user saw ...
        rid = latest(repo)
        assert record(repo, rid, "stdout.log") == expected  # ... is what was recorded, byte for byte
        assert record(repo, rid, "stderr.log") == "warning: last words\n"
        rec = record(repo, rid)
        validate(rec)
        assert rec["status"] == "succeeded" and rec["exit_code"] == 0
        assert rec["logs"]["stdout"]["size"] == len(expected)
        # The record says capture was cut short by a process still holding the streams.
        assert rec["error"]["type"] == "capture"
        assert "still held" in rec["error"]["message"]
        assert gitrun(repo, "log", rid, "--stdout").stdout == expected
    finally:
        _kill_pid_file(pid_file)


# -- 2. kill -9 of git run exec ------------------------------------------------------------

def test_after_kill_9_of_the_recorder_log_shows_what_the_command_printed(repo: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    pid_file = tmp_path / "child.pid"
    script = (
        "import os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "sys.stdout.write('epoch 1 loss 0.5\\nepoch 2 loss 0.25\\n'); sys.stdout.flush()\n"
        "sys.stderr.write('still training\\n'); sys.stderr.flush()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.05)\n"
    )
    proc = subprocess.Popen(["git", "run", "exec", "--", sys.executable, "-c", script], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"epoch 1 loss 0.5\n"
        assert proc.stdout.readline() == b"epoch 2 loss 0.25\n"
        assert proc.stderr.readline() == b"still training\n"
        rid = latest(repo)
        os.kill(record(repo, rid)["pid"], signal.SIGKILL)  # the git-run process itself
        proc.wait(timeout=60)
        listed = json.loads(gitrun(repo, "ls", "--json").stdout)
        assert listed[0]["id"] == rid and listed[0]["status"] == "crashed"
        shown = gitrun(repo, "log", rid)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == "epoch 1 loss 0.5\nepoch 2 loss 0.25\n"
        assert "still training\n" in shown.stderr
        assert gitrun(repo, "log", rid, "--stdout").stdout == "epoch 1 loss 0.5\nepoch 2 loss 0.25\n"
    finally:
        go.write_text("")
        _kill_pid_file(pid_file)
        proc.kill()
        proc.wait(timeout=60)


# -- 3. our reader goes away ---------------------------------------------------------------

# Prints 100 MB (bounded, so an old gitruns that keeps spooling still ends), with SIGPIPE
# at its default action, as `yes`, `cat` and most programs have it.
WRITER = (
    "import signal, sys\n"
    "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
    "chunk = b'y\\n' * 50000\n"
    "for _ in range(1000): sys.stdout.buffer.write(chunk)\n"
)


@pytest.mark.parametrize("reader", ["head -1", "grep -m1 y"])
def test_exec_into_a_reader_that_quits_ends_like_the_plain_pipeline(repo: Path, reader: str) -> None:
    plain = subprocess.run(["bash", "-c", f'{sys.executable} -c "$0" | {reader}; echo "${{PIPESTATUS[0]}}" >&2',
                            WRITER], cwd=repo, capture_output=True, text=True, timeout=120)
    assert plain.stdout == "y\n" and plain.stderr.strip() == "141"  # what a plain pipeline does
    piped = subprocess.run(["bash", "-c", f'git run exec -- {sys.executable} -c "$0" | {reader}; '
                            'echo "${PIPESTATUS[0]}" >&2', WRITER],
                           cwd=repo, capture_output=True, text=True, timeout=120)
    assert piped.stdout == "y\n"
    assert piped.stderr.strip().splitlines()[-1] == "141", piped.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["signal"] == "SIGPIPE" and rec["exit_code"] == 141
    assert rec["logs"]["stdout"]["size"] < 8 * MiB  # not the 100 MB the writer would have printed


def test_exec_onto_a_terminal_that_goes_away_ends_the_command(repo: Path, tmp_path: Path) -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(["git", "run", "exec", "--", sys.executable, "-c", WRITER], cwd=repo,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    try:
        assert os.read(master, 100).startswith(b"y")
    finally:
        os.close(master)  # the terminal is gone
    assert proc.wait(timeout=120) != 0
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed"
    assert rec["logs"]["stdout"]["size"] < 8 * MiB


# -- 4. git run log streams ----------------------------------------------------------------

BIG = (
    "import sys\n"
    "block = bytes(range(256)) * 4096\n"
    "for i in range(200): sys.stdout.buffer.write(b'%08d' % i + block)\n"
    "sys.stdout.buffer.write(b'THE END, no newline')\n"
)


def _big_expected() -> tuple[int, str]:
    block = bytes(range(256)) * 4096
    sha = hashlib.sha256()
    size = 0
    for i in range(200):
        piece = b"%08d" % i + block
        sha.update(piece)
        size += len(piece)
    sha.update(b"THE END, no newline")
    return size + len(b"THE END, no newline"), sha.hexdigest()


MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "sys.stderr.write('MAXRSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def _log_stdout_measured(repo: Path, rid: str) -> tuple[int, str, int]:
    """`git run log RID --stdout`: the bytes it wrote (count, sha256) and its peak memory in KB."""
    reader = subprocess.Popen([sys.executable, "-c", MEASURE, "git", "run", "log", rid, "--stdout"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None
    got = hashlib.sha256()
    n = 0
    while chunk := reader.stdout.read(MiB):
        got.update(chunk)
        n += len(chunk)
    err = reader.stderr.read().decode() if reader.stderr else ""
    assert reader.wait(timeout=300) == 0, err
    return n, got.hexdigest(), int(err.rsplit("MAXRSS_KB=", 1)[1].split()[0])


def test_log_streams_a_large_log_whole_in_bounded_memory(repo: Path) -> None:
    git(repo, "config", "gitruns.logMaxSize", "64k")  # the full log lives in the artifact cache
    size, sha = _big_expected()
    proc = subprocess.run(["git", "run", "exec", "--", sys.executable, "-c", BIG], cwd=repo,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    meta = record(repo, rid)["logs"]["stdout"]
    assert meta["size"] == size and meta["truncated"] is True
    n, digest, maxrss_kb = _log_stdout_measured(repo, rid)
    assert (n, digest) == (size, sha)  # every byte, in order
    assert maxrss_kb * 1024 < size / 2, f"git run log peaked at {maxrss_kb} KB for a {size} byte log"


def test_log_into_a_reader_that_quits_is_quiet(repo: Path) -> None:
    git(repo, "config", "gitruns.logMaxSize", "64k")
    assert subprocess.run(["git", "run", "exec", "--", sys.executable, "-c", BIG.replace("range(200)", "range(20)")],
                          cwd=repo, stdout=subprocess.DEVNULL, timeout=120).returncode == 0
    rid = latest(repo)
    proc = subprocess.run(["bash", "-c", f"git run log {rid} | head -c 10"], cwd=repo,
                          capture_output=True, timeout=120)
    assert proc.stdout == b"00000000\x00\x01"
    assert proc.stderr == b""


# -- 5. disk full while capturing ----------------------------------------------------------

@pytest.fixture
def full_work_dir(repo: Path) -> Iterator[Path]:
    """The repository's capture spools (.git/gitruns/work) on a 1 MiB tmpfs; the
    object store, where the record goes, stays on the ordinary disk."""
    work = repo / ".git" / "gitruns" / "work"
    work.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(work)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        missing("tmpfs", f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield work
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)


def test_disk_full_while_capturing_is_a_failed_run_and_the_command_ends_normally(
        repo: Path, full_work_dir: Path) -> None:
    script = (
        "import sys\n"
        "for i in range(60000): sys.stdout.write('%06d of a long output\\n' % i)\n"  # 1.4 MB
        "sys.stderr.write('done\\n')\n"
    )
    expected = "".join(f"{i:06d} of a long output\n" for i in range(60000))
    proc = subprocess.Popen(["git", "run", "exec", "--", sys.executable, "-c", script], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0  # the command's own exit code
    assert out == expected  # the command ran to its end and the user saw all of it
    assert "Traceback" not in err and "Exception" not in err
    ours = [line for line in err.splitlines() if line.startswith("gitruns:")]
    # One error as it happened, then exec's final line with the outcome.
    assert len(ours) == 2 and "No space left" in ours[0], err
    assert ours[1].startswith("gitruns: run ") and " failed (exit 0, disk full) in " in ours[1], err
    assert err.replace(ours[0] + "\n", "").replace(ours[1] + "\n", "") == "done\n"
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 0
    assert rec["error"]["type"] == "disk_full"
    # What fit is kept, and is a true prefix of what was printed.
    kept = record(repo, name="stdout.log")
    assert 0 < len(kept) < len(expected) and expected.startswith(kept)


def test_log_streams_a_large_log_held_in_git_from_a_fetched_record(repo: Path) -> None:
    """A teammate's record can hold a log of any size in git (not only up to our
    gitruns.logMaxSize): `git run log` streams it too."""
    from test_trust_records import craft, run

    rid = run(repo, sys.executable, "-c", "print('short')")
    big = b"".join(b"%09d a line of the command's output\n" % i for i in range(4_000_000))  # 148 MB
    craft(repo, rid, {"stdout.log": big})
    size, sha = len(big), hashlib.sha256(big).hexdigest()
    del big
    n, digest, maxrss_kb = _log_stdout_measured(repo, rid)
    assert (n, digest) == (size, sha)
    assert maxrss_kb * 1024 < size / 2, f"git run log peaked at {maxrss_kb} KB for a {size} byte log"
