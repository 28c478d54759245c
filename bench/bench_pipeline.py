"""A 10-step pipeline of trivial commands: `git run pipeline` beside the same
commands in a shell script, beside one `git run exec`, and beside `dvc repro` of
the same pipeline as a dvc.yaml when DVC is installed; then a fully cached rerun
of each.

Targets of issue 9: overhead per step under 50 ms on top of one exec; a fully
cached 10-step rerun under 0.5 s; faster than `dvc repro` on both.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from common import env, median_of, run, scratch_repo

STEPS = 10


def _pipeline_yaml(top: str) -> str:
    """A chain: step i reads step i-1's output and writes its own."""
    lines = [f"{top}:"]
    for i in range(STEPS):
        lines.append(f"  s{i}:")
        lines.append(f"    cmd: echo {i} > out{i}.txt" + (f" && cat out{i - 1}.txt >> out{i}.txt" if i else ""))
        if i:
            lines.append(f"    deps: [out{i - 1}.txt]")
        lines.append(f"    outs: [out{i}.txt]")
    return "\n".join(lines) + "\n"


def _script() -> str:
    body = ["#!/bin/sh", "set -e"]
    for i in range(STEPS):
        body.append(f"echo {i} > out{i}.txt" + (f" && cat out{i - 1}.txt >> out{i}.txt" if i else ""))
    return "\n".join(body) + "\n"


def _dvc() -> str | None:
    found = shutil.which("dvc", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return found


def _repo() -> str:
    repo = scratch_repo(files=20)
    with open(os.path.join(repo, "gitruns.yaml"), "w") as fh:
        fh.write(_pipeline_yaml("steps"))
    with open(os.path.join(repo, "steps.sh"), "w") as fh:
        fh.write(_script())
    with open(os.path.join(repo, ".gitignore"), "w") as fh:
        fh.write("out*.txt\n")
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "pipeline"], cwd=repo)
    return repo


def _dvc_repo(dvc: str) -> str:
    repo = scratch_repo(files=20)
    with open(os.path.join(repo, "dvc.yaml"), "w") as fh:
        fh.write(_pipeline_yaml("stages"))
    run([dvc, "init", "-q"], cwd=repo)
    run([dvc, "config", "core.analytics", "false"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "dvc pipeline"], cwd=repo)
    return repo


def _dvc_version(dvc: str) -> str:
    proc = subprocess.run([dvc, "--version"], capture_output=True, text=True, env=env(), check=False)
    return proc.stdout.strip() or "?"


def main(repeat: int = 7) -> list[str]:
    repo = _repo()
    script = lambda: run(["sh", "steps.sh"], cwd=repo)  # noqa: E731
    bare_one = lambda: run(["sh", "-c", "echo 0 > one.txt"], cwd=repo)  # noqa: E731
    exec_one = lambda: run(["git", "run", "exec", "-q", "--", "sh", "-c", "echo 0 > one.txt"], cwd=repo)  # noqa: E731
    forced = lambda: run(["git", "run", "pipeline", "--force"], cwd=repo)  # noqa: E731
    cached = lambda: run(["git", "run", "pipeline"], cwd=repo)  # noqa: E731
    forced()  # warm the interpreter's package cache and the stat cache
    t_script = median_of(script, repeat)
    t_bare_one = median_of(bare_one, repeat)
    t_exec_one = median_of(exec_one, repeat)
    t_forced = median_of(forced, repeat)
    t_cached = median_of(cached, repeat)
    exec_overhead = t_exec_one - t_bare_one
    per_step = (t_forced - t_script - exec_overhead) / STEPS
    rows = [
        "| measurement | median | ratio |",
        "|---|---|---|",
        f"| the 10 commands in a shell script (bare) | {t_script * 1000:.0f} ms | 1.0 |",
        f"| `git run exec` of one such command (its overhead: {exec_overhead * 1000:.0f} ms) "
        f"| {t_exec_one * 1000:.0f} ms | {t_exec_one / t_script:.1f}x |",
        f"| `git run pipeline --force`, 10 steps, all run | {t_forced * 1000:.0f} ms | {t_forced / t_script:.1f}x |",
        f"| overhead per step on top of one exec (target < 50 ms) | **{per_step * 1000:.0f} ms** | |",
        f"| `git run pipeline`, all 10 steps cached (target < 500 ms) | **{t_cached * 1000:.0f} ms** "
        f"| {t_cached / t_script:.1f}x |",
    ]
    dvc = _dvc()
    if dvc is None:
        rows.append("| `dvc repro` | DVC not installed in this environment (`pip install dvc`) | |")
        return rows
    drepo = _dvc_repo(dvc)
    d_forced = lambda: run([dvc, "repro", "-f", "-q"], cwd=drepo)  # noqa: E731
    d_cached = lambda: run([dvc, "repro", "-q"], cwd=drepo)  # noqa: E731
    d_forced()
    t_d_forced = median_of(d_forced, repeat)
    t_d_cached = median_of(d_cached, repeat)
    rows += [
        f"| `dvc repro -f` ({_dvc_version(dvc)}), 10 stages, all run | {t_d_forced * 1000:.0f} ms "
        f"| {t_d_forced / t_script:.1f}x |",
        f"| `dvc repro`, all 10 stages unchanged | {t_d_cached * 1000:.0f} ms | {t_d_cached / t_script:.1f}x |",
        f"| gitruns / DVC, all run | {t_forced / t_d_forced:.2f} | |",
        f"| gitruns / DVC, all cached | {t_cached / t_d_cached:.2f} | |",
    ]
    return rows


if __name__ == "__main__":
    print("\n".join(main()))
