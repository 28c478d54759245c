"""The artifact store only ever holds verified objects, and a bad copy is set aside and repaired.

Objects are damaged the way disks and people damage them: bytes rewritten in
place in the local cache or in a directory store (the default store of a
file:// remote). Everything is checked with plain file reads and git.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import xxhash
from conftest import git, gitrun, record, run_ids
from servers import S3
from test_sharing import MODEL, clone, model_run, origin


def _object(cache_root: Path, digest: str) -> Path:
    hexd = digest.split(":")[1]
    return cache_root / "xxh3_128" / hexd[:2] / hexd[2:]


def _damage(path: Path) -> None:
    path.chmod(0o644)
    path.write_bytes(b"bit rot")


def _digest_of(path: Path) -> str:
    return "xxh3_128:" + xxhash.xxh3_128_hexdigest(path.read_bytes())


def test_push_never_uploads_a_corrupt_cache_object(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    rid, digest = model_run(a)
    _damage(_object(a / ".git" / "gitruns" / "cache", digest))
    proc = gitrun(a, "push")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert digest in proc.stderr and "model.bin" in proc.stderr and rid in proc.stderr and "corrupt" in proc.stderr
    assert not _object(bare / "gitruns" / "cache", digest).exists()  # never reached the store
    # The bad copy is set aside, not deleted; the record itself is shared.
    quarantined = list((a / ".git" / "gitruns" / "cache" / "quarantine").iterdir())
    assert [p.read_bytes() for p in quarantined] == [b"bit rot"]
    assert rid in git(a, "ls-remote", "origin", "refs/runs/*")


def test_a_corrupt_store_object_is_quarantined_and_a_push_repairs_it(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    rid, digest = model_run(a)
    assert gitrun(a, "push").returncode == 0
    stored = _object(bare / "gitruns" / "cache", digest)
    _damage(stored)
    assert gitrun(b, "fetch").returncode == 0
    proc = gitrun(b, "checkout", rid)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert digest in proc.stderr and "corrupt" in proc.stderr and "git run push" in proc.stderr
    assert not (b / "model.bin").exists()
    # Fetched twice, both bad copies kept locally; the store's copy moved aside there.
    kept = list((b / ".git" / "gitruns" / "cache" / "quarantine").iterdir())
    assert [p.read_bytes() for p in kept] == [b"bit rot", b"bit rot"]
    assert not stored.exists()
    assert [p.read_bytes() for p in (bare / "gitruns" / "cache" / "quarantine").iterdir()] == [b"bit rot"]
    # The hint works: a push from the clone with a good copy uploads it again.
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr
    assert "uploaded 1 object(s)" in proc.stdout, proc.stdout
    assert _digest_of(stored) == digest
    proc = gitrun(b, "checkout", rid)
    assert proc.returncode == 0 and proc.stdout == "restored model.bin\n", proc.stderr
    assert _digest_of(b / "model.bin") == digest


def test_a_corrupt_local_object_is_quarantined_and_fetched_again_at_checkout(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    rid, digest = model_run(a)
    assert gitrun(a, "push").returncode == 0
    assert gitrun(b, "fetch").returncode == 0
    assert gitrun(b, "checkout", rid).returncode == 0
    (b / "model.bin").unlink()
    local = _object(b / ".git" / "gitruns" / "cache", digest)
    _damage(local)
    proc = gitrun(b, "checkout", rid)
    assert proc.returncode == 0 and proc.stdout == "restored model.bin\n", proc.stderr
    assert _digest_of(b / "model.bin") == digest and _digest_of(local) == digest
    assert [p.read_bytes() for p in (b / ".git" / "gitruns" / "cache" / "quarantine").iterdir()] == [b"bit rot"]


def test_push_uploads_what_the_store_lacks_for_runs_the_remote_already_has(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    assert gitrun(a, "remote", "setup").returncode == 0
    rid, digest = model_run(a)
    subprocess.run(["git", "push", "-q"], cwd=a, check=True, capture_output=True)  # plain git: records only
    assert rid in git(a, "ls-remote", "origin", "refs/runs/*")
    assert not _object(bare / "gitruns" / "cache", digest).exists()
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr
    assert "pushed 0 run(s), 1 already there" in proc.stdout and "uploaded 1 object(s)" in proc.stdout, proc.stdout
    assert _digest_of(_object(bare / "gitruns" / "cache", digest)) == digest
    assert gitrun(b, "fetch").returncode == 0
    assert gitrun(b, "checkout", rid).stdout == "restored model.bin\n"
    # A store configured late (or changed) gets the runs pushed before it existed.
    late = tmp_path / "late-store"
    git(a, "config", "remote.origin.gitrunsStore", str(late))
    proc = gitrun(a, "push")
    assert proc.returncode == 0 and "uploaded 1 object(s)" in proc.stdout, (proc.stdout, proc.stderr)
    assert _digest_of(_object(late, digest)) == digest
    # b holds the object too (from the first store) but never had it confirmed in the new one:
    # it checks once, finds it there, uploads nothing.
    git(b, "config", "remote.origin.gitrunsStore", str(late))
    proc = gitrun(b, "push")
    assert proc.returncode == 0 and "uploaded" not in proc.stdout, proc.stdout


def test_quarantine_and_repair_through_an_s3_store(tmp_path: Path, s3_server: S3) -> None:
    import boto3

    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    for repo in (a, b):
        git(repo, "config", "remote.origin.gitrunsStore", f"s3://{s3_server.bucket}/gitruns")
        git(repo, "config", "remote.origin.gitrunsStoreEndpoint", s3_server.endpoint)
    assert gitrun(a, "exec", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    rid = run_ids(a)[0]
    hexd = record(a, rid)["artifacts"][0]["digest"].split(":")[1]
    assert gitrun(a, "push").returncode == 0
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint)
    key = f"gitruns/xxh3_128/{hexd[:2]}/{hexd[2:]}"
    s3.put_object(Bucket=s3_server.bucket, Key=key, Body=b"bit rot")
    assert gitrun(b, "fetch").returncode == 0
    proc = gitrun(b, "checkout", rid)
    assert proc.returncode == 1 and "git run push" in proc.stderr, proc.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_server.bucket, Prefix="gitruns/")["Contents"]]
    assert key not in keys and any(k.startswith(f"gitruns/quarantine/{hexd}") for k in keys)
    proc = gitrun(a, "push")
    assert proc.returncode == 0 and "uploaded 1 object(s)" in proc.stdout, (proc.stdout, proc.stderr)
    assert s3.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() == (a / "model.bin").read_bytes()
    assert gitrun(b, "checkout", rid).stdout == "restored model.bin\n"
