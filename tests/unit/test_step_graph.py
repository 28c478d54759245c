"""showing.step_graph: a pipeline run's steps drawn as a tree (pure: records in, lines out)."""
from __future__ import annotations

from typing import Any

from gitruns.listing import failed_step, pipeline_label
from gitruns.showing import step_counts, step_graph


def _s(name: str, status: str = "succeeded", needs: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "needs": needs or [], "duration_s": extra.pop("duration_s", 1.5),
            "attempts": extra.pop("attempts", [{}]), **extra}


DIAMOND = [
    _s("prepare"),
    _s("train", "failed", ["prepare"], attempts=[{}, {}, {}], error={"type": "exit", "message": "exit 1"}),
    _s("features", "cached", ["prepare"], cached_from={"run": "01jd3kx5q7e8r9s0t1v2w3x4y5", "step": "feat"}),
    _s("evaluate", "skipped", ["train", "features"], duration_s=None, attempts=[],
       error={"type": "skipped", "message": "needs train, which failed"}),
]


def test_a_diamond_in_ascii_and_in_box_drawing() -> None:
    # evaluate hangs under the latest step it needs (features comes after train).
    assert step_graph(DIAMOND) == [
        "prepare           succeeded  1.50s",
        "|-- train         failed     1.50s  3 attempts",
        "|       error: exit 1",
        "`-- features      cached     1.50s  cached from 01jd3kx5q7e8/feat",
        "    `-- evaluate  skipped    needs train, which failed  (also needs train)",
    ]
    assert step_graph(DIAMOND, unicode=True) == [
        "prepare           succeeded  1.50s",
        "├── train         failed     1.50s  3 attempts",
        "│       error: exit 1",
        "└── features      cached     1.50s  cached from 01jd3kx5q7e8/feat",
        "    └── evaluate  skipped    needs train, which failed  (also needs train)",
    ]
    assert step_counts(DIAMOND) == "4 (1 succeeded, 1 failed, 1 cached, 1 skipped)"


def test_statuses_are_painted_and_padding_stays_outside_the_colour() -> None:
    lines = step_graph(DIAMOND[:2], paint=lambda text, slot: f"<{slot}>{text}</>")
    assert lines[0] == "prepare    <succeeded>succeeded</>  1.50s"
    assert lines[1] == "`-- train  <failed>failed</>     1.50s  3 attempts"


def test_independent_roots_and_steps_needing_unknown_steps() -> None:
    lines = step_graph([_s("a"), _s("b", needs=["elsewhere"]), _s("c", "pending", ["a"], duration_s=None,
                                                                     attempts=[])])
    assert lines == ["a      succeeded  1.50s", "`-- c  pending", "b      succeeded  1.50s  (needs elsewhere)"]


def test_a_crafted_record_with_a_cycle_or_a_deep_chain_draws_each_step_once() -> None:
    cycle = [_s("x", needs=["y"]), _s("y", needs=["x"])]
    lines = step_graph(cycle)
    assert [line.split()[0] for line in lines] == ["x", "`--"] and "y" in lines[1]
    chain = [_s(f"s{i}", needs=[f"s{i - 1}"] if i else []) for i in range(3000)]  # no recursion limit
    assert len(step_graph(chain)) == 3000


def test_hostile_names_and_messages_cannot_forge_lines_or_escapes() -> None:
    steps = [_s("ok\x1b[2J\nforged", "failed", error={"type": "exit", "message": "bad\nline\x1b]0;title\x07"}),
             _s("\u202etxt.exe", "skipped", ["ok\x1b[2J\nforged"], error={"message": "\r\x1b[31mfake"})]
    lines = step_graph(steps, unicode=True)
    assert len(lines) == 3
    assert all(line.isprintable() for line in lines), lines
    assert lines[0].startswith("ok^[[2J\\x0aforged")
    assert lines[1].endswith("error: bad\\x0aline^[]0;title\\x07")
    assert "\\u202etxt.exe" in lines[2] and "\\x0d^[[31mfake" in lines[2]


def test_the_listing_label_of_a_pipeline_run() -> None:
    rec: dict[str, Any] = {"kind": "pipeline", "status": "failed", "pipeline": {"file": "gitruns.yaml"},
                           "steps": DIAMOND, "error": {"type": "step", "message": "m", "step": "train"}}
    assert pipeline_label(rec) == "pipeline gitruns.yaml: 4 steps, failed at train"
    assert failed_step({**rec, "error": None}) == "train"  # no error.step: the first failed step
    running = {**rec, "status": "running", "error": None,
               "steps": [_s("a"), _s("b", "running", ["a"]), _s("c", "pending", ["b"])]}
    assert pipeline_label(running) == "pipeline gitruns.yaml: 3 steps, 1 done"
    python = {"kind": "pipeline", "status": "succeeded", "pipeline": {"file": None}, "steps": [_s("a")]}
    assert pipeline_label(python) == "pipeline python: 1 step"
