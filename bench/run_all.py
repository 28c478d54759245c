"""Run every benchmark and write the figures to docs/benchmarks.md.

    .venv/bin/python bench/run_all.py          # print
    .venv/bin/python bench/run_all.py --write  # and update docs/benchmarks.md

Use a venv made with `pip install .`, as a user's is: an editable install
(`pip install -e .`) adds a path finder that costs about 20 ms at every Python
start, the bare `python -c pass` baseline's included.
"""
from __future__ import annotations

import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_exec  # noqa: E402
import bench_hooks  # noqa: E402
import bench_inputs  # noqa: E402
import bench_ls  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_query  # noqa: E402
import bench_redact  # noqa: E402
import bench_rerun  # noqa: E402
import bench_share  # noqa: E402
import bench_snapshot  # noqa: E402
import bench_startup  # noqa: E402
from common import machine  # noqa: E402

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks.md")


SNAPSHOT_NOTES = [
    "Targets of issue 7: the snapshot within 2x `git status` clean and dirty; a",
    "touched-but-unchanged tree costing no more than a clean one from the second run on.",
    "",
    "How: git builds the snapshot. One `git status --porcelain=v2 -uall` on a private",
    "copy of the index (`GIT_INDEX_FILE` under `.git/gitruns/snapshot-index/`) finds",
    "what differs and refreshes the copy's stat data, which is kept for the next run",
    "as long as the user's index is unchanged: touched files are re-hashed once, not",
    "on every run (before, 4.4 s run after run at 100,000 files). Files hashed for a",
    "snapshot are remembered by their stat data with the blob they became, so a tree",
    "that stays dirty is not re-read either: known blobs and deletions go straight",
    "into the tree (pygit2's tree builder, only the directories that changed), HEAD's",
    "tree is the base when nothing is staged, and git hashes (and filters) only files",
    "that are new or changed since the last run. What remains is one `git status`",
    "over the tree, a few milliseconds of Python per changed directory, and lstat of",
    "the untracked files to apply the caps.",
    "",
    "The first run on a dirty tree (and the first run after a touch) pays for",
    "writing every new blob and for one refresh: git hashes each touched file once,",
    "as `git status` does. `git run exec` adds Python start-up, the environment",
    "capture and two commits (about 0.4-0.5 s on this loaded machine) to the",
    "snapshot. The machine these figures come from is a 2-core VM shared with other",
    "jobs (load average 7-11 during the run): `git status` alone varied from 0.6 s",
    "to 1.4 s between runs, so read the ratios, measured side by side, not the times.",
]


RERUN_NOTES = [
    "Target of issue 10: a rerun's overhead over exec under 1 s at 20,000 files. A rerun",
    "runs in a worktree of its own under `.git/gitruns/worktrees/`, kept between reruns:",
    "checking out 20,000 files took 2.4 s of file creation on this machine (4.0 s over",
    "exec when each rerun made and removed its worktree), while moving a kept one to the",
    "run's commit (`git reset --hard`, `git clean -ffdx`) writes only what differs, and",
    "its index keeps the stat data, so the new run's snapshot hashes nothing again. The",
    "first rerun in a repository still pays for the checkout once. What remains is the",
    "reset and clean (two `git status`-sized walks), restoring the inputs, and reading",
    "the original's record and config.",
    "",
    "`--env recreate` builds the environment once per recorded package list and keeps",
    "it under `.git/gitruns/envs/`; the second reproduction reuses it. Its first time is",
    "pip's (or uv's, when installed) installing the packages with `--no-deps`: the",
    "recorded list is already complete, so no resolver runs, and the venv is made",
    "without pip of its own (one pip installs into it with `--python`), which is why",
    "it beats the same venv made by hand.",
]


def main() -> None:
    today = datetime.date.today().isoformat()
    sections = [
        "# Benchmarks",
        "",
        "Written by `bench/run_all.py --write`; every figure is measured beside its",
        "baseline in the same run. Targets of issue 2: exec overhead under 0.3 s on a",
        "2-core machine; `git run ls` at 10,000 runs under 1 s.",
        "",
        f"Last run: {today}, {machine()}.",
        "",
        "## `git run exec` overhead",
        "",
        *bench_exec.main(),
        "",
        "What dominates (cProfile of one exec): importing gitruns' modules with pygit2,",
        "click and yaml is most of it; the launch itself (one `git status` on the private",
        "index for the snapshot, the environment, the launch commit) is about 25 ms, and",
        "starting, waiting for and recording the command about 25 ms more than the command.",
        "The interpreter's package list is read by running that interpreter once and is",
        "then cached until one of its `sys.path` directories changes, so only the first",
        "run pays its 60-150 ms. Compare ratios, not times, between two runs of this file:",
        "the virtual machine varies (the bare `python -c pass` took 9 ms on the machine of",
        "one run and 35 ms on that of the next). Checked side by side on 2026-11-24: the",
        "code before issue 7 (ff80f93) measured 306 ms of overhead and this code 265 ms on",
        "the same machine in the same hour, so the rise from the 126 ms of the issue-6",
        "figures is the machine, not the snapshot's `git status`.",
        "",
        "## Pipelines (issue 9)",
        "",
        "A chain of 10 steps, each a trivial shell command reading the previous step's",
        "output: `git run pipeline` beside the same commands in a shell script, one",
        "`git run exec`, and `dvc repro` of the same pipeline as a dvc.yaml (when DVC is",
        "installed: `pip install dvc`). Targets: overhead per step under 50 ms on top of",
        "one exec; a fully cached 10-step rerun under 0.5 s; faster than `dvc repro`.",
        "",
        *bench_pipeline.main(),
        "",
        "The overhead per step is the pipeline's time less the script's and less one",
        "exec's overhead, over 10. Each executed step costs two commits on the run's ref",
        "(its start and its end; about 8 ms each with a growing run.json), hashing its",
        "deps through the stat cache, storing its outputs in the artifact cache, and",
        "starting `/bin/sh`. A fully cached rerun is one exec's worth of start-up, snapshot",
        "and environment capture, a scan of the earlier runs' steps through the listing",
        "cache, a verified restore per output (skipped when the file in place already has",
        "the digest) and one commit per cached step. DVC pays for its own start-up, its",
        "lock file and its stage cache checks on every stage.",
        "",
        "## Rerun and reproduce (issue 10)",
        "",
        *bench_rerun.main(),
        "",
        *RERUN_NOTES,
        "",
        "## A 1 GiB input and the stat cache",
        "",
        *bench_inputs.main(),
        "",
        "## `git run ls` with many runs",
        "",
        *bench_ls.main(),
        "",
        "The first listing reads every run's commit, tree and run.json blob and builds",
        "the run index (`.git/gitruns/index.sqlite`, issue 11), so later listings read",
        "one table instead of 10,000 objects. Its rows are keyed by commit id, so they",
        "never go stale; deleting it only costs one cold listing. The peer,",
        "`git for-each-ref`, only lists refs and reads no record: it is the floor.",
        "",
        "The cold listing reads the records unknown to the cache through one",
        "`git cat-file --batch` (from 500 of them; about three times faster than",
        "object-by-object lookups through pygit2), then parses the JSON. What remains of",
        "a warm listing is starting Python with its imports, reading and parsing 10,000",
        "cached records, and printing them.",
        "",
        "Side by side on 2026-11-24 (issue 8), on one repository of 5,000 runs, seven",
        "alternating tries each: the code before issue 8 took 734 ms for the table and",
        "724 ms for `--json`, this code 785 ms and 686 ms. The table's extra ~50 ms is",
        "asking git whether to colour (`git config --get-colorbool`, one process) and",
        "shell-quoting each command; measuring cells with wcwidth costs nothing for",
        "ASCII text. The figures above move by up to 40% between runs of this file on",
        "this shared VM (10,000 runs, `--json`: 962 ms in one run, 1274 ms in the next),",
        "so the 1 s target of issue 2 at 10,000 runs is met or missed by the machine's",
        "load; read the side-by-side ratios.",
        "",
        "## Queries at 100,000 runs (issue 11)",
        "",
        *bench_query.rows(),
        "",
        *bench_query.QUERY_NOTES,
        "",
        "### `git run lineage --downstream` over a chain",
        "",
        *bench_query.lineage_rows(),
        "",
        "### MLflow `search_runs`, side by side",
        "",
        *bench_query.mlflow_rows(),
        "",
        "## Sharing (issue 3)",
        "",
        *bench_share.runs_rows(),
        "",
        "`git run push` first asks the remote for its run refs (`git ls-remote`), reads",
        "each record to find the artifacts to upload, then pushes only the refs the",
        "remote lacks, without force. `git run fetch` fetches into tracking refs and",
        "validates every new record against the JSON Schema before taking it in.",
        "Side by side on 2026-11-24, the code before issue 7 gave 2.6x (push) and 6.2x",
        "(fetch) on the same machine, this code 2.3x and 6.6x: the record checks added",
        "by issue 7 (bounds, one transaction for confirmed uploads) cost no more than the",
        "noise. Fetch is dominated by validating each record against the JSON Schema",
        "(about 2 ms a record) and by creating one ref a run.",
        "",
        *bench_share.artifact_rows(),
        "",
        "The directory store copies with fsspec's local filesystem (`shutil.copyfile`,",
        "which lets the kernel copy); the download also re-hashes the file to verify it.",
        "Read these with care: on this virtual machine a 1 GiB copy takes from 0.3 s to",
        "3 s depending on how much written data the kernel is still flushing to disk, so",
        "the order of the measurements matters more than the method (a plain `cp` and",
        "`shutil.copyfile` of 500 MB swapped places between two tries). The store adds a",
        "rename for uploads and a full re-hash for downloads on top of the copy.",
        "",
        "## Snapshot of a large tree (issue 7)",
        "",
        *bench_snapshot.main(),
        "",
        *SNAPSHOT_NOTES,
        "",
        "## Redaction (issue 7)",
        "",
        "Target: linear time (a 300 KB config value used to add 19 s).",
        "",
        *bench_redact.rows(1.0),
        "",
        "`scrub_text` (passwords in URLs, secret-named query parameters) is one regex",
        "whose match can only start at `://` and cannot reach past that URL's host part;",
        "`looks_secret` splits a name into segments once. Both stay flat per MB as the",
        "input grows; the old regex backtracked quadratically on these shapes.",
        "",
        "## Start-up and `import gitruns` (issue 8)",
        "",
        *bench_startup.main(),
        "",
        "`import gitruns` loads only the standard library: the package's names",
        "(`log_metric`, `runs`, `load`, ...) resolve their modules on first use, so a",
        "training script that only logs metrics never pays for pygit2, click or yaml.",
        "`git run --version` pays for click and the CLI module. Before issue 8,",
        "`import gitruns` also loaded `typing`, `json` and `re` (26 ms on top of Python",
        "in the first run of this file that day); they are now imported where used.",
        "",
        "## Commit hooks (issue 4)",
        "",
        "Target: each hook under 0.2 s with 1,000 runs in the repository.",
        "",
        *bench_hooks.main(),
        "",
        "Side by side on 2026-11-24 the code before issue 7 took 294 ms (pre-commit) and",
        "296 ms (post-commit) on the same machine, this code 299 ms and 306 ms: the rise",
        "from the issue-4 figures is the machine.",
        "",
        "Every one of the 1,000 runs was made on uncommitted changes on HEAD, the most",
        "work for the pre-commit check. A hook's time is mostly starting Python and",
        "importing pygit2 (the hook entry point skips the click CLI); reading 1,000",
        "records from the listing cache is about 30 ms, and runs that share a snapshot",
        "are judged once.",
        "",
    ]
    text = "\n".join(sections)
    print(text)
    if "--write" in sys.argv:
        with open(DOC, "w", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
