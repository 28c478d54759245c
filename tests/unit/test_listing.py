"""listing.py: which runs `ls` selects, and the labels of its columns."""
from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import pytest

from gitruns import runid
from gitruns.errors import UsageError
from gitruns.listing import Filters, code_label, key_metrics, select, shared_label
from gitruns.lookup import Run

NOW = dt.datetime.now(dt.timezone.utc)


def _run(name: str | None, status: str, hours_ago: float, tags: dict[str, str] | None = None,
         **extra: Any) -> Run:
    started = NOW - dt.timedelta(hours=hours_ago)
    rid = runid.new_id(int(started.timestamp() * 1000))
    rec = {"id": rid, "name": name, "status": status, "started_at": started.isoformat().replace("+00:00", "Z"),
           "tags": tags or {}, "host": "elsewhere.example", **extra}
    return Run(rid, "0" * 40, rec)


RUNS = [  # newest first, as all_runs gives them
    _run("wider-lr", "failed", 1, {"exp": "b"}),
    _run("Baseline", "succeeded", 5, {"exp": "a", "gpu": "a100"}),
    _run(None, "running", 30, {"exp": "a"}),
    _run("baseline-2", "canceled", 24 * 10, {"exp": "a"}),
]


def names(runs: list[Run]) -> list[str | None]:
    return [r.record["name"] for r in runs]


def test_no_filter_keeps_everything_in_order() -> None:
    assert select(RUNS, Filters()) == RUNS


@pytest.mark.parametrize("filters, expected", [
    (Filters(statuses=["failed"]), ["wider-lr"]),
    (Filters(statuses=["failed,succeeded"]), ["wider-lr", "Baseline"]),
    (Filters(statuses=["failed", " running "]), ["wider-lr", None]),
    (Filters(statuses=["crashed"]), []),  # a running run of another host cannot be judged
    (Filters(since="2h"), ["wider-lr"]),
    (Filters(since="2d", until="2h"), ["Baseline", None]),
    (Filters(until="1w"), ["baseline-2"]),
    (Filters(tags=["exp=a"]), ["Baseline", None, "baseline-2"]),
    (Filters(tags=["exp=a", "gpu=a100"]), ["Baseline"]),
    (Filters(tags=["exp="]), []),
    (Filters(name="base"), ["Baseline", "baseline-2"]),  # a substring, any case
    (Filters(name="BASE*"), ["Baseline", "baseline-2"]),
    (Filters(name="baseline"), ["Baseline", "baseline-2"]),
    (Filters(name="baseline-?"), ["baseline-2"]),  # a glob matches the whole name
    (Filters(limit=2), ["wider-lr", "Baseline"]),
    (Filters(tags=["exp=a"], limit=1), ["Baseline"]),
])
def test_filters(filters: Filters, expected: list[str | None]) -> None:
    assert names(select(RUNS, filters)) == expected


def test_limit_zero_means_none() -> None:
    assert select(RUNS, Filters(limit=0)) == []


def test_a_run_without_a_readable_start_matches_no_time_range() -> None:
    odd = [_run("no-time", "succeeded", 1, started_at=None), _run("bad-time", "succeeded", 1, started_at="yesterday")]
    assert select(odd, Filters(since="1w")) == []
    assert select(odd, Filters()) == odd


def test_a_running_run_of_this_host_whose_process_is_gone_is_crashed() -> None:
    gone = _run("gone", "running", 1, host=socket.gethostname(), pid=2**22 + 12345)
    assert gone.status == "crashed"
    assert names(select([gone, *RUNS], Filters(statuses=["crashed"]))) == ["gone"]


@pytest.mark.parametrize("filters, message", [
    (Filters(statuses=["done"]), "--status done: expected running, succeeded, failed, canceled, crashed"),
    (Filters(statuses=["ok,failed,bad"]), "--status bad, ok: expected running, succeeded, failed, canceled, crashed"),
    (Filters(tags=["exp"]), "--tag 'exp': expected key=value"),
    (Filters(limit=-1), "--limit must be 0 or more"),
])
def test_bad_filters_are_usage_errors(filters: Filters, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        select(RUNS, filters)
    assert str(caught.value) == message


def test_bad_since_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^cannot read time 'lately'"):
        select(RUNS, Filters(since="lately"))


def test_labels() -> None:
    run = RUNS[0]
    assert shared_label(run, {}) == "local only"
    assert shared_label(run, {"origin": "same", "backup": "ahead", "lab": "diverged"}) == "backup+,lab!,origin"
    assert shared_label(Run(run.id, run.commit, run.record, "origin"), {}) == "origin only"
    assert code_label({"commit": "abcdef0123456789", "dirty": False}) == "abcdef01"
    assert code_label({"commit": "abcdef0123456789", "dirty": True}) == "dirty"
    assert code_label({"commit": "abcdef0123456789", "dirty": True, "reproducible_from": "0123456789ab"}) == "01234567"
    assert code_label({}) == "dirty"


def test_key_metrics_are_the_most_common() -> None:
    runs = [_run("a", "succeeded", 1, metrics={"loss": 1, "acc": 2}), _run("b", "succeeded", 1, metrics={"loss": 1}),
            _run("c", "succeeded", 1, metrics={"f1": 1, "loss": 2, "acc": 1, "z": 0})]
    assert key_metrics(runs, []) == ["loss", "acc", "f1"]
    assert key_metrics(runs, [], most=1) == ["loss"]
    assert key_metrics(runs, ["z"]) == ["z"]


# --- queries: --slow, --group, --columns, values from the index ----------------------------------

def test_slow_needs_five_earlier_runs_and_uses_median_and_mad() -> None:
    from gitruns import slow

    assert slow.judge([1.0, 1.0, 1.0, 1.0], 100.0) is None  # four earlier runs: too few to tell
    found = slow.judge([0.8, 0.9, 1.0, 1.1, 1.2], 2.0)  # sorted; median 1.0, MAD 0.1: limit 1.44
    assert found is not None and found.median_s == 1.0 and abs(found.mad_s - 0.1) < 1e-9 and found.ratio == 2.0
    assert found.label() == "2.0x median"
    assert slow.judge([0.8, 0.9, 1.0, 1.1, 1.2], 1.4) is None
    # Every earlier run took the same time (MAD 0): slow above 1.5 x the median.
    assert slow.judge([2.0] * 5, 2.9) is None
    assert slow.judge([2.0] * 5, 3.1) is not None


def test_slow_find_judges_each_run_against_the_earlier_succeeded_runs_of_its_kind() -> None:
    from gitruns import slow

    rows = [("name:a", f"a{i}", 1.0 + i / 100, True) for i in range(5)]
    rows += [("name:a", "failed-long", 9.0, False),  # judged, slow; not part of anyone's history
             ("name:a", "a-ok", 1.02, True), ("name:a", "a-slow", 5.0, True),
             ("name:b", "b0", 50.0, True), ("name:b", "no-duration", None, True)]
    found = slow.find(rows)
    assert set(found) == {"failed-long", "a-slow"}
    # Only the last WINDOW succeeded runs count: a kind that got slower for good stops being slow.
    old = [("k", f"o{i}", 0.1, True) for i in range(slow.WINDOW)]
    recent = [("k", f"r{i}", 10.0 + (i % 3) / 10, True) for i in range(60)]
    found = slow.find([*old, *recent, ("k", "last", 10.1, True)])
    assert "r0" in found and "last" not in found


def test_group_names_a_field_or_a_run() -> None:
    from gitruns.listing import Filters, group_field

    assert group_field("run_group") == "run_group" and group_field("group") == "run_group"
    assert group_field("params.opt") == "params.opt" and group_field("config.opt") == "params.opt"
    assert group_field("name") == "name" and group_field("status") == "status"
    assert group_field("01jd3k") is None and group_field("train") is None and group_field("a b") is None
    assert Filters(group="run_group").group_by == "run_group" and Filters(group="01jd3k").group_by is None


def test_columns_are_fields_the_language_knows() -> None:
    from gitruns.listing import column_list

    assert column_list(["params.lr,metrics.acc", " config.opt ,", "metrics.acc"]) == [
        "params.lr", "metrics.acc", "params.opt"]
    assert column_list([]) == []
    with pytest.raises(UsageError, match="--columns: unknown field 'acc'"):
        column_list(["params.lr,acc"])
    with pytest.raises(UsageError, match="expected field names"):
        column_list([","])


def test_attr_values_come_back_as_the_record_had_them() -> None:
    from gitruns.listing import attr_value

    assert attr_value(1.0, "true") is True and attr_value(0.0, "false") is False
    assert attr_value(3.0, "3") == 3 and isinstance(attr_value(3.0, "3"), int)
    assert attr_value(3.0, "3.0") == 3.0 and isinstance(attr_value(3.0, "3.0"), float)
    assert attr_value(None, "null") is None and attr_value(None, "adam") == "adam"
    assert attr_value(-2.0, "-2") == -2


def test_groups_keep_the_order_of_their_first_run_and_headers_are_safe() -> None:
    from gitruns.listing import group_header, grouped

    runs = RUNS
    key = {runs[0].id: "x", runs[1].id: "y", runs[2].id: "x", runs[3].id: None}
    groups = grouped(runs, key)
    assert [(v, [r.id for r in members]) for v, members in groups] == [
        ("x", [runs[0].id, runs[2].id]), ("y", [runs[1].id]), (None, [runs[3].id])]
    assert group_header("params.opt", "adam", runs[:2], {}) == "== params.opt = adam (2 runs) =="
    assert group_header("params.opt", None, runs[:1], {}) == "== no params.opt (1 run) =="
    assert "\x1b" not in group_header("name", "evil\x1b[31m", runs[:1], {})
    sweep = _run("p", "succeeded", 1, sweep={"id": "s"})
    assert group_header("run_group", sweep.id, [sweep], {sweep.id: sweep.id[:8]}) == \
        f"== group {sweep.id[:8]} (sweep, 1 run) =="


def _index_db() -> Any:
    import sqlite3

    from gitruns import runindex

    db = sqlite3.connect(":memory:", isolation_level=None)
    runindex._prepare(db)
    for i, (opt, lr) in enumerate([("adam", 0.1), ("adam", 0.2), ("adam", 0.1)]):
        commit = f"{i:040d}"
        db.execute("INSERT INTO visible VALUES (?, ?, NULL)", (f"run{i}", commit))
        db.execute("INSERT INTO runs (commit_id, run_id, name, status, started, json, n) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (commit, f"run{i}", f"n{i}", "succeeded", 1.7e9 + i, b"{}", i + 1))
        db.executemany("INSERT INTO attrs VALUES (?, ?, ?, ?)", [
            (i + 1, "params.opt", None, opt), (i + 1, "params.lr", lr, str(lr)), (i + 1, "env.gpu", None, "A"),
            (i + 1, "env.gpu", None, "B")])
    db.execute("INSERT INTO attrs VALUES (1, 'params.seed', 1, '1')")
    return db


def test_varying_params_and_field_values_from_the_index() -> None:
    from gitruns.listing import field_values, varying_params

    db = _index_db()
    commits = [f"{i:040d}" for i in range(3)]
    assert varying_params(db, commits) == ["params.lr", "params.seed"]  # seed: only one run has it
    assert varying_params(db, commits[::2]) == ["params.seed"]
    assert varying_params(db, commits, most=1) == ["params.lr"]
    values = field_values(db, commits, ["params.lr", "name", "started", "env.gpu", "metrics.none"])
    assert values[commits[1]] == {"params.lr": 0.2, "name": "n1", "started": "2023-11-14T22:13:21Z",
                                  "env.gpu": ["A", "B"]}
