"""Sharing: push and fetch of 1,000 runs beside plain `git push`/`git fetch` of the
same refs, and a 1 GiB artifact through the directory store beside `cp`.

Sizes as arguments (`bench_share.py 1000 10000 --no-artifact`); `--once`: one
measurement each, not the median of 3."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile

from bench_ls import populate
from common import env, run, scratch_repo, timed

GIB = 1024**3


def _bare(path: str) -> str:
    subprocess.run(["git", "init", "-q", "--bare", path], check=True, env=env())
    return path


def _timed(argv: list[str], cwd: str) -> float:
    return timed(lambda: run(argv, cwd=cwd))


def runs_rows(count: int = 1000, repeat: int = 3) -> list[str]:
    """Each gitruns verb beside the plain git command that moves the same refs, in the
    same run on the same machine, interleaved (plain, gitruns, plain, ...) and the
    median of ``repeat`` taken: on a shared machine the disk's speed changes from one
    minute to the next, and the ratio is what matters."""
    src = scratch_repo()
    populate(src, count)
    work = tempfile.mkdtemp(prefix="gitruns-share-")
    times: dict[str, list[float]] = {k: [] for k in ("plain_push", "push", "plain_fetch", "fetch",
                                                     "plain_noop", "noop")}
    for i in range(repeat):
        plain_remote = _bare(os.path.join(work, f"plain{i}.git"))
        ours_remote = _bare(os.path.join(work, f"ours{i}.git"))
        run(["git", "remote", "add", f"plain{i}", plain_remote], cwd=src)
        run(["git", "remote", "add", f"ours{i}", ours_remote], cwd=src)
        times["plain_push"].append(_timed(["git", "push", "-q", f"plain{i}", "refs/runs/*:refs/runs/*"], src))
        times["push"].append(_timed(["git", "run", "push", f"ours{i}"], src))
        dst_plain = os.path.join(work, f"dst-plain{i}")
        dst_ours = os.path.join(work, f"dst-ours{i}")
        for d, remote in ((dst_plain, plain_remote), (dst_ours, ours_remote)):
            run(["git", "clone", "-q", remote, d])
        times["plain_fetch"].append(_timed(["git", "fetch", "-q", "origin", "refs/runs/*:refs/runs/*"], dst_plain))
        times["fetch"].append(_timed(["git", "run", "fetch"], dst_ours))
        times["plain_noop"].append(_timed(["git", "push", "-q", f"plain{i}", "refs/runs/*:refs/runs/*"], src))
        times["noop"].append(_timed(["git", "run", "push", f"ours{i}"], src))
        for path in (plain_remote, ours_remote, dst_plain, dst_ours):
            shutil.rmtree(path)
    shutil.rmtree(work)
    shutil.rmtree(src)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = f"{count:,}"

    def row(what: str, plain: str, ours: str) -> str:
        return f"| {what} | {med[plain]:.2f} s | {med[ours]:.2f} s | {med[ours] / med[plain]:.1f}x |"

    return [
        f"| {n} runs (median of {repeat}) | plain git | gitruns | ratio |",
        "|---|---|---|---|",
        row("push to a bare remote", "plain_push", "push"),
        row("fetch into a fresh clone", "plain_fetch", "fetch"),
        row("push again, nothing new", "plain_noop", "noop"),
    ]


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
    import sys

    import gitruns

    # Byte-compiled once, as an installed package is: where PYTHONDONTWRITEBYTECODE is
    # set, every `git run` would otherwise compile its modules again (0.2 s a command).
    compileall.compile_dir(os.path.dirname(gitruns.__file__), quiet=1)
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [1000]
    repeat = 1 if "--once" in sys.argv else 3
    for size in sizes:
        print("\n".join(runs_rows(size, repeat)))
    if "--no-artifact" not in sys.argv:
        print("\n".join(artifact_rows()))
