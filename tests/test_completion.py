"""Shell completion, driven for real: git's own bash completion with ours plugged in
(``_git_run``), and zsh's ``_git`` through a pseudo-terminal (zpty)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitrun, have, make_repo, run_ids
from realparts import missing

ROOT = Path(__file__).resolve().parent.parent
BASH_SCRIPT = ROOT / "completion" / "git-run"
ZSH_SCRIPT = ROOT / "completion" / "_git-run"
GIT_BASH = next((p for p in ("/usr/share/bash-completion/completions/git",
                             "/usr/local/share/bash-completion/completions/git",
                             "/etc/bash_completion.d/git") if os.path.exists(p)), None)
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

@pytest.fixture
def _git_bash() -> None:
    if GIT_BASH is None or not have("bash"):
        missing("bash-completion", "git's bash completion is not installed")


need_git_bash = pytest.mark.usefixtures("_git_bash")

# Fills COMP_* as bash does for the line typed so far, calls git's entry point,
# prints COMPREPLY one a line.
_BASH_DRIVER = r"""
comp () {
	COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
	read -ra COMP_WORDS <<< "$COMP_LINE"
	if [[ $COMP_LINE == *" " ]]; then COMP_WORDS+=(""); fi
	COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
	COMPREPLY=()
	if [[ ${COMP_WORDS[0]} == git-run ]]; then __git_func_wrap _git_run; else __git_wrap__git_main; fi
	printf '%s\n' "${COMPREPLY[@]}"
}
comp "$LINE"
"""


def bash_complete(cwd: Path, line: str, script: bool = True, env: dict[str, str] | None = None) -> list[str]:
    """What TAB offers after ``line`` in bash, with git's completion and (if
    ``script``) ours sourced; stripped of the trailing space bash adds."""
    sources = f"source {GIT_BASH}\n" + (f"source {BASH_SCRIPT}\n" if script else "")
    if not script and os.path.exists(BASH_COMPLETION):
        sources = f"source {BASH_COMPLETION}\n" + sources
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", sources + _BASH_DRIVER],
                          cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LINE": line, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return [w.rstrip(" ") for w in proc.stdout.splitlines() if w]


@pytest.fixture
def runs_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with two runs, one named 'wide', and a remote 'origin'."""
    repo = make_repo(tmp_path / "repo", {"train.py": "print('hi')\n"})
    for args in (["--name", "wide"], []):
        proc = gitrun(repo, "exec", *args, "--", sys.executable, "train.py")
        assert proc.returncode == 0, proc.stderr
    git(repo, "remote", "add", "origin", str(tmp_path / "elsewhere"))
    first, second = run_ids(repo)
    return repo, first, second


@need_git_bash
def test_bash_completes_verbs_options_ids_names_and_remotes(runs_repo: tuple[Path, str, str]) -> None:
    repo, named, other = runs_repo
    verbs = bash_complete(repo, "git run ")
    assert {"exec", "ls", "show", "log", "diff", "push", "fetch", "checkout", "hooks", "completion"} <= set(verbs)
    assert bash_complete(repo, "git run sh") == ["show"]
    assert "--name=" in bash_complete(repo, "git run exec --")
    assert bash_complete(repo, "git run exec --con") == ["--config="]
    assert "--debug" in bash_complete(repo, "git run --")
    assert set(bash_complete(repo, "git run show ")) == {named, other, "wide"}
    assert bash_complete(repo, "git run show wi") == ["wide"]
    assert bash_complete(repo, f"git run log {named[:10]}") == [named]
    # diff takes two runs; checkout a run then paths; push a remote then runs
    assert set(bash_complete(repo, f"git run diff {named} ")) == {named, other, "wide"}
    assert bash_complete(repo, "git run push ") == ["origin"]
    assert set(bash_complete(repo, "git run push origin ")) == {named, other, "wide"}
    assert bash_complete(repo, "git run ls --remote ") == ["origin"]
    assert bash_complete(repo, "git run ls --status f") == ["failed"]
    assert "crashed" in bash_complete(repo, "git run ls --status=")
    assert bash_complete(repo, "git run ls --remote=o") == ["origin"]
    assert bash_complete(repo, "git run checkout --remote o") == ["origin"]
    assert bash_complete(repo, "git run hooks ") == ["install", "run", "uninstall"]
    assert bash_complete(repo, "git run hooks install --p") == ["--pre-commit", "--post-commit"]
    assert bash_complete(repo, "git run hooks run pre-") == ["pre-commit", "pre-merge-commit"]
    assert bash_complete(repo, "git run completion ") == ["bash", "zsh"]
    assert bash_complete(repo, "git run remote ") == ["setup"]
    # an option's value is not taken for an argument: '-n wide' then the command
    assert bash_complete(repo, "git run exec -n wide -- python trai") == []  # bash: files
    assert bash_complete(repo, "git-run show wi") == ["wide"]


@need_git_bash
def test_bash_completes_runs_of_the_repository_git_is_pointed_at(runs_repo: tuple[Path, str, str],
                                                                  tmp_path: Path) -> None:
    repo, named, other = runs_repo
    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    assert bash_complete(elsewhere, "git run show ") == []
    line = f"git --git-dir={repo / '.git'} run show "
    assert set(bash_complete(elsewhere, line)) == {named, other, "wide"}
    assert set(bash_complete(elsewhere, f"git -C {repo} run show ")) == {named, other, "wide"}


@need_git_bash
def test_bash_loads_the_script_on_demand_from_bash_completions_directory(
        runs_repo: tuple[Path, str, str], tmp_path: Path) -> None:
    """As documented: the script named git-run in ~/.local/share/bash-completion/completions
    is found by git's completion the first time 'git run' is completed."""
    if not os.path.exists(BASH_COMPLETION):
        missing("bash-completion", "is not installed")
    repo, named, _ = runs_repo
    data = tmp_path / "data"
    (data / "bash-completion" / "completions").mkdir(parents=True)
    installed = data / "bash-completion" / "completions" / "git-run"
    assert bash_complete(repo, "git run show ", script=False, env={"XDG_DATA_HOME": str(data)}) == []
    installed.write_text(gitrun(repo, "completion", "bash").stdout)
    assert "wide" in bash_complete(repo, "git run show ", script=False, env={"XDG_DATA_HOME": str(data)})


def test_complete_runs_lists_ids_newest_first_then_safe_names(runs_repo: tuple[Path, str, str]) -> None:
    repo, named, other = runs_repo
    proc = gitrun(repo, "__complete", "runs")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == [other, named, "wide"]
    # A name a shell would read as code, or that holds a space, is never offered.
    for bad in ("$(touch pwned)", "two words", "semi;colon"):
        assert gitrun(repo, "exec", "--name", bad, "--", "true").returncode == 0
    proc = gitrun(repo, "__complete", "runs")
    assert len(proc.stdout.splitlines()) == len(run_ids(repo)) + 1
    assert "wide" in proc.stdout and "pwned" not in proc.stdout and "words" not in proc.stdout


def _crafted_run(repo: Path, run_id: str, record: bytes) -> None:
    """A run ref whose .gitruns/run.json is ``record``, as anyone could push one."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=record,
                          capture_output=True, check=True).stdout.decode().strip()
    inner = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\trun.json\n",
                           capture_output=True, text=True, check=True).stdout.strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=f"040000 tree {inner}\t.gitruns\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-m", "crafted").strip()
    git(repo, "update-ref", f"refs/runs/{run_id}", commit)


def test_complete_runs_survives_crafted_records(tmp_path: Path) -> None:
    """Records are untrusted: not JSON, a name that is no string or holds a newline,
    a huge record: the ids are offered, such names never, and nothing is printed
    on stderr."""
    repo = make_repo(tmp_path / "repo")
    crafted = {
        "01m85m0000000000000000000a": b"not json {",
        "01m85m0000000000000000000b": b'{"name": ["a", "list"]}',
        "01m85m0000000000000000000c": b'{"name": "line\\nbreak"}',
        "01m85m0000000000000000000d": b'{"name": "' + b"x" * (2 << 20) + b'"}',
        "01m85m0000000000000000000e": b'{"name": "fine-name"}',
    }
    for rid, rec in crafted.items():
        _crafted_run(repo, rid, rec)
    git(repo, "update-ref", "refs/runs/not-an-id", git(repo, "rev-parse", "HEAD").strip())
    proc = gitrun(repo, "__complete", "runs")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == sorted(crafted, reverse=True) + ["fine-name"]


def test_complete_runs_reads_names_without_the_listing_cache(runs_repo: tuple[Path, str, str]) -> None:
    repo, named, other = runs_repo
    assert gitrun(repo, "ls").returncode == 0  # fills the cache
    assert gitrun(repo, "__complete", "runs").stdout.splitlines()[-1] == "wide"
    for f in (repo / ".git" / "gitruns").glob("index.sqlite*"):
        f.unlink()
    assert gitrun(repo, "__complete", "runs").stdout.splitlines() == [other, named, "wide"]


def test_complete_runs_includes_runs_fetched_from_a_remote(runs_repo: tuple[Path, str, str],
                                                           tmp_path: Path) -> None:
    repo, named, other = runs_repo
    clone = make_repo(tmp_path / "clone", commit=False)
    git(clone, "fetch", "-q", str(repo), "+refs/runs/*:refs/gitruns/remotes/team/*")
    assert set(gitrun(clone, "__complete", "runs").stdout.splitlines()) == {named, other, "wide"}


def test_complete_runs_is_silent_outside_a_repository_and_loads_no_heavy_module(tmp_path: Path) -> None:
    proc = gitrun(tmp_path, "__complete", "runs")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    code = ("import sys; sys.argv = ['git-run', '__complete', 'runs']\n"
            "import gitruns.main\n"
            "try:\n    gitruns.main.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pygit2', 'click', 'yaml', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_completion_verb_prints_the_shipped_scripts(tmp_path: Path) -> None:
    proc = gitrun(tmp_path, "completion", "bash")
    assert proc.returncode == 0 and proc.stdout == BASH_SCRIPT.read_text()
    proc = gitrun(tmp_path, "completion", "zsh")
    assert proc.returncode == 0 and proc.stdout == ZSH_SCRIPT.read_text()
    assert ZSH_SCRIPT.read_text().startswith("#compdef git-run\n")
    proc = gitrun(tmp_path, "completion", "fish")
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1
    assert "fish" in proc.stderr


def test_scripts_are_valid_shell() -> None:
    assert subprocess.run(["bash", "-n", str(BASH_SCRIPT)], capture_output=True).returncode == 0
    if have("zsh"):
        proc = subprocess.run(["zsh", "-n", str(ZSH_SCRIPT)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


# Drives an interactive zsh in a pseudo-terminal: compinit with our directory on
# $fpath, TAB bound to complete-word, and compadd wrapped to write what it offers
# to a file; the shell exits right after completing.
_ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=; fpath=($FPATH_DIR \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "zstyle ':completion:*' insert-tab false; bindkey '^I' complete-word"
zpty -w z 'compadd () { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi;'\
' local -a h; builtin compadd -A h "$@"; (( $#h )) && print -rl -- "$IPREFIX${^h[@]}" >> $OUT;'\
' builtin compadd "$@" }'
zpty -w z "comppostfuncs=(exit)"
zpty -w z "$LINE"$'\t'
integer n=0
while zpty -t z 2>/dev/null && (( n++ < 200 )); do zpty -r -t z junk 2>/dev/null; sleep 0.05; done
zpty -d z
"""


def zsh_complete(cwd: Path, line: str, tmp_path: Path) -> list[str]:
    fpath = tmp_path / "fpath"
    fpath.mkdir(exist_ok=True)
    shutil.copy(ZSH_SCRIPT, fpath / "_git-run")
    out = tmp_path / "offered"
    out.write_text("")
    subprocess.run(["zsh", "-f", "-c", _ZSH_DRIVER], cwd=cwd, capture_output=True, timeout=60,
                   env={**os.environ, "FPATH_DIR": str(fpath), "OUT": str(out), "LINE": line})
    return out.read_text().splitlines()


def test_zsh_completes_through_gits_own_completion(runs_repo: tuple[Path, str, str], tmp_path: Path) -> None:
    if not have("zsh") or not any(Path(d, "_git").exists() for d in ("/usr/share/zsh/functions/Completion/Unix",
                                                                     "/usr/share/zsh/vendor-completions")):
        missing("zsh", "zsh with its git completion is not installed")
    repo, named, other = runs_repo
    verbs = zsh_complete(repo, "git run ", tmp_path)
    assert {"exec", "ls", "show", "diff", "push", "hooks", "completion"} <= set(verbs)
    assert "--name" in zsh_complete(repo, "git run exec --", tmp_path)
    assert set(zsh_complete(repo, "git run show ", tmp_path)) == {named, other, "wide"}
    assert zsh_complete(repo, "git run diff wi", tmp_path) == ["wide"]
    assert zsh_complete(repo, "git run push ", tmp_path) == ["origin"]
    assert zsh_complete(repo, "git run ls --status c", tmp_path) == ["canceled", "crashed"]
    assert zsh_complete(repo, "git run ls --remote=", tmp_path) == ["--remote=origin"]
    assert set(zsh_complete(repo, "git-run show ", tmp_path)) == {named, other, "wide"}
