"""Git hooks, driven by real `git commit`: the installer, the pre-commit framework,
and what the hooks say."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import _REPOS, git, gitrun, make_repo, record, run_ids

ROOT = Path(__file__).resolve().parent.parent


def commit(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(["git", "commit", "-q", *args], cwd=repo, capture_output=True, text=True, env=full)


def dirty_run(repo: Path, content: str = "print('tuned')\n") -> str:
    (repo / "train.py").write_text(content)
    proc = gitrun(repo, "exec", "--", "python", "train.py")
    assert proc.returncode == 0, proc.stderr
    return run_ids(repo)[-1]


def test_install_chains_an_existing_hook_is_idempotent_and_uninstall_restores(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    legacy = "#!/bin/sh\necho 'team hook ran'\nexit 1\n"
    (hooks / "pre-commit").write_text(legacy)
    (hooks / "pre-commit").chmod(0o755)
    proc = gitrun(repo, "hooks", "install")
    assert proc.returncode == 0
    assert "pre-commit: installed; the existing hook runs first, kept as pre-commit.legacy" in proc.stdout
    installed = (hooks / "pre-commit").read_text()
    again = gitrun(repo, "hooks", "install")
    assert again.stdout.count("already installed") == 4 and (hooks / "pre-commit").read_text() == installed
    (repo / "README").write_text("changed\n")
    proc = commit(repo, "-am", "blocked by the team hook")
    assert proc.returncode != 0 and "team hook ran" in proc.stdout + proc.stderr  # its exit status still counts
    (hooks / "pre-commit.legacy").write_text(legacy.replace("exit 1", "exit 0"))
    assert commit(repo, "-am", "now allowed").returncode == 0
    proc = gitrun(repo, "hooks", "uninstall")
    assert "pre-commit: removed; the previous hook is back" in proc.stdout
    assert (hooks / "pre-commit").read_text() == legacy.replace("exit 1", "exit 0")
    assert not (hooks / "pre-commit.legacy").exists() and not (hooks / "post-commit").exists()


def test_shipped_hook_scripts_match_the_installer() -> None:
    from gitruns import hookinstall

    for name in hookinstall.HOOKS:
        assert (ROOT / "hooks" / name).read_text() == hookinstall.script(name, "git-run")
        assert os.access(ROOT / "hooks" / name, os.X_OK)


def test_warns_about_runs_on_code_the_commit_does_not_contain(repo: Path) -> None:
    assert gitrun(repo, "hooks", "install").returncode == 0
    rid = dirty_run(repo)
    (repo / "train.py").write_text("print('edited again after the run')\n")
    (repo / "README").write_text("docs\n")
    git(repo, "add", "README")
    proc = commit(repo, "-m", "docs only")
    assert proc.returncode == 0  # warnings do not block by default
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gitruns:")]
    assert len(lines) == 1
    assert "1 run(s) since the last commit used uncommitted code this commit does not contain" in lines[0]
    assert "train.py differs" in lines[0] and rid[:8] in lines[0]
    # `git commit -a` takes the run's exact code: then nothing to say about it.
    (repo / "train.py").write_text("print('tuned')\n")
    rid2 = dirty_run(repo, "print('tuned 2')\n")
    proc = commit(repo, "-am", "the code of the run")
    assert "uncommitted code" not in proc.stderr
    assert record(repo, rid2)["code"]["reproducible_from"] == git(repo, "rev-parse", "HEAD").strip()


def test_commit_of_only_some_paths_is_judged_by_what_it_commits(repo: Path) -> None:
    assert gitrun(repo, "hooks", "install").returncode == 0
    (repo / "extra.py").write_text("X = 1\n")
    git(repo, "add", "extra.py")
    git(repo, "commit", "-qm", "extra")
    (repo / "extra.py").write_text("X = 2\n")
    dirty_run(repo)  # changes train.py and extra.py
    proc = commit(repo, "-m", "only train.py", "--", "train.py")
    assert proc.returncode == 0
    assert "extra.py differs" in proc.stderr
    proc = commit(repo, "-m", "now extra.py", "--", "extra.py")
    assert "uncommitted code" not in proc.stderr  # HEAD moved: those runs are not 'since the last commit'


def test_staged_outputs_unpushed_runs_and_blocking(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    _REPOS.append(bare)
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main")
    assert gitrun(repo, "hooks", "install", "--pre-commit").returncode == 0
    code = "open('model.bin', 'w').write('weights')"
    assert gitrun(repo, "exec", "-o", "model.bin", "--", "python", "-c", code).returncode == 0
    git(repo, "add", "model.bin")
    proc = commit(repo, "-m", "oops, the model")
    assert proc.returncode == 0
    assert "gitruns: staged model.bin is an output of run" in proc.stderr
    assert "gitruns: 1 run(s) not pushed to origin" in proc.stderr
    assert gitrun(repo, "push").returncode == 0
    (repo / "README").write_text("again\n")
    git(repo, "config", "gitruns.hooks.block", "true")
    proc = commit(repo, "-am", "clean")
    assert proc.returncode == 0 and "gitruns" not in proc.stderr
    dirty_run(repo)
    git(repo, "checkout", "--", "train.py")
    (repo / "README").write_text("more\n")
    before = git(repo, "rev-parse", "HEAD")
    proc = commit(repo, "-am", "blocked")
    assert proc.returncode != 0 and "commit stopped (gitruns.hooks.block is true)" in proc.stderr
    assert git(repo, "rev-parse", "HEAD") == before


def test_output_stays_short_with_many_runs(repo: Path) -> None:
    assert gitrun(repo, "hooks", "install").returncode == 0
    for i in range(12):
        dirty_run(repo, f"print({i})\n")
    git(repo, "checkout", "--", "train.py")
    (repo / "README").write_text("x\n")
    proc = commit(repo, "-am", "unrelated")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gitruns:")]
    assert len(lines) == 1 and "12 run(s)" in lines[0] and "and 9 more" in lines[0]


def test_post_commit_notes_reproducible_runs_for_show_and_ls(repo: Path) -> None:
    assert gitrun(repo, "hooks", "install", "--post-commit").returncode == 0
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    rid = dirty_run(repo)
    assert "dirty snapshot" in gitrun(repo, "show", rid).stdout
    proc = commit(repo, "-am", "tuned")
    assert "gitruns: 1 run(s) now reproducible from this commit" in proc.stderr
    head = git(repo, "rev-parse", "HEAD").strip()
    rec = record(repo, rid)
    assert rec["code"]["reproducible_from"] == head and rec["code"]["dirty"] is True
    assert rec["status"] == "succeeded"
    assert f"code = commit {head[:12]}" in gitrun(repo, "show", rid).stdout
    row = [line for line in gitrun(repo, "ls").stdout.splitlines() if line.startswith(rid[:8])][0]
    assert head[:8] in row and "dirty" not in row
    subjects = git(repo, "log", "--format=%s", f"refs/runs/{rid}", "-3").splitlines()
    assert subjects[0] == f"run {rid[:12]}: code = commit {head[:12]}: python train.py"


def test_hooks_path_and_linked_worktree(repo: Path, tmp_path: Path) -> None:
    shared_hooks = tmp_path / "team-hooks"
    git(repo, "config", "core.hooksPath", str(shared_hooks))
    assert gitrun(repo, "hooks", "install").returncode == 0
    assert (shared_hooks / "pre-commit").exists() and not (repo / ".git" / "hooks" / "pre-commit").exists()
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "exp", str(wt))
    (wt / "train.py").write_text("print('exp')\n")
    assert gitrun(wt, "exec", "--", "python", "train.py").returncode == 0
    proc = commit(wt, "-am", "exp")
    assert "now reproducible" in proc.stderr
    git(repo, "config", "--unset", "core.hooksPath")
    proc = gitrun(wt, "hooks", "install")  # a linked worktree installs into the shared hooks
    assert proc.returncode == 0
    assert (repo / ".git" / "hooks" / "pre-commit").exists()


def test_merge_commits_run_the_checks(repo: Path) -> None:
    assert gitrun(repo, "hooks", "install").returncode == 0
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "side.txt").write_text("side\n")
    git(repo, "add", "side.txt")
    git(repo, "commit", "-qm", "side")
    git(repo, "checkout", "-q", "main")
    (repo / "README").write_text("main\n")
    git(repo, "commit", "-qam", "main")
    # A clean merge: pre-merge-commit and post-merge hooks.
    rid = dirty_run(repo, "print('during merge')\n")
    proc = subprocess.run(["git", "merge", "--no-edit", "side"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "uncommitted code this commit does not contain" in proc.stderr and rid[:8] in proc.stderr
    # A merge with a conflict, concluded by `git commit`: pre-commit and post-commit hooks.
    git(repo, "checkout", "-q", "--", "train.py")
    git(repo, "checkout", "-q", "-b", "other", "HEAD~2")
    (repo / "README").write_text("other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    assert subprocess.run(["git", "merge", "other"], cwd=repo, capture_output=True).returncode != 0
    (repo / "README").write_text("resolved\n")
    rid2 = dirty_run(repo, "print('resolving')\n")
    git(repo, "add", "README", "train.py")
    proc = commit(repo, "--no-edit")
    assert proc.returncode == 0, proc.stderr
    assert len(git(repo, "rev-list", "--parents", "-1", "HEAD").split()) == 3
    # The run was made from the resolved tree, which is exactly what the merge commit holds.
    assert "does not contain" not in proc.stderr
    assert record(repo, rid2)["code"]["reproducible_from"] == git(repo, "rev-parse", "HEAD").strip()


def test_the_pre_commit_framework_installs_and_runs_the_hooks(tmp_path: Path) -> None:
    # A local clone of this project (tracked and new files as they are now), as a team would pin it.
    src = tmp_path / "gitruns-src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((ROOT / rel).read_bytes())
            (src / rel).chmod((ROOT / rel).stat().st_mode)
    subprocess.run(["git", "init", "-q", str(src)], check=True)
    git(src, "add", "-A")
    git(src, "commit", "-qm", "gitruns")
    rev = git(src, "rev-parse", "HEAD").strip()
    repo = make_repo(tmp_path / "project", {"train.py": "print('t')\n"})
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {src}\n  rev: {rev}\n  hooks:\n  - id: gitruns-pre-commit\n  - id: gitruns-post-commit\n")
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-qm", "pre-commit config")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    pre_commit = [sys.executable, "-m", "pre_commit"]
    proc = subprocess.run([*pre_commit, "install", "--hook-type", "pre-commit", "--hook-type", "post-commit"],
                          cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([*pre_commit, "install-hooks"], cwd=repo, capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rid = dirty_run(repo, "print('tuned')\n")
    (repo / "README.md").write_text("notes\n")
    git(repo, "add", "README.md")
    proc = commit(repo, "-m", "notes only", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "uncommitted code this commit does not contain" in out and rid[:8] in out
    rid2 = dirty_run(repo, "print('tuned 2')\n")
    proc = commit(repo, "-am", "the tuned code", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 run(s) now reproducible from this commit" in proc.stdout + proc.stderr
    assert record(repo, rid2)["code"]["reproducible_from"] == git(repo, "rev-parse", "HEAD").strip()


def test_a_commit_made_while_the_run_runs_is_noted_when_it_ends(repo: Path) -> None:
    assert gitrun(repo, "hooks", "install").returncode == 0
    (repo / "train.py").write_text("print('long training')\n")
    wait = ("import os, time\nprint('ready', flush=True)\n"
            "for _ in range(600):\n    if os.path.exists('go'): break\n    time.sleep(0.05)\n")
    proc = subprocess.Popen(["git", "run", "exec", "--", "python", "-c", wait], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    rid = run_ids(repo)[-1]
    assert commit(repo, "-am", "the code of the running run").returncode == 0
    assert record(repo, rid)["status"] == "running"  # the hook left the running run alone
    (repo / "go").write_text("")
    proc.communicate(timeout=60)
    rec = record(repo, rid)
    assert rec["status"] == "succeeded"
    assert rec["code"]["reproducible_from"] == git(repo, "rev-parse", "HEAD").strip()
