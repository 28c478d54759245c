"""`git run ls --json` with 1,000 and 10,000 runs, beside `git for-each-ref refs/runs`.

The runs are real records: one run is made with `git run exec`, then its record
is written again under new ids through gitruns' own store (the code path exec
uses), which is much faster than 10,000 real launches.
"""
from __future__ import annotations

import copy
import os
import subprocess

from common import env, median_of, run, scratch_repo, template_run, timed


def populate(repo: str, count: int, dirty: bool = False) -> None:
    """``count`` runs; with ``dirty``, all made from an uncommitted change on HEAD."""

    from gitruns import record, runid, runrefs

    if dirty:
        with open(os.path.join(repo, "module_0.py"), "a") as fh:
            fh.write("TUNED = True\n")
    run(["git", "run", "exec", "--name", "template", "--", "python", "-c",
         "import gitruns; gitruns.log_metric('loss', 0.5)"], cwd=repo)
    r, rid, template, files = template_run(repo)
    head = str(r.git.head.target)
    base_ms = runid.timestamp_ms(rid)
    for i in range(count - 1):
        rec = copy.deepcopy(template)
        rec["id"] = runid.new_id(base_ms - (i + 1) * 1000)
        rec["name"] = f"run-{i}"
        rec["metrics"] = {"loss": 1.0 / (i + 2)}
        launch = dict(rec, status="running")
        c1 = runrefs.write(r, record.upgrade(launch), files, template["code"]["snapshot_tree"], [head], None)
        runrefs.write(r, rec, files, template["code"]["snapshot_tree"], [c1], c1)


def main(sizes: tuple[int, ...] = (1000, 10000), repeat: int = 5) -> list[str]:
    rows = ["| runs | `git for-each-ref refs/runs` (peer) | `git run ls --json`, first (cold cache) | "
            "`git run ls --json` (median) | `git run ls` table (median) | ratio to peer |",
            "|---|---|---|---|---|---|"]
    for size in sizes:
        repo = scratch_repo()
        populate(repo, size)
        run(["git", "gc", "-q"], cwd=repo)  # as a repository with many runs would be
        for suffix in ("", "-wal", "-shm"):  # the run index (gitruns.runindex): the first listing rebuilds it
            cache = os.path.join(repo, ".git", "gitruns", "index.sqlite" + suffix)
            if os.path.exists(cache):
                os.unlink(cache)
        ls_json = lambda r=repo: run(["git", "run", "ls", "--json"], cwd=r)  # noqa: E731
        ls_table = lambda r=repo: run(["git", "run", "ls"], cwd=r)  # noqa: E731
        peer = lambda r=repo: run(["git", "for-each-ref", "refs/runs"], cwd=r)  # noqa: E731
        cold = timed(ls_json)
        t_json = median_of(ls_json, repeat)
        t_table = median_of(ls_table, repeat)
        t_peer = median_of(peer, repeat)
        count = subprocess.run(["git", "for-each-ref", "--count=100000", "refs/runs"], cwd=repo, env=env(),
                               capture_output=True, text=True).stdout.count("\n")
        assert count == size, (count, size)
        rows.append(f"| {size:,} | {t_peer * 1000:.0f} ms | {cold * 1000:.0f} ms | {t_json * 1000:.0f} ms | "
                    f"{t_table * 1000:.0f} ms | {t_json / t_peer:.1f}x |")
    return rows


if __name__ == "__main__":
    print("\n".join(main()))
