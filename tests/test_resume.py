"""`git run resume ID` end to end: real pipelines in temporary repositories, real
`git run`, checked with plain git.  The user's working tree, index and HEAD are
byte-for-byte unchanged after each resume (conftest.untouched)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git, gitrun, make_repo, plant_record, record, run_ids, untouched, validate

ROOT = Path(__file__).resolve().parent.parent
q = json.dumps  # a JSON string is a YAML string

FAILING_TRAIN = "import sys\nsys.stderr.write('loss went to nan\\n')\nsys.exit(1)\n"
FIXED_TRAIN = ("import os, time\n"
               "if os.environ.get('SLOW_MARK'):\n"
               "    open(os.environ['SLOW_MARK'], 'w').write(str(os.getpid()))\n"
               "    time.sleep(60)\n"
               "    raise SystemExit(1)\n"
               "data = open('data/clean.txt').read()\n"
               "open('model.txt', 'w').write('model of ' + data)\n")


PARAMS = "prepare:\n  seed: 1\ntrain:\n  lr: 0.1\n"


def definition(counter: Path) -> str:
    # prepare counts its executions in a file outside the repository.
    prepare = f"echo ran >> {counter} && mkdir -p data && tr a-z A-Z < raw.txt > data/clean.txt"
    return f"""steps:
  prepare:
    cmd: {q(prepare)}
    deps: [raw.txt]
    params: [prepare.seed]
    outs: [data]
  train:
    cmd: python train.py
    deps: [train.py, data/clean.txt]
    params: [train.lr]
    outs: [model.txt]
  report:
    cmd: "cat model.txt > report.txt"
    deps: [model.txt]
    outs: [report.txt]
"""


def failed_pipeline(tmp_path: Path) -> tuple[Path, Path, str]:
    """A repository whose pipeline failed at train (raw.txt is ignored data, not in git)."""
    counter = tmp_path / "prepare-count"
    repo = make_repo(tmp_path / "repo", {
        "gitruns.yaml": definition(counter), "train.py": FAILING_TRAIN, "params.yaml": PARAMS,
        ".gitignore": "raw.txt\ndata/\nmodel.txt\nreport.txt\n",
    })
    (repo / "raw.txt").write_text("some raw data\n")
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 1, proc.stderr
    rid = run_ids(repo)[-1]
    assert record(repo, rid)["error"]["step"] == "train"
    return repo, counter, rid


def executions(counter: Path) -> int:
    return len(counter.read_text().splitlines())


def new_run(repo: Path, before: list[str]) -> str:
    fresh = [r for r in run_ids(repo) if r not in before]
    assert len(fresh) == 1, fresh
    return fresh[0]


def steps_of(rec: dict) -> dict[str, dict]:
    return {s["name"]: s for s in rec["steps"]}


def ref(repo: Path, rid: str) -> str:
    return git(repo, "rev-parse", f"refs/runs/{rid}").strip()


def test_a_pipeline_failed_in_its_middle_step_is_resumed_with_the_fix(tmp_path: Path) -> None:
    repo, counter, failed = failed_pipeline(tmp_path)
    assert executions(counter) == 1
    (repo / "train.py").write_text(FIXED_TRAIN)  # the fix, uncommitted
    failed_ref, failed_rec = ref(repo, failed), record(repo, failed)
    before, ids = untouched(repo), run_ids(repo)

    proc = gitrun(repo, "resume", failed[:8])
    assert proc.returncode == 0, proc.stderr
    assert untouched(repo) == before  # working tree, index, HEAD and branches as they were
    assert ref(repo, failed) == failed_ref and record(repo, failed) == failed_rec
    assert len(steps_of(failed_rec)["train"]["attempts"]) == 1
    rid = new_run(repo, ids)
    assert f"run {rid[:12]} succeeded" in proc.stderr
    rec = record(repo, rid)
    validate(rec)
    steps = steps_of(rec)
    assert executions(counter) == 1  # prepare was not run again
    assert steps["prepare"]["status"] == "cached"
    assert steps["prepare"]["cached_from"] == {"run": failed, "step": "prepare"}
    assert steps["prepare"]["attempts"] == []
    assert steps["train"]["status"] == "succeeded" and [a["number"] for a in steps["train"]["attempts"]] == [1]
    assert steps["report"]["status"] == "succeeded"
    assert rec["status"] == "succeeded" and rec["invoked_by"] == "rerun"
    assert rec["run_group"] == failed and rec["rerun_of"] == failed
    assert rec["rerun"]["of"] == failed and rec["rerun"]["mode"] == "resume" and rec["rerun"]["from_step"] is None
    assert {"kind": "code", "name": "train.py"}.items() <= rec["rerun"]["changes"][0].items()
    assert rec["pipeline"]["file"] == "gitruns.yaml" and rec["command"][:3] == ["git", "run", "resume"]
    # The run holds the code it ran with: the fix.
    assert git(repo, "show", f"refs/runs/{rid}:train.py") == FIXED_TRAIN
    # Its outputs are in the cache; checkout brings them into the working tree.
    proc = gitrun(repo, "checkout", rid)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "model.txt").read_text() == "model of SOME RAW DATA\n"
    assert (repo / "report.txt").read_text() == "model of SOME RAW DATA\n"


def test_a_changed_definition_is_refused_naming_the_step(tmp_path: Path) -> None:
    repo, counter, failed = failed_pipeline(tmp_path)
    text = (repo / "gitruns.yaml").read_text()
    (repo / "gitruns.yaml").write_text(text.replace("mkdir -p data", "mkdir -p ./data"))
    before, ids = untouched(repo), run_ids(repo)
    proc = gitrun(repo, "resume", failed)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "step prepare changed since run" in proc.stderr and "(command)" in proc.stderr
    assert run_ids(repo) == ids and untouched(repo) == before and executions(counter) == 1


def test_a_step_added_or_removed_is_a_changed_definition(tmp_path: Path) -> None:
    repo, _counter, failed = failed_pipeline(tmp_path)
    text = (repo / "gitruns.yaml").read_text()
    (repo / "gitruns.yaml").write_text(text + "  extra:\n    cmd: \"echo x > extra.txt\"\n    outs: [extra.txt]\n")
    proc = gitrun(repo, "resume", failed)
    assert proc.returncode == 1 and "step extra was added since run" in proc.stderr, proc.stderr


def test_a_changed_input_of_a_step_to_reuse_is_refused_naming_it(tmp_path: Path) -> None:
    repo, counter, failed = failed_pipeline(tmp_path)
    (repo / "raw.txt").write_text("other raw data\n")
    (repo / "train.py").write_text(FIXED_TRAIN)
    ids = run_ids(repo)
    proc = gitrun(repo, "resume", failed)
    assert proc.returncode == 1, proc.stderr
    assert f"step prepare's input raw.txt changed since run {failed[:12]}" in proc.stderr
    assert run_ids(repo) == ids and executions(counter) == 1


def test_a_changed_param_of_a_step_to_reuse_is_refused_naming_it(tmp_path: Path) -> None:
    repo, counter, failed = failed_pipeline(tmp_path)
    (repo / "params.yaml").write_text(PARAMS.replace("seed: 1", "seed: 2"))
    ids = run_ids(repo)
    proc = gitrun(repo, "resume", failed)
    assert proc.returncode == 1, proc.stderr
    assert f"step prepare's param prepare.seed changed since run {failed[:12]} (1 -> 2)" in proc.stderr
    assert run_ids(repo) == ids and executions(counter) == 1


def test_a_param_of_a_step_that_runs_is_recorded_as_a_change(tmp_path: Path) -> None:
    repo, _counter, failed = failed_pipeline(tmp_path)
    (repo / "train.py").write_text(FIXED_TRAIN)
    (repo / "params.yaml").write_text(PARAMS.replace("0.1", "0.2"))
    ids = run_ids(repo)
    proc = gitrun(repo, "resume", failed, "--json")
    assert proc.returncode == 0, proc.stderr
    rid = new_run(repo, ids)
    assert json.loads(proc.stdout)["id"] == rid
    changes = record(repo, rid)["rerun"]["changes"]
    assert {"kind": "param", "name": "train.lr", "from": 0.1, "to": 0.2} in changes


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["crashed", "canceled"])
def test_a_crashed_or_canceled_run_is_resumed_and_a_running_one_refused(tmp_path: Path,
                                                                        sig: signal.Signals) -> None:
    repo, counter, failed = failed_pipeline(tmp_path)
    (repo / "train.py").write_text(FIXED_TRAIN)
    mark = tmp_path / "train.pid"
    ids = run_ids(repo)
    proc = subprocess.Popen(["git", "run", "pipeline"], cwd=repo, env={**os.environ, "SLOW_MARK": str(mark)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(3000):
            if mark.exists() and mark.read_text():
                break
            time.sleep(0.01)
        assert mark.exists(), "train never started"
        crashed = new_run(repo, ids)
        running = gitrun(repo, "resume", crashed)
        assert running.returncode == 1 and f"run {crashed[:12]} is still running" in running.stderr
        os.kill(record(repo, crashed)["pid"], sig)  # git run: kill -9, or ^C
        proc.communicate(timeout=30)
    finally:
        if mark.exists() and mark.read_text():
            try:
                os.killpg(int(mark.read_text()), signal.SIGKILL)  # the step leads its own group
            except ProcessLookupError:
                pass
    expected = {signal.SIGKILL: ("running", "running"), signal.SIGINT: ("canceled", "canceled")}[sig]
    assert (record(repo, crashed)["status"], steps_of(record(repo, crashed))["train"]["status"]) == expected
    crashed_ref = ref(repo, crashed)
    before, ids = untouched(repo), run_ids(repo)
    proc2 = gitrun(repo, "resume", crashed)
    assert proc2.returncode == 0, proc2.stderr
    assert untouched(repo) == before and ref(repo, crashed) == crashed_ref
    rec = record(repo, new_run(repo, ids))
    steps = steps_of(rec)
    # prepare of the crashed run was itself reused from the failed run: the resume names the maker.
    assert steps["prepare"]["cached_from"] == {"run": failed, "step": "prepare"}
    assert steps["train"]["status"] == "succeeded" and rec["rerun_of"] == crashed
    assert rec["run_group"] == crashed
    assert executions(counter) == 1


def test_a_resume_of_a_resume_names_the_run_that_made_the_outputs(tmp_path: Path) -> None:
    repo, counter, failed = failed_pipeline(tmp_path)
    (repo / "train.py").write_text("raise SystemExit(2)\n")  # a fix that is not one
    ids = run_ids(repo)
    proc = gitrun(repo, "resume", failed)
    assert proc.returncode == 1, proc.stderr
    first = new_run(repo, ids)
    assert steps_of(record(repo, first))["train"]["status"] == "failed"
    (repo / "train.py").write_text(FIXED_TRAIN)
    before, ids = untouched(repo), run_ids(repo)
    proc = gitrun(repo, "resume", first)
    assert proc.returncode == 0, proc.stderr
    assert untouched(repo) == before
    rec = record(repo, new_run(repo, ids))
    assert steps_of(rec)["prepare"]["cached_from"] == {"run": failed, "step": "prepare"}
    assert rec["rerun_of"] == first and rec["run_group"] == failed
    assert executions(counter) == 1


def test_what_cannot_be_resumed_is_refused(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    repo = make_repo(tmp_path / "repo", {
        "gitruns.yaml": definition(counter), "train.py": FIXED_TRAIN, "params.yaml": PARAMS,
        "raw.txt": "raw\n", ".gitignore": "data/\nmodel.txt\nreport.txt\n",
    })
    assert gitrun(repo, "pipeline").returncode == 0
    done = run_ids(repo)[-1]
    proc = gitrun(repo, "resume", done)
    assert proc.returncode == 1 and f"run {done[:12]} succeeded; nothing to resume" in proc.stderr, proc.stderr
    assert gitrun(repo, "exec", "--", "false").returncode == 1
    command = [r for r in run_ids(repo) if r != done][0]
    proc = gitrun(repo, "resume", command)
    assert proc.returncode == 2 and "not a pipeline run; use git run rerun" in proc.stderr, proc.stderr
    proc = gitrun(repo, "resume", "zzzz")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert gitrun(repo, "resume", "-h").returncode == 0


def test_a_gone_definition_is_refused(tmp_path: Path) -> None:
    repo, _counter, failed = failed_pipeline(tmp_path)
    git(repo, "rm", "-q", "--cached", "gitruns.yaml")
    (repo / "gitruns.yaml").unlink()
    proc = gitrun(repo, "resume", failed)
    assert proc.returncode == 1 and "the pipeline definition gitruns.yaml is gone" in proc.stderr, proc.stderr


V3_DEFINITION = """steps:
  prepare:
    cmd: python -c "open('prep.txt','w').write('p')"
    outs: [prep.txt]
  train:
    cmd: python -c "import sys; sys.exit(3)"
    deps: [prep.txt]
    outs: [model.txt]
  report:
    cmd: echo hi
    deps: [model.txt]
"""


def test_a_record_written_before_resume_existed_is_resumed(tmp_path: Path) -> None:
    """tests/data/run-v3-pipeline.json (schema 3, the code of issue 9): prepare
    succeeded, train failed.  Its prepare output is in the cache (the same bytes,
    stored by an exec here), its definition is the same: prepare is reused, train
    runs again (and fails again: its command always does)."""
    raw = (ROOT / "tests" / "data" / "run-v3-pipeline.json").read_bytes()
    old = json.loads(raw)
    repo = make_repo(tmp_path / "repo", {"gitruns.yaml": V3_DEFINITION, ".gitignore": "prep.txt\n"})
    store = gitrun(repo, "exec", "-o", "prep.txt", "--", "python", "-c", "open('prep.txt','w').write('p')")
    assert store.returncode == 0, store.stderr
    (repo / "prep.txt").unlink()
    plant_record(repo, raw, "a pipeline run written by the code of issue 9")
    before, ids = untouched(repo), run_ids(repo)
    proc = gitrun(repo, "resume", old["id"])
    assert proc.returncode == 1, proc.stderr
    assert untouched(repo) == before
    rec = record(repo, new_run(repo, ids))
    steps = steps_of(rec)
    assert steps["prepare"]["status"] == "cached"
    assert steps["prepare"]["cached_from"] == {"run": old["id"], "step": "prepare"}
    assert steps["train"]["status"] == "failed" and rec["rerun_of"] == old["id"] and rec["run_group"] == old["id"]


def test_the_original_overrides_and_jobs_are_kept(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    repo = make_repo(tmp_path / "repo", {
        "gitruns.yaml": definition(counter), "train.py": FAILING_TRAIN, "params.yaml": PARAMS,
        "raw.txt": "raw\n", ".gitignore": "data/\nmodel.txt\nreport.txt\n",
    })
    assert gitrun(repo, "pipeline", "-p", "train.lr=0.5", "-j", "2").returncode == 1
    failed = run_ids(repo)[-1]
    (repo / "train.py").write_text(FIXED_TRAIN)
    ids = run_ids(repo)
    proc = gitrun(repo, "resume", failed, "-q", "-n", "again", "-t", "why=fix")
    assert proc.returncode == 0, proc.stderr
    assert "resuming" not in proc.stderr  # -q: no final line
    rec = record(repo, new_run(repo, ids))
    assert steps_of(rec)["train"]["params"] == {"train.lr": 0.5}
    assert rec["pipeline"]["jobs"] == 2 and rec["name"] == "again" and rec["tags"] == {"why": "fix"}
    assert [c for c in rec["rerun"]["changes"] if c["kind"] == "param"] == []


def test_a_run_pushed_by_a_teammate_is_resumed_in_a_fresh_clone_from_the_store(tmp_path: Path) -> None:
    """The issue's setting: a bare remote with a directory store; the failed run is
    pushed from one clone and resumed in a fresh one, whose cache is empty: the
    reused step's outputs come from the store, verified, and it is not run."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    store = tmp_path / "store"
    store.mkdir()
    repo, counter, failed = failed_pipeline(tmp_path)
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "config", "remote.origin.gitrunsStore", str(store))
    git(repo, "push", "-q", "origin", "HEAD")
    pushed = gitrun(repo, "push")
    assert pushed.returncode == 0, pushed.stderr
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(bare), str(fresh)], check=True)
    git(fresh, "config", "remote.origin.gitrunsStore", str(store))
    assert gitrun(fresh, "fetch").returncode == 0
    (fresh / "raw.txt").write_text("some raw data\n")  # the ignored input, as the teammate has it
    (fresh / "train.py").write_text(FIXED_TRAIN)
    before, ids = untouched(fresh), run_ids(fresh)
    proc = gitrun(fresh, "resume", failed)
    assert proc.returncode == 0, proc.stderr
    assert untouched(fresh) == before and executions(counter) == 1
    rec = record(fresh, new_run(fresh, ids))
    assert steps_of(rec)["prepare"]["status"] == "cached"
    assert steps_of(rec)["prepare"]["cached_from"] == {"run": failed, "step": "prepare"}
    assert rec["status"] == "succeeded" and rec["rerun_of"] == failed
