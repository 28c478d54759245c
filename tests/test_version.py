"""The version is written once, and every place that shows it agrees with what
the installed package says it is."""
from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from conftest import gitrun, latest, record

ROOT = Path(__file__).resolve().parent.parent


def installed_version() -> str:
    return importlib.metadata.version("gitruns")


def test_git_run_version_is_the_installed_package_version(repo: Path) -> None:
    import gitruns

    version = installed_version()
    assert re.fullmatch(r"[0-9]+\.[0-9]+(\.[0-9]+)?([ab]|rc|\.dev|\.post)?[0-9]*(\+.+)?", version), version
    assert gitruns.__version__ == version
    proc = gitrun(repo, "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"git-run, version {version}\n"


def test_a_run_records_the_version_that_made_it(repo: Path) -> None:
    assert gitrun(repo, "exec", "--", "true").returncode == 0
    assert record(repo, latest(repo))["gitruns_version"] == installed_version()


def test_the_version_is_written_in_one_place() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "pyproject.toml must not repeat the version"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gitruns._version.__version__"}
    from gitruns import _version

    # No other module of the package spells the version out.
    literal = re.compile(r"""__version__\s*=\s*["']""")
    spelled = [p.name for p in (ROOT / "gitruns").rglob("*.py") if literal.search(p.read_text(encoding="utf-8"))]
    assert spelled == ["_version.py"]
    assert _version.__version__ == installed_version()
