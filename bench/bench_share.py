"""Sharing: push and fetch of 1,000 runs beside plain `git push`/`git fetch` of the
same refs, and a 1 GiB artifact through the directory store beside `cp`.

Sizes as arguments (`bench_share.py 1000 10000 --no-artifact`); `--once`: one
measurement each, not the median of 3; `--before DIR`: also time the gitruns of
DIR (a checkout of older code, e.g. `git worktree add DIR main`) in the same run,
for before-and-after ratios measured side by side."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench_ls import populate
from common import env, run, scratch_repo, timed

GIB = 1024**3


def _bare(path: str) -> str:
    subprocess.run(["git", "init", "-q", "--bare", path], check=True, env=env())
    return path


def _timed(argv: list[str], cwd: str, bin_dir: str | None = None) -> float:
    if bin_dir is None:
        return timed(lambda: run(argv, cwd=cwd))
    e = env()
    e["PATH"] = bin_dir + os.pathsep + e["PATH"]
    return timed(lambda: subprocess.run(argv, cwd=cwd, env=e, check=True, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))


def _older(checkout: str, work: str) -> str:
    """A directory holding a `git-run` that runs the gitruns of ``checkout`` (a checkout
    of older code) with this interpreter and its packages."""
    bin_dir = os.path.join(work, "before-bin")
    os.makedirs(bin_dir)
    script = os.path.join(bin_dir, "git-run")
    with open(script, "w") as fh:
        fh.write(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {os.path.abspath(checkout)!r})\n"
                 "from gitruns.main import main\nmain()\n")
    os.chmod(script, 0o755)
    import compileall

    compileall.compile_dir(os.path.join(checkout, "gitruns"), quiet=1)
    return bin_dir


def runs_rows(count: int = 1000, repeat: int = 3, before: str | None = None) -> list[str]:
    """Each gitruns verb beside the plain git command that moves the same refs, in the
    same run on the same machine, interleaved (plain, gitruns, plain, ...) and the
    median of ``repeat`` taken: on a shared machine the disk's speed changes from one
    minute to the next, and the ratio is what matters.  ``before``: a checkout of
    older gitruns, timed in the same run too (plain, then the two gitruns in an
    order that alternates)."""
    src = scratch_repo()
    populate(src, count)
    work = tempfile.mkdtemp(prefix="gitruns-share-")
    variants: dict[str, str | None] = {"plain": None}
    if before:
        variants["before"] = _older(before, work)
    variants["ours"] = None
    ops = ("push", "fetch", "noop")
    times: dict[tuple[str, str], list[float]] = {(op, v): [] for op in ops for v in variants}

    def push_argv(v: str, i: int) -> list[str]:
        if v == "plain":
            return ["git", "push", "-q", f"{v}{i}", "refs/runs/*:refs/runs/*"]
        return ["git", "run", "push", f"{v}{i}"]

    for i in range(repeat):
        order = list(variants) if i % 2 == 0 else ["plain"] + list(variants)[:0:-1]
        remotes, clones = {}, {}
        for v in variants:
            remotes[v] = _bare(os.path.join(work, f"{v}{i}.git"))
            run(["git", "remote", "add", f"{v}{i}", remotes[v]], cwd=src)
        for v in order:
            times["push", v].append(_timed(push_argv(v, i), src, variants[v]))
        for v in variants:
            clones[v] = os.path.join(work, f"dst-{v}{i}")
            run(["git", "clone", "-q", remotes[v], clones[v]])
        for v in order:
            argv = ["git", "fetch", "-q", "origin", "refs/runs/*:refs/runs/*"] if v == "plain" else \
                ["git", "run", "fetch"]
            times["fetch", v].append(_timed(argv, clones[v], variants[v]))
        for v in order:
            times["noop", v].append(_timed(push_argv(v, i), src, variants[v]))
        for v in variants:
            shutil.rmtree(remotes[v])
            shutil.rmtree(clones[v])
    shutil.rmtree(work)
    shutil.rmtree(src)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = f"{count:,}"
    names = {"push": "push to a bare remote", "fetch": "fetch into a fresh clone", "noop": "push again, nothing new"}
    head = f"| {n} runs (median of {repeat}) | plain git |"
    head += " before | ratio | after | ratio |" if before else " gitruns | ratio |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for op in ops:
        plain = med[op, "plain"]
        row = f"| {names[op]} | {plain:.2f} s |"
        for v in list(variants)[1:]:
            row += f" {med[op, v]:.2f} s | {med[op, v] / plain:.1f}x |"
        rows.append(row)
    return rows


def artifact_rows() -> list[str]:
    work = tempfile.mkdtemp(prefix="gitruns-art-")
    src = os.path.join(work, "big.bin")
    block = os.urandom(1024 * 1024)
    with open(src, "wb") as fh:
        for _ in range(GIB // len(block)):
            fh.write(block)
    t_cp = timed(lambda: run(["cp", src, os.path.join(work, "copy.bin")]))
    os.unlink(os.path.join(work, "copy.bin"))

    from gitruns.artifactstore import RemoteStore
    from gitruns.hashing import digest_file

    digest = digest_file(src)
    store = RemoteStore(os.path.join(work, "store"))
    t_up = timed(lambda: store.upload(src, digest))
    t_down = timed(lambda: store.download(digest, os.path.join(work, "down.bin")))
    t_cp = min(t_cp, timed(lambda: run(["cp", src, os.path.join(work, "copy2.bin")])))
    shutil.rmtree(work)
    mb = GIB / 1e6
    return [
        "| 1 GiB artifact, directory store | time | MB/s | `cp` of the same file (best of 2) |",
        "|---|---|---|---|",
        f"| upload (to a temporary name, then renamed) | {t_up:.2f} s | {mb / t_up:.0f} | "
        f"{t_cp:.2f} s, {mb / t_cp:.0f} MB/s |",
        f"| download (verified against its digest) | {t_down:.2f} s | {mb / t_down:.0f} | |",
    ]


if __name__ == "__main__":
    import compileall

    import gitruns

    # Byte-compiled once, as an installed package is: where PYTHONDONTWRITEBYTECODE is
    # set, every `git run` would otherwise compile its modules again (0.2 s a command).
    compileall.compile_dir(os.path.dirname(gitruns.__file__), quiet=1)
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [1000]
    repeat = 1 if "--once" in sys.argv else 3
    before = sys.argv[sys.argv.index("--before") + 1] if "--before" in sys.argv else None
    for size in sizes:
        print("\n".join(runs_rows(size, repeat, before)))
    if "--no-artifact" not in sys.argv:
        print("\n".join(artifact_rows()))
