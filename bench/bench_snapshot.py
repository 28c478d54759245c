"""The code snapshot in a tree of 100,000 tracked files, beside `git status`.

Every case is timed in the same run as its baseline, `git status --porcelain
-uall` on the same tree in the same state, and the medians compared:

- clean: nothing changed;
- dirty: 200 tracked files modified and 2,000 untracked files added;
- touched but unchanged: every tracked file's mtime moved (a fresh checkout, a
  `touch`, a build tool), measured on the first run after the touch and on the
  following ones.  The baseline there is `git --no-optional-locks status`, which,
  like gitruns, does not write the user's index and so re-hashes every touched
  file each time; plain `git status` would refresh the user's index for the runs
  that follow and hide the cost.

Two gitruns figures per case: `snapshot.capture()` in this process (what the
snapshot costs) and the whole `git run exec -- true` (what a user waits for,
Python start-up and the launch and end commits included).

    .venv/bin/python bench/bench_snapshot.py [FILES]
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from common import env, median_of, run  # noqa: E402


def build_tree(files: int) -> str:
    """A committed repository of ``files`` small files, 100 to a directory (slow: once per bench)."""
    path = tempfile.mkdtemp(prefix="gitruns-bench-snapshot-")
    run(["git", "init", "-q", path])
    per_dir = 100
    for i in range(files):
        d = os.path.join(path, f"pkg{i // (per_dir * 100):02}", f"mod{(i // per_dir) % 100:02}")
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i % per_dir:03}.py"), "w") as fh:
            fh.write(f"VALUE = {i}\n")
    run(["git", "add", "-A"], cwd=path)
    run(["git", "commit", "-qm", "tree"], cwd=path)
    run(["git", "status", "--porcelain"], cwd=path)  # a fresh index, as after a checkout
    return path


def tracked_files(repo: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        out.extend(os.path.join(dirpath, n) for n in filenames)
    return sorted(out)


def main(files: int = 100_000, repeat: int = 5) -> list[str]:
    from gitruns import snapshot
    from gitruns.hashing import StatCache
    from gitruns.repo import open_repo

    started = time.perf_counter()
    repo = build_tree(files)
    build_s = time.perf_counter() - started
    os.environ.update({k: v for k, v in env().items() if k.startswith("GIT_")})
    all_files = tracked_files(repo)
    statcache_dir = tempfile.mkdtemp(prefix="gitruns-bench-statcache-")

    def capture() -> None:
        statcache = StatCache(os.path.join(statcache_dir, "stat.sqlite"))
        try:
            snapshot.capture(open_repo(repo), 1024 * 1024, statcache)
        finally:
            statcache.close()

    status = lambda: run(["git", "status", "--porcelain", "-uall"], cwd=repo)  # noqa: E731
    status_ro = lambda: run(["git", "--no-optional-locks", "status", "--porcelain", "-uall"], cwd=repo)  # noqa: E731
    exec_run = lambda: run(["git", "-c", "gitruns.dirty=allow", "run", "exec", "--", "true"], cwd=repo)  # noqa: E731

    rows = [
        f"Tree: {files:,} tracked files in {files // 100:,} directories (built in {build_s:.0f} s).",
        "",
        "| case | `git status` | snapshot.capture() | ratio | `git run exec -- true` | ratio |",
        "|---|---|---|---|---|---|",
    ]

    def row(name: str, base: float, cap: float, whole: float | None = None) -> None:
        tail = f"{whole * 1000:.0f} ms | {whole / base:.1f}x" if whole is not None else " | "
        rows.append(f"| {name} | {base * 1000:.0f} ms | {cap * 1000:.0f} ms | **{cap / base:.1f}x** | {tail} |")

    capture()  # the first run keeps its refreshed copy of the index
    exec_run()  # and fills the interpreter's package cache
    row("clean", median_of(status, repeat), median_of(capture, repeat), median_of(exec_run, repeat))
    clean_capture = median_of(capture, repeat)

    for path in all_files[:: max(1, len(all_files) // 200)][:200]:
        with open(path, "a") as fh:
            fh.write("# modified\n")
    os.makedirs(os.path.join(repo, "new"))
    for i in range(2000):
        with open(os.path.join(repo, "new", f"u{i:04}.py"), "w") as fh:
            fh.write(f"U = {i}\n")
    time.sleep(2.1)  # let the edits age past git's racy-clean window, as real edits would
    row("dirty (200 modified, 2,000 untracked)", median_of(status, repeat), median_of(capture, repeat),
        median_of(exec_run, repeat))
    run(["git", "checkout", "-q", "--", "."], cwd=repo)
    shutil.rmtree(os.path.join(repo, "new"))
    run(["git", "status", "--porcelain"], cwd=repo)

    # A time in the past, as a checkout or build tool leaves it (a future mtime would be
    # "racily clean" for git until the clock passes it, and re-hashed by anyone).
    touched = time.time() - 30
    for path in all_files:
        os.utime(path, (touched, touched))
    first = median_of(capture, 1)
    second = median_of(capture, 1)
    further = median_of(capture, repeat)
    base = median_of(status_ro, 3)
    row("touched, unchanged: first run", base, first)
    row("touched, unchanged: second run", base, second)
    row(f"touched, unchanged: runs 3-{repeat + 2}", base, further)
    rows.append("")
    rows.append(f"Touched-but-unchanged from the second run on costs {further / clean_capture:.2f}x "
                "a clean snapshot (target: no more than a clean one).")
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(statcache_dir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    print("\n".join(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
