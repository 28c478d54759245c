"""``gitruns.start_run()``: a run of code in this very process, as a context manager."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import userconfig
from .launchspec import LaunchSpec
from .session import Session
from .warn import warn


class CodeRun(Session):
    """``gitruns.start_run()``: a run of code in this very process."""

    def __init__(self, argv: list[str], name: str | None = None, config: dict[str, Any] | None = None,
                 tags: dict[str, str] | None = None, inputs: list[str] | None = None,
                 outputs: list[str] | None = None, on_end: Callable[[], None] | None = None) -> None:
        spec = LaunchSpec(argv=argv, cwd=os.getcwd(), name=name,
                          tags=[f"{k}={v}" for k, v in (tags or {}).items()],
                          inputs=list(inputs or []), outputs=list(outputs or []))
        super().__init__(spec)
        # Called once the run is finished (gitruns.api forgets its current run).
        self.on_end = on_end
        if config:
            self.config = userconfig.deep_merge(self.config, config)
        self.launch()

    def __enter__(self) -> CodeRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end(exc)

    def end(self, exc: BaseException | None = None) -> None:
        if self.commit is None or self.rec["status"] != "running":
            return
        if exc is None:
            self.finish("succeeded", 0, None, None)
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("canceled", 130, None, {"type": "interrupt", "message": "KeyboardInterrupt"})
        else:
            self.finish("failed", 1, None, {"type": "exception", "message": f"{type(exc).__name__}: {exc}"})
        # No command layer here to print errors: the calling code gets them as warnings.
        for message in self.errors:
            warn(message)
        if self.on_end is not None:
            self.on_end()
