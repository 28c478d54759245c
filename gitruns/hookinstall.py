"""Installing gitruns' git hooks without the pre-commit framework.

Like pre-commit's installer: the generated script carries an id line so it
recognises itself (and its older versions); a hook that was already there is
moved aside to ``<hook>.legacy`` and run first, and its exit status still
counts; ``uninstall`` puts it back.  The hooks directory is the one git uses
(``git rev-parse --git-path hooks``), so ``core.hooksPath`` and linked
worktrees are honoured.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from . import gitcmd
from .errors import GitrunsError
from .repo import Repo

HOOK_ID = "gitruns-hook-id: 3f6c1e0a"  # change when the template changes in a way worth knowing
KNOWN_IDS = (HOOK_ID,)
HOOKS = ("pre-commit", "post-commit", "pre-merge-commit", "post-merge")
# A merge that commits without conflicts runs pre-merge-commit and post-merge,
# not pre-commit and post-commit, so each check is installed under both names.
CHECK_OF = {"pre-commit": "pre-commit", "pre-merge-commit": "pre-commit",
            "post-commit": "post-commit", "post-merge": "post-commit"}

TEMPLATE = """#!/bin/sh
# {hook_id}
# Installed by 'git run hooks install'; 'git run hooks uninstall' removes it.
# A hook that was here before is kept as {name}.legacy and runs first; its exit
# status still counts.
name={name}
here=$(dirname "$0")
status=0
if [ -x "$here/$name.legacy" ]; then
    "$here/$name.legacy" "$@" || status=$?
fi
gitrun={git_run}
if [ ! -x "$gitrun" ]; then
    gitrun=$(command -v git-run || true)
fi
if [ -n "$gitrun" ]; then
    GITRUNS_INVOKED_BY=hook "$gitrun" hooks run "$name" "$@" || {{ s=$?; [ "$status" -eq 0 ] && status=$s; }}
else
    echo "gitruns: git-run is not installed; skipping the $name check" >&2
fi
exit "$status"
"""


def script(name: str, git_run: str) -> str:
    quoted = "'" + git_run.replace("'", "'\\''") + "'"
    return TEMPLATE.format(hook_id=HOOK_ID, name=name, git_run=quoted)


def hooks_dir(repo: Repo) -> str:
    cwd = repo.root or repo.git_dir
    out = gitcmd.git(["rev-parse", "--git-path", "hooks"], cwd=cwd).strip()
    return os.path.normpath(os.path.join(cwd, out))


def _ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(400)
    except OSError:
        return False
    return any(i in head for i in KNOWN_IDS)


def _git_run_path() -> str:
    exe = shutil.which("git-run", path=os.path.dirname(sys.executable)) or shutil.which("git-run")
    return os.path.abspath(exe) if exe else "git-run"


@dataclass
class InstallResult:
    """What ``install`` did to each hook, in the order asked: ``installed`` (nothing
    was there), ``chained`` (installed; the hook that was there kept as NAME.legacy and
    run first), ``updated`` (an older gitruns hook replaced) or ``already installed``."""

    directory: str  # the hooks directory git uses
    hooks: list[tuple[str, str]] = field(default_factory=list)  # (hook name, what was done)

    def named(self, action: str) -> list[str]:
        return [name for name, done in self.hooks if done == action]

    def lines(self) -> list[str]:
        """One line per hook, as ``git run hooks install`` prints them."""
        text = {"chained": "installed; the existing hook runs first, kept as {name}.legacy"}
        return [f"{name}: " + text.get(done, done).format(name=name) for name, done in self.hooks]

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run hooks install --json`` prints (docs/hooks.md)."""
        return {"hooks_dir": self.directory, "installed": self.named("installed"),
                "chained": self.named("chained"), "updated": self.named("updated"),
                "already_installed": self.named("already installed")}


class InstallFailed(GitrunsError):
    """Installing stopped at one hook; ``result`` says what was done to those before it."""

    def __init__(self, message: str, result: InstallResult) -> None:
        super().__init__(message)
        self.result = result


def install(repo: Repo, names: list[str]) -> InstallResult:
    """Install the named hooks; the result says what was done to each.  A hook that
    cannot be installed stops the rest: InstallFailed, with what was done before."""
    directory = hooks_dir(repo)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise GitrunsError(f"cannot create hooks directory {directory}: {exc.strerror}") from None
    git_run = _git_run_path()
    result = InstallResult(directory)
    for name in names:
        path = os.path.join(directory, name)
        wanted = script(name, git_run)
        legacy = f"{path}.legacy"
        if os.path.lexists(path) and not _ours(path):
            if os.path.lexists(legacy):
                raise InstallFailed(f"{legacy} already exists; move it away before installing", result)
            os.rename(path, legacy)
            result.hooks.append((name, "chained"))
        elif os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                if fh.read() == wanted:
                    result.hooks.append((name, "already installed"))
                    continue
            result.hooks.append((name, "updated"))
        else:
            result.hooks.append((name, "installed"))
        tmp = f"{path}.gitruns-tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(wanted)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return result


def uninstall(repo: Repo, names: list[str]) -> list[str]:
    directory = hooks_dir(repo)
    lines = []
    for name in names:
        path = os.path.join(directory, name)
        legacy = f"{path}.legacy"
        if not os.path.lexists(path):
            lines.append(f"{name}: not installed")
            continue
        if not _ours(path):
            lines.append(f"{name}: not gitruns' hook; left alone")
            continue
        os.unlink(path)
        if os.path.lexists(legacy):
            os.rename(legacy, path)
            lines.append(f"{name}: removed; the previous hook is back")
        else:
            lines.append(f"{name}: removed")
    return lines
