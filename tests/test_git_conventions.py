"""The command line follows git: its pager, its colours, its repository and config
variables, its dates, its broken-pipe exit; checked end to end with real git."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import _REPOS, git, gitrun, latest, on_a_terminal, record, run_ids, state
from test_sharing import clone, model_run, origin

BIG = "import sys; sys.stdout.write('x' * 999 + '\\n'); [print('line', i) for i in range(100000)]"


def _run(repo: Path, *command: str, name: str | None = None) -> str:
    args = ["exec", *(["--name", name] if name else []), "--", *command]
    proc = gitrun(repo, *args)
    assert proc.returncode in (0, 1), proc.stderr
    return latest(repo)


@pytest.fixture
def two_runs(repo: Path) -> Path:
    _run(repo, "python", "-c", "print('ok')", name="good")
    _run(repo, "python", "-c", "import sys; sys.exit(1)", name="bad")
    return repo


# ---------------------------------------------------------------- pager

def test_read_verbs_page_through_gits_pager_on_a_terminal(two_runs: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out, env = tmp_path / "pager.out", tmp_path / "pager.env"
    monkeypatch.setenv("GIT_PAGER", f"env > {env}; cat > {out}")
    monkeypatch.delenv("LESS", raising=False)
    monkeypatch.delenv("LV", raising=False)
    rid = latest(two_runs)
    for verb in (["ls"], ["show", rid], ["log", rid], ["diff", run_ids(two_runs)[0], rid]):
        out.unlink(missing_ok=True)
        status, seen = on_a_terminal(two_runs, ["git", "run", *verb], stdout=True, stderr=True)
        assert status == 0, seen
        assert out.exists(), f"git run {verb[0]} did not page"
        assert seen.strip() == b"", f"git run {verb[0]} wrote past the pager: {seen!r}"
    pager_env = env.read_text().splitlines()
    assert "LESS=FRX" in pager_env and "LV=-c" in pager_env and "GIT_PAGER_IN_USE=true" in pager_env
    # ls: the table went to the pager
    out.unlink()
    on_a_terminal(two_runs, ["git", "run", "ls"], stdout=True, stderr=True)
    assert "STATUS" in out.read_text() and "bad" in out.read_text()
    # The user's LESS is left alone.
    monkeypatch.setenv("LESS", "-R")
    on_a_terminal(two_runs, ["git", "run", "ls"], stdout=True, stderr=True)
    assert "LESS=-R" in env.read_text().splitlines()


def test_core_pager_and_pager_run_verb_settings(two_runs: Path, tmp_path: Path) -> None:
    out, show_out = tmp_path / "pager.out", tmp_path / "show.out"
    git(two_runs, "config", "core.pager", f"cat > {out}")
    status, seen = on_a_terminal(two_runs, ["git", "run", "ls"], stdout=True, stderr=False)
    assert status == 0 and out.exists() and b"STATUS" not in seen
    # pager.run.<verb>: false turns it off for that verb, a command replaces the pager.
    out.unlink()
    git(two_runs, "config", "pager.run.ls", "false")
    git(two_runs, "config", "pager.run.show", f"cat > {show_out}")
    status, seen = on_a_terminal(two_runs, ["git", "run", "ls"], stdout=True, stderr=False)
    assert status == 0 and not out.exists() and b"STATUS" in seen
    status, seen = on_a_terminal(two_runs, ["git", "run", "show", latest(two_runs)], stdout=True, stderr=False)
    assert status == 0 and show_out.exists() and not out.exists() and b"status" not in seen
    # --paginate pages anyway
    status, seen = on_a_terminal(two_runs, ["git", "run", "--paginate", "ls"], stdout=True, stderr=False)
    assert status == 0 and out.exists()


@pytest.mark.parametrize("argv", [
    ["git", "--no-pager", "run", "ls"],
    ["git", "-P", "run", "ls"],
    ["git", "run", "--no-pager", "ls"],
    ["git", "run", "ls", "--no-pager"],
    ["git", "-c", "pager.run=false", "run", "ls"],
])
def test_no_pager(two_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    out = tmp_path / "pager.out"
    monkeypatch.setenv("GIT_PAGER", f"cat > {out}")
    status, seen = on_a_terminal(two_runs, argv, stdout=True, stderr=True)
    assert status == 0 and not out.exists()
    assert b"STATUS" in seen and b"bad" in seen


def test_never_pages_when_piped_nor_inside_gits_pager(two_runs: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "pager.out"
    monkeypatch.setenv("GIT_PAGER", f"cat >> {out}")
    proc = gitrun(two_runs, "ls")
    assert proc.returncode == 0 and "STATUS" in proc.stdout and not out.exists()
    # git already started the pager (git -p, pager.run=true): one pager, not two.
    status, seen = on_a_terminal(two_runs, ["git", "-p", "run", "ls"], stdout=True, stderr=True)
    assert status == 0 and out.read_text().count("STATUS") == 1 and b"STATUS" not in seen
    out.unlink()
    monkeypatch.setenv("GIT_PAGER_IN_USE", "true")
    status, seen = on_a_terminal(two_runs, ["git", "run", "ls"], stdout=True, stderr=True)
    assert status == 0 and not out.exists() and b"STATUS" in seen


def test_pager_quitting_early_is_not_an_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _run(repo, "python", "-c", BIG)
    monkeypatch.setenv("GIT_PAGER", "head -c 10 >/dev/null")
    status, seen = on_a_terminal(repo, ["git", "run", "log", rid], stdout=True, stderr=True)
    assert status == 0, seen
    assert b"line 99999" not in seen and b"rror" not in seen and b"Traceback" not in seen, seen[-500:]


# ---------------------------------------------------------------- pipes, help, limit

def test_broken_pipe_ends_as_git_does(repo: Path) -> None:
    rid = _run(repo, "python", "-c", BIG)
    # git's own output must outgrow the pipe's buffer, or git finishes writing before head
    # closes the pipe and ends 0: a megabyte in one commit, shown with -p.
    (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(100_000)))
    git(repo, "add", "big.txt")
    git(repo, "commit", "-q", "-m", "big")

    def first_line(command: str) -> tuple[str, str]:
        """``COMMAND | head -1`` in bash: the exit status the shell reports, and stderr."""
        proc = subprocess.run(["bash", "-c", f"{command} 2>err.txt | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"],
                              cwd=repo, capture_output=True, text=True, timeout=60)
        return proc.stdout.strip(), (repo / "err.txt").read_text()

    assert first_line("git log -p") == ("141", "")
    assert first_line(f"git run log --stdout {rid}") == ("141", "")
    # The executable itself dies of SIGPIPE, as git's own commands do.
    proc = subprocess.Popen(["git-run", "log", "--stdout", rid], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.stderr.read() == b"" and proc.wait(timeout=60) == -signal.SIGPIPE
    (repo / "err.txt").unlink()


def test_git_run_alone_prints_help_on_stdout(repo: Path) -> None:
    proc = gitrun(repo)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("Usage: git run") and "exec" in proc.stdout and "ls" in proc.stdout


def test_limit_zero_lists_none(two_runs: Path) -> None:
    assert gitrun(two_runs, "ls", "--limit", "0", "--json").stdout == "[]\n"
    proc = gitrun(two_runs, "ls", "-n", "0")
    assert proc.returncode == 0 and proc.stdout == ""
    assert len(gitrun(two_runs, "ls", "-n", "1").stdout.splitlines()) == 2


# ---------------------------------------------------------------- colour

GREEN, RED, RESET = "\x1b[32m", "\x1b[31m", "\x1b[m"


def test_colour_follows_the_option_and_gits_config(two_runs: Path) -> None:
    plain = gitrun(two_runs, "ls").stdout
    assert "\x1b" not in plain
    coloured = gitrun(two_runs, "ls", "--color=always").stdout
    assert f"{GREEN}succeeded{RESET}" in coloured and f"{RED}failed{RESET}" in coloured
    # Colour never shifts a column: without the escapes it is the plain table.
    assert coloured.replace(GREEN, "").replace(RED, "").replace(RESET, "") == plain
    assert gitrun(two_runs, "ls", "--color").stdout == coloured
    # A bare --color never takes the next word as its value (exec's command keeps its own, below).
    shown = gitrun(two_runs, "show", "--color", latest(two_runs)[:12])
    assert shown.returncode == 0 and latest(two_runs) in shown.stdout, shown.stderr
    for key in ("color.run", "color.ui"):
        assert gitrun(two_runs, "ls", env={"GIT_CONFIG_PARAMETERS": f"'{key}'='always'"}).stdout == coloured
    assert "\x1b" not in gitrun(two_runs, "ls", "--color=auto").stdout  # a pipe
    assert "\x1b" not in subprocess.run(["git", "-c", "color.ui=always", "run", "ls", "--color=never"],
                                        cwd=two_runs, capture_output=True, text=True).stdout
    # JSON never has colour.
    assert "\x1b" not in gitrun(two_runs, "ls", "--json", "--color=always").stdout
    proc = gitrun(two_runs, "exec", "python", "-c", "import sys; print(sys.argv[1:])", "--color")
    assert proc.returncode == 0 and "['--color']" in proc.stdout, proc.stderr


def test_colour_on_a_terminal_no_color_and_through_the_pager(two_runs: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    status, seen = on_a_terminal(two_runs, ["git", "run", "--no-pager", "ls"], stdout=True, stderr=False)
    assert status == 0 and GREEN.encode() in seen
    git(two_runs, "config", "color.run", "never")
    status, seen = on_a_terminal(two_runs, ["git", "run", "--no-pager", "ls"], stdout=True, stderr=False)
    assert status == 0 and b"\x1b" not in seen
    git(two_runs, "config", "--unset", "color.run")
    monkeypatch.setenv("NO_COLOR", "1")
    status, seen = on_a_terminal(two_runs, ["git", "run", "--no-pager", "ls"], stdout=True, stderr=False)
    assert status == 0 and b"\x1b" not in seen
    status, seen = on_a_terminal(two_runs, ["git", "run", "--no-pager", "ls", "--color"], stdout=True, stderr=False)
    assert GREEN.encode() in seen  # the command line overrides NO_COLOR
    monkeypatch.delenv("NO_COLOR")
    # Through the pager on a terminal, colour stays on (git's rule), unless color.pager=false.
    out = tmp_path / "pager.out"
    monkeypatch.setenv("GIT_PAGER", f"cat > {out}")
    on_a_terminal(two_runs, ["git", "run", "ls"], stdout=True, stderr=False)
    assert GREEN in out.read_text()
    on_a_terminal(two_runs, ["git", "-c", "color.pager=false", "run", "ls"], stdout=True, stderr=False)
    assert "\x1b" not in out.read_text() and "succeeded" in out.read_text()
    # A dumb terminal gets none.
    monkeypatch.setenv("TERM", "dumb")
    status, seen = on_a_terminal(two_runs, ["git", "run", "--no-pager", "ls"], stdout=True, stderr=False)
    assert status == 0 and b"\x1b[3" not in seen


def test_record_text_is_escaped_before_it_is_coloured(repo: Path) -> None:
    rid = _run(repo, "python", "-c", "print(1)", name="\x1b[31mevil\x1b]0;pwned\x07")
    out = gitrun(repo, "ls", "--color=always").stdout
    assert "^[[31mevil" in out and "\x1b[31mevil" not in out and "\x07" not in out
    assert out.count("\x1b") == 2  # the status colour and its reset, nothing else
    assert "\x1b]0" not in gitrun(repo, "show", rid, "--color=always").stdout


def test_diff_colours_changes_and_the_patch(repo: Path) -> None:
    a = _run(repo, "python", "-c", "print(1)")
    (repo / "train.py").write_text("print('training harder')\n")
    b = _run(repo, "python", "-c", "print(2)")
    out = gitrun(repo, "diff", "-p", a, b, "--color=always").stdout
    assert f"{RED}-print('training'){RESET}" in out
    assert f"{GREEN}+print('training harder'){RESET}" in out
    assert "\x1b[36m@@ -1 +1 @@" in out and "\x1b[1mdiff --git a/train.py b/train.py" in out
    plain = gitrun(repo, "diff", "-p", a, b).stdout
    assert "\x1b" not in plain and "+print('training harder')" in plain


# ---------------------------------------------------------------- repository and config from git

def test_git_dir_and_work_tree_are_honoured(tmp_path: Path) -> None:
    """A dotfiles-style setup: the git dir is not in the work tree, nor named .git."""
    gdir, work = tmp_path / "store.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(gdir)], check=True)
    _REPOS.append(gdir)
    work.mkdir()
    (work / "train.py").write_text("print('training')\n")
    base = ["git", f"--git-dir={gdir}", f"--work-tree={work}"]
    subprocess.run([*base, "add", "train.py"], cwd=work, check=True)
    subprocess.run([*base, "commit", "-q", "-m", "init"], cwd=work, check=True)
    head = git(gdir, "rev-parse", "HEAD").strip()
    proc = subprocess.run([*base, "run", "exec", "--", "python", "train.py"], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rid = latest(gdir)
    rec = record(gdir, rid)
    assert rec["status"] == "succeeded" and rec["code"]["commit"] == head and not rec["code"]["dirty"]
    assert git(gdir, "cat-file", "-p", f"refs/runs/{rid}:train.py") == "print('training')\n"
    # Relative --git-dir from elsewhere, and GIT_DIR/GIT_WORK_TREE in the environment.
    proc = subprocess.run(["git", "--git-dir=store.git", "--work-tree=work", "run", "ls"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and rid[:6] in proc.stdout, proc.stderr
    env = {**os.environ, "GIT_DIR": str(gdir), "GIT_WORK_TREE": str(work)}
    proc = subprocess.run(["git", "run", "show", rid[:8]], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and rid in proc.stdout, proc.stderr
    assert not (work / ".git").exists()
    # A bad one is one line, exit 2.
    proc = subprocess.run(["git", "--git-dir=nowhere", "run", "ls"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "nowhere" in proc.stderr


def test_git_dir_of_a_normal_repo_from_outside(repo: Path, tmp_path: Path) -> None:
    rid = _run(repo, "python", "-c", "print(1)")
    before = state(repo)
    proc = subprocess.run(["git", f"--git-dir={repo}/.git", "run", "ls"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and rid[:6] in proc.stdout, proc.stderr
    assert state(repo) == before


def test_git_config_count_reaches_settings(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gitruns.dirty", "GIT_CONFIG_VALUE_0": "refuse"}
    proc = gitrun(repo, "exec", "--", "python", "train.py", env=env)
    assert proc.returncode == 1 and run_ids(repo) == [], proc.stderr
    proc = subprocess.run(["git", "-c", "gitruns.dirty=refuse", "run", "exec", "--", "python", "train.py"],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1 and run_ids(repo) == []


def test_git_c_remote_store_is_used_by_push(tmp_path: Path) -> None:
    url, bare = origin(tmp_path)
    a = clone(url, tmp_path / "a")
    _, digest = model_run(a)
    store = tmp_path / "side-store"
    proc = subprocess.run(["git", "-c", f"remote.origin.gitrunsStore={store}", "run", "push"], cwd=a,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    hexd = digest.split(":")[1]
    assert (store / "xxh3_128" / hexd[:2] / hexd[2:]).exists()
    assert not (bare / "gitruns" / "cache" / "xxh3_128" / hexd[:2] / hexd[2:]).exists()
    assert "gitrunsStore" not in git(a, "config", "--list")  # nothing written to the config


# ---------------------------------------------------------------- times

def test_since_and_until_take_what_git_log_since_takes(two_runs: Path) -> None:
    def listed(*args: str) -> int:
        proc = gitrun(two_runs, "ls", "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.count('"id"')

    for since in ("yesterday", "2.weeks.ago", "1.hour.ago", "3 days ago", "2h", "1w", "last year"):
        assert listed("--since", since) == 2, since
    for until in ("yesterday", "2.weeks.ago", "1970-01-02"):
        assert listed("--until", until) == 0, until
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert listed("--since", tomorrow) == 0 and listed("--until", tomorrow) == 2
    for garbage in ("garbage", "soon-ish"):
        proc = gitrun(two_runs, "ls", "--since", garbage)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert f"'{garbage}'" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- in-process: the pure parts

def test_parse_when_forms_in_process() -> None:
    from gitruns.errors import UsageError
    from gitruns.timeutil import UTC, parse_when

    ref = dt.datetime.now(UTC)
    assert parse_when("2h", ref) == ref - dt.timedelta(hours=2)
    assert parse_when("2026-01-31T14:00Z", ref) == dt.datetime(2026, 1, 31, 14, tzinfo=UTC)
    assert parse_when("now", ref) == ref
    for text, age in (("yesterday", 86400), ("2.weeks.ago", 14 * 86400), ("1.hour.ago", 3600)):
        got = (dt.datetime.now(UTC) - parse_when(text)).total_seconds()
        assert abs(got - age) < 120, (text, got)
    assert parse_when("Mon, 2 Jan 2023 10:00:00 +0000") == dt.datetime(2023, 1, 2, 10, tzinfo=UTC)
    for garbage in ("garbage", "soon-ish", " ", "yesterday\nevil"):
        with pytest.raises(UsageError, match="cannot read time"):
            parse_when(garbage)


def test_command_line_config_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitruns.errors import ConfigError
    from gitruns.settings import command_line_config

    monkeypatch.setenv("GIT_CONFIG_PARAMETERS",
                       "'remote.Origin.gitrunsStore'='s3://b/it'\\''s' 'core.bare' 'gitruns.dirty=allow'")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gitruns.dirty")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "refuse")
    assert command_line_config() == [("gitruns.dirty", "refuse"), ("remote.Origin.gitrunsStore", "s3://b/it's"),
                                     ("core.bare", None), ("gitruns.dirty", "allow")]
    monkeypatch.setenv("GIT_CONFIG_COUNT", "2")
    with pytest.raises(ConfigError, match="GIT_CONFIG_KEY_1"):
        command_line_config()


def test_colour_layer_in_process() -> None:
    from gitruns import colour
    from gitruns.table import render

    try:
        colour.request("always")
        colour.decide(stdout_is_tty=False)
        table = render(["ID", "STATUS", "N"], [["a", "failed", "1"], ["bb", "succeeded", "10"]], right={2},
                       paint=lambda column, cell: colour.paint(cell, cell) if column == 1 else cell)
        assert table.splitlines()[1] == f"a   {RED}failed{RESET}      1"
        assert colour.diff_text("diff run a -> run b\n  + lr: 1\n  ~ x: 1 -> 2") == (
            f"\x1b[1mdiff run a -> run b{RESET}\n{GREEN}  + lr: 1{RESET}\n  ~ x: 1 -> 2")
        colour.request("never")
        colour.decide(stdout_is_tty=True)
        assert colour.paint("failed", "failed") == "failed"
    finally:
        colour.reset()
    assert not colour.enabled()
