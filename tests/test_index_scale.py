"""The run index answers as the records do, through what its speed-ups changed: a
rebuild into an empty index (indexes made after the rows), env.packages kept once per
env.json blob, the quick config.yaml reader, records read back without a second
bounds check.  300 runs written through gitruns' own store, as bench/ does; the
expected answers are worked out from the records read with plain git."""
from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, gitrun, make_repo

COUNT = 300


def _config(i: int) -> bytes:
    lr = [0.1, 0.01, 0.001][i % 3]
    text = (f"model:\n  name: resnet{[18, 50][i % 2]}\n  layers: [64, {i}]\ntrain:\n  lr: {lr}\n"
            f"  batch: {[16, 32][i % 2]}\n  opt: {['adam', 'sgd'][i % 2]}\nempty:\n")
    if i % 7 == 0:
        text += "note: 'quoted' # read by PyYAML, not the quick reader\n"
    if i % 11 == 0:
        text += "flag: yes\nwhen: 2026-01-02\nsmall: 1e-5\n"
    return text.encode()


def _env(template: dict[str, Any], variant: int) -> bytes:
    doc = json.loads(json.dumps(template))
    packages = {f"pkg-{k}": f"1.{k}.{variant}" for k in range(40)}
    packages.update({"torch": f"2.{4 + variant}.0", "Torch_Vision": "0.19.1"})
    doc.setdefault("python", {})["packages"] = packages
    return json.dumps(doc, indent=2, sort_keys=True).encode()


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    import pygit2

    from gitruns import record, recordread, runid, runrefs
    from gitruns.repo import open_repo

    path = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    done = gitrun(path, "exec", "--name", "template", "--", "true")
    assert done.returncode == 0, done.stderr
    r = open_repo(str(path))
    (rid, commit), = list(runrefs.iter_refs(r))
    template = recordread.read_record(r.git, commit)
    tree = r.git[pygit2.Oid(hex=commit)].peel(pygit2.Tree)
    files = {e.name: bytes(r.git[e.id].data) for e in r.git[tree[".gitruns"].id]}
    files.pop("run.json")
    envs = [_env(json.loads(files["env.json"]), v) for v in range(3)]
    head = str(r.git.head.target)
    rng = random.Random(3)
    accs = rng.sample(range(5000, 10000), COUNT)  # distinct: the sort has one right answer
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    for i in range(COUNT):
        rec = json.loads(json.dumps(template))
        at = start + i * 60
        rec["id"] = runid.new_id(int(at * 1000))
        rec["name"] = f"sweep-{i}"
        rec["status"] = "failed" if i % 13 == 0 else "succeeded"
        rec["started_at"] = dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat().replace("+00:00", "Z")
        rec["metrics"] = {} if i % 13 == 0 else {"acc": accs[i] / 10000, "loss": 1 - accs[i] / 10000}
        rec["tags"] = {"sweep": f"s{i // 100}", "note": "é" if i % 17 == 0 else "plain"}
        run_files = dict(files, **{"config.yaml": _config(i), "env.json": envs[i % 3]})
        runrefs.write(r, record.upgrade(rec), run_files, template["code"]["snapshot_tree"], [head], None)
    return path


def _index(repo: Path) -> Path:
    common = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    return (common if common.is_absolute() else repo / common) / "gitruns" / "index.sqlite"


def _drop_index(repo: Path) -> None:
    base = _index(repo)
    for suffix in ("", "-wal", "-shm"):
        Path(str(base) + suffix).unlink(missing_ok=True)


def _ls_json(repo: Path) -> str:
    done = gitrun(repo, "ls", "--json")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _records(repo: Path) -> dict[str, tuple[str, dict[str, Any], Any, Any]]:
    """run id -> (commit, run.json, config.yaml, env.json), read with plain git."""
    out = {}
    for line in git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/runs/").splitlines():
        commit, ref = line.split()
        rid = ref.removeprefix("refs/runs/")

        def read(name: str, c: str = commit) -> bytes:
            return subprocess.run(["git", "cat-file", "blob", f"{c}:.gitruns/{name}"], cwd=repo,
                                  capture_output=True, check=True).stdout

        out[rid] = (commit, json.loads(read("run.json")), yaml.safe_load(read("config.yaml")),
                    json.loads(read("env.json")))
    return out


def _query(repo: Path, where: str | None = None, sort: str | None = None, limit: int | None = None) -> list[str]:
    """Run ids the index selects, in its order (gitruns.query over gitruns.runindex)."""
    from gitruns import query
    from gitruns.repo import open_repo
    from gitruns.runindex import RunIndex

    sql, params = ("1", []) if where is None else query.compile_where(query.parse(where),
                                                                     dt.datetime.now(dt.timezone.utc))
    order, order_params = query.compile_order(query.parse_sort(sort)) if sort else (None, [])
    with RunIndex.open(open_repo(str(repo))) as index:
        return [r.id for r in index.runs(sql, params, order, order_params, limit)]


def _check_answers(repo: Path, listed: str) -> None:
    """ls --json and the queries agree with the records themselves."""
    recs = _records(repo)
    shown = json.loads(listed)
    assert [r["id"] for r in shown] == sorted(recs, reverse=True)
    for item in shown:
        commit, raw, _, _ = recs[item["id"]]
        assert item["commit"] == commit
        assert {k: item[k] for k in raw if k != "status"} == {k: v for k, v in raw.items() if k != "status"}
        assert item["recorded_status"] == raw["status"]

    def acc(rid: str) -> float | None:
        return recs[rid][1].get("metrics", {}).get("acc")

    def params(rid: str) -> dict[str, Any]:
        return recs[rid][2]

    assert set(_query(repo, "metrics.acc > 0.9")) == {r for r in recs if (acc(r) or 0) > 0.9}
    best = sorted((r for r in recs if acc(r) is not None and acc(r) > 0.6), key=lambda r: -(acc(r) or 0))[:20]
    assert _query(repo, "metrics.acc > 0.6", "-metrics.acc", 20) == best
    assert set(_query(repo, "params.train.lr = 0.01 and params.model.name = resnet50")) == {
        r for r in recs if params(r) and params(r)["train"]["lr"] == 0.01 and params(r)["model"]["name"] == "resnet50"}
    assert set(_query(repo, "params.train.batch = 32")) == {
        r for r in recs if params(r) and params(r)["train"]["batch"] == 32}
    assert set(_query(repo, "params.flag = true and params.small = '1e-5'")) == {
        r for r in recs if params(r) and params(r).get("flag") is True and params(r).get("small") == "1e-5"}
    assert set(_query(repo, "params.note = quoted")) == {r for r in recs if params(r) and params(r).get("note")}
    assert set(_query(repo, "tags.note = 'é'")) == {r for r in recs if recs[r][1]["tags"].get("note") == "é"}

    def torch(rid: str) -> str | None:
        return (recs[rid][3].get("python") or {}).get("packages", {}).get("torch")

    want = {r for r in recs if torch(r) == "2.5.0"}
    assert want and set(_query(repo, "env.packages.torch = 2.5.0")) == want
    assert set(_query(repo, "env.packages.torch_vision = 0.19.1")) == {r for r in recs if torch(r)}
    assert set(_query(repo, "env.packages.torch >= 2.5")) == {r for r in recs if torch(r) in ("2.5.0", "2.6.0")}
    newest = _query(repo, None, "-env.packages.torch", 5)
    assert all(torch(r) == "2.6.0" for r in newest)

    # a listing's columns read env.packages.* beside other keys (runindex.attr_rows)
    from gitruns.repo import open_repo
    from gitruns.runindex import RunIndex, attr_rows

    with RunIndex.open(open_repo(str(repo))) as index:
        commits = sorted(c for c, *_ in recs.values())
        rows = attr_rows(index.db, commits, ["params.train.lr", "env.packages.torch", "env.packages.torch-vision"])
    assert [r[:2] for r in rows] == sorted(r[:2] for r in rows)
    got: dict[tuple[str, str], str] = {(c, k): t for c, k, _, t in rows}
    for rid, (commit, _, config, _) in recs.items():
        assert got.get((commit, "env.packages.torch")) == torch(rid)
        assert got.get((commit, "env.packages.torch-vision")) == ("0.19.1" if torch(rid) else None)
        assert got.get((commit, "params.train.lr")) == (repr(config["train"]["lr"]) if config else None)


def test_index_answers_as_the_records_do(sweep: Path) -> None:
    repo = sweep
    _drop_index(repo)
    cold = _ls_json(repo)
    assert _index(repo).exists()
    assert len(json.loads(cold)) == COUNT + 1
    warm = _ls_json(repo)
    assert warm == cold
    _check_answers(repo, warm)

    _drop_index(repo)
    assert _ls_json(repo) == cold  # rebuilt, byte for byte
    _index(repo).unlink()  # the file alone, its write-ahead log left behind
    assert _ls_json(repo) == cold
    assert not [p.name for p in _index(repo).parent.iterdir() if p.name.endswith(".new")]

    # a run updated: a new commit on its ref
    import pygit2

    from gitruns import record, recordread, runrefs
    from gitruns.repo import open_repo

    r = open_repo(str(repo))
    target = json.loads(cold)[5]
    commit = git(repo, "rev-parse", f"refs/runs/{target['id']}").strip()
    rec = recordread.read_record(r.git, commit)
    rec["metrics"] = {"acc": 0.99999, "loss": 0.0}
    tree = r.git.get(commit).peel(pygit2.Tree)
    files = {e.name: bytes(r.git[e.id].data) for e in r.git[tree[".gitruns"].id] if e.name != "run.json"}
    runrefs.write(r, record.upgrade(rec), files, rec["code"]["snapshot_tree"], [commit], commit)
    updated = _ls_json(repo)
    assert updated != cold
    assert [x["id"] for x in json.loads(updated)] == [x["id"] for x in json.loads(cold)]
    assert _query(repo, "metrics.acc > 0.9", "-metrics.acc", 1) == [target["id"]]
    _check_answers(repo, updated)

    # a run deleted with plain git
    gone = json.loads(cold)[7]["id"]
    git(repo, "update-ref", "-d", f"refs/runs/{gone}")
    after_delete = _ls_json(repo)
    assert gone not in {x["id"] for x in json.loads(after_delete)}
    assert gone not in _query(repo, "env.packages.torch >= 0")
    _check_answers(repo, after_delete)

    # refs packed: same answers, and a rebuild from packed refs gives the same bytes
    git(repo, "pack-refs", "--all")
    assert _ls_json(repo) == after_delete
    _drop_index(repo)
    assert _ls_json(repo) == after_delete
    _check_answers(repo, after_delete)


def test_rebuild_in_chunks_and_bulk_matches_one_by_one(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path (indexes made after the rows, several chunks) and the incremental
    path (a few new runs at a time into an index that has rows) store the same rows."""
    import sqlite3

    from gitruns import runindex
    from gitruns.repo import open_repo

    def dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                for t in ("visible", "runs", "attrs", "digests", "env_attrs", "run_env")}

    _drop_index(sweep)
    monkeypatch.setattr(runindex, "CHUNK", 70)
    monkeypatch.setattr(runindex, "BULK_FROM", 100)
    with runindex.RunIndex.open(open_repo(str(sweep))) as index:
        bulk = dump(index.db)
        names = {n for (n,) in index.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert set(runindex._BULK_INDEXES) <= names  # made again after the rows
    _drop_index(sweep)
    monkeypatch.setattr(runindex, "BULK_FROM", 10**9)
    with runindex.RunIndex.open(open_repo(str(sweep))) as index:
        assert dump(index.db) == bulk
        assert index.db.execute("SELECT COUNT(DISTINCT env_id) FROM env_attrs").fetchone()[0] == 4  # and the template


def test_a_rebuild_on_several_cores_stores_what_one_process_does(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large rebuild forks one process a core, each indexing a share into a file of its
    own that the first copies in: the same rows, the same refusals, no files left."""
    import os
    import sqlite3

    from conftest import plant_record

    from gitruns import runindex
    from gitruns.repo import open_repo

    # two records no reader may take, in different shares of the rebuild
    listed = json.loads(_ls_json(sweep))
    for k, victim in enumerate((listed[10], listed[-10])):
        raw = json.loads(git(sweep, "cat-file", "-p", f"refs/runs/{victim['id']}:.gitruns/run.json"))
        raw["id"] = f"01zz{k}" + raw["id"][5:]  # a run id its ref does not have: refused
        raw["status"] = "no such status"
        plant_record(sweep, json.dumps(raw).encode(), "crafted")

    def dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)  # noqa: S608
                for t in ("visible", "runs", "attrs", "digests", "env_attrs", "run_env", "refused")}

    monkeypatch.setattr(runindex, "CHUNK", 70)
    monkeypatch.setattr(runindex, "BULK_FROM", 100)
    _drop_index(sweep)
    with runindex.RunIndex.open(open_repo(str(sweep))) as index:
        alone = dump(index.db)
        refusals = sorted(index.new_refusals)
    assert len(refusals) == 2 and len(alone["refused"]) == 2

    forks: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(runindex, "_cores", lambda: 3)
    monkeypatch.setattr(runindex, "PARALLEL_FROM", 100)
    _drop_index(sweep)
    with runindex.RunIndex.open(open_repo(str(sweep))) as index:
        assert dump(index.db) == alone
        assert sorted(index.new_refusals) == refusals
        names = {n for (n,) in index.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert set(runindex._BULK_INDEXES) <= names
    assert len(forks) == 2
    assert not [p.name for p in _index(sweep).parent.iterdir() if p.name.endswith((".part", ".new"))]
    # the command line lists the same, and warns of the crafted runs
    listed_again = gitrun(sweep, "ls", "--json")
    assert json.loads(listed_again.stdout) == listed
    assert listed_again.stderr.count("skipping run 01zz") == 2


def test_a_long_rebuild_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    """Indexing many runs (a deleted index, a big fetch) takes a while: on a terminal it
    counts the runs on stderr; piped, stderr has nothing of it."""
    import pygit2
    from conftest import on_a_terminal

    from gitruns import record, recordread, runid, runrefs
    from gitruns.repo import open_repo
    from gitruns.runindex import PROGRESS_FROM

    path = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    assert gitrun(path, "exec", "--name", "template", "--", "true").returncode == 0
    r = open_repo(str(path))
    (_rid, commit), = list(runrefs.iter_refs(r))
    template = recordread.read_record(r.git, commit)
    tree = r.git[pygit2.Oid(hex=commit)].peel(pygit2.Tree)
    files = {e.name: bytes(r.git[e.id].data) for e in r.git[tree[".gitruns"].id] if e.name != "run.json"}
    start = int(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
    for i in range(PROGRESS_FROM):
        rec = json.loads(json.dumps(template))
        rec["id"] = runid.new_id(start + i)
        runrefs.write(r, record.upgrade(rec), files, template["code"]["snapshot_tree"], [commit], None)
    for f in _index(path).parent.glob("index.sqlite*"):
        f.unlink()
    status, seen = on_a_terminal(path, ["git", "run", "ls", "-n", "1"], stdout=False, stderr=True)
    assert status == 0, seen
    assert f"indexing runs: {PROGRESS_FROM + 1:,} runs, done".encode() in seen
    for f in _index(path).parent.glob("index.sqlite*"):
        f.unlink()
    piped = gitrun(path, "ls", "-n", "1")
    assert piped.returncode == 0 and piped.stderr == "" and len(piped.stdout.splitlines()) == 2
