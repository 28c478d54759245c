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
        (wt / "output.bin").write_text("made by the run\n")
    assert untouched(repo) == before
    # The worktree is kept for the next rerun, emptied of what the run made.
    assert len(_worktrees(repo)) == 2 and not (Path(path) / "output.bin").exists()
    assert git(Path(path), "status", "--porcelain=v1", "--untracked-files=all", "--ignored") == ""
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True).returncode == 0


def test_one_held_by_a_killed_process_is_cleaned_and_used_again(tmp_path: Path) -> None:
    from gitruns.repo import open_repo
    from gitruns.tempworktree import temporary_worktree

    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n", "b.py": "b\n"})
    r = open_repo(str(repo))
    head = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    # A process that died inside the block leaves its worktree dirty (and locked until it died).
    code = ("import os; from gitruns.repo import open_repo; from gitruns.tempworktree import temporary_worktree\n"
            f"cm = temporary_worktree(open_repo({str(repo)!r}), {head!r}, {tree!r}); p = cm.__enter__()\n"
            "open(os.path.join(p, 'junk.txt'), 'w').write('x'); open(os.path.join(p, 'a.py'), 'w').write('y')\n"
            "os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=repo).returncode == 9
    assert len(_worktrees(repo)) == 2
    with temporary_worktree(r, head, tree) as path:
        assert len(_worktrees(repo)) == 2  # the same one, taken again
        assert not (Path(path) / "junk.txt").exists() and (Path(path) / "a.py").read_text() == "pass\n"
        # Another use meanwhile (a sweep's second point) gets a worktree of its own.
        with temporary_worktree(r, head, tree) as other:
            assert other != path and len(_worktrees(repo)) == 3
    # git worktree prune leaves the kept ones alone (they are locked).
    git(repo, "worktree", "prune")
    assert len(_worktrees(repo)) == 3


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
