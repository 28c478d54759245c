"""--json summaries of push, fetch, pull, checkout and hooks install; tables that
hold any text; commands shown as they would be typed."""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import wcwidth
from conftest import git, gitrun, record, run_ids
from test_sharing import amend, clone, model_run, origin

from gitruns.table import clip, render
from gitruns.terminal import command_text


def summary(proc: subprocess.CompletedProcess[str]) -> dict:
    """The one JSON object a --json verb prints, and nothing else on stdout."""
    return json.loads(proc.stdout)


# --- push, fetch, pull --------------------------------------------------------


def test_push_and_fetch_json_say_what_happened(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    model, _ = model_run(a)
    assert gitrun(a, "exec", "--", "python", "-c", "raise SystemExit(3)").returncode == 3
    failed = run_ids(a)[-1]

    proc = gitrun(a, "push", "--json")
    assert proc.returncode == 0, proc.stderr
    out = summary(proc)
    assert out["remote"] == "origin" and out["ok"] is True
    assert sorted(out["pushed"]) == sorted([model, failed]) and out["up_to_date"] == [] and out["refused"] == []
    arts = out["artifacts"]
    assert arts["uploaded"] == 1 and arts["bytes"] == 1_000_000 and arts["has_store"] is True
    assert arts["store"] and arts["missing_locally"] == [] and arts["corrupt"] == []
    assert sorted(git(bare, "for-each-ref", "--format=%(refname)", "refs/runs/").split()) == \
        sorted(f"refs/runs/{r}" for r in (model, failed))

    out = summary(gitrun(a, "push", "--json"))
    assert out["pushed"] == [] and sorted(out["up_to_date"]) == sorted([model, failed])
    assert out["artifacts"]["uploaded"] == 0 and out["artifacts"]["bytes"] == 0

    proc = gitrun(b, "fetch", "--json")
    assert proc.returncode == 0, proc.stderr
    out = summary(proc)
    assert out == {"remote": "origin", "new": sorted([model, failed]), "updated": [], "unchanged": [],
                   "ahead": [], "refused": [], "ok": True,
                   "promotions": {"new": [], "updated": [], "unchanged": [], "ahead": [], "refused": []}}
    assert run_ids(b) == sorted([model, failed])

    update = amend(a, model, {"tags": {"reviewed": "yes"}})
    assert gitrun(a, "push").returncode == 0
    proc = gitrun(b, "pull", "--json")
    assert proc.returncode == 0, proc.stderr
    out = summary(proc)
    assert out["updated"] == [model] and out["unchanged"] == [failed] and out["new"] == []
    assert git(b, "rev-parse", f"refs/runs/{model}").strip() == update
    # Human output is unchanged.
    assert gitrun(b, "fetch").stdout == "origin: 0 new run(s), 0 updated, 2 unchanged\n"


def test_json_summaries_of_partial_failures_name_each_refusal(tmp_path: Path) -> None:
    url, _ = origin(tmp_path)
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    shared = run_ids(a)[-1]
    assert gitrun(a, "push").returncode == 0
    assert gitrun(b, "fetch").returncode == 0
    assert gitrun(a, "exec", "--", "python", "-c", "pass").returncode == 0
    broken = run_ids(a)[-1]
    theirs = amend(a, shared, {"tags": {"reviewed": "there"}}, "update in a")
    mine = amend(b, shared, {"tags": {"reviewed": "here"}}, "update in b")
    amend(a, broken, {"status": "pwned"})
    git(a, "push", "-q", "origin", "refs/runs/*:refs/runs/*")

    proc = gitrun(b, "push", "--json")
    assert proc.returncode == 1
    out = summary(proc)
    assert out["ok"] is False and out["pushed"] == [] and out["up_to_date"] == []
    assert [(r["id"], r["reason"]) for r in out["refused"]] == [(shared, "diverged")]
    assert proc.stderr == f"git run: diverged (changed here and there; not overwritten): {shared}\n"
    assert git(a, "ls-remote", "origin", f"refs/runs/{shared}").split()[0] == theirs

    proc = gitrun(b, "fetch", "--json")
    assert proc.returncode == 1
    out = summary(proc)
    assert out["ok"] is False and out["new"] == [] and out["updated"] == []
    refused = {r["id"]: r for r in out["refused"]}
    assert refused[shared]["reason"] == "diverged"
    assert refused[broken]["reason"] == "invalid" and "invalid record at status" in refused[broken]["message"]
    assert git(b, "rev-parse", f"refs/runs/{shared}").strip() == mine
    assert len(proc.stderr.splitlines()) == 2


def test_json_errors_before_anything_is_done_are_one_line_and_no_json(tmp_path: Path, repo: Path) -> None:
    for args in (["push", "--json"], ["fetch", "--json"], ["pull", "--json"]):
        proc = gitrun(repo, *args)
        assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1


# --- checkout -----------------------------------------------------------------


def test_checkout_json_names_files_written_unchanged_refused_and_missing(repo: Path) -> None:
    script = ("import os; os.makedirs('out', exist_ok=True); open('out/a.bin', 'w').write('a'); "
              "open('model.bin', 'w').write('m')")
    assert gitrun(repo, "exec", "-o", "out", "-o", "model.bin", "-o", "never.bin", "--",
                  "python", "-c", script).returncode == 0
    rid = run_ids(repo)[-1]
    assert {a["path"]: a["status"] for a in record(repo, rid)["artifacts"]}["never.bin"] == "missing"
    before = git(repo, "status", "--porcelain")
    (repo / "out" / "a.bin").unlink()

    proc = gitrun(repo, "checkout", rid, "--json")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc) == {"run": rid, "written": ["out/a.bin"], "unchanged": ["model.bin"], "refused": [],
                             "missing": [{"path": "never.bin", "status": "missing"}], "ok": True}
    assert (repo / "out" / "a.bin").read_text() == "a"

    (repo / "model.bin").write_text("my newer model")
    proc = gitrun(repo, "checkout", rid, "--json")
    assert proc.returncode == 1
    out = summary(proc)
    assert out["ok"] is False and out["written"] == [] and out["unchanged"] == ["out/a.bin"]
    assert out["refused"] == [{"path": "model.bin", "reason": "modified"}]
    assert proc.stderr == "git run: error: would overwrite modified files (use --force): model.bin\n"
    assert (repo / "model.bin").read_text() == "my newer model"

    out = summary(gitrun(repo, "checkout", rid, "--json", "--force"))
    assert out["written"] == ["model.bin"] and (repo / "model.bin").read_text() == "m"
    assert git(repo, "status", "--porcelain") == before
    # Human output is unchanged.
    assert gitrun(repo, "checkout", rid).stdout == "artifacts already up to date\n"


# --- hooks install ------------------------------------------------------------


def test_hooks_install_json_says_which_hooks_were_installed_chained_or_already_there(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit").chmod(0o755)
    proc = gitrun(repo, "hooks", "install", "--json")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc) == {"hooks_dir": str(hooks), "installed": ["post-commit", "pre-merge-commit", "post-merge"],
                             "chained": ["pre-commit"], "updated": [], "already_installed": []}
    assert (hooks / "pre-commit.legacy").read_text() == "#!/bin/sh\nexit 0\n"
    out = summary(gitrun(repo, "hooks", "install", "--pre-commit", "--json"))
    assert out["already_installed"] == ["pre-commit", "pre-merge-commit"] and out["installed"] == []
    # Human output is unchanged.
    assert gitrun(repo, "hooks", "install").stdout.count("already installed") == 4


# --- tables and commands ------------------------------------------------------


NAMES = ["日本語の実験", "café au lait", "cafe\u0301 noir", "fusée 🚀 launch", "👩\u200d🔬 lab", "two\nlines\tand tab"]


def test_ls_columns_line_up_with_wide_and_combining_characters_and_newlines(repo: Path) -> None:
    for name in NAMES:
        assert gitrun(repo, "exec", "--name", name, "--", "python", "-c", "pass").returncode == 0
    proc = gitrun(repo, "ls")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(NAMES) + 1  # no name breaks a row
    assert "two\\x0alines\\x09and tab" in proc.stdout
    # Every row's STATUS column starts at the same terminal column as its header.
    column = lines[0].index("STATUS")
    for line in lines[1:]:
        assert "succeeded" in line
        assert wcwidth.wcswidth(line[:line.index("succeeded")]) == column, line


def test_commands_are_shown_as_they_would_be_typed(repo: Path) -> None:
    argv = ["python", "-c", "import sys; print(sys.argv)", "my file", "it's", "two\nlines", "$HOME"]
    assert gitrun(repo, "exec", "--", *argv).returncode == 0
    first = run_ids(repo)[-1]
    shown = command_text(argv)
    assert "$'two\\nlines'" in shown and "'my file'" in shown
    show = gitrun(repo, "show", first).stdout
    assert f"command:    {shown}\n" in show
    # Pasted back into a shell, it is the same command.
    echoed = subprocess.run(["bash", "-c", f"printf '%s\\0' {shown}"], capture_output=True, text=True).stdout
    assert echoed.split("\0")[:-1] == argv
    assert gitrun(repo, "exec", "--", "python", "-c", "print('other')").returncode == 0
    second = run_ids(repo)[-1]
    diff = gitrun(repo, "diff", first, second).stdout
    assert f"  ~ command: {shown} -> python -c 'print('\"'\"'other'\"'\"')'\n" in diff
    assert "python -c 'import sys; print(sys.argv)'" in gitrun(repo, "ls").stdout


# --- in-process: the pure parts -------------------------------------------------


def test_render_measures_cells_not_characters() -> None:
    text = render(["NAME", "N"], [["日本", "1"], ["e\u0301e", "22"], ["a\nb", "3"]], right={1})
    assert text.splitlines() == ["NAME     N", "日本     1", "e\u0301e      22", "a\\x0ab   3"]


@pytest.mark.parametrize(("text", "most", "expected"), [
    ("short", 10, "short"),
    ("日本語の実験", 7, "日本語…"),
    ("e\u0301e\u0301e\u0301e\u0301", 3, "e\u0301e\u0301…"),  # an accent stays with its letter
    ("👩\u200d🔬👩\u200d🔬", 3, "👩\u200d🔬…"),  # an emoji sequence stays whole
    ("new\nline", 20, "new\\x0aline"),
    ("\x1b[31mred", 20, "^[[31mred"),
])
def test_clip_cuts_at_characters_in_cells(text: str, most: int, expected: str) -> None:
    assert clip(text, most) == expected
    assert wcwidth.wcswidth(clip(text, most)) <= most


@pytest.mark.parametrize("argv", [
    ["python", "train.py", "--lr", "0.01"],
    ["echo", "a b", "it's", "", "$HOME", "`id`"],
    ["printf", "a\tb\nc", "\x1b[2J", "\u202eevil", "back\\slash\n"],
])
def test_command_text_is_shlex_join_or_pastes_back_with_visible_escapes(argv: list[str]) -> None:
    text = command_text(argv)
    assert text.isprintable()
    if all(word.isprintable() for word in argv):
        assert text == shlex.join(argv)
    echoed = subprocess.run(["bash", "-c", f"printf '%s\\0' {text}"], capture_output=True, text=True).stdout
    assert echoed.split("\0")[:-1] == argv


def test_hooks_install_that_stops_part_way_still_says_what_it_did(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("post-commit", "post-commit.legacy"):
        (hooks / name).write_text("#!/bin/sh\nexit 0\n")
    proc = gitrun(repo, "hooks", "install", "--json")
    assert proc.returncode == 1
    assert summary(proc)["installed"] == ["pre-commit"]  # the one before the one that stopped it
    assert proc.stderr == (f"git run: error: {hooks / 'post-commit.legacy'} already exists; "
                           "move it away before installing\n")
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\nexit 0\n"


def test_checkout_that_fails_part_way_still_says_what_it_wrote(repo: Path) -> None:
    script = "open('a.bin', 'w').write('a'); open('b.bin', 'w').write('b')"
    assert gitrun(repo, "exec", "-o", "a.bin", "-o", "b.bin", "--", "python", "-c", script).returncode == 0
    rid = run_ids(repo)[-1]
    digests = {a["path"]: a["digest"].split(":")[1] for a in record(repo, rid)["artifacts"]}
    obj = repo / ".git" / "gitruns" / "cache" / "xxh3_128" / digests["b.bin"][:2] / digests["b.bin"][2:]
    obj.chmod(0o644)
    obj.write_text("bit rot")
    (repo / "a.bin").unlink()
    (repo / "b.bin").unlink()
    proc = gitrun(repo, "checkout", rid, "--json")
    assert proc.returncode == 1
    out = summary(proc)
    assert out["written"] == ["a.bin"] and out["unchanged"] == [] and out["refused"] == []
    assert proc.stderr.count("\n") == 1 and "is corrupt; not restoring b.bin" in proc.stderr
    assert (repo / "a.bin").read_text() == "a" and not (repo / "b.bin").exists()


def test_push_and_fetch_results_give_each_refusal_its_reason() -> None:
    from gitruns.remote import SyncReport
    from gitruns.sharing import FetchResult, PushResult

    report = SyncReport(pushed=["r1"], unchanged=["r2"], diverged=["r3"],
                        rejected=["r4: pre-receive hook declined: see: policy"])
    pushed = PushResult("origin", report, refused=["r5: run r5: invalid record at status"])
    assert pushed.refusals() == [
        {"id": "r3", "reason": "diverged", "message": "changed here and there; not overwritten"},
        {"id": "r4", "reason": "rejected", "message": "pre-receive hook declined: see: policy"},
        {"id": "r5", "reason": "invalid", "message": "run r5: invalid record at status"},
    ]
    assert pushed.failed() and pushed.to_dict()["ok"] is False
    assert not PushResult("origin", SyncReport(pushed=["r1"], behind=["r2"])).failed()
    fetched = FetchResult("origin", SyncReport(new=["r1"], ahead=["r2"], invalid=["r3: bad: very"]))
    assert fetched.to_dict() == {"remote": "origin", "new": ["r1"], "updated": [], "unchanged": [], "ahead": ["r2"],
                                 "refused": [{"id": "r3", "reason": "invalid", "message": "bad: very"}], "ok": False,
                                 "promotions": {"new": [], "updated": [], "unchanged": [], "ahead": [],
                                                "refused": []}}


def test_run_commit_subjects_stay_one_line(repo: Path) -> None:
    """`git log --oneline refs/runs/<id>` shows each run on one line, whatever its
    name and arguments hold: the command shell-quoted, the name escaped."""
    proc = gitrun(repo, "exec", "-q", "--name", "two\nlines", "--", "python", "-c", "pass", "a\nb")
    assert proc.returncode == 0, proc.stderr
    rid = run_ids(repo)[-1]
    body = git(repo, "log", "--format=%B", "-1", f"refs/runs/{rid}")
    subject = body.splitlines()[0]
    assert subject == f"run {rid[:12]}: succeeded (two\\x0alines): python -c pass $'a\\nb'"
    assert body.splitlines()[1] == "" and f"Run-Id: {rid}" in body
