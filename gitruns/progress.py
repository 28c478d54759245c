"""Progress for long work: shown on a terminal, silent when stderr is piped."""
from __future__ import annotations

import os
import sys
import time

# Set by a quiet command (git run exec -q): no progress bars for the rest of the process.
_silenced = False


def silence() -> None:
    """No progress bars from now on in this process (a command's -q)."""
    global _silenced
    _silenced = True


def trace(message: str) -> None:
    """With GITRUNS_TRACE=1, say what gitruns did (hashing, caching) on stderr."""
    if os.environ.get("GITRUNS_TRACE"):
        print(f"gitruns: trace: {message}", file=sys.stderr)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    """Progress for one task, in bytes (or in ``unit``s: "runs"); draws at most ten times
    a second."""

    def __init__(self, label: str, total: int, min_total: int = 64 * 1024 * 1024, unit: str | None = None) -> None:
        self.label = label
        self.unit = unit
        self.total = total
        self.done = 0
        self.enabled = not _silenced and sys.stderr.isatty() and total >= min_total
        self._last = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= 0.1:
            self._last = now
            pct = 100.0 * self.done / self.total if self.total else 100.0
            sys.stderr.write(
                f"\r{self.label}: {self._amount(self.done)} / {self._amount(self.total)} ({pct:.0f}%)\x1b[K"
            )
            sys.stderr.flush()

    def _amount(self, n: int) -> str:
        return f"{n:,} {self.unit}" if self.unit else _human(n)

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {self._amount(self.total)}, done\x1b[K\n")
            sys.stderr.flush()


human_size = _human
