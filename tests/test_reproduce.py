"""`git run reproduce ID` as the issue tries it: from a fresh clone of a bare remote
with a directory artifact store, a deterministic run reproduces (exit 0), an
unseeded one differs (exit 1, the artifact named), one whose input changed since
is refused (exit 2, the input named); the user's tree, index and HEAD unchanged."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import git, gitrun, leftovers, make_repo, record, run_ids, untouched

TRAIN = """\
import json, random, sys
rows = open("data.csv").read().split()
weights = {"n": len(rows), "w": 0.5} if sys.argv[1] == "fixed" else {"n": len(rows), "w": random.random()}
open("model.json", "w").write(json.dumps(weights, indent=1) + "\\n")
import gitruns
gitruns.log_metric("w", weights["w"])
"""


def _clone(bare: Path, dest: Path, store: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(bare), str(dest)], check=True)
    git(dest, "config", "remote.origin.gitrunsStore", str(store))
    git(dest, "config", "user.name", "T")
    git(dest, "config", "user.email", "t@example.com")
    return dest


def _ref(repo: Path, rid: str) -> str:
    return git(repo, "rev-parse", f"refs/gitruns/remotes/origin/{rid}").strip()


def test_reproduce_from_a_fresh_clone(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", {"train.py": TRAIN, ".gitignore": "data.csv\nmodel.json\n"})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    store = tmp_path / "store"
    first = _clone(bare, tmp_path / "first", store)
    (first / "data.csv").write_text("1,2\n3,4\n5,6\n")
    for mode in ("fixed", "random"):
        proc = gitrun(first, "exec", "-i", "data.csv", "-o", "model.json", "--", "python", "train.py", mode)
        assert proc.returncode == 0, proc.stderr
    fixed, unseeded = run_ids(first)
    assert record(first, fixed)["inputs"][0]["kept"] is True
    assert gitrun(first, "push").returncode == 0

    fresh = _clone(bare, tmp_path / "fresh", store)
    assert gitrun(fresh, "fetch").returncode == 0
    assert not (fresh / "data.csv").exists()  # the input is only in the store
    before = untouched(fresh)
    refs = (_ref(fresh, fixed), _ref(fresh, unseeded))

    # A deterministic run: every artifact reproduced, exit 0.
    proc = gitrun(fresh, "reproduce", fixed[:12])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("verdict: reproduced (1 artifact(s) identical)\n"), proc.stdout
    assert "reproduced model.json" in proc.stdout and "equal      w: 0.5" in proc.stdout
    new = [r for r in run_ids(fresh) if r not in (fixed, unseeded)]
    assert len(new) == 1
    rec = record(fresh, new[0])
    assert rec["rerun_of"] == fixed and rec["run_group"] == fixed and rec["invoked_by"] == "rerun"
    assert rec["rerun"]["mode"] == "reproduce" and rec["rerun"]["changes"] == []
    assert rec["rerun"]["inputs"] == [{"path": "data.csv", "digest": record(first, fixed)["inputs"][0]["digest"],
                                       "source": "store"}]
    assert untouched(fresh) == before

    # An unseeded random: the model differs, named, with a diff; exit 1.
    proc = gitrun(fresh, "reproduce", unseeded, "--json")
    assert proc.returncode == 1, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["reproduced"] is False and verdict["original"] == unseeded
    arts = {a["name"]: a for a in verdict["verdict"]["artifacts"]}
    assert arts["model.json"]["verdict"] == "differs" and any('"w"' in line for line in arts["model.json"]["diff"])
    human = gitrun(fresh, "reproduce", unseeded)
    assert human.returncode == 1 and "differs    model.json" in human.stdout
    assert "1 artifact(s) differs: model.json" in human.stdout
    assert untouched(fresh) == before

    # The input changed since: refused before anything runs, the input and its digest named.
    (fresh / "data.csv").write_text("1,2\n")
    before = untouched(fresh)
    count = len(run_ids(fresh))
    proc = gitrun(fresh, "reproduce", fixed)
    digest = record(first, fixed)["inputs"][0]["digest"]
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"data.csv: recorded {digest}, now xxh3_128:" in proc.stderr and "(changed)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert len(run_ids(fresh)) == count and untouched(fresh) == before
    # The originals never changed; no temporary worktree is left; git is content.
    assert (_ref(fresh, fixed), _ref(fresh, unseeded)) == refs
    assert leftovers(fresh) == []
    assert subprocess.run(["git", "fsck", "--strict"], cwd=fresh, capture_output=True).returncode == 0


def test_reproduce_in_a_recreated_environment(tmp_path: Path) -> None:
    from test_envrecreate import _package, _venv

    repo = make_repo(tmp_path / "repo", {"fit.py": "import tinypkg\nopen('out.txt', 'w').write(tinypkg.__version__)\n",
                                         ".gitignore": "out.txt\n"})
    py = _venv(tmp_path / "recorded", _package(tmp_path / "src", "tinypkg", "1.2"))
    assert gitrun(repo, "exec", "-o", "out.txt", "--", py, "fit.py").returncode == 0
    (rid,) = run_ids(repo)
    # The command named the venv's interpreter by path; record one that finds python on PATH.
    assert gitrun(repo, "exec", "-o", "out.txt", "--", "python", "fit.py",
                  env={"PATH": str(Path(py).parent) + os.pathsep + os.environ["PATH"]}).returncode == 0
    on_path = [r for r in run_ids(repo) if r != rid][0]
    before = untouched(repo)
    # The current environment lacks tinypkg: the rerun fails, and the verdict says so.
    plain = gitrun(repo, "reproduce", on_path)
    assert plain.returncode == 1 and "not reproduced" in plain.stdout
    assert "No module named 'tinypkg'" in plain.stderr
    # --env recreate builds a venv with the recorded package: reproduced.
    proc = gitrun(repo, "reproduce", on_path, "--env", "recreate", "--installer", "pip")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: reproduced" in proc.stdout
    new = run_ids(repo)[-1]
    assert record(repo, new)["rerun"]["env"] == "recreate"
    assert record(repo, new, "env.json")["python"]["packages"]["tinypkg"] == "1.2"
    assert untouched(repo) == before


def test_metrics_files_are_read_again(tmp_path: Path) -> None:
    """A run's -m files are kept in its record and read by its reproduction (review:
    they were dropped, and the metrics showed as missing)."""
    repo = make_repo(tmp_path / "repo", {"t.py": "open('m.json', 'w').write('{\"acc\": 0.5}')\n",
                                         ".gitignore": "m.json\n"})
    assert gitrun(repo, "exec", "-m", "m.json", "--", "python", "t.py").returncode == 0
    (rid,) = run_ids(repo)
    assert record(repo, rid)["metrics_files"] == ["m.json"]
    proc = gitrun(repo, "reproduce", rid)
    assert proc.returncode == 0 and "equal      acc: 0.5" in proc.stdout, proc.stdout
    assert record(repo, run_ids(repo)[-1])["metrics"] == {"acc": 0.5}
