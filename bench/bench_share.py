"""Sharing: push and fetch of 1,000 runs (sizes as arguments: `bench_share.py 1000
10000 --no-artifact`) beside plain `git push`/`git fetch` of the same refs, and a
1 GiB artifact through the directory store beside `cp`."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from bench_ls import populate
from common import env, median_of, run, scratch_repo, timed

GIB = 1024**3


def _bare(path: str) -> str:
    subprocess.run(["git", "init", "-q", "--bare", path], check=True, env=env())
    return path


def runs_rows(count: int = 1000) -> list[str]:
    """Each gitruns verb beside the plain git command that moves the same refs, in the
    same run on the same machine (the ratio is what matters: this machine's disk varies)."""
    src = scratch_repo()
    populate(src, count)
    work = tempfile.mkdtemp(prefix="gitruns-share-")
    plain_remote = _bare(os.path.join(work, "plain.git"))
    ours_remote = _bare(os.path.join(work, "ours.git"))
    run(["git", "remote", "add", "plain", plain_remote], cwd=src)
    run(["git", "remote", "add", "ours", ours_remote], cwd=src)
    t_plain_push = timed(lambda: run(["git", "push", "-q", "plain", "refs/runs/*:refs/runs/*"], cwd=src))
    t_push = timed(lambda: run(["git", "run", "push", "ours"], cwd=src))
    dst_plain = os.path.join(work, "dst-plain")
    dst_ours = os.path.join(work, "dst-ours")
    for d, remote in ((dst_plain, plain_remote), (dst_ours, ours_remote)):
        run(["git", "clone", "-q", remote, d])
    t_plain_fetch = timed(lambda: run(["git", "fetch", "-q", "origin", "refs/runs/*:refs/runs/*"], cwd=dst_plain))
    t_fetch = timed(lambda: run(["git", "run", "fetch"], cwd=dst_ours))
    t_plain_noop = median_of(lambda: run(["git", "push", "-q", "plain", "refs/runs/*:refs/runs/*"], cwd=src), 3)
    t_noop = median_of(lambda: run(["git", "run", "push", "ours"], cwd=src), 3)
    shutil.rmtree(work)
    shutil.rmtree(src)
    n = f"{count:,}"
    return [
        f"| {n} runs | plain git | gitruns | ratio |",
        "|---|---|---|---|",
        f"| push to a bare remote | {t_plain_push:.2f} s | {t_push:.2f} s | {t_push / t_plain_push:.1f}x |",
        f"| fetch into a fresh clone | {t_plain_fetch:.2f} s | {t_fetch:.2f} s | {t_fetch / t_plain_fetch:.1f}x |",
        f"| push again, nothing new (median of 3) | {t_plain_noop:.2f} s | {t_noop:.2f} s | "
        f"{t_noop / t_plain_noop:.1f}x |",
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
    import sys

    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [1000]
    for size in sizes:
        print("\n".join(runs_rows(size)))
    if "--no-artifact" not in sys.argv:
        print("\n".join(artifact_rows()))
