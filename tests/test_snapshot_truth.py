"""The code snapshot tells the truth: a run is clean only if a commit holds exactly
the code that ran (issue 7).  Real repositories, real `git run` subprocesses, real
git-lfs."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import xxhash
from conftest import git, gitrun, latest, make_repo, record, run_ids, state, validate
from realparts import missing


def _digest(path: Path) -> str:
    return "xxh3_128:" + xxhash.xxh3_128_hexdigest(path.read_bytes())


def _tree_files(repo: Path, rid: str) -> list[str]:
    return [p for p in git(repo, "ls-tree", "-r", "--name-only", f"refs/runs/{rid}").split("\n")
            if p and not p.startswith(".gitruns/")]


def test_a_large_untracked_file_alone_makes_the_run_dirty(repo: Path) -> None:
    git(repo, "config", "gitruns.untrackedMaxSize", "10k")
    (repo / "weights.bin").write_bytes(os.urandom(50_000))
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    code = rec["code"]
    assert code["dirty"] is True
    assert [(e["path"], e["size"], e["digest"]) for e in code["untracked_large"]] == \
        [("weights.bin", 50_000, _digest(repo / "weights.bin"))]
    assert "weights.bin" not in _tree_files(repo, latest(repo))
    assert "warning: running on uncommitted changes" in proc.stderr
    git(repo, "config", "gitruns.dirty", "refuse")
    count = len(run_ids(repo))
    proc = gitrun(repo, "exec", "--", "python", "-c", "print('ran')")
    assert proc.returncode == 1 and "gitruns.dirty is 'refuse'" in proc.stderr
    assert proc.stdout == "" and len(run_ids(repo)) == count


def test_changes_inside_a_submodule_make_the_run_dirty_and_are_listed(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "X = 1\n", "other.py": "Y = 1\n"})
    repo = make_repo(tmp_path / "main", {"train.py": "print('t')\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-qm", "add lib")
    sub_head = git(repo / "lib", "rev-parse", "HEAD").strip()
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    assert record(repo)["code"]["dirty"] is False  # a clean submodule is clean
    (repo / "lib" / "lib.py").write_text("X = 2  # edited, not committed\n")
    (repo / "lib" / "new.py").write_text("Z = 3\n")
    before = state(repo)
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    assert state(repo) == before
    rec = record(repo)
    validate(rec)
    code = rec["code"]
    assert code["dirty"] is True
    [sub] = code["submodules"]
    assert sub["path"] == "lib" and sub["commit"] == sub_head and sub["dirty"] is True
    listed = {e["path"]: e for e in sub["changed_files"]}
    assert listed["lib/lib.py"]["digest"] == _digest(repo / "lib" / "lib.py")
    assert listed["lib/lib.py"]["status"] == "M"
    assert listed["lib/new.py"]["digest"] == _digest(repo / "lib" / "new.py")
    git(repo, "config", "gitruns.dirty", "refuse")
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 1


def test_a_clean_sparse_checkout_is_clean_and_keeps_the_files_outside_the_cone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "sparse", {"src/a.py": "A = 1\n", "data/big.txt": "outside\n", "top.txt": "t\n"})
    git(repo, "sparse-checkout", "set", "--cone", "src")
    assert not (repo / "data" / "big.txt").exists()
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    code = record(repo)["code"]
    assert code["dirty"] is False and code["changed_files"] == []
    assert code["snapshot_tree"] == git(repo, "rev-parse", "HEAD^{tree}").strip()
    (repo / "src" / "a.py").write_text("A = 2\n")
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    rid = latest(repo)
    code = record(repo, rid)["code"]
    assert code["dirty"] is True and code["changed_files"] == [{"path": "src/a.py", "status": "M"}]
    assert git(repo, "show", f"refs/runs/{rid}:data/big.txt") == "outside\n"


def test_a_clean_filter_is_applied_and_a_touched_file_stays_clean(repo: Path) -> None:
    # A plain clean filter (what LFS is, without a server): the repository holds upper case.
    git(repo, "config", "filter.upper.clean", "tr a-z A-Z")
    git(repo, "config", "filter.upper.smudge", "cat")
    (repo / ".gitattributes").write_text("*.up filter=upper\n")
    (repo / "notes.up").write_text("hello\n")
    git(repo, "add", ".gitattributes", "notes.up")
    git(repo, "commit", "-qm", "filtered")
    assert git(repo, "show", "HEAD:notes.up") == "HELLO\n"
    os.utime(repo / "notes.up", (1_000_000_000, 1_000_000_000))  # touched, unchanged
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    assert record(repo)["code"]["dirty"] is False
    (repo / "notes.up").write_text("hello again\n")
    (repo / "new.up").write_text("fresh\n")
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    rid = latest(repo)
    assert git(repo, "show", f"refs/runs/{rid}:notes.up") == "HELLO AGAIN\n"
    assert git(repo, "show", f"refs/runs/{rid}:new.up") == "FRESH\n"


def _lfs_env_ok() -> None:
    if shutil.which("git-lfs") is None:
        missing("git-lfs", "is not installed")


def test_git_lfs_files_are_stored_as_pointers_and_a_fresh_clone_is_clean(tmp_path: Path) -> None:
    _lfs_env_ok()
    git(tmp_path, "lfs", "install", "--skip-repo")  # in the test's own HOME
    origin = make_repo(tmp_path / "origin", {"train.py": "print(1)\n"})
    git(origin, "lfs", "track", "*.bin")
    (origin / "model.bin").write_bytes(b"raw checkpoint bytes " * 1000)
    git(origin, "add", ".gitattributes", "model.bin")
    git(origin, "commit", "-qm", "lfs")
    pointer = git(origin, "show", "HEAD:model.bin")
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1")
    # A fresh clone (git-lfs moves the objects over a file:// URL by itself).
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{origin}", str(clone))
    assert (clone / "model.bin").read_bytes() == b"raw checkpoint bytes " * 1000
    proc = gitrun(clone, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    assert record(clone)["code"]["dirty"] is False, record(clone)["code"]
    # Touched but unchanged: still clean (the clean filter gives the same pointer).
    os.utime(clone / "model.bin", (1_000_000_000, 1_000_000_000))
    assert gitrun(clone, "exec", "--", "python", "-c", "pass").returncode == 0
    assert record(clone)["code"]["dirty"] is False
    # Changed, and a new LFS file: the snapshot holds pointers, never raw bytes.
    (clone / "model.bin").write_bytes(b"new weights " * 5000)
    (clone / "extra.bin").write_bytes(b"more weights " * 5000)
    assert gitrun(clone, "exec", "--", "python", "-c", "pass").returncode == 0
    rid = latest(clone)
    for name in ("model.bin", "extra.bin"):
        stored = git(clone, "cat-file", "-p", f"refs/runs/{rid}:{name}")
        assert stored.startswith("version https://git-lfs.github.com/spec/v1"), stored[:80]
        assert int(git(clone, "cat-file", "-s", f"refs/runs/{rid}:{name}")) < 200


def test_a_tracked_gitruns_directory_is_refused_before_the_command_runs(repo: Path) -> None:
    (repo / ".gitruns").mkdir()
    (repo / ".gitruns" / "mine.txt").write_text("the user's own\n")
    git(repo, "add", ".gitruns")
    git(repo, "commit", "-qm", "own .gitruns")
    marker = repo / "ran"
    proc = gitrun(repo, "exec", "--", "python", "-c", f"open({str(marker)!r}, 'w')")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and ".gitruns" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists() and run_ids(repo) == []


def test_a_huge_untracked_tree_is_capped_listed_and_named(repo: Path) -> None:
    git(repo, "config", "gitruns.untrackedMaxFiles", "20")
    git(repo, "config", "gitruns.untrackedMaxTotal", "1m")
    venv = repo / "venv" / "lib"
    venv.mkdir(parents=True)
    for i in range(120):
        (venv / f"mod{i:03}.py").write_text(f"# module {i}\n")
    (repo / "notes.txt").write_text("small\n")
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    code = rec["code"]
    assert code["dirty"] is True
    stored = [p for p in _tree_files(repo, latest(repo)) if p not in ("README", "train.py")]
    assert len(stored) == len(code["untracked_files"]) <= 20
    listed = {e["path"]: e for e in code["untracked_large"]}
    assert len(stored) + len(listed) == 121
    some = next(p for p in listed)
    assert listed[some]["digest"] == _digest(repo / some)
    warning = proc.stderr
    assert "venv/" in warning and ".gitignore" in warning


def test_the_untracked_total_size_cap_holds(repo: Path) -> None:
    git(repo, "config", "gitruns.untrackedMaxSize", "100k")
    git(repo, "config", "gitruns.untrackedMaxTotal", "150k")
    for i in range(4):
        (repo / f"part{i}.dat").write_bytes(os.urandom(60_000))
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    code = record(repo)["code"]
    assert len(code["untracked_files"]) == 2
    assert sorted(e["path"] for e in code["untracked_large"]) == ["part2.dat", "part3.dat"]


def test_an_untracked_env_file_is_withheld_and_named(repo: Path) -> None:
    (repo / ".env").write_text("API_TOKEN=hunter2\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (repo / "notes.txt").write_text("fine\n")
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    files = _tree_files(repo, rid)
    assert ".env" not in files and "conf/server.pem" not in files and "notes.txt" in files
    assert "hunter2" not in git(repo, "log", "-p", f"refs/runs/{rid}")
    code = record(repo, rid)["code"]
    assert code["dirty"] is True
    assert sorted(code["untracked_withheld"]) == [".env", "conf/server.pem"]
    assert ".env" in proc.stderr and "conf/server.pem" in proc.stderr
    # Allowing dirty runs silences the dirty warning, not this one: code is missing.
    allowed = gitrun(repo, "exec", "--", "python", "-c", "pass", env={"GITRUNS_DIRTY": "allow"})
    assert allowed.returncode == 0, allowed.stderr
    assert "uncommitted changes" not in allowed.stderr
    assert ".env" in allowed.stderr and ".gitignore" in allowed.stderr


def test_the_private_index_follows_the_users_index(repo: Path) -> None:
    """Runs after runs: a file the user stops tracking leaves the snapshot, an
    intent-to-add file enters it, a conflict is taken as the file on disk, and the
    user's index is never written."""
    (repo / "secret_data.csv").write_text("a,b\n")
    git(repo, "add", "secret_data.csv")
    git(repo, "commit", "-qm", "data")
    for _ in range(2):
        assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
        assert record(repo)["code"]["dirty"] is False
    git(repo, "rm", "-q", "--cached", "secret_data.csv")
    (repo / ".gitignore").write_text("secret_data.csv\n")
    (repo / "later.py").write_text("L = 1\n")
    git(repo, "add", "-N", "later.py")
    before = state(repo)
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    assert state(repo) == before
    rid = latest(repo)
    files = _tree_files(repo, rid)
    assert "secret_data.csv" not in files
    assert git(repo, "show", f"refs/runs/{rid}:later.py") == "L = 1\n"
    code = record(repo, rid)["code"]
    assert {"path": "secret_data.csv", "status": "D"} in code["changed_files"]


def test_a_merge_conflict_is_snapshotted_as_the_file_on_disk(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "train.py").write_text("print('other')\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "train.py").write_text("print('main')\n")
    git(repo, "commit", "-qam", "main")
    git(repo, "merge", "-q", "other", check=False)
    on_disk = (repo / "train.py").read_text()
    assert "<<<<<<<" in on_disk
    before = state(repo)
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    assert state(repo) == before
    rid = latest(repo)
    assert git(repo, "show", f"refs/runs/{rid}:train.py") == on_disk
    assert record(repo, rid)["code"]["dirty"] is True


def _reference_tree(repo: Path, tmp_path: Path) -> str:
    """The tree plain git builds from the working tree: `git add -A` into a copy of the index."""
    import subprocess

    index = tmp_path / "reference-index"
    shutil.copy(repo / ".git" / "index", index)
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
    return subprocess.run(["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_runs_after_runs_on_a_dirty_tree_snapshot_what_git_add_would(repo: Path, tmp_path: Path) -> None:
    """Later runs reuse what earlier runs hashed (by stat data); the tree must stay
    exactly what `git add -A` builds, through edits, deletions and a file that
    becomes a directory."""
    (repo / "pkg").mkdir()
    (repo / "pkg" / "a.py").write_text("A = 1\n")
    (repo / "pkg" / "b.py").write_text("B = 1\n")
    (repo / "gone.py").write_text("G = 1\n")
    (repo / "becomes_dir").write_text("a file\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    (repo / "train.py").write_text("print('edited')\n")
    (repo / "gone.py").unlink()
    (repo / "pkg" / "b.py").unlink()
    (repo / "becomes_dir").unlink()
    (repo / "becomes_dir").mkdir()
    (repo / "becomes_dir" / "inner.py").write_text("I = 1\n")
    (repo / "new").mkdir()
    for i in range(30):
        (repo / "new" / f"n{i}.py").write_text(f"N = {i}\n")
    time.sleep(2.1)  # let the files age past the racy window, so the next runs may reuse hashes
    before = state(repo)
    trees = []
    for _ in range(3):
        assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
        trees.append(record(repo)["code"]["snapshot_tree"])
    assert state(repo) == before
    assert trees == [_reference_tree(repo, tmp_path)] * 3
    # Same size, new content: the stat data changed, so it is read again.
    (repo / "new" / "n1.py").write_text("N = 9\n")
    (repo / "pkg" / "a.py").unlink()  # the last file of a directory
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    rid = latest(repo)
    assert record(repo, rid)["code"]["snapshot_tree"] == _reference_tree(repo, tmp_path)
    assert git(repo, "show", f"refs/runs/{rid}:new/n1.py") == "N = 9\n"
    assert "pkg/a.py" not in _tree_files(repo, rid)


def test_concurrent_runs_each_snapshot_the_same_exact_tree(repo: Path, tmp_path: Path) -> None:
    import subprocess

    (repo / "train.py").write_text("print('edited')\n")
    (repo / "README").unlink()
    for i in range(20):
        (repo / f"u{i}.py").write_text(f"U = {i}\n")
    before = state(repo)
    procs = [subprocess.Popen(["git", "run", "exec", "--", "python", "-c", "pass"], cwd=repo,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    assert state(repo) == before
    ids = run_ids(repo)
    assert len(ids) == 6
    assert {record(repo, rid)["code"]["snapshot_tree"] for rid in ids} == {_reference_tree(repo, tmp_path)}
    leftovers = [n for n in os.listdir(repo / ".git" / "gitruns" / "snapshot-index") if n.startswith("run-")]
    assert leftovers == []


def test_a_submodules_own_index_is_never_written(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "X = 1\n"})
    repo = make_repo(tmp_path / "main", {"train.py": "print('t')\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-qm", "add lib")
    os.utime(repo / "lib" / "lib.py", (1_000_000_000, 1_000_000_000))  # touched: its index is stale
    sub_index = repo / ".git" / "modules" / "lib" / "index"
    before = sub_index.read_bytes()
    assert gitrun(repo, "exec", "--", "python", "-c", "pass").returncode == 0
    assert sub_index.read_bytes() == before
    assert record(repo)["code"]["dirty"] is False
