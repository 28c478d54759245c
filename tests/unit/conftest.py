"""The fast layer: pure parts of gitruns, tested in-process.

``isolated_git`` of tests/conftest.py configures git with four subprocesses for
every test; here it is replaced by an environment-only isolation (no git runs
unless a test makes a repository itself), so the whole layer runs in seconds.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("GIT_", "GITRUNS_")) or name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "NO_COLOR"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Tester")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada Tester")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
    shown, filters = warnings.showwarning, list(warnings.filters)
    yield
    # In-process CLI calls install a warnings hook: a test must not leave it behind.
    assert warnings.showwarning is shown and warnings.filters == filters, "a test leaked warnings state"
