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
