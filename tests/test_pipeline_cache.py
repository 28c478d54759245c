"""Step caching end to end: a step whose command, params and input contents match a
successful earlier step is not run; its outputs come back from the artifact cache."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import _REPOS, git, gitrun, make_repo, record, run_ids, validate

q = json.dumps  # a JSON string is a YAML string

PREPARE = ("echo prepare >> ran.log && mkdir -p data && cat raw*.txt | tr a-z A-Z > data/clean.txt"
           " && echo x > data/extra.txt")
EVALUATE = "echo evaluate >> ran.log && wc -c < model.txt > score.txt && echo '{\"acc\": 0.5}' > m.json"
# Each step notes that it ran in ran.log (not an output: it is how the test sees what ran).
PIPE = f"""steps:
  prepare:
    cmd: {q(PREPARE)}
    deps: [{{raw}}]
    outs: [data]
  train:
    cmd: {q("echo train >> ran.log && echo lr=${train.lr} > model.txt && cat data/clean.txt >> model.txt")}
    deps: [data/clean.txt]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: {q(EVALUATE)}
    deps: [model.txt]
    outs: [score.txt]
    metrics: [m.json]
  describe:
    cmd: {q("echo describe >> ran.log && wc -l < other.txt > summary.txt")}
    deps: [other.txt]
    outs: [summary.txt]
"""
OUTPUTS = ["data/clean.txt", "data/extra.txt", "model.txt", "score.txt", "m.json", "summary.txt"]
FILES = {"raw.txt": "some raw data\n", "other.txt": "a\nb\n", "params.yaml": "train:\n  lr: 0.1\n",
         ".gitignore": "data/\nmodel.txt\nscore.txt\nm.json\nsummary.txt\nran.log\n"}


def cache_repo(path: Path, raw: str = "raw.txt") -> Path:
    return make_repo(path, {**FILES, "gitruns.yaml": PIPE.replace("{raw}", raw)})


def ran(repo: Path) -> list[str]:
    """The steps that ran since the last call."""
    log = repo / "ran.log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return names


def statuses(repo: Path, rid: str | None = None) -> dict[str, str]:
    return {s["name"]: s["status"] for s in record(repo, rid)["steps"]}


def pipeline_ok(repo: Path, *args: str) -> str:
    proc = gitrun(repo, "pipeline", *args)
    assert proc.returncode == 0, proc.stderr
    return run_ids(repo)[-1]


def test_a_second_run_executes_nothing_and_restores_every_output(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    first = pipeline_ok(repo)
    assert ran(repo) == ["prepare", "train", "evaluate", "describe"]
    contents = {p: (repo / p).read_bytes() for p in OUTPUTS}
    for p in OUTPUTS:
        (repo / p).unlink()
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    second = run_ids(repo)[-1]
    assert proc.stderr.splitlines()[-1].endswith("(4 cached)")
    assert ran(repo) == []
    assert {p: (repo / p).read_bytes() for p in OUTPUTS} == contents
    rec = record(repo, second)
    validate(rec)
    first_rec = record(repo, first)
    for step, before in zip(rec["steps"], first_rec["steps"], strict=True):
        assert step["status"] == "cached" and step["attempts"] == []
        assert step["cached_from"] == {"run": first, "step": step["name"]}
        assert step["cache_key"] == before["cache_key"]
        assert step["outputs"] == [{k: v for k, v in a.items() if k != "stored_by"} for a in before["outputs"]]
    assert rec["metrics"]["evaluate.acc"] == 0.5
    # One commit for each cached step, between the launch and the end.
    subjects = git(repo, "log", "--format=%s", "--reverse", "--first-parent", f"HEAD..refs/runs/{second}")
    assert [s.split(": ", 2)[1] for s in subjects.splitlines()] == [
        "running", "step prepare cached", "step train cached", "step evaluate cached", "step describe cached",
        "succeeded"]
    # A third run reuses the second's steps but names the step that ran.
    third = pipeline_ok(repo)
    assert {s["cached_from"]["run"] for s in record(repo, third)["steps"]} == {first}


def test_a_changed_param_reruns_only_the_steps_using_it_and_their_dependents(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    pipeline_ok(repo)
    ran(repo)
    rid = pipeline_ok(repo, "-p", "train.lr=0.2")
    assert ran(repo) == ["train", "evaluate"]
    assert statuses(repo, rid) == {"prepare": "cached", "train": "succeeded", "evaluate": "succeeded",
                                   "describe": "cached"}
    assert (repo / "model.txt").read_text().startswith("lr=0.2\n")
    # Back to the first value: all of it is in the cache.
    pipeline_ok(repo)
    assert ran(repo) == []
    assert (repo / "model.txt").read_text().startswith("lr=0.1\n")


def test_one_changed_input_byte_reruns_its_step_and_dependents(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    pipeline_ok(repo)
    ran(repo)
    (repo / "raw.txt").write_text("some raw datA\n")
    rid = pipeline_ok(repo)
    # prepare runs; its output is the same (upper-cased), so train is reused by content.
    assert ran(repo) == ["prepare"]
    assert statuses(repo, rid) == {"prepare": "succeeded", "train": "cached", "evaluate": "cached",
                                   "describe": "cached"}
    (repo / "raw.txt").write_text("some raw datb\n")
    pipeline_ok(repo)
    assert ran(repo) == ["prepare", "train", "evaluate"]


def test_renaming_a_dep_without_changing_it_stays_cached(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    pipeline_ok(repo)
    ran(repo)
    git(repo, "mv", "raw.txt", "raw2.txt")
    (repo / "gitruns.yaml").write_text(PIPE.replace("{raw}", "raw2.txt"))
    git(repo, "commit", "-qam", "rename")
    rid = pipeline_ok(repo)
    assert ran(repo) == []
    assert set(statuses(repo, rid).values()) == {"cached"}
    assert record(repo, rid)["steps"][0]["inputs"][0]["path"] == "raw2.txt"


def test_force_runs_every_step_and_force_step_one(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    pipeline_ok(repo)
    ran(repo)
    rid = pipeline_ok(repo, "--force")
    assert ran(repo) == ["prepare", "train", "evaluate", "describe"]
    assert record(repo, rid)["pipeline"]["forced"] == ["prepare", "train", "evaluate", "describe"]
    rid = pipeline_ok(repo, "--force-step", "train")
    # train ran; its output is the same bytes, so evaluate is still reused.
    assert ran(repo) == ["train"]
    assert statuses(repo, rid)["evaluate"] == "cached"
    assert record(repo, rid)["pipeline"]["forced"] == ["train"]
    proc = gitrun(repo, "pipeline", "--force-step", "nosuch")
    assert proc.returncode == 2 and "no step nosuch" in proc.stderr


def _cache_objects(repo: Path) -> Path:
    return repo / ".git" / "gitruns" / "cache" / "xxh3_128"


def _object(repo: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return _cache_objects(repo) / hexpart[:2] / hexpart[2:]


def test_outputs_missing_from_the_cache_make_the_step_run_again(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    first = pipeline_ok(repo)
    ran(repo)
    model = next(s for s in record(repo, first)["steps"] if s["name"] == "train")["outputs"][0]
    _object(repo, model["digest"]).unlink()
    rid = pipeline_ok(repo)
    assert ran(repo) == ["train"]
    assert statuses(repo, rid)["train"] == "succeeded"
    assert _object(repo, model["digest"]).exists()  # stored again


def test_a_corrupt_cache_object_is_not_restored(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    first = pipeline_ok(repo)
    ran(repo)
    model = next(s for s in record(repo, first)["steps"] if s["name"] == "train")["outputs"][0]
    obj = _object(repo, model["digest"])
    obj.chmod(0o644)
    obj.write_text("lr=0.1\nSOME RAW DATX\n")
    (repo / "model.txt").unlink()
    rid = pipeline_ok(repo)
    assert ran(repo) == ["train"]
    assert statuses(repo, rid)["train"] == "succeeded"
    assert (repo / "model.txt").read_text() == "lr=0.1\nSOME RAW DATA\n"
    assert list((repo / ".git" / "gitruns" / "cache" / "quarantine").iterdir())
    assert not list(repo.rglob(".gitruns-tmp-*"))  # nothing half-restored left behind


@pytest.mark.parametrize("through", ["shared-cache", "remote-store"])
def test_a_run_fetched_from_a_remote_provides_cache_hits(tmp_path: Path, through: str) -> None:
    """Two clones of one remote: a pipeline run in one is pushed, fetched into the other,
    and there every step is reused, its outputs from a cache directory both clones share,
    or downloaded (verified) from the remote's artifact store where `git run push` put them."""
    seed = cache_repo(tmp_path / "seed")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    _REPOS.append(bare)
    shared = tmp_path / "shared-cache"
    clones = []
    for name in ("a", "b"):
        path = tmp_path / name
        subprocess.run(["git", "clone", "-q", f"file://{bare}", str(path)], check=True, capture_output=True)
        _REPOS.append(path)
        if through == "shared-cache":
            git(path, "config", "gitruns.cacheDir", str(shared))
        else:
            git(path, "config", "remote.origin.gitrunsStore", str(tmp_path / "store"))
        clones.append(path)
    a, b = clones
    theirs = pipeline_ok(a)
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr
    proc = gitrun(b, "fetch")
    assert proc.returncode == 0 and "1 new run(s)" in proc.stdout, proc.stdout + proc.stderr
    mine = pipeline_ok(b)
    assert ran(b) == []
    rec = record(b, mine)
    assert {s["status"] for s in rec["steps"]} == {"cached"}
    assert {s["cached_from"]["run"] for s in rec["steps"]} == {theirs}
    assert (b / "model.txt").read_bytes() == (a / "model.txt").read_bytes()
    assert (b / "data" / "clean.txt").read_bytes() == (a / "data" / "clean.txt").read_bytes()  # a directory output
    if through == "remote-store":
        assert not (tmp_path / "shared-cache").exists()
        # The objects came from the store into b's own cache; b's run pushes nothing new.
        proc = gitrun(b, "push")
        assert proc.returncode == 0, proc.stderr


def test_an_always_changed_step_is_never_reused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {**FILES, "gitruns.yaml": PIPE.replace("{raw}", "raw.txt").replace(
        "    outs: [summary.txt]\n", "    outs: [summary.txt]\n    always_changed: true\n")})
    pipeline_ok(repo)
    ran(repo)
    rid = pipeline_ok(repo)
    assert ran(repo) == ["describe"]
    assert statuses(repo, rid)["describe"] == "succeeded" and statuses(repo, rid)["train"] == "cached"


def test_outputs_already_in_place_are_left_alone_and_changed_ones_restored(tmp_path: Path) -> None:
    repo = cache_repo(tmp_path / "repo")
    pipeline_ok(repo)
    ran(repo)
    before = (repo / "model.txt").stat()
    clean = (repo / "data" / "clean.txt").stat()
    score = (repo / "score.txt").read_text()
    (repo / "score.txt").write_text("edited by hand\n")
    rid = pipeline_ok(repo)
    assert ran(repo) == [] and set(statuses(repo, rid).values()) == {"cached"}
    after = (repo / "model.txt").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert (repo / "data" / "clean.txt").stat().st_ino == clean.st_ino
    assert (repo / "score.txt").read_text() == score  # restored from the cache


def test_a_step_with_no_deps_and_no_params_always_runs_as_in_dvc(tmp_path: Path) -> None:
    # DVC reruns a stage without dependencies on every `dvc repro` ("callback" stages);
    # the same dvc.yaml behaves the same here, and so does gitruns.yaml.
    text = "stages:\n  stamp:\n    cmd: echo stamp >> ran.log && date +%s%N > stamp.txt\n    outs: [stamp.txt]\n"
    repo = make_repo(tmp_path / "repo", {"dvc.yaml": text, ".gitignore": "stamp.txt\nran.log\n"})
    for _ in range(2):
        proc = gitrun(repo, "pipeline", "-f", "dvc.yaml")
        assert proc.returncode == 0, proc.stderr
        assert statuses(repo) == {"stamp": "succeeded"}
    assert (repo / "ran.log").read_text() == "stamp\nstamp\n"
