"""Sharing at scale (hundreds of runs in one push and one fetch) and promotions
travelling with push and fetch, against real bare remotes."""
from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

from conftest import _REPOS, git, gitrun, make_repo, run_ids

COUNT = 300


def clone(url: str | Path, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(url), str(path)], check=True, capture_output=True)
    _REPOS.append(path)
    return path


def bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    _REPOS.append(path)
    return path


def many_runs(repo: Path, count: int, name: str = "run") -> list[str]:
    """``count`` more runs, each a copy of the repository's first run written through
    gitruns' own store (as bench/bench_ls.py does): quick, and real runs to every reader."""
    import pygit2

    from gitruns import record, recordread, runid, runrefs
    from gitruns.repo import open_repo

    if not run_ids(repo):
        assert gitrun(repo, "exec", "--name", "template", "--", "python", "-c", "pass").returncode == 0
    r = open_repo(str(repo))
    first = run_ids(repo)[0]
    commit = git(repo, "rev-parse", f"refs/runs/{first}").strip()
    template = recordread.read_record(r.git, commit)
    tree = r.git[pygit2.Oid(hex=commit)].peel(pygit2.Tree)
    files = {e.name: bytes(r.git[e.id].data) for e in r.git[tree[".gitruns"].id]}
    files.pop("run.json")
    head = str(r.git.head.target)
    base_ms = runid.timestamp_ms(first)
    made = []
    for i in range(count):
        rec = copy.deepcopy(template)
        rec["id"] = runid.new_id(base_ms + 1000 + i)
        rec["name"] = f"{name}-{i}"
        rec["metrics"] = {"loss": 1.0 / (i + 2)}
        runrefs.write(r, record.upgrade(rec), files, template["code"]["snapshot_tree"], [head], None)
        made.append(rec["id"])
    return made


def remote_refs(repo: Path, pattern: str) -> dict[str, str]:
    out = git(repo, "ls-remote", "origin", pattern)
    return {name: oid for oid, name in (line.split("\t") for line in out.splitlines())}


def local_refs(repo: Path, prefix: str) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split(" ") for line in out.splitlines())


def as_json(repo: Path, *args: str, code: int = 0) -> dict:
    proc = gitrun(repo, *args, "--json")
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def amend(repo: Path, ref: str, path: str, change: bytes, message: str) -> str:
    """One more commit on ``ref`` whose .gitruns/``path`` is ``change`` (plain git plumbing)."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=change, capture_output=True,
                          check=True).stdout.decode().strip()
    sub = git(repo, "ls-tree", f"{ref}:.gitruns")
    old_blob = git(repo, "rev-parse", f"{ref}:.gitruns/{path}").strip()
    sub_tree = subprocess.run(["git", "mktree"], cwd=repo, input=sub.replace(old_blob, blob),
                              capture_output=True, text=True, check=True).stdout.strip()
    top = git(repo, "ls-tree", ref)
    old_sub = git(repo, "rev-parse", f"{ref}:.gitruns").strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=top.replace(old_sub, sub_tree),
                          capture_output=True, text=True, check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-p", ref, "-m", message).strip()
    git(repo, "update-ref", ref, commit)
    return commit


def retag(repo: Path, rid: str, value: str) -> str:
    rec = json.loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json"))
    rec["tags"] = {"reviewed": value}
    return amend(repo, f"refs/runs/{rid}", "run.json", json.dumps(rec, indent=2).encode(), f"tag {value}")


def promotion_json(repo: Path, name: str, rid: str, reason: str = "best", path: str = "model.bin") -> bytes:
    """A promotion of run ``rid``'s artifact ``path``: a reader holds a promotion to what
    its run recorded, so the run is given that artifact first when it lacks it."""
    rec = json.loads(git(repo, "cat-file", "-p", f"refs/runs/{rid}:.gitruns/run.json"))
    digest = "xxh3_128:" + "0" * 32
    found = [a for a in rec.get("artifacts") or [] if a.get("path") == path and a.get("digest")]
    if found:
        digest = found[0]["digest"]
    else:
        rec["artifacts"] = [*(rec.get("artifacts") or []), {"path": path, "source": "output", "status": "stored",
                                                             "kind": "file", "size": 1, "digest": digest}]
        amend(repo, f"refs/runs/{rid}", "run.json", json.dumps(rec, indent=2).encode(), f"artifact {path}")
    run_commit = git(repo, "rev-parse", f"refs/runs/{rid}").strip()
    return json.dumps({
        "schema": 1, "kind": "promotion", "name": name, "run": rid, "run_commit": run_commit,
        "artifact": {"path": path, "digest": digest, "size": 1, "kind": "file", "step": None},
        "reason": reason, "criteria": {"where": None, "metrics": {}}, "promoted_by": "ada",
        "promoted_at": "2026-11-24T09:00:00Z", "retired": None}, indent=2).encode()


def promote(repo: Path, name: str, rid: str, raw: bytes | None = None, reason: str = "best") -> str:
    """refs/promoted/<name>, as the promotion format says: a commit whose tree is
    .gitruns/promotion.json, its parents the previous promotion and the run."""
    raw = raw if raw is not None else promotion_json(repo, name, rid, reason)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=raw, capture_output=True,
                          check=True).stdout.decode().strip()
    sub = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\tpromotion.json\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=f"040000 tree {sub}\t.gitruns\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    ref = f"refs/promoted/{name}"
    previous = git(repo, "rev-parse", "--verify", "-q", ref, check=False).strip()
    parents = (["-p", previous] if previous else []) + ["-p", f"refs/runs/{rid}"]
    commit = git(repo, "commit-tree", tree, *parents, "-m", f"promote {name}").strip()
    git(repo, "update-ref", ref, commit)
    return commit


def two_clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    seed = make_repo(tmp_path / "seed", {"train.py": "print('training')\n"})
    remote = bare(tmp_path / "origin.git")
    git(seed, "push", "-q", str(remote), "HEAD:refs/heads/main")
    git(remote, "symbolic-ref", "HEAD", "refs/heads/main")
    return remote, clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")


def test_hundreds_of_runs_in_one_push_and_one_fetch(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    many_runs(a, COUNT - 1)
    ids = run_ids(a)
    assert len(ids) == COUNT
    summary = as_json(a, "push")
    assert sorted(summary["pushed"]) == ids and summary["refused"] == [] and summary["ok"]
    there = remote_refs(a, "refs/runs/*")
    assert there == local_refs(a, "refs/runs/")
    git(remote, "fsck", "--strict")
    # What push saw is noted in tracking refs: ls shows every run as on origin.
    assert {r.removeprefix("refs/gitruns/remotes/origin/"): oid
            for r, oid in local_refs(a, "refs/gitruns/remotes/origin/").items()} == \
        {r.removeprefix("refs/runs/"): oid for r, oid in there.items()}
    summary = as_json(b, "fetch")
    assert sorted(summary["new"]) == ids and summary["refused"] == [] and summary["ok"]
    assert local_refs(b, "refs/runs/") == there
    listed = json.loads(gitrun(b, "ls", "--json").stdout)
    assert sorted(r["id"] for r in listed) == ids
    git(b, "fsck", "--strict")
    # Nothing new: nothing changes anywhere, and push says so.
    before = (git(remote, "for-each-ref"), git(a, "for-each-ref"))
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"origin: pushed 0 run(s), {COUNT} already there\n")
    assert (git(remote, "for-each-ref"), git(a, "for-each-ref")) == before
    summary = as_json(b, "fetch")
    assert summary["new"] == [] and len(summary["unchanged"]) == COUNT


def test_a_run_changed_on_both_sides_is_reported_in_a_batch_that_succeeds(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    many_runs(a, 20)
    assert gitrun(a, "push").returncode == 0
    assert gitrun(b, "fetch").returncode == 0
    shared = run_ids(a)[3]
    theirs = retag(a, shared, "in a")
    assert gitrun(a, "push").returncode == 0
    mine = retag(b, shared, "in b")
    fresh = many_runs(b, 150, "more")  # enough to go as one refspec for all runs
    summary = as_json(b, "push", code=1)
    assert sorted(summary["pushed"]) == sorted(fresh)
    assert summary["refused"] == [{"id": shared, "reason": "diverged",
                                   "message": "changed here and there; not overwritten"}]
    there = remote_refs(b, "refs/runs/*")
    assert there[f"refs/runs/{shared}"] == theirs
    assert all(there[f"refs/runs/{rid}"] == git(b, "rev-parse", f"refs/runs/{rid}").strip() for rid in fresh)
    proc = gitrun(b, "push")
    assert proc.returncode == 1
    assert f"diverged (changed here and there; not overwritten): {shared}" in proc.stderr
    # Fetch takes in what moved, and keeps ours where both changed.
    retag(a, run_ids(a)[5], "later")
    assert gitrun(a, "push").returncode == 0
    summary = as_json(b, "fetch", code=1)
    assert summary["updated"] == [run_ids(a)[5]]
    assert [r["id"] for r in summary["refused"]] == [shared]
    assert git(b, "rev-parse", f"refs/runs/{shared}").strip() == mine
    git(remote, "fsck", "--strict")


def test_promotions_travel_with_push_and_fetch(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    many_runs(a, 2)
    rid = run_ids(a)[1]
    first = promote(a, "models/prod", rid)
    summary = as_json(a, "push")
    assert summary["promotions"]["pushed"] == ["models/prod"]
    assert remote_refs(a, "refs/promoted/*") == {"refs/promoted/models/prod": first}
    assert f"refs/runs/{rid}" in remote_refs(a, "refs/runs/*")
    git(remote, "fsck", "--strict")
    proc = gitrun(a, "push")
    assert "pushed 0 promotion(s), 1 already there" in proc.stdout
    summary = as_json(b, "fetch")
    assert summary["promotions"] == {"new": ["models/prod"], "updated": [], "unchanged": [], "ahead": [],
                                     "refused": []}
    assert git(b, "rev-parse", "refs/promoted/models/prod").strip() == first
    assert git(b, "rev-parse", "refs/gitruns/promoted/origin/models/prod").strip() == first
    # A newer promotion of the same name fast-forwards.
    second = promote(a, "models/prod", run_ids(a)[2], reason="better")
    assert as_json(a, "push")["promotions"]["pushed"] == ["models/prod"]
    assert as_json(b, "fetch")["promotions"]["updated"] == ["models/prod"]
    assert git(b, "rev-parse", "refs/promoted/models/prod").strip() == second
    # Changed here and there: reported both ways, never overwritten.
    theirs = promote(a, "models/prod", run_ids(a)[0], reason="in a")
    assert gitrun(a, "push").returncode == 0
    mine = promote(b, "models/prod", run_ids(b)[1], reason="in b")
    summary = as_json(b, "push", code=1)
    assert summary["promotions"]["refused"] == [{"name": "models/prod", "reason": "diverged",
                                                 "message": "changed here and there; not overwritten"}]
    assert remote_refs(b, "refs/promoted/*") == {"refs/promoted/models/prod": theirs}
    proc = gitrun(b, "fetch")
    assert proc.returncode == 1
    assert "diverged promotion (changed here and there; not overwritten): models/prod" in proc.stderr
    assert git(b, "rev-parse", "refs/promoted/models/prod").strip() == mine


def test_crafted_promotions_are_refused_on_fetch(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    many_runs(a, 1)
    rid = run_ids(a)[0]
    good = promote(a, "good", rid)
    promote(a, "bad-json", rid, raw=b"{not json")
    promote(a, "escape", rid, raw=promotion_json(a, "escape", rid, path="../outside.bin"))
    promote(a, "liar", rid, raw=promotion_json(a, "someone-else", rid))
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*", "refs/promoted/*:refs/promoted/*")
    proc = gitrun(b, "fetch", "--json")
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    assert summary["promotions"]["new"] == ["good"]
    assert sorted(r["name"] for r in summary["promotions"]["refused"]) == ["bad-json", "escape", "liar"]
    assert all(r["reason"] == "invalid" for r in summary["promotions"]["refused"])
    assert local_refs(b, "refs/promoted/") == {"refs/promoted/good": good}
    proc = gitrun(b, "fetch")
    lines = [line for line in proc.stderr.splitlines() if "promotion" in line]
    assert len(lines) == 3 and all(line.startswith("git run: invalid promotion record, not taken: ")
                                   for line in lines), proc.stderr
    assert any("escape" in line and ".." in line for line in lines)
    assert not (tmp_path / "outside.bin").exists()
    assert "Traceback" not in proc.stderr


def test_remote_setup_carries_promotions_with_plain_git(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    many_runs(a, 1)
    for repo in (a, b):
        proc = gitrun(repo, "remote", "setup")
        assert proc.returncode == 0
        assert "added remote.origin.fetch +refs/promoted/*:refs/gitruns/promoted/origin/*" in proc.stdout
        assert "added remote.origin.push refs/promoted/*:refs/promoted/*" in proc.stdout
    commit = promote(a, "prod", run_ids(a)[0])
    subprocess.run(["git", "push", "-q"], cwd=a, check=True, capture_output=True)
    assert remote_refs(a, "refs/promoted/*") == {"refs/promoted/prod": commit}
    subprocess.run(["git", "fetch", "-q"], cwd=b, check=True, capture_output=True)
    assert git(b, "rev-parse", "refs/gitruns/promoted/origin/prod").strip() == commit
    assert as_json(b, "fetch")["promotions"]["new"] == ["prod"]


def test_a_promotion_made_by_promote_reaches_another_clone_with_its_artifact(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    store = tmp_path / "store"
    for repo in (a, b):
        git(repo, "config", "remote.origin.gitrunsStore", str(store))
    make = "import sys; open('model.txt', 'w').write(sys.argv[1])"
    assert gitrun(a, "exec", "-o", "model.txt", "--", "python", "-c", make, "v1").returncode == 0
    rid = run_ids(a)[0]
    proc = gitrun(a, "promote", rid, "model.txt", "--as", "models/prod", "--reason", "first")
    assert proc.returncode == 0, proc.stderr
    summary = as_json(a, "push")
    assert summary["pushed"] == [rid] and summary["promotions"]["pushed"] == ["models/prod"]
    assert summary["artifacts"]["uploaded"] == 1
    assert as_json(b, "fetch")["promotions"]["new"] == ["models/prod"]
    proc = gitrun(b, "checkout", "--promoted", "models/prod")
    assert proc.returncode == 0, proc.stderr
    assert (b / "model.txt").read_text() == "v1"
    git(remote, "fsck", "--strict")


def test_a_record_refused_by_fetch_is_not_warned_about_again_by_ls(tmp_path: Path) -> None:
    remote, a, b = two_clones(tmp_path)
    many_runs(a, 3)
    bad = run_ids(a)[1]
    rec = json.loads(git(a, "cat-file", "-p", f"refs/runs/{bad}:.gitruns/run.json"))
    rec["status"] = "pwned"
    amend(a, f"refs/runs/{bad}", "run.json", json.dumps(rec).encode(), "crafted")
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")
    proc = gitrun(b, "fetch")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and bad in proc.stderr and "invalid record at status" in proc.stderr
    assert bad not in run_ids(b) and len(run_ids(b)) == 3
    proc = gitrun(b, "ls")
    assert proc.returncode == 0 and bad not in proc.stderr, proc.stderr


def test_push_and_fetch_skip_click_yet_parse_as_click_does(tmp_path: Path) -> None:
    """Plain push, fetch and pull go past the click CLI (tens of milliseconds a call);
    anything else on their command line is still click's, with its usage errors."""
    import sys

    remote = bare(tmp_path / "remote.git")
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", str(remote))
    many_runs(repo, 2)
    code = ("import sys; sys.argv = ['git-run'] + sys.argv[1:]\n"
            "import gitruns.main\n"
            "try:\n    gitruns.main.main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print('click' in sys.modules, code, file=sys.stderr)")
    for args in (["push"], ["push", "origin", "--json"], ["fetch"], ["pull", "--json", "origin"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], cwd=repo, capture_output=True, text=True)
        assert proc.stderr.splitlines()[-1] == "False 0", (args, proc.stderr)
    assert set(as_json(repo, "push", "origin")["up_to_date"]) == set(run_ids(repo))
    for args, word in ((["fetch", "origin", "extra"], "extra"), (["push", "--jsn"], "--jsn"),
                       (["pull", "-x"], "-x")):
        proc = gitrun(repo, *args)
        assert proc.returncode == 2 and word in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    proc = gitrun(repo, "push", "nowhere")
    assert proc.returncode == 2 and "no remote named 'nowhere'" in proc.stderr and proc.stderr.count("\n") == 1
    proc = gitrun(repo, "fetch", "-h")
    assert proc.returncode == 0 and "Usage: git run fetch" in proc.stdout


def test_a_push_with_nothing_new_is_answered_without_libgit2_as_the_full_push_answers(tmp_path: Path) -> None:
    """Only when it is certain: a tracking ref to correct, a store not known to hold a
    run's objects, an object set aside in the store, a remote to choose by the
    branch's upstream, or a run to send take the full push, which does its work."""
    import sys

    from test_sharing import model_run

    remote, a, _ = two_clones(tmp_path)
    rid, digest = model_run(a)
    many_runs(a, 2)
    promote(a, "models/prod", rid)
    assert gitrun(a, "push").returncode == 0
    code = ("import json, sys; sys.argv = ['git-run', 'push', '--json'] + sys.argv[1:]\n"
            "import gitruns.main\n"
            "try:\n    gitruns.main.main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print(json.dumps(['pygit2' in sys.modules, code]), file=sys.stderr)")

    def push(*args: str) -> tuple[dict, bool]:
        proc = subprocess.run([sys.executable, "-c", code, *args], cwd=a, capture_output=True, text=True)
        loaded, status = json.loads(proc.stderr.splitlines()[-1])
        assert status == 0, proc.stderr
        return json.loads(proc.stdout), loaded

    summary, loaded = push()
    assert not loaded
    full = subprocess.run([sys.executable, "-c", "import gitruns, json; print(json.dumps(gitruns.push().to_dict()))"],
                          cwd=a, capture_output=True, text=True, check=True)
    assert summary == json.loads(full.stdout)
    assert summary["up_to_date"] == run_ids(a) and summary["pushed"] == [] and summary["artifacts"]["has_store"]
    assert summary["promotions"]["up_to_date"] == ["models/prod"]
    assert push("origin") == (summary, False)
    # A tracking ref gone (or wrong): the full push writes it again.
    tracking = f"refs/gitruns/remotes/origin/{rid}"
    commit = git(a, "rev-parse", tracking).strip()
    git(a, "update-ref", "-d", tracking)
    assert push() == (summary, True)
    assert git(a, "rev-parse", tracking).strip() == commit
    assert push() == (summary, False)
    # The store lost an object and this clone's note of what it holds is gone: checked and uploaded again.
    stored = remote / "gitruns" / "cache" / "xxh3_128" / digest[9:11] / digest[11:]
    stored.chmod(0o644)
    stored.unlink()
    (a / ".git" / "gitruns" / "stores.sqlite").unlink()
    again, loaded = push()
    assert loaded and again["artifacts"]["uploaded"] == 1 and stored.exists()
    assert push() == (summary, False)
    # An object the store set aside: the full push looks whether it can repair it.
    (remote / "gitruns" / "cache" / "quarantine").mkdir()
    (remote / "gitruns" / "cache" / "quarantine" / "0123").write_bytes(b"bit rot")
    assert push() == (summary, True)
    (remote / "gitruns" / "cache" / "quarantine" / "0123").unlink()
    # Two remotes: which one is the default is the branch's upstream's business.
    git(a, "remote", "add", "other", str(bare(tmp_path / "other.git")))
    assert push() == (summary, True)
    # A new run is pushed.
    new = many_runs(a, 1)
    pushed, loaded = push("origin")
    assert loaded and pushed["pushed"] == new
