"""The --where/--sort language against a real SQLite database shaped like the run index.

Five hand-made runs in an in-memory database with the index's tables; every test
compiles a query, runs it, and checks which run ids come back.
"""
from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from gitruns import listing, query
from gitruns.errors import UsageError
from gitruns.query import QueryError
from gitruns.runindex import RunIndex

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NOW = T0 + dt.timedelta(days=3)  # 2026-11-23T10:00Z
DEAD_PID = 2**31 - 2  # above every kernel's pid_max: no process can have it

SCHEMA = """
CREATE TABLE visible(run_id TEXT PRIMARY KEY, commit_id TEXT, source TEXT);
CREATE TABLE runs(commit_id TEXT PRIMARY KEY, run_id, name, status, kind, started REAL, ended REAL,
    duration REAL, run_group, rerun_of, code_commit, code_branch, code_dirty INTEGER, user, host,
    pid INTEGER, process TEXT, invoked_by, retired INTEGER, json BLOB, n INTEGER UNIQUE);
CREATE TABLE attrs(run INTEGER, key TEXT, num REAL, txt TEXT);
CREATE TABLE digests(commit_id TEXT, role TEXT, step TEXT, path TEXT, digest TEXT);
CREATE INDEX attrs_key_num ON attrs(key, num, txt, run);
CREATE INDEX attrs_commit ON attrs(run, key);
CREATE TABLE env_attrs(env_id TEXT, key TEXT, num REAL, txt TEXT);
CREATE TABLE run_env(commit_id TEXT PRIMARY KEY, env_id TEXT);
"""


def _at(days: float) -> float:
    return (T0 + dt.timedelta(days=days)).timestamp()


# run id -> (columns, attrs); attrs values as the index stores them (a JSON value).
RUNS: dict[str, tuple[dict[str, Any], list[tuple[str, Any]]]] = {
    "r1": (dict(name="sweep", status="succeeded", kind="exec", started=_at(0), ended=_at(0) + 100,
                duration=100.0, run_group="g1", code_commit="abcdef12" * 5, code_branch="main",
                code_dirty=0, user="alice", host="h1", invoked_by="manual", retired=0),
           [("params.lr", 0.01), ("params.opt", "adam"), ("metrics.acc", 0.95), ("tags.team", "vision"),
            ("env.python", "3.11.7"), ("env.packages.torch", "2.10.1"), ("env.gpu", "A100"),
            ("env.gpu", "H100"), ("step.fit.status", "succeeded"), ("step.fit.duration", 50),
            ("step.fit.metrics.loss", 0.1), ("params.flag", True), ("metrics.multi", 3), ("metrics.multi", 7)]),
    "r2": (dict(name="sweep", status="succeeded", kind="exec", started=_at(1), ended=_at(1) + 300,
                duration=300.0, run_group="g1", code_commit="1234abcd" * 5, code_branch="feature/x",
                code_dirty=1, user="bob", host="h1", invoked_by="rerun", rerun_of="r1", retired=0),
           [("params.lr", 0.1), ("params.opt", "sgd"), ("metrics.acc", 0.80), ("env.python", "3.9.18"),
            ("env.packages.torch", "2.9.0"), ("env.gpu", "V100"), ("step.fit.metrics.loss", 0.5),
            ("params.flag", False), ("metrics.multi", 5)]),
    "r3": (dict(name="eval", status="failed", kind="pipeline", started=_at(2), ended=_at(2) + 7200,
                duration=7200.0, run_group="g2", code_commit="abcdef12" * 5, code_branch="main",
                code_dirty=0, user="alice", host="h2", invoked_by="manual", retired=0),
           [("params.lr", "0.01"), ("params.opt", "adamw"), ("tags.team", "nlp"), ("metrics.multi", 7),
            ("env.packages.torch", "2.10.0rc1"), ("step.fit.status", "failed")]),
    "r4": (dict(name="train", status="running", kind="exec", started=_at(2.1), host=socket.gethostname(),
                pid=DEAD_PID, process="{}", code_dirty=0, user="carol", invoked_by="manual", retired=0),
           [("params.lr", 1e-3), ("metrics.acc", "n/a"), ("metrics.multi", "text")]),
    "r5": (dict(name="train", status="running", kind="exec", started=_at(2.96), host="elsewhere",
                pid=1, process=json.dumps({"boot_id": "x"}), code_dirty=0, user="dan",
                invoked_by="manual", retired=1),
           [("params.opt", "x' OR 1=1 --"), ("metrics.acc", None)]),
}
ALL = set(RUNS)


def _attr_row(commit: str, key: str, value: Any) -> tuple[str, str, float | None, str]:
    if isinstance(value, bool):
        return commit, key, float(value), "true" if value else "false"
    if isinstance(value, (int, float)):
        return commit, key, float(value), json.dumps(value)
    if value is None:
        return commit, key, None, "null"
    return commit, key, None, value


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(":memory:")
    con.executescript(SCHEMA)
    query.register(con)
    for number, (run_id, (cols, attrs)) in enumerate(RUNS.items(), 1):
        commit = "c" + run_id
        con.execute("INSERT INTO visible VALUES (?, ?, NULL)", (run_id, commit))
        row = {"commit_id": commit, "run_id": run_id, "n": number, **cols}
        con.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
        rows = [_attr_row(commit, k, v) for k, v in attrs]
        # as gitruns.runindex keeps them: packages once per environment (here one a run)
        con.executemany("INSERT INTO attrs VALUES (?, ?, ?, ?)",
                        [(number, *r[1:]) for r in rows if not r[1].startswith("env.pack")])
        con.executemany("INSERT INTO env_attrs VALUES (?, ?, ?, ?)",
                        [("e" + r[0], *r[1:]) for r in rows if r[1].startswith("env.pack")])
        con.execute("INSERT INTO run_env VALUES (?, ?)", (commit, "e" + commit))
    yield con
    con.close()


def select(db: sqlite3.Connection, where: str | None = None, sort: list[str] | None = None) -> list[str]:
    """The ids selected, in order; checked to be the same whichever way the index writes
    a condition (a set, or EXISTS run by run: query._has) and, for every limit, when
    the first sort key is walked in the index's order (RunIndex._leading)."""
    order, order_params = query.compile_order(query.parse_sort(sort or []))
    answers = []
    for probe in (None, lambda sql, args: query.BROAD, lambda sql, args: 0):
        sql, params = query.compile_where(query.parse(where), NOW, probe) if where else ("1", [])
        rows = db.execute("SELECT v.run_id FROM visible v JOIN runs r ON r.commit_id = v.commit_id "
                          f"WHERE {sql} ORDER BY {order}", params + order_params)
        answers.append([row[0] for row in rows])
    assert answers[1] == answers[0] == answers[2], (where, answers)
    for limit in range(1, len(answers[0]) + 1):
        lead = listing.lead_of(listing.Filters(sort=sort or [], limit=limit))
        if lead is not None:
            walked = RunIndex(None, db, False)._leading(  # type: ignore[arg-type]
                lead, sql, params, order, order_params, limit, True)
            assert walked is None or [row[0] for row in walked] == answers[0][:limit], (sort, limit)
    return answers[0]


def ids(db: sqlite3.Connection, where: str) -> set[str]:
    return set(select(db, where))


@pytest.mark.parametrize("where, expected", [
    ("metrics.acc > 0.9", {"r1"}),
    ("metrics.acc >= 0.8", {"r1", "r2"}),
    ("metrics.acc < 0.9", {"r2"}),
    ("metrics.acc <= 0.95", {"r1", "r2"}),
    ("metrics.acc = 0.8", {"r2"}),
    ("metrics.acc != 0.95", {"r2", "r4"}),  # r4 has text; r3 lacks it; r5's is null
    ("params.opt = adam", {"r1"}),
    ("params.opt != adam", {"r2", "r3", "r5"}),
    ("config.opt = adam", {"r1"}),
    ("params.opt > b", {"r2", "r5"}),
    ("tags.team = nlp", {"r3"}),
    ("name = sweep", {"r1", "r2"}),
    ("name != sweep", {"r3", "r4", "r5"}),
    ("id = r3", {"r3"}),
    ("kind = pipeline", {"r3"}),
    ("group = g1", {"r1", "r2"}),
    ("run_group = g2", {"r3"}),
    ("rerun_of = r1", {"r2"}),
    ("rerun_of = null", {"r1", "r3", "r4", "r5"}),
    ("code.branch = feature/x", {"r2"}),
    ("user = alice", {"r1", "r3"}),
    ("host = h1", {"r1", "r2"}),
    ("invoked_by = rerun", {"r2"}),
    ("env.os = null", ALL),
])
def test_every_operator(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("status = failed or params.opt = adam and metrics.acc > 0.9", {"r1", "r3"}),
    ("(status = failed or params.opt = adam) and metrics.acc > 0.9", {"r1"}),
    ("status = failed or (params.opt = adam and metrics.acc > 0.9)", {"r1", "r3"}),
    ("not status = succeeded and name = train", {"r4", "r5"}),
    ("not (status = succeeded and name = sweep)", {"r3", "r4", "r5"}),
    ("NOT name = sweep AND user = alice OR user = bob", {"r2", "r3"}),
    ("not not name = eval", {"r3"}),
    ("((name = eval))", {"r3"}),
    ("name=sweep and metrics.acc>0.9", {"r1"}),
    ("name = sweep and user = bob and code.dirty = true", {"r2"}),
    ("user = alice or user = bob or user = carol", {"r1", "r2", "r3", "r4"}),
])
def test_and_or_not_parentheses_and_precedence(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("name ~ sw*", {"r1", "r2"}),
    ("name ~ 'tr?in'", {"r4", "r5"}),
    ("params.opt ~ adam*", {"r1", "r3"}),
    ("params.opt ~ Adam*", set()),  # a glob is case-sensitive, as in the shell
    ("params.opt ~ /^adam/", {"r1", "r3"}),
    ("params.opt ~ /^ADAM$/i", {"r1"}),
    ("params.opt ~ /w$/", {"r3"}),
    ("params.opt !~ adam*", {"r2", "r5"}),
    ("name !~ /ee/", {"r3", "r4", "r5"}),
    ("code.branch ~ /^feature\\//", {"r2"}),
    ("metrics.acc ~ '0.9*'", {"r1"}),  # a number's text
    ("code.commit ~ 1234*", {"r2"}),
    ("id ~ r[12]", {"r1", "r2"}),
])
def test_globs_and_regexes(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("params.opt in (adam, sgd)", {"r1", "r2"}),
    ("params.opt in ('adam')", {"r1"}),
    ("params.opt not in (adam, sgd)", {"r3", "r5"}),  # r4 has no opt
    ("params.lr in (0.1, 1e-3)", {"r2", "r4"}),
    ("params.lr in (0.01, sgd,)", {"r1", "r3"}),
    ("status in (failed, crashed)", {"r3", "r4"}),
    ("status not in (succeeded)", {"r3", "r4", "r5"}),
    ("code.commit in (abcd, 1234)", {"r1", "r2", "r3"}),
    ("env.packages.torch in (2.9, 2.10.1)", {"r1", "r2"}),
    ("started in (2026-11-20T10:00Z, 2026-11-21T10:00Z)", {"r1", "r2"}),
    ("duration in (100, 5m)", {"r1", "r2"}),
    ("params.flag in (true)", {"r1"}),
])
def test_in_lists(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("metrics.acc > 0.9", {"r1"}),
    ("not metrics.acc > 0.9", {"r2", "r3", "r4", "r5"}),
    ("metrics.acc = null", {"r3", "r5"}),  # absent, or recorded as null
    ("metrics.acc != null", {"r1", "r2", "r4"}),
    ("not metrics.acc != null", {"r3", "r5"}),
    ("ended = null", {"r4", "r5"}),
    ("ended != null", {"r1", "r2", "r3"}),
    ("duration < 1d", {"r1", "r2", "r3"}),
    ("not duration < 1d", {"r4", "r5"}),  # a NULL column negates as false, not as NULL
    ("code.commit != abcd", {"r2"}),
    ("not code.commit = abcd", {"r2", "r4", "r5"}),
    ("tags.team != nlp", {"r1"}),
    ("env.gpu = H100", {"r1"}),  # one row a GPU: any of them
    ("env.gpu != A100", {"r2"}),  # has a GPU and none is an A100
    ("step.fit.status = succeeded", {"r1"}),
    ("step.fit.status != succeeded", {"r3"}),
    ("step.fit.duration >= 50", {"r1"}),
    ("step.fit.metrics.loss < 0.2", {"r1"}),
])
def test_missing_keys_are_false_and_not_negates(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("params.lr = 0.01", {"r1", "r3"}),  # the number, and the string "0.01"
    ("params.lr = '0.01'", {"r1", "r3"}),  # a number's text is its JSON text
    ("params.lr = 1e-2", {"r1"}),  # the number only: r3's text reads "0.01"
    ("params.lr < 0.05", {"r1", "r4"}),  # a string is never less than a number
    ("params.lr = 0.001", {"r4"}),
    ("params.lr > -2", {"r1", "r2", "r4"}),
    ("params.flag = true", {"r1"}),
    ("params.flag = false", {"r2"}),
    ("params.flag = 1", {"r1"}),
    ("params.flag != true", {"r2"}),
    ("code.dirty = false", {"r1", "r3", "r4", "r5"}),
    ("code.dirty != false", {"r2"}),
    ("retired = true", {"r5"}),
])
def test_numbers_strings_and_booleans(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("started > 2d", {"r3", "r4", "r5"}),  # since 2026-11-21T10:00Z, exclusive
    ("started >= 2d", {"r2", "r3", "r4", "r5"}),
    ("started > 1w and started < 2.5d", {"r1"}),
    ("started >= 2026-11-22T00:00Z", {"r3", "r4", "r5"}),
    ("started < '2026-11-21 00:00+00:00'", {"r1"}),
    ("started > \"2026-11-22T11:00:00+01:00\"", {"r4", "r5"}),
    ("ended <= 2026-11-20T10:01:40Z", {"r1"}),
    ("ended > 12h", set()),
    ("duration > 4m", {"r2", "r3"}),
    ("duration >= 2h", {"r3"}),
    ("duration < 90s", set()),
    ("duration < 120", {"r1"}),
    ("duration = 300s", {"r2"}),
    ("duration <= 0.1d", {"r1", "r2", "r3"}),
])
def test_times_and_durations(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


@pytest.mark.parametrize("where, expected", [
    ("code.commit = abcd", {"r1", "r3"}),
    ("code.commit = ABCDEF12", {"r1", "r3"}),
    ("code.commit = " + "1234abcd" * 5, {"r2"}),
    ("code.commit = abce", set()),
])
def test_code_commit_prefixes(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert ids(db, where) == expected


def test_status_is_the_derived_one(db: sqlite3.Connection) -> None:
    # r4 is 'running' in its record, on this host, with a pid that cannot exist;
    # r5 is 'running' on another host, which cannot be judged from here.
    assert ids(db, "status = crashed") == {"r4"}
    assert ids(db, "status = running") == {"r5"}
    assert ids(db, "status != running") == {"r1", "r2", "r3", "r4"}
    assert select(db, "status ~ '*r*'", ["status"]) == ["r4", "r5"]


@pytest.mark.parametrize("where, expected", [
    ("env.packages.torch >= 2.10", {"r1"}),  # 2.10.1 yes; 2.9.0 no; 2.10.0rc1 is before 2.10
    ("env.packages.torch < 2.10", {"r2", "r3"}),
    ("env.packages.torch >= 2.10rc1", {"r1", "r3"}),
    ("env.packages.torch > 2.9", {"r1", "r3"}),
    ("env.packages.torch = 2.9", {"r2"}),  # 2.9 is 2.9.0, as pip reads ==2.9
    ("env.packages.Torch >= 2", {"r1", "r2", "r3"}),  # names compare as PEP 503 does
    ("env.packages.torch ~ '2.10*'", {"r1", "r3"}),
    ("env.python >= 3.10", {"r1"}),
    ("env.python < 3.10", {"r2"}),
    ("env.python = 3.11.7", {"r1"}),
])
def test_package_and_python_versions_compare_as_versions(db: sqlite3.Connection, where: str,
                                                          expected: set[str]) -> None:
    assert ids(db, where) == expected


def test_version_key_orders_as_pep440() -> None:
    ordered = ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1.dev3", "1.0rc1", "1.0", "1.0.post1", "1.0.1",
               "1.9", "1.10", "2!0.1"]
    keys = [query.version_key(v) for v in ordered]
    assert keys == sorted(keys, key=str) and len(set(keys)) == len(keys)
    assert query.version_key("2.1") == query.version_key("2.1.0") == query.version_key("2.1.0+cu121")
    assert query.version_key("not a version") is None


@pytest.mark.parametrize("sort, expected", [
    ([], ["r5", "r4", "r3", "r2", "r1"]),  # newest first
    (["-metrics.acc"], ["r1", "r2", "r4", "r5", "r3"]),  # numbers, then text, then missing
    (["metrics.acc"], ["r2", "r1", "r4", "r5", "r3"]),
    (["+metrics.acc"], ["r2", "r1", "r4", "r5", "r3"]),
    (["duration"], ["r1", "r2", "r3", "r5", "r4"]),  # missing last, newest first among them
    (["-duration"], ["r3", "r2", "r1", "r5", "r4"]),
    (["params.opt,-metrics.acc"], ["r1", "r3", "r2", "r5", "r4"]),
    (["name", "-started"], ["r3", "r2", "r1", "r5", "r4"]),
    (["name, started"], ["r3", "r1", "r2", "r4", "r5"]),
    (["-env.packages.torch"], ["r1", "r3", "r2", "r5", "r4"]),
    (["-params.lr"], ["r2", "r1", "r4", "r3", "r5"]),
    (["code.commit", "id"], ["r2", "r1", "r3", "r4", "r5"]),
    (["-env.gpu"], ["r2", "r1", "r5", "r4", "r3"]),
    (["-params.opt"], ["r5", "r2", "r3", "r1", "r4"]),  # text descending: adamw before adam
    # several values: descending by the largest, ascending by the smallest; ties newest first
    (["-metrics.multi"], ["r3", "r1", "r2", "r4", "r5"]),
    (["metrics.multi"], ["r1", "r2", "r3", "r4", "r5"]),
    (["-metrics.multi", "-name"], ["r1", "r3", "r2", "r4", "r5"]),
    (["-step.fit.metrics.loss"], ["r2", "r1", "r5", "r4", "r3"]),
])
def test_sort_keys_with_missing_values_last(db: sqlite3.Connection, sort: list[str], expected: list[str]) -> None:
    assert select(db, None, sort) == expected


def test_descending_text_is_the_reverse_of_ascending() -> None:
    con = sqlite3.connect(":memory:")
    query.register(con)
    texts = ["", "a", "ab", "abc", "b", "B", "é", "z", "\u4e2d", "\U0001f600", "a b"]
    con.execute("CREATE TABLE t(x TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [(x,) for x in texts])
    down = [row[0] for row in con.execute("SELECT x FROM t ORDER BY gitruns_text_desc(x)")]
    assert down == sorted(texts, reverse=True)


def test_sort_ends_with_the_tie_breakers() -> None:
    order, params = query.compile_order(query.parse_sort("-metrics.acc"))
    assert order.endswith("r.started DESC, v.run_id DESC") and params == ["metrics.acc"]
    assert query.compile_order([]) == ("r.started DESC, v.run_id DESC", [])


def test_injection_in_a_value_is_only_data(db: sqlite3.Connection) -> None:
    assert ids(db, "params.opt = \"x' OR 1=1 --\"") == {"r5"}
    where = "name = \"'; DROP TABLE runs; --\" or name = 'x\"); DELETE FROM attrs; --'"
    sql, params = query.compile_where(query.parse(where), NOW)
    assert "DROP" not in sql and "DELETE" not in sql and "'; DROP TABLE runs; --" in params
    assert ids(db, where) == set()
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (5,)
    assert db.execute("SELECT count(*) FROM attrs").fetchone()[0] > 20
    assert ids(db, "params.`opt` = 1 or name = eval") == {"r3"}  # an odd key is only a key


def test_fields_are_canonical() -> None:
    expr = query.parse("config.lr > 1 and (metrics.acc = null or not group = g) or env.packages.Torch_Vision ~ 2*")
    assert query.fields(expr) == {"params.lr", "metrics.acc", "run_group", "env.packages.torch-vision"}


@pytest.mark.parametrize("where, column, words", [
    ("metrics.acc > ", 14, "expected a value after '>'"),
    ("(metrics.acc > 1", 1, "'(' is never closed"),
    ("name = x and (metrics.acc > 1", 14, "'(' is never closed"),
    ("metrics.acc > 1)", 16, "')' without a matching '('"),
    ("acc > 1", 1, "unknown field 'acc'"),
    ("metrics.acc > 1 and", 20, "expected a comparison"),
    ("name ~ /(/", 8, "bad regex"),
    ("name ~ /abc/x", 13, "after the regex"),
    ("name ~ /abc", 8, "unterminated regex"),
    ("name = \"abc", 8, "unterminated string"),
    ("name = 'abc\\'", 8, "unterminated string"),
    ("metrics.acc 1", 13, "expected an operator"),
    ("metrics.acc", 12, "expected an operator"),
    ("metrics.acc in 1", 16, "expected '(' after 'in'"),
    ("metrics.acc in (1, 2", 21, "never closed"),
    ("metrics.acc in (1 2)", 19, "expected ',' or ')'"),
    ("metrics.acc in ()", 17, "expected a value after 'in'"),
    ("metrics.acc not (1)", 17, "expected 'in' after 'not'"),
    ("= 1", 1, "expected a field name"),
    ("()", 2, "empty parentheses"),
    ("", 1, "empty expression"),
    ("   ", 1, "empty expression"),
    ("not", 4, "expected a comparison"),
    ("params.lr = 1 or or x = 1", 18, "expected a field name but found 'or'"),
    ("params.lr = and", 13, "expected a value after '='"),
    ("params.lr == 1", 12, "expected a value after '='"),
    ("name = a b", 10, "expected 'and', 'or' or the end"),
    ("tags. = x", 1, "needs a key"),
    ("params = 1", 1, "needs a key"),
    ("step.fit = x", 1, "not a step field"),
    ("env.cuda = 12", 1, "unknown field 'env.cuda'"),
    ("nme = x", 1, "did you mean name"),
    ("started > 2x", 11, "cannot read time '2x'"),
    ("duration > 5 minutes", 14, "expected 'and', 'or' or the end"),
    ("duration > 5y", 12, "not a duration"),
    ("code.commit = xyz", 15, "hex digits"),
    ("code.commit < abcd", 15, "compares with"),
    ("code.dirty = maybe", 14, "true or false"),
    ("metrics.acc > null", 15, "null compares only with = or !="),
    ("metrics.acc in (1, null)", 20, "null cannot be in a list"),
    ("started ~ 2026*", 11, "'~' matches text; started is a time"),
    ("env.packages.torch > banana", 22, "not a version"),
    ("metrics.acc <= (1)", 16, "expected a value after '<=' but found '('"),
    ("name = x and metrics.acc ~ /[/", 28, "bad regex"),
])
def test_malformed_expressions_are_one_line_at_the_column(where: str, column: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        query.compile_where(query.parse(where), NOW)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("--where: ") and words in message, message
    assert f" at column {column}: " in message, message
    assert caught.value.column == column and caught.value.exit_code == 2


def test_a_regex_on_a_non_tilde_operator_is_text() -> None:
    # '/' starts a regex only after '~': elsewhere it is an ordinary character.
    expr = query.parse("params.path = /data/train.csv")
    assert query.compile_where(expr, NOW)[1] == ["params.path", "/data/train.csv"]


def test_the_message_is_safe_and_bounded() -> None:
    with pytest.raises(QueryError) as caught:
        query.parse("name = x and \x1b[31mred = 1" + " and name = y" * 100)
    message = str(caught.value)
    assert "\x1b" not in message and "^[" in message and len(message) < 800


def test_bounds_on_length_depth_and_lists(db: sqlite3.Connection) -> None:
    with pytest.raises(UsageError, match=r"^--where: the expression is 4001 characters; at most 4000$"):
        query.parse("name = " + "x" * 3994)
    deep = "(" * 64 + "name = eval" + ")" * 64
    assert ids(db, deep) == {"r3"}
    with pytest.raises(QueryError, match="nested deeper than 64 levels at column 65"):
        query.parse("(" * 65 + "name = eval" + ")" * 65)
    with pytest.raises(QueryError, match="nested deeper than 64 levels"):
        query.parse("not " * 65 + "name = eval")
    many = "params.lr in (" + "1," * 999 + "0.1)"
    assert ids(db, many) == {"r2"}
    with pytest.raises(QueryError, match="more than 1000 values"):
        query.parse("params.lr in (" + "1," * 1000 + "1)")
    # 1,000 terms OR-ed left-deep would pass SQLite's limit on expression depth.
    assert ids(db, "id in (" + "x," * 999 + "r4)") == {"r4"}
    assert ids(db, "code.commit in (" + "abcd," * 700 + "1234)") == {"r1", "r2", "r3"}


def test_a_long_chain_of_or_stays_within_sqlite_limits(db: sqlite3.Connection) -> None:
    # SQLite refuses expressions nested 1,000 deep; 'a or b or ...' must not nest that deep.
    terms = ["metrics.acc = 0.8"] + [f"name = n{i}" for i in range(240)]
    where = " or ".join(terms)
    assert len(where) <= query.MAX_TEXT
    assert ids(db, where) == {"r2"}
    assert ids(db, " and ".join(["not name = x"] * 200)) == ALL


@pytest.mark.parametrize("sort, column, words", [
    ("acc", 1, "unknown field 'acc'"),
    ("-metrics.acc,,name", 14, "expected a field name"),
    ("-", 2, "after the sign"),
    ("name, -bogus", 8, "unknown field 'bogus'"),
    ("metrics.acc desc", 1, "unknown field"),
])
def test_malformed_sort_is_one_line_at_the_column(sort: str, column: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        query.parse_sort(sort)
    message = str(caught.value)
    assert message.startswith("--sort: ") and words in message and "\n" not in message, message
    assert f" at column {column}: " in message, message
