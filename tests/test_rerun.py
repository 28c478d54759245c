"""git run rerun, end to end: real repositories, the real git-run, checked with plain git."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import git, gitrun, latest, leftovers, make_repo, record, run_ids, untouched

WRITE = "import sys; open('data.csv', 'w').write('a,b\\n1,2\\n')"
READ = "print(open('data.csv').read().strip().replace(chr(10), ';'))"


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def ref(repo: Path, rid: str) -> str:
    return git(repo, "rev-parse", f"refs/runs/{rid}").strip()


def test_rerun_of_a_clean_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "print('training')\n"})
    ok(gitrun(repo, "exec", "-n", "first", "-t", "team=a", "--", "python", "train.py"))
    orig = latest(repo)
    before, orig_ref = untouched(repo), ref(repo, orig)
    proc = ok(gitrun(repo, "rerun", orig[:8]))
    assert proc.stderr.startswith("gitruns: run ") and f"(rerun of {orig[:12]}) succeeded in" in proc.stderr
    assert proc.stdout == "training\n"
    new = [r for r in run_ids(repo) if r != orig][0]
    a, b = record(repo, orig), record(repo, new)
    assert b["code"]["snapshot_tree"] == a["code"]["snapshot_tree"]
    assert b["rerun_of"] == orig and b["run_group"] == orig and b["invoked_by"] == "rerun"
    assert b["rerun"]["of"] == orig and b["rerun"]["mode"] == "rerun" and b["rerun"]["changes"] == []
    # Tags carry over; the name does not (a name must keep naming one run).
    assert b["name"] is None and b["tags"] == {"team": "a"} and b["cwd"] == a["cwd"]
    assert b["status"] == "succeeded" and b["command"] == a["command"]
    assert ref(repo, orig) == orig_ref
    assert untouched(repo) == before
    git(repo, "fsck", "--strict")
    assert leftovers(repo) == []  # the kept worktree holds nothing of the rerun
    # A rerun of the rerun stays in the first run's group, and names the run it reran.
    ok(gitrun(repo, "rerun", new))
    third = [r for r in run_ids(repo) if r not in (orig, new)][0]
    assert record(repo, third)["run_group"] == orig and record(repo, third)["rerun_of"] == new


def test_rerun_runs_the_runs_code_not_todays(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "print('committed')\n"})
    (repo / "train.py").write_text("print('dirty at the run')\n")
    ok(gitrun(repo, "exec", "--", "python", "train.py"))
    orig = latest(repo)
    (repo / "train.py").write_text("print('edited since')\n")
    before = untouched(repo)
    proc = ok(gitrun(repo, "rerun", orig))
    assert proc.stdout == "dirty at the run\n"
    new = [r for r in run_ids(repo) if r != orig][0]
    assert record(repo, new)["code"]["snapshot_tree"] == record(repo, orig)["code"]["snapshot_tree"]
    assert record(repo, new)["code"]["dirty"] is True
    assert untouched(repo) == before


def test_param_changes_the_command_and_is_recorded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "import sys; print('lr', sys.argv[1])\n",
                                      "params.yaml": "lr: 0.1\nepochs: 3\n"})
    ok(gitrun(repo, "exec", "-c", "params.yaml", "--", "python", "train.py", "${lr}"))
    orig = latest(repo)
    before, orig_ref = untouched(repo), ref(repo, orig)
    proc = ok(gitrun(repo, "rerun", orig, "-p", "lr=0.01", "--json"))
    out = json.loads(proc.stdout)  # stdout is the JSON alone: what the command printed went to stderr
    assert proc.stderr.startswith("lr 0.01\n")
    assert out["rerun_of"] == orig and out["status"] == "succeeded"
    new = out["run"]
    rec = record(repo, new)
    assert rec["command"] == ["python", "train.py", "0.01"]
    assert rec["rerun"]["changes"] == [{"kind": "param", "name": "lr", "from": 0.1, "to": 0.01}]
    assert "lr: 0.01" in record(repo, new, "config.yaml") and "epochs: 3" in record(repo, new, "config.yaml")
    assert ref(repo, orig) == orig_ref and untouched(repo) == before
    # Without -p, the original's config: the same command.
    proc = ok(gitrun(repo, "rerun", orig))
    assert proc.stdout == "lr 0.1\n"


def test_config_file_is_a_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "import sys; print(sys.argv[1:])\n", "p.yaml": "lr: 0.1\n",
                                      ".gitignore": "other.yaml\n"})
    ok(gitrun(repo, "exec", "-c", "p.yaml", "--", "python", "train.py", "${lr}"))
    orig = latest(repo)
    (repo / "other.yaml").write_text("lr: 0.5\n")
    ok(gitrun(repo, "rerun", orig, "--config", "other.yaml"))
    new = latest(repo)
    assert record(repo, new)["rerun"]["changes"] == [
        {"kind": "param", "name": "lr", "from": 0.1, "to": 0.5}, {"kind": "config", "name": "other.yaml"}]


def test_changed_input_refused_then_allowed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"read.py": READ + "\n", ".gitignore": "data.csv\n"})
    (repo / "data.csv").write_text("x\n")
    ok(gitrun(repo, "exec", "-i", "data.csv", "--", "python", "read.py"))
    orig = latest(repo)
    digest = record(repo, orig)["inputs"][0]["digest"]
    # The cache does not hold it (exec kept nothing), so it must be where it was: changed.
    shutil.rmtree(repo / ".git" / "gitruns" / "cache", ignore_errors=True)
    (repo / "data.csv").write_text("y\n")
    before = untouched(repo)
    proc = gitrun(repo, "rerun", orig)
    assert proc.returncode == 2, proc.stderr
    assert f"data.csv: recorded {digest}, now xxh3_128:" in proc.stderr and "(changed)" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert run_ids(repo) == [orig]
    assert leftovers(repo) == []  # the refused rerun left nothing
    proc = ok(gitrun(repo, "rerun", orig, "--allow-changed-inputs"))
    assert proc.stdout == "y\n"
    rec = record(repo, latest(repo))
    [change] = rec["rerun"]["changes"]
    assert change["kind"] == "input" and change["name"] == "data.csv" and change["from"] == digest
    assert change["to"] == rec["inputs"][0]["digest"] != digest
    assert rec["rerun"]["inputs"] == [{"path": "data.csv", "digest": change["to"], "source": "changed"}]
    assert untouched(repo) == before
    (repo / "data.csv").unlink()
    proc = gitrun(repo, "rerun", orig)
    assert proc.returncode == 2 and f"data.csv: recorded {digest}, now missing" in proc.stderr


def test_input_from_an_earlier_runs_output_restored_from_cache(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"write.py": WRITE + "\n", "read.py": READ + "\n",
                                      ".gitignore": "data.csv\n"})
    ok(gitrun(repo, "exec", "-o", "data.csv", "--", "python", "write.py"))
    ok(gitrun(repo, "exec", "-i", "data.csv", "--", "python", "read.py"))
    second = latest(repo)
    (repo / "data.csv").unlink()
    before = untouched(repo)
    proc = ok(gitrun(repo, "rerun", second))
    assert proc.stdout == "a,b;1,2\n"
    rec = record(repo, latest(repo))
    assert rec["rerun"]["inputs"] == [{"path": "data.csv", "digest": record(repo, second)["inputs"][0]["digest"],
                                       "source": "cache"}]
    assert rec["inputs"][0]["digest"] == record(repo, second)["inputs"][0]["digest"]
    assert untouched(repo) == before
    assert not (repo / "data.csv").exists()


def test_outputs_of_the_rerun_are_stored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"write.py": WRITE + "\n", ".gitignore": "data.csv\n"})
    ok(gitrun(repo, "exec", "-o", "data.csv", "--", "python", "write.py"))
    orig = latest(repo)
    (repo / "data.csv").unlink()
    before = untouched(repo)
    ok(gitrun(repo, "rerun", orig))
    new = latest(repo)
    [art] = record(repo, new)["artifacts"]
    assert art["path"] == "data.csv" and art["status"] == "stored"
    assert art["digest"] == record(repo, orig)["artifacts"][0]["digest"]
    assert untouched(repo) == before
    ok(gitrun(repo, "checkout", new))
    assert (repo / "data.csv").read_text() == "a,b\n1,2\n"


def test_usage_errors(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "print(1)\n"})
    ok(gitrun(repo, "exec", "--", "python", "train.py"))
    orig = latest(repo)
    for args, text in ((["--from-step", "x"], "ran a command, not a pipeline"),
                       (["-p", "nokey"], "expected key=value"),
                       (["--config", "nope.yaml"], "no such file")):
        proc = gitrun(repo, "rerun", orig, *args)
        assert proc.returncode == 2, proc.stderr
        assert text in proc.stderr and "Traceback" not in proc.stderr
    proc = gitrun(repo, "rerun", "zzzz")
    assert proc.returncode == 2 and "no run matches" in proc.stderr
    assert run_ids(repo) == [orig]


def test_from_a_fresh_clone_with_a_directory_store(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", {"write.py": WRITE + "\n", "read.py": READ + "\n",
                                         ".gitignore": "data.csv\n"})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    store = tmp_path / "store"
    a = tmp_path / "a"
    subprocess.run(["git", "clone", "-q", f"file://{bare}", str(a)], check=True)
    git(a, "config", "remote.origin.gitrunsStore", str(store))
    ok(gitrun(a, "exec", "-o", "data.csv", "--", "python", "write.py"))
    ok(gitrun(a, "exec", "-i", "data.csv", "--", "python", "read.py"))
    second = latest(a)
    ok(gitrun(a, "push"))
    b = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", f"file://{bare}", str(b)], check=True)
    git(b, "config", "remote.origin.gitrunsStore", str(store))
    ok(gitrun(b, "fetch"))
    assert not (b / "data.csv").exists()
    before = untouched(b)
    proc = ok(gitrun(b, "rerun", second[:10]))
    assert proc.stdout == "a,b;1,2\n"
    rec = record(b, [r for r in run_ids(b) if r not in run_ids(a)][0])
    assert rec["rerun_of"] == second and rec["rerun"]["inputs"][0]["source"] == "store"
    assert rec["code"]["snapshot_tree"] == record(b, second)["code"]["snapshot_tree"]
    assert untouched(b) == before
    assert ref(b, second) == ref(a, second)


PIPE = """steps:
  prepare:
    cmd: "mkdir -p data && tr a-z A-Z < raw.txt > data/clean.txt"
    deps: [raw.txt]
    outs: [data]
  train:
    cmd: "echo lr=${train.lr} > model.txt && cat data/clean.txt >> model.txt"
    deps: [data/clean.txt]
    params: [train.lr]
    outs: [model.txt]
"""


def pipe_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "p", {"gitruns.yaml": PIPE, "raw.txt": "some raw data\n",
                                      "params.yaml": "train:\n  lr: 0.1\n", ".gitignore": "data/\nmodel.txt\n"})


def steps(rec: dict) -> dict[str, dict]:
    return {s["name"]: s for s in rec["steps"]}


def test_pipeline_rerun_runs_every_step(tmp_path: Path) -> None:
    repo = pipe_repo(tmp_path)
    ok(gitrun(repo, "pipeline"))
    orig = latest(repo)
    orig_ref, before = ref(repo, orig), untouched(repo)
    proc = ok(gitrun(repo, "rerun", orig, "-p", "train.lr=0.5"))
    assert f"(rerun of {orig[:12]}) succeeded" in proc.stderr
    rec = record(repo, latest(repo))
    assert rec["kind"] == "pipeline" and rec["rerun_of"] == orig and rec["invoked_by"] == "rerun"
    assert {n: s["status"] for n, s in steps(rec).items()} == {"prepare": "succeeded", "train": "succeeded"}
    assert rec["rerun"]["changes"] == [{"kind": "param", "name": "train.lr", "from": 0.1, "to": 0.5}]
    assert rec["code"]["snapshot_tree"] == record(repo, orig)["code"]["snapshot_tree"]
    assert ref(repo, orig) == orig_ref and untouched(repo) == before


def test_pipeline_rerun_from_step_reuses_upstream(tmp_path: Path) -> None:
    repo = pipe_repo(tmp_path)
    ok(gitrun(repo, "pipeline"))
    orig = latest(repo)
    ok(gitrun(repo, "rerun", orig))  # a newer run with identical steps: the original's are still reused
    before = untouched(repo)
    ok(gitrun(repo, "rerun", orig, "--from-step", "train"))
    rec = record(repo, latest(repo))
    got = steps(rec)
    assert got["prepare"]["status"] == "cached" and got["prepare"]["cached_from"] == {"run": orig, "step": "prepare"}
    assert got["train"]["status"] == "succeeded"
    assert {"kind": "from_step", "name": "train"} in rec["rerun"]["changes"]
    assert rec["rerun"]["from_step"] == "train"
    assert untouched(repo) == before
    proc = gitrun(repo, "rerun", orig, "--from-step", "nope")
    assert proc.returncode == 2 and "no step nope" in proc.stderr


def test_ls_marks_the_latest_of_a_group_and_lists_one_group(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "print(1)\n"})
    ok(gitrun(repo, "exec", "-n", "orig", "--", "python", "train.py"))
    orig = latest(repo)
    ok(gitrun(repo, "exec", "-n", "alone", "--", "python", "train.py"))
    alone = latest(repo)
    ok(gitrun(repo, "rerun", orig, "-n", "again"))
    again = latest(repo)
    table = ok(gitrun(repo, "ls")).stdout
    rows = {line.split()[1]: line for line in table.splitlines()[1:]}
    assert "(latest)" in rows["again"] and "(latest)" not in rows["orig"] and "(latest)" not in rows["alone"]
    listed = json.loads(ok(gitrun(repo, "ls", "--json")).stdout)
    flags = {r["name"]: r.get("latest") for r in listed}
    assert flags == {"again": True, "orig": False, "alone": None}
    grouped = json.loads(ok(gitrun(repo, "ls", "--group", again[:10], "--json")).stdout)
    assert [r["id"] for r in grouped] == [again, orig]
    assert [r["id"] for r in json.loads(ok(gitrun(repo, "ls", "--group", "alone", "--json")).stdout)] == [alone]
    proc = gitrun(repo, "ls", "--group", "nothing")
    assert proc.returncode == 2 and "--group nothing: no run matches it" in proc.stderr


def test_diff_shows_intended_apart_from_incidental_and_show_names_the_original(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "import sys; print(sys.argv[1:])\n", "p.yaml": "lr: 0.1\n"})
    ok(gitrun(repo, "exec", "-c", "p.yaml", "--", "python", "train.py", "${lr}"))
    orig = latest(repo)
    ok(gitrun(repo, "rerun", orig, "-p", "lr=0.2"))
    new = latest(repo)
    out = ok(gitrun(repo, "diff", orig, new)).stdout.splitlines()
    assert out[1].startswith("intended (run ") and "reran" in out[1]
    assert out[2] == "  param lr: 0.1 -> 0.2"
    assert out[3].startswith("incidental: ") and "started_at" in out[3] and "pid" in out[3]
    data = json.loads(ok(gitrun(repo, "diff", orig, new, "--json")).stdout)
    assert data["intended"] == {"run": new, "of": orig,
                                "changes": [{"kind": "param", "name": "lr", "from": 0.1, "to": 0.2}]}
    assert "pid" in data["incidental"] and "lr" not in data["incidental"]
    show = ok(gitrun(repo, "show", new)).stdout
    assert f"rerun of {orig} (group {orig}): 1 change" in show and "param lr: 0.1 -> 0.2" in show
    # Unrelated runs: no intended section.
    ok(gitrun(repo, "exec", "--", "python", "train.py"))
    assert "intended" not in ok(gitrun(repo, "diff", orig, latest(repo))).stdout


def test_redacted_config_values_are_not_handed_to_the_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "import sys; print(sys.argv[1:])\n"})
    ok(gitrun(repo, "exec", "-p", "api_token=s3cret", "-p", "lr=0.1", "--", "python", "train.py", "${api_token}",
              "${lr}"))
    orig = latest(repo)
    proc = gitrun(repo, "rerun", orig)
    assert proc.returncode == 2, proc.stderr
    assert "does not keep the value of api_token (redacted); give it with -p KEY=VALUE" in proc.stderr
    assert "${api_token} in the command names no config key" in proc.stderr
    proc = ok(gitrun(repo, "rerun", orig, "-p", "api_token=other"))
    assert proc.stdout == "['other', '0.1']\n" and "does not keep" not in proc.stderr
    new = latest(repo)
    assert "other" not in git(repo, "cat-file", "-p", f"refs/runs/{new}:.gitruns/run.json")
    assert "other" not in record(repo, new, "config.yaml")
    assert record(repo, new)["rerun"]["changes"] == []


def test_git_dir_in_the_environment_does_not_reach_the_users_tree(tmp_path: Path) -> None:
    # As when git-run is started by git with GIT_DIR set (an alias, a hook).
    repo = pipe_repo(tmp_path)
    (repo / "raw.txt").write_text("changed raw data\n")  # dirty: the run's code differs from HEAD
    ok(gitrun(repo, "pipeline"))
    pipe = latest(repo)
    ok(gitrun(repo, "exec", "--", "sh", "-c", "git status --short raw.txt"))
    cmd = latest(repo)
    (repo / "raw.txt").write_text("edited since\n")
    before = untouched(repo)
    env = {"GIT_DIR": str(repo / ".git"), "GIT_WORK_TREE": str(repo)}
    ok(gitrun(repo, "rerun", pipe, env=env))
    rec = record(repo, latest(repo))
    assert rec["code"]["snapshot_tree"] == record(repo, pipe)["code"]["snapshot_tree"]
    assert steps(rec)["prepare"]["status"] == "succeeded"
    proc = ok(gitrun(repo, "rerun", cmd, env=env))
    assert proc.stdout == " M raw.txt\n"  # the worktree's own status: the run's change, not today's
    assert untouched(repo) == before


def test_untracked_file_above_the_snapshot_cap_comes_from_the_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"read.py": "print(open('big.txt').read().strip())\n"})
    git(repo, "config", "gitruns.untrackedMaxSize", "20")
    (repo / "big.txt").write_text("more than twenty bytes of data\n")
    ok(gitrun(repo, "exec", "--", "python", "read.py"))
    orig = latest(repo)
    big = record(repo, orig)["code"]["untracked_large"][0]
    assert big["path"] == "big.txt"
    before = untouched(repo)
    proc = ok(gitrun(repo, "rerun", orig))
    assert proc.stdout == "more than twenty bytes of data\n"
    assert record(repo, latest(repo))["rerun"]["inputs"] == [
        {"path": "big.txt", "digest": big["digest"], "source": "working_tree"}]
    assert untouched(repo) == before
    (repo / "big.txt").write_text("other content, also above the cap\n")
    proc = gitrun(repo, "rerun", orig)
    assert proc.returncode == 2 and f"big.txt: recorded {big['digest']}, now xxh3_128:" in proc.stderr


def test_pipeline_inputs_git_does_not_track_come_from_the_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "p", {"gitruns.yaml": PIPE, "params.yaml": "train:\n  lr: 0.1\n",
                                      ".gitignore": "data/\nmodel.txt\nraw.txt\n"})
    (repo / "raw.txt").write_text("ignored raw data\n")
    ok(gitrun(repo, "pipeline"))
    orig = latest(repo)
    digest = steps(record(repo, orig))["prepare"]["inputs"][0]["digest"]
    before = untouched(repo)
    ok(gitrun(repo, "rerun", orig))
    rec = record(repo, latest(repo))
    assert {"path": "raw.txt", "digest": digest, "source": "working_tree"} in rec["rerun"]["inputs"]
    assert steps(rec)["prepare"]["inputs"][0]["digest"] == digest
    assert untouched(repo) == before
    (repo / "raw.txt").write_text("changed\n")
    proc = gitrun(repo, "rerun", orig)
    assert proc.returncode == 2 and f"raw.txt: recorded {digest}, now" in proc.stderr


def test_a_running_run_is_refused(tmp_path: Path) -> None:
    import os
    import signal
    import time

    repo = make_repo(tmp_path / "r", {"wait.py": "import time\nwhile True: time.sleep(0.1)\n"})
    child = subprocess.Popen(["git", "run", "exec", "--", "python", "wait.py"], cwd=repo,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(600):
            if run_ids(repo):
                break
            time.sleep(0.1)
        rid = latest(repo)
        proc = gitrun(repo, "rerun", rid)
        assert proc.returncode == 1 and f"run {rid[:12]} is still running" in proc.stderr
        assert run_ids(repo) == [rid]
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait()


def test_python_api(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "import sys; print(sys.argv[1:])\n"})
    ok(gitrun(repo, "exec", "-p", "lr=0.1", "--", "python", "train.py", "${lr}"))
    orig = latest(repo)
    code = ("import json, gitruns\n"
            f"out = gitruns.rerun({orig!r}, gitruns.RerunOptions(overrides=['lr=0.3']))\n"
            "print(json.dumps(out.to_dict()))\n")
    proc = subprocess.run(["python", "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "['0.3']"
    out = json.loads(lines[1])
    assert out["rerun_of"] == orig and out["status"] == "succeeded" and out["exit_code"] == 0
    assert out["changes"] == [{"kind": "param", "name": "lr", "from": 0.1, "to": 0.3}]
    assert record(repo, out["run"])["rerun_of"] == orig


def test_rerun_from_a_subdirectory_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"src/train.py": "import os; print(os.path.basename(os.getcwd()))\n"})
    ok(subprocess.run(["git", "run", "exec", "--", "python", "train.py"], cwd=repo / "src", capture_output=True,
                      text=True))
    orig = latest(repo)
    assert record(repo, orig)["cwd"] == "src"
    proc = ok(gitrun(repo, "rerun", orig))  # from the root: the run's own cwd is used
    assert proc.stdout == "src\n"
    assert record(repo, latest(repo))["cwd"] == "src"


def test_input_directory_partly_tracked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"data/README": "the data\n", ".gitignore": "data/*.csv\n",
                                      "count.py": "import os; print(sorted(os.listdir('data')))\n"})
    (repo / "data" / "a.csv").write_text("1\n")
    ok(gitrun(repo, "exec", "-i", "data", "--", "python", "count.py"))
    orig = latest(repo)
    before = untouched(repo)
    proc = ok(gitrun(repo, "rerun", orig))
    assert proc.stdout == "['README', 'a.csv']\n"
    rec = record(repo, latest(repo))
    assert rec["rerun"]["inputs"][0]["source"] == "working_tree"
    assert rec["inputs"][0]["digest"] == record(repo, orig)["inputs"][0]["digest"]
    assert untouched(repo) == before
