"""Fixtures: real git repositories in temporary folders, isolated from this machine's git.

Every test drives the installed ``git-run`` executable through ``git run``, and
every repository made here is checked with ``git fsck --strict`` afterwards.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["servers"]  # git daemon, sshd and S3 fixtures

BIN_DIR = os.path.dirname(sys.executable)
_REPOS: list[Path] = []


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in list(os.environ):
        if name.startswith(("GIT_", "GITRUNS_")) or name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL",
                                                              "BUILDKITE", "CIRCLECI", "TRAVIS", "TF_BUILD"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Tester")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada Tester")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
    monkeypatch.setenv("PATH", BIN_DIR + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run(["git", "config", "--global", "init.defaultBranch", "main"], check=True)
    subprocess.run(["git", "config", "--global", "user.name", "Ada Tester"], check=True)
    subprocess.run(["git", "config", "--global", "user.email", "ada@example.com"], check=True)
    subprocess.run(["git", "config", "--global", "protocol.file.allow", "always"], check=True)
    _REPOS.clear()
    yield
    for repo in _REPOS:
        if (repo / ".git").exists() or (repo / "HEAD").exists():
            fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo,
                                  capture_output=True, text=True)
            assert fsck.returncode == 0, f"git fsck --strict failed in {repo}:\n{fsck.stdout}{fsck.stderr}"
            assert "error" not in fsck.stderr.lower(), fsck.stderr


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def gitrun(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``git run ARGS`` as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(["git", "run", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, input=input, timeout=timeout)


def make_repo(path: Path, files: dict[str, str] | None = None, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    _REPOS.append(path)
    for name, content in (files or {}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    if commit:
        git(path, "add", "-A")
        git(path, "commit", "-q", "--allow-empty", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"train.py": "print('training')\n", "README": "demo\n"})


def run_ids(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/runs/")
    return sorted(line.removeprefix("refs/runs/") for line in out.split())


def latest(repo: Path) -> str:
    ids = run_ids(repo)
    assert ids, "no run was recorded"
    return ids[-1]


def plant_record(repo: Path, raw: bytes, message: str) -> str:
    """A run.json written by another version, made a run of ``repo`` with plain git
    (blob, .gitruns/ tree over HEAD's, commit, refs/runs/<id>): its run id."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=raw, capture_output=True,
                          check=True).stdout.decode().strip()
    sub = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\trun.json\n", capture_output=True,
                         text=True, check=True).stdout.strip()
    top = git(repo, "ls-tree", "HEAD") + f"040000 tree {sub}\t.gitruns\n"
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=top, capture_output=True, text=True,
                          check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", message).strip()
    run_id = str(json.loads(raw)["id"])
    git(repo, "update-ref", f"refs/runs/{run_id}", commit)
    return run_id


def record(repo: Path, run_id: str | None = None, name: str = "run.json") -> Any:
    rid = run_id or latest(repo)
    raw = git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/{name}")
    return json.loads(raw) if name.endswith(".json") else raw


def validate(rec: dict[str, Any]) -> None:
    import jsonschema

    schema_path = Path(__file__).resolve().parent.parent / "gitruns" / "schema" / "run.schema.json"
    jsonschema.validate(rec, json.loads(schema_path.read_text()))


def state(repo: Path) -> tuple[str, bytes, str, str]:
    """What gitruns must never change: HEAD, the index file, status and branches."""
    index = repo / ".git" / "index"
    return (
        git(repo, "rev-parse", "HEAD", check=False) + git(repo, "symbolic-ref", "-q", "HEAD", check=False),
        index.read_bytes() if index.exists() else b"",
        # --no-optional-locks: status must not refresh the index it is checking (a racily
        # clean entry made the next call read other index bytes, and the test flaked).
        git(repo, "--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=all"),
        git(repo, "for-each-ref", "refs/heads", "refs/tags"),
    )


def untouched(repo: Path) -> tuple[tuple[str, bytes, str, str], dict[str, tuple[int, bytes]]]:
    """:func:`state`, and every file of the working tree outside .git, byte for byte
    with its mode: what a rerun, resume or sweep must leave exactly as it was."""
    files: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if not (Path(dirpath) == repo and d == ".git")]
        for name in names:
            path = Path(dirpath) / name
            st = path.lstat()
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            files[str(path.relative_to(repo))] = (st.st_mode, data)
    return state(repo), files


def leftovers(repo: Path) -> list[str]:
    """What reruns, resumes and sweeps left in their kept worktrees after they ended
    (there must be nothing: each use is cleaned), as ``<worktree>: <status line>``."""
    base = repo / ".git" / "gitruns" / "worktrees"
    out: list[str] = []
    for wt in sorted(base.glob("pool-*")) if base.is_dir() else []:
        if wt.is_dir():
            status = git(wt, "status", "--porcelain=v1", "--untracked-files=all", "--ignored")
            out += [f"{wt.name}: {line}" for line in status.splitlines()]
    return out


def on_a_terminal(cwd: Path, argv: list[str], stdout: bool, stderr: bool,
                  timeout: float = 120) -> tuple[int, bytes]:
    """Run argv with stdout and/or stderr on a pseudo-terminal (the rest discarded);
    return its exit status and everything written to the terminal."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=slave if stdout else subprocess.DEVNULL,
                            stderr=slave if stderr else subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.wait(timeout=timeout), seen


def python() -> str:
    return sys.executable


def have(program: str) -> bool:
    return shutil.which(program) is not None
