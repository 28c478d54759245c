"""Generate the man pages and docs/cli.md from the click tree, so they cannot drift.

One page per verb, as git has: git-run(1) for the whole command (global options,
verbs, configuration, exit status, environment, files) and git-run-<verb>(1) for
each verb (``git-run-exec(1)``, ``git-run-ls(1)``, ...).  Exit status,
environment and files come from the tables below (the environment also from
``settings.KEYS``), not from prose kept by hand.

``git run --help`` is turned by git into ``git help run``, which opens
git-run(1); ``git run VERB --help`` on a terminal opens the verb's page as
``git commit --help`` does (helppage.py), ``-h`` (or ``--help`` piped) prints the
click help; the page is also ``man git-run-VERB`` (or ``git help git-run-VERB``:
git prefixes "git" only).
Regenerate everything with ``python -m gitruns.manpage --write`` (from the source
tree); a test fails when a shipped file is stale.
"""
from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    import click

MAN_DIR = "man"
CLI_DOC = os.path.join("docs", "cli.md")

# -- what the pages say beyond --help: data, not prose kept in two places -----

EXIT_STATUS: list[tuple[str, str]] = [
    ("0", "Success."),
    ("1", "A failure reported in one line on stderr (a remote that refuses, a record that is "
          "refused, a git command that fails, a dirty tree that gitruns.dirty=refuse refuses)."),
    ("2", "Bad usage or bad input, in one line on stderr: an unknown option, a missing argument, a "
          "malformed value or setting, a run that no id or name matches (or more than one), not a "
          "git repository."),
    ("3", "An internal error (a bug): one line on stderr; 'git run --debug ...' or "
          "GITRUNS_DEBUG=1 shows the traceback."),
    ("130", "Interrupted (^C)."),
    ("141", "The reader of the output went away (a closed pipe, as in 'git run ls | head -1')."),
]
# exec exits with its command's status instead of 0/1.
EXEC_EXIT_STATUS: list[tuple[str, str]] = [
    ("N", "The command's own exit status: exec exits as its command did, so it can replace the "
          "command in scripts."),
    ("128+N", "The command was killed by signal N."),
    ("1, 2, 3, 130", "As for every verb, when exec itself fails before or after the command "
                     "(the command never ran, or its run could not be recorded)."),
]

# pipeline exits 1 when a step failed, 128+N when a signal canceled it.
PIPELINE_EXIT_STATUS: list[tuple[str, str]] = [
    ("0", "Every step needed succeeded or was reused from an earlier run."),
    ("1", "A step failed (the end line names it; its dependents were skipped)."),
    ("2", "The pipeline cannot run, said in one line before anything is recorded: a cycle, two steps "
          "writing one output, a missing dep, an unknown param, target or ${key}, a malformed file."),
    ("3", "An internal error (a bug); the run still gets its final record."),
    ("128+N", "Canceled by signal N (130 for ^C): the running steps were stopped and recorded canceled."),
]

ALL = "*"


@dataclass
class EnvVar:
    name: str
    text: str
    verbs: tuple[str, ...] = (ALL,)  # the pages that list it (git-run(1) lists all)


ENVIRONMENT: list[EnvVar] = [
    EnvVar("GITRUNS_DEBUG", "When set (or with --debug), an internal error prints its traceback."),
    EnvVar("GITRUNS_TRACE", "When set, timings of the steps are printed on stderr.", ("exec",)),
    EnvVar("GIT_DIR", "The repository to use, as for git (also 'git --git-dir=... run').", ),
    EnvVar("GIT_WORK_TREE", "The working tree to use, as for git (also 'git --work-tree=... run')."),
    EnvVar("GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT",
           "Set by 'git -c key=value run ...': such values override the git configuration, "
           "gitruns.* keys and remote.<name>.gitrunsStore included."),
    EnvVar("GIT_INDEX_FILE", "The index the hooks check (git sets it while committing); never "
                             "passed on to a run's command.", ("exec", "hooks")),
    EnvVar("GIT_PAGER, PAGER", "The pager for ls, show, diff and log on a terminal, as git chooses "
                               "it (see git-var(1)); --no-pager or 'git --no-pager run' turns it off.",
           ("ls", "show", "diff", "log")),
    EnvVar("GIT_PAGER_IN_USE", "Set by git (and by gitruns for its pager) while a pager runs: "
                               "gitruns then never starts a second one.", ("ls", "show", "diff", "log")),
    EnvVar("GIT_CEILING_DIRECTORIES, GIT_DISCOVERY_ACROSS_FILESYSTEM",
           "Bound the search for the repository, as for git."),
    EnvVar("NO_COLOR", "When set and not empty, no colour unless --color=always.",
           ("ls", "show", "diff", "log")),
    EnvVar("GITRUNS_RUN_ID", "Set by exec for the command: the id of its run. A run started by "
                             "a command that has it records invoked_by 'run' and that run as its "
                             "parent.", ("exec", "pipeline")),
    EnvVar("GITRUNS_RUN_DIR", "Set by exec for the command: a private directory whose metrics, "
                              "parameters and artifacts logged through the Python API are folded "
                              "into the run when it ends.", ("exec", "pipeline")),
    EnvVar("GITRUNS_CONFIG_FILE", "Set by exec for the command when the run has a config: the "
                                  "effective config as a YAML file.", ("exec", "pipeline")),
    EnvVar("GITRUNS_STEP", "Set by pipeline for each step's command: the step's name (its "
                           "GITRUNS_RUN_DIR is the step's own, so what it logs lands in the step).", ("pipeline",)),
    EnvVar("GITRUNS_REPO_ROOT", "Set by exec for the command: the root of the working tree.", ("exec", "pipeline")),
]

FILES: list[tuple[str, str, tuple[str, ...]]] = [
    ("refs/runs/<id>", "A run: its commit holds the code snapshot and the record in .gitruns/ "
                       "(run.json, config.yaml, env.json, metrics.jsonl, stdout.log, stderr.log).",
     (ALL,)),
    ("refs/gitruns/remotes/<remote>/<id>", "Runs last seen on a remote (written by fetch and push, "
                                           "and by a plain git fetch after 'git run remote setup').",
     ("ls", "show", "push", "fetch", "pull", "checkout", "remote")),
    ("$GIT_COMMON_DIR/gitruns/cache/", "The content-addressed artifact cache (outputs, long logs), "
                                       "shared by all worktrees; gitruns.cacheDir moves it.",
     ("exec", "pipeline", "checkout", "push", "log")),
    ("$GIT_COMMON_DIR/gitruns/index.sqlite", "The run index, derived from the refs: each run's record, "
                                             "params, metrics, tags, environment and digests, for "
                                             "queries and lineage. Kept up to date on every command; "
                                             "safe to delete (the next command rebuilds it).",
     ("ls", "show", "diff", "log", "export", "hooks", "lineage", "which")),
    ("$GIT_COMMON_DIR/gitruns/statcache.sqlite", "File stat cache of input hashing. Safe to delete.",
     ("exec", "pipeline", "lineage", "which")),
    ("$GIT_COMMON_DIR/gitruns/envcache/", "The Python packages of an interpreter, read once per "
                                          "change. Safe to delete.", ("exec",)),
    ("$GIT_COMMON_DIR/gitruns/snapshot-index/", "The private index used to snapshot the working "
                                                "tree (never the user's index).", ("exec",)),
    ("$GIT_COMMON_DIR/gitruns/work/<id>/", "A running run's scratch directory (GITRUNS_RUN_DIR and "
                                           "its output spools; a pipeline's steps/<name>/ and values/).",
     ("exec", "pipeline", "log")),
    ("$GIT_COMMON_DIR/gitruns/stores.sqlite", "What each remote's artifact store is known to hold.",
     ("push", "fetch", "pull", "checkout")),
    ("$GIT_COMMON_DIR/gitruns/crash.log, ~/.cache/gitruns/crash.log",
     "What the last internal error (exit 3) left: versions, the command line (secrets redacted) and "
     "the traceback; the second place outside a repository ($XDG_CACHE_HOME is honoured).", (ALL,)),
    ("$GIT_COMMON_DIR/gitruns/worktrees/", "The worktrees where reruns, reproductions, resumes and "
                                           "sweep points run (pool-N, locked while in use and with git "
                                           "worktree lock); kept and cleaned between uses. Safe to delete "
                                           "when nothing runs, then git worktree prune.",
     ("rerun", "reproduce", "resume", "sweep")),
    ("$GIT_COMMON_DIR/gitruns/sweeps/<id>/<index>.log", "What each point of a sweep printed (its run "
                                                          "keeps it too).", ("sweep",)),
    ("$GIT_COMMON_DIR/gitruns/cancel/<id>.json", "A cancel request: who asked, when, the grace period; "
                                                 "read by the run as it ends.", ("cancel", "exec", "pipeline")),
    ("$GIT_COMMON_DIR/gitruns/envs/", "Virtual environments built by 'reproduce --env recreate', one per "
                                      "recorded package list. Safe to delete.", ("reproduce",)),
    ("$GIT_DIR/gitruns-pipeline.lock", "Held while a pipeline runs in this working tree (one at a "
                                       "time); it names the holder's pid.", ("pipeline",)),
    ("$GIT_DIR/hooks/", "Where 'git run hooks install' puts its hooks (core.hooksPath is honoured); "
                        "a hook already there is kept and run first.", ("hooks",)),
    ("$GIT_DIR/config, ~/.gitconfig, $XDG_CONFIG_HOME/git/config",
     "The git configuration, where the gitruns.* settings and remote.<name>.gitrunsStore live "
     "(see CONFIGURATION in git-run(1)).", (ALL,)),
]

SEE_ALSO = ["git(1)", "git-log(1)", "git-diff(1)", "git-config(1)"]


# -- roff -------------------------------------------------------------------------

def _esc(text: str) -> str:
    """Text for roff: backslashes escaped, no line starting with a control character."""
    out = []
    for line in text.splitlines():
        line = line.replace("\\", "\\e").replace("-", "\\-")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def _paragraphs(help_text: str) -> list[tuple[bool, str]]:
    """(verbatim, text) paragraphs of a click help text (``\\b`` marks verbatim ones)."""
    out: list[tuple[bool, str]] = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(help_text or "")):
        lines = para.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append((True, "\n".join(lines[1:])))
        elif para.strip():
            out.append((False, " ".join(line.strip() for line in lines)))
    return out


def _roff_paragraphs(help_text: str) -> list[str]:
    lines: list[str] = []
    for verbatim, text in _paragraphs(help_text):
        lines += [".PP", ".nf", ".RS 4", _esc(text), ".RE", ".fi"] if verbatim else [".PP", _esc(text)]
    return lines


def _contexts() -> list[tuple[str, click.Command, click.Context]]:
    """(name, command, context) of git run itself ("") and of every verb."""
    import click

    from .cli import main

    out: list[tuple[str, click.Command, click.Context]] = []
    ctx = click.Context(main, info_name="git run", **main.context_settings)
    out.append(("", main, ctx))
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        out.append((name, cmd, click.Context(cmd, info_name=name, parent=ctx, **cmd.context_settings)))
    return out


def _subcommands(cmd: click.Command, ctx: click.Context) -> list[tuple[str, click.Command, click.Context]]:
    import click

    if not isinstance(cmd, click.Group):
        return []
    out = []
    for name in cmd.list_commands(ctx):
        sub = cmd.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            out.append((name, sub, click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)))
    return out


def option_records(cmd: click.Command, ctx: click.Context) -> list[tuple[str, str]]:
    """What ``--help`` shows under Options: (the option and its metavar, its help)."""
    import click

    out = []
    for param in cmd.get_params(ctx):
        if not isinstance(param, click.Option):
            continue
        record = param.get_help_record(ctx)
        if record is not None:
            out.append(record)
    return out


def _roff_options(cmd: click.Command, ctx: click.Context) -> list[str]:
    lines: list[str] = []
    for opts, text in option_records(cmd, ctx):
        lines += [".TP", "\\fB" + _esc(opts) + "\\fR", _esc(text)]
    return lines


def _synopsis(cmd: click.Command, ctx: click.Context) -> str:
    return f"{ctx.command_path} {' '.join(cmd.collect_usage_pieces(ctx))}"


def _for(verb: str, verbs: tuple[str, ...]) -> bool:
    return verb == "" or ALL in verbs or verb in verbs


def _invoker_variables() -> list[EnvVar]:
    """What decides a run's invoked_by, as launchspec.detect_invoker reads it."""
    from .launchspec import CI_MARKERS
    from .record import INVOKERS

    return [
        EnvVar("GITRUNS_INVOKED_BY", "Records who started the run (invoked_by in run.json): one of "
                                     f"{', '.join(sorted(INVOKERS))}. The installed hooks set it.",
               ("exec", "hooks")),
        EnvVar(", ".join(["CI", *CI_MARKERS]), "When set, a run records invoked_by 'ci' and the CI "
                                               "provider.", ("exec",)),
    ]


def environment(verb: str) -> list[tuple[str, str]]:
    """(variable, meaning) for one verb's page ("" for git-run(1))."""
    from .settings import KEYS

    out = [(v.name, v.text) for v in [*ENVIRONMENT, *_invoker_variables()] if _for(verb, v.verbs)]
    if verb:
        names = ", ".join(env_name for env_name, _default, _kind, _help in KEYS.values())
        out.append((names, "Override the gitruns.* settings for one invocation (see CONFIGURATION "
                           "in git-run(1))."))
    else:
        for key, (env_name, _default, _kind, _help) in KEYS.items():
            out.append((env_name, f"Overrides the git config setting {key} for one invocation."))
    return out


def files(verb: str) -> list[tuple[str, str]]:
    return [(path, text) for path, text, verbs in FILES if _for(verb, verbs)]


def exit_status(verb: str) -> list[tuple[str, str]]:
    return EXEC_EXIT_STATUS if verb == "exec" else PIPELINE_EXIT_STATUS if verb == "pipeline" else EXIT_STATUS


def configuration() -> list[tuple[str, str]]:
    from .settings import KEYS

    out = []
    for key, (env_name, default, _kind, text) in KEYS.items():
        shown = f" Default: {default}." if default else ""
        out.append((key, f"{text}{shown} Environment: {env_name}."))
    return out


def _roff_list(items: list[tuple[str, str]]) -> list[str]:
    lines: list[str] = []
    for term, text in items:
        lines += [".TP", "\\fB" + _esc(term) + "\\fR", _esc(text)]
    return lines


def page_name(verb: str) -> str:
    return f"git-run-{verb}" if verb else "git-run"


def render_page(verb: str, cmd: click.Command, ctx: click.Context) -> str:
    name = page_name(verb)
    short = cmd.get_short_help_str(200).rstrip(".") if verb else \
        "record every run as a commit on refs/runs/<id>"
    lines = [f'.TH {name.upper()} 1 "" "gitruns {__version__}" "gitruns manual"',
             ".SH NAME", f"{name} \\- {_esc(short)}",
             ".SH SYNOPSIS", ".nf", _esc(_synopsis(cmd, ctx))]
    subs = _subcommands(cmd, ctx)
    lines += [_esc(_synopsis(sub, sub_ctx)) for _, sub, sub_ctx in subs]
    lines += [".fi", ".SH DESCRIPTION", *_roff_paragraphs(cmd.help or "")]
    if verb == "":
        lines += [".SH COMMANDS"]
        for sub_name, sub, _ in subs:
            lines += [".TP", f"\\fBgit\\-run\\-{_esc(sub_name)}\\fR(1)", _esc(sub.get_short_help_str(200))]
    else:
        for sub_name, sub, _ in subs:
            lines += [f".SS {ctx.command_path} {_esc(sub_name)}", *_roff_paragraphs(sub.help or "")]
    lines += [".SH OPTIONS", *_roff_options(cmd, ctx)]
    if verb != "":
        for sub_name, sub, sub_ctx in subs:
            lines += [f".SS {ctx.command_path} {_esc(sub_name)}", *_roff_options(sub, sub_ctx)]
    if verb == "":
        lines += [".SH CONFIGURATION",
                  ".PP", "Settings are git configuration keys, read like any git setting (repository, "
                  "user, system, 'git \\-c'); an environment variable overrides each for one invocation.",
                  *_roff_list(configuration()),
                  ".SH SHELL COMPLETION", *_roff_paragraphs(COMPLETION_HELP)]
    lines += [".SH EXIT STATUS", *_roff_list(exit_status(verb)),
              ".SH ENVIRONMENT", *_roff_list(environment(verb)),
              ".SH FILES", *_roff_list(files(verb)),
              ".SH SEE ALSO",
              ", ".join(([] if verb == "" else ["git-run(1)"]) + SEE_ALSO)]
    return "\n".join(lines) + "\n"


COMPLETION_HELP = """\
'git run completion bash' and 'git run completion zsh' print scripts that complete verbs,
options, remotes, and run ids and names (from 'git run __complete runs', which reads only
refs and the listing cache).  pip installs them under its prefix's share/ directory, where
bash-completion finds them when that prefix is /usr/local (in XDG_DATA_DIRS) or ~/.local (XDG_DATA_HOME), and zsh
when share/zsh/site-functions is on $fpath; in a virtual environment, write them yourself:

\b
git run completion bash > ~/.local/share/bash-completion/completions/git-run
git run completion zsh > ~/.zsh/completions/_git-run   # a directory on $fpath, before compinit

The bash script plugs into git's own completion (its _git_run), so 'git run <TAB>' works
wherever 'git <TAB>' does; the zsh script defines _git-run, which git's _git calls.  The
scripts carry the verbs and options of the gitruns that wrote them: write them again after
an upgrade (ids and names are always read at TAB time).
"""


def pages() -> dict[str, str]:
    """file name -> text, for man/."""
    return {f"{page_name(verb)}.1": render_page(verb, cmd, ctx) for verb, cmd, ctx in _contexts()}


def render() -> str:
    """git-run(1)."""
    return pages()["git-run.1"]


# -- markdown ---------------------------------------------------------------------

def _md_list(items: list[tuple[str, str]]) -> list[str]:
    return [f"- `{term}`: {text}" for term, text in items] + [""]


def render_markdown() -> str:
    """docs/cli.md: the same help text as the man pages, for reading on the web."""
    out = ["# Command-line reference", "",
           "Generated from the code by `python -m gitruns.manpage --write` (with the man pages",
           "in `man/`); a test fails when it drifts. Each verb has its man page,",
           "`man git-run-VERB` (or `git help git-run-VERB`); `git run --help` opens git-run(1)",
           "through git and, on a terminal, `git run VERB --help` opens the verb's page as",
           "`git commit --help` does; `git run VERB -h` (or `--help` piped) prints the help below.", ""]
    for verb, cmd, ctx in _contexts():
        title = f"git run {verb}".strip()
        out += [f"## {title}", "", "```", cmd.get_help(ctx), "```", ""]
        for sub_name, sub, sub_ctx in _subcommands(cmd, ctx) if verb else []:
            out += [f"### {title} {sub_name}", "", "```", sub.get_help(sub_ctx), "```", ""]
    out += ["## Shell completion", ""]
    for verbatim, text in _paragraphs(COMPLETION_HELP):
        out += ["```sh", text, "```", ""] if verbatim else [text, ""]
    out += ["## Configuration", "", "Settings are git configuration keys; an environment variable "
            "overrides each for one invocation.", "", *_md_list(configuration())]
    out += ["## Exit status", "", *_md_list(EXIT_STATUS), "`git run exec`:", "", *_md_list(EXEC_EXIT_STATUS),
            "`git run pipeline`:", "", *_md_list(PIPELINE_EXIT_STATUS)]
    out += ["## Environment", "", *_md_list(environment(""))]
    out += ["## Files", "", *_md_list(files(""))]
    return "\n".join(out).rstrip("\n") + "\n"


def expected_files() -> dict[str, str]:
    """Every generated file, by its path in the source tree."""
    from .completion import SOURCE, script

    out = {os.path.join(MAN_DIR, name): text for name, text in pages().items()}
    out[CLI_DOC] = render_markdown()
    for shell, path in SOURCE.items():
        out[path] = script(shell)
    return out


def write(root: str) -> list[str]:
    """Write every generated file under ``root``; return the ones that changed."""
    changed = []
    for rel, text in expected_files().items():
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        changed.append(rel)
    return changed


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv:
        for rel in write(os.getcwd()):
            print(f"wrote {rel}")
    else:
        print(render_markdown() if "--markdown" in sys.argv else render(), end="")
