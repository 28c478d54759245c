"""The command line itself: help, bad input, exit codes (man pages: test_manpage.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitrun, latest, make_repo, plant_record, record

ROOT = Path(__file__).resolve().parent.parent
VERBS = ["exec", "ls", "show", "log", "diff", "push", "fetch", "pull", "checkout", "remote", "hooks"]


def test_help_lists_the_verbs_and_every_verb_has_h(repo: Path) -> None:
    proc = gitrun(repo, "-h")
    assert proc.returncode == 0
    for verb in VERBS:
        assert f"\n  {verb} " in proc.stdout
    for verb in VERBS:
        sub = gitrun(repo, verb, "-h")
        assert sub.returncode == 0 and sub.stdout.startswith(f"Usage: git run {verb}")


def test_not_a_repository(tmp_path: Path) -> None:
    for args in (["ls"], ["show", "x"], ["exec", "--", "true"], ["diff", "a", "b"], ["log", "x"]):
        proc = gitrun(tmp_path, *args)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("git run: error: not a git repository") and proc.stderr.count("\n") == 1


def test_bad_usage_is_one_line_and_exit_2(repo: Path) -> None:
    cases = [
        (["exec"], "Missing argument"),
        (["exec", "--tag", "novalue", "--", "true"], "--tag 'novalue': expected key=value"),
        (["diff", "onlyone"], "Missing argument"),
        (["nosuchverb"], "No such command"),
        (["ls", "--limit", "x"], "--limit"),
    ]
    for args, text in cases:
        proc = gitrun(repo, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and text in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_malformed_git_config_is_reported_in_one_line(repo: Path) -> None:
    git(repo, "config", "gitruns.dirty", "sometimes")
    proc = gitrun(repo, "exec", "--", "true")
    assert proc.returncode == 2
    assert proc.stderr == "git run: error: gitruns.dirty is 'sometimes'; expected one of warn, allow, refuse\n"
    git(repo, "config", "gitruns.dirty", "warn")
    git(repo, "config", "gitruns.logMaxSize", "lots")
    proc = gitrun(repo, "exec", "--", "true")
    assert proc.returncode == 2 and "gitruns.logMaxSize: 'lots' is not a size" in proc.stderr
    good = (repo / ".git" / "config").read_text()
    (repo / ".git" / "config").write_text("[core\nbroken")
    # git itself stops at a broken config; git-run called directly must too, in one line.
    proc = subprocess.run(["git-run", "ls"], cwd=repo, capture_output=True, text=True)
    (repo / ".git" / "config").write_text(good)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "config" in proc.stderr


def test_git_dash_c_and_environment_override_git_config(repo: Path) -> None:
    (repo / "train.py").write_text("print('dirty')\n")
    git(repo, "config", "gitruns.dirty", "refuse")
    assert gitrun(repo, "exec", "--", "python", "train.py").returncode == 1
    proc = subprocess.run(["git", "-c", "gitruns.dirty=allow", "run", "exec", "-q", "--", "python", "train.py"],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert gitrun(repo, "exec", "--", "python", "train.py", env={"GITRUNS_DIRTY": "allow"}).returncode == 0


def test_a_record_from_a_newer_gitruns_is_refused_clearly(repo: Path) -> None:
    assert gitrun(repo, "exec", "--", "true").returncode == 0
    rid = latest(repo)
    rec = record(repo, rid)
    rec["schema"] = 99
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=json.dumps(rec),
                          capture_output=True, text=True, check=True).stdout.strip()
    tree = git(repo, "ls-tree", f"refs/runs/{rid}:.gitruns").replace(
        git(repo, "rev-parse", f"refs/runs/{rid}:.gitruns/run.json").strip(), blob)
    sub = subprocess.run(["git", "mktree"], cwd=repo, input=tree, capture_output=True, text=True,
                         check=True).stdout.strip()
    top = git(repo, "ls-tree", f"refs/runs/{rid}").replace(
        git(repo, "rev-parse", f"refs/runs/{rid}:.gitruns").strip(), sub)
    root = subprocess.run(["git", "mktree"], cwd=repo, input=top, capture_output=True, text=True,
                          check=True).stdout.strip()
    commit = git(repo, "commit-tree", root, "-p", f"refs/runs/{rid}", "-m", "future").strip()
    git(repo, "update-ref", f"refs/runs/{rid}", commit)
    proc = gitrun(repo, "show", rid)
    assert proc.returncode == 1
    assert "schema 99, newer than this gitruns understands (5); upgrade gitruns" in proc.stderr
    listed = gitrun(repo, "ls")
    assert listed.returncode == 0 and "skipping" in listed.stderr


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_records_written_by_older_schemas_stay_readable(tmp_path: Path, version: int) -> None:
    """tests/data/run-v1.json was written by gitruns 0.1.0, run-v2.json by the code
    of issue 8 (before pipelines), run-v3.json by the code of issue 9 (before reruns) and
    run-v4.json (a rerun) by the code of issue 10 (before lineage and retirement);
    every later reader must accept them all."""
    from gitruns import record as rec_mod

    raw = (ROOT / "tests" / "data" / f"run-v{version}.json").read_bytes()
    rec = rec_mod.loads(raw)
    assert rec["schema"] == 5 and rec["status"] == "succeeded"  # read into today's shape
    assert rec["kind"] == "command" and rec["pipeline"] is None and rec["steps"] == []
    # Before schema 5 no run was linked to the runs it consumed, and none was retired.
    assert rec["upstream"] == [] and rec["retired"] is None
    if version == 4:
        assert rec["rerun_of"] and rec["rerun"]["mode"] == "rerun" and rec["run_group"] == rec["rerun_of"]
    else:
        # Before schema 4 every run was a group of its own, and none was a rerun.
        assert rec["run_group"] == rec["id"] and rec["rerun_of"] is None and rec["rerun"] is None
    assert rec["sweep"] is None and rec["cancel"] is None
    if version == 4:
        assert rec["inputs"][0]["path"] == "data.csv" and rec["artifacts"][0]["path"] == "model.json"
    elif version == 1:
        assert rec["code"]["reproducible_from"] is None
        assert rec["metrics"] == {"loss": 0.25}
    elif version == 3:
        assert rec["name"] == "v3-run" and rec["command_template"] == ["python", "train.py", "--lr", "${lr}"]
        assert rec["inputs"][0]["path"] == "data.csv" and "kept" not in rec["inputs"][0]
        assert rec["artifacts"][0]["path"] == "model.json" and rec["artifacts"][0]["status"] == "stored"
    else:
        assert rec["name"] == "v2-run" and rec["command_template"] == ["python", "train.py", "--lr", "${lr}"]
        assert rec["artifacts"][0]["path"] == "extra.txt" and rec["artifacts"][0]["status"] == "stored"
    assert rec["code"]["snapshot_tree"]
    # As a run in a repository, and fetched from a remote (validated against its own version's schema).
    repo = make_repo(tmp_path / "old", {"a.py": "pass\n"})
    old = json.loads(raw)
    plant_record(repo, raw, f"a run written by the gitruns of schema {version}")
    listed = json.loads(gitrun(repo, "ls", "--json").stdout)
    assert [(r["id"], r["schema"], r["kind"], r["code"]["reproducible_from"]) for r in listed] \
        == [(old["id"], 5, "command", None)]
    assert gitrun(repo, "show", old["id"][:10]).returncode == 0
    bare = tmp_path / "old.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    git(repo, "push", "-q", str(bare), "refs/runs/*:refs/runs/*")
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    proc = gitrun(other, "fetch")
    assert proc.returncode == 0 and "1 new run(s)" in proc.stdout, proc.stderr


def test_version(repo: Path) -> None:
    from importlib.metadata import version

    import gitruns

    installed = version("gitruns")  # what pip installed, from the package's metadata
    assert installed == gitruns.__version__ and installed.count(".") >= 1
    proc = gitrun(repo, "--version")
    assert proc.returncode == 0 and proc.stdout == f"git-run, version {installed}\n"


def test_module_entry_point(repo: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "gitruns", "ls", "--json"], cwd=repo, capture_output=True,
                          text=True, env=dict(os.environ))
    assert proc.returncode == 0 and proc.stdout == "[]\n"
