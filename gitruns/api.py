"""Logging from the user's code: metrics, parameters and artifacts.

Inside ``git run exec`` the functions append to files in the run's working
directory (``GITRUNS_RUN_DIR``), which exec folds into the record when the
command ends.  This module imports only the standard library, so importing
gitruns in a training script costs nothing and needs no git.
"""
from __future__ import annotations

import math
import os
import sys
import time
import warnings

TYPE_CHECKING = False  # typing and json are imported only where needed: import gitruns stays cheap
if TYPE_CHECKING:
    from typing import Any

_warned = False
_started: Any = None


def _run_dir() -> str | None:
    if _started is not None:
        return str(_started.run_dir)
    return os.environ.get("GITRUNS_RUN_DIR") or None


def _append(name: str, item: dict[str, Any]) -> bool:
    global _warned
    run_dir = _run_dir()
    if run_dir is None:
        if not _warned:
            warnings.warn(
                "gitruns: not inside 'git run exec' and no run started with gitruns.start_run(); "
                "nothing is recorded", stacklevel=3,
            )
            _warned = True
        return False
    import json

    line = json.dumps(item, default=str, allow_nan=True) + "\n"
    # One write of a whole line with O_APPEND: lines from threads or child
    # processes never interleave.
    fd = os.open(os.path.join(run_dir, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return True


def run_id() -> str | None:
    """The id of the run this process belongs to, or None."""
    if _started is not None:
        return str(_started.run_id)
    return os.environ.get("GITRUNS_RUN_ID") or None


def config_path() -> str | None:
    """The effective configuration file handed to the command, or None when the run
    has none (no ``-c``/``-p``): YAML, or JSON when the first ``-c`` file is ``.json``."""
    return os.environ.get("GITRUNS_CONFIG_FILE") or None


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record one point of a metric; the last point is the run's final value."""
    number = float(value)
    _append("metrics.jsonl", {
        "name": str(name),
        "value": number if math.isfinite(number) else str(number),
        "step": step,
        "time": time.time(),
    })


def log_metrics(values: dict[str, float], step: int | None = None) -> None:
    for name, value in values.items():
        log_metric(name, value, step)


def log_params(params: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Record parameters the code used (they join the run's effective config)."""
    merged = dict(params or {})
    merged.update(kwargs)
    _append("params.jsonl", merged)


def log_artifact(path: str) -> None:
    """Store a file or directory in the artifact cache when the run ends.

    Raises ValueError for a path outside the working tree or inside the git
    directory (under any spelling, through symlinks too): such a path is a bug
    in the calling code, and failing at the call shows it on the first run
    rather than as a note in the record.
    """
    full = os.path.abspath(path)
    root = _repo_root()
    if root is not None:
        from .gitnames import path_refusal  # its regexes cost a training script's start-up

        reason = path_refusal(full, root, _git_dirs())
        if reason is not None:
            raise ValueError(f"gitruns.log_artifact({path!r}): {reason}; artifacts must be inside the "
                             "working tree and outside the git directory")
    _append("artifacts.jsonl", {"path": full})


def _repo_root() -> str | None:
    if _started is not None:
        return str(_started.root)
    return os.environ.get("GITRUNS_REPO_ROOT") or None


def _git_dirs() -> list[str]:
    # Inside exec only the working tree root is known here (this module needs no
    # git); a git directory named .git is caught by name, and exec checks every
    # logged path again against the repository's real git directories at the end.
    if _started is not None:
        return [str(_started.repo.git_dir), str(_started.repo.common_dir)]
    return []


def start_run(argv: list[str] | None = None, name: str | None = None, **kwargs: Any) -> Any:
    """Start a run from code, outside ``git run exec``.

    Returns a context manager; the run is recorded at once as running and
    finished when the block exits (failed if it raised)::

        with gitruns.start_run(name="notebook"):
            gitruns.log_metric("acc", 0.9)
    """
    global _started
    from .coderun import CodeRun  # lazily: a run needs git; this module must not

    run = CodeRun(argv if argv is not None else [sys.executable, *sys.argv], name=name,
                  on_end=_end_started, **kwargs)
    _started = run
    return run


def _end_started() -> None:
    global _started
    _started = None
