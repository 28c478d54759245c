"""git run sweep: a grid of runs of one group, made in temporary worktrees."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import gitrun, make_repo, record, run_ids, untouched, validate

# Writes an output file (in the point's temporary worktree, never the user's), logs a
# metric that depends on the point and says what it saw.
TRAIN = """import json, os, sys
lr, layers = float(sys.argv[1]), int(sys.argv[2])
with open("model.txt", "w") as fh:
    fh.write(f"lr={lr} layers={layers}\\n")
import gitruns
gitruns.log_metric("score", layers * 10 + lr)
print("saw", lr, layers, open(os.environ["GITRUNS_CONFIG_FILE"]).read().replace("\\n", " "))
"""


def sweep_repo(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    files = {"train.py": TRAIN, "README": "hello\n"}
    files.update(extra or {})
    repo = make_repo(tmp_path / "repo", files)
    (repo / "notes.txt").write_text("uncommitted notes\n")  # an untracked file stays as it is
    (repo / "README").write_text("hello, edited\n")  # and an uncommitted change
    return repo


def test_a_2x2_sweep_with_two_jobs_is_four_runs_of_one_group(tmp_path: Path) -> None:
    repo = sweep_repo(tmp_path)
    before = untouched(repo)
    proc = gitrun(repo, "sweep", "-p", "lr=0.1,0.3", "-p", "layers=2,4", "-j", "2", "--sort", "-score",
                  "-o", "model.txt", "--", "python", "train.py", "${lr}", "${layers}")
    assert proc.returncode == 0, proc.stderr
    assert untouched(repo) == before  # model.txt landed in the temporary worktrees only
    assert not (repo / "model.txt").exists()
    ids = run_ids(repo)
    assert len(ids) == 4
    recs = [record(repo, rid) for rid in ids]
    sweep_id = recs[0]["sweep"]["id"]
    seen = set()
    for rec in recs:
        validate(rec)
        assert rec["status"] == "succeeded"
        assert rec["run_group"] == sweep_id and rec["sweep"]["id"] == sweep_id
        assert rec["tags"]["sweep"] == sweep_id
        assert rec["invoked_by"] == "sweep"
        assert rec["sweep"]["size"] == 4 and rec["sweep"]["random"] is False
        point = rec["sweep"]["point"]
        seen.add((point["lr"], point["layers"]))
        config = record(repo, rec["id"], "config.yaml")
        assert f"lr: {point['lr']}" in config and f"layers: {point['layers']}" in config
        log = gitrun(repo, "log", rec["id"], "--stdout").stdout
        assert f"saw {point['lr']} {point['layers']}" in log
        assert rec["metrics"]["score"] == point["layers"] * 10 + point["lr"]
        assert rec["code"]["dirty"] is True  # the user's uncommitted change ran
        # The output is in the artifact cache ('git run checkout' brings it to the working tree).
        assert [(a["path"], a["status"]) for a in rec["artifacts"]] == [("model.txt", "stored")]
    assert seen == {(0.1, 2), (0.1, 4), (0.3, 2), (0.3, 4)}
    assert sorted(r["sweep"]["index"] for r in recs) == [0, 1, 2, 3]
    # The table, sorted by score descending.
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "lr", "layers", "score"]
    scores = [float(line.split()[4]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    assert f"sweep={sweep_id}" in proc.stderr
    listed = gitrun(repo, "ls", "--tag", f"sweep={sweep_id}", "--json")
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == ids


def test_a_failed_point_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    before = untouched(repo)
    proc = gitrun(repo, "sweep", "-p", "x=1,2,3", "--json", "--", "sh", "-c",
                  'test "${x}" != 2 || { echo bad point >&2; exit 5; }; echo ok ${x}')
    assert proc.returncode == 1, proc.stderr
    assert untouched(repo) == before
    result = json.loads(proc.stdout)
    assert [p["status"] for p in result["points"]] == ["succeeded", "succeeded", "failed"]
    failed = result["points"][-1]
    assert failed["params"] == {"x": 2} and failed["exit_code"] == 5
    assert "exited with code 5" in failed["error"]
    assert record(repo, failed["run"])["status"] == "failed"
    assert len(run_ids(repo)) == 3
    text = gitrun(repo, "sweep", "-p", "x=2", "--", "sh", "-c", "exit 5")
    assert text.returncode == 1
    assert text.stdout.splitlines()[1].split()[1:3] == ["failed", "2"]
    assert "exited with code 5" in text.stdout


def test_random_points_with_a_seed_are_the_same_twice(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    picks = []
    for _ in range(2):
        proc = gitrun(repo, "sweep", "-p", "a=1,2,3", "-p", "b=x,y", "--random", "3", "--seed", "7", "--json",
                      "--", "true")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["seed"] == 7 and result["random"] is True and result["size"] == 3
        picks.append(sorted((p["params"]["a"], p["params"]["b"]) for p in result["points"]))
        rec = record(repo, result["points"][0]["run"])
        assert rec["sweep"]["seed"] == 7 and rec["sweep"]["random"] is True
    assert picks[0] == picks[1] and len(picks[0]) == 3 and len(set(picks[0])) == 3
    drawn = json.loads(gitrun(repo, "sweep", "-p", "a=1,2", "--random", "1", "--json", "--", "true").stdout)
    assert isinstance(drawn["seed"], int)  # none given: one drawn and recorded
    assert record(repo, drawn["points"][0]["run"])["sweep"]["seed"] == drawn["seed"]


def test_a_pipeline_sweep(tmp_path: Path) -> None:
    pipeline = """steps:
  train:
    cmd: "echo lr=${train.lr} > model.txt && echo '{\\"acc\\": 0.5}' > metrics.json"
    params: [train.lr]
    outs: [model.txt]
    metrics: [metrics.json]
"""
    repo = make_repo(tmp_path / "repo", {"gitruns.yaml": pipeline, "params.yaml": "train:\n  lr: 0.1\n"})
    before = untouched(repo)
    proc = gitrun(repo, "sweep", "-p", "train.lr=0.01,0.02", "-f", "gitruns.yaml", "--json")
    assert proc.returncode == 0, proc.stderr
    assert untouched(repo) == before
    result = json.loads(proc.stdout)
    assert {p["status"] for p in result["points"]} == {"succeeded"}
    for p in result["points"]:
        rec = record(repo, p["run"])
        validate(rec)
        assert rec["kind"] == "pipeline" and rec["run_group"] == result["id"]
        assert rec["sweep"]["point"] == p["params"]
        assert "--lineage" not in rec["command"]
        assert f"lr: {p['params']['train.lr']}" in record(repo, p["run"], "config.yaml")


def test_bad_param_syntax_is_one_line_and_exit_2(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    for args in (["-p", "lr"], ["-p", "lr=1,,2"], ["-p", "=1"], ["-p", "a=1", "-p", "a=2"]):
        proc = gitrun(repo, "sweep", *args, "--", "true")
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    proc = gitrun(repo, "sweep", "-p", "a=1")
    assert proc.returncode == 2 and "command" in proc.stderr
    assert run_ids(repo) == []


def test_ctrl_c_cancels_the_running_points(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    repo = make_repo(tmp_path / "repo", {"loop.py": "import time\nwhile True:\n    time.sleep(0.05)\n"})
    before = untouched(repo)
    # git-run itself: a signal sent to 'git' kills git, which does not wait for its child.
    proc = subprocess.Popen(["git-run", "sweep", "-p", "a=1,2,3", "-j", "2", "--json", "--", "python", "loop.py"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(run_ids(repo)) < 2 or any(record(repo, r)["status"] != "running" for r in run_ids(repo)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    result = json.loads(out)
    assert result["interrupted"] is True
    assert sorted(p["status"] for p in result["points"]) == ["canceled", "canceled", "not started"]
    assert all(record(repo, rid)["status"] == "canceled" for rid in run_ids(repo))
    assert len(run_ids(repo)) == 2
    assert untouched(repo) == before
    assert "interrupted" in err.decode()


def test_an_input_git_does_not_track_is_staged_into_each_point(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "data/\n", "a.txt": "a\n"})
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x,y\n1,2\n")
    before = untouched(repo)
    proc = gitrun(repo, "sweep", "-p", "k=1,2", "-i", "data/train.csv", "--json", "--",
                  "sh", "-c", "cat data/train.csv; echo k=${k}")
    assert proc.returncode == 0, proc.stderr
    assert untouched(repo) == before
    for p in json.loads(proc.stdout)["points"]:
        rec = record(repo, p["run"])
        assert [i["path"] for i in rec["inputs"]] == ["data/train.csv"]
        assert gitrun(repo, "log", p["run"], "--stdout").stdout == f"x,y\n1,2\nk={p['params']['k']}\n"
