"""The temporary worktree that reruns, resumes and sweeps run in: it holds a run's
exact code, looks to git as the user's tree did, and leaves the user's alone."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitrun, latest, make_repo, record, untouched


def _worktrees(repo: Path) -> list[str]:
    return [line.split()[1] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def test_a_dirty_runs_code_comes_back_in_a_worktree_the_user_never_sees(tmp_path: Path) -> None:
    from gitruns.repo import open_repo
    from gitruns.staging import stage
    from gitruns.tempworktree import open_worktree, temporary_worktree

    repo = make_repo(tmp_path / "repo", {"train.py": "print(1)\n", "gone.py": "x\n", ".gitignore": "data/\n"})
    (repo / "train.py").write_text("print(2)\n")
    (repo / "gone.py").unlink()
    (repo / "new.py").write_text("new\n")
    (repo / "data").mkdir()
    (repo / "data" / "a.csv").write_text("1,2\n")
    assert gitrun(repo, "exec", "--", "true").returncode == 0
    rec = record(repo, latest(repo))
    # The user edits on meanwhile: the worktree still has the run's code.
    (repo / "train.py").write_text("print(3)\n")
    before = untouched(repo)
    r = open_repo(str(repo))
    with temporary_worktree(r, rec["code"]["commit"], rec["code"]["snapshot_tree"]) as path:
        wt = Path(path)
        assert (wt / "train.py").read_text() == "print(2)\n" and (wt / "new.py").read_text() == "new\n"
        assert not (wt / "gone.py").exists() and not (wt / "data").exists()
        status = git(wt, "status", "--porcelain=v1", "--untracked-files=all")
        assert sorted(status.splitlines()) == [" D gone.py", " M train.py", "?? new.py"]
        assert git(wt, "rev-parse", "HEAD").strip() == rec["code"]["commit"]
        assert open_worktree(path).root == os.path.normpath(path)
        assert stage(str(repo), path, "data") == "copy"
        assert (wt / "data" / "a.csv").read_text() == "1,2\n" and not (wt / "data").is_symlink()
        assert len(_worktrees(repo)) == 2
    assert untouched(repo) == before
    assert _worktrees(repo) == [str(repo)] and not os.path.exists(path)
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True).returncode == 0


def test_one_left_by_a_killed_process_is_removed_next_time(tmp_path: Path) -> None:
    from gitruns.repo import open_repo
    from gitruns.tempworktree import base_dir, temporary_worktree

    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n"})
    r = open_repo(str(repo))
    head = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    # A process that died inside the block leaves its worktree behind.
    code = ("import sys, os; from gitruns.repo import open_repo; from gitruns.tempworktree import temporary_worktree\n"
            f"cm = temporary_worktree(open_repo({str(repo)!r}), {head!r}, {tree!r}); cm.__enter__(); os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=repo).returncode == 9
    assert len(_worktrees(repo)) == 2 and len(os.listdir(base_dir(r))) == 1
    with temporary_worktree(r, head, tree):
        assert len(_worktrees(repo)) == 2  # the stale one went, this one came
    assert _worktrees(repo) == [str(repo)] and os.listdir(base_dir(r)) == []


def test_code_that_is_not_here_is_refused(tmp_path: Path) -> None:
    from gitruns.errors import GitrunsError
    from gitruns.repo import open_repo
    from gitruns.tempworktree import temporary_worktree

    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n"})
    with pytest.raises(GitrunsError, match="not in this repository"):
        with temporary_worktree(open_repo(str(repo)), "1" * 40, "2" * 40):
            pass


def test_a_run_that_deleted_a_directorys_files_and_made_an_executable(tmp_path: Path) -> None:
    from gitruns.repo import open_repo
    from gitruns.tempworktree import temporary_worktree

    repo = make_repo(tmp_path / "repo", {"pkg/only.py": "x\n", "run.sh": "echo hi\n", "keep.txt": "k\n"})
    (repo / "pkg" / "only.py").unlink()
    (repo / "pkg").rmdir()
    (repo / "run.sh").chmod(0o755)
    (repo / "link").symlink_to("keep.txt")
    assert gitrun(repo, "exec", "--", "true").returncode == 0
    rec = record(repo, latest(repo))
    with temporary_worktree(open_repo(str(repo)), rec["code"]["commit"], rec["code"]["snapshot_tree"]) as path:
        wt = Path(path)
        assert not (wt / "pkg").exists()
        assert os.access(wt / "run.sh", os.X_OK) and os.readlink(wt / "link") == "keep.txt"
        status = git(wt, "status", "--porcelain=v1", "--untracked-files=all")
        assert sorted(status.splitlines()) == [" D pkg/only.py", " M run.sh", "?? link"]
