"""What a pipeline is, whichever way it was defined: its steps, the files and
values each reads and writes, the config keys it uses, and how to run it.

Everything here is plain data; reading a definition (:mod:`.definition`,
:mod:`.dvcfile`, :mod:`.pyapi`) builds it, :mod:`.graph` links and orders it,
:mod:`.engine` runs it.  Paths are relative to the repository root, in POSIX
form, already checked to stay inside the working tree.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

FORMATS = ("gitruns", "dvc", "python")
# Bounds of a step's retries, retry delay and timeout: a definition asking for more
# is a mistake (a hundred attempts, a day between two, a month per attempt at most).
MAX_RETRIES = 100
MAX_RETRY_DELAY_S = 86_400.0
MAX_TIMEOUT_S = 30 * 86_400.0


@dataclass
class StepSpec:
    name: str
    # A shell command as written (``${key}`` not yet replaced), run by ``/bin/sh -c``.
    cmd: str | None = None
    # A Python step (``@gitruns.step``): called in a forked child (see :mod:`.pyapi`).
    func: Callable[..., Any] | None = None
    deps: list[str] = field(default_factory=list)  # files and directories it reads
    outs: list[str] = field(default_factory=list)  # files and directories it writes (metrics files included)
    metrics: list[str] = field(default_factory=list)  # files read as metrics when it ends (also in outs)
    params: list[str] = field(default_factory=list)  # dotted keys of the effective config
    wdir: str = "."  # where the command runs
    env: dict[str, str] = field(default_factory=dict)
    retries: int = 0  # further attempts after a failed one
    retry_delay_s: float = 1.0  # before the first retry; doubles for each further one
    timeout_s: float | None = None  # per attempt
    always_run: bool = False  # never reused from an earlier run (dvc.yaml's always_changed)
    # Python steps pass values: argument name -> (step, value name) it reads, and
    # the names of the values it returns.  A value is stored as a file (see values_dir).
    value_inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    value_outputs: list[str] = field(default_factory=list)
    # Filled by graph.link: the steps whose outputs this one reads, in definition order.
    needs: list[str] = field(default_factory=list)

    @property
    def is_python(self) -> bool:
        return self.func is not None


@dataclass
class Plan:
    steps: dict[str, StepSpec]  # in definition order
    format: str  # one of FORMATS
    file: str | None = None  # the definition, relative to the repository root
    digest: str | None = None  # of the definition file's bytes
    # Config files read before --config and -p: params.yaml beside the definition
    # (as DVC does) and the files a dvc.yaml's top-level ``params`` names; absolute paths.
    params_files: list[str] = field(default_factory=list)
    # dvc.yaml's top-level metrics, plots and artifacts, kept in the record as written.
    declared: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """What the engine hands a step's attempt."""

    run_id: str
    step: StepSpec
    root: str  # the working tree
    cwd: str  # absolute: root joined with step.wdir
    env: dict[str, str]  # the whole environment of the step's process
    config: dict[str, Any]  # the run's effective config
    params: dict[str, Any]  # the step's params: dotted key -> value
    stdout_path: str  # where the attempt's output goes (opened for appending)
    stderr_path: str
    # A value ``v`` of step ``s`` lives in the file values_dir/s/v while the run
    # lasts (written by the step, restored there from the cache when reused).
    values_dir: str


class Child(Protocol):
    """A running attempt: a process that leads its own process group (pgid == pid)."""

    pid: int

    def poll(self) -> int | None:
        """None while it runs; then its return code (negative: killed by that signal)."""
        ...


def value_path(values_dir: str, step: str, name: str) -> str:
    import os

    return os.path.join(values_dir, step, name)
