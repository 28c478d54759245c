"""Overhead of `git run rerun ID` over `git run exec` of the same command, in a
repository of 20,000 files: the temporary worktree (checked out, snapshotted,
removed) is what a rerun adds.  Target of issue 10: under 1 s.

Prints a Markdown table row set (run it alone: `python bench/bench_rerun.py`).
"""
from __future__ import annotations

import subprocess
import sys

from common import env, median_of, run, scratch_repo


def main(repeat: int = 5, files: int = 20000) -> list[str]:
    repo = scratch_repo(files)
    py = sys.executable
    run(["git", "run", "exec", "--", py, "-c", "pass"], cwd=repo)
    rid = subprocess.run(["git", "for-each-ref", "--format=%(refname:lstrip=2)", "refs/runs/"], cwd=repo,
                         env=env(), capture_output=True, text=True, check=True).stdout.split()[0]
    exec_ = lambda: run(["git", "run", "exec", "--", py, "-c", "pass"], cwd=repo)  # noqa: E731
    rerun = lambda: run(["git", "run", "rerun", "-q", rid], cwd=repo)  # noqa: E731
    rerun()
    t_exec = median_of(exec_, repeat)
    t_rerun = median_of(rerun, repeat)
    return [
        "| measurement (20,000 files) | median |",
        "|---|---|",
        f"| `git run exec -- python -c pass` | {t_exec * 1000:.0f} ms |",
        f"| `git run rerun ID` of that run | {t_rerun * 1000:.0f} ms |",
        f"| overhead of rerun over exec | **{(t_rerun - t_exec) * 1000:.0f} ms** |",
    ]


if __name__ == "__main__":
    print("\n".join(main(files=int(sys.argv[1]) if len(sys.argv) > 1 else 20000)))
