from __future__ import annotations

import os
import stat
from pathlib import Path

import xxhash
from conftest import git, gitrun, latest, make_repo, record, run_ids, state, validate


def test_exec_records_launch_and_end_as_two_commits_above_head(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    before = state(repo)
    proc = gitrun(repo, "exec", "--name", "baseline", "--tag", "team=vision", "--", "python", "train.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "training\n"
    assert state(repo) == before
    rid = latest(repo)
    rec = record(repo, rid)
    validate(rec)
    assert rec["status"] == "succeeded" and rec["exit_code"] == 0
    assert rec["name"] == "baseline" and rec["tags"] == {"team": "vision"}
    assert rec["command"] == ["python", "train.py"]
    assert rec["code"]["commit"] == head and rec["code"]["dirty"] is False
    assert rec["code"]["branch"] == "main"
    assert rec["cwd"] == "."
    assert rec["invoked_by"] == "manual"
    assert rec["started_at"].endswith("Z") and rec["ended_at"] >= rec["started_at"]
    # The ref's history is the timeline: launch (running) then end, above HEAD.
    subjects = git(repo, "log", "--format=%s", f"refs/runs/{rid}").splitlines()
    assert subjects[0].startswith(f"run {rid[:12]}: succeeded")
    assert subjects[1].startswith(f"run {rid[:12]}: running")
    assert subjects[2] == "initial"
    launch = git(repo, "rev-parse", f"refs/runs/{rid}~1").strip()
    assert git(repo, "rev-parse", f"refs/runs/{rid}~2").strip() == head
    launch_rec = git(repo, "cat-file", "-p", f"{launch}:.gitruns/run.json")
    assert '"status": "running"' in launch_rec
    assert git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/stdout.log") == "training\n"
    # The code in the run commit is exactly HEAD's tree plus .gitruns/.
    assert git(repo, "diff", "--stat", "HEAD", f"refs/runs/{rid}", "--", ".", ":!.gitruns") == ""


def test_exit_code_is_passed_through_and_failure_recorded(repo: Path) -> None:
    # Not 3: that is also gitruns' own exit code for a bug, which must not pass for this.
    proc = gitrun(repo, "exec", "--", "python", "-c", "import sys; print('boom', file=sys.stderr); sys.exit(7)")
    assert proc.returncode == 7 and "internal error" not in proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 7
    assert rec["error"]["message"] == "command exited with code 7"
    assert "boom" in rec["error"]["stderr_tail"]


def test_command_killed_by_signal_exits_128_plus_n(repo: Path) -> None:
    proc = gitrun(repo, "exec", "--", "python", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert proc.returncode == 128 + 9
    rec = record(repo)
    assert rec["status"] == "failed" and rec["signal"] == "SIGKILL" and rec["exit_code"] == 137


def test_command_not_found_or_not_executable_is_a_failed_run(repo: Path) -> None:
    proc = gitrun(repo, "exec", "--", "no-such-program-xyz", "--flag")
    assert proc.returncode == 127
    assert "command not found: no-such-program-xyz" in proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["error"]["type"] == "launch"
    script = repo / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    proc = gitrun(repo, "exec", "--", "./script.sh")
    assert proc.returncode == 126
    assert record(repo)["status"] == "failed"


def test_dirty_tree_snapshot_holds_exact_code_and_user_state_is_untouched(repo: Path) -> None:
    (repo / ".gitignore").write_text("ignored.txt\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    (repo / "train.py").write_text("print('edited')\n")
    (repo / "notes.txt").write_text("untracked and small\n")
    (repo / "ignored.txt").write_text("never stored\n")
    (repo / "big.bin").write_bytes(os.urandom(300_000))
    (repo / "README").unlink()
    git(repo, "config", "gitruns.untrackedMaxSize", "100k")
    before = state(repo)
    proc = gitrun(repo, "exec", "--", "python", "train.py")
    assert proc.returncode == 0
    assert "warning: running on uncommitted changes" in proc.stderr
    # The warning, then the final line naming the run.
    assert len(proc.stderr.strip().splitlines()) == 2
    assert proc.stderr.splitlines()[1].startswith(f"gitruns: run {latest(repo)[:8]}")
    assert " succeeded in " in proc.stderr.splitlines()[1]
    assert state(repo) == before
    rid = latest(repo)
    rec = record(repo, rid)
    code = rec["code"]
    assert code["dirty"] is True
    assert {"path": "train.py", "status": "M"} in code["changed_files"]
    assert {"path": "README", "status": "D"} in code["changed_files"]
    assert code["untracked_files"] == ["notes.txt"]
    digest = "xxh3_128:" + xxhash.xxh3_128_hexdigest((repo / "big.bin").read_bytes())
    assert code["untracked_large"] == [{"path": "big.bin", "size": 300_000, "digest": digest}]
    files = git(repo, "ls-tree", "-r", "--name-only", f"refs/runs/{rid}").split()
    assert "notes.txt" in files and "big.bin" not in files and "ignored.txt" not in files
    assert "README" not in files
    assert git(repo, "show", f"refs/runs/{rid}:train.py") == "print('edited')\n"
    diff = git(repo, "diff", "--name-status", "HEAD", f"refs/runs/{rid}", "--", ".", ":!.gitruns")
    assert sorted(diff.split("\n")[:-1]) == ["A\tnotes.txt", "D\tREADME", "M\ttrain.py"]
    assert git(repo, "rev-parse", f"refs/runs/{rid}^{{tree}}:") != code["snapshot_tree"]
    assert git(repo, "rev-parse", f"{code['snapshot_tree']}:train.py").strip() == \
        git(repo, "rev-parse", f"refs/runs/{rid}:train.py").strip()


def test_staged_changes_and_executable_bits_are_in_the_snapshot(repo: Path) -> None:
    (repo / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(repo / "run.sh", 0o755)
    git(repo, "add", "run.sh")
    before = state(repo)
    assert gitrun(repo, "exec", "--", "./run.sh").returncode == 0
    assert state(repo) == before
    assert "100755 blob" in git(repo, "ls-tree", f"refs/runs/{latest(repo)}", "run.sh")
    assert {"path": "run.sh", "status": "A"} in record(repo)["code"]["changed_files"]


def test_dirty_policy_refuse_and_allow(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    git(repo, "config", "gitruns.dirty", "refuse")
    proc = gitrun(repo, "exec", "--", "python", "train.py")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "gitruns.dirty is 'refuse'" in proc.stderr
    assert proc.stdout == "" and run_ids(repo) == []
    git(repo, "config", "gitruns.dirty", "allow")
    proc = gitrun(repo, "exec", "-q", "--", "python", "train.py")
    assert proc.returncode == 0 and proc.stderr == ""
    proc = gitrun(repo, "exec", "--", "python", "train.py", env={"GITRUNS_DIRTY": "warn"})
    assert "warning" in proc.stderr


def test_repo_without_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fresh", {"a.py": "print(1)\n"}, commit=False)
    proc = gitrun(repo, "exec", "--", "python", "a.py")
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    rec = record(repo, rid)
    validate(rec)
    assert rec["code"]["commit"] is None and rec["code"]["branch"] == "main" and rec["code"]["dirty"] is True
    # The launch commit has no parent; the end commit has the launch as its only parent.
    assert git(repo, "rev-list", "--count", f"refs/runs/{rid}").strip() == "2"
    assert git(repo, "show", f"refs/runs/{rid}:a.py") == "print(1)\n"
    assert git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False) == ""


def test_detached_head_subdirectory_and_linked_worktree(repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach")
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    proc = gitrun(sub, "exec", "--", "python", "-c", "import os; print(os.getcwd())")
    assert proc.stdout.strip() == str(sub)
    rec = record(repo)
    assert rec["cwd"] == "src/pkg"
    assert rec["code"]["branch"] is None and rec["code"]["detached"] is True and rec["code"]["commit"] == head
    git(repo, "checkout", "-q", "main")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "exp", str(wt))
    (wt / "train.py").write_text("print('in worktree')\n")
    (wt / "out.txt").write_text("result\n")
    wt_index_before = git(wt, "status", "--porcelain")
    proc = gitrun(wt, "exec", "-o", "out.txt", "--", "python", "train.py")
    assert proc.returncode == 0 and proc.stdout == "in worktree\n"
    assert git(wt, "status", "--porcelain") == wt_index_before
    rid = latest(repo)  # runs of every worktree live in the shared repository
    rec = record(repo, rid)
    assert rec["code"]["branch"] == "exp"
    assert git(repo, "show", f"refs/runs/{rid}:train.py") == "print('in worktree')\n"
    digest = rec["artifacts"][0]["digest"]
    hexpart = digest.split(":")[1]
    assert (repo / ".git" / "gitruns" / "cache" / "xxh3_128" / hexpart[:2] / hexpart[2:]).exists()


def test_submodule_commit_is_recorded(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "X = 1\n"})
    repo = make_repo(tmp_path / "main", {"train.py": "print('t')\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-qm", "add lib")
    (repo / "lib" / "lib.py").write_text("X = 2\n")
    git(repo / "lib", "commit", "-qam", "bump")
    sub_head = git(repo / "lib", "rev-parse", "HEAD").strip()
    proc = gitrun(repo, "exec", "--", "python", "train.py")
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    rec = record(repo, rid)
    assert rec["code"]["submodules"] == [{"path": "lib", "commit": sub_head, "dirty": False}]
    assert rec["code"]["dirty"] is True
    assert f"160000 commit {sub_head}\tlib" in git(repo, "ls-tree", f"refs/runs/{rid}", "lib")


def test_outputs_go_to_the_read_only_cache_and_missing_ones_are_recorded(repo: Path) -> None:
    code = (
        "import os\n"
        "os.makedirs('out/sub', exist_ok=True)\n"
        "open('model.bin', 'wb').write(b'weights' * 1000)\n"
        "open('out/a.txt', 'w').write('a')\n"
        "open('out/sub/b.txt', 'w').write('b')\n"
    )
    proc = gitrun(repo, "exec", "-o", "model.bin", "-o", "out", "-o", "never.txt", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    by_path = {a["path"]: a for a in rec["artifacts"]}
    model = by_path["model.bin"]
    assert model["status"] == "stored" and model["size"] == 7000
    assert model["digest"] == "xxh3_128:" + xxhash.xxh3_128_hexdigest(b"weights" * 1000)
    hexpart = model["digest"].split(":")[1]
    cached = repo / ".git" / "gitruns" / "cache" / "xxh3_128" / hexpart[:2] / hexpart[2:]
    assert cached.read_bytes() == b"weights" * 1000
    assert not stat.S_IMODE(cached.stat().st_mode) & 0o222
    assert (repo / "model.bin").stat().st_mode & stat.S_IWUSR  # the user's file stays writable
    assert by_path["out"]["kind"] == "dir" and by_path["out"]["files"] == 2 and by_path["out"]["size"] == 2
    assert by_path["never.txt"]["status"] == "missing" and by_path["never.txt"]["digest"] is None
    assert rec["status"] == "succeeded"
    # Nothing large went into git objects.
    assert "model.bin" not in git(repo, "ls-tree", "-r", "--name-only", f"refs/runs/{latest(repo)}")


def test_output_paths_outside_the_working_tree_are_refused(repo: Path, tmp_path: Path) -> None:
    for bad in ("../escape.txt", str(tmp_path / "elsewhere.txt")):
        proc = gitrun(repo, "exec", "-o", bad, "--", "python", "-c", "pass")
        assert proc.returncode == 2
        assert proc.stderr.startswith("git run: error: -o") and proc.stderr.count("\n") == 1
    assert run_ids(repo) == []


def test_an_unusable_cache_is_recorded_not_a_lost_run(repo: Path) -> None:
    (repo / "blocker").write_text("a file where the cache directory should be\n")
    git(repo, "config", "gitruns.cacheDir", str(repo / "blocker" / "cache"))
    proc = gitrun(repo, "exec", "-o", "model.bin", "--", "python", "-c", "open('model.bin', 'w').write('m')")
    assert proc.returncode == 0
    rec = record(repo)
    validate(rec)
    # An output that was declared but could not be kept fails the run; the command's code stays.
    assert rec["status"] == "failed" and rec["exit_code"] == 0
    assert rec["artifacts"][0]["status"] == "error" and "cannot create artifact cache" in rec["artifacts"][0]["error"]
    assert rec["artifacts"][0]["digest"] == "xxh3_128:" + xxhash.xxh3_128_hexdigest(b"m")
    assert rec["error"]["type"] == "storage"
    assert "gitruns: error: output model.bin was not stored" in proc.stderr
    # A log too big for git needs the cache as well: the outcome is still recorded.
    git(repo, "config", "gitruns.logMaxSize", "1k")
    proc = gitrun(repo, "exec", "--", "python", "-c", "print('x' * 10000); raise SystemExit(4)")
    assert proc.returncode == 4
    assert "gitruns: error: the full stdout (10001 bytes) was not stored" in proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "failed" and rec["exit_code"] == 4
    assert rec["error"]["message"].startswith("command exited with code 4")
    assert "cannot create artifact cache" in rec["error"]["record_problems"][0]
    assert rec["logs"]["stdout"]["truncated"] is True


def test_snapshot_keeps_symlinks_unicode_names_and_attributes_filters(repo: Path) -> None:
    (repo / "data link").symlink_to("README")
    (repo / "résumé ✓.txt").write_text("unicode name\n")
    (repo / ".gitattributes").write_text("*.txt text eol=lf\n")
    (repo / "crlf.txt").write_bytes(b"line one\r\nline two\r\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    before = state(repo)
    proc = gitrun(repo, "exec", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    assert state(repo) == before
    rid = latest(repo)
    assert "120000 blob" in git(repo, "ls-tree", f"refs/runs/{rid}", "data link")
    assert git(repo, "cat-file", "-p", f"refs/runs/{rid}:data link") == "README"
    assert git(repo, "show", f"refs/runs/{rid}:résumé ✓.txt") == "unicode name\n"
    # Stored as `git add` would store it: the eol=lf attribute applies.
    assert git(repo, "cat-file", "-p", f"refs/runs/{rid}:crlf.txt") == "line one\nline two\n"
    assert sorted(record(repo, rid)["code"]["untracked_files"]) == ["crlf.txt", "data link", "résumé ✓.txt"]
