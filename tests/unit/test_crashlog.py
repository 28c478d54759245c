"""crashlog.py in-process: what a crash log holds and where it goes
(tests/test_crash.py drives real crashes of the git-run executable)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gitruns
from gitruns import crashlog


def _raised() -> ValueError:
    try:
        raise ValueError("cannot reach https://ada:hunter2@example.com")
    except ValueError as exc:
        return exc


def test_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    text = crashlog.report(_raised(), ["exec", "--", "python", "t.py", "--api-key", "k3y", "lr=0.1"])
    assert text.startswith("### gitruns crash log\n")
    assert "command: git run exec -- python t.py --api-key '<redacted>' lr=0.1\n" in text
    assert f"cwd: {tmp_path}\n" in text
    assert f"gitruns: {gitruns.__version__}\n" in text and f"python: {sys.version.split()[0]}" in text
    assert f"executable: {sys.executable}\n" in text
    assert "in _raised" in text
    assert text.endswith("ValueError: cannot reach https://ada:<redacted>@example.com\n")
    assert "hunter2" not in text and "k3y" not in text


def test_where_the_log_goes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert crashlog.candidates() == [str(cache / "gitruns" / "crash.log")]
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    assert crashlog.candidates() == [str(repo / ".git" / "gitruns" / "crash.log"), str(cache / "gitruns" / "crash.log")]
    # GIT_DIR is honoured, as git itself honours it.
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert crashlog.candidates()[0] == str(repo / ".git" / "gitruns" / "crash.log")


def test_write_falls_back_and_replaces(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo)
    (repo / ".git" / "gitruns").write_text("a file where the directory would be")
    path = crashlog.write(_raised(), ["ls"])
    assert path == str(cache / "gitruns" / "crash.log")
    first = Path(path).read_text()
    assert crashlog.write(RuntimeError("second"), ["show", "x"]) == path
    second = Path(path).read_text()
    assert "command: git run show x\n" in second and "cannot reach" not in second and first != second
    assert [p.name for p in (cache / "gitruns").iterdir()] == ["crash.log"]  # no temporary file left


def test_write_returns_none_when_nothing_can_be_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert crashlog.write(_raised(), ["ls"]) is None
