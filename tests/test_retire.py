"""`git run retire` of runs and promotions, checked with plain git."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import git, gitrun, make_repo, run_ids, untouched

MODEL = "import sys; open('model.txt', 'w').write(sys.argv[1])"


def _repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"train.py": MODEL + "\n", ".gitignore": "model.txt\n"})


def _run(repo: Path, content: str, *extra: str) -> str:
    before = set(run_ids(repo))
    proc = gitrun(repo, "exec", *extra, "-o", "model.txt", "--", "python", "train.py", content)
    assert proc.returncode == 0, proc.stderr
    (new,) = set(run_ids(repo)) - before
    return new


def _commits(repo: Path, ref: str) -> list[str]:
    return git(repo, "rev-list", "--first-parent", ref).split()


def test_retire_a_run_keeps_the_record_as_it_was(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    old = _run(repo, "v1", "--name", "baseline")
    new = _run(repo, "v2")
    ref = f"refs/runs/{old}"
    before_commits = _commits(repo, ref)
    before_raw = git(repo, "cat-file", "-p", f"{ref}:.gitruns/run.json")
    before = untouched(repo)
    proc = gitrun(repo, "retire", "baseline", "--reason", "trained on the leaked split",
                  "--superseded-by", new[:10], "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["kind"] == "run" and out["target"] == old and out["dependents"] == []
    assert out["retired"]["superseded_by"] == new
    after_commits = _commits(repo, ref)
    assert after_commits[1:] == before_commits and len(after_commits) == len(before_commits) + 1
    # The earlier commit's record is byte for byte what it was.
    assert git(repo, "cat-file", "-p", f"{before_commits[0]}:.gitruns/run.json") == before_raw
    rec = json.loads(git(repo, "cat-file", "-p", f"{ref}:.gitruns/run.json"))
    assert rec["retired"]["reason"] == "trained on the leaked split"
    assert rec["retired"]["superseded_by"] == new and rec["retired"]["by"]
    assert rec["status"] == "succeeded"
    # The code is unchanged: only .gitruns/run.json differs between the two commits.
    assert git(repo, "diff", "--name-only", before_commits[0], ref).split() == [".gitruns/run.json"]
    assert "retired" in git(repo, "log", "-1", "--format=%s", ref)
    assert untouched(repo) == before

    show = gitrun(repo, "show", old[:10])
    assert show.returncode == 0
    lines = show.stdout.splitlines()
    retired_line = next(i for i, line in enumerate(lines) if line.startswith("retired:"))
    assert retired_line < 4 and "trained on the leaked split" in lines[retired_line]
    assert f"superseded by {new}" in lines[retired_line + 1]
    shown = json.loads(gitrun(repo, "show", old, "--json").stdout)
    assert shown["retired"]["reason"] == "trained on the leaked split"
    assert json.loads(gitrun(repo, "show", new, "--json").stdout)["retired"] is None

    again = gitrun(repo, "retire", old, "--reason", "twice")
    assert again.returncode == 1 and "already retired on" in again.stderr
    assert "trained on the leaked split" in again.stderr
    assert len(_commits(repo, ref)) == len(after_commits)


def test_retire_refuses_bad_input(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    head = git(repo, "rev-parse", f"refs/runs/{rid}").strip()
    before = untouched(repo)
    cases = [
        (["retire", rid, "--reason", "r", "--superseded-by", "nosuchrun"], "no run matches 'nosuchrun'"),
        (["retire", "nosuchrun", "--reason", "r"], "no run or promotion matches 'nosuchrun'"),
        (["retire", rid], "Missing option '--reason'"),
        (["retire", rid, "--reason", ""], "--reason is empty"),
        (["retire", rid, "--reason", "r", "--superseded-by", rid], "cannot supersede itself"),
        (["retire", "refs/promoted/a..b", "--reason", "r"], "bad promotion name"),
    ]
    for argv, words in cases:
        proc = gitrun(repo, *argv)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert words in proc.stderr, (argv, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert git(repo, "rev-parse", f"refs/runs/{rid}").strip() == head
    assert untouched(repo) == before


def test_retire_a_promotion(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _run(repo, "v1")
    second = _run(repo, "v2")
    for name, rid in (("prod", first), ("next", second)):
        assert gitrun(repo, "promote", rid, "model.txt", "--as", name, "--reason", "r").returncode == 0
    ref = "refs/promoted/prod"
    head = git(repo, "rev-parse", ref).strip()
    run_head = git(repo, "rev-parse", f"refs/runs/{first}").strip()
    proc = gitrun(repo, "retire", ref, "--reason", "replaced", "--superseded-by", "next")
    assert proc.returncode == 0, proc.stderr
    assert "retired promotion prod" in proc.stdout
    assert git(repo, "log", "-1", "--format=%P", ref).split() == [head, run_head]
    rec = json.loads(git(repo, "cat-file", "-p", f"{ref}:.gitruns/promotion.json"))
    assert rec["retired"]["reason"] == "replaced" and rec["retired"]["superseded_by"] == "refs/promoted/next"
    assert rec["run"] == first
    before = json.loads(git(repo, "cat-file", "-p", f"{head}:.gitruns/promotion.json"))
    assert before["retired"] is None
    # The run itself is not retired.
    assert json.loads(git(repo, "cat-file", "-p", f"refs/runs/{first}:.gitruns/run.json"))["retired"] is None
    listed = gitrun(repo, "promote", "--list").stdout
    assert "next" in listed and "prod" not in listed
    assert "prod (retired)" in gitrun(repo, "promote", "--list", "--retired").stdout
    proc = gitrun(repo, "verify", "prod")
    assert proc.returncode == 1 and "retired on" in proc.stdout
    proc = gitrun(repo, "retire", "prod", "--reason", "again")
    assert proc.returncode == 1 and "already retired" in proc.stderr
    # A retired run cannot be promoted.
    assert gitrun(repo, "retire", second, "--reason", "gone").returncode == 0
    proc = gitrun(repo, "promote", second, "model.txt", "--as", "x", "--reason", "r")
    assert proc.returncode == 1 and "was retired" in proc.stderr


def test_a_name_of_both_a_run_and_a_promotion_is_ambiguous(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1", "--name", "best")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "best", "--reason", "r").returncode == 0
    heads = git(repo, "for-each-ref")
    proc = gitrun(repo, "retire", "best", "--reason", "r")
    assert proc.returncode == 2 and "names both a run and a promotion" in proc.stderr
    assert "refs/promoted/best" in proc.stderr
    assert git(repo, "for-each-ref") == heads
    assert gitrun(repo, "retire", "refs/promoted/best", "--reason", "r").returncode == 0
    assert json.loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json"))["retired"] is None
    assert gitrun(repo, "retire", f"refs/runs/{rid}", "--reason", "r").returncode == 0
    assert json.loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json"))["retired"] is not None


def test_retire_a_run_written_by_an_older_version(tmp_path: Path) -> None:
    from conftest import plant_record, validate

    repo = _repo(tmp_path)
    raw = (Path(__file__).parent / "data" / "run-v4.json").read_bytes()
    rid = plant_record(repo, raw, "a run of schema 4")
    assert gitrun(repo, "retire", rid, "--reason", "old").returncode == 0
    rec = json.loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json"))
    validate(rec)
    assert rec["retired"]["reason"] == "old"
    assert git(repo, "cat-file", "-p", f"refs/runs/{rid}~1:.gitruns/run.json").encode() == raw


def test_retire_lists_every_run_and_promotion_that_depended_on_it(tmp_path: Path) -> None:
    """A withdrawn result: prepare's data fed fit, fit's model fed a report and was
    promoted. Retiring prepare names fit, the report and the promotion, in retire's output,
    in show and in show --json, so the people who used it can be found."""
    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n", ".gitignore": "*.csv\n*.pkl\n*.txt\n"})

    def exec_(*args: str) -> str:
        before = set(run_ids(repo))
        proc = gitrun(repo, "exec", *args)
        assert proc.returncode == 0, proc.stderr
        (new,) = set(run_ids(repo)) - before
        return new

    prepare = exec_("--name", "prepare", "-o", "clean.csv", "--", "sh", "-c", "echo a,b > clean.csv")
    fit = exec_("--name", "fit", "-i", "clean.csv", "-o", "model.pkl", "--",
                "sh", "-c", "(cat clean.csv; echo fitted) > model.pkl")
    report = exec_("--name", "report", "-i", "model.pkl", "-o", "report.txt", "--",
                   "sh", "-c", "wc -c model.pkl > report.txt")
    unrelated = exec_("--name", "other", "--", "true")
    proc = gitrun(repo, "promote", "fit", "model.pkl", "--as", "prod/model", "--reason", "best")
    assert proc.returncode == 0, proc.stderr
    proc = gitrun(repo, "retire", "prepare", "--reason", "the split leaked test rows", "--json")
    assert proc.returncode == 0, proc.stderr
    deps = json.loads(proc.stdout)["dependents"]
    assert {(d["kind"], d["id"]) for d in deps} == {("run", fit), ("run", report), ("promotion", "prod/model")}
    assert unrelated not in {d["id"] for d in deps} and prepare not in {d["id"] for d in deps}
    shown = gitrun(repo, "show", "prepare")
    assert shown.returncode == 0 and "3 depended on it:" in shown.stdout
    assert f"run {fit[:12]} (fit, succeeded) via clean.csv" in shown.stdout
    assert f"run {report[:12]} (report, succeeded) via model.pkl" in shown.stdout
    assert "promotion prod/model of model.pkl" in shown.stdout
    as_json = json.loads(gitrun(repo, "show", "prepare", "--json").stdout)
    assert {d["id"] for d in as_json["dependents"]} == {fit, report, "prod/model"}
    # The promotion retired too: what used its artifact is named (the report).
    proc = gitrun(repo, "retire", "prod/model", "--reason", "built on leaked data", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {d["id"] for d in json.loads(proc.stdout)["dependents"]} == {report}
    # A retired run is hidden by ls, shown with --all.
    listed = {r["id"] for r in json.loads(gitrun(repo, "ls", "--json").stdout)}
    assert prepare not in listed and fit in listed
    assert prepare in {r["id"] for r in json.loads(gitrun(repo, "ls", "--all", "--json").stdout)}
