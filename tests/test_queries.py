"""Queries on the command line: ls --where/--sort/--columns/--group/--slow/--retired,
git run export, over real runs in real repositories (the run index under them)."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN_DIR, git, gitrun, latest, make_repo, run_ids

# A sweep point: logs an accuracy that depends on its point, unique per point.
TRAIN = """import sys
import gitruns
lr, opt = float(sys.argv[1]), sys.argv[2]
gitruns.log_metric("acc", round(lr + {"adam": 0.004, "sgd": 0.003, "rmsprop": 0.002, "adagrad": 0.001,
                                      "lamb": 0.0}[opt], 6))
"""
LRS = [round(0.01 * i, 2) for i in range(1, 11)]
OPTS = ["adam", "sgd", "rmsprop", "adagrad", "lamb"]

Sweep = tuple[Path, list[dict[str, Any]]]


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def ls_json(repo: Path, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(ok(gitrun(repo, "ls", "--json", *args)).stdout))


def ids(repo: Path, *args: str) -> list[str]:
    return [r["id"] for r in ls_json(repo, *args)]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    """A 50-run sweep (10 learning rates x 5 optimizers), made once for the module, with
    the environment the autouse fixture gives each test."""
    base = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:
        home = base / "home"
        home.mkdir()
        for name in list(os.environ):
            if name.startswith(("GIT_", "GITRUNS_")):
                mp.delenv(name, raising=False)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("PATH", BIN_DIR + os.pathsep + os.environ.get("PATH", ""))
        for key, value in (("init.defaultBranch", "main"), ("user.name", "Ada Tester"),
                           ("user.email", "ada@example.com")):
            subprocess.run(["git", "config", "--global", key, value], check=True)
        repo = make_repo(base / "repo", {"train.py": TRAIN})
        ok(gitrun(repo, "sweep", "-p", "lr=" + ",".join(map(str, LRS)), "-p", "opt=" + ",".join(OPTS), "-j", "2",
                  "--", "python", "train.py", "${lr}", "${opt}", timeout=600))
        recs = ls_json(repo)
    assert len(recs) == 50
    yield repo, recs


def point(rec: dict[str, Any]) -> dict[str, Any]:
    return dict(rec["sweep"]["point"])


def expected(recs: list[dict[str, Any]], keep: Callable[[dict[str, Any], float], bool]) -> list[str]:
    """The ids ls --json lists (newest first) for which ``keep(point, acc)`` holds."""
    return [r["id"] for r in recs if keep(point(r), r["metrics"]["acc"])]


WHERES: list[tuple[str, Callable[[dict[str, Any], float], bool]]] = [
    ("metrics.acc > 0.05 and params.opt = adam", lambda p, acc: acc > 0.05 and p["opt"] == "adam"),
    ("(params.opt = sgd or params.opt = lamb) and not params.lr >= 0.05",
     lambda p, acc: p["opt"] in ("sgd", "lamb") and not p["lr"] >= 0.05),
    ("params.opt in (adam, rmsprop) and metrics.acc < 0.035 or params.lr = 0.1",
     lambda p, acc: p["opt"] in ("adam", "rmsprop") and acc < 0.035 or p["lr"] == 0.1),
    ("not (params.opt ~ 'ada*' or metrics.acc <= 0.08)",
     lambda p, acc: not (p["opt"].startswith("ada") or acc <= 0.08)),
    ("config.lr = 0.07 and status = succeeded", lambda p, acc: p["lr"] == 0.07),
]


def test_where_picks_exactly_the_runs_the_records_say(sweep: Sweep) -> None:
    repo, recs = sweep
    for text, keep in WHERES:
        want = expected(recs, keep)
        assert want, text  # every query here selects something
        assert ids(repo, "--where", text) == want, text
    # Several --where are and-ed.
    both = ids(repo, "--where", "params.opt = adam", "--where", "params.lr < 0.04")
    assert both == expected(recs, lambda p, acc: p["opt"] == "adam" and p["lr"] < 0.04)


def test_sort_and_limit_find_the_best_run(sweep: Sweep) -> None:
    repo, recs = sweep
    best = max(recs, key=lambda r: r["metrics"]["acc"])
    assert ids(repo, "--sort", "-metrics.acc", "--limit", "1") == [best["id"]]
    ordered = ids(repo, "--sort", "params.opt,-params.lr", "-n", "7")
    want = sorted(recs, key=lambda r: (point(r)["opt"], -point(r)["lr"]))[:7]
    assert ordered == [r["id"] for r in want]
    # The table has the sort key as a column, and one line a run.
    table = ok(gitrun(repo, "ls", "--where", "params.opt = sgd", "--sort", "-metrics.acc", "-n", "3")).stdout
    lines = table.splitlines()
    assert len(lines) == 4 and "acc" in lines[0].split()
    assert [float(line.split()[-1]) for line in lines[1:]] == [0.103, 0.093, 0.083]


def test_columns_and_the_default_columns(sweep: Sweep) -> None:
    repo, recs = sweep
    table = ok(gitrun(repo, "ls", "--columns", "params.lr,metrics.acc", "--where", "params.opt = lamb",
                      "--sort", "params.lr")).stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATUS", "params.lr", "metrics.acc"]
    assert [line.split()[-2:] for line in table[1:]] == [[str(lr), str(lr)] for lr in LRS]
    csv_rows = list(csv.DictReader(io.StringIO(ok(gitrun(repo, "ls", "--columns", "params.opt,metrics.acc",
                                                           "--csv", "-n", "3")).stdout)))
    assert list(csv_rows[0]) == ["id", "name", "status", "params.opt", "metrics.acc"]
    assert [r["id"] for r in csv_rows] == [r["id"] for r in recs[:3]]
    assert [r["params.opt"] for r in csv_rows] == [point(r)["opt"] for r in recs[:3]]
    # Default: the params that vary among the listed runs are shown ...
    header = ok(gitrun(repo, "ls")).stdout.splitlines()[0].split()
    assert "params.lr" in header and "params.opt" in header and "acc" in header
    # ... a param that does not vary among them is not ...
    header = ok(gitrun(repo, "ls", "-n", "1")).stdout.splitlines()[0].split()
    assert not [h for h in header if h.startswith("params.")]
    # ... and the fields a query names are.
    header = ok(gitrun(repo, "ls", "-n", "1", "--where", "params.opt = adam", "--sort", "tags.sweep")).stdout
    assert header.splitlines()[0].split()[-3:] == ["params.opt", "tags.sweep", "acc"]
    proc = gitrun(repo, "ls", "--columns", "params.lr,bogus")
    assert proc.returncode == 2 and "--columns: unknown field 'bogus'" in proc.stderr


def test_the_index_deleted_and_rebuilt_gives_the_same_answers(sweep: Sweep, tmp_path: Path) -> None:
    repo, _ = sweep
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    queries = [["--where", text] for text, _ in WHERES] + [["--sort", "-metrics.acc", "-n", "5"]]
    before = [ids(copy, *q) for q in queries]
    state = Path(git(copy, "rev-parse", "--git-common-dir").strip())
    state = state if state.is_absolute() else copy / state
    index = state / "gitruns" / "index.sqlite"
    assert index.exists()
    for found in (state / "gitruns").glob("index.sqlite*"):
        found.unlink()
    assert [ids(copy, *q) for q in queries] == before
    assert index.exists()


def test_runs_fetched_from_a_remote_appear_in_queries(sweep: Sweep, tmp_path: Path) -> None:
    repo, recs = sweep
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "push", "-q", str(bare), "main", "refs/runs/*:refs/runs/*")
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    assert ids(other) == []
    ok(gitrun(other, "fetch"))
    text, keep = WHERES[0]
    found = ls_json(other, "--where", text)
    assert [r["id"] for r in found] == expected(recs, keep)
    assert {r["source"] for r in found} == {"origin"} or all(r.get("remotes") for r in found)


def test_export_csv_json_jsonl_match_ls(sweep: Sweep, tmp_path: Path) -> None:
    repo, recs = sweep
    where = "params.opt in (sgd, adagrad)"
    listed = ls_json(repo, "--where", where)
    from_csv = list(csv.DictReader(io.StringIO(ok(gitrun(repo, "export", "--where", where)).stdout)))
    from_json = json.loads(ok(gitrun(repo, "export", "--where", where, "--format", "json")).stdout)
    from_jsonl = [json.loads(line) for line in
                  ok(gitrun(repo, "export", "--where", where, "--format", "jsonl")).stdout.splitlines()]
    assert from_json == from_jsonl
    assert [r["id"] for r in from_json] == [r["id"] for r in from_csv] == [r["id"] for r in listed]
    assert list(from_csv[0])[:10] == ["id", "name", "status", "started", "ended", "duration", "kind", "run_group",
                                      "code.commit", "code.dirty"]
    for row, rec, text_row in zip(from_json, listed, from_csv, strict=True):
        assert row["status"] == rec["status"] and row["name"] == rec["name"]
        assert row["metrics.acc"] == rec["metrics"]["acc"] and float(text_row["metrics.acc"]) == rec["metrics"]["acc"]
        assert row["params.lr"] == point(rec)["lr"] and row["params.opt"] == point(rec)["opt"]
        assert row["run_group"] == rec["run_group"] and row["code.commit"] == rec["code"]["commit"]
        assert row["duration"] == rec["duration_s"] and row["kind"] == rec["kind"]
    # --sort, --limit and --columns, to a file.
    out = tmp_path / "best.csv"
    proc = ok(gitrun(repo, "export", "--sort", "-metrics.acc", "--limit", "2", "--columns", "metrics.acc",
                     "-o", str(out)))
    assert "exported 2 runs" in proc.stderr and proc.stdout == ""
    rows = list(csv.DictReader(out.open()))
    best = sorted(recs, key=lambda r: -r["metrics"]["acc"])[:2]
    assert [(r["id"], float(r["metrics.acc"])) for r in rows] == [(r["id"], r["metrics"]["acc"]) for r in best]


def test_export_parquet(sweep: Sweep, tmp_path: Path) -> None:
    repo, recs = sweep
    proc = gitrun(repo, "export", "--format", "parquet")
    assert proc.returncode == 2 and "-o FILE" in proc.stderr
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        proc = gitrun(repo, "export", "--format", "parquet", "-o", str(tmp_path / "x.parquet"))
        assert proc.returncode == 2 and proc.stderr.strip().endswith("parquet needs pyarrow: pip install pyarrow")
        pytest.skip("pyarrow is not installed")
    out = tmp_path / "runs.parquet"
    ok(gitrun(repo, "export", "--format", "parquet", "-o", str(out)))
    table = pq.read_table(out).to_pylist()
    assert [r["id"] for r in table] == [r["id"] for r in recs]
    assert [r["metrics.acc"] for r in table] == [r["metrics"]["acc"] for r in recs]


def test_a_malformed_where_is_one_line_naming_the_column(sweep: Sweep) -> None:
    repo, _ = sweep
    for args in (["ls", "--where", "metrics.acc >"], ["export", "--where", "metrics.acc > 0.5 and ("],
                 ["ls", "--sort", "-nope"]):
        proc = gitrun(repo, *args)
        assert proc.returncode == 2, args
        assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and "at column" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    proc = gitrun(repo, "ls", "--where", "metrics.acc >")
    assert "column 14" in proc.stderr


def test_slow_lists_the_run_far_outside_the_usual(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    # Spread on purpose (median 0.2 s, MAD 0.1 s): no ordinary run is near the limit, however busy the machine.
    for seconds in ("0.1", "0.2", "0.3", "0.2", "0.1", "0.3"):
        ok(gitrun(repo, "exec", "-q", "-n", "job", "--", "sleep", seconds))
    ok(gitrun(repo, "exec", "-q", "-n", "job", "--", "sleep", "1.5"))
    slow_id = latest(repo)
    ok(gitrun(repo, "exec", "-q", "-n", "other", "--", "sleep", "1"))  # no history of its own: never slow
    found = ls_json(repo, "--slow")
    assert [r["id"] for r in found] == [slow_id]
    slow = found[0]["slow"]
    assert 0.1 <= slow["median_s"] <= 0.4 and slow["mad_s"] > 0 and slow["ratio"] > 3
    table = ok(gitrun(repo, "ls", "--slow")).stdout.splitlines()
    assert table[0].split()[-1] == "SLOW" and table[1].endswith("x median") and len(table) == 2
    assert len(ids(repo)) == 8


def _retire(repo: Path, run_id: str) -> None:
    ok(gitrun(repo, "retire", run_id, "--reason", "bad data"))
    assert json.loads(git(repo, "cat-file", "-p", f"refs/runs/{run_id}:.gitruns/run.json"))["retired"]


def test_retired_runs_are_hidden_unless_asked_for(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    for name in ("a", "b", "c"):
        ok(gitrun(repo, "exec", "-q", "-n", name, "--", "true"))
    a, b, c = run_ids(repo)
    assert ids(repo) == [c, b, a]
    _retire(repo, b)
    assert ids(repo) == [c, a]
    assert ids(repo, "--retired") == [b]
    assert ids(repo, "--all") == [c, b, a]
    assert ids(repo, "--all", "--where", "retired = true") == [b]
    assert "b" not in [line.split()[1] for line in ok(gitrun(repo, "ls")).stdout.splitlines()[1:]]
    assert [line.split()[1:3] for line in ok(gitrun(repo, "ls", "--all")).stdout.splitlines()[1:]] == [
        ["c", "succeeded"], ["b", "(retired)"], ["a", "succeeded"]]
    export = json.loads(ok(gitrun(repo, "export", "--format", "json")).stdout)
    assert [r["id"] for r in export] == [c, a]
    assert [r["id"] for r in json.loads(ok(gitrun(repo, "export", "--format", "json", "--all")).stdout)] == [c, b, a]
    # show and resolving still find it.
    assert ok(gitrun(repo, "show", "b", "--json")).stdout
    proc = gitrun(repo, "ls", "--retired", "--all")
    assert proc.returncode == 2 and "--retired and --all cannot be used together" in proc.stderr


def test_group_by_run_group_and_group_of_a_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "import sys; print(sys.argv[1:])\n"})
    ok(gitrun(repo, "sweep", "-p", "lr=1,2,3", "--", "python", "train.py", "${lr}"))
    sweep_ids = run_ids(repo)
    ok(gitrun(repo, "exec", "-q", "-n", "base", "--", "python", "train.py"))
    orig = latest(repo)
    ok(gitrun(repo, "rerun", orig, "-q"))
    ok(gitrun(repo, "rerun", orig, "-q"))
    reruns = [rid for rid in run_ids(repo) if rid not in sweep_ids]
    table = ok(gitrun(repo, "ls", "--group", "run_group")).stdout.splitlines()
    heads = [line for line in table if line.startswith("== ")]
    assert len(heads) == 2
    assert heads[0].startswith("== group ") and heads[0].endswith("(reruns, 3 runs) ==")
    assert heads[1].endswith("(sweep, 3 runs) ==")
    # Rows sit under their group's line: the newest run's group first.
    first = table.index(heads[0])
    assert len(table) == 1 + 2 + 6 and table[1] == heads[0] and table[first + 4] == heads[1]
    listed = ls_json(repo, "--group", "run_group")
    groups = {r["id"]: r["group"] for r in listed}
    assert {groups[rid] for rid in reruns} == {orig} and len({groups[rid] for rid in sweep_ids}) == 1
    # A value that names no field is a run: only its group's runs, as before.
    assert sorted(ids(repo, "--group", orig[:12])) == sorted(reruns)
    assert sorted(ids(repo, "--where", f"run_group = {orig}")) == sorted(reruns)
    by_name = ok(gitrun(repo, "ls", "--group", "name")).stdout.splitlines()
    assert "== name = base (1 run) ==" in by_name and "== no name (5 runs) ==" in by_name


def test_python_runs_and_export_take_the_same_queries(sweep: Sweep) -> None:
    import gitruns

    repo, recs = sweep
    text, keep = WHERES[1]
    assert [r.id for r in gitruns.runs(where=text, repo=repo)] == expected(recs, keep)
    assert [r.id for r in gitruns.runs(where=[text, "params.opt = sgd"], repo=repo)] == expected(
        recs, lambda p, acc: keep(p, acc) and p["opt"] == "sgd")
    best = gitruns.runs(where="params.opt = adam", sort="-metrics.acc", limit=2, repo=repo)
    adam = sorted((r for r in recs if point(r)["opt"] == "adam"), key=lambda r: -r["metrics"]["acc"])
    assert [r.id for r in best] == [r["id"] for r in adam[:2]]
    assert best[0].metrics["acc"] == adam[0]["metrics"]["acc"]
    result = gitruns.export(repo, "jsonl", where=text, columns=["params.lr", "metrics.acc"])
    assert result.count == len(expected(recs, keep)) and result.columns == ["id", "params.lr", "metrics.acc"]
    assert result.text is not None
    rows = [json.loads(line) for line in result.text.splitlines()]
    assert [r["id"] for r in rows] == expected(recs, keep)
    with pytest.raises(gitruns.UsageError, match="at column 14"):
        gitruns.runs(where="metrics.acc >", repo=repo)
    assert gitruns.runs(retired="only", repo=repo) == []


def test_columns_of_the_environment_show_the_recorded_versions(tmp_path: Path) -> None:
    """env.packages.* live once per environment in the index: a column of one shows the
    version env.json recorded, and a query on it finds the run."""
    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n"})
    ok(gitrun(repo, "exec", "--", "python", "-c", "pass"))
    rid = run_ids(repo)[0]
    env = json.loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/env.json"))
    version = env["python"]["packages"]["pygit2"]
    table = ok(gitrun(repo, "ls", "--columns", "env.packages.pygit2,env.python")).stdout
    assert version in table.splitlines()[1] and env["python"]["version"] in table.splitlines()[1]
    assert ids(repo, "--where", f"env.packages.pygit2 = {version}") == [rid]
    assert ids(repo, "--where", f"env.packages.pygit2 > {version}") == []
