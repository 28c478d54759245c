"""``--env recreate``'s builder, offline: environments recorded by real runs under
throwaway venvs holding tiny local packages (PEP 610 directory sources), rebuilt
with the recorded packages, and packages that cannot be installed named."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import gitrun, make_repo, record, run_ids

from gitruns import envdiff, envrecreate


def _package(root: Path, name: str, version: str) -> Path:
    pkg = root / name
    (pkg / name).mkdir(parents=True)
    (pkg / "setup.py").write_text(f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, "
                                  f"packages=[{name!r}])\n")
    (pkg / name / "__init__.py").write_text(f"__version__ = {version!r}\n")
    return pkg


def _venv(path: Path, *packages: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    py = str(path / "bin" / "python")
    args = [str(p) for p in packages]
    if args:
        proc = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", *args],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return py


def _recorded_env(repo: Path, py: str, code: str = "pass") -> tuple[str, dict[str, Any]]:
    proc = gitrun(repo, "exec", "--", py, "-c", code)
    assert proc.returncode == 0, proc.stderr
    rid = run_ids(repo)[-1]
    return rid, record(repo, rid, "env.json")


def test_recreate_builds_the_recorded_packages_and_reuses_the_venv(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    tiny = _package(tmp_path / "src", "tinypkg", "1.2")
    py = _venv(tmp_path / "recorded", tiny)
    _, env = _recorded_env(repo, py, "import tinypkg")
    assert env["python"]["package_sources"]["tinypkg"] == {"dir": str(tiny), "editable": False}
    said: list[str] = []
    dest = tmp_path / "envs" / "one"
    made = envrecreate.recreate(env, str(dest), said.append, installer="pip")
    assert not made.reused and made.installer == "pip" and made.bin_dir == str(dest / "bin")
    assert made.packages == [f"tinypkg from {tiny}"]
    assert made.changes == [] and made.skipped == []  # the same Python; nothing but the package recorded
    assert said[0].startswith("creating a virtual environment with Python 3.")
    check = subprocess.run([made.python, "-c", "import tinypkg, gitruns; "
                            "print(tinypkg.__version__, gitruns.log_metric.__name__)"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout == "1.2 log_metric\n"
    # Only gitruns is linked in, not the packages of gitruns' own environment.
    leak = subprocess.run([made.python, "-c", "import pygit2"], capture_output=True, text=True)
    assert leak.returncode != 0 and "No module named 'pygit2'" in leak.stderr
    # A command run with the venv first on PATH records the environment that was recorded.
    path = made.bin_dir + os.pathsep + os.environ["PATH"]
    proc = gitrun(repo, "exec", "--", "python", "-c", "import tinypkg", env={"PATH": path})
    assert proc.returncode == 0, proc.stderr
    again = record(repo, run_ids(repo)[-1], "env.json")
    diff = envdiff.compare(env, again)
    assert diff.added == diff.removed == diff.changed == [] and diff.not_recorded == []
    # The same packages again: the venv is reused, not rebuilt.
    marker = dest / envrecreate.MARKER
    stamp = marker.stat().st_mtime_ns
    second = envrecreate.recreate(env, str(dest), installer="pip")
    assert second.reused and marker.stat().st_mtime_ns == stamp


def test_recreate_cached_keeps_venvs_under_the_state_dir(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    py = _venv(tmp_path / "recorded")
    _, env = _recorded_env(repo, py)
    state = repo / ".git" / "gitruns"
    made = envrecreate.recreate_cached(str(state), env, installer="pip")
    assert Path(made.venv).parent == state / "envs" and (Path(made.venv) / envrecreate.MARKER).exists()
    assert envrecreate.recreate_cached(str(state), env, installer="pip").reused
    # Another package list is another venv.
    env["python"]["packages"]["pip"] = "23.2.1"  # tooling: skipped, and said so as a change
    env["python"]["packages"]["gitruns"] = "0.0.1"  # linked in, not installed, not a change
    other = envrecreate.recreate_cached(str(state), env, installer="pip")
    assert other.reused  # tooling does not change what is installed
    assert other.skipped == ["gitruns", "pip"]
    assert other.changes == [{"kind": "environment", "name": "package pip", "from": "23.2.1", "to": None}]


def test_every_package_that_cannot_be_installed_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: nothing from an index
    repo = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    _, env = _recorded_env(repo, _venv(tmp_path / "recorded"))
    py = env["python"]
    py["packages"].update({"absent-tiny-pkg": "9.9", "gone-local": "1.0", "--index-url=http://evil.example/": "1",
                           "fine-name": "1.0; rm -rf"})
    py["package_sources"].update({"absent-tiny-pkg": None, "gone-local": {"dir": str(tmp_path / "nowhere")}})
    dest = tmp_path / "envs" / "bad"
    with pytest.raises(envrecreate.RecreateError) as caught:
        envrecreate.recreate(env, str(dest), installer="pip")
    lines = sorted(f.line() for f in caught.value.failures)
    assert lines == sorted([
        "cannot install --index-url=http://evil.example/: not a valid package name",
        "cannot install fine-name==1.0; rm -rf: not a valid version",
        f"cannot install gone-local from {tmp_path / 'nowhere'}: its directory {tmp_path / 'nowhere'} is not here",
        "cannot install absent-tiny-pkg==9.9: No matching distribution found for absent-tiny-pkg==9.9",
    ])
    assert str(caught.value).startswith("cannot install 4 packages: ") and "\n" not in str(caught.value)
    assert not dest.exists()  # nothing half-built is kept
    # The error of the verb: exit 1.
    assert caught.value.exit_code == 1


def test_a_credential_redacted_from_a_url_is_not_guessed(tmp_path: Path) -> None:
    env = {"python": {"version": "3.11.7", "packages": {"private": "1.0"},
                      "package_sources": {"private": {"vcs": "git", "url": "https://<redacted>@git.example/p.git",
                                                      "commit": "a" * 40}}}}
    with pytest.raises(envrecreate.RecreateError) as caught:
        envrecreate.recreate(env, str(tmp_path / "v"), installer="pip")
    assert [f.line() for f in caught.value.failures] == [
        "cannot install private @ git+https://<redacted>@git.example/p.git@" + "a" * 40
        + ": its URL was recorded without its credentials (redacted)"]


@pytest.mark.parametrize("env", [{}, {"python": None}, {"python": {"packages": {"<error>": "boom"}}}])
def test_an_environment_without_packages_cannot_be_recreated(env: dict[str, Any], tmp_path: Path) -> None:
    from gitruns.errors import GitrunsError

    with pytest.raises(GitrunsError, match="cannot be recreated"):
        envrecreate.recreate(env, str(tmp_path / "v"))


def test_package_specs_from_recorded_sources(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    env = {"python": {"version": "3.11.7", "packages": {
        "Index_Pkg": "2.0", "ed": "0.1", "plain": "0.2", "vc": "1.0", "arch": "3.0", "Wheel": "0.41", "pip": "23"},
        "package_sources": {
            "ed": {"dir": str(src), "editable": True}, "plain": {"dir": str(src), "editable": False},
            "vc": {"vcs": "git", "url": "https://git.example/vc.git", "commit": "b" * 40},
            "arch": {"archive": "https://files.example/arch-3.0.tar.gz", "hash": "sha256=" + "c" * 64}}}}
    specs, skipped = envrecreate.plan(env)
    assert skipped == ["pip", "Wheel"]
    assert {s.name: s.args for s in specs} == {
        "arch": ["arch @ https://files.example/arch-3.0.tar.gz#sha256=" + "c" * 64],
        "ed": ["-e", str(src)],
        "Index_Pkg": ["Index_Pkg==2.0"],
        "plain": [f"plain @ file://{src}"],
        "vc": ["vc @ git+https://git.example/vc.git@" + "b" * 40],
    }
    assert all(s.problem is None for s in specs)


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
def test_with_uv_when_it_is_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_OFFLINE", "1")
    env = {"python": {"version": "3.11.7", "packages": {"pip": "23.2.1"}, "package_sources": {"pip": None}}}
    made = envrecreate.recreate(env, str(tmp_path / "v"))  # auto: uv, since it is on PATH
    assert made.installer == "uv"
    check = subprocess.run([made.python, "-c", "import gitruns"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    env["python"]["packages"]["absent-tiny-pkg"] = "9.9"
    with pytest.raises(envrecreate.RecreateError) as caught:
        envrecreate.recreate(env, str(tmp_path / "w"))
    assert [f.spec for f in caught.value.failures] == ["absent-tiny-pkg==9.9"]
    assert "absent-tiny-pkg" in caught.value.failures[0].reason


def test_a_project_installed_from_its_own_repository_is_installed_from_the_runs_code(tmp_path: Path) -> None:
    user, worktree = tmp_path / "repo", tmp_path / "worktree"
    for root in (user, worktree):
        (root / "lib").mkdir(parents=True)
    env = {"python": {"version": "3.11.7", "packages": {"proj": "0.1", "sub": "0.2", "other": "1"},
                      "package_sources": {"proj": {"dir": str(user), "editable": True},
                                          "sub": {"dir": str(user / "lib"), "editable": False},
                                          "other": {"dir": str(tmp_path / "repository-next-door")}}}}
    (tmp_path / "repository-next-door").mkdir()
    specs, _ = envrecreate.plan(env, relocate={str(user): str(worktree)})
    assert {s.name: s.args for s in specs} == {
        "proj": ["-e", str(worktree)], "sub": [f"sub @ file://{worktree / 'lib'}"],
        "other": [f"other @ file://{tmp_path / 'repository-next-door'}"]}


def test_a_relocated_environment_uses_the_runs_code_and_is_not_kept(tmp_path: Path) -> None:
    user = _package(tmp_path / "user", "tinypkg", "1.0")
    run_code = _package(tmp_path / "worktree", "tinypkg", "1.0")
    (user / "tinypkg" / "__init__.py").write_text("__version__ = '1.0'\nCODE = 'today'\n")
    (run_code / "tinypkg" / "__init__.py").write_text("__version__ = '1.0'\nCODE = 'the run'\n")
    env = {"python": {"version": "3.11.7", "packages": {"tinypkg": "1.0"},
                      "package_sources": {"tinypkg": {"dir": str(user), "editable": True}}}}
    state = tmp_path / "state"
    made = envrecreate.recreate_cached(str(state), env, installer="pip", relocate={str(user): str(run_code)})
    assert made.temporary and Path(made.venv).parent == state / "envs"
    check = subprocess.run([made.python, "-c", "import tinypkg; print(tinypkg.CODE)"], capture_output=True, text=True)
    assert check.stdout == "the run\n", check.stderr
    envrecreate.discard(made)
    assert not Path(made.venv).exists() and list((state / "envs").iterdir()) == []
