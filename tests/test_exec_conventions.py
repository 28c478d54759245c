"""git run exec follows git's habits: one final line, -q, ${key} from the config,
$GITRUNS_CONFIG_FILE only with a config and under its own name, and a command
environment free of git's repository-local variables."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import git, gitrun, latest, on_a_terminal, record, run_ids, state, validate

PRINT_ARGS = "import json, sys; print(json.dumps(sys.argv[1:]))"
PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
FINAL = re.compile(r"gitruns: run ([0-9a-z]{8,26}) (.+) in ([0-9.]+s|[0-9]+m[0-9]{2}s|[0-9]+h[0-9]{2}m)")


def final_line(stderr: str) -> tuple[str, str]:
    """The last line of stderr, which names the run and its outcome."""
    last = stderr.splitlines()[-1]
    match = FINAL.fullmatch(last)
    assert match, f"no final line in {stderr!r}"
    return match.group(1), match.group(2)


# -- the final line -------------------------------------------------------------


def test_exec_ends_with_one_line_naming_the_run_and_its_outcome(repo: Path) -> None:
    proc = gitrun(repo, "exec", "--", "python", "train.py")
    assert proc.returncode == 0 and proc.stdout == "training\n"
    assert proc.stderr.count("\n") == 1
    short, outcome = final_line(proc.stderr)
    assert outcome == "succeeded"
    # The shown id is a prefix that plain git resolves, like ls shows it.
    assert latest(repo).startswith(short)
    assert git(repo, "rev-parse", "--verify", "-q", f"refs/runs/{latest(repo)}").strip()

    proc = gitrun(repo, "exec", "--", "python", "-c", "import sys; sys.exit(2)")
    assert proc.returncode == 2
    assert final_line(proc.stderr)[1] == "failed (exit 2)"

    proc = gitrun(repo, "exec", "--", "sh", "-c", "kill -9 $$")
    assert proc.returncode == 137
    assert final_line(proc.stderr)[1] == "killed by SIGKILL (exit 137)"

    proc = gitrun(repo, "exec", "--", "no-such-program-xyz")
    assert proc.returncode == 127
    assert final_line(proc.stderr)[1] == "failed (exit 127)"
    assert proc.stderr.splitlines()[0].startswith("gitruns: error: command not found: no-such-program-xyz")


def test_two_runs_in_the_same_second_are_told_apart(repo: Path) -> None:
    # Each id is unique among the runs there are when it is printed (as git's
    # abbreviations are: a later run may need a longer one).
    for _ in range(3):
        before = set(run_ids(repo))
        short = final_line(gitrun(repo, "exec", "--", "true").stderr)[0]
        ids = run_ids(repo)
        (new,) = set(ids) - before
        assert new.startswith(short) and sum(rid.startswith(short) for rid in ids) == 1, (short, ids)


def test_quiet_exec_says_nothing_but_errors(repo: Path) -> None:
    for flag in ("-q", "--quiet"):
        proc = gitrun(repo, "exec", flag, "--", "python", "train.py")
        assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == "training\n"
        proc = gitrun(repo, "exec", flag, "--", "python", "-c", "import sys; sys.exit(4)")
        assert proc.returncode == 4 and proc.stderr == ""
    proc = gitrun(repo, "exec", "-q", "--", "no-such-program-xyz")
    assert proc.returncode == 127
    assert proc.stderr.count("\n") == 1 and "command not found" in proc.stderr
    # -q after the command's name belongs to the command.
    proc = gitrun(repo, "exec", "--", "python", "-c", PRINT_ARGS, "-q")
    assert json.loads(proc.stdout) == ["-q"] and final_line(proc.stderr)[1] == "succeeded"


def test_quiet_exec_draws_no_progress_bar_on_a_terminal(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / ".gitignore").write_text("big.bin\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    with open(repo / "big.bin", "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # the size from which hashing shows progress
    code, shown = on_a_terminal(repo, ["git", "run", "exec", "-i", "big.bin", "--", "true"], stdout=False, stderr=True)
    assert code == 0 and b"hashing big.bin" in shown and b"succeeded in" in shown
    (repo / "big.bin").touch()  # changed stat data: hashed again, not from the stat cache
    monkeypatch.setenv("GITRUNS_TRACE", "1")  # asked-for tracing shows it was hashed
    code, shown = on_a_terminal(repo, ["git", "run", "exec", "-q", "-i", "big.bin", "--", "true"],
                                stdout=False, stderr=True)
    assert code == 0 and b"67108864 bytes read" in shown, shown
    assert b"hashing big.bin" not in shown and b"succeeded" not in shown


def test_dirty_warning_names_the_full_ref_that_git_resolves(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    proc = gitrun(repo, "exec", "--", "python", "train.py", env={"GITRUNS_DIRTY": "warn"})
    assert proc.returncode == 0
    warning = proc.stderr.splitlines()[0]
    assert warning.startswith("gitruns: warning: running on uncommitted changes")
    ref = warning.rsplit(" ", 1)[-1]
    assert ref == f"refs/runs/{latest(repo)}"
    assert git(repo, "show", "-s", "--format=%H", ref).strip()
    assert final_line(proc.stderr)[1] == "succeeded"


# -- ${key} in the command ------------------------------------------------------


def test_config_values_reach_the_command_arguments(repo: Path) -> None:
    (repo / "params.yaml").write_text("train:\n  lr: 0.001\n  layers: [64, 32]\n  opt: {name: adam}\n"
                                      "seed: 7\nshuffle: true\nnote: null\n")
    before = state(repo)
    proc = gitrun(repo, "exec", "-c", "params.yaml", "-p", "train.lr=0.01", "-p", "name=big model", "--",
                  "python", "-c", PRINT_ARGS, "--lr", "${train.lr}", "--seed=${seed}", "${train.layers}",
                  "${train.opt}", "${shuffle}", "${note}", "${name}", "$${train.lr}", "cost $5", "$$HOME")
    assert proc.returncode == 0, proc.stderr
    ran = ["--lr", "0.01", "--seed=7", "[64,32]", '{"name":"adam"}', "true", "null", "big model",
           "${train.lr}", "cost $5", "$$HOME"]
    assert json.loads(proc.stdout) == ran
    assert state(repo)[:2] == before[:2]
    rec = record(repo)
    validate(rec)
    assert rec["command"] == ["python", "-c", PRINT_ARGS, *ran]
    assert rec["command_template"][3:] == ["--lr", "${train.lr}", "--seed=${seed}", "${train.layers}",
                                           "${train.opt}", "${shuffle}", "${note}", "${name}", "$${train.lr}",
                                           "cost $5", "$$HOME"]


def test_a_command_without_placeholders_keeps_one_command_field(repo: Path) -> None:
    proc = gitrun(repo, "exec", "-p", "lr=0.1", "--", "python", "train.py")
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    assert rec["command"] == ["python", "train.py"] and "command_template" not in rec


def test_a_missing_key_is_a_usage_error_before_anything_runs(repo: Path) -> None:
    marker = repo / "ran"
    for args in (["-p", "lr=0.1", "--", "sh", "-c", f"touch {marker}; echo ${{lr}} ${{epochs}}"],
                 ["--", "sh", "-c", "touch ran; echo ${HOME}"]):
        proc = gitrun(repo, "exec", *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("git run: error: ${")
        assert "$${" in proc.stderr  # says how to write a literal
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert not marker.exists() and run_ids(repo) == []


def test_secret_values_substituted_are_redacted_in_both_fields(repo: Path) -> None:
    proc = gitrun(repo, "exec", "-p", "db.password=s3cr3t-value", "-p", "user=ada", "--", "python", "-c",
                  PRINT_ARGS, "--login", "${user}:${db.password}", "--api-token", "${user}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["--login", "ada:s3cr3t-value", "--api-token", "ada"]
    raw = git(repo, "cat-file", "-p", f"refs/runs/{latest(repo)}:.gitruns/run.json")
    assert "s3cr3t-value" not in raw
    rec = json.loads(raw)
    assert rec["command"][3:] == ["--login", "ada:<redacted>", "--api-token", "<redacted>"]
    assert rec["command_template"][3:] == ["--login", "${user}:${db.password}", "--api-token", "<redacted>"]


# -- $GITRUNS_CONFIG_FILE -------------------------------------------------------


def test_no_config_means_no_config_file_variable(repo: Path) -> None:
    proc = gitrun(repo, "exec", "--", "python", "-c", PRINT_ENV, env={"GITRUNS_CONFIG_FILE": "/stale"})
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)
    assert "GITRUNS_CONFIG_FILE" not in env and env["GITRUNS_RUN_ID"] == latest(repo)


def test_config_file_keeps_the_name_of_the_file_given(repo: Path) -> None:
    read = ("import json, os; p = os.environ['GITRUNS_CONFIG_FILE']; "
            "print(json.dumps([os.path.basename(p), open(p).read()]))")
    (repo / "params.yaml").write_text("lr: 0.1\nepochs: 3\n")
    proc = gitrun(repo, "exec", "-c", "params.yaml", "-p", "lr=0.5", "--", "python", "-c", read)
    assert proc.returncode == 0, proc.stderr
    name, text = json.loads(proc.stdout)
    assert name == "params.yaml" and yaml.safe_load(text) == {"lr": 0.5, "epochs": 3}

    (repo / "conf").mkdir()
    (repo / "conf" / "hparams.json").write_text('{"lr": 0.1, "layers": [1, 2]}')
    proc = gitrun(repo, "exec", "-c", "conf/hparams.json", "-p", "lr=0.2", "--", "python", "-c", read)
    assert proc.returncode == 0, proc.stderr
    name, text = json.loads(proc.stdout)
    assert name == "hparams.json" and json.loads(text) == {"lr": 0.2, "layers": [1, 2]}

    proc = gitrun(repo, "exec", "-p", "lr=0.3", "--", "python", "-c", read)
    name, text = json.loads(proc.stdout)
    assert name == "config.yaml" and yaml.safe_load(text) == {"lr": 0.3}


# -- the command's environment --------------------------------------------------


def test_the_command_never_inherits_gits_local_variables(repo: Path) -> None:
    """As inside a pre-commit hook or an alias: git has set GIT_INDEX_FILE and
    friends for itself; the user's command (which may run git) must not see them."""
    local = set(git(repo, "rev-parse", "--local-env-vars").split())
    assert {"GIT_INDEX_FILE", "GIT_DIR", "GIT_PREFIX", "GIT_CONFIG_PARAMETERS"} <= local
    hook_env = {
        "GIT_INDEX_FILE": str(repo / ".git" / "index"),
        "GIT_DIR": str(repo / ".git"),
        "GIT_WORK_TREE": str(repo),
        "GIT_PREFIX": "",
        "GIT_CONFIG_PARAMETERS": "'gitruns.dirty'='allow'",
        "GIT_EDITOR": ":",
    }
    before = state(repo)
    proc = gitrun(repo, "exec", "--", "python", "-c", PRINT_ENV, env=hook_env)
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)
    assert not (local & set(env)), local & set(env)
    assert env["GIT_EDITOR"] == ":" and env["GIT_AUTHOR_NAME"] == "Ada Tester"
    assert state(repo) == before
    # The command's own git commands see its own repository's state.
    proc = gitrun(repo, "exec", "--", "git", "status", "--porcelain", env=hook_env)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr


def test_a_real_pre_commit_hook_command_sees_no_git_index_file(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    out = repo.parent / "hook-env.json"
    hook.write_text(f"#!/bin/sh\nexec git run exec -q -- {sys.executable} -c "
                    f"\"import json, os; open('{out}', 'w').write(json.dumps(dict(os.environ)))\"\n")
    hook.chmod(0o755)
    (repo / "new.txt").write_text("new\n")
    git(repo, "add", "new.txt")
    commit = subprocess.run(["git", "commit", "-q", "-m", "with hook"], cwd=repo, capture_output=True, text=True)
    assert commit.returncode == 0, commit.stderr
    env = json.loads(out.read_text())
    assert "GITRUNS_RUN_ID" in env and "GIT_INDEX_FILE" not in env and "GIT_DIR" not in env


# -- the core never prints ------------------------------------------------------


def test_session_reports_warnings_through_the_warnings_module(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    from gitruns.coderun import CodeRun
    from gitruns.warn import GitrunsWarning

    (repo / "train.py").write_text("print('edited')\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GITRUNS_DIRTY", "warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with CodeRun(["notebook"]):
            pass
    assert capfd.readouterr().err == ""
    messages = [str(w.message) for w in caught if issubclass(w.category, GitrunsWarning)]
    assert len(messages) == 1 and messages[0].startswith("running on uncommitted changes")
    assert record(repo)["status"] == "succeeded"


def test_session_does_not_import_the_api_module() -> None:
    """The cycle api <-> session is gone: both take path_refusal from gitnames (api
    only when log_artifact is called, so that `import gitruns` loads no regexes)."""
    root = Path(__file__).resolve().parent.parent / "gitruns"
    source = (root / "session.py").read_text()
    assert "from .api" not in source and "import api" not in source
    assert "from .gitnames import path_refusal" in (root / "api.py").read_text()


# -- pure parts, in process -----------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [
    ("x y", "x y"), (3, "3"), (0.01, "0.01"), (1e-5, "1e-05"), (float("inf"), "inf"), (True, "true"),
    (False, "false"), (None, "null"), ([64, 32], "[64,32]"), ({"a": [1, "b"]}, '{"a":[1,"b"]}'),
    ("ünï", "ünï"),
])
def test_config_values_render_as_one_argument(value: object, shown: str) -> None:
    from gitruns.userconfig import render

    assert render(value) == shown


def test_substitution_rules() -> None:
    from gitruns.errors import UsageError
    from gitruns.userconfig import substitute

    config = {"lr": 0.1, "train": {"lr": 0.2}, "a.b": {"c": 1}, "empty": ""}
    assert substitute(["${lr}", "--x=${train.lr}", "${a.b.c}", "${lr}${lr}", "$${lr}", "$$${lr}", "${empty}",
                       "$lr", "${", "}"], config) == \
        ["0.1", "--x=0.2", "1", "0.10.1", "${lr}", "$${lr}", "", "$lr", "${", "}"]
    for bad in ("${nope}", "${train.nope}", "${train.lr.x}", "${}"):
        with pytest.raises(UsageError, match=r"\$\$\{"):
            substitute([bad], config)


def test_the_final_line_words() -> None:
    from gitruns.commands.exec_ import duration, final_line
    from gitruns.outcome import Outcome

    def line(status: str, code: int | None, signal: str | None = None, error: str | None = None,
             took: float = 3.21) -> str:
        return final_line(Outcome("01m856dw" + "0" * 18, "01m856dw", status, code, signal, took, error))

    assert line("succeeded", 0) == "run 01m856dw succeeded in 3.2s"
    assert line("failed", 2, error="exit", took=0.4) == "run 01m856dw failed (exit 2) in 0.4s"
    assert line("failed", 137, "SIGKILL") == "run 01m856dw killed by SIGKILL (exit 137) in 3.2s"
    assert line("canceled", 143, "SIGTERM") == "run 01m856dw canceled (exit 143) in 3.2s"
    assert line("failed", 0, error="disk_full") == "run 01m856dw failed (exit 0, disk full) in 3.2s"
    assert line("crashed", 1).startswith("run 01m856dw crashed: ")
    assert [duration(s) for s in (0.0, 0.04, 59.94, 59.96, 245, 3599.4, 3600, 7380)] == \
        ["0.0s", "0.0s", "59.9s", "1m00s", "4m05s", "59m59s", "1h00m", "2h03m"]
