"""Sharing runs through git remotes and artifacts through stores, against real servers."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import xxhash
from conftest import _REPOS, git, gitrun, make_repo, on_a_terminal, record, run_ids, validate
from servers import S3, Sshd

MODEL = "import random; random.seed(1); open('model.bin', 'wb').write(random.randbytes(1_000_000))"


def clone(url: str, path: Path, *args: str) -> Path:
    subprocess.run(["git", "clone", "-q", *args, url, str(path)], check=True, capture_output=True)
    _REPOS.append(path)
    return path


def origin(tmp_path: Path) -> tuple[str, Path]:
    """A bare repository with one commit, and its file:// URL; it serves partial clones."""
    seed = make_repo(tmp_path / "seed", {"train.py": "print('training')\n", ".gitignore": "model.bin\n"})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    git(bare, "config", "uploadpack.allowFilter", "true")
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    _REPOS.append(bare)
    return f"file://{bare}", bare


def model_run(repo: Path) -> tuple[str, str]:
    """One run whose output model.bin is stored: its id and the model's digest."""
    assert gitrun(repo, "exec", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    rid = run_ids(repo)[-1]
    return rid, record(repo, rid)["artifacts"][0]["digest"]


def three_runs(a: Path) -> dict[str, str]:
    """A dirty run, a failed run and a run with a 1 MB artifact: name -> id."""
    ids = {}
    (a / "train.py").write_text("print('edited, not committed')\n")
    assert gitrun(a, "exec", "--name", "dirty", "--", "python", "train.py").returncode == 0
    ids["dirty"] = run_ids(a)[-1]
    git(a, "checkout", "--", "train.py")
    assert gitrun(a, "exec", "--name", "failed", "--", "python", "-c", "raise SystemExit(5)").returncode == 5
    ids["failed"] = run_ids(a)[-1]
    assert gitrun(a, "exec", "--name", "model", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    ids["model"] = run_ids(a)[-1]
    return ids


def ls_json(repo: Path, *args: str) -> list[dict]:
    proc = gitrun(repo, "ls", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def amend(repo: Path, rid: str, change: dict, message: str = "update") -> str:
    """A further commit on a run (as later verbs make), written with plain git plumbing."""
    rec = record(repo, rid)
    rec.update(change)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=json.dumps(rec, indent=2),
                          capture_output=True, text=True, check=True).stdout.strip()
    sub = git(repo, "ls-tree", f"refs/runs/{rid}:.gitruns")
    old_blob = git(repo, "rev-parse", f"refs/runs/{rid}:.gitruns/run.json").strip()
    sub_tree = subprocess.run(["git", "mktree"], cwd=repo, input=sub.replace(old_blob, blob), capture_output=True,
                              text=True, check=True).stdout.strip()
    top = git(repo, "ls-tree", f"refs/runs/{rid}")
    old_sub = git(repo, "rev-parse", f"refs/runs/{rid}:.gitruns").strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=top.replace(old_sub, sub_tree), capture_output=True,
                          text=True, check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-p", f"refs/runs/{rid}", "-m", message).strip()
    git(repo, "update-ref", f"refs/runs/{rid}", commit)
    return commit


def key_scenario(url: str, tmp_path: Path, store: tuple[str, str | None] | None = None) -> None:
    a = clone(url, tmp_path / "a")
    if store:
        git(a, "config", "remote.origin.gitrunsStore", store[0])
        if store[1]:
            git(a, "config", "remote.origin.gitrunsStoreEndpoint", store[1])
    ids = three_runs(a)
    assert {r["name"]: r["local_only"] for r in ls_json(a)} == {"dirty": True, "failed": True, "model": True}
    assert "local only" in gitrun(a, "ls").stdout
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr
    assert "pushed 3 run(s)" in proc.stdout and "uploaded 1 object(s)" in proc.stdout
    assert "\r" not in proc.stderr  # no progress drawing when piped
    assert {r["name"]: r["remotes"] for r in ls_json(a)} == {n: {"origin": "same"} for n in ids}
    assert gitrun(a, "push").stdout.startswith("origin: pushed 0 run(s), 3 already there")
    # The same artifact again: the store has it, so nothing is uploaded.
    assert gitrun(a, "exec", "--name", "again", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    again = gitrun(a, "push").stdout
    assert "pushed 1 run(s)" in again and "uploaded 0 object(s)" in again
    ids["again"] = run_ids(a)[-1]

    b = clone(url, tmp_path / "b")
    if store:
        git(b, "config", "remote.origin.gitrunsStore", store[0])
        if store[1]:
            git(b, "config", "remote.origin.gitrunsStoreEndpoint", store[1])
    proc = gitrun(b, "pull" if store is None else "fetch")
    assert proc.returncode == 0, proc.stderr
    assert "4 new run(s)" in proc.stdout
    theirs = {r["id"]: (r["name"], r["status"]) for r in ls_json(b)}
    assert theirs == {ids["dirty"]: ("dirty", "succeeded"), ids["failed"]: ("failed", "failed"),
                      ids["model"]: ("model", "succeeded"), ids["again"]: ("again", "succeeded")}
    for rid in ids.values():
        assert git(b, "rev-parse", f"refs/runs/{rid}") == git(a, "rev-parse", f"refs/runs/{rid}")
        validate(record(b, rid))
    diff = gitrun(b, "diff", ids["dirty"], ids["model"])
    assert diff.returncode == 0, diff.stderr
    assert "  ~ name: dirty -> model" in diff.stdout and "  M train.py" in diff.stdout
    assert git(b, "show", f"refs/runs/{ids['dirty']}:train.py") == "print('edited, not committed')\n"
    proc = gitrun(b, "checkout", ids["model"][:10])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "restored model.bin\n"
    expected = record(a, ids["model"])["artifacts"][0]["digest"]
    assert "xxh3_128:" + xxhash.xxh3_128_hexdigest((b / "model.bin").read_bytes()) == expected
    assert (b / "model.bin").read_bytes() == (a / "model.bin").read_bytes()
    assert gitrun(b, "checkout", ids["model"]).stdout == "artifacts already up to date\n"


def test_key_scenario_over_a_file_url_with_the_default_store(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    key_scenario(url, tmp_path)
    assert list((bare / "gitruns" / "cache" / "xxh3_128").iterdir())
    assert not list((bare / "gitruns" / "cache" / "tmp").iterdir())  # nothing half-uploaded left


def test_key_scenario_over_git_daemon_with_a_directory_store(tmp_path: Path, git_daemon: tuple[str, Path]) -> None:
    base_url, base = git_daemon
    _, bare = origin(tmp_path)
    os.rename(bare, base / "team.git")
    _REPOS.remove(bare)
    _REPOS.append(base / "team.git")
    shared = tmp_path / "shared-store"
    key_scenario(f"{base_url}/team.git", tmp_path, (str(shared), None))
    assert len(list((shared / "xxh3_128").rglob("*"))) >= 2


def test_key_scenario_with_an_sftp_store(tmp_path: Path, sshd: Sshd) -> None:
    url, _ = origin(tmp_path)
    store_dir = tmp_path / "sftp-store"
    key_scenario(url, tmp_path, (f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{store_dir}", None))
    assert list((store_dir / "xxh3_128").rglob("*"))


def test_sftp_store_refuses_an_unknown_host_key(tmp_path: Path, sshd: Sshd) -> None:
    url, _ = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    git(a, "config", "remote.origin.gitrunsStore", f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path}/s")
    assert gitrun(a, "exec", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    (Path(os.environ["HOME"]) / ".ssh" / "known_hosts").write_text("")
    proc = gitrun(a, "push")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "not in ~/.ssh/known_hosts" in proc.stderr
    assert run_ids(a) and git(a, "ls-remote", "origin", "refs/runs/*") == ""  # records wait for their artifacts


def test_key_scenario_with_an_s3_compatible_store(tmp_path: Path, s3_server: S3) -> None:
    url, _ = origin(tmp_path)
    key_scenario(url, tmp_path, (f"s3://{s3_server.bucket}/gitruns", s3_server.endpoint))
    import boto3

    listed = boto3.client("s3", endpoint_url=s3_server.endpoint).list_objects_v2(Bucket=s3_server.bucket)
    assert any(o["Key"].startswith("gitruns/xxh3_128/") for o in listed["Contents"])
    # Credentials stay out of records.
    a = tmp_path / "a"
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    assert git(a, "grep", "-c", "gitruns-test-secret", f"refs/runs/{run_ids(a)[-1]}", check=False) == ""


def test_two_clones_pushing_at_once_both_succeed(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    for repo in (a, b):
        for i in range(5):
            assert gitrun(repo, "exec", "-p", f"i={i}", "--", "python", "-c", "pass").returncode == 0
    procs = [subprocess.Popen(["git", "run", "push"], cwd=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in (a, b)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    remote_ids = sorted(line.split("refs/runs/")[1] for line in git(a, "ls-remote", "origin", "refs/runs/*").split("\n")
                        if line)
    assert remote_ids == sorted(run_ids(a) + run_ids(b))
    assert len(remote_ids) == 10


def _shared_column(repo: Path, rid: str) -> str:
    """The SHARED column of the run's row in `git run ls`."""
    lines = gitrun(repo, "ls").stdout.splitlines()
    assert lines[0].split()[-1] == "SHARED", lines[0]
    rows = [line.split() for line in lines[1:] if rid.startswith(line.split()[0])]
    assert len(rows) == 1, lines
    return rows[0][-1]


def test_updated_run_fast_forwards_and_diverged_run_is_never_overwritten(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    rid = run_ids(a)[0]
    assert gitrun(a, "push").returncode == 0
    assert "1 new run(s)" in gitrun(b, "fetch").stdout
    assert _shared_column(a, rid) == "origin"  # the same there
    first_update = amend(a, rid, {"tags": {"reviewed": "yes"}})
    assert _shared_column(a, rid) == "origin+"  # local updates not pushed yet
    assert "pushed 1 run(s)" in gitrun(a, "push").stdout
    proc = gitrun(b, "fetch")
    assert "1 updated" in proc.stdout
    assert git(b, "rev-parse", f"refs/runs/{rid}").strip() == first_update
    # Now both sides change the run.
    theirs = amend(a, rid, {"tags": {"reviewed": "twice"}}, "update in a")
    mine = amend(b, rid, {"tags": {"reviewed": "no"}}, "update in b")
    assert gitrun(a, "push").returncode == 0
    proc = gitrun(b, "push")
    assert proc.returncode == 1
    assert f"diverged (changed here and there; not overwritten): {rid}" in proc.stderr
    assert git(a, "ls-remote", "origin", f"refs/runs/{rid}").split()[0] == theirs
    proc = gitrun(b, "fetch")
    assert proc.returncode == 1 and "diverged" in proc.stderr
    assert git(b, "rev-parse", f"refs/runs/{rid}").strip() == mine


def test_remote_setup_lets_plain_git_carry_runs(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    proc = gitrun(a, "remote", "setup")
    assert proc.returncode == 0
    assert "added remote.origin.push refs/runs/*:refs/runs/*" in proc.stdout
    assert gitrun(a, "remote", "setup").stdout == "origin already carries runs\n"
    assert gitrun(b, "remote", "setup").returncode == 0
    assert gitrun(a, "exec", "--name", "plain", "--", "python", "-c", "pass").returncode == 0
    rid = run_ids(a)[0]
    (a / "new.txt").write_text("x\n")
    git(a, "add", "new.txt")
    git(a, "commit", "-qm", "more")
    subprocess.run(["git", "push", "-q"], cwd=a, check=True, capture_output=True)
    assert rid in git(a, "ls-remote", "origin", "refs/runs/*")
    assert git(a, "ls-remote", "origin", "refs/heads/main").split()[0] == git(a, "rev-parse", "HEAD").strip()
    subprocess.run(["git", "fetch", "-q"], cwd=b, check=True, capture_output=True)
    listed = ls_json(b)
    assert [(r["id"], r["source"]) for r in listed] == [(rid, "origin")]
    assert "origin only" in gitrun(b, "ls").stdout
    assert gitrun(b, "show", "plain").returncode == 0
    proc = gitrun(b, "push", "origin", rid[:10])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "only from a remote" in proc.stderr
    assert "1 new run(s)" in gitrun(b, "fetch").stdout
    assert run_ids(b) == [rid]


def test_ls_can_list_a_remotes_runs(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    assert gitrun(a, "exec", "--name", "shared", "--", "python", "-c", "pass").returncode == 0
    assert gitrun(a, "push").returncode == 0
    listed = ls_json(b, "--remote", "origin")
    assert [r["name"] for r in listed] == ["shared"]
    assert run_ids(b) == []  # listing a remote takes nothing in


def test_fetched_records_are_untrusted(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    good, digest = model_run(a)
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    evil = run_ids(a)[1]
    amend(a, evil, {"artifacts": [{"path": "../escape.bin", "source": "output", "status": "stored",
                                  "kind": "file", "size": 1_000_000, "digest": digest}]})
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    broken = run_ids(a)[2]
    amend(a, broken, {"status": "pwned"})
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")
    assert gitrun(a, "push").returncode == 0  # uploads the artifact
    proc = gitrun(b, "fetch")
    assert proc.returncode == 1
    assert f"invalid record, not taken: {broken}: run {broken}: invalid record at status" in proc.stderr
    assert broken not in run_ids(b) and evil in run_ids(b)
    proc = gitrun(b, "checkout", evil)
    assert proc.returncode == 2 and "refusing artifact path '../escape.bin'" in proc.stderr
    assert not (tmp_path / "escape.bin").exists()
    for bad in (str(tmp_path / "abs.bin"), ".git/hooks/pre-commit", "sub/.GIT/config", "a/./../../x.bin"):
        amend(a, evil, {"artifacts": [{"path": bad, "source": "output", "status": "stored",
                                      "kind": "file", "size": 1_000_000, "digest": digest}]})
        git(a, "push", "-q", "origin", f"refs/runs/{evil}")
        gitrun(b, "fetch")
        proc = gitrun(b, "checkout", evil)
        assert proc.returncode == 2 and f"refusing artifact path '{bad}'" in proc.stderr, proc.stderr
    assert not (tmp_path / "abs.bin").exists() and not (b / ".git" / "hooks" / "pre-commit").exists()
    # A symlink in the working tree must not carry a restore outside it.
    outside = tmp_path / "outside"
    outside.mkdir()
    assert gitrun(a, "exec", "-o", "out", "--", "python", "-c",
                  "import os; os.makedirs('out', exist_ok=True); open('out/m.bin', 'w').write('m')").returncode == 0
    assert gitrun(a, "push").returncode == 0
    gitrun(b, "fetch")
    (b / "out").symlink_to(outside)
    proc = gitrun(b, "checkout", run_ids(a)[-1])
    assert proc.returncode == 2 and "symlink" in proc.stderr
    assert list(outside.iterdir()) == []


def test_checkout_never_overwrites_a_modified_file_without_force(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    assert gitrun(a, "exec", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    rid = run_ids(a)[0]
    (a / "model.bin").write_bytes(b"my newer model")
    proc = gitrun(a, "checkout", rid)
    assert proc.returncode == 1 and "would overwrite modified files (use --force): model.bin" in proc.stderr
    assert (a / "model.bin").read_bytes() == b"my newer model"
    assert gitrun(a, "checkout", rid, "--force").stdout == "restored model.bin\n"
    assert len((a / "model.bin").read_bytes()) == 1_000_000
    (a / "model.bin").unlink()
    assert gitrun(a, "checkout", rid, "model.bin").stdout == "restored model.bin\n"
    proc = gitrun(a, "checkout", rid, "nope.bin")
    assert proc.returncode == 2 and "has no artifact at nope.bin" in proc.stderr
    # A damaged cache object is never restored.
    digest = record(a, rid)["artifacts"][0]["digest"].split(":")[1]
    obj = a / ".git" / "gitruns" / "cache" / "xxh3_128" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"bit rot")
    (a / "model.bin").unlink()
    proc = gitrun(a, "checkout", rid)
    assert proc.returncode == 1 and "is corrupt; not restoring model.bin" in proc.stderr
    assert not (a / "model.bin").exists() and not (a / "model.bin.gitruns-tmp").exists()


@pytest.mark.parametrize("args", [["push"], ["fetch"], ["pull"]])
def test_no_remote_is_one_line(repo: Path, args: list[str]) -> None:
    proc = gitrun(repo, *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no remotes" in proc.stderr


def _stderr_on_a_terminal(cwd: Path, *args: str) -> tuple[int, str]:
    status, seen = on_a_terminal(cwd, ["git", "run", *args], stdout=False, stderr=True)
    return status, seen.decode(errors="replace")


def test_long_work_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    (a / "big.bin").write_bytes(os.urandom(1024 * 1024) * 70)
    git(a, "config", "gitruns.dirty", "allow")
    code, err = _stderr_on_a_terminal(a, "exec", "-i", "big.bin", "-o", "big.bin", "--", "python", "-c", "pass")
    assert code == 0 and "hashing big.bin: " in err and "70.0 MiB, done" in err
    code, err = _stderr_on_a_terminal(a, "push")
    assert code == 0 and "uploading " in err and "\r" in err
    # Piped, the same work is silent.
    assert gitrun(a, "exec", "-q", "-i", "big.bin", "--", "python", "-c", "pass").stderr == ""


def test_full_logs_and_missing_outputs_across_clones(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    git(a, "config", "gitruns.logMaxSize", "8k")
    code = "for i in range(5000): print(f'step {i:05d}')"
    assert gitrun(a, "exec", "-o", "never.bin", "--", "python", "-c", code).returncode == 0
    rid = run_ids(a)[0]
    assert gitrun(a, "push").returncode == 0
    assert gitrun(b, "fetch").returncode == 0
    full = "".join(f"step {i:05d}\n" for i in range(5000))
    assert gitrun(b, "log", rid, "--stdout").stdout == full  # the whole stream, from the store
    proc = gitrun(b, "checkout", rid, "never.bin")
    assert proc.returncode == 2 and "declared never.bin but did not store it (missing)" in proc.stderr


def test_a_remote_given_as_a_relative_path_works_as_it_does_for_git(tmp_path: Path) -> None:
    """`git remote add origin ../origin.git` resolves from the working tree's top,
    for git run as for git push."""
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], check=True)
    a = make_repo(tmp_path / "a", {"train.py": "print(1)\n"})
    git(a, "remote", "add", "origin", "../origin.git")
    assert gitrun(a, "exec", "--", "true").returncode == 0
    rid = run_ids(a)[0]
    sub = a / "sub"
    sub.mkdir()
    pushed = gitrun(sub, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert git(tmp_path / "origin.git", "for-each-ref", "--format=%(refname)", "refs/runs/").split() == \
        [f"refs/runs/{rid}"]
    b = make_repo(tmp_path / "b", {"x": "y\n"})
    git(b, "remote", "add", "origin", "../origin.git")
    fetched = gitrun(b, "fetch")
    assert fetched.returncode == 0, fetched.stderr
    assert run_ids(b) == [rid]
