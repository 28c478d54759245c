"""The command line in-process, as sqlite-utils tests its CLI: exit codes and exact output
of usage errors and help, without starting a process per case.

``gitruns.cli.run(argv)`` is the executable's own entry point.  It installs a
warnings hook and ``--debug`` sets GITRUNS_DEBUG, so every call runs inside
``warnings.catch_warnings()`` and with GITRUNS_DEBUG put back afterwards; the
working directory is changed with monkeypatch only.  Real repositories, made by
git, where one is needed.
"""
from __future__ import annotations

import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import gitruns
from gitruns import cli

Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    def call(*argv: str) -> tuple[int, str, str]:
        monkeypatch.delenv("GITRUNS_DEBUG", raising=False)  # undone at teardown, whatever --debug set
        capsys.readouterr()
        with warnings.catch_warnings():
            code = cli.run(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return call


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    monkeypatch.chdir(path)
    return path


NO_RUN = "no run matches 'nope': this repository has no runs yet"
USAGE = [
    (["bogus"], "No such command 'bogus'. (see 'git run -h')"),
    (["--bogus"], "No such option '--bogus'. (see 'git run -h')"),
    (["ls", "--zzz"], "No such option '--zzz'. (see 'git run ls -h')"),
    (["ls", "--limit", "x"],
     "Invalid value for '--limit' / '-n': 'x' is not a valid integer. (see 'git run ls -h')"),
    (["ls", "--status", "done"], "--status done: expected running, succeeded, failed, canceled, crashed"),
    (["ls", "--status", "failed,ok"], "--status ok: expected running, succeeded, failed, canceled, crashed"),
    (["ls", "--since", "lately"], "cannot read time 'lately': use a date like 2026-01-31, "
                                  "a time like 2026-01-31T14:00, an age like 30m, 2h, 3d, 1w, "
                                  "or what 'git log --since' takes (yesterday, 2.weeks.ago)"),
    (["ls", "--until", "2026-02-30"], "cannot read time '2026-02-30': use a date like 2026-01-31, "
                                      "a time like 2026-01-31T14:00, an age like 30m, 2h, 3d, 1w, "
                                      "or what 'git log --since' takes (yesterday, 2.weeks.ago)"),
    (["ls", "--tag", "exp"], "--tag 'exp': expected key=value"),
    (["ls", "--limit", "-1"], "--limit must be 0 or more"),
    (["show"], "Missing argument 'ID'. (see 'git run show -h')"),
    (["show", "--json"], "Missing argument 'ID'. (see 'git run show -h')"),
    (["show", "nope"], NO_RUN),
    (["log"], "Missing argument 'ID'. (see 'git run log -h')"),
    (["log", "nope"], NO_RUN),
    (["diff", "a"], "Missing argument 'B'. (see 'git run diff -h')"),
    (["diff", "a", "b", "--bogus"], "No such option '--bogus'. (see 'git run diff -h')"),
    (["checkout"], "Missing argument 'ID'. (see 'git run checkout -h')"),
    (["checkout", "nope"], NO_RUN),
    (["checkout", "--promoted", "nope"], "no promotion named 'nope' (see 'git run promote --list')"),
    (["checkout", "--promoted", "a..b"], "bad promotion name 'a..b': a part may not end with '.lock' or '.', "
                                          "or hold '..'"),
    (["promote"], "missing ID, ARTIFACT, --as NAME, --reason TEXT (see 'git run promote -h')"),
    (["promote", "nope", "m.pt", "--as", "m", "--reason", "r"], NO_RUN),
    (["promote", "--list", "--as", "m"],
     "--list takes no ID, ARTIFACT, --as, --reason, --where or --sign (see 'git run promote -h')"),
    (["verify"], "Missing argument 'NAME'. (see 'git run verify -h')"),
    (["verify", "nope"], "no promotion named 'nope' (see 'git run promote --list')"),
    (["retire", "nope"], "Missing option '--reason'. (see 'git run retire -h')"),
    (["retire", "nope", "--reason", "r"], "no run or promotion matches 'nope' (see 'git run ls', "
                                          "'git run promote --list')"),
    (["exec"], "Missing argument 'COMMAND...'. (see 'git run exec -h')"),
    (["exec", "--ouput", "x", "--", "true"],
     "No such option '--ouput'. (Did you mean one of: '--input', '--output'?) (see 'git run exec -h')"),
    (["exec", "-p", "lr", "--", "true"], "-p 'lr': expected key=value, with a dotted key like train.lr=0.1"),
    (["exec", "-p", "a..b=1", "--", "true"], "-p 'a..b=1': expected key=value, with a dotted key like train.lr=0.1"),
    (["exec", "-t", "exp", "--", "true"], "--tag 'exp': expected key=value"),
    (["exec", "-c", "missing.yaml", "--", "true"], "cannot read config file missing.yaml: No such file or directory"),
    (["push", "nowhere"], "no remote named 'nowhere' (remotes: none)"),
    (["fetch", "nowhere"], "no remote named 'nowhere' (remotes: none)"),
    (["hooks", "run", "bogus"], "Invalid value for 'NAME': 'bogus' is not one of 'pre-commit', 'post-commit', "
                                "'pre-merge-commit', 'post-merge'. (see 'git run hooks run -h')"),
    (["hooks", "install", "--bogus"], "No such option '--bogus'. (see 'git run hooks install -h')"),
    (["remote", "setup", "nowhere"], "no remote named 'nowhere' (remotes: none)"),
]


@pytest.mark.parametrize("argv, message", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_bad_usage_is_exit_2_and_one_line(invoke: Invoke, repo: Path, argv: list[str], message: str) -> None:
    code, out, err = invoke(*argv)
    assert (code, out, err) == (2, "", f"git run: error: {message}\n")


def test_nothing_was_recorded_by_bad_usage(invoke: Invoke, repo: Path) -> None:
    for argv, _ in USAGE:
        invoke(*argv)
    refs = subprocess.run(["git", "for-each-ref", "refs/runs/"], capture_output=True, text=True, check=True)
    assert refs.stdout == ""


def test_outside_a_repository(invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["ls"], ["show", "x"], ["exec", "--", "true"]):
        code, out, err = invoke(*argv)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert err.startswith("git run: error: ") and "not a git repository" in err and str(tmp_path) in err


def test_empty_listing(invoke: Invoke, repo: Path) -> None:
    assert invoke("ls") == (0, "", "no runs yet: record one with 'git run exec -- CMD'\n")
    assert invoke("ls", "--json") == (0, "[]\n", "")
    assert invoke("ls", "--status", "failed", "--since", "2h", "--json") == (0, "[]\n", "")


def test_version(invoke: Invoke) -> None:
    assert invoke("--version") == (0, f"git-run, version {gitruns.__version__}\n", "")


VERBS = [["exec"], ["pipeline"], ["rerun"], ["reproduce"], ["resume"], ["sweep"], ["cancel"], ["lineage"], ["which"],
         ["promote"], ["verify"], ["retire"], ["ls"], ["show"], ["log"], ["diff"], ["export"], ["push"], ["fetch"],
         ["pull"], ["checkout"], ["remote"], ["remote", "setup"], ["hooks"], ["hooks", "install"],
         ["hooks", "uninstall"], ["hooks", "run"], ["completion"]]


def test_top_level_help_lists_every_verb(invoke: Invoke) -> None:
    code, out, err = invoke("-h")
    assert (code, err) == (0, "") and invoke("--help") == (0, out, "")
    assert out.startswith("Usage: git run [OPTIONS] [COMMAND] [ARGS]...\n")
    listed = [line.split()[0] for line in out.split("Commands:\n")[1].splitlines() if line.startswith("  ")]
    assert listed == [v[0] for v in VERBS if len(v) == 1]
    assert "  --version" in out and "  --debug" in out


@pytest.mark.parametrize("verb", VERBS, ids=[" ".join(v) for v in VERBS])
def test_every_verb_has_help(invoke: Invoke, verb: list[str]) -> None:
    code, out, err = invoke(*verb, "-h")
    assert (code, err) == (0, "")
    assert out.startswith(f"Usage: git run {' '.join(verb)} ")
    assert "  -h, --help  " in out
    assert invoke(*verb, "--help") == (0, out, "")


def test_exec_options_end_at_the_command(invoke: Invoke) -> None:
    # After the command's name everything is the command's own: -h here is not exec's help.
    code, out, err = invoke("exec", "-h")
    assert code == 0 and "Run COMMAND and record it as a run." in out


@pytest.mark.parametrize("argv", [[], ["hooks"], ["remote"]])
def test_no_verb_is_help_or_one_line(invoke: Invoke, argv: list[str]) -> None:
    code, out, err = invoke(*argv)
    assert code == 0 and out.startswith("Usage: git run") and err == ""
