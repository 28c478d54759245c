"""The lineage graph over a run index built in memory: walks, depth, the time guard,
dependents' shape, targets, and the tree rendering."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from gitruns import runindex
from gitruns.commands.lineage import render
from gitruns.errors import UsageError
from gitruns.lineagegraph import Lineage, Target, _consumed, _walk, complete_digest, digest_hex
from gitruns.linking import best_producer

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def rid(n: int, same_ms: bool = False) -> str:
    """A run id created at millisecond ``n`` (or all at one millisecond, ``n`` the
    random part)."""
    out = ""
    for _ in range(10):
        n, r = divmod(n, 32)
        out = ALPHABET[r] + out
    return "0000000001" + out + "000000" if same_ms else out + "0" * 16


def dg(n: int) -> str:
    return f"xxh3_128:{n:032x}"


class Index:
    """A run index in memory, filled by hand: runs with inputs and artifacts by digest."""

    def __init__(self) -> None:
        db = sqlite3.connect(":memory:", isolation_level=None)
        runindex._prepare(db)
        self.index = runindex.RunIndex(None, db, False)  # type: ignore[arg-type]

    def run(self, n: int, inputs: list[int] = (), artifacts: list[int] = (), status: str = "succeeded",
            upstream: list[dict[str, Any]] | None = None, retired: dict[str, Any] | None = None,
            same_ms: bool = False) -> str:
        r, commit = rid(n, same_ms), f"{n:040x}"
        rec = {"schema": 5, "id": r, "name": f"r{n}", "status": status, "upstream": upstream or [], "retired": retired,
               "inputs": [{"path": f"in{i}", "digest": dg(i), "kind": "file"} for i in inputs],
               "artifacts": [{"path": f"out{a}", "digest": dg(a)} for a in artifacts]}
        db = self.index.db
        db.execute("INSERT INTO visible VALUES (?, ?, NULL)", (r, commit))
        db.execute("INSERT INTO runs (commit_id, run_id, name, status, retired, json) VALUES (?, ?, ?, ?, ?, ?)",
                   (commit, r, f"r{n}", status, 1 if retired else 0, json.dumps(rec).encode()))
        db.executemany("INSERT INTO digests VALUES (?, 'input', NULL, ?, ?)",
                       [(commit, f"in{i}", dg(i)) for i in inputs])
        db.executemany("INSERT INTO digests VALUES (?, 'artifact', NULL, ?, ?)",
                       [(commit, f"out{a}", dg(a)) for a in artifacts])
        return r


def walk(ix: Index, target: Target, direction: str, depth: int | None = None) -> Lineage:
    return _walk(ix.index, target, direction, depth)


def others(graph: Lineage) -> list[str]:
    return [n["run"] for n in graph.runs()]


def test_a_long_chain_downstream_and_upstream() -> None:
    ix = Index()
    n = 2000
    for i in range(n):
        ix.run(i, inputs=[i] if i else [], artifacts=[i + 1])
    down = walk(ix, Target("run", run=rid(0)), "downstream")
    assert others(down) == [rid(i) for i in range(1, n)]
    assert [down.nodes[f"run:{rid(i)}"]["depth"] for i in (1, n - 1)] == [1, n - 1]
    up = walk(ix, Target("run", run=rid(n - 1)), "upstream")
    assert set(others(up)) == {rid(i) for i in range(n - 1)}
    lines = render(down)
    assert len(lines) == 2 * n  # a run and its artifact per level
    assert lines[-1].startswith(" " * 48 + f"[{2 * n - 1}] artifact out{n}")  # indentation stops growing


def test_depth_bounds_the_walk() -> None:
    ix = Index()
    for i in range(5):
        ix.run(i, inputs=[i] if i else [], artifacts=[i + 1])
    assert others(walk(ix, Target("run", run=rid(0)), "downstream", 2)) == [rid(1), rid(2)]
    assert others(walk(ix, Target("run", run=rid(0)), "downstream", 0)) == []
    assert others(walk(ix, Target("run", run=rid(4)), "upstream", 1)) == [rid(3)]


def test_a_consumer_before_the_producer_is_not_downstream() -> None:
    ix = Index()
    ix.run(1, inputs=[7])  # used the bytes before run 2 made them
    ix.run(2, artifacts=[7])
    ix.run(3, inputs=[7])
    assert others(walk(ix, Target("run", run=rid(2)), "downstream")) == [rid(3)]
    # Of the digest itself: everyone who used it.
    assert others(walk(ix, Target("digest", digest=dg(7)), "downstream")) == [rid(1), rid(3)]


def test_runs_of_one_millisecond_still_chain_and_a_cycle_ends() -> None:
    ix = Index()
    ix.run(5, artifacts=[1], same_ms=True)
    ix.run(3, inputs=[1], artifacts=[2], same_ms=True)  # a smaller random part than its producer's
    ix.run(4, inputs=[2], artifacts=[1], same_ms=True)  # made the first one's bytes again: a cycle
    down = walk(ix, Target("run", run=rid(5, True)), "downstream")
    assert others(down) == [rid(3, True), rid(4, True)]
    assert set(others(walk(ix, Target("run", run=rid(4, True)), "upstream"))) == {rid(3, True), rid(5, True)}


def test_upstream_takes_the_record_then_the_newest_succeeded_earlier_producer() -> None:
    ix = Index()
    ix.run(1, artifacts=[5])
    ix.run(2, artifacts=[5], status="failed")
    ix.run(3, artifacts=[6])
    ix.run(4, artifacts=[6])
    ix.run(9, artifacts=[5])  # later than the consumer: never its upstream
    ix.run(8, inputs=[5, 6], upstream=[{"run": rid(3), "commit": f"{3:040x}", "digest": dg(6), "path": "in6"}])
    up = walk(ix, Target("run", run=rid(8)), "upstream")
    assert set(others(up)) == {rid(1), rid(3)}


def test_retired_runs_carry_their_reason() -> None:
    ix = Index()
    ix.run(1, artifacts=[2], retired={"at": "2026-01-01T00:00:00Z", "by": "ada", "reason": "bad labels"})
    ix.run(2, inputs=[2])
    graph = walk(ix, Target("run", run=rid(2)), "upstream")
    assert graph.nodes[f"run:{rid(1)}"]["retired"]["reason"] == "bad labels"
    assert any("retired: bad labels" in line for line in render(graph))


def test_a_diamond_is_shown_once_then_see_above() -> None:
    ix = Index()
    ix.run(1, artifacts=[10, 11])
    ix.run(2, inputs=[10], artifacts=[12])
    ix.run(3, inputs=[11], artifacts=[13])
    ix.run(4, inputs=[12, 13], artifacts=[14])
    ix.run(5, inputs=[14])
    graph = walk(ix, Target("run", run=rid(1)), "downstream")
    assert others(graph) == [rid(2), rid(3), rid(4), rid(5)]
    lines = render(graph)
    assert sum("see above" in line for line in lines) == 1
    assert sum(f"used by run {rid(5)[:12]}" in line for line in lines) == 1


def test_digests_and_abbreviations() -> None:
    assert digest_hex("xxh3_128:" + "A" * 32) == "a" * 32
    assert digest_hex("1234567") is None and digest_hex("12345678") == "12345678"
    assert digest_hex("xyz12345") is None
    ix = Index()
    ix.run(1, artifacts=[0x1234567800, 0x1234567900])
    assert complete_digest(ix.index, dg(0x1234567800)[9:][:30]) == dg(0x1234567800)
    with pytest.raises(UsageError, match="ambiguous"):
        complete_digest(ix.index, "0" * 22 + "12")
    with pytest.raises(UsageError, match="no run has a file of digest"):
        complete_digest(ix.index, "ffffffff")
    with pytest.raises(UsageError, match="not a digest"):
        complete_digest(ix.index, "nothex!!")


def test_best_producer_prefers_succeeded_then_newest_then_a_step_row() -> None:
    rows = [("a", "c1", None, "p", "succeeded"), ("b", "c2", None, "p", "failed"), ("a", "c1", "s", "p", "succeeded")]
    assert best_producer(rows) == ("a", "c1", "s", "p", "succeeded")
    assert best_producer([]) is None
    assert best_producer([("b", "c2", None, "p", "retired"), ("a", "c1", None, "p", "succeeded")])[0] == "a"


def test_consumed_leaves_out_a_pipeline_steps_own_outputs_and_itself() -> None:
    rec = {"id": "me", "inputs": [], "artifacts": [],
           "steps": [{"name": "one", "inputs": [{"path": "x", "digest": dg(1)}], "outputs": [{"path": "y",
                                                                                             "digest": dg(2)}],
                      "upstream": [{"run": "other", "digest": dg(1), "commit": "c", "path": "x"}]},
                     {"name": "two", "inputs": [{"path": "y", "digest": dg(2)}, {"kind": "value", "digest": dg(3)}],
                      "outputs": [], "upstream": [{"run": "me", "digest": dg(2), "commit": "c", "path": "y"}]}]}
    inputs, upstream = _consumed(rec)
    assert inputs == [(dg(1), "x", "one")]
    assert [u["run"] for u in upstream] == ["other"]
