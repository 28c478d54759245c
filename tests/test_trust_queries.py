"""What an adversarial review of issue 11 found, each a test that failed on the code as
first merged: a forged promotion fetched and restored, records the index took that show
refuses, crashes on a bad export path or a damaged index, wrong answers from mistyped or
very large numbers, a stale index under a remote named with '/', and non-JSON output."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from conftest import git, gitrun, make_repo, run_ids

MODEL = "import sys; open('model.txt', 'w').write(sys.argv[1])"


def _repo(tmp_path: Path, name: str = "repo") -> Path:
    return make_repo(tmp_path / name, {"train.py": MODEL + "\n", ".gitignore": "model.txt\n"})


def _run(repo: Path, content: str) -> str:
    before = set(run_ids(repo))
    proc = gitrun(repo, "exec", "-o", "model.txt", "--", "python", "train.py", content)
    assert proc.returncode == 0, proc.stderr
    (new,) = set(run_ids(repo)) - before
    return new


def _git_in(repo: Path, *args: str, inp: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, input=inp, capture_output=True, text=True,
                          check=True).stdout.strip()


def _record(repo: Path, ref: str, name: str) -> dict:
    return json.loads(git(repo, "cat-file", "-p", f"{ref}:.gitruns/{name}"))


def _plant_promotion(repo: Path, name: str, data: dict, parent: str) -> str:
    blob = _git_in(repo, "hash-object", "-w", "--stdin", inp=json.dumps(data))
    sub = _git_in(repo, "mktree", inp=f"100644 blob {blob}\tpromotion.json\n")
    tree = _git_in(repo, "mktree", inp=f"040000 tree {sub}\t.gitruns\n")
    commit = _git_in(repo, "commit-tree", tree, "-p", parent, "-m", f"promote {name}")
    _git_in(repo, "update-ref", f"refs/promoted/{name}", commit)
    return commit


def _plant_run(repo: Path, src: str, new_id: str, patch: dict) -> str:
    """A copy of run ``src`` as run ``new_id`` with ``patch`` applied to its run.json."""
    rec = _record(repo, f"refs/runs/{src}", "run.json")
    rec.update(patch)
    rec["id"] = new_id
    blob = _git_in(repo, "hash-object", "-w", "--stdin", inp=json.dumps(rec))
    gtree = _git_in(repo, "rev-parse", f"refs/runs/{src}:.gitruns")
    entries = [e for e in _git_in(repo, "ls-tree", gtree).splitlines() if not e.endswith("\trun.json")]
    sub = _git_in(repo, "mktree", inp="\n".join(entries + [f"100644 blob {blob}\trun.json"]) + "\n")
    top = [e for e in _git_in(repo, "ls-tree", f"refs/runs/{src}").splitlines() if not e.endswith("\t.gitruns")]
    tree = _git_in(repo, "mktree", inp="\n".join(top + [f"040000 tree {sub}\t.gitruns"]) + "\n")
    parents = [a for p in _git_in(repo, "log", "-1", "--format=%P", f"refs/runs/{src}").split() for a in ("-p", p)]
    commit = _git_in(repo, "commit-tree", tree, *parents, "-m", f"run {new_id}")
    _git_in(repo, "update-ref", f"refs/runs/{new_id}", commit)
    return commit


# 1 (trust): a fetched promotion naming run A but carrying another digest is taken by
# fetch and restored by `checkout --promoted`, although `verify` rejects it.
def test_fetched_forged_promotion_is_restored_although_verify_refuses_it(tmp_path: Path) -> None:
    theirs = _repo(tmp_path, "theirs")
    trusted = _run(theirs, "trusted model")
    other = _run(theirs, "something else")
    proc = gitrun(theirs, "promote", trusted, "model.txt", "--as", "prod", "--reason", "best")
    assert proc.returncode == 0, proc.stderr
    rec = _record(theirs, "refs/promoted/prod", "promotion.json")
    rec["artifact"]["digest"] = _record(theirs, f"refs/runs/{other}", "run.json")["artifacts"][0]["digest"]
    rec["name"] = "prod2"
    _plant_promotion(theirs, "prod2", rec, git(theirs, "rev-parse", f"refs/runs/{trusted}").strip())

    mine = tmp_path / "mine"
    subprocess.run(["git", "clone", "-q", str(theirs), str(mine)], check=True)
    # fetch refuses it (one line), takes the honest one, and makes no local ref for it
    proc = gitrun(mine, "fetch", "origin")
    assert proc.returncode == 1 and "prod2" in proc.stderr and "has no artifact model.txt" in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    refs = git(mine, "for-each-ref", "--format=%(refname)", "refs/promoted/").split()
    assert refs == ["refs/promoted/prod"]
    # the store travels too (a shared cache): copy theirs, as a shared store would hold it
    subprocess.run(["cp", "-a", str(theirs / ".git" / "gitruns" / "cache"), str(mine / ".git" / "gitruns")], check=True)
    # planted locally by hand (a local ref can be crafted too): checkout refuses it as verify does
    _git_in(mine, "update-ref", "refs/promoted/prod2", git(theirs, "rev-parse", "refs/promoted/prod2").strip())
    assert gitrun(mine, "verify", "prod2").returncode == 1  # verify: the run has no such artifact
    proc = gitrun(mine, "checkout", "--promoted", "prod2", "--force")
    assert proc.returncode != 0, "checkout --promoted restored content the named run never produced"
    assert proc.stderr.count("\n") == 1 and "has no artifact model.txt" in proc.stderr, proc.stderr
    assert not (mine / "model.txt").exists() or (mine / "model.txt").read_text() != "something else"
    assert "prod2" not in gitrun(mine, "promote", "--list").stdout


# 2 (trust / wrong answer): a run record that `show` refuses is listed by the index.
def test_index_lists_a_record_that_show_refuses(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    src = _run(repo, "v1")
    bad = src[:20] + "zzzzzz"
    _plant_run(repo, src, bad, {"run_group": "not-a-run-id", "name": "planted"})
    show = gitrun(repo, "show", bad)
    assert show.returncode != 0 and "refused" in show.stderr
    listed = json.loads(gitrun(repo, "ls", "--all", "--json").stdout)
    assert bad not in [r["id"] for r in listed], "ls lists a record show refuses"
    assert "planted" not in gitrun(repo, "export", "--format", "csv").stdout


# 3 (crash): export -o into a missing directory or onto a directory is exit 3.
def test_export_to_a_bad_path_is_one_line_not_a_crash(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _run(repo, "v1")
    for target in (str(tmp_path / "no" / "such" / "x.csv"), str(tmp_path)):
        proc = gitrun(repo, "export", "-o", target)
        assert proc.returncode in (1, 2), proc.stderr
        assert "internal error" not in proc.stderr


# 4 (crash): an index whose json column holds text (a damaged index.sqlite) crashes ls.
def test_damaged_index_rows_do_not_crash_ls(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _run(repo, "v1")
    assert gitrun(repo, "ls").returncode == 0
    db = sqlite3.connect(repo / ".git" / "gitruns" / "index.sqlite")
    db.execute("UPDATE runs SET json = CAST(json AS TEXT)")
    db.commit()
    db.close()
    proc = gitrun(repo, "ls")
    assert proc.returncode != 3 and "internal error" not in proc.stderr, proc.stderr


# 5 (wrong answer): a mistyped number is compared as text, silently.
def test_mistyped_number_in_ordered_comparison_is_not_silently_text(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a": "x\n"})
    for acc in (0.1, 0.9):
        proc = gitrun(repo, "exec", "--", "python", "-c", f"import gitruns; gitruns.log_metric('acc', {acc})")
        assert proc.returncode == 0, proc.stderr
    proc = gitrun(repo, "ls", "--json", "--where", "metrics.acc > .5x")
    # either a usage error pointing at the value, or no run with acc 0.1
    if proc.returncode == 0:
        accs = [r["metrics"]["acc"] for r in json.loads(proc.stdout)]
        assert 0.1 not in accs, f"'metrics.acc > .5x' listed {accs}"
    else:
        assert proc.returncode == 2


# 6 (wrong answer, low): integers beyond 2**53 compare as floats.
def test_big_integer_params_compare_exactly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a": "x\n"})
    proc = gitrun(repo, "exec", "--", "python", "-c",
                  "import gitruns; gitruns.log_params({'seed': 12345678901234567890})")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(gitrun(repo, "ls", "--json", "--where", "params.seed = 12345678901234567891").stdout or "[]")
    assert out == []


# 7 (wrong answer): with a remote whose name has a '/', the index fingerprint misses
# changes under refs/gitruns/remotes/<a>/<b>/: ls and show keep a run whose refs are gone.
def test_index_sees_tracking_refs_of_a_remote_named_with_a_slash(tmp_path: Path) -> None:
    import time

    theirs = _repo(tmp_path, "theirs")
    rid = _run(theirs, "v1")
    _run(theirs, "v2")  # another tracking ref keeps the directory (git prunes empty ones, which would show)
    mine = _repo(tmp_path, "mine")
    git(mine, "remote", "add", "team/a", str(theirs))
    assert gitrun(mine, "fetch", "team/a").returncode == 0
    git(mine, "update-ref", "-d", f"refs/runs/{rid}")
    time.sleep(2.5)
    assert rid in gitrun(mine, "ls", "--all", "--json").stdout  # still seen through the tracking ref
    git(mine, "update-ref", "-d", f"refs/gitruns/remotes/team/a/{rid}")
    time.sleep(2.5)
    assert rid not in git(mine, "for-each-ref")
    assert rid not in gitrun(mine, "ls", "--all", "--json").stdout, "ls lists a run no ref holds"
    assert gitrun(mine, "show", rid).returncode != 0, "show shows a run no ref holds"


# 8 (trust / wrong output): a record holding 1e999 (valid JSON text, a number to the
# schema; fetch and show accept it) makes `export --format json/jsonl` (and `ls --json`,
# `show --json`) write Infinity, which is not JSON.
def test_export_json_of_a_record_with_1e999_is_json(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    src = _run(repo, "v1")
    bad = src[:20] + "wwwwww"
    rec = _record(repo, f"refs/runs/{src}", "run.json")
    rec.update({"id": bad, "run_group": bad, "metrics": {"acc": 12345}})
    text = json.dumps(rec).replace('"acc": 12345', '"acc": 1e999')
    blob = _git_in(repo, "hash-object", "-w", "--stdin", inp=text)
    gtree = _git_in(repo, "rev-parse", f"refs/runs/{src}:.gitruns")
    entries = [e for e in _git_in(repo, "ls-tree", gtree).splitlines() if not e.endswith("\trun.json")]
    sub = _git_in(repo, "mktree", inp="\n".join(entries + [f"100644 blob {blob}\trun.json"]) + "\n")
    top = [e for e in _git_in(repo, "ls-tree", f"refs/runs/{src}").splitlines() if not e.endswith("\t.gitruns")]
    tree = _git_in(repo, "mktree", inp="\n".join(top + [f"040000 tree {sub}\t.gitruns"]) + "\n")
    parent = git(repo, "log", "-1", "--format=%P", f"refs/runs/{src}").split()[0]
    _git_in(repo, "update-ref", f"refs/runs/{bad}", _git_in(repo, "commit-tree", tree, "-p", parent, "-m", "r"))
    # Refused as NaN and Infinity are (gitruns never writes them): one line, and listings skip it.
    shown = gitrun(repo, "show", bad)
    assert shown.returncode == 1 and "1e999 is too large a number" in shown.stderr
    assert shown.stderr.count("\n") == 1
    assert bad not in {r["id"] for r in json.loads(gitrun(repo, "ls", "--json").stdout)}

    def strict(text: str) -> None:
        def refuse(const: str) -> None:
            raise AssertionError(f"not JSON: {const}")
        json.loads(text, parse_constant=refuse)

    for args in (["export", "--format", "json"], ["ls", "--json"], ["show", src, "--json"]):
        strict(gitrun(repo, *args).stdout)
    for line in gitrun(repo, "export", "--format", "jsonl").stdout.splitlines():
        strict(line)
