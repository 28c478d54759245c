"""The commit hooks with 1,000 runs in the repository: each check on its own, and
`git commit` with the hooks installed beside the same commit without them."""
from __future__ import annotations

import statistics

from bench_ls import populate
from common import run, scratch_repo, timed


def main(count: int = 1000, repeat: int = 11) -> list[str]:
    repo = scratch_repo()
    populate(repo, count, dirty=True)  # every run made on uncommitted code: the most work for pre-commit
    run(["git", "run", "ls"], cwd=repo)  # fills the listing cache, as any earlier listing would have
    pre = statistics.median(timed(lambda: run(["git", "run", "hooks", "run", "pre-commit"], cwd=repo))
                            for _ in range(repeat))
    post = statistics.median(timed(lambda: run(["git", "run", "hooks", "run", "post-commit"], cwd=repo))
                             for _ in range(repeat))
    with_hooks, without = [], []
    for i in range(repeat):
        run(["git", "run", "hooks", "install"], cwd=repo)
        with_hooks.append(timed(lambda i=i: run(["git", "commit", "-q", "--allow-empty", "-m", f"h{i}"], cwd=repo)))
        run(["git", "run", "hooks", "uninstall"], cwd=repo)
        without.append(timed(lambda i=i: run(["git", "commit", "-q", "--allow-empty", "-m", f"n{i}"], cwd=repo)))
    t_with, t_without = statistics.median(with_hooks), statistics.median(without)
    return [
        f"| {count:,} runs | median |",
        "|---|---|",
        f"| `git run hooks run pre-commit` | {pre * 1000:.0f} ms |",
        f"| `git run hooks run post-commit` | {post * 1000:.0f} ms |",
        f"| `git commit` without hooks (peer) | {t_without * 1000:.0f} ms |",
        f"| `git commit` with both hooks | {t_with * 1000:.0f} ms ({t_with / t_without:.1f}x) |",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
