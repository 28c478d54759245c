"""A 1 GiB input: first `git run exec -i` (hashes it) and second (stat cache), beside
the same exec without `-i`, and `cat FILE > /dev/null` as the cost of one read; then
keeping it (docs/inputs.md): the first run copies it into the cache, later ones find it."""
from __future__ import annotations

import os
import sys
import time

from common import median_of, run, scratch_repo, timed

SIZE = 1024**3


def main(repeat: int = 3) -> list[str]:
    repo = scratch_repo()
    path = os.path.join(repo, "big.bin")
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as fh:
        for _ in range(SIZE // len(block)):
            fh.write(block)
    old = time.time() - 60
    os.utime(path, (old, old))  # a settled data set, outside the racy window
    with open(os.path.join(repo, ".gitignore"), "w") as fh:
        fh.write("big.bin\n")
    run(["git", "add", ".gitignore"], cwd=repo)
    run(["git", "commit", "-qm", "ignore"], cwd=repo)
    py = sys.executable
    plain = lambda: run(["git", "run", "exec", "--", py, "-c", "pass"], cwd=repo)  # noqa: E731
    # Hashing alone, as before inputs were kept; then keeping (the default), separately.
    with_input = lambda: run(["git", "-c", "gitruns.keepInputs=false", "run", "exec", "-i", "big.bin", "--",  # noqa: E731
                              py, "-c", "pass"], cwd=repo)
    keeping = lambda: run(["git", "run", "exec", "-i", "big.bin", "--", py, "-c", "pass"], cwd=repo)  # noqa: E731
    cat = lambda: run(["sh", "-c", "cat big.bin > /dev/null"], cwd=repo)  # noqa: E731
    plain()
    t_cat = median_of(cat, repeat)
    t_first = timed(with_input)
    t_second = median_of(with_input, repeat)
    t_plain = median_of(plain, repeat)
    t_keep_first = timed(keeping)  # hashed already (stat cache): the copy into the cache
    t_keep_again = median_of(keeping, repeat)  # the cache has it: nothing copied
    os.unlink(path)
    return [
        "| measurement | time | ratio to exec without -i |",
        "|---|---|---|",
        f"| `git run exec -- python -c pass` | {t_plain * 1000:.0f} ms | 1.0 |",
        f"| `cat big.bin > /dev/null` (1 GiB, page cache warm) | {t_cat * 1000:.0f} ms | |",
        f"| `git run exec -i big.bin ...`, first run (hashes 1 GiB) | {t_first * 1000:.0f} ms | "
        f"{t_first / t_plain:.1f}x |",
        f"| same, second run (stat cache hit) | {t_second * 1000:.0f} ms | {t_second / t_plain:.1f}x |",
        f"| kept (the default): first run, copies 1 GiB into the cache | {t_keep_first * 1000:.0f} ms | "
        f"{t_keep_first / t_plain:.1f}x |",
        f"| kept, later runs (the cache has it) | {t_keep_again * 1000:.0f} ms | {t_keep_again / t_plain:.1f}x |",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
