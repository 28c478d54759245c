"""The verdict of a reproduction, on real runs: records written by `git run exec` in
real repositories, artifacts in the real cache and in a directory artifact store
reached from a fresh clone of a bare remote, environments captured from real
interpreters (one with a tiny package installed between two runs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import _REPOS, git, gitrun, make_repo, record, run_ids

from gitruns import envdiff, verdict
from gitruns.cache import local_cache
from gitruns.commands.reproduce import render
from gitruns.lookup import load
from gitruns.repo import open_repo
from gitruns.sharing import store_of_default_remote

GEN = """\
import json, os, random, sys
import gitruns
mode = sys.argv[1]
if mode != "nothing":
    r = random.Random(7) if mode == "fixed" else random.Random()
    loss = round(r.random(), 6)
    open("model.bin", "wb").write(bytes(r.randrange(256) for _ in range(4096)))
    with open("out.json", "w") as fh:
        json.dump({"epochs": 3, "loss": loss, "name": "demo"}, fh)
    os.makedirs("outdir", exist_ok=True)
    open("outdir/a.txt", "w").write("always the same\\n")
    open("outdir/b.txt", "w").write(f"{loss}\\n")
    gitruns.log_metric("loss", loss)
gitruns.log_metric("epochs", 3)
"""
OUTPUTS = ("-o", "model.bin", "-o", "out.json", "-o", "outdir")


def _run(repo: Path, mode: str) -> str:
    proc = gitrun(repo, "exec", *OUTPUTS, "--", sys.executable, "gen.py", mode)
    assert proc.returncode == 0, proc.stderr
    return run_ids(repo)[-1]


def _verdict(path: Path, a: str, b: str, with_store: bool = True) -> verdict.Verdict:
    repo = open_repo(str(path))
    store = store_of_default_remote(repo) if with_store else None
    return verdict.compare(repo, load(repo, a).record, load(repo, b).record, local_cache(repo), store)


def _repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"gen.py": GEN, ".gitignore": "model.bin\nout.json\noutdir/\n"})


def test_a_deterministic_rerun_is_reproduced(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    a, b = _run(repo, "fixed"), _run(repo, "fixed")
    v = _verdict(repo, a, b)
    assert v.reproduced and v.reasons == []
    assert [(x.name, x.verdict) for x in v.artifacts] == [
        ("model.bin", "reproduced"), ("out.json", "reproduced"), ("outdir", "reproduced")]
    assert {m.name: m.verdict for m in v.metrics} == {"loss": "equal", "epochs": "equal"}
    assert v.environment.same  # the same interpreter ran both
    d = v.to_dict()
    assert d["verdict"] == "reproduced" and d["counts"]["reproduced"] == 3
    assert render(v)[0] == "verdict: reproduced (3 artifact(s) identical)"


def test_an_unseeded_rerun_differs_and_says_how(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    a, b = _run(repo, "fixed"), _run(repo, "random")
    v = _verdict(repo, a, b)
    assert not v.reproduced
    by = {x.name: x for x in v.artifacts}
    assert {n: x.verdict for n, x in by.items()} == {"model.bin": "differs", "out.json": "differs",
                                                      "outdir": "differs"}
    old_loss = record(repo, a)["metrics"]["loss"]
    new_loss = record(repo, b)["metrics"]["loss"]
    # JSON is compared key by key, pretty-printed: only the changed value shows.
    assert by["out.json"].diff == ["@@ -2,3 +2,3 @@", '   "epochs": 3,', f'-  "loss": {old_loss},',
                                   f'+  "loss": {new_loss},', '   "name": "demo"']
    assert by["model.bin"].note == "binary" and by["model.bin"].diff is None
    assert (by["model.bin"].old_size, by["model.bin"].new_size) == (4096, 4096)
    assert by["outdir"].files == {"added": [], "removed": [], "changed": ["b.txt"],
                                  "counts": {"added": 0, "removed": 0, "changed": 1, "same": 1}}
    loss = next(m for m in v.metrics if m.name == "loss")
    assert loss.verdict == "changed" and abs(loss.delta - (new_loss - old_loss)) < 1e-9  # type: ignore[operator]
    text = render(v)
    assert text[0] == "verdict: not reproduced"
    assert "  3 artifact(s) differs: model.bin, out.json, outdir" in text
    assert f'      -  "loss": {old_loss},' in text and "      ~ b.txt" in text


def test_outputs_the_rerun_did_not_write_are_missing(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    a = _run(repo, "fixed")
    for name in ("model.bin", "out.json", "outdir/a.txt", "outdir/b.txt", "outdir"):
        (repo / name).rmdir() if name == "outdir" else (repo / name).unlink()
    gitrun(repo, "exec", *OUTPUTS, "--", sys.executable, "gen.py", "nothing")
    b = run_ids(repo)[-1]
    assert {x["status"] for x in record(repo, b)["artifacts"]} == {"missing"}
    v = _verdict(repo, a, b)
    assert not v.reproduced
    assert {x.name: (x.verdict, x.missing_in) for x in v.artifacts} == {
        "model.bin": ("missing", "new"), "out.json": ("missing", "new"), "outdir": ("missing", "new")}
    assert {m.name: m.verdict for m in v.metrics} == {"loss": "missing", "epochs": "equal"}


def test_a_fresh_clone_reads_the_diff_from_the_artifact_store(tmp_path: Path) -> None:
    seed = _repo(tmp_path)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    _REPOS.append(bare)
    store = tmp_path / "store"
    first = tmp_path / "first"
    subprocess.run(["git", "clone", "-q", str(bare), str(first)], check=True)
    _REPOS.append(first)
    git(first, "config", "remote.origin.gitrunsStore", str(store))
    a, b = _run(first, "fixed"), _run(first, "random")
    assert gitrun(first, "push").returncode == 0
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(bare), str(fresh)], check=True)
    _REPOS.append(fresh)
    git(fresh, "config", "remote.origin.gitrunsStore", str(store))
    assert gitrun(fresh, "fetch").returncode == 0
    # Without the store, the clone has the records but no contents: sizes only, and why.
    bare_v = _verdict(fresh, a, b, with_store=False)
    out = next(x for x in bare_v.artifacts if x.name == "out.json")
    assert out.verdict == "differs" and out.diff is None
    assert out.note == "no diff: not in the local cache and no artifact store is configured"
    v = _verdict(fresh, a, b)
    by = {x.name: x for x in v.artifacts}
    assert by["out.json"].diff is not None and any(line.startswith('-  "loss"') for line in by["out.json"].diff)
    assert by["outdir"].files is not None and by["outdir"].files["changed"] == ["b.txt"]
    assert by["model.bin"].note == "binary"


def test_environment_differences_of_two_real_runs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    pkg = tmp_path / "tinypkg"
    (pkg / "tinypkg").mkdir(parents=True)
    (pkg / "setup.py").write_text("from setuptools import setup\nsetup(name='tinypkg', version='0.3', "
                                  "packages=['tinypkg'])\n")
    (pkg / "tinypkg" / "__init__.py").write_text("__version__ = '0.3'\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    assert gitrun(repo, "exec", "--", py, "train.py").returncode == 0
    a = run_ids(repo)[-1]
    install = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", str(pkg)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert gitrun(repo, "exec", "--", py, "train.py").returncode == 0
    b = run_ids(repo)[-1]
    env_b = record(repo, b, "env.json")
    assert env_b["python"]["package_sources"]["tinypkg"] == {"dir": str(pkg), "editable": False}
    diff = envdiff.compare(record(repo, a, "env.json"), env_b)
    assert [(p.name, p.new, p.new_source) for p in diff.added] == [
        ("tinypkg", "0.3", {"dir": str(pkg), "editable": False})]
    assert diff.removed == [] and diff.changed == [] and diff.facts == []
    v = _verdict(repo, a, b)
    assert v.reproduced  # no artifacts; the environment explains, it does not judge
    assert "  + tinypkg 0.3" in render(v)
    # Reinstalled from a git URL holding a token (as pip writes direct_url.json for
    # `pip install git+https://ada:TOKEN@...`): the record keeps the source, not the token.
    site = next((venv / "lib").glob("python3*/site-packages"))
    direct = next(site.glob("tinypkg-*.dist-info")) / "direct_url.json"
    direct.write_text(json.dumps({"url": "https://ada:s3cr3t-t0ken@git.example/tiny.git",
                                  "vcs_info": {"vcs": "git", "commit_id": "f" * 40}}))
    os.utime(site)  # what pip's reinstall does to site-packages
    assert gitrun(repo, "exec", "--", py, "train.py").returncode == 0
    c = run_ids(repo)[-1]
    assert record(repo, c, "env.json")["python"]["package_sources"]["tinypkg"] == {
        "vcs": "git", "url": "https://ada:<redacted>@git.example/tiny.git", "commit": "f" * 40}
    assert "s3cr3t" not in git(repo, "show", f"refs/runs/{c}:.gitruns/env.json")
    probe_cache = list((repo / ".git" / "gitruns").rglob("python-*.json"))
    assert probe_cache and not any("s3cr3t" in p.read_text() for p in probe_cache)
    changed = envdiff.compare(env_b, record(repo, c, "env.json")).changed
    assert [(p.name, p.source_changed) for p in changed] == [("tinypkg", True)]


PIPELINE = """\
steps:
  prepare:
    cmd: python prep.py
    deps: [prep.py]
    outs: [data/clean.txt]
  train:
    cmd: python train_step.py
    deps: [train_step.py, data/clean.txt]
    outs: [model.txt]
"""


def test_a_pipeline_runs_step_outputs_are_judged_by_step(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {
        "gitruns.yaml": PIPELINE,
        "prep.py": "import os\nos.makedirs('data', exist_ok=True)\nopen('data/clean.txt', 'w').write('1 2 3\\n')\n",
        "train_step.py": "import random\nopen('model.txt', 'w').write(f'{random.random()}\\n')\n",
        ".gitignore": "data/\nmodel.txt\n",
    })
    for _ in range(2):
        proc = gitrun(repo, "pipeline", "--force", env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
        assert proc.returncode == 0, proc.stderr
    a, b = run_ids(repo)[-2:]
    v = _verdict(repo, a, b)
    assert [(x.name, x.step, x.verdict) for x in v.artifacts] == [
        ("prepare/data/clean.txt", "prepare", "reproduced"), ("train/model.txt", "train", "differs")]
    model = v.artifacts[1]
    assert model.diff is not None and model.diff[0] == "@@ -1 +1 @@" and len(model.diff) == 3
    assert not v.reproduced and v.reasons == ["1 artifact(s) differs: train/model.txt"]
