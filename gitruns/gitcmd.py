"""The one helper that runs git (and other programs) as a subprocess."""
from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from .errors import GitCommandError


def run(
    argv: Sequence[str],
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, capturing output; raise GitCommandError with its stderr on failure."""
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None,
            input=input, capture_output=True, check=False,
        )
    except OSError as exc:
        raise GitCommandError(list(argv), 127, str(exc)) from None
    if check and proc.returncode != 0:
        raise GitCommandError(list(argv), proc.returncode, proc.stderr.decode(errors="replace"))
    return proc


def git(args: Sequence[str], cwd: str | None = None, check: bool = True) -> str:
    """Run ``git ARGS`` and return its stdout as text."""
    return run(["git", *args], cwd=cwd, check=check).stdout.decode(errors="replace")


def start(argv: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes] | None:
    """Start a helper program in the background; None if it cannot be started."""
    try:
        return subprocess.Popen(
            list(argv), env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
