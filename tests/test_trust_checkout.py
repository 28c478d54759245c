"""`git run checkout` of an untrusted run never writes outside its place.

A record (and the listing of a directory artifact) that arrives from a remote is
a teammate's mistake or an attacker's push. These tests craft such records with
plain git plumbing (the record still passes the JSON Schema, so it is the
checkout path that is tested) and check with plain file and git tools that
nothing appeared in the git directory or anywhere outside the working tree.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import xxhash
from conftest import git, gitrun, make_repo, record, run_ids
from test_sharing import MODEL, amend, clone, model_run, origin


def _tree_listing(path: Path) -> list[str]:
    """Every entry under ``path`` (not following symlinks), to see that nothing was added;
    except the run index (``.git/gitruns/index.sqlite*``), which resolving a run keeps up
    to date at a place of gitruns' own choosing, never the record's."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), path)
            if name.startswith("index.sqlite") and os.path.basename(dirpath) == "gitruns" or \
                    name == "gitruns" and os.path.basename(dirpath) == ".git":
                continue  # (what is inside .git/gitruns/ is still listed)
            out.append(rel)
    return sorted(out)


def _victim(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with one run holding a 1 MB artifact: (repo, run id, artifact digest)."""
    repo = make_repo(tmp_path / "victim", {"train.py": "print('training')\n", ".gitignore": "model.bin\n"})
    assert gitrun(repo, "exec", "-o", "model.bin", "--", "python", "-c", MODEL).returncode == 0
    rid = run_ids(repo)[0]
    (repo / "model.bin").unlink()
    return repo, rid, record(repo, rid)["artifacts"][0]["digest"]


def _file_artifact(path: str, digest: str) -> dict:
    return {"artifacts": [{"path": path, "source": "output", "status": "stored", "kind": "file",
                           "size": 1_000_000, "digest": digest}]}


def _assert_refused(proc: subprocess.CompletedProcess[str], what: str = "refusing artifact path") -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and what in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


# Spellings of the git directory that git itself refuses to check out (verify_path with
# core.protectNTFS and core.protectHFS; CVE-2014-9390, CVE-2019-1353): case, NTFS trailing
# dots and spaces, NTFS alternate data streams, the 8.3 short name, HFS+ ignorable code points.
GIT_DIR_SPELLINGS = [
    ".git/hooks/post-checkout",
    ".GIT/hooks/post-checkout",
    ".Git/config",
    ".git./hooks/post-checkout",
    ".git /hooks/post-checkout",
    ".git. . /hooks/post-checkout",
    ".git::$INDEX_ALLOCATION/hooks/post-checkout",
    "GIT~1/hooks/post-checkout",
    "git~1/config",
    ".g\u200cit/hooks/post-checkout",
    ".git\u200d/hooks/post-checkout",
    "\ufeff.git/hooks/post-checkout",
    "sub/.git/hooks/post-checkout",
    "sub\\..\\.git\\hooks\\post-checkout",
]


def test_no_spelling_of_the_git_directory_is_written(tmp_path: Path) -> None:
    repo, rid, digest = _victim(tmp_path)
    wrong = []
    for path in GIT_DIR_SPELLINGS:
        amend(repo, rid, _file_artifact(path, digest))
        before = _tree_listing(repo)
        proc = gitrun(repo, "checkout", rid)
        if (proc.returncode, proc.stderr.count("\n")) != (2, 1) or "names the git directory" not in proc.stderr \
                or _tree_listing(repo) != before:
            wrong.append((path, proc.returncode, proc.stderr))
    assert wrong == []


def test_no_symlink_component_is_followed_even_one_inside_the_working_tree(tmp_path: Path) -> None:
    """`link -> .git` resolves inside the working tree, yet leads into the git directory."""
    repo, rid, digest = _victim(tmp_path)
    (repo / "link").symlink_to(".git")
    (repo / "chain").symlink_to("link")
    (repo / "here").symlink_to(".")
    (repo / "data").mkdir()
    (repo / "data" / "sub").symlink_to("../data")  # a harmless-looking symlink inside the tree
    for path in ("link/hooks/post-checkout", "chain/hooks/post-checkout", "here/link/hooks/post-checkout",
                 "data/sub/model.bin"):
        amend(repo, rid, _file_artifact(path, digest))
        before = _tree_listing(repo)
        proc = gitrun(repo, "checkout", rid)
        _assert_refused(proc)
        assert "symlink" in proc.stderr
        assert _tree_listing(repo) == before
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_a_symlink_at_the_final_name_is_not_followed(tmp_path: Path) -> None:
    repo, rid, digest = _victim(tmp_path)
    (repo / "model.bin").symlink_to(".git/hooks/post-checkout")
    proc = gitrun(repo, "checkout", rid, "--force")
    _assert_refused(proc)
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_a_symlink_planted_at_a_temporary_name_is_not_followed(tmp_path: Path) -> None:
    repo, rid, _ = _victim(tmp_path)
    outside = tmp_path / "victim-file.txt"
    outside.write_text("precious\n")
    for name in ("model.bin.gitruns-tmp", ".model.bin.gitruns-tmp"):
        (repo / name).symlink_to(outside)
    proc = gitrun(repo, "checkout", rid)
    assert proc.returncode == 0, proc.stderr
    assert outside.read_text() == "precious\n"
    assert len((repo / "model.bin").read_bytes()) == 1_000_000 and not (repo / "model.bin").is_symlink()
    assert sorted(p.name for p in repo.iterdir() if "gitruns" in p.name) == sorted(
        ["model.bin.gitruns-tmp", ".model.bin.gitruns-tmp"])  # the plants are left, untouched


def test_a_git_directory_inside_the_tree_under_another_name_is_refused(tmp_path: Path) -> None:
    """`git clone --separate-git-dir` can put the git directory anywhere, also inside the tree."""
    url, _ = origin(tmp_path)
    seed = clone(url, tmp_path / "attacker")
    rid, digest = model_run(seed)
    amend(seed, rid, _file_artifact("meta/hooks/post-checkout", digest))
    assert gitrun(seed, "push").returncode == 0
    victim = tmp_path / "victim"
    subprocess.run(["git", "clone", "-q", "--separate-git-dir", str(victim / "meta"), url, str(victim)],
                   check=True, capture_output=True)
    assert (victim / ".git").is_file()
    assert gitrun(victim, "fetch").returncode == 0
    proc = gitrun(victim, "checkout", rid)
    _assert_refused(proc)
    assert "git directory" in proc.stderr
    assert not (victim / "meta" / "hooks" / "post-checkout").exists()


def test_a_teammates_push_cannot_reach_the_git_directory_of_a_clone(tmp_path: Path) -> None:
    """The whole path: a crafted update pushed to the remote, fetched (it passes the schema),
    checked out in a clone whose tree has `tools -> .git` (a symlink git itself may have checked out)."""
    url, bare = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    rid, digest = model_run(a)
    assert gitrun(a, "push").returncode == 0
    amend(a, rid, {"artifacts": [
        {"path": "model.bin", "source": "output", "status": "stored", "kind": "file", "size": 1_000_000,
         "digest": digest},
        {"path": "tools/hooks/post-checkout", "source": "output", "status": "stored", "kind": "file",
         "size": 1_000_000, "digest": digest}]})
    git(a, "push", "-q", "origin", f"refs/runs/{rid}")
    (b / "tools").symlink_to(".git")
    proc = gitrun(b, "fetch")
    assert proc.returncode == 0 and "1 new run(s)" in proc.stdout, proc.stderr
    before = _tree_listing(b)
    proc = gitrun(b, "checkout", rid)
    _assert_refused(proc)
    assert not (b / ".git" / "hooks" / "post-checkout").exists()
    assert not (b / "model.bin").exists()  # nothing is written when anything is refused
    assert _tree_listing(b) == before


def _put_object(store_root: Path, data: bytes) -> str:
    """An object in a directory store, as a teammate's tool could upload it."""
    hexd = xxhash.xxh3_128_hexdigest(data)
    path = store_root / "xxh3_128" / hexd[:2] / hexd[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"xxh3_128:{hexd}"


def _dir_artifact(path: str, digest: str) -> dict:
    return {"artifacts": [{"path": path, "source": "output", "status": "stored", "kind": "dir",
                           "size": 1_000_000, "digest": digest, "files": 1}]}


LISTINGS = [
    (b"not a listing at all\n", "malformed listing"),
    (b"xxh3_128:zz 5 - a.bin\n", "malformed listing"),
    (b"xxh3_128:" + b"0" * 32 + b" -5 - a.bin\n", "malformed listing"),
    (b"xxh3_128:" + b"0" * 32 + b" 5 - a.bin\nxxh3_128:" + b"0" * 32 + b" 5 - a.bin\n", "malformed listing"),
    (b"\xff\xfe\n", "malformed listing"),
    (b"xxh3_128:" + b"0" * 32 + b" 5 - ../../escape.bin\n", "refusing artifact path"),
    (b"xxh3_128:" + b"0" * 32 + b" 5 - .git/hooks/post-checkout\n", "refusing artifact path"),
    (b"xxh3_128:" + b"0" * 32 + b" 5 - .GIT./hooks/post-checkout\n", "refusing artifact path"),
]


def test_a_directory_listing_from_the_store_is_untrusted(tmp_path: Path) -> None:
    """A directory artifact's listing (from a teammate's upload to the store) is checked
    like a record: malformed ones are one error line, and its paths are refused as record paths."""
    url, bare = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    rid = run_ids(a)[0]
    git(a, "push", "-q", "origin", f"refs/runs/{rid}")
    wrong = []
    for listing, message in LISTINGS:
        amend(a, rid, _dir_artifact("out", _put_object(bare / "gitruns" / "cache", listing)))
        git(a, "push", "-q", "origin", f"refs/runs/{rid}")
        assert gitrun(b, "fetch").returncode == 0
        before = _tree_listing(tmp_path)
        proc = gitrun(b, "checkout", rid)
        after = _tree_listing(tmp_path)
        # Only the verified listing may have entered b's cache; nothing else anywhere.
        added = [p for p in after if p not in before and not p.startswith(("b/.git/gitruns", "b/.git/objects"))]
        if proc.returncode not in (1, 2) or proc.stderr.count("\n") != 1 or message not in proc.stderr or added:
            wrong.append((listing, proc.returncode, proc.stderr, added))
    assert wrong == []


def test_a_file_and_a_directory_at_the_same_place_are_refused_before_writing(tmp_path: Path) -> None:
    repo, rid, digest = _victim(tmp_path)
    amend(repo, rid, {"artifacts": [
        {"path": "m", "source": "output", "status": "stored", "kind": "file", "size": 1_000_000, "digest": digest},
        {"path": "m/inner.bin", "source": "output", "status": "stored", "kind": "file", "size": 1_000_000,
         "digest": digest}]})
    proc = gitrun(repo, "checkout", rid)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "m/inner.bin" in proc.stderr, proc.stderr
    assert not (repo / "m").exists()


def test_the_hooks_directory_named_by_core_hookspath_is_refused(tmp_path: Path) -> None:
    """Many repositories keep hooks in the tree (`core.hooksPath=.githooks`, husky): a file
    restored there would run at the next commit."""
    repo, rid, digest = _victim(tmp_path)
    (repo / ".githooks").mkdir()
    git(repo, "config", "core.hooksPath", ".githooks")
    amend(repo, rid, _file_artifact(".githooks/pre-commit", digest))
    proc = gitrun(repo, "checkout", rid)
    _assert_refused(proc)
    assert "core.hooksPath" in proc.stderr
    assert list((repo / ".githooks").iterdir()) == []


def test_a_name_the_filesystem_cannot_hold_is_one_error_line(tmp_path: Path) -> None:
    repo, rid, digest = _victim(tmp_path)
    amend(repo, rid, _file_artifact("d/" + "x" * 300 + "/m.bin", digest))
    proc = gitrun(repo, "checkout", rid)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "longer than the filesystem allows" \
        in proc.stderr, proc.stderr
    assert not (repo / "d").exists()
    amend(repo, rid, _file_artifact("a\ud800b.bin", digest))  # a lone surrogate, valid JSON
    proc = gitrun(repo, "checkout", rid)
    _assert_refused(proc, "not a valid file name")
