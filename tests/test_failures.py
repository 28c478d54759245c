"""Whatever goes wrong around the command, the run still records and exec exits
with the command's own code; bad paths are refused before anything runs.

Disk-full and read-only cases use real mounts (a small tmpfs, a read-only bind
mount): they skip when mounting is not allowed here, unless GITRUNS_TEST_REQUIRE
names "tmpfs", which turns the skip into a failure.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xxhash
from conftest import git, gitrun, latest, make_repo, record, run_ids, state, validate
from realparts import missing


def _strict_json(text: str) -> Any:
    """Parse as strict JSON: NaN and Infinity are not JSON, whatever Python accepts."""
    def refuse(token: str) -> Any:
        raise AssertionError(f"non-JSON token {token} in {text!r}")

    return json.loads(text, parse_constant=refuse)


def _mount_or_skip(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        missing("tmpfs", f"cannot mount {what} here: {proc.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs: a filesystem that runs out of space."""
    where = tmp_path / "small-disk"
    where.mkdir()
    _mount_or_skip(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], "a 2 MiB tmpfs")
    try:
        yield where
    finally:
        _umount(where)


def _read_only(path: Path) -> None:
    """Make ``path`` read-only even for root: a read-only bind mount of itself."""
    _mount_or_skip(["mount", "--bind", str(path), str(path)], f"a bind mount of {path}")
    proc = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        _umount(path)
        _mount_or_skip(["false"], f"a read-only remount of {path} ({proc.stderr.strip()})")


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line]


# -- 1. non-finite metric values ------------------------------------------------

def test_nan_and_infinity_in_metrics_files_and_from_code_still_record(repo: Path) -> None:
    code = (
        "import json, gitruns\n"
        "json.dump({'loss': float('nan'), 'grad': {'norm': float('inf')}, 'acc': 0.5}, open('m.json', 'w'))\n"
        "open('m.yaml', 'w').write('low: -.inf\\nval: .nan\\n')\n"
        "gitruns.log_metric('lr', float('-inf'), step=1)\n"
        "gitruns.log_params(lr=float('nan'), depth=3)\n"
        "raise SystemExit(5)\n"
    )
    proc = gitrun(repo, "exec", "-m", "m.json", "-m", "m.yaml", "--", "python", "-c", code)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    rid = latest(repo)
    raw = git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json")
    rec = _strict_json(raw)
    validate(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 5
    assert rec["metrics"] == {"acc": 0.5, "grad.norm": "inf", "loss": "nan", "low": "-inf", "lr": "-inf",
                              "val": "nan"}
    assert rec["params"] == {"lr": "nan", "depth": 3}
    points = [_strict_json(line) for line in record(repo, rid, "metrics.jsonl").splitlines()]
    assert {p["name"]: p["value"] for p in points}["loss"] == "nan"
    assert len(points) == 6


# -- 2. disk full while storing outputs ---------------------------------------------

def test_disk_full_while_storing_outputs_records_a_failed_run_with_the_commands_code(
        repo: Path, small_disk: Path) -> None:
    git(repo, "config", "gitruns.cacheDir", str(small_disk / "cache"))
    git(repo, "config", "gitruns.linkType", "copy")
    big = os.urandom(3 * 1024 * 1024)
    (repo / "big.src").write_bytes(big)
    code = "import shutil; shutil.copy('big.src', 'big.bin'); open('small.txt', 'w').write('small')"
    proc = gitrun(repo, "exec", "-o", "big.bin", "-o", "small.txt", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and "big.bin" in errors[0] and "No space left" in errors[0], proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 0
    assert rec["error"]["type"] == "disk_full" and "big.bin" in rec["error"]["message"]
    arts = {a["path"]: a for a in rec["artifacts"]}
    # The output could not be kept, but what it was is known: its digest is recorded.
    assert arts["big.bin"]["status"] == "error" and "No space left" in arts["big.bin"]["error"]
    assert arts["big.bin"]["digest"] == "xxh3_128:" + xxhash.xxh3_128_hexdigest(big)
    assert arts["big.bin"]["size"] == len(big)
    assert arts["small.txt"]["status"] == "stored"
    # No half-written object or temporary file is left filling the disk.
    leftovers = [p.name for p in (small_disk / "cache").rglob("*") if p.is_file() and p.stat().st_size > 100_000]
    assert leftovers == []

    # A command that failed keeps its own failure as the error; the storage problem is added.
    proc = gitrun(repo, "exec", "-o", "big.bin", "--", "python", "-c", code + "; raise SystemExit(9)")
    assert proc.returncode == 9
    assert len(_error_lines(proc.stderr)) == 1, proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 9 and rec["error"]["type"] == "exit"
    assert any("No space left" in p for p in rec["error"]["record_problems"])

    # A log too big for git whose full copy cannot be cached: head and tail stay in git.
    git(repo, "config", "gitruns.logMaxSize", "1k")
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 64 * 1024))  # leave less than the log
    proc = gitrun(repo, "exec", "--", "python", "-c", "print('x' * 200_000)")
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr and len(_error_lines(proc.stderr)) == 1, proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["error"]["type"] == "disk_full"
    assert rec["logs"]["stdout"]["size"] == 200_001 and rec["logs"]["stdout"]["truncated"] is True
    assert record(repo, name="stdout.log").startswith("xxxx")


# -- 3. a git directory that cannot be written ------------------------------------

@pytest.mark.parametrize("unwritable", [".git", ".git/objects"])
def test_an_unwritable_git_directory_is_one_line_before_the_command_starts(repo: Path, unwritable: str) -> None:
    before = state(repo)
    target = repo / unwritable
    _read_only(target)
    try:
        proc = gitrun(repo, "exec", "--", "python", "-c", "open('ran.txt', 'w').write('ran')")
    finally:
        _umount(target)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("git run: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Read-only file system" in proc.stderr
    assert not (repo / "ran.txt").exists()  # the command never ran
    assert run_ids(repo) == []
    assert state(repo) == before
    assert not list((repo / ".git" / "gitruns" / "work").glob("*"))  # nothing half-made left behind


def test_a_state_directory_that_cannot_be_made_is_one_line_before_the_command_starts(repo: Path) -> None:
    (repo / ".git" / "gitruns").write_text("a file where gitruns keeps its directory\n")
    proc = gitrun(repo, "exec", "--", "python", "-c", "open('ran.txt', 'w').write('ran')")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("git run: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert not (repo / "ran.txt").exists()
    assert run_ids(repo) == []


def test_a_git_directory_that_turns_read_only_during_the_run_still_exits_with_the_commands_code(
        repo: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    _read_only(probe)  # skips here when this machine allows no mounts
    _umount(probe)
    objects = repo / ".git" / "objects"
    # The command itself takes the object store away, as a full disk or a remount would.
    code = (f"import subprocess, sys\n"
            f"subprocess.run(['mount', '--bind', {str(objects)!r}, {str(objects)!r}], check=True)\n"
            f"subprocess.run(['mount', '-o', 'remount,bind,ro', {str(objects)!r}], check=True)\n"
            "print('trained'); sys.exit(6)\n")
    try:
        proc = gitrun(repo, "exec", "--", "python", "-c", code)
    finally:
        _umount(objects)
    assert proc.returncode == 6, proc.stderr
    assert proc.stdout == "trained\n"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("gitruns: error: could not write the final record"), proc.stderr
    rid = latest(repo)
    assert record(repo, rid)["status"] == "running"  # only the launch record could be written
    listed = json.loads(gitrun(repo, "ls", "--json").stdout)
    assert [r["status"] for r in listed] == ["crashed"]


# -- 4. an output that cannot be stored --------------------------------------------

def test_an_output_that_is_not_a_regular_file_is_reported_at_the_end(repo: Path) -> None:
    code = "import os; os.mkfifo('pipe.out'); open('ok.txt', 'w').write('ok')"
    proc = gitrun(repo, "exec", "-o", "pipe.out", "-o", "ok.txt", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and "pipe.out" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    rec = record(repo)
    validate(rec)
    arts = {a["path"]: a for a in rec["artifacts"]}
    assert arts["pipe.out"]["status"] == "error" and arts["pipe.out"]["digest"] is None
    assert arts["ok.txt"]["status"] == "stored"
    assert rec["status"] == "failed" and rec["error"]["type"] == "storage"


def test_an_output_its_user_cannot_read_is_reported_at_the_end(tmp_path: Path) -> None:
    """As an unprivileged user (root reads everything): an output left mode 000."""
    import pwd
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run git run as an unprivileged user")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    # pytest's tmp_path lies under a 0700 directory of root: use one the user can reach.
    base = Path(tempfile.mkdtemp(prefix="gitruns-nobody-"))
    try:
        base.chmod(0o755)
        repo = make_repo(base / "repo", {"train.py": "print('training')\n"})
        home = base / "home"
        home.mkdir()
        subprocess.run(["chown", "-R", f"{nobody.pw_uid}:{nobody.pw_gid}", str(base)], check=True)
        script = "echo weights > secret.bin; chmod 000 secret.bin; echo ok > ok.txt; test $(id -u) != 0"
        env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        as_nobody = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
        # git-run itself rather than 'git run': git, as another user, refuses to exec a
        # script whose interpreter lies under root's home here; the program is the same.
        exec_argv = [shutil.which("git-run") or "git-run", "exec", "-o", "secret.bin", "-o", "ok.txt", "--",
                     "sh", "-c", script]
        proc = subprocess.run(as_nobody + exec_argv, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
        subprocess.run(["chown", "-R", "0:0", str(base)], check=True)  # for the checks below, and fsck
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        errors = _error_lines(proc.stderr)
        assert len(errors) == 1 and "secret.bin" in errors[0] and "Permission denied" in errors[0], proc.stderr
        rec = record(repo)
        validate(rec)
        arts = {a["path"]: a for a in rec["artifacts"]}
        assert arts["secret.bin"]["status"] == "error" and arts["secret.bin"]["digest"] is None
        assert arts["ok.txt"]["status"] == "stored"
        assert rec["status"] == "failed" and rec["error"]["type"] == "storage" and rec["exit_code"] == 0
    finally:
        subprocess.run(["chown", "-R", "0:0", str(base)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


# -- 5. metrics files missing or malformed ----------------------------------------

def test_missing_and_malformed_metrics_files_are_reported_on_stderr(repo: Path) -> None:
    code = "open('bad.json', 'w').write('{'); open('list.yaml', 'w').write('- 1\\n- 2\\n')"
    proc = gitrun(repo, "exec", "-m", "none.json", "-m", "bad.json", "-m", "list.yaml", "--",
                  "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "metrics file" in line]
    assert len(lines) == 3, proc.stderr
    assert "none.json" in lines[0] and "not written" in lines[0]
    assert "bad.json" in lines[1] and "not valid JSON" in lines[1]
    assert "list.yaml" in lines[2]
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "succeeded" and rec["error"]["type"] == "record"


# -- 6. outputs inside the git directory or outside the tree -----------------------

def test_outputs_inside_the_git_directory_are_refused_at_launch(repo: Path, tmp_path: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "hooks-link").symlink_to(".git/hooks")
    (repo / "gitdir-link").symlink_to(".git")
    git(repo, "worktree", "add", "-q", "--detach", "wt")
    before = state(repo)
    for bad in (".git/x", ".git", "sub/../.git/hooks/x", "hooks-link/x", "gitdir-link", ".GIT/x",
                "wt/.git", ".git/worktrees/wt/x", "./.git/"):
        proc = gitrun(repo, "exec", "-o", bad, "--", "python", "-c", "open('ran.txt', 'w').write('ran')")
        assert proc.returncode == 2, (bad, proc.stderr)
        assert proc.stderr.startswith(f"git run: error: -o {bad}:") and proc.stderr.count("\n") == 1, proc.stderr
        assert not (repo / "ran.txt").exists()
    # From the linked worktree: its own .git file, and its git dir through a symlink.
    wt = repo / "wt"
    (wt / "own-gitdir").symlink_to(repo / ".git" / "worktrees" / "wt")
    for bad in (".git", "own-gitdir/x", "../.git/x"):
        proc = gitrun(wt, "exec", "-o", bad, "--", "python", "-c", "pass")
        assert proc.returncode == 2, (bad, proc.stderr)
        assert proc.stderr.count("\n") == 1, proc.stderr
    assert run_ids(repo) == []
    assert state(repo) == before


def test_log_artifact_refuses_the_git_directory_and_paths_outside_the_tree(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("outside\n")
    code = (
        "import gitruns, sys\n"
        "for path in ('.git/config', '.git', 'sub/../.git/HEAD', '../outside.txt'):\n"
        "    try:\n"
        "        gitruns.log_artifact(path)\n"
        "    except ValueError as exc:\n"
        "        print('refused:', exc)\n"
        "open('fine.txt', 'w').write('fine')\n"
        "gitruns.log_artifact('fine.txt')\n"
    )
    proc = gitrun(repo, "exec", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    refused = [line for line in proc.stdout.splitlines() if line.startswith("refused:")]
    assert len(refused) == 4, proc.stdout
    assert "git directory" in refused[0] and "outside the working tree" in refused[3]
    rec = record(repo)
    validate(rec)
    assert [a["path"] for a in rec["artifacts"]] == ["fine.txt"]

    # A path that reaches the record another way (written to the run's file directly)
    # is refused when the run ends: recorded as an error, never stored.
    code = (
        "import json, os\n"
        "with open(os.path.join(os.environ['GITRUNS_RUN_DIR'], 'artifacts.jsonl'), 'a') as fh:\n"
        "    fh.write(json.dumps({'path': os.path.abspath('.git/config')}) + '\\n')\n"
    )
    proc = gitrun(repo, "exec", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert len(_error_lines(proc.stderr)) == 1 and ".git/config" in proc.stderr, proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["artifacts"][0]["status"] == "error" and "git directory" in rec["artifacts"][0]["error"]
    config_digest = "xxh3_128:" + xxhash.xxh3_128_hexdigest((repo / ".git" / "config").read_bytes())
    hexpart = config_digest.split(":")[1]
    assert not (repo / ".git" / "gitruns" / "cache" / "xxh3_128" / hexpart[:2] / hexpart[2:]).exists()


def test_log_artifact_refuses_the_git_directory_in_a_run_started_from_code(repo: Path) -> None:
    code = (
        "import gitruns\n"
        "with gitruns.start_run(name='nb'):\n"
        "    try:\n"
        "        gitruns.log_artifact('.git/config')\n"
        "    except ValueError as exc:\n"
        "        print('refused:', exc)\n"
    )
    proc = subprocess.run(["python", "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused:") and "git directory" in proc.stdout
    rec = record(repo)
    assert rec["status"] == "succeeded" and rec["artifacts"] == []


# -- 7. the mode of an output ---------------------------------------------------------

def _outputs_code() -> str:
    return ("import os\n"
            "open('model.bin', 'w').write('weights')\n"
            "os.chmod('model.bin', 0o640)\n"
            "open('run.sh', 'w').write('#!/bin/sh\\n')\n"
            "os.chmod('run.sh', 0o755)\n")


def test_a_copied_output_keeps_its_mode(repo: Path, small_disk: Path) -> None:
    for link_type, cache in (("copy", None), ("hardlink,copy", small_disk / "cache")):
        # hardlink,copy with the cache on another filesystem: the link fails, the copy is used.
        git(repo, "config", "gitruns.linkType", link_type)
        if cache is not None:
            git(repo, "config", "gitruns.cacheDir", str(cache))
        for name in ("model.bin", "run.sh"):
            (repo / name).unlink(missing_ok=True)
        proc = gitrun(repo, "exec", "-o", "model.bin", "-o", "run.sh", "--", "python", "-c", _outputs_code())
        assert proc.returncode == 0, proc.stderr
        rec = record(repo)
        assert [a["stored_by"] for a in rec["artifacts"]] == [["copy"], ["copy"]]
        assert stat.S_IMODE((repo / "model.bin").stat().st_mode) == 0o640, link_type
        assert stat.S_IMODE((repo / "run.sh").stat().st_mode) == 0o755, link_type


def test_a_hardlinked_output_is_the_read_only_cache_object(repo: Path) -> None:
    git(repo, "config", "gitruns.linkType", "hardlink")
    proc = gitrun(repo, "exec", "-o", "model.bin", "--", "python", "-c", _outputs_code())
    assert proc.returncode == 0, proc.stderr
    art = record(repo)["artifacts"][0]
    assert art["stored_by"] == ["hardlink"]
    hexpart = art["digest"].split(":")[1]
    cached = repo / ".git" / "gitruns" / "cache" / "xxh3_128" / hexpart[:2] / hexpart[2:]
    assert cached.stat().st_ino == (repo / "model.bin").stat().st_ino
    assert stat.S_IMODE((repo / "model.bin").stat().st_mode) == 0o440


def test_hardlink_documentation_says_the_output_becomes_read_only() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    entry = next(line for line in docs.splitlines() if line.startswith("| `gitruns.linkType`"))
    assert "read-only" in entry and "copy" in entry and "keeps its mode" in entry
