"""Lineage end to end: runs linked by digest at launch (record and git ancestry),
`git run lineage` up and down, `git run which`, pipeline steps, dependents."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git, gitrun, make_repo, record, run_ids, validate

PREPARE = "mkdir -p data && tr a-z A-Z < raw.txt > data/clean.csv"
FIT = "cat data/clean.csv > model.pkl && echo weights >> model.pkl"
REPORT = "wc -c < model.pkl > report.txt"
IGNORED = "data/clean.csv\nmodel*.pkl\nreport*.txt\nout*.txt\n"


def exec_run(repo: Path, *args: str) -> str:
    """``git run exec ARGS``; the new run's id."""
    before = set(run_ids(repo))
    proc = gitrun(repo, "exec", *args)
    assert proc.returncode == 0, proc.stderr
    (new,) = set(run_ids(repo)) - before
    return new


def commit_of(repo: Path, rid: str) -> str:
    return git(repo, "rev-parse", f"refs/runs/{rid}").strip()


def chain(tmp_path: Path) -> tuple[Path, str, str, str]:
    """prepare -> fit -> report; their run ids."""
    repo = make_repo(tmp_path / "repo", {"raw.txt": "some raw rows\n", ".gitignore": IGNORED})
    prepare = exec_run(repo, "-n", "prepare", "-i", "raw.txt", "-o", "data/clean.csv", "--", "sh", "-c", PREPARE)
    fit = exec_run(repo, "-n", "fit", "-i", "data/clean.csv", "-o", "model.pkl", "--", "sh", "-c", FIT)
    report = exec_run(repo, "-n", "report", "-i", "model.pkl", "-o", "report.txt", "--", "sh", "-c", REPORT)
    return repo, prepare, fit, report


def lineage_json(repo: Path, *args: str) -> dict:
    proc = gitrun(repo, "lineage", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def runs_in(graph: dict) -> set[str]:
    return {n["run"] for n in graph["nodes"] if n["type"] == "run" and n["id"] != graph["root"]}


def test_prepare_fit_chain_is_linked_in_the_record_and_in_git_ancestry(tmp_path: Path) -> None:
    repo, prepare, fit, report = chain(tmp_path)
    rec = record(repo, fit)
    validate(rec)
    prep_commit = commit_of(repo, prepare)
    clean_digest = record(repo, prepare)["artifacts"][0]["digest"]
    assert rec["upstream"] == [{"run": prepare, "commit": prep_commit, "digest": clean_digest,
                                "path": "data/clean.csv", "artifact": "data/clean.csv", "step": None}]
    assert record(repo, prepare)["upstream"] == []  # raw.txt came from no run
    # Plain git walks upstream: the first commit of fit has prepare's commit as a second parent.
    subprocess.run(["git", "merge-base", "--is-ancestor", prep_commit, f"refs/runs/{fit}"], cwd=repo, check=True)
    assert prep_commit in git(repo, "log", "--format=%H", f"refs/runs/{fit}").split()
    first = git(repo, "rev-list", "--first-parent", "--reverse", f"HEAD..refs/runs/{fit}").split()[0]
    parents = git(repo, "show", "-s", "--format=%P", first).split()
    assert parents == [git(repo, "rev-parse", "HEAD").strip(), prep_commit]
    # Later commits of the run keep one parent: the run's own timeline stays first-parent.
    assert len(git(repo, "show", "-s", "--format=%P", f"refs/runs/{fit}").split()) == 1
    # report is linked to fit, and through it to prepare.
    subprocess.run(["git", "merge-base", "--is-ancestor", prep_commit, f"refs/runs/{report}"], cwd=repo, check=True)

    up = lineage_json(repo, "fit", "--upstream")
    assert up["direction"] == "upstream" and up["root"] == f"run:{fit}"
    assert runs_in(up) == {prepare}
    assert any(n["type"] == "code" for n in up["nodes"])
    edge = next(e for e in up["edges"] if e["from"] == f"run:{prepare}")
    assert edge == {"from": f"run:{prepare}", "to": f"data:{clean_digest}", "type": "produced",
                    "path": "data/clean.csv", "step": None}
    assert runs_in(lineage_json(repo, report, "--upstream")) == {fit, prepare}
    assert runs_in(lineage_json(repo, report, "--upstream", "--depth", "1")) == {fit}

    down = lineage_json(repo, prepare[:10], "--downstream")
    assert runs_in(down) == {fit, report}
    assert runs_in(lineage_json(repo, prepare, "--downstream", "--depth", "1")) == {fit}

    text = gitrun(repo, "lineage", "prepare", "--downstream").stdout.splitlines()
    assert text[0].startswith(f"run {prepare[:12]}  prepare  succeeded")
    assert text[1] == f"  artifact data/clean.csv  {clean_digest.split(':')[1][:12]}"
    assert text[2] == f"    used by run {fit[:12]}  fit  succeeded  as data/clean.csv"
    assert any(line.strip().startswith(f"used by run {report[:12]}  report") for line in text)
    shown = gitrun(repo, "lineage", "report").stdout
    assert f"produced by run {prepare[:12]}  prepare  succeeded  as data/clean.csv" in shown
    assert "code " in shown


def test_the_corrected_dataset_lists_what_was_built_from_the_old_version(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"data/train.csv": "a,1\nb,2\nc,WRONG\n", ".gitignore": IGNORED})
    models_old = [exec_run(repo, "-n", f"fit-old-{i}", "-i", "data/train.csv", "-o", f"model{i}.pkl", "--", "sh",
                           "-c", f"cat data/train.csv > model{i}.pkl && echo {i} >> model{i}.pkl") for i in (1, 2)]
    report_old = exec_run(repo, "-n", "report-old", "-i", "model1.pkl", "-o", "report1.txt", "--", "sh", "-c",
                          "wc -c < model1.pkl > report1.txt")
    old = record(repo, models_old[0])["inputs"][0]["digest"]
    (repo / "data" / "train.csv").write_text("a,1\nb,2\nc,3\n")  # the correction
    git(repo, "commit", "-qam", "fix row c")
    model_new = exec_run(repo, "-n", "fit-new", "-i", "data/train.csv", "-o", "model3.pkl", "--", "sh", "-c",
                         "cat data/train.csv > model3.pkl && echo 3 >> model3.pkl")
    report_new = exec_run(repo, "-n", "report-new", "-i", "model3.pkl", "-o", "report3.txt", "--", "sh", "-c",
                          "wc -c < model3.pkl > report3.txt")
    assert record(repo, model_new)["inputs"][0]["digest"] != old

    hexpart = old.split(":")[1]
    graph = lineage_json(repo, f"data/train.csv@{hexpart[:8]}", "--downstream")
    assert graph["target"] == {"type": "path", "digest": old, "path": "data/train.csv"}
    assert runs_in(graph) == {*models_old, report_old}
    assert runs_in(lineage_json(repo, old, "--downstream")) == {*models_old, report_old}
    # The file as it is now: the new version's models and reports only.
    assert runs_in(lineage_json(repo, "data/train.csv", "--downstream")) == {model_new, report_new}
    text = gitrun(repo, "lineage", f"data/train.csv@{hexpart[:8]}", "--downstream").stdout
    assert text.splitlines()[0] == f"data/train.csv@{hexpart[:12]}"
    assert "report-old" in text and "report-new" not in text


def test_which_finds_the_run_after_a_rename_and_a_copy(tmp_path: Path) -> None:
    repo, prepare, fit, report = chain(tmp_path)
    (repo / ".gitignore").write_text("data/clean.csv\nreport*.txt\n")
    git(repo, "add", "model.pkl", ".gitignore")
    git(repo, "commit", "-qm", "keep the model")
    git(repo, "mv", "model.pkl", "renamed.pkl")
    (repo / "elsewhere").mkdir()
    shutil.copy(repo / "renamed.pkl", repo / "elsewhere" / "copy.pkl")

    for target, cwd in (("renamed.pkl", repo), ("copy.pkl", repo / "elsewhere")):
        proc = gitrun(cwd, "which", target, "--json")
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout)
        assert [u["run"] for u in found["produced_by"]] == [fit]
        assert found["produced_by"][0]["path"] == "model.pkl"
        assert [u["run"] for u in found["used_by"]] == [report]
    text = gitrun(repo, "which", "renamed.pkl").stdout.splitlines()
    assert text[0].startswith("renamed.pkl  xxh3_128:")
    assert text[1] == "produced by:"
    assert text[2].startswith(f"  {fit[:12]}  fit  succeeded  model.pkl  ")
    # By digest too, abbreviated.
    digest = record(repo, fit)["artifacts"][0]["digest"]
    assert json.loads(gitrun(repo, "which", digest.split(":")[1][:10], "--json").stdout)["digest"] == digest

    (repo / "unknown.bin").write_text("nobody made this\n")
    proc = gitrun(repo, "which", "unknown.bin")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "no run produced or used unknown.bin" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = gitrun(repo, "which", "xxh3_128:" + "0" * 32)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    proc = gitrun(repo, "lineage", "unknown.bin", "--downstream")
    assert proc.returncode == 1 and proc.stderr == "no run used it\n"


PIPELINE = """steps:
  one:
    cmd: "cat data/clean.csv > out1.txt && echo one >> out1.txt"
    deps: [data/clean.csv]
    outs: [out1.txt]
  two:
    cmd: "cat out1.txt > out2.txt && echo two >> out2.txt"
    deps: [out1.txt]
    outs: [out2.txt]
"""


def test_pipeline_steps_link_to_earlier_steps_and_earlier_runs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"raw.txt": "rows\n", ".gitignore": IGNORED, "gitruns.yaml": PIPELINE})
    prepare = exec_run(repo, "-n", "prepare", "-i", "raw.txt", "-o", "data/clean.csv", "--", "sh", "-c", PREPARE)
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    pipe = run_ids(repo)[-1]
    rec = record(repo, pipe)
    validate(rec)
    steps = {s["name"]: s for s in rec["steps"]}
    prep_commit = commit_of(repo, prepare)
    clean = record(repo, prepare)["artifacts"][0]["digest"]
    assert steps["one"]["upstream"] == [{"run": prepare, "commit": prep_commit, "digest": clean,
                                         "path": "data/clean.csv", "artifact": "data/clean.csv", "step": None}]
    (up,) = steps["two"]["upstream"]
    assert (up["run"], up["step"], up["path"], up["digest"]) == (pipe, "one", "out1.txt",
                                                                 steps["one"]["outputs"][0]["digest"])
    assert git(repo, "show", "-s", "--format=%s", up["commit"]).split(": ")[1] == "step one succeeded"
    subprocess.run(["git", "merge-base", "--is-ancestor", up["commit"], f"refs/runs/{pipe}"], cwd=repo, check=True)
    # prepare's commit is a further parent of step one's start commit.
    subprocess.run(["git", "merge-base", "--is-ancestor", prep_commit, f"refs/runs/{pipe}"], cwd=repo, check=True)
    start = next(c for c in git(repo, "rev-list", "--first-parent", f"HEAD..refs/runs/{pipe}").split()
                 if git(repo, "show", "-s", "--format=%s", c).split(": ")[1] == "step one started")
    assert git(repo, "show", "-s", "--format=%P", start).split()[1:] == [prep_commit]

    assert runs_in(lineage_json(repo, prepare, "--downstream")) == {pipe}
    assert runs_in(lineage_json(repo, pipe, "--upstream")) == {prepare}

    # Run again: step one is cached from the first pipeline run, and names it.
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    again = run_ids(repo)[-1]
    one = {s["name"]: s for s in record(repo, again)["steps"]}["one"]
    assert one["status"] == "cached"
    assert {u["run"] for u in one["upstream"]} == {prepare, pipe}
    subprocess.run(["git", "merge-base", "--is-ancestor", commit_of(repo, pipe), f"refs/runs/{again}"], cwd=repo,
                   check=True)


def test_dependents_of_a_run_and_of_a_promotion(tmp_path: Path) -> None:
    from gitruns.lineagegraph import dependents
    from gitruns.repo import open_repo

    repo, prepare, fit, report = chain(tmp_path)
    proc = gitrun(repo, "promote", fit, "model.pkl", "--as", "prod-model", "--reason", "best")
    assert proc.returncode == 0, proc.stderr
    found = dependents(open_repo(str(repo)), run_id=prepare)
    assert [(d.kind, d.id, d.depth) for d in found] == [("run", fit, 1), ("run", report, 2),
                                                         ("promotion", "prod-model", None)]
    assert found[0].path == "data/clean.csv" and found[0].status == "succeeded"
    assert [(d.kind, d.id) for d in dependents(open_repo(str(repo)), promotion="prod-model")] == [("run", report)]
    down = gitrun(repo, "lineage", prepare, "--downstream").stdout
    assert "promoted as prod-model" in down
    # A retired run is marked, with its reason, up and down.
    proc = gitrun(repo, "retire", prepare, "--reason", "labels were wrong")
    assert proc.returncode == 0, proc.stderr
    assert f"run {prepare[:12]}  prepare  succeeded  retired: labels were wrong" in \
        gitrun(repo, "lineage", report).stdout
    node = next(n for n in lineage_json(repo, prepare, "--downstream")["nodes"] if n["id"] == f"run:{prepare}")
    assert node["retired"]["reason"] == "labels were wrong"
    assert [d.id for d in dependents(open_repo(str(repo)), run_id=prepare)] == [fit, report, "prod-model"]


@pytest.mark.parametrize("args, message", [
    (["nosuchrun"], "no run, file or digest matches 'nosuchrun'"),
    (["missing/file.csv"], "no run, file or digest matches 'missing/file.csv'"),
    (["deadbeefdeadbeef"], "no run has a file of digest deadbeefdeadbeef"),
    (["raw.txt@deadbeef"], "no run has a file of digest deadbeef"),
    (["prepare", "--upstream", "--downstream"], "--upstream and --downstream cannot be used together"),
    (["prepare", "--depth", "-1"], "--depth must be 0 or more"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    repo = make_repo(tmp_path / "repo", {"raw.txt": "rows\n", ".gitignore": IGNORED})
    exec_run(repo, "-n", "prepare", "-i", "raw.txt", "-o", "data/clean.csv", "--", "sh", "-c", PREPARE)
    proc = gitrun(repo, "lineage", *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_run_fetched_from_a_teammate_is_upstream_too(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", {"raw.txt": "some raw rows\n", ".gitignore": IGNORED})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        subprocess.run(["git", "clone", "-q", f"file://{bare}", str(path)], check=True)
    prepare = exec_run(a, "-n", "prepare", "-i", "raw.txt", "-o", "data/clean.csv", "--", "sh", "-c", PREPARE)
    assert gitrun(a, "push").returncode == 0
    proc = gitrun(b, "fetch")
    assert proc.returncode == 0, proc.stderr
    (b / "data").mkdir()
    shutil.copy(a / "data" / "clean.csv", b / "data" / "clean.csv")  # the same bytes, got some other way
    fit = exec_run(b, "-n", "fit", "-i", "data/clean.csv", "-o", "model.pkl", "--", "sh", "-c", FIT)
    (up,) = record(b, fit)["upstream"]
    assert (up["run"], up["commit"]) == (prepare, git(a, "rev-parse", f"refs/runs/{prepare}").strip())
    subprocess.run(["git", "merge-base", "--is-ancestor", up["commit"], f"refs/runs/{fit}"], cwd=b, check=True)
    assert f"produced by run {prepare[:12]}  prepare  succeeded  as data/clean.csv" in gitrun(b, "lineage", fit).stdout
    for path in (bare, a, b):
        subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=path, check=True, capture_output=True)


def test_pushing_a_run_carries_its_upstream_commits_and_lineage_says_which_run_is_not_here(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", {"raw.txt": "some raw rows\n", ".gitignore": IGNORED})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    a, c = tmp_path / "a", tmp_path / "c"
    for path in (a, c):
        subprocess.run(["git", "clone", "-q", f"file://{bare}", str(path)], check=True)
    prepare = exec_run(a, "-n", "prepare", "-i", "raw.txt", "-o", "data/clean.csv", "--", "sh", "-c", PREPARE)
    fit = exec_run(a, "-n", "fit", "-i", "data/clean.csv", "-o", "model.pkl", "--", "sh", "-c", FIT)
    assert gitrun(a, "push", "origin", fit).returncode == 0  # fit only
    assert gitrun(c, "fetch").returncode == 0
    prep_commit = git(a, "rev-parse", f"refs/runs/{prepare}").strip()
    subprocess.run(["git", "merge-base", "--is-ancestor", prep_commit, f"refs/runs/{fit}"], cwd=c, check=True)
    assert f"produced by run {prepare[:12]}  -  ?  (not among the runs here" in gitrun(c, "lineage", fit).stdout
    node = next(n for n in lineage_json(c, fit)["nodes"] if n["id"] == f"run:{prepare}")
    assert node["missing"] is True and node["commit"] == prep_commit
    assert gitrun(a, "push").returncode == 0  # now prepare too
    assert gitrun(c, "fetch").returncode == 0
    assert runs_in(lineage_json(c, fit)) == {prepare}
    assert "not among the runs here" not in gitrun(c, "lineage", fit).stdout
    for path in (bare, a, c):
        subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=path, check=True, capture_output=True)


def test_python_answers_as_the_command_line_does(tmp_path: Path) -> None:
    """gitruns.lineage/which/promote/verify/retire: the same answers and the same refs as
    the verbs, from a path to the repository."""
    import gitruns

    repo, prepare, fit, report = chain(tmp_path)
    graph = gitruns.lineage(prepare, "downstream", repo=repo)
    assert graph.to_dict() == lineage_json(repo, prepare, "--downstream")
    assert {n["run"] for n in graph.runs()} == {fit, report}
    assert {n["run"] for n in gitruns.lineage(report, repo=repo).runs()} == {prepare, fit}
    digest = record(repo, fit)["artifacts"][0]["digest"]
    found = gitruns.which(digest, repo=repo)
    assert found.to_dict() == json.loads(gitrun(repo, "which", digest, "--json").stdout)
    promoted = gitruns.promote(fit, "model.pkl", "prod-model", "best so far", repo=repo)
    assert git(repo, "rev-parse", "refs/promoted/prod-model").strip() == promoted.commit
    assert gitruns.verify("prod-model", repo=str(repo)).ok
    gone = gitruns.retire(prepare, "labels were wrong", repo=repo)
    assert [d["id"] for d in gone.dependents] == [fit, report, "prod-model"]
    assert record(repo, prepare)["retired"]["reason"] == "labels were wrong"
    with pytest.raises(gitruns.UsageError):
        gitruns.lineage(prepare, "sideways", repo=repo)
