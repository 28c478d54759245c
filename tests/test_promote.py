"""`git run promote`, `verify` and `checkout --promoted`, checked with plain git."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git, gitrun, make_repo, run_ids, untouched

TRACK = "refs/gitruns/remotes/"
MODEL = "import sys; open('model.txt', 'w').write(sys.argv[1])"


def _repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"train.py": MODEL + "\n", ".gitignore": "model.txt\n"})


def _run(repo: Path, content: str, ok: bool = True) -> str:
    before = set(run_ids(repo))
    argv = ["exec", "-o", "model.txt", "--", "python", "train.py", content]
    if not ok:
        argv = ["exec", "-o", "model.txt", "--", "python", "-c", MODEL + "; sys.exit(1)", content]
    proc = gitrun(repo, *argv)
    assert proc.returncode == (0 if ok else 1), proc.stderr
    (new,) = set(run_ids(repo)) - before
    return new


def _promoted(repo: Path, name: str) -> dict:
    return json.loads(git(repo, "cat-file", "-p", f"refs/promoted/{name}:.gitruns/promotion.json"))


def _ref(repo: Path, name: str) -> str:
    return git(repo, "for-each-ref", "--format=%(objectname)", f"refs/promoted/{name}").strip()


def test_promote_then_promote_again_keeps_the_history(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _run(repo, "v1")
    second = _run(repo, "v2")
    before = untouched(repo)
    proc = gitrun(repo, "promote", first[:10], "model.txt", "--as", "prod-model", "--reason", "best so far")
    assert proc.returncode == 0, proc.stderr
    assert "prod-model" in proc.stdout
    rec = _promoted(repo, "prod-model")
    assert rec["run"] == first and rec["reason"] == "best so far" and rec["retired"] is None
    assert rec["artifact"]["path"] == "model.txt"
    run_rec = json.loads(git(repo, "cat-file", "-p", f"refs/runs/{first}:.gitruns/run.json"))
    assert rec["artifact"]["digest"] == run_rec["artifacts"][0]["digest"]
    assert rec["run_commit"] == git(repo, "rev-parse", f"refs/runs/{first}").strip()
    # The tree holds only the record; the run is reachable from the promotion.
    assert git(repo, "ls-tree", "-r", "--name-only", "refs/promoted/prod-model").split() == [
        ".gitruns/promotion.json"]
    git(repo, "merge-base", "--is-ancestor", f"refs/runs/{first}", "refs/promoted/prod-model")
    body = git(repo, "log", "-1", "--format=%B", "refs/promoted/prod-model")
    assert f"Promoted-Run: {first}" in body and f"Promoted-Digest: {rec['artifact']['digest']}" in body

    proc = gitrun(repo, "promote", second, "model.txt", "--as", "prod-model", "--reason", "retrained", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["run"] == second and out["previous"] and out["signed"] is False
    assert out["commit"] == _ref(repo, "prod-model")
    subjects = git(repo, "log", "--first-parent", "--format=%s", "refs/promoted/prod-model").splitlines()
    assert subjects[:2] == [f"promote prod-model: run {second[:12]} model.txt",
                            f"promote prod-model: run {first[:12]} model.txt"]
    parents = git(repo, "log", "-1", "--format=%P", "refs/promoted/prod-model").split()
    assert parents == [out["previous"], git(repo, "rev-parse", f"refs/runs/{second}").strip()]
    git(repo, "merge-base", "--is-ancestor", f"refs/runs/{second}", "refs/promoted/prod-model")
    assert untouched(repo) == before

    listing = gitrun(repo, "promote", "--list")
    assert listing.returncode == 0 and listing.stderr == ""
    assert "prod-model" in listing.stdout and second[:12] in listing.stdout and "retrained" in listing.stdout
    as_json = json.loads(gitrun(repo, "promote", "--list", "--json").stdout)
    assert [(p["name"], p["run"]) for p in as_json] == [("prod-model", second)]


def test_promote_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    failed = _run(repo, "bad", ok=False)
    before = untouched(repo)
    cases = [
        (["promote", "nosuchrun", "model.txt", "--as", "m", "--reason", "r"], 2, "no run matches"),
        (["promote", rid, "other.txt", "--as", "m", "--reason", "r"], 2, "no artifact at other.txt"),
        (["promote", rid, "model.txt", "--as", "a..b", "--reason", "r"], 2, "bad promotion name"),
        (["promote", rid, "model.txt", "--as", "with space", "--reason", "r"], 2, "bad promotion name"),
        (["promote", rid, "model.txt", "--as", "m"], 2, "missing --reason"),
        (["promote", rid, "model.txt", "--as", "m", "--reason", " "], 2, "--reason is empty"),
        (["promote", failed, "model.txt", "--as", "m", "--reason", "r"], 1, "only a succeeded run"),
    ]
    for argv, code, words in cases:
        proc = gitrun(repo, *argv)
        assert proc.returncode == code, (argv, proc.stderr)
        assert words in proc.stderr, (argv, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert git(repo, "for-each-ref", "refs/promoted/") == ""
    assert untouched(repo) == before


def test_promote_refuses_an_artifact_in_no_store(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    shutil.rmtree(repo / ".git" / "gitruns" / "cache")
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "m", "--reason", "r")
    assert proc.returncode == 1 and "neither the local artifact cache nor" in proc.stderr
    assert git(repo, "for-each-ref", "refs/promoted/") == ""


def test_verify_without_the_artifact_in_the_cache_fails(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "m", "--reason", "r").returncode == 0
    proc = gitrun(repo, "verify", "m")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unsigned" in proc.stdout and "local cache" in proc.stdout
    digest = _promoted(repo, "m")["artifact"]["digest"]
    shutil.rmtree(repo / ".git" / "gitruns" / "cache")
    proc = gitrun(repo, "verify", "m", "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["artifact"] == "missing"
    proc = gitrun(repo, "verify", "m")
    assert proc.returncode == 1 and f"FAIL  {digest} is not in the local cache" in proc.stdout
    assert gitrun(repo, "verify", "m", "--require-signature").returncode == 1
    proc = gitrun(repo, "verify", "nothere")
    assert proc.returncode == 2 and "no promotion named 'nothere'" in proc.stderr


def test_verify_refuses_a_record_written_by_hand(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "m", "--reason", "r").returncode == 0
    rec = _promoted(repo, "m")
    # A forged promotion: the record claims an artifact path outside the working tree.
    forged = dict(rec, artifact=dict(rec["artifact"], path="../../etc/passwd"))
    _plant(repo, "m", forged)
    proc = gitrun(repo, "verify", "m")
    assert proc.returncode == 1 and "FAIL  record refused" in proc.stdout
    # Another forgery: a valid record naming a digest the run never produced.
    other = dict(rec, artifact=dict(rec["artifact"], digest="xxh3_128:" + "0" * 32))
    _plant(repo, "m", other)
    proc = gitrun(repo, "verify", "m")
    assert proc.returncode == 1 and "has no artifact model.txt with digest" in proc.stdout
    (repo / "model.txt").unlink()
    proc = gitrun(repo, "checkout", "--promoted", "m")  # held to what the run recorded, before any cache
    assert proc.returncode == 1 and "has no artifact model.txt with digest" in proc.stderr
    assert not (repo / "model.txt").exists()
    _plant(repo, "m", forged)
    proc = gitrun(repo, "checkout", "--promoted", "m")
    assert proc.returncode == 1 and "invalid promotion record" in proc.stderr
    listing = gitrun(repo, "promote", "--list")
    assert listing.returncode == 0 and "no promotions" in listing.stdout
    assert "skipping promotion m:" in listing.stderr and len(listing.stderr.splitlines()) == 1


def _plant(repo: Path, name: str, rec: dict) -> None:
    raw = json.dumps(rec).encode()
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=raw, capture_output=True,
                          check=True).stdout.decode().strip()
    sub = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\tpromotion.json\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=f"040000 tree {sub}\t.gitruns\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-p", f"refs/promoted/{name}", "-p", rec["run_commit"],
                 "-m", "forged").strip()
    git(repo, "update-ref", f"refs/promoted/{name}", commit)


def test_checkout_promoted_restores_and_refuses_to_overwrite(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    _run(repo, "v2")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "models/prod", "--reason", "r").returncode == 0
    assert (repo / "model.txt").read_text() == "v2"
    proc = gitrun(repo, "checkout", "--promoted", "models/prod")
    assert proc.returncode == 1 and "would overwrite modified files" in proc.stderr
    assert (repo / "model.txt").read_text() == "v2"
    proc = gitrun(repo, "checkout", "--promoted", "models/prod", "--force")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "model.txt").read_text() == "v1"
    (repo / "model.txt").unlink()
    proc = gitrun(repo, "checkout", "--promoted", "refs/promoted/models/prod", "model.txt", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["written"] == ["model.txt"]
    assert (repo / "model.txt").read_text() == "v1"
    proc = gitrun(repo, "checkout", "--promoted", "models/prod", "other.txt")
    assert proc.returncode == 2 and "no artifact at other.txt" in proc.stderr
    # A retired promotion still restores, with a warning.
    assert gitrun(repo, "retire", "models/prod", "--reason", "leaked test data").returncode == 0
    (repo / "model.txt").unlink()
    proc = gitrun(repo, "checkout", "--promoted", "models/prod")
    assert proc.returncode == 0 and "was retired" in proc.stderr and "leaked test data" in proc.stderr
    assert (repo / "model.txt").read_text() == "v1"


def _ssh_signing(repo: Path, tmp_path: Path) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ada@example.com {(tmp_path / 'key.pub').read_text().strip()}\n")
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingKey", str(key))
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_ssh_signed_promotion_verifies(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    _ssh_signing(repo, tmp_path)
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "signed", "--reason", "r", "-S", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["signed"] is True
    git(repo, "verify-commit", "refs/promoted/signed")
    proc = gitrun(repo, "verify", "signed", "--require-signature")
    assert proc.returncode == 0, proc.stdout
    assert "signature: good" in proc.stdout
    # commit.gpgSign signs too; --no-sign does not.
    git(repo, "config", "commit.gpgSign", "true")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "bycfg", "--reason", "r").returncode == 0
    git(repo, "verify-commit", "refs/promoted/bycfg")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "plain", "--reason", "r", "--no-sign").returncode == 0
    proc = gitrun(repo, "verify", "plain")
    assert proc.returncode == 0 and "signature: unsigned" in proc.stdout
    assert gitrun(repo, "verify", "plain", "--require-signature").returncode == 1
    # Without the allowed signers, git cannot check it: said, not a failure unless required.
    git(repo, "config", "--unset", "gpg.ssh.allowedSignersFile")
    proc = gitrun(repo, "verify", "signed")
    assert proc.returncode == 0 and "signature: unknown key" in proc.stdout
    # A signed commit whose content was changed: the signature no longer holds.
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(tmp_path / "allowed_signers"))
    raw = subprocess.run(["git", "cat-file", "commit", "refs/promoted/signed"], cwd=repo, capture_output=True,
                         check=True).stdout
    tampered = raw.replace(b"promote signed:", b"promote SIGNED:")
    oid = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo, input=tampered,
                         capture_output=True, check=True).stdout.decode().strip()
    git(repo, "update-ref", "refs/promoted/signed", oid)
    proc = gitrun(repo, "verify", "signed")
    assert proc.returncode == 1 and "signature: bad" in proc.stdout


def test_a_signing_failure_moves_no_ref(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingKey", str(tmp_path / "no-such-key"))
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "m", "--reason", "r", "--sign")
    assert proc.returncode == 1 and "could not sign the promotion commit" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert git(repo, "for-each-ref", "refs/promoted/") == ""


def test_promote_where_records_the_criteria(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    code = "import json; open('model.txt','w').write('m'); json.dump({'acc': 0.93, 'loss': 0.2}, open('m.json','w'))"
    (repo / "score.py").write_text(code + "\n")
    proc = gitrun(repo, "exec", "-o", "model.txt", "-m", "m.json", "--", "python", "score.py")
    assert proc.returncode == 0, proc.stderr
    rid = run_ids(repo)[-1]
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "m", "--reason", "r", "--where", "metrics.acc > 0.9")
    assert proc.returncode == 0, proc.stderr
    criteria = _promoted(repo, "m")["criteria"]
    assert criteria == {"where": "metrics.acc > 0.9", "metrics": {"acc": 0.93}}
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "n", "--reason", "r").returncode == 0
    assert _promoted(repo, "n")["criteria"] == {"where": None, "metrics": {"acc": 0.93, "loss": 0.2}}
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "o", "--reason", "r",
                  "--where", "status = succeeded and not (metrics.loss > 0.5)")
    assert proc.returncode == 0, proc.stderr
    assert _promoted(repo, "o")["criteria"]["metrics"] == {"loss": 0.2}
    refs = git(repo, "for-each-ref", "refs/promoted/")
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "p", "--reason", "r", "--where", "metrics.acc > 0.95")
    assert proc.returncode == 1 and "does not meet --where metrics.acc > 0.95" in proc.stderr
    proc = gitrun(repo, "promote", rid, "model.txt", "--as", "p", "--reason", "r", "--where", "metrics.acc >")
    assert proc.returncode == 2 and "--where" in proc.stderr and "Traceback" not in proc.stderr
    assert git(repo, "for-each-ref", "refs/promoted/") == refs


def test_promote_of_a_run_known_only_from_a_remote_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    other = make_repo(tmp_path / "other")
    git(other, "fetch", "-q", str(repo), f"refs/runs/{rid}:{TRACK}origin/{rid}")
    assert rid[:8] in gitrun(other, "ls").stdout
    before = untouched(other)
    proc = gitrun(other, "promote", rid, "model.txt", "--as", "m", "--reason", "r")
    assert proc.returncode == 1 and "fetch it first" in proc.stderr
    proc = gitrun(other, "retire", rid, "--reason", "r")
    assert proc.returncode == 1 and "fetch it first" in proc.stderr
    assert git(other, "for-each-ref", "refs/promoted/", "refs/runs/") == ""
    assert untouched(other) == before


def test_promote_a_pipeline_steps_output(tmp_path: Path) -> None:
    from test_pipeline import THREE, pipeline_repo

    repo = pipeline_repo(tmp_path, THREE)
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    rid = run_ids(repo)[-1]
    proc = gitrun(repo, "promote", rid, "train:model.txt", "--as", "model", "--reason", "r", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["step"] == "train"
    rec = _promoted(repo, "model")
    assert rec["artifact"]["path"] == "model.txt" and rec["artifact"]["step"] == "train"
    # A directory output, restored file by file.
    proc = gitrun(repo, "promote", rid, "prepare:data", "--as", "clean-data", "--reason", "r")
    assert proc.returncode == 0, proc.stderr
    assert _promoted(repo, "clean-data")["artifact"]["kind"] == "dir"
    shutil.rmtree(repo / "data")
    proc = gitrun(repo, "checkout", "--promoted", "clean-data")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "data" / "clean.txt").read_text() == "SOME RAW DATA\n"
    assert gitrun(repo, "verify", "model").returncode == 0
    proc = gitrun(repo, "promote", rid, "nostep:model.txt", "--as", "x", "--reason", "r")
    assert proc.returncode == 2 and "no artifact at nostep:model.txt" in proc.stderr


def test_a_promotion_moved_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    from gitruns.errors import ConcurrentUpdate
    from gitruns.promoting import move_ref
    from gitruns.repo import open_repo

    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    assert gitrun(repo, "promote", rid, "model.txt", "--as", "m", "--reason", "r").returncode == 0
    head = _ref(repo, "m")
    stale = git(repo, "rev-parse", f"refs/runs/{rid}").strip()
    with pytest.raises(ConcurrentUpdate, match="updated meanwhile"):
        move_ref(open_repo(str(repo)), "m", stale, stale)
    with pytest.raises(ConcurrentUpdate, match="created meanwhile"):
        move_ref(open_repo(str(repo)), "m", None, stale)
    assert _ref(repo, "m") == head


def test_an_artifact_only_in_the_store_is_promoted_and_verified_there(tmp_path: Path) -> None:
    from test_sharing import clone, origin

    url, _bare = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    git(a, "config", "remote.origin.gitrunsStore", str(tmp_path / "store"))
    (a / "train.py").write_text(MODEL + "\n")
    git(a, "commit", "-qam", "train")
    rid = _run(a, "v1")
    assert gitrun(a, "push").returncode == 0
    shutil.rmtree(a / ".git" / "gitruns" / "cache")
    proc = gitrun(a, "promote", rid, "model.txt", "--as", "m", "--reason", "r")
    assert proc.returncode == 0, proc.stderr
    proc = gitrun(a, "verify", "m", "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["artifact"] == "store"
    (a / "model.txt").unlink()
    assert gitrun(a, "checkout", "--promoted", "m").returncode == 0
    assert (a / "model.txt").read_text() == "v1"
    # The store loses it too (and the cache has it again from checkout: remove both).
    shutil.rmtree(a / ".git" / "gitruns" / "cache")
    shutil.rmtree(tmp_path / "store")
    proc = gitrun(a, "verify", "m")
    assert proc.returncode == 1 and "not in the local cache nor in a remote's artifact store" in proc.stdout


def test_a_promotion_ref_that_is_no_commit_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    rid = _run(repo, "v1")
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=b"{}", capture_output=True,
                          check=True).stdout.decode().strip()
    git(repo, "update-ref", "refs/promoted/odd", blob)
    for argv in (["promote", rid, "model.txt", "--as", "odd", "--reason", "r"], ["verify", "odd"],
                 ["checkout", "--promoted", "odd"], ["retire", "odd", "--reason", "r"]):
        proc = gitrun(repo, *argv)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert "refs/promoted/odd does not point at a commit" in proc.stderr
        assert len(proc.stderr.splitlines()) == 1
    assert git(repo, "rev-parse", "refs/promoted/odd").strip() == blob
    listing = gitrun(repo, "promote", "--list")
    assert listing.returncode == 0 and "skipping promotion odd" in listing.stderr
