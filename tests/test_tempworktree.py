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


def _tree_with(repo: Path, name: str, data: bytes, mode: str = "100644") -> str:
    """HEAD's tree plus one entry, made with plain git (as a crafted pushed run could hold)."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True,
                          check=True).stdout.decode().strip()
    kind = "tree" if mode == "040000" else "blob"
    if kind == "tree":
        blob = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\tconfig\n".encode(),
                              capture_output=True, check=True).stdout.decode().strip()
    listing = git(repo, "ls-tree", "HEAD") + f"{mode} {kind} {blob}\t{name}\n"
    return subprocess.run(["git", "mktree"], cwd=repo, input=listing.encode(), capture_output=True,
                          check=True).stdout.decode().strip()


@pytest.mark.parametrize("name,mode", [(".git", "100644"), (".GIT", "100644"), (".git", "040000"),
                                       (".gitmodules", "120000")])
def test_a_crafted_code_tree_cannot_reach_the_users_repository(tmp_path: Path, name: str, mode: str) -> None:
    """A run pushed by someone else names the code it ran by tree; a `.git` entry in
    that tree would replace the kept worktree's own `.git` file, and git commands run
    there (reset --hard) would then act on the user's repository: refused (review)."""
    from gitruns.errors import PathError
    from gitruns.repo import open_repo
    from gitruns.tempworktree import temporary_worktree

    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n"})
    git(repo, "commit", "-q", "--allow-empty", "-m", "the user's work")
    (repo / "staged.txt").write_text("s\n")
    git(repo, "add", "staged.txt")
    before = untouched(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    evil = _tree_with(repo, name, f"gitdir: {repo / '.git'}\n".encode(), mode)
    r = open_repo(str(repo))
    with pytest.raises(PathError, match="refusing the run's code"):
        with temporary_worktree(r, head, evil):
            pass
    # The next, honest use works in a sound worktree, and the user's repository is as it was.
    with temporary_worktree(r, head, git(repo, "rev-parse", "HEAD^{tree}").strip()) as path:
        assert (Path(path) / ".git").is_file() and "worktrees/pool-" in (Path(path) / ".git").read_text()
    assert untouched(repo) == before
    git(repo, "prune", "--expire=now")  # the crafted objects would fail the fsck every test ends with


def test_a_dirty_runs_code_fetched_from_a_remote_is_rebuilt_from_its_commit(tmp_path: Path) -> None:
    """A dirty run's snapshot tree is not an object of its own on the remote: only its
    entries are, in the run commit's tree beside .gitruns (review)."""
    repo = make_repo(tmp_path / "repo", {"t.py": "print(1)\n"})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    git(repo, "remote", "add", "origin", str(bare))
    (repo / "t.py").write_text("print(2)\n")
    assert gitrun(repo, "exec", "--", "python", "t.py").returncode == 0
    assert gitrun(repo, "push").returncode == 0
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    assert gitrun(clone, "fetch").returncode == 0
    rid = latest(repo)
    tree = record(repo, rid)["code"]["snapshot_tree"]
    assert subprocess.run(["git", "cat-file", "-e", tree], cwd=clone).returncode != 0  # not here as an object
    proc = gitrun(clone, "rerun", rid)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2\n"  # the run's code, its uncommitted change included


def test_a_worktree_a_leftover_process_works_in_is_not_handed_out(tmp_path: Path) -> None:
    """The command of a rerun whose git-run was killed lives on in its worktree; the
    next rerun must not share it (its output would land in the new run: review)."""
    from gitruns.repo import open_repo
    from gitruns.tempworktree import temporary_worktree

    repo = make_repo(tmp_path / "repo", {"a.py": "pass\n"})
    r = open_repo(str(repo))
    head = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    with temporary_worktree(r, head, tree) as first:
        leftover = subprocess.Popen(["sleep", "60"], cwd=first)
    try:
        with temporary_worktree(r, head, tree) as second:
            assert second != first
    finally:
        leftover.kill()
        leftover.wait()
    with temporary_worktree(r, head, tree) as third:
        assert third == first  # free again
