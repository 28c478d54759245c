"""Inputs git does not track are kept in the artifact cache by digest (reflink or
copy, never a hardlink), under gitruns.keepInputsMaxSize, pushed with their run
and fetched on demand; show tells each input's state (docs/inputs.md)."""
from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash
from conftest import _REPOS, git, gitrun, latest, make_repo, on_a_terminal, python, record, run_ids, validate
from realparts import missing

from gitruns.cache import ArtifactCache, ChangedWhileStoring, object_key
from gitruns.hashing import StatCache, hash_path
from gitruns.inputs import CHANGED, keep_hashed
from gitruns.manifest import parse_manifest

ALLOW = {"GITRUNS_DIRTY": "allow"}  # untracked data makes a dirty tree: no warning about that here


def digest(data: bytes) -> str:
    return "xxh3_128:" + xxhash.xxh3_128_hexdigest(data)


def cache_object(repo: Path, dig: str) -> Path:
    return repo / ".git" / "gitruns" / "cache" / object_key(dig)


def show(repo: Path, rid: str) -> str:
    proc = gitrun(repo, "show", rid)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def input_line(text: str, path: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(f"  {path}  ")]
    assert len(lines) == 1, text
    return lines[0]


# -- kept at launch ---------------------------------------------------------------

@pytest.mark.parametrize("link_type", ["reflink,copy", "hardlink,copy"])
def test_an_untracked_file_input_is_copied_into_the_cache_never_linked(repo: Path, link_type: str) -> None:
    git(repo, "config", "gitruns.linkType", link_type)  # hardlink is for outputs only, never inputs
    data = repo / "data.csv"
    content = b"x,y\n" + b"1,2\n" * 1000
    data.write_bytes(content)
    mode_before = stat.S_IMODE(data.stat().st_mode)
    proc = gitrun(repo, "exec", "-i", "data.csv", "--", "python", "-c", "print(open('data.csv').read()[:3])",
                  env=ALLOW)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    rid = latest(repo)
    rec = record(repo, rid)  # git cat-file -p refs/runs/ID:.gitruns/run.json
    validate(rec)
    assert rec["inputs"] == [{"path": "data.csv", "kind": "file", "size": len(content), "digest": digest(content),
                              "files": 1, "tracked": False, "kept": True}]
    obj = cache_object(repo, digest(content))
    assert obj.read_bytes() == content
    # The user's file is still theirs: writable, its mode unchanged, another inode than the object's.
    assert stat.S_IMODE(data.stat().st_mode) == mode_before and mode_before & stat.S_IWUSR
    assert data.stat().st_ino != obj.stat().st_ino and data.stat().st_nlink == 1
    assert not os.access(obj, os.W_OK) or os.geteuid() == 0
    assert stat.S_IMODE(obj.stat().st_mode) & 0o222 == 0  # the object is read-only
    data.write_bytes(b"the user edits their data as before\n")  # and nothing stops them
    assert obj.read_bytes() == content
    assert input_line(show(repo, rid), "data.csv").endswith(f"{digest(content)}  kept")
    shown = gitrun(repo, "show", rid, "--json")
    assert shown.returncode == 0 and '"kept": true' in shown.stdout
    # The launch record already says so: a run that crashes keeps its inputs too.
    first = git(repo, "rev-list", "--reverse", "--first-parent", f"refs/runs/{rid}", "^HEAD").split()[0]
    launch = git(repo, "cat-file", "-p", f"{first}:.gitruns/run.json")
    assert '"kept": true' in launch


def test_a_directory_input_is_kept_as_its_listing_and_files_and_comes_back_by_digest(repo: Path) -> None:
    (repo / ".gitignore").write_text("data/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore data")
    files = {"data/a.csv": b"a\n" * 500, "data/nested/b.bin": os.urandom(5000), "data/run.sh": b"#!/bin/sh\n"}
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(content)
    (repo / "data/run.sh").chmod(0o755)
    proc = gitrun(repo, "exec", "-i", "data", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    rec = record(repo, rid)
    validate(rec)
    item = rec["inputs"][0]
    assert item["kind"] == "dir" and item["files"] == 3 and item["tracked"] is False and item["kept"] is True
    # The input's digest is the digest of its listing, as a directory artifact's is.
    listing = cache_object(repo, item["digest"]).read_bytes()
    assert digest(listing) == item["digest"]
    entries = {e.path: e for e in parse_manifest(listing)}
    assert set(entries) == {"a.csv", "nested/b.bin", "run.sh"} and entries["run.sh"].executable
    for content in files.values():
        assert cache_object(repo, digest(content)).read_bytes() == content
    assert input_line(show(repo, rid), "data").endswith("kept")

    # Gone from the working tree, it comes back by digest with checkout --inputs.
    subprocess.run(["rm", "-rf", str(repo / "data")], check=True)
    proc = gitrun(repo, "checkout", rid[:10], "--inputs")
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == ["restored data/a.csv", "restored data/nested/b.bin",
                                                "restored data/run.sh"]
    for name, content in files.items():
        assert (repo / name).read_bytes() == content
    assert os.access(repo / "data/run.sh", os.X_OK)
    assert gitrun(repo, "checkout", rid, "--inputs").stdout == "inputs already up to date\n"
    # A modified input is not overwritten without --force, as for artifacts.
    (repo / "data/a.csv").write_bytes(b"edited\n")
    proc = gitrun(repo, "checkout", rid, "--inputs", "--", "data/a.csv")
    assert proc.returncode == 1 and "would overwrite modified files" in proc.stderr
    assert (repo / "data/a.csv").read_bytes() == b"edited\n"
    proc = gitrun(repo, "checkout", rid, "--inputs", "--force", "--", "data/a.csv")
    assert proc.returncode == 0 and proc.stdout == "restored data/a.csv\n"
    assert (repo / "data/a.csv").read_bytes() == files["data/a.csv"]
    # Without --inputs, checkout is about artifacts, as before.
    proc = gitrun(repo, "checkout", rid, "--", "data")
    assert proc.returncode == 2 and "has no artifact at data" in proc.stderr


def test_a_tracked_input_is_not_kept_git_has_it(repo: Path) -> None:
    (repo / "tracked").mkdir()
    (repo / "tracked" / "one.txt").write_text("one\n")
    git(repo, "add", "tracked")
    git(repo, "commit", "-q", "-m", "tracked dir")
    (repo / "mixed").mkdir()
    (repo / "mixed" / "in.txt").write_text("in git\n")
    git(repo, "add", "mixed")
    git(repo, "commit", "-q", "-m", "mixed dir")
    (repo / "mixed" / "new.txt").write_text("not in git\n")
    # A symlink git tracks holds a path, not the data it points at: kept.
    (repo.parent / "outside.csv").write_text("shared data\n")
    (repo / "ext.csv").symlink_to("../outside.csv")
    git(repo, "add", "ext.csv")
    git(repo, "commit", "-q", "-m", "link")
    proc = gitrun(repo, "exec", "-i", "README", "-i", "tracked", "-i", "mixed", "-i", "ext.csv", "--",
                  "python", "-c", "pass", env={"GITRUNS_DIRTY": "allow"})
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    rec = record(repo, rid)
    validate(rec)
    by_path = {i["path"]: i for i in rec["inputs"]}
    for path in ("README", "tracked"):
        assert by_path[path]["tracked"] is True
        assert "kept" not in by_path[path] and "not_kept" not in by_path[path]
        assert not cache_object(repo, by_path[path]["digest"]).exists()
    # A directory with any file git does not track is kept whole.
    assert by_path["mixed"]["tracked"] is False and by_path["mixed"]["kept"] is True
    (ext,) = [i for i in rec["inputs"] if i["digest"] == digest(b"shared data\n")]
    assert ext["tracked"] is False and ext["kept"] is True
    assert cache_object(repo, digest(b"shared data\n")).read_text() == "shared data\n"
    text = show(repo, rid)
    assert input_line(text, "README").endswith("  tracked") and input_line(text, "tracked").endswith("  tracked")
    assert input_line(text, "mixed").endswith("  kept")
    proc = gitrun(repo, "checkout", rid, "--inputs")
    assert proc.returncode == 0, proc.stderr
    assert "not restored README: tracked: in the run's code" in proc.stdout
    assert f"not restored {ext['path']}: outside the working tree" in proc.stdout
    assert "inputs already up to date" in proc.stdout


def test_an_input_above_the_cap_is_recorded_by_digest_only(repo: Path) -> None:
    git(repo, "config", "gitruns.keepInputsMaxSize", "1k")
    big = os.urandom(4096)
    (repo / "big.bin").write_bytes(big)
    (repo / "small.txt").write_text("small\n")
    proc = gitrun(repo, "exec", "-i", "big.bin", "-i", "small.txt", "--", "python", "-c", "pass", env=ALLOW)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr  # a choice of the settings, not a failure
    rid = latest(repo)
    rec = record(repo, rid)
    validate(rec)
    assert rec["status"] == "succeeded"
    by_path = {i["path"]: i for i in rec["inputs"]}
    assert by_path["big.bin"]["digest"] == digest(big) and "kept" not in by_path["big.bin"]
    assert by_path["big.bin"]["not_kept"] == "larger than gitruns.keepInputsMaxSize (1.0 KiB)"
    assert not cache_object(repo, digest(big)).exists()
    assert by_path["small.txt"]["kept"] is True
    line = input_line(show(repo, rid), "big.bin")
    assert line.endswith("not kept (larger than gitruns.keepInputsMaxSize (1.0 KiB))")
    proc = gitrun(repo, "checkout", rid, "--inputs", "--", "big.bin")
    assert proc.returncode == 2 and "did not keep it" in proc.stderr


@pytest.mark.parametrize("how", ["config", "environment"])
def test_keeping_turned_off(repo: Path, how: str) -> None:
    env = {}
    if how == "config":
        git(repo, "config", "gitruns.keepInputs", "false")
    else:
        env["GITRUNS_KEEP_INPUTS"] = "false"
    (repo / "data.txt").write_text("data\n")
    proc = gitrun(repo, "exec", "-i", "data.txt", "--", "python", "-c", "pass", env=env)
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["inputs"][0]["not_kept"] == "gitruns.keepInputs is false" and "kept" not in rec["inputs"][0]
    assert not cache_object(repo, digest(b"data\n")).exists()
    assert input_line(show(repo, latest(repo)), "data.txt").endswith("not kept (gitruns.keepInputs is false)")


def test_a_file_changed_between_hashing_and_copying_puts_nothing_under_its_digest(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"as hashed\n" * 1000)
    hashed = hash_path(str(data), StatCache(None))
    data.write_bytes(b"written meanwhile\n" * 1000)  # what a concurrent writer does
    for methods in (["copy"], ["reflink", "copy"]):
        cache = ArtifactCache(str(tmp_path / f"cache-{len(methods)}"), methods)
        with pytest.raises(ChangedWhileStoring):
            cache.store_copy(str(data), hashed.digest)
        assert not cache.has(hashed.digest)
        assert keep_hashed(cache, hashed, "data.bin") == CHANGED
        assert not cache.has(hashed.digest)
        assert list((Path(cache.root) / "tmp").iterdir()) == []  # no copy left behind
    # A directory whose file changed: no listing is stored, so the directory is not restorable.
    d = tmp_path / "d"
    d.mkdir()
    (d / "f").write_bytes(b"one")
    hashed = hash_path(str(d), StatCache(None))
    (d / "f").write_bytes(b"two")
    cache = ArtifactCache(str(tmp_path / "cache-dir"), ["copy"])
    assert keep_hashed(cache, hashed, "d") == CHANGED
    assert not cache.has(hashed.digest)
    # A file removed since it was hashed is the same case.
    (d / "f").write_bytes(b"one")
    hashed = hash_path(str(d), StatCache(None))
    (d / "f").unlink()
    assert keep_hashed(cache, hashed, "d") == CHANGED


def test_a_reflinked_copy_is_read_back_before_it_is_published(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """No reflink-capable filesystem here: the clone ioctl is stood in for by a copy of
    the file as it is now, which is what a clone gives; the digest check must catch it."""
    import shutil

    from gitruns import cache as cache_mod

    def clone(src: str, dest: str) -> bool:
        shutil.copyfile(src, dest)
        return True

    monkeypatch.setattr(cache_mod, "_reflink", clone)
    data = tmp_path / "data.bin"
    data.write_bytes(b"as hashed\n")
    hashed = hash_path(str(data), StatCache(None))
    cache = ArtifactCache(str(tmp_path / "cache"), ["reflink", "copy"])
    assert cache.store_copy(str(data), hashed.digest) == "reflink"
    assert Path(cache.object_path(hashed.digest)).read_bytes() == b"as hashed\n"
    data.write_bytes(b"changed\n")
    again = tmp_path / "again.bin"
    again.write_bytes(b"other\n")
    other = hash_path(str(again), StatCache(None))
    again.write_bytes(b"changed too\n")
    with pytest.raises(ChangedWhileStoring):
        cache.store_copy(str(again), other.digest)
    assert not cache.has(other.digest)


# -- a full disk -------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs: a filesystem that runs out of space."""
    where = tmp_path / "small-disk"
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        missing("tmpfs", f"cannot mount a 2 MiB tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def test_a_full_disk_while_keeping_never_fails_the_run(repo: Path, small_disk: Path) -> None:
    git(repo, "config", "gitruns.cacheDir", str(small_disk / "cache"))
    big = os.urandom(3 * 1024 * 1024)
    (repo / "big.bin").write_bytes(big)
    (repo / "small.txt").write_text("small\n")
    proc = gitrun(repo, "exec", "-i", "big.bin", "-i", "small.txt", "--", "python", "-c", "print('ran')",
                  env=ALLOW)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "big.bin" in warnings[0] and "No space left" in warnings[0], proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["status"] == "succeeded" and rec["error"] is None
    by_path = {i["path"]: i for i in rec["inputs"]}
    assert by_path["big.bin"]["digest"] == digest(big) and "kept" not in by_path["big.bin"]
    assert "No space left" in by_path["big.bin"]["not_kept"]
    assert by_path["small.txt"]["kept"] is True
    # No half-written copy is left filling the disk.
    leftovers = [p.name for p in (small_disk / "cache").rglob("*") if p.is_file() and p.stat().st_size > 100_000]
    assert leftovers == []
    assert "not kept (the artifact cache's disk is full" in input_line(show(repo, latest(repo)), "big.bin")


# -- progress ----------------------------------------------------------------------

def test_keeping_a_big_input_shows_progress_on_a_terminal_only(repo: Path) -> None:
    with open(repo / "big.bin", "wb") as fh:
        fh.truncate(65 * 1024 * 1024)
    status, seen = on_a_terminal(repo, ["git", "run", "exec", "-i", "big.bin", "--", "true"], stdout=False,
                                 stderr=True)
    assert status == 0, seen
    assert b"keeping big.bin" in seen
    assert record(repo)["inputs"][0]["kept"] is True
    (repo / "big.bin").write_bytes(b"smaller now")  # the cache has the big one: a new object to copy
    with open(repo / "big.bin", "ab") as fh:
        fh.truncate(66 * 1024 * 1024)
    proc = gitrun(repo, "exec", "-i", "big.bin", "--", "true")
    assert proc.returncode == 0 and "keeping" not in proc.stderr and "\r" not in proc.stderr


# -- pipelines ---------------------------------------------------------------------

def test_a_pipeline_keeps_the_source_deps_git_does_not_track(repo: Path) -> None:
    (repo / "gitruns.yaml").write_text(
        "steps:\n"
        "  prepare:\n"
        "    cmd: python -c \"open('prepared.txt', 'w').write(open('raw.csv').read().upper())\"\n"
        "    deps: [raw.csv, train.py]\n"
        "    outs: [prepared.txt]\n"
        "  train:\n"
        "    cmd: python -c \"open('model.txt', 'w').write(open('prepared.txt').read())\"\n"
        "    deps: [prepared.txt]\n"
        "    outs: [model.txt]\n"
    )
    (repo / ".gitignore").write_text("raw.csv\nprepared.txt\nmodel.txt\n")
    git(repo, "add", "gitruns.yaml", ".gitignore")
    git(repo, "commit", "-q", "-m", "pipeline")
    (repo / "raw.csv").write_text("a,b\n")
    proc = gitrun(repo, "pipeline")
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    steps = {s["name"]: s for s in rec["steps"]}
    deps = {i["path"]: i for i in steps["prepare"]["inputs"]}
    assert deps["raw.csv"]["kept"] is True and cache_object(repo, digest(b"a,b\n")).read_bytes() == b"a,b\n"
    assert "kept" not in deps["train.py"] and "not_kept" not in deps["train.py"]  # git has it
    # A dep another step wrote is that step's output, stored as such: not kept twice.
    (made,) = steps["train"]["inputs"]
    assert made["from_step"] == "prepare" and "kept" not in made and "not_kept" not in made
    # push sends a kept step input with its run, as it sends the step's outputs.
    from gitruns.sharing import run_objects

    objects = run_objects(rec, ArtifactCache(str(repo / ".git" / "gitruns" / "cache")))
    assert digest(b"a,b\n") in objects and digest(b"A,B\n") in objects


# -- sharing -----------------------------------------------------------------------

def test_kept_inputs_are_pushed_with_their_run_and_fetched_only_when_asked(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", {"train.py": "print('training')\n", ".gitignore": "data/\n"})
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    _REPOS.append(bare)
    store = tmp_path / "store"
    a = tmp_path / "a"
    subprocess.run(["git", "clone", "-q", str(bare), str(a)], check=True)
    _REPOS.append(a)
    git(a, "config", "remote.origin.gitrunsStore", str(store))
    (a / "data").mkdir()
    table = os.urandom(20_000)
    (a / "data" / "table.bin").write_bytes(table)
    (a / "data" / "labels.txt").write_text("cat\ndog\n")
    proc = gitrun(a, "exec", "-i", "data", "--", "python", "train.py")
    assert proc.returncode == 0, proc.stderr
    rid = latest(a)
    item = record(a, rid)["inputs"][0]
    assert item["kept"] is True
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr
    assert "uploaded 3 object(s)" in proc.stdout  # the listing and its two files
    for dig in (item["digest"], digest(table), digest(b"cat\ndog\n")):
        assert (store / object_key(dig)).is_file()
    assert (store / object_key(digest(table))).read_bytes() == table

    b = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(bare), str(b)], check=True)
    _REPOS.append(b)
    git(b, "config", "remote.origin.gitrunsStore", str(store))
    proc = gitrun(b, "fetch")
    assert proc.returncode == 0, proc.stderr
    assert rid in run_ids(b)
    b_cache = b / ".git" / "gitruns" / "cache"
    assert not (b_cache / object_key(digest(table))).exists()  # left in the store until needed
    assert "kept" in input_line(show(b, rid), "data")
    assert not (b_cache / object_key(digest(table))).exists()
    proc = gitrun(b, "checkout", rid, "--inputs")
    assert proc.returncode == 0, proc.stderr
    assert (b / "data" / "table.bin").read_bytes() == table
    assert (b / "data" / "labels.txt").read_text() == "cat\ndog\n"
    assert (b_cache / object_key(digest(table))).read_bytes() == table  # fetched by digest, now local


def test_start_run_keeps_its_inputs_too(repo: Path) -> None:
    (repo / "data.txt").write_text("from code\n")
    code = ("import gitruns\n"
            "with gitruns.start_run(inputs=['data.txt']):\n"
            "    pass\n")
    proc = subprocess.run([python(), "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    validate(rec)
    assert rec["inputs"][0]["kept"] is True
    assert cache_object(repo, digest(b"from code\n")).read_text() == "from code\n"
