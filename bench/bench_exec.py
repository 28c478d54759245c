"""Overhead of `git run exec -- python -c pass` over the bare `python -c pass`.

Both are timed in the same process, interleaved, and the medians compared.
Prints a Markdown table row set; run_all.py writes it to docs/benchmarks.md.
"""
from __future__ import annotations

import sys

from common import median_of, run, scratch_repo


def main(repeat: int = 21) -> list[str]:
    repo = scratch_repo()
    py = sys.executable
    bare = lambda: run([py, "-c", "pass"], cwd=repo)  # noqa: E731
    wrapped = lambda: run(["git", "run", "exec", "--", py, "-c", "pass"], cwd=repo)  # noqa: E731
    startup = lambda: run(["git", "run", "--version"], cwd=repo)  # noqa: E731
    wrapped()  # the first run fills the interpreter's package cache; measure the steady state
    t_bare = median_of(bare, repeat)
    t_wrapped = median_of(wrapped, repeat)
    t_startup = median_of(startup, repeat)
    return [
        "| measurement | median | ratio |",
        "|---|---|---|",
        f"| `python -c pass` (bare) | {t_bare * 1000:.0f} ms | 1.0 |",
        f"| `git run exec -- python -c pass` | {t_wrapped * 1000:.0f} ms | {t_wrapped / t_bare:.1f}x |",
        f"| overhead of exec | **{(t_wrapped - t_bare) * 1000:.0f} ms** | |",
        f"| of which `git run --version` (git + interpreter + imports) | {t_startup * 1000:.0f} ms | |",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
