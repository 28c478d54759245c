"""`git run rerun` beside `git run exec` of the same command in a repository of
20,000 files, and `git run reproduce --env recreate` of a run whose Python had
about ten packages, beside building the same virtual environment by hand.

Targets of issue 10: the rerun's overhead over exec (the temporary worktree,
restoring the inputs, the verdict's bookkeeping) under 1 s at 20,000 files;
`reproduce --env recreate` measured for ~10 packages.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

from common import env, median_of, run

FILES = 20_000
PACKAGES = ["six==1.16.0", "idna", "certifi", "urllib3", "charset-normalizer", "requests", "packaging",
            "attrs", "pyparsing", "python-dateutil"]


def _big_repo() -> str:
    path = tempfile.mkdtemp(prefix="gitruns-bench-rerun-")
    run(["git", "init", "-q", path])
    per_dir = 100
    for d in range(FILES // per_dir):
        sub = os.path.join(path, "src", f"pkg_{d:03d}")
        os.makedirs(sub)
        for i in range(per_dir):
            with open(os.path.join(sub, f"m_{i:03d}.py"), "w") as fh:
                fh.write(f"VALUE = {d * per_dir + i}\n")
    with open(os.path.join(path, "train.py"), "w") as fh:
        fh.write("open('model.txt', 'w').write('weights\\n')\n")
    with open(os.path.join(path, ".gitignore"), "w") as fh:
        fh.write("model.txt\n")
    run(["git", "add", "-A"], cwd=path)
    run(["git", "commit", "-qm", "bench"], cwd=path)
    return path


def _last_run(repo: str) -> str:
    out = subprocess.run(["git", "for-each-ref", "--sort=refname", "--format=%(refname:strip=2)", "refs/runs/"],
                         cwd=repo, env=env(), capture_output=True, text=True, check=True).stdout.split()
    return out[-1]


def rerun_rows(repeat: int = 5) -> list[str]:
    repo = _big_repo()
    try:
        python = sys.executable
        bare = median_of(lambda: run([python, "train.py"], cwd=repo), repeat)
        exec_ = median_of(lambda: run(["git", "run", "exec", "-q", "-o", "model.txt", "--", python, "train.py"],
                                      cwd=repo), repeat)
        original = _last_run(repo)
        rerun = median_of(lambda: run(["git", "run", "rerun", "-q", original], cwd=repo), repeat)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    return [
        f"A repository of {FILES:,} tracked files; the command writes one output (`-o`); median of {repeat}.",
        "",
        "| what | time | over exec |",
        "|---|---:|---:|",
        f"| `python train.py` (bare) | {bare * 1000:.0f} ms | |",
        f"| `git run exec -o model.txt -- python train.py` | {exec_ * 1000:.0f} ms | |",
        f"| `git run rerun ID` | {rerun * 1000:.0f} ms | {(rerun - exec_) * 1000:+.0f} ms ({rerun / exec_:.2f}x) |",
    ]


def recreate_rows() -> list[str]:
    work = tempfile.mkdtemp(prefix="gitruns-bench-recreate-")
    try:
        venv = os.path.join(work, "venv")
        run([sys.executable, "-m", "venv", venv])
        vpy = os.path.join(venv, "bin", "python")
        run([vpy, "-m", "pip", "install", "-q", *PACKAGES])
        repo = os.path.join(work, "repo")
        run(["git", "init", "-q", repo])
        with open(os.path.join(repo, "fit.py"), "w") as fh:
            fh.write("import requests, dateutil, attrs\nopen('out.txt', 'w').write(requests.__version__)\n")
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "fit"], cwd=repo)
        run(["git", "run", "exec", "-q", "-o", "out.txt", "--", vpy, "fit.py"], cwd=repo)
        original = _last_run(repo)
        envjson = json.loads(subprocess.run(["git", "show", f"refs/runs/{original}:.gitruns/env.json"], cwd=repo,
                                            capture_output=True, text=True, check=True).stdout)
        count = len((envjson.get("python") or {}).get("packages") or [])
        # By hand: a fresh venv and pip install of the same packages.
        by_hand_dir = os.path.join(work, "byhand")

        def by_hand() -> None:
            shutil.rmtree(by_hand_dir, ignore_errors=True)
            run([sys.executable, "-m", "venv", by_hand_dir])
            run([os.path.join(by_hand_dir, "bin", "python"), "-m", "pip", "install", "-q", *PACKAGES])

        hand = median_of(by_hand, 1)
        first = median_of(lambda: run(["git", "run", "reproduce", "--env", "recreate", original], cwd=repo), 1)
        again = median_of(lambda: run(["git", "run", "reproduce", "--env", "recreate", original], cwd=repo), 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        f"A run whose Python held {count} packages ({len(PACKAGES)} asked for and their dependencies, pip's own",
        "included), reproduced with `--env recreate`; the packages come from this machine's package index.",
        "",
        "| what | time |",
        "|---|---:|",
        f"| `python -m venv` + `pip install` of the same packages, by hand | {hand:.1f} s |",
        f"| `git run reproduce --env recreate ID`, first time | {first:.1f} s |",
        f"| the same again (the environment is cached) | {again:.1f} s |",
    ]


def main() -> list[str]:
    return [*rerun_rows(), "", *recreate_rows()]


if __name__ == "__main__":
    print("\n".join(main()))
