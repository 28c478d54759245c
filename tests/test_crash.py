"""Internal errors (bugs): exit 3, one line naming a crash log, the traceback with --debug.

A real bug is provoked from outside the package: a ``sitecustomize`` module on
PYTHONPATH (which Python imports at start-up, before ``git-run`` runs) replaces
one gitruns function with one that raises.  Production code holds no test hook.
"""
from __future__ import annotations

import re
from pathlib import Path

from conftest import git, gitrun, make_repo, run_ids

import gitruns

FAULT = "injected fault near https://ada:hunter2@example.com/data"


def _fault(tmp_path: Path, module: str, function: str) -> dict[str, str]:
    """Environment that makes gitruns.<module>.<function> raise a RuntimeError."""
    where = tmp_path / "fault"
    where.mkdir(exist_ok=True)
    (where / "sitecustomize.py").write_text(
        f"import gitruns.{module} as target\n\n"
        "def broken(*args, **kwargs):\n"
        f"    raise RuntimeError({FAULT!r})\n\n"
        f"target.{function} = broken\n"
    )
    return {"PYTHONPATH": str(where)}


def _one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1, stderr
    return stderr.rstrip("\n")


def test_a_bug_exits_3_with_one_line_naming_the_crash_log(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "pass\n"})
    assert gitrun(repo, "exec", "--", "python", "train.py").returncode == 0
    proc = gitrun(repo, "ls", env=_fault(tmp_path, "timeutil", "human_duration"))
    assert proc.returncode == 3 and proc.stdout == ""
    line = _one_line(proc.stderr)
    log = repo / ".git" / "gitruns" / "crash.log"
    assert line == ("git run: internal error: RuntimeError: injected fault near "
                    f"https://ada:<redacted>@example.com/data (the crash log is {log}; "
                    "rerun with 'git run --debug ...' for the traceback)")
    text = log.read_text()
    assert "command: git run ls\n" in text
    assert f"gitruns: {gitruns.__version__}\n" in text
    git_version = git(repo, "--version").strip().removeprefix("git version ")
    assert f"git: {git_version}\n" in text
    assert re.search(r"^python: 3\.\d+\.\d+", text, re.M) and re.search(r"^pygit2: \d+\.\d+", text, re.M)
    assert re.search(r"^platform: \S+", text, re.M)
    # The traceback reaches the fault, through the verb's own code.
    assert "Traceback (most recent call last):" in text and "in broken" in text
    assert re.search(r'File ".*gitruns[/\\]commands[/\\]ls\.py", line \d+, in ls\n', text)
    assert text.rstrip().endswith("RuntimeError: injected fault near https://ada:<redacted>@example.com/data")
    assert "hunter2" not in text


def test_the_crash_log_of_a_run_redacts_its_command_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "pass\n"})
    proc = gitrun(repo, "exec", "--name", "long-one", "--", "python", "train.py", "--token", "s3cret",
                  "--db", "postgres://me:pa55@db/x", env=_fault(tmp_path, "runid", "new_id"))
    assert proc.returncode == 3 and "internal error: RuntimeError" in _one_line(proc.stderr)
    assert run_ids(repo) == []
    text = (repo / ".git" / "gitruns" / "crash.log").read_text()
    assert ("command: git run exec --name long-one -- python train.py --token '<redacted>' "
            "--db 'postgres://me:<redacted>@db/x'\n") in text
    assert "s3cret" not in text and "pa55" not in text


def test_debug_prints_the_traceback_and_still_writes_the_log(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "pass\n"})
    assert gitrun(repo, "exec", "--", "python", "train.py").returncode == 0
    env = _fault(tmp_path, "timeutil", "human_duration")
    log = repo / ".git" / "gitruns" / "crash.log"
    for args, extra in ((["--debug", "ls"], {}), (["ls"], {"GITRUNS_DEBUG": "1"})):
        log.unlink(missing_ok=True)
        proc = gitrun(repo, *args, env={**env, **extra})
        assert proc.returncode == 3, proc.stderr
        lines = proc.stderr.splitlines()
        assert lines[0] == "Traceback (most recent call last):"
        assert lines[-2] == f"RuntimeError: {FAULT}"  # the user's own terminal: shown as raised
        assert lines[-1] == f"git run: internal error (the crash log is {log})"
        assert log.exists()


def test_outside_a_repository_the_crash_log_goes_to_the_cache_dir(tmp_path: Path) -> None:
    cache = tmp_path / "xdg-cache"
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    env = {**_fault(tmp_path, "repo", "open_repo"), "XDG_CACHE_HOME": str(cache),
           "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    proc = gitrun(nowhere, "ls", env=env)
    log = cache / "gitruns" / "crash.log"
    assert proc.returncode == 3 and f"(the crash log is {log};" in _one_line(proc.stderr)
    assert "command: git run ls\n" in log.read_text()


def test_a_bug_while_exec_finishes_keeps_the_outcome_and_leaves_a_crash_log(tmp_path: Path) -> None:
    """exec cannot exit 3 over a bug in folding outputs into the record: the run still
    gets its final record and the command's exit code; the bug leaves the crash log."""
    repo = make_repo(tmp_path / "repo", {"train.py": "open('model.bin', 'w').write('w')\n"})
    proc = gitrun(repo, "exec", "-o", "model.bin", "--", "python", "train.py",
                  env=_fault(tmp_path, "outputs", "store_all"))
    assert proc.returncode == 0, proc.stderr
    log = repo / ".git" / "gitruns" / "crash.log"
    assert "incomplete: RuntimeError: injected fault" in proc.stderr and f"the crash log is {log}" in proc.stderr
    text = log.read_text()
    assert "command: git run exec -o model.bin -- python train.py\n" in text and "in broken" in text
    rid = run_ids(repo)[-1]
    rec = __import__("json").loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json"))
    assert rec["status"] == "succeeded" and "could not complete the record" in rec["error"]["message"]
