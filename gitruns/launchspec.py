"""What a run is asked to be, and who asks: the launch spec, its tags, the invoker, the user.

Pure and cheap (no git): ``ls --tag`` parses tags with :func:`parse_tags`, and
``git run exec``'s man page lists :data:`CI_MARKERS`.
"""
from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from typing import Any

from . import record
from .errors import UsageError

CI_MARKERS = {
    "GITHUB_ACTIONS": "github-actions", "GITLAB_CI": "gitlab-ci", "JENKINS_URL": "jenkins",
    "BUILDKITE": "buildkite", "CIRCLECI": "circleci", "TRAVIS": "travis", "TF_BUILD": "azure-pipelines",
    "BITBUCKET_BUILD_NUMBER": "bitbucket", "TEAMCITY_VERSION": "teamcity", "DRONE": "drone",
}


@dataclass
class LaunchSpec:
    argv: list[str]
    cwd: str
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metrics_files: list[str] = field(default_factory=list)
    # Replace ${key} in argv by config values (git run exec); off for start_run's sys.argv.
    substitute: bool = False
    # Set by rerun, reproduce, resume and sweep: the record fields that say where the
    # run comes from (any of run_group, rerun_of, rerun, sweep), written at launch.
    lineage: dict[str, Any] = field(default_factory=dict)
    # Who started it when the environment cannot tell (one of record.INVOKERS).
    invoked_by: str | None = None
    # Directories put first on the command's PATH (reproduce --env recreate: a venv's bin).
    path_prefix: list[str] = field(default_factory=list)


def parse_tags(items: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag '{item}': expected key=value")
        tags[key.strip()] = value
    return tags


def detect_invoker(env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Who or what started the run, from the environment."""
    forced = env.get("GITRUNS_INVOKED_BY")
    if forced in record.INVOKERS:
        return forced, {"source": "GITRUNS_INVOKED_BY"}
    if env.get("GITRUNS_RUN_ID"):
        return "run", {"parent_run": env["GITRUNS_RUN_ID"]}
    for var, provider in CI_MARKERS.items():
        if env.get(var):
            return "ci", {"provider": provider}
    if env.get("CI", "").lower() in ("true", "1", "yes"):
        return "ci", {"provider": "unknown"}
    return "manual", {}


def user() -> str:
    """The user the record names: the login name, or the uid when there is none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
