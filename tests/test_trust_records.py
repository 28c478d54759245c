"""Records from elsewhere are untrusted: bounded before parsing, never printed raw,
and readable in partial clones (objects come through git, on demand)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import git, gitrun, make_repo, record, run_ids
from test_sharing import clone, origin

# What must never reach a terminal from a record: C0 controls (but newline),
# DEL, C1 controls, and bidi overrides/isolates that reorder what is shown.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")


def run(repo: Path, *argv: str, name: str | None = None) -> str:
    proc = gitrun(repo, "exec", *(["--name", name] if name else []), "--", *argv)
    assert proc.returncode == 0, proc.stderr
    return run_ids(repo)[-1]


def craft(repo: Path, rid: str, files: dict[str, bytes]) -> str:
    """A further commit on run ``rid`` whose .gitruns/ files are replaced by ``files``
    (written with plain git plumbing, as an attacker would)."""
    def blob(data: bytes) -> str:
        return subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data,
                              capture_output=True, check=True).stdout.decode().strip()

    entries = {}
    for line in git(repo, "ls-tree", f"refs/runs/{rid}:.gitruns").splitlines():
        meta, name = line.split("\t", 1)
        entries[name] = meta
    for name, data in files.items():
        entries[name] = f"100644 blob {blob(data)}"
    sub = subprocess.run(["git", "mktree"], cwd=repo, input="".join(f"{m}\t{n}\n" for n, m in entries.items()),
                         capture_output=True, text=True, check=True).stdout.strip()
    top = git(repo, "ls-tree", f"refs/runs/{rid}")
    old_sub = git(repo, "rev-parse", f"refs/runs/{rid}:.gitruns").strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=top.replace(old_sub, sub), capture_output=True,
                          text=True, check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-p", f"refs/runs/{rid}", "-m", "crafted").strip()
    git(repo, "update-ref", f"refs/runs/{rid}", commit)
    return commit


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def one_line(stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr


# -- bounded records --------------------------------------------------------

def test_deeply_nested_records_are_refused_and_never_stop_the_others(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    good = run(a, "python", "-c", "print('good')", name="good")
    deep = run(a, "python", "-c", "pass", name="deep")
    craft(a, deep, {"run.json": deep_json(100_000)})
    deep2 = run(a, "python", "-c", "pass", name="deep2")
    craft(a, deep2, {"run.json": deep_object(100_000)})
    later = run(a, "python", "-c", "print('later')", name="later")
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")

    proc = gitrun(b, "fetch")
    one_line(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    refused = [line for line in proc.stderr.splitlines() if "invalid record, not taken" in line]
    assert len(refused) == 2 and all("nested" in line for line in refused), proc.stderr
    assert good in run_ids(b) and later in run_ids(b) and deep not in run_ids(b) and deep2 not in run_ids(b)

    # The refused runs stay in the tracking refs; ls lists the others and stays
    # quiet about those already reported by fetch.
    proc = gitrun(b, "ls", "--json")
    one_line(proc.stderr)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert {r["id"] for r in json.loads(proc.stdout)} == {good, later}
    proc = gitrun(b, "show", "good")
    assert proc.returncode == 0 and f"run {good}" in proc.stdout, proc.stderr
    proc = gitrun(b, "show", deep)
    one_line(proc.stderr)
    assert proc.returncode == 1 and "nested" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    proc = gitrun(b, "diff", good, later)
    assert proc.returncode == 0, proc.stderr


def test_bad_tracking_refs_warn_once_and_bad_local_refs_never_break_ls(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    good = run(a, "python", "-c", "pass", name="good")
    deep = run(a, "python", "-c", "pass", name="deep")
    craft(a, deep, {"run.json": deep_object(50_000)})
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")
    # A plain `git fetch` with the refspec of `git run remote setup` brings tracking refs.
    assert gitrun(b, "remote", "setup").returncode == 0
    git(b, "fetch", "-q")
    first = gitrun(b, "ls")
    one_line(first.stderr)
    assert first.returncode == 0 and "good" in first.stdout, first.stderr
    warnings = [line for line in first.stderr.splitlines() if line.startswith("gitruns: warning:")]
    assert len(warnings) == 1 and deep in warnings[0] and "nested" in warnings[0], first.stderr
    again = gitrun(b, "ls")
    assert again.returncode == 0 and again.stderr == "" and again.stdout == first.stdout, again.stderr

    # Bad records can also be fetched straight into refs/runs/* by plain git.
    c = clone(url, tmp_path / "c")
    git(c, "fetch", "-q", "origin", "+refs/runs/*:refs/runs/*")
    for args in (["ls"], ["ls", "--json"], ["show", good], ["show", "good"], ["log", good],
                 ["diff", good, good]):
        proc = gitrun(c, *args)
        one_line(proc.stderr)
        assert proc.returncode == 0, (args, proc.stderr)
    proc = gitrun(c, "show", deep)
    one_line(proc.stderr)
    assert proc.returncode == 1 and "nested" in proc.stderr, proc.stderr


def test_oversized_records_are_refused_with_one_line(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    good = run(a, "python", "-c", "pass", name="good")
    big = run(a, "python", "-c", "pass", name="big")
    rec = record(a, big)
    rec["name"] = "x" * (17 << 20)  # valid JSON, valid schema, only too big
    craft(a, big, {"run.json": json.dumps(rec).encode()})
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")
    proc = gitrun(b, "fetch")
    one_line(proc.stderr)
    assert proc.returncode == 1 and good in run_ids(b) and big not in run_ids(b)
    lines = [line for line in proc.stderr.splitlines() if big in line]
    assert len(lines) == 1 and "too large" in lines[0] and len(lines[0]) < 400, proc.stderr


def test_config_bombs_and_deep_environment_are_refused_not_expanded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "pass\n"})
    good = run(repo, "python", "train.py", name="good")
    bomb = run(repo, "python", "train.py", name="bomb")
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        laughs.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    craft(repo, bomb, {"config.yaml": ("\n".join(laughs) + "\n").encode()})
    deep = run(repo, "python", "train.py", name="deep")
    craft(repo, deep, {"config.yaml": b"x: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
                       "env.json": deep_json(50_000)})
    for rid in (deep, bomb):
        for args in (["show", "--json", rid], ["diff", good, rid], ["diff", "--json", rid, good], ["show", rid]):
            proc = gitrun(repo, *args, timeout=60)
            one_line(proc.stderr)
            assert proc.returncode in (0, 1), (args, proc.returncode, proc.stderr)
            assert len(proc.stdout) < 100_000, args
            assert "refused" in proc.stderr + proc.stdout, (args, proc.stderr)
    # The good run is still shown whole.
    proc = gitrun(repo, "show", "--json", good)
    assert proc.returncode == 0 and json.loads(proc.stdout)["name"] == "good"


# -- terminal safety --------------------------------------------------------

# A lone surrogate (JSON "\\ud800") cannot even be encoded for a terminal.
EVIL = "\x1b[31mred\x1b]0;pwned\x07\x9b2J\u202eevil\r\x7f\u2028\ud800end"


def test_record_text_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    good = run(a, "python", "-c", "pass", name="good")
    evil = run(a, "python", "-c", "pass", name="evil")
    rec = record(a, evil)
    rec.update(name="evil" + EVIL, command=["python", EVIL], cwd=EVIL, host=EVIL, user=EVIL,
               tags={EVIL: EVIL}, metrics={"loss" + EVIL: 1.0}, error={"type": "exit", "message": EVIL})
    rec["code"]["branch"] = EVIL
    rec["code"]["dirty"] = True
    rec["code"]["changed_files"] = [{"path": EVIL, "status": "M"}]
    rec["code"]["untracked_files"] = [EVIL]
    craft(a, evil, {"run.json": json.dumps(rec).encode(),
                    "config.yaml": b'lr: "\\e[31mred\\x07\\u202e"\n"\\e[2Jkey": 1\n'})
    broken = run(a, "python", "-c", "pass", name="broken")
    rec = record(a, broken)
    rec["schema"] = EVIL
    craft(a, broken, {"run.json": json.dumps(rec).encode()})
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")
    fetched = gitrun(b, "fetch")
    assert evil in run_ids(b) and broken not in run_ids(b), fetched.stderr
    outputs = {"fetch": fetched}
    for args in (["ls"], ["ls", "-n", "5"], ["show", evil], ["show", "good"], ["diff", good, evil],
                 ["diff", evil, good, "--patch"], ["show", broken], ["log", evil]):
        outputs[" ".join(args)] = gitrun(b, *args)
    for what, proc in outputs.items():
        one_line(proc.stderr)
        assert proc.returncode in (0, 1), (what, proc.returncode, proc.stderr)
        text = proc.stdout + proc.stderr if not what.startswith("log") else proc.stderr
        assert not RAW.search(text), (what, RAW.findall(text), text[:2000])
    # The text is still there, made visible.
    assert "red" in outputs["ls"].stdout and "evil" in outputs["show " + evil].stdout
    # --json keeps the exact values, with control characters escaped.
    for args in (["ls", "--json"], ["show", "--json", evil], ["diff", "--json", good, evil]):
        proc = gitrun(b, *args)
        assert proc.returncode == 0, proc.stderr
        assert not RAW.search(proc.stdout.replace("\n", " ")), (args, RAW.findall(proc.stdout))
        data = json.loads(proc.stdout)
        if args[0] == "ls":
            assert [r["name"] for r in data if r["id"] == evil] == ["evil" + EVIL]
        elif args[0] == "show":
            assert data["command"] == ["python", EVIL] and data["config"]["lr"] == "\x1b[31mred\x07\u202e"
        else:
            assert data["run"]["name"]["b"] == "evil" + EVIL


# -- partial clones ---------------------------------------------------------

MODEL = "open('model.bin', 'wb').write(bytes(range(256)) * 1000)"


def test_every_verb_works_in_a_partial_clone(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    first = run(a, "python", "train.py", name="first")
    (a / "train.py").write_text("print('changed')\nprint('twice')\n")
    git(a, "commit", "-qam", "change")
    second = run(a, "python", "-c", MODEL, name="second")
    proc = gitrun(a, "exec", "--name", "model", "-o", "model.bin", "--", "python", "-c", MODEL)
    assert proc.returncode == 0, proc.stderr
    model = run_ids(a)[-1]
    proc = gitrun(a, "push")
    assert proc.returncode == 0, proc.stderr

    p = clone(url, tmp_path / "p", "--filter=blob:none")
    assert git(p, "config", "remote.origin.promisor").strip() == "true"
    proc = gitrun(p, "fetch")
    assert proc.returncode == 0, proc.stderr
    assert "3 new run(s)" in proc.stdout and set(run_ids(p)) == {first, second, model}
    proc = gitrun(p, "ls", "--json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert {r["name"] for r in json.loads(proc.stdout)} == {"first", "second", "model"}
    proc = gitrun(p, "show", first)
    assert proc.returncode == 0 and "name" not in proc.stderr, proc.stderr
    proc = gitrun(p, "diff", first, second, "--patch")
    assert proc.returncode == 0, proc.stderr
    assert "+print('changed')" in proc.stdout and "M train.py" in proc.stdout
    proc = gitrun(p, "log", first)
    assert proc.returncode == 0 and proc.stdout == "training\n", proc.stderr
    proc = gitrun(p, "checkout", model)
    assert proc.returncode == 0, proc.stderr
    assert (p / "model.bin").read_bytes() == bytes(range(256)) * 1000
    # The clone's branch is origin's (the change above was not pushed).
    proc = gitrun(p, "exec", "--", "python", "train.py")
    assert proc.returncode == 0 and proc.stdout == "training\n", proc.stderr
    assert record(p)["code"]["dirty"] is False and record(p)["status"] == "succeeded"


def test_records_of_the_wrong_object_type_are_skipped(tmp_path: Path) -> None:
    """A crafted run whose run.json is a directory or a submodule, or whose
    .gitruns is a file: listed as refused, never a crash."""
    repo = make_repo(tmp_path / "repo", {"train.py": "pass\n"})
    good = run(repo, "python", "train.py", name="good")
    shapes = {}
    for kind in ("tree", "commit", "blob"):
        rid = run(repo, "python", "train.py")
        sub = git(repo, "rev-parse", f"refs/runs/{rid}:.gitruns").strip()
        top = git(repo, "ls-tree", f"refs/runs/{rid}")
        if kind == "blob":  # .gitruns itself is a file
            blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=b"{}",
                                  capture_output=True, check=True).stdout.decode().strip()
            top = top.replace(f"040000 tree {sub}", f"100644 blob {blob}")
        else:
            entry = f"040000 tree {sub}" if kind == "tree" else "160000 commit " + "1" * 40
            inner = subprocess.run(["git", "mktree"], cwd=repo, input=f"{entry}\trun.json\n", capture_output=True,
                                   text=True, check=True).stdout.strip()
            top = top.replace(sub, inner)
        tree = subprocess.run(["git", "mktree"], cwd=repo, input=top, capture_output=True, text=True,
                              check=True).stdout.strip()
        commit = git(repo, "commit-tree", tree, "-p", f"refs/runs/{rid}", "-m", "crafted").strip()
        git(repo, "update-ref", f"refs/runs/{rid}", commit)
        shapes[kind] = rid
    proc = gitrun(repo, "ls")
    one_line(proc.stderr)
    assert proc.returncode == 0 and "good" in proc.stdout, proc.stderr
    assert all(any(rid in line for line in proc.stderr.splitlines()) for rid in shapes.values()), proc.stderr
    for rid in shapes.values():
        proc = gitrun(repo, "show", rid)
        one_line(proc.stderr)
        assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert gitrun(repo, "show", good).returncode == 0


def test_a_bad_local_record_is_not_pushed_and_never_stops_the_others(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    deep = run(a, "python", "-c", "pass", name="deep")
    good = run(a, "python", "-c", "pass", name="good")
    craft(a, deep, {"run.json": deep_object(50_000)})
    proc = gitrun(a, "push")
    one_line(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    assert [line for line in proc.stderr.splitlines() if deep in line and "not pushed" in line], proc.stderr
    there = git(bare, "for-each-ref", "--format=%(refname)", "refs/runs/").split()
    assert there == [f"refs/runs/{good}"]
