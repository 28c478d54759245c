"""ls, show, log, diff, and the environment they compare."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitrun, latest, make_repo, record, run_ids


def _run(repo: Path, *args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
    """A recorded run: exec exits with the command's own code (never 3, a bug in gitruns)."""
    before = run_ids(repo)
    proc = gitrun(repo, "exec", *args, env=env)
    assert proc.returncode == code, proc.stderr
    after = run_ids(repo)
    assert len(after) == len(before) + 1, "exec recorded no new run"
    return latest(repo)


def test_ls_table_filters_and_json(repo: Path) -> None:
    a = _run(repo, "--name", "baseline", "--tag", "exp=a", "--", "python", "-c",
             "import gitruns; gitruns.log_metric('loss', 0.5)")
    b = _run(repo, "--name", "wider", "--tag", "exp=b", "--", "python", "-c", "import sys; sys.exit(1)", code=1)
    c = _run(repo, "--tag", "exp=a", "--", "python", "-c", "import gitruns; gitruns.log_metric('loss', 0.25)")
    proc = gitrun(repo, "ls")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:7] == ["ID", "NAME", "STATUS", "STARTED", "DURATION", "CODE", "COMMAND"]
    assert lines[0].split()[-1] == "loss"
    shown = [line.split()[0] for line in lines[1:]]
    assert len(shown) == 3 and all(len(s) >= 8 for s in shown)
    assert [full.startswith(s) for s, full in zip(shown, [c, b, a], strict=True)] == [True] * 3  # newest first
    assert "failed" in lines[2] and "wider" in lines[2] and "0.25" in lines[1]

    def ids(*args: str) -> list[str]:
        out = gitrun(repo, "ls", "--json", *args)
        assert out.returncode == 0, out.stderr
        return [r["id"] for r in json.loads(out.stdout)]

    assert ids() == [c, b, a]
    assert ids("--status", "failed") == [b]
    assert ids("--status", "succeeded,failed") == [c, b, a]
    assert ids("--tag", "exp=a") == [c, a]
    assert ids("--name", "base") == [a]
    assert ids("--name", "w*r") == [b]
    assert ids("--limit", "1") == [c]
    assert ids("--limit", "0") == []  # as `git log -n 0`: none
    assert ids("--since", "1h") == [c, b, a]
    assert ids("--until", "2000-01-01") == []
    assert ids("--since", "2000-01-01T00:00") == [c, b, a]
    full = json.loads(gitrun(repo, "ls", "--json", "--limit", "1").stdout)[0]
    assert set(record(repo, c)) <= set(full)  # the same keys as run.json
    bad = gitrun(repo, "ls", "--since", "soon-ish")  # git reads "yesterday-ish" as yesterday
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "cannot read time" in bad.stderr
    bad = gitrun(repo, "ls", "--status", "exploded")
    assert bad.returncode == 2 and "--status exploded" in bad.stderr


def test_ls_in_a_repo_without_runs_or_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty", commit=False)
    proc = gitrun(repo, "ls")
    assert proc.returncode == 0 and proc.stdout == "" and "no runs yet" in proc.stderr
    assert gitrun(repo, "ls", "--json").stdout == "[]\n"
    proc = gitrun(repo, "show", "abc")
    assert proc.returncode == 2
    assert proc.stderr == "git run: error: no run matches 'abc': this repository has no runs yet\n"


def test_show_by_prefix_name_and_ambiguity(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    rid = _run(repo, "--name", "first", "-p", "lr=0.1", "--", "python", "train.py")
    proc = gitrun(repo, "show", rid[:10])
    assert proc.returncode == 0
    out = proc.stdout
    assert out.startswith(f"run {rid}  (first)\n")
    assert "status:     succeeded (exit 0)" in out
    assert "dirty snapshot on" in out and "M train.py" in out
    assert "lr: 0.1" in out
    assert gitrun(repo, "show", "first").stdout == out
    assert gitrun(repo, "show", f"refs/runs/{rid}").stdout == out
    assert gitrun(repo, "show", rid.upper()).stdout == out
    full = json.loads(gitrun(repo, "show", rid, "--json").stdout)
    assert full["id"] == rid and full["config"] == {"lr": 0.1}
    assert full["environment"]["python"]["version"].count(".") == 2
    assert full["commit"] == git(repo, "rev-parse", f"refs/runs/{rid}").strip()
    # Runs made within the same second share a long prefix: that prefix is ambiguous.
    _run(repo, "--", "python", "-c", "pass")
    ids = run_ids(repo)
    common = 0
    while ids[0][common] == ids[1][common]:
        common += 1
    proc = gitrun(repo, "show", ids[0][:common])
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"git run: error: run id '{ids[0][:common]}' is ambiguous: ")
    assert ids[0][: common + 1] in proc.stderr and ids[1][: common + 1] in proc.stderr
    proc = gitrun(repo, "show", "zzzzzz")
    assert proc.returncode == 2 and proc.stderr == "git run: error: no run matches 'zzzzzz' (see 'git run ls')\n"


def test_log_replays_streams(repo: Path) -> None:
    rid = _run(repo, "--", "python", "-c", "import sys; print('to out'); print('to err', file=sys.stderr)")
    proc = gitrun(repo, "log", rid[:9])
    assert proc.stdout == "to out\n" and proc.stderr == "to err\n"
    assert gitrun(repo, "log", rid, "--stderr").stdout == "to err\n"
    assert gitrun(repo, "log", rid, "--stdout").stdout == "to out\n"


def test_diff_config_metrics_code_inputs_artifacts(repo: Path) -> None:
    (repo / "data.csv").write_text("1,2\n")
    code = ("import gitruns, os, yaml\n"
            "cfg = yaml.safe_load(open(os.environ['GITRUNS_CONFIG_FILE']))\n"
            "gitruns.log_metric('loss', 1.0 / cfg['epochs'])\n"
            "open('model.txt', 'w').write(str(cfg))\n")
    (repo / "fit.py").write_text(code)
    git(repo, "add", "fit.py", "data.csv")
    git(repo, "commit", "-qm", "fit")
    a = _run(repo, "-p", "epochs=2", "-p", "opt=sgd", "-i", "data.csv", "-o", "model.txt", "--", "python", "fit.py")
    (repo / "fit.py").write_text(code + "print('v2')\n")
    (repo / "data.csv").write_text("1,2\n3,4\n")
    b = _run(repo, "-p", "epochs=4", "-p", "seed=1", "-i", "data.csv", "-o", "model.txt", "--", "python", "fit.py")
    proc = gitrun(repo, "diff", a[:10], b[:10])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "  ~ epochs: 2 -> 4" in out and "  + seed: 1" in out and "  - opt: sgd" in out
    assert "  loss: 0.5 -> 0.25 (-0.25)" in out
    assert "code:\n  M data.csv\n  M fit.py\n" in out
    assert "inputs:\n  ~ data.csv: xxh3_128:" in out
    assert "artifacts:\n  ~ model.txt: xxh3_128:" in out
    data = json.loads(gitrun(repo, "diff", a, b, "--json").stdout)
    assert data["config"]["changed"] == {"epochs": {"a": 2, "b": 4}}
    assert data["metrics"]["loss"] == {"a": 0.5, "b": 0.25, "delta": -0.25}
    assert data["code"]["files"] == [{"status": "M", "path": "data.csv"}, {"status": "M", "path": "fit.py"}]
    patch = gitrun(repo, "diff", a, b, "--patch").stdout
    assert "+print('v2')" in patch
    same = gitrun(repo, "diff", a, a).stdout
    assert "config: same" in same and "metrics: same" in same and "code: same" in same
    # Plain git reads sensibly too: code and record side by side.
    plain = git(repo, "diff", f"refs/runs/{a}", f"refs/runs/{b}")
    assert "+print('v2')" in plain
    assert "\n-epochs: 2\n" in plain and "\n+epochs: 4\n" in plain
    assert '-  "status": "succeeded"' not in plain


def test_environment_is_the_commands_python_and_diff_shows_packages(repo: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    a = _run(repo, "--", str(venv / "bin" / "python"), "-c", "pass")
    env = record(repo, a, "env.json")
    py = env["python"]
    assert py["prefix"] == str(venv) and py["executable"].startswith(str(venv))
    assert "pygit2" not in py["packages"]  # gitruns' own interpreter has it; the venv does not
    assert py["chosen_by"] == "command"
    assert env["os"]["system"] and env["cpu"]["count"] >= 1 and env["memory_bytes"] > 0
    assert env["git"].startswith("2.")
    assert env["gpus"] == [] or all("name" in g for g in env["gpus"])
    b = _run(repo, "--", sys.executable, "-c", "pass")
    assert "pygit2" in record(repo, b, "env.json")["python"]["packages"]
    data = json.loads(gitrun(repo, "diff", a, b, "--json").stdout)
    assert "pygit2" in data["environment"]["packages"]["added"]
    assert "python_executable" in data["environment"]["changed"]
    assert "  + pygit2 " in gitrun(repo, "diff", a, b).stdout
    # A script's #! line names its interpreter.
    script = repo / "tool.py"
    script.write_text(f"#!{venv}/bin/python\nprint('hi')\n")
    script.chmod(0o755)
    c = _run(repo, "--", "./tool.py")
    assert record(repo, c, "env.json")["python"]["chosen_by"] == "shebang"
    assert record(repo, c, "env.json")["python"]["prefix"] == str(venv)


@pytest.mark.parametrize(("variables", "expected"), [
    ({}, "manual"),
    ({"CI": "true"}, "ci"),
    ({"GITHUB_ACTIONS": "true"}, "ci"),
    ({"GITRUNS_INVOKED_BY": "hook"}, "hook"),
])
def test_invoked_by_is_detected_from_the_environment(repo: Path, variables: dict[str, str], expected: str) -> None:
    rid = _run(repo, "--", "python", "-c", "pass", env=variables)
    assert record(repo, rid)["invoked_by"] == expected


def test_nested_run_names_its_parent(repo: Path) -> None:
    proc = gitrun(repo, "exec", "--", "git", "run", "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    outer, inner = run_ids(repo)
    rec = record(repo, inner)
    assert rec["invoked_by"] == "run" and rec["invocation"] == {"parent_run": outer}


NVIDIA_SMI = """#!/bin/sh
# Prints what nvidia-smi 550 prints on a two-GPU machine, for the parser.
case "$1" in
  --query-gpu=*)
    printf 'NVIDIA A100-SXM4-80GB, 550.54.15, 81920, GPU-1111\\n'
    printf 'NVIDIA A100-SXM4-80GB, 550.54.15, 81920, GPU-2222\\n' ;;
  *) printf '| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |\\n' ;;
esac
"""


def test_gpus_driver_and_cuda_are_read_from_nvidia_smi(repo: Path, tmp_path: Path) -> None:
    # No GPU on the test machines: a stand-in nvidia-smi prints the real tool's format.
    bin_dir = tmp_path / "gpu-bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(NVIDIA_SMI)
    smi.chmod(0o755)
    import os

    rid = _run(repo, "--", "python", "-c", "pass", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    env = record(repo, rid, "env.json")
    assert env["gpu_driver"] == "550.54.15" and env["cuda"] == "12.4"
    assert [g["uuid"] for g in env["gpus"]] == ["GPU-1111", "GPU-2222"]
    assert env["gpus"][0] == {"name": "NVIDIA A100-SXM4-80GB", "driver": "550.54.15", "memory_mib": 81920,
                              "uuid": "GPU-1111"}
    other = _run(repo, "--", "python", "-c", "pass")
    data = json.loads(gitrun(repo, "diff", rid, other, "--json").stdout)
    assert data["environment"]["changed"]["gpu_driver"] == {"a": "550.54.15", "b": None}


def test_bare_repository_lists_but_cannot_exec(tmp_path: Path) -> None:
    src = make_repo(tmp_path / "src", {"a.py": "pass\n"})
    assert gitrun(src, "exec", "--", "python", "a.py").returncode == 0
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    git(src, "push", "-q", str(bare), "refs/runs/*:refs/runs/*")
    listed = json.loads(gitrun(bare, "ls", "--json").stdout)
    assert [r["id"] for r in listed] == run_ids(src)
    proc = gitrun(bare, "exec", "--", "true")
    assert proc.returncode == 2 and "bare" in proc.stderr and proc.stderr.count("\n") == 1


def test_many_runs_list_the_same_cold_and_warm(repo: Path) -> None:
    """Past 200 runs unknown to the run index, records are read in one batch."""
    import copy

    import pygit2

    from gitruns import recordread, runid, runindex, runrefs
    from gitruns.repo import open_repo
    from gitruns.runindex import BATCH_FROM

    template_id = _run(repo, "--name", "template", "--", "python", "-c", "pass")
    r = open_repo(str(repo))
    commit = git(repo, "rev-parse", f"refs/runs/{template_id}").strip()
    template = recordread.read_record(r.git, commit)
    files = {name: git(repo, "cat-file", "-p", f"{commit}:.gitruns/{name}").encode()
             for name in ("config.yaml", "env.json", "stdout.log")}
    base = runid.timestamp_ms(template_id)
    for i in range(BATCH_FROM + 20):
        rec = copy.deepcopy(template)
        rec["id"] = runid.new_id(base - (i + 1) * 1000)
        rec["name"] = f"copy-{i}"
        runrefs.write(r, rec, files, template["code"]["snapshot_tree"], [commit], None)
    # The batch reader itself gives every record's files, as pygit2 reads them, and stays
    # in step past an entry it cannot give (HEAD has no .gitruns/) and before the last one;
    # the listing below would look the same with it broken, through the slower path.
    commits = git(repo, "for-each-ref", "--format=%(objectname)", "refs/runs/").split()
    head = git(repo, "rev-parse", "HEAD").strip()
    batch = runindex._record_files_batch(r, [*commits[:7], head, *commits[7:]])
    assert batch == {c: {e.name: str(e.id) for e in r.git[r.git[c].peel(pygit2.Tree)[".gitruns"].id]}
                     for c in commits}
    for f in (repo / ".git" / "gitruns").glob("index.sqlite*"):
        f.unlink()  # the first listing is cold
    cold = gitrun(repo, "ls", "--json")
    warm = gitrun(repo, "ls", "--json")
    assert cold.returncode == 0 and cold.stdout == warm.stdout
    listed = json.loads(cold.stdout)
    assert len(listed) == BATCH_FROM + 21
    assert listed[0]["name"] == "template" and listed[-1]["name"] == f"copy-{BATCH_FROM + 19}"
