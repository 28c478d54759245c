"""The man pages and docs/cli.md: generated from the code, one page per verb, each
with the sections a man page has, its options matching ``--help``, and its
exit status, environment and files matching what the code does."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import gitrun, have
from realparts import missing

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man"
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "FILES"]


def verbs(cwd: Path, *parent: str) -> list[str]:
    """The verbs ``git run [PARENT] -h`` lists under Commands."""
    out = gitrun(cwd, *parent, "-h").stdout
    block = out.split("\nCommands:\n", 1)[1] if "\nCommands:\n" in out else ""
    return [m.group(1) for m in re.finditer(r"^  (\S+)", block, re.M)]


def help_options(cwd: Path, *args: str) -> list[str]:
    """The first column of the Options block of ``git run ARGS -h``."""
    out = gitrun(cwd, *args, "-h").stdout
    block = out.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    return [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines() if line.startswith("  -")]


def _unroff(text: str) -> str:
    return re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def sections(page: str) -> dict[str, str]:
    """Section name -> its roff source."""
    parts = re.split(r"^\.SH (.+)$", page, flags=re.M)
    return {parts[i].strip('"'): parts[i + 1] for i in range(1, len(parts), 2)}


def page_options(page: str, sub: str | None = None) -> list[str]:
    """The option entries (.TP headings) of a page's OPTIONS section, or of its
    ``.SS ... SUB`` subsection."""
    body = sections(page)["OPTIONS"]
    parts = re.split(r"^\.SS (.+)$", body, flags=re.M)
    chunk = parts[0] if sub is None else next(parts[i + 1] for i in range(1, len(parts), 2)
                                              if parts[i].split()[-1] == sub)
    return [_unroff(m.group(1)) for m in re.finditer(r"^\.TP\n(.+)$", chunk, re.M)]


def entries(page: str, section: str) -> list[str]:
    return [_unroff(m.group(1)) for m in re.finditer(r"^\.TP\n(.+)$", sections(page)[section], re.M)]


def test_generated_files_are_current() -> None:
    from gitruns.manpage import expected_files

    expected = expected_files()
    for rel, text in expected.items():
        assert (ROOT / rel).read_text() == text, f"{rel} is stale: run python -m gitruns.manpage --write"
    shipped = {f"man/{p.name}" for p in MAN.iterdir()}
    assert shipped == {rel for rel in expected if rel.startswith("man/")}, "man/ holds a page no verb has"


def test_every_verb_has_its_page_with_the_man_page_sections(tmp_path: Path) -> None:
    listed = verbs(tmp_path)
    assert {"exec", "ls", "show", "log", "diff", "push", "fetch", "pull", "checkout", "remote", "hooks",
            "completion"} <= set(listed)
    for verb in ["", *listed]:
        name = f"git-run-{verb}" if verb else "git-run"
        page = (MAN / f"{name}.1").read_text()
        assert page.startswith(f".TH {name.upper()} 1 ")
        assert [s for s in sections(page) if s in SECTIONS] == SECTIONS, name
        assert sections(page)["NAME"].strip().startswith(f"{name} \\- ")
        if verb:
            assert f"\\fBgit\\-run\\-{verb}\\fR(1)" in sections((MAN / "git-run.1").read_text())["COMMANDS"]
            assert "git-run(1)" in sections(page)["SEE ALSO"]


def test_each_page_lists_the_options_that_help_shows(tmp_path: Path) -> None:
    assert page_options((MAN / "git-run.1").read_text()) == help_options(tmp_path)
    for verb in verbs(tmp_path):
        page = (MAN / f"git-run-{verb}.1").read_text()
        assert page_options(page) == help_options(tmp_path, verb), verb
        for sub in verbs(tmp_path, verb):
            assert page_options(page, sub) == help_options(tmp_path, verb, sub), (verb, sub)
            assert f"git run {verb} {sub}" in _unroff(sections(page)["SYNOPSIS"])


def test_exit_status_names_every_code_and_exec_passes_its_commands_through(repo: Path) -> None:
    from gitruns.cli import BUG_EXIT

    main_codes = entries((MAN / "git-run.1").read_text(), "EXIT STATUS")
    assert {"0", "1", "2", str(BUG_EXIT), "130"} <= set(main_codes)
    exec_codes = entries((MAN / "git-run-exec.1").read_text(), "EXIT STATUS")
    assert "128+N" in exec_codes
    # ... and they are what happens.
    assert gitrun(repo, "show", "nosuchrun").returncode == 2
    assert gitrun(repo, "ls", "--bogus").returncode == 2
    (repo / "train.py").write_text("print('edited')\n")
    assert gitrun(repo, "exec", "--", "true", env={"GITRUNS_DIRTY": "refuse"}).returncode == 1
    (repo / "train.py").write_text("print('training')\n")
    assert gitrun(repo, "exec", "--", sys.executable, "-c", "raise SystemExit(7)").returncode == 7
    assert gitrun(repo, "exec", "--", sys.executable, "-c",
                  "import os, signal; os.kill(os.getpid(), signal.SIGTERM)").returncode == 128 + 15


def _read_by_code() -> set[str]:
    """Every environment variable name the package reads or sets, by its literal."""
    names: set[str] = set()
    for path in (ROOT / "gitruns").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"""environ(?:\.get)?\(?\[?["']([A-Z][A-Z0-9_]+)["']""", text))
        names |= set(re.findall(r"""getenv\(["']([A-Z][A-Z0-9_]+)["']""", text))
        names |= set(re.findall(r"""["'](GITRUNS_[A-Z][A-Z0-9_]*)["']""", text))
    return names


def test_environment_names_every_variable_the_code_reads() -> None:
    documented = " ".join(entries((MAN / "git-run.1").read_text(), "ENVIRONMENT"))
    documented_names = set(re.findall(r"[A-Z][A-Z0-9_]+", documented))
    # Read only to pass the user's environment through, not settings of ours.
    passthrough = {"PATH", "HOME", "USER", "LOGNAME", "TERM", "COLUMNS", "LINES", "TMPDIR"}
    missing = {n for n in _read_by_code() - passthrough if n.startswith(("GIT", "NO_COLOR", "PAGER"))}
    assert missing <= documented_names, f"not in ENVIRONMENT of git-run(1): {sorted(missing - documented_names)}"
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_PAGER", "PAGER", "NO_COLOR", "GITRUNS_DEBUG",
                 "GITRUNS_CONFIG_FILE", "GIT_CONFIG_PARAMETERS"):
        assert name in documented_names
    from gitruns.settings import KEYS

    for key, (env_name, *_rest) in KEYS.items():
        assert env_name in documented_names
        assert key in " ".join(entries((MAN / "git-run.1").read_text(), "CONFIGURATION"))


def test_files_names_everything_gitruns_keeps_in_the_repository(repo: Path) -> None:
    """After a run with an input and an output, a listing and a hook install, every
    entry gitruns made under the git dir is in FILES."""
    (repo / "data.txt").write_text("x\n")
    proc = gitrun(repo, "exec", "-i", "data.txt", "-o", "out.txt", "--", sys.executable, "-c",
                  "open('out.txt', 'w').write('y')")
    assert proc.returncode == 0, proc.stderr
    assert gitrun(repo, "ls").returncode == 0 and gitrun(repo, "hooks", "install").returncode == 0
    documented = " ".join(entries((MAN / "git-run.1").read_text(), "FILES"))
    made = sorted(p.name for p in (repo / ".git" / "gitruns").iterdir())
    assert made, "gitruns kept nothing in .git/gitruns"
    for name in made:
        stem = name.split(".sqlite")[0]  # index.sqlite-wal and -shm go with index.sqlite
        assert f"$GIT_COMMON_DIR/gitruns/{stem}" in documented, name
    assert "refs/runs/<id>" in documented
    assert "$GIT_DIR/hooks/" in documented and (repo / ".git" / "hooks" / "pre-commit").exists()


def test_pyproject_installs_every_page_and_both_completion_scripts() -> None:
    tomllib = pytest.importorskip("tomllib")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    assert sorted(data["share/man/man1"]) == sorted(f"man/{p.name}" for p in MAN.iterdir())
    assert data["share/bash-completion/completions"] == ["completion/git-run"]
    assert data["share/zsh/site-functions"] == ["completion/_git-run"]


@pytest.fixture
def _man() -> None:
    if not have("man"):
        missing("man", "is not installed")


@pytest.mark.usefixtures("_man")
def test_pages_render_without_warnings() -> None:
    for page in sorted(MAN.iterdir()):
        proc = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                              env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
        assert proc.returncode == 0 and proc.stderr == "", (page.name, proc.stderr)
        assert "EXIT STATUS" in proc.stdout and "ENVIRONMENT" in proc.stdout


@pytest.mark.usefixtures("_man")
def test_git_help_opens_the_verbs_page(repo: Path, tmp_path: Path) -> None:
    """As documented: 'git run --help' opens git-run(1) and 'git help git-run-exec'
    the verb's page (git prefixes 'git' only, so 'git help run-exec' would not)."""
    manpath = tmp_path / "manpath"
    manpath.mkdir()
    (manpath / "man1").symlink_to(MAN)
    env = {"MANPATH": str(manpath), "MANPAGER": "cat", "PAGER": "cat", "GIT_PAGER": "cat", "MANWIDTH": "100",
           "LC_ALL": "C.UTF-8"}
    proc = gitrun(repo, "--help", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "GIT-RUN(1)" in proc.stdout and "git-run-exec(1)" in proc.stdout
    proc = subprocess.run(["git", "help", "git-run-exec"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert "GIT-RUN-EXEC(1)" in proc.stdout and "--metrics FILE" in proc.stdout and "128+N" in proc.stdout


def test_git_run_help_opens_the_installed_man_page(repo: Path) -> None:
    installed = Path(sys.prefix) / "share" / "man" / "man1" / "git-run.1"
    if not installed.exists():
        pytest.skip("editable install: the man pages are installed by 'pip install .' only")
    env = {"MANPAGER": "cat", "PAGER": "cat", "GIT_PAGER": "cat", "MANWIDTH": "100", "MANPATH": ""}
    proc = gitrun(repo, "--help", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "git run exec" in proc.stdout and "refs/runs" in proc.stdout
    for verb in ("exec", "ls", "diff"):
        assert (installed.parent / f"git-run-{verb}.1").exists()


def test_cli_reference_has_every_verb_and_the_tables(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    for verb in verbs(tmp_path):
        assert f"\n## git run {verb}\n" in doc
    for heading in ("## Shell completion", "## Exit status", "## Environment", "## Files", "## Configuration"):
        assert f"\n{heading}\n" in doc
    assert "git run completion bash > ~/.local/share/bash-completion/completions/git-run" in doc


@pytest.mark.usefixtures("_man")
def test_verb_help_on_a_terminal_opens_the_verbs_page(repo: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As 'git commit --help' opens git-commit(1): 'git run exec --help' on a terminal
    opens git-run-exec(1); '-h', or --help when piped, prints the option summary."""
    from conftest import on_a_terminal

    manpath = tmp_path / "manpath"
    manpath.mkdir()
    (manpath / "man1").symlink_to(MAN)
    for key, value in {"MANPATH": str(manpath), "MANPAGER": "cat", "PAGER": "cat", "GIT_PAGER": "cat",
                       "MANWIDTH": "100", "LC_ALL": "C.UTF-8"}.items():
        monkeypatch.setenv(key, value)
    code, seen = on_a_terminal(repo, ["git", "run", "exec", "--help"], stdout=True, stderr=True)
    assert code == 0 and b"GIT-RUN-EXEC(1)" in seen and b"EXIT STATUS" in re.sub(rb".\x08", b"", seen)
    code, seen = on_a_terminal(repo, ["git", "run", "hooks", "install", "--help"], stdout=True, stderr=True)
    assert code == 0 and b"GIT-RUN-HOOKS(1)" in seen
    code, seen = on_a_terminal(repo, ["git", "run", "exec", "-h"], stdout=True, stderr=True)
    assert code == 0 and b"Usage: git run exec" in seen and b"GIT-RUN-EXEC(1)" not in seen
    piped = gitrun(repo, "exec", "--help")
    assert piped.returncode == 0 and piped.stdout.startswith("Usage: git run exec")
    # A page that is not installed: the summary, on the terminal too.
    monkeypatch.setenv("MANPATH", str(tmp_path / "nowhere"))
    code, seen = on_a_terminal(repo, ["git", "run", "ls", "--help"], stdout=True, stderr=True)
    assert code == 0 and b"Usage: git run ls" in seen
