"""Generate the git-run(1) man page from the click help, so it cannot drift.

``git run --help`` is turned by git into ``git help run``, which opens the man
page git-run(1); it ships as ``share/man/man1/git-run.1``.
Regenerate with ``python -m gitruns.manpage > man/git-run.1``.
"""
from __future__ import annotations

import click

from . import __version__


def _esc(text: str) -> str:
    out = []
    for line in text.splitlines():
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def render() -> str:
    from .cli import main

    lines = [
        f'.TH GIT-RUN 1 "" "gitruns {__version__}" "gitruns manual"',
        ".SH NAME",
        "git-run \\- record every run as a commit on refs/runs/<id>",
        ".SH SYNOPSIS",
        ".B git run",
        "\\fIVERB\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
    ]
    with click.Context(main, info_name="git run", **main.context_settings) as ctx:
        lines += [".SH DESCRIPTION", ".nf", _esc(main.get_help(ctx)), ".fi"]
        lines.append(".SH COMMANDS")
        for name in main.list_commands(ctx):
            cmd = main.get_command(ctx, name)
            assert cmd is not None
            with click.Context(cmd, info_name=name, parent=ctx, **cmd.context_settings) as sub:
                lines += [f".SS git run {name}", ".nf", _esc(cmd.get_help(sub)), ".fi"]
    lines += [".SH SEE ALSO", "git(1), git-log(1), git-diff(1)"]
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """docs/cli.md: the same help text as the man page, for reading on the web."""
    from .cli import main

    out = ["# Command-line reference", "",
           "Generated from `--help` by `python -m gitruns.manpage --markdown > docs/cli.md`;",
           "a test fails when it drifts.", ""]
    with click.Context(main, info_name="git run", **main.context_settings) as ctx:
        out += ["## git run", "", "```", main.get_help(ctx), "```", ""]
        for name in main.list_commands(ctx):
            cmd = main.get_command(ctx, name)
            assert cmd is not None
            with click.Context(cmd, info_name=name, parent=ctx, **cmd.context_settings) as sub:
                out += [f"## git run {name}", "", "```", cmd.get_help(sub), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    print(render_markdown() if "--markdown" in sys.argv else render(), end="")
