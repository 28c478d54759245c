"""The environment a run's command gets: ours, less git's repository-local
variables, plus the ``GITRUNS_*`` variables of the run."""
from __future__ import annotations

import os
import subprocess
from functools import lru_cache

# Git's own list of the variables that tie a process to one repository (what git
# clears before working in another one); used when `git rev-parse` cannot say.
_GIT_LOCAL_ENV_FALLBACK = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)


@lru_cache(maxsize=1)
def git_local_env_vars() -> frozenset[str]:
    """What ``git rev-parse --local-env-vars`` prints: the variables a hook or an alias
    inherits from git (``GIT_INDEX_FILE``, ``GIT_DIR``, ``GIT_PREFIX``, ...) that would
    point the user's command at git's state of the moment rather than its own."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--local-env-vars"], capture_output=True, text=True,
                              check=False, timeout=30)
        names = frozenset(proc.stdout.split()) if proc.returncode == 0 else frozenset()
    except (OSError, subprocess.SubprocessError):
        names = frozenset()
    return names or frozenset(_GIT_LOCAL_ENV_FALLBACK)


def command_env(run_id: str, run_dir: str, root: str, config_file: str | None,
                path_prefix: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """The command's environment: ours, without git's repository-local variables
    (a hook's GIT_INDEX_FILE would make the command's own git commands use
    git's temporary index), with the GITRUNS_* variables of this run."""
    local = git_local_env_vars()
    env = {k: v for k, v in os.environ.items() if k not in local and k != "GITRUNS_CONFIG_FILE"}
    env.update(GITRUNS_RUN_ID=run_id, GITRUNS_RUN_DIR=run_dir, GITRUNS_REPO_ROOT=root)
    if config_file is not None:
        env["GITRUNS_CONFIG_FILE"] = config_file
    if path_prefix:
        env["PATH"] = os.pathsep.join([*path_prefix, *([env["PATH"]] if env.get("PATH") else [])])
    return env
