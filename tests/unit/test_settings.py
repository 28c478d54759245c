"""settings.py: gitruns.<key> from the environment, `git -c`, git config, defaults."""
from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from gitruns import settings
from gitruns.errors import ConfigError


@pytest.mark.parametrize("text, size", [
    ("0", 0), ("500", 500), ("500k", 500 * 1024), ("500K", 500 * 1024), ("1m", 1 << 20), ("1MB", 1 << 20),
    ("2g", 2 << 30), ("1.5k", 1536), (" 10m ", 10 << 20), ("4b", 4),
])
def test_parse_size(text: str, size: int) -> None:
    assert settings.parse_size(text, "gitruns.logMaxSize") == size


@pytest.mark.parametrize("text", ["", "big", "1t", "m", "1 m b x"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^gitruns.logMaxSize: '.*' is not a size \(like 500k, 1m, 2g\)$"):
        settings.parse_size(text, "gitruns.logMaxSize")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "repo"))


def test_defaults(repo: pygit2.Repository) -> None:
    s = settings.load(repo)
    assert s.get("gitruns.dirty") == "warn"
    assert s.size("gitruns.untrackedMaxSize") == 1 << 20
    assert s.items("gitruns.linkType") == ["reflink", "copy"]
    assert s.flag("gitruns.hooks.block") is False
    assert s.items("gitruns.lsMetrics") == []
    assert set(s.values) == set(settings.KEYS)


def test_environment_then_git_c_then_config(repo: pygit2.Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.config["gitruns.dirty"] = "allow"
    repo.config["gitruns.lsMetrics"] = "loss, acc  f1"
    repo.config["gitruns.hooks.block"] = "yes"
    s = settings.load(repo)
    assert s.get("gitruns.dirty") == "allow"
    assert s.items("gitruns.lsMetrics") == ["loss", "acc", "f1"]
    assert s.flag("gitruns.hooks.block") is True
    # `git -c gitruns.dirty=refuse run ...`: git hands it over in GIT_CONFIG_PARAMETERS, keys lower-cased.
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'gitruns.dirty=refuse' 'gitruns.logmaxsize=2m'")
    s = settings.load(repo)
    assert s.get("gitruns.dirty") == "refuse" and s.size("gitruns.logMaxSize") == 2 << 20
    monkeypatch.setenv("GITRUNS_DIRTY", "warn")
    assert settings.load(repo).get("gitruns.dirty") == "warn"


@pytest.mark.parametrize("key, value, message", [
    ("gitruns.dirty", "sometimes", "gitruns.dirty is 'sometimes'; expected one of warn, allow, refuse"),
    ("gitruns.logMaxSize", "huge", "gitruns.logMaxSize: 'huge' is not a size (like 500k, 1m, 2g)"),
    ("gitruns.hooks.block", "maybe", "gitruns.hooks.block is 'maybe'; expected true or false"),
])
def test_bad_values_are_one_line_config_errors(repo: pygit2.Repository, key: str, value: str, message: str) -> None:
    repo.config[key] = value
    with pytest.raises(ConfigError) as caught:
        settings.load(repo)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_unparsable_git_config_parameters_are_an_error_as_in_git(repo: pygit2.Repository,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # git itself stops: "error: bogus format in GIT_CONFIG_PARAMETERS".
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'gitruns.dirty=refuse")  # unbalanced quote
    with pytest.raises(ConfigError, match="GIT_CONFIG_PARAMETERS"):
        settings.load(repo)
