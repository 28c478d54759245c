"""The README's first command runs examples/demo.sh: it must keep working, end to end,
with what it shows (exec runs, a pipeline, its reuse of unchanged steps, a reproduction's
verdict, a rerun, a sweep, a query, lineage, a promotion, a retirement, plain git)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(["sh", str(ROOT / "examples" / "demo.sh")], capture_output=True, text=True,
                          env=env, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "best run: fast" in out
    # The pipeline: four steps, two at once; the second run reuses the two steps lr does not touch.
    assert "(4 succeeded)" in out and "(2 succeeded, 2 cached)" in out
    assert "└── evaluate" in out or "`-- evaluate" in out
    assert "~ prepare: succeeded" in out and "-> cached" in out
    assert "model: y = " in out.split("git run log pipe-fast --step train", 1)[1]
    # A reproduction with its verdict, a rerun with one intended change, a sweep.
    assert "verdict: reproduced (1 artifact(s) identical)" in out and "reproduced model.json" in out
    assert "param train.lr: 0.02 -> 0.01" in out and "(rerun of " in out
    assert "3 of 3 points succeeded" in out
    # A query, lineage by content, a promotion, a retirement.
    query = out.split("== git run ls --where", 1)[1].split("== ", 1)[0]
    assert " fast " in query and " slow " not in query and "params.train.lr" in query
    assert "produced by:" in out and "pipe-fast" in out.split("== git run which", 1)[1].split("== ", 1)[0]
    assert "produced by run" in out.split("== git run lineage report", 1)[1].split("== ", 1)[0]
    assert "promotion demo/model" in out and "verified" in out
    assert "slow (retired)" in out
    assert proc.stdout.rstrip().endswith("clean")  # git fsck --strict
