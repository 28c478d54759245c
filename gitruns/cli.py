"""Click wiring for ``git run``: parse arguments, call one verb, map errors to exit codes.

Expected errors print one line and exit 1 (2 for bad usage or input);
^C exits 130; a bug exits 3 with one line naming its crash log (gitruns.crashlog),
and its traceback on stderr with ``--debug`` or GITRUNS_DEBUG=1.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from . import __version__, exitcode
from .completion import complete_remotes, complete_runs, complete_statuses
from .outputformat import output_options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
BUG_EXIT = exitcode.BUG_EXIT


class _ReaderGone(Exception):
    """stdout's reader went away (EPIPE), carried past click, which would exit 1."""


class _InOrder(click.Group):
    """Lists verbs in the order a user meets them, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _ReaderGone() from None


@click.group(cls=_InOrder, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="git-run")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.option("--no-pager", "-P", "no_pager", is_flag=True,
              help="Do not page the output of ls, show, diff and log (as 'git --no-pager').")
@click.option("--paginate", "-p", "paginate", is_flag=True,
              help="Page ls, show, diff and log even where config (pager.run.<verb>) turns it off.")
@click.pass_context
def main(ctx: click.Context, debug: bool, no_pager: bool, paginate: bool) -> None:
    """Record every run as a commit on refs/runs/<id> in this repository.

    Wrap a command with 'git run exec -- CMD', then find, inspect and compare
    runs with 'git run ls', 'show', 'log' and 'diff', or with plain git:
    'git log refs/runs/<id>', 'git diff refs/runs/A refs/runs/B'.
    """
    if debug:
        os.environ["GITRUNS_DEBUG"] = "1"
    from . import pager

    pager.request(False if no_pager else True if paginate else None)
    _help_without_verb(ctx)


def _help_without_verb(ctx: click.Context) -> None:
    """'git run' (or 'git run hooks') alone: the help, on stdout, as a success (what
    was asked for), not a usage error."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        click.echo(ctx.get_help())
        ctx.exit(0)


def _color_option(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from . import colour

    colour.request(value)


def _no_pager_option(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from . import pager

        pager.request(False)


def reader(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A read verb: ``--color[=WHEN]``, ``--no-pager``, and its output paged as git
    pages (pager.py).
    Put it under ``@main.command``; the verb's own options and arguments stay as they are."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def paged(*args: Any, **kwargs: Any) -> Any:
            from . import colour, pager

            with pager.paged(verb) as paging:
                colour.decide(_stdout_is_tty(), paging)
                return fn(*args, **kwargs)

        paged = click.option("--no-pager", "no_pager", is_flag=True, expose_value=False, callback=_no_pager_option,
                             help="Print straight to the terminal, not through the pager.")(paged)
        return click.option(
            "--color", "colour_when", type=click.Choice(["auto", "always", "never"]),
            is_flag=False, flag_value="always", default=None, expose_value=False, callback=_color_option,
            metavar="WHEN", help="Colour the output: auto, always or never; --color alone is always "
                                 "(default: color.run, color.ui, auto).",
        )(paged)

    return wrap


def _stdout_is_tty() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False


# Options end at the command's name (or at '--'): everything after it is the
# command's own, '--flags' included.  Before it, an unknown option is a usage error
# (a misspelt '--ouput' must not become the command to run).
@main.command("exec", context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("--name", "-n", help="A human name for the run (searchable; not the key).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run (repeatable).")
@click.option("--config", "-c", "config_files", multiple=True, metavar="FILE",
              help="YAML or JSON config file (repeatable; later files win).")
@click.option("-p", "--param", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, like train.lr=0.01 (value typed as YAML).")
@click.option("-i", "--input", "inputs", multiple=True, metavar="PATH",
              help="Input file or directory, hashed and recorded (repeatable).")
@click.option("-o", "--output", "outputs", multiple=True, metavar="PATH",
              help="Output file or directory, stored in the artifact cache after the run (repeatable).")
@click.option("-m", "--metrics", "metrics_files", multiple=True, metavar="FILE",
              help="JSON/YAML metrics file the command writes, read when it ends (repeatable).")
@click.option("-q", "--quiet", is_flag=True,
              help="No final line naming the run and its outcome, no progress bars (errors and warnings still print).")
@click.option("--lineage", "lineage", hidden=True, default=None,
              help="Lineage fields for the record, as JSON (set by git run sweep).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def exec_cmd(command: tuple[str, ...], **opts: Any) -> None:
    """Run COMMAND and record it as a run.

    \b
    git run exec -- python train.py --epochs 3
    git run exec -c params.yaml -p train.lr=0.01 -i data/ -o model.pt -- python train.py

    Exits with the command's exit code (128+N if it was killed by signal N),
    after one line on stderr naming the run and its outcome (-q: none).
    ${KEY} in COMMAND's arguments is replaced by the config value of KEY
    (dotted, like ${train.lr}); $${ is a literal ${.  With -c or -p the
    effective config is handed to the command as the file named by
    $GITRUNS_CONFIG_FILE (named like the first -c file).
    """
    from .commands.exec_ import exec_

    sys.exit(exec_(list(command), **opts))


@main.command("pipeline", context_settings=CONTEXT)
@click.argument("targets", nargs=-1, metavar="[STEP]...")
@click.option("-f", "--file", "file", metavar="FILE",
              help="The pipeline definition (default: gitruns.yaml at the repository root; a dvc.yaml works too).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Run up to N independent steps at once.")
@click.option("-p", "--param", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, like train.lr=0.01 (value typed as YAML).")
@click.option("--config", "-c", "config_files", multiple=True, metavar="FILE",
              help="YAML or JSON config file, read after params.yaml (repeatable; later files win).")
@click.option("--force", is_flag=True, help="Run every step, reusing none from earlier runs.")
@click.option("--force-step", "force_steps", multiple=True, metavar="STEP",
              help="Run this step even if an identical earlier step could be reused (repeatable).")
@click.option("--fail-fast", is_flag=True,
              help="When a step fails, cancel the running steps and skip the rest.")
@click.option("--name", "-n", help="A human name for the run (searchable; not the key).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run (repeatable).")
@click.option("--lineage", "lineage", hidden=True, default=None,
              help="Lineage fields for the record, as JSON (set by git run sweep).")
def pipeline_cmd(targets: tuple[str, ...], file: str | None, jobs: int, overrides: tuple[str, ...],
                 config_files: tuple[str, ...], force: bool, force_steps: tuple[str, ...], fail_fast: bool,
                 name: str | None, tags: tuple[str, ...], lineage: str | None) -> None:
    """Run a pipeline's steps as one run: the STEPs named and what they need (default: all).

    \b
    git run pipeline
    git run pipeline train -j 2 -p train.lr=0.01
    git run pipeline -f dvc.yaml --force-step evaluate

    Each step's start and end is a commit on refs/runs/<id>; a step whose
    command, params and input contents match a successful earlier step is
    not run: its outputs are restored from the artifact cache (--force: none
    is reused).  A step's output goes to the record, not the terminal:
    'git run log ID --step STEP' prints it.  Exits 0 when every step
    succeeded or was reused, 1 when a step failed, 2 for a definition that
    cannot run, 128+N when canceled by signal N.
    """
    from .commands.pipeline import pipeline

    sys.exit(pipeline(list(targets), file, jobs, list(overrides), list(config_files), force, list(force_steps),
                      fail_fast, name, list(tags), lineage))


@main.command("rerun", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID", shell_complete=complete_runs)
@click.option("-p", "--param", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key of the original, like train.lr=0.01 (value typed as YAML).")
@click.option("--config", "-c", "config_files", multiple=True, metavar="FILE",
              help="YAML or JSON config file merged over the original's config (repeatable).")
@click.option("--from-step", "from_step", metavar="STEP",
              help="Pipelines: reuse the original's steps upstream of STEP; run STEP and what follows.")
@click.option("--allow-changed-inputs", is_flag=True,
              help="Rerun with inputs as they are now when their recorded content is nowhere to be found.")
@click.option("--name", "-n", help="A human name for the new run (searchable; not the key).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE",
              help="Tag the new run, besides the original's tags (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No final line, no progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the new run, its original and its changes as JSON.")
def rerun_cmd(run_id: str, overrides: tuple[str, ...], config_files: tuple[str, ...], from_step: str | None,
              allow_changed_inputs: bool, name: str | None, tags: tuple[str, ...], quiet: bool,
              as_json: bool) -> None:
    """Run run ID again from its record: its code, config, command and inputs.

    \b
    git run rerun 01m8
    git run rerun 01m8 -p train.lr=0.001
    git run rerun 01m8 --from-step train

    The run's code is checked out in a temporary worktree (your working
    tree, index and HEAD are untouched); inputs come from the code, the
    artifact cache or store by digest, or your working tree when unchanged.
    The new run names the original (rerun_of), joins its group and records
    every intended change.  Exits with the command's (or pipeline's) exit
    code; 2 when an input is not found with its recorded digest.
    """
    from .commands.rerun import rerun

    sys.exit(rerun(run_id, list(overrides), list(config_files), from_step, allow_changed_inputs, name, list(tags),
                   quiet, as_json))


@main.command("reproduce", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID", shell_complete=complete_runs)
@click.option("--env", "env", type=click.Choice(["current", "recreate"]), default="current", show_default=True,
              help="recreate: run in a fresh virtual environment with the recorded Python packages "
                   "(uv when installed, else pip); current: this environment, its differences reported.")
@click.option("--installer", type=click.Choice(["auto", "uv", "pip"]), default="auto", show_default=True,
              help="What builds the environment of --env recreate (auto: uv when on PATH, else pip).")
@click.option("--name", "-n", help="A human name for the new run (searchable; not the key).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the new run (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No final line about the new run (the verdict still prints).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict as JSON (the command's own output goes to stderr).")
def reproduce_cmd(run_id: str, env: str, installer: str, name: str | None, tags: tuple[str, ...], quiet: bool,
                  as_json: bool) -> None:
    """Rerun run ID exactly and say whether it reproduced.

    \b
    git run reproduce 01m8
    git run reproduce 01m8 --env recreate --json

    The run's code, config, command and inputs, in a temporary worktree (as
    'git run rerun' with nothing changed), then a verdict per artifact
    (reproduced, differs with sizes and a short diff, missing), per metric
    (equal or the delta), and the environment differences that could explain
    it.  Exits 0 only when every artifact reproduced, 1 when something
    differs or is missing, 2 when the rerun is refused (an input changed).
    """
    from .commands.reproduce import reproduce

    sys.exit(reproduce(run_id, env, installer, name, list(tags), quiet, as_json))


@main.command("resume", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID", shell_complete=complete_runs)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run up to N independent steps at once (default: as the run did).")
@click.option("--fail-fast", is_flag=True,
              help="When a step fails, cancel the running steps and skip the rest (default: as the run did).")
@click.option("--name", "-n", help="A human name for the new run (searchable; not the key).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the new run (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No step lines and no final line (errors and warnings still print).")
@click.option("--json", "as_json", is_flag=True, help="Print the new run's record (same keys as run.json).")
def resume_cmd(run_id: str, jobs: int | None, fail_fast: bool, name: str | None, tags: tuple[str, ...],
               quiet: bool, as_json: bool) -> None:
    """Resume a failed, canceled or crashed pipeline run ID as a new run of its group.

    \b
    git run resume 01m8
    git run resume 01m8 -j 2

    The steps that succeeded are not run: their outputs are restored,
    verified, from the artifact cache (or the remote's store).  The rest run
    with the current code (uncommitted edits included), in a temporary
    worktree: the working tree, index and HEAD are not touched; 'git run
    checkout NEW' brings the outputs in.  Refused (exit 1) when the pipeline
    definition changed since the run, or an input of a step to reuse did.
    Exits as 'git run pipeline' does; the run resumed is never modified.
    """
    from .commands.resume import resume

    sys.exit(resume(run_id, jobs, fail_fast, name, list(tags), quiet, as_json))


@main.command("sweep", context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-p", "--param", "params", multiple=True, required=True, metavar="KEY=V1,V2,...",
              help="A swept config key and its values, comma-separated (repeatable: the grid is their product).")
@click.option("-f", "--file", "pipeline_file", metavar="FILE",
              help="Sweep a pipeline (gitruns.yaml, dvc.yaml) instead of a command.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Run up to N points at once.")
@click.option("--random", "random_k", type=click.IntRange(min=1), metavar="K",
              help="Run K points drawn at random from the grid (without replacement).")
@click.option("--seed", type=int, metavar="S", help="The seed of --random (default: one drawn and recorded).")
@click.option("--sort", metavar="[-]METRIC", help="Sort the table by METRIC, ascending; -METRIC for descending.")
@click.option("--metric", "metrics", multiple=True, metavar="METRIC",
              help="A metric column of the table (repeatable; default: the final metrics all points share).")
@click.option("--name", "-n", help="Name the points' runs NAME-0, NAME-1, ...")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE",
              help="Tag every point's run (repeatable); each also gets sweep=<sweep id>.")
@click.option("--config", "-c", "config_files", multiple=True, metavar="FILE",
              help="YAML or JSON config file for every point (repeatable).")
@click.option("-i", "--input", "inputs", multiple=True, metavar="PATH", help="Input of every point (as exec -i).")
@click.option("-o", "--output", "outputs", multiple=True, metavar="PATH", help="Output of every point (as exec -o).")
@click.option("-m", "--metrics", "metrics_files", multiple=True, metavar="FILE",
              help="Metrics file every point writes (as exec -m).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON: the sweep id and each point's "
              "run, status, params and metrics.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def sweep_cmd(command: tuple[str, ...], params: tuple[str, ...], pipeline_file: str | None, jobs: int,
              random_k: int | None, seed: int | None, sort: str | None, metrics: tuple[str, ...],
              name: str | None, tags: tuple[str, ...], config_files: tuple[str, ...], inputs: tuple[str, ...],
              outputs: tuple[str, ...], metrics_files: tuple[str, ...], as_json: bool) -> None:
    """Run COMMAND (or the pipeline of -f) once for each point of a grid of params.

    \b
    git run sweep -p lr=1e-4,3e-4,1e-3 -p layers=2,4 -j 2 --sort -acc -- python train.py
    git run sweep -p lr=1e-4,1e-3 --random 1 --seed 7 -f gitruns.yaml

    Each point is a run of its own (as 'git run exec -p KEY=VALUE ... -- COMMAND',
    ${KEY} substituted), made in a temporary worktree with the current code, so
    the working tree is not touched; the points share a group (the sweep id) and
    the tag sweep=<id>.  Ends with a table of the runs, their params and metrics.
    Exits 0 when every point succeeded, 1 when any failed, 130 when interrupted.
    """
    from .commands.sweep import sweep
    from .sweep import SweepOptions

    sys.exit(sweep(SweepOptions(params=list(params), argv=list(command), pipeline_file=pipeline_file, jobs=jobs,
                                random=random_k, seed=seed, sort=sort, metrics=list(metrics), name=name,
                                tags=list(tags), config_files=list(config_files), inputs=list(inputs),
                                outputs=list(outputs), metrics_files=list(metrics_files)), as_json))


@main.command("cancel", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID", shell_complete=complete_runs)
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long the run gets to end after SIGTERM before what is left is SIGKILLed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cancel_cmd(run_id: str, grace: float, as_json: bool) -> None:
    """Stop a running run of this machine and record it canceled.

    SIGTERM to the run (a pipeline's running steps too), SIGKILL to whatever is
    left after the grace period.  Exits 0 when the run was canceled, 1 when it
    already ended or runs on another host.
    """
    from .commands.cancel import cancel

    sys.exit(cancel(run_id, grace, as_json))


@main.command("lineage", context_settings=CONTEXT)
@click.argument("target", metavar="TARGET", shell_complete=complete_runs)
@click.option("--upstream", "upstream", is_flag=True, help="What it came from: inputs, the runs that produced "
              "them, their code (the default).")
@click.option("--downstream", "downstream", is_flag=True, help="What used it: the runs that consumed its "
              "artifacts, theirs in turn, and promotions.")
@click.option("--depth", type=int, default=None, metavar="N", help="At most N runs away (default: all the way).")
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON (nodes and edges).")
def lineage_cmd(target: str, upstream: bool, downstream: bool, depth: int | None, as_json: bool) -> None:
    """Where a run or a file came from, or what used it, by digest.

    TARGET is a run (id, prefix or name), a file or directory in the working tree
    (its content now), PATH@DIGEST (that path as it was: the digest may be cut to
    8 hex digits) or a digest.  Prints an indented tree: runs with name and status
    (retired ones marked), and the artifact or input path and short digest on each
    edge.  Exits 1 when no run produced or used a file.
    """
    from .commands.lineage import lineage
    from .errors import UsageError

    if upstream and downstream:
        raise UsageError("--upstream and --downstream cannot be used together")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, not {depth}")
    sys.exit(lineage(target, "downstream" if downstream else "upstream", depth, as_json))


@main.command("which", context_settings=CONTEXT)
@click.argument("target", metavar="PATH|DIGEST")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def which_cmd(target: str, as_json: bool) -> None:
    """Which run produced this file, and which runs used it.

    By content: the digest of PATH now (a file or directory, hashed as -i and -o
    hash it), or DIGEST (at least 8 hex digits), so a file renamed or copied since
    is still found.  Lists the runs that have it as an artifact, newest first, then
    those that used it as an input.  Exits 1 when no run has it.
    """
    from .commands.which import which

    sys.exit(which(target, as_json))


@main.command("promote", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID", required=False, shell_complete=complete_runs)
@click.argument("artifact", metavar="ARTIFACT", required=False)
@click.option("--as", "name", metavar="NAME", help="The promotion's name: refs/promoted/NAME (required).")
@click.option("--reason", help="Why it is promoted (required).")
@click.option("--where", metavar="EXPR", help="The run must meet this query (as 'git run ls --where'); "
              "its metrics named there are recorded.")
@click.option("--sign/--no-sign", "-S", "sign", default=None,
              help="Sign the promotion commit with git's signing (default: git config commit.gpgSign).")
@click.option("--list", "as_list", is_flag=True, help="List the promotions instead.")
@click.option("--retired", is_flag=True, help="With --list: retired promotions too.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the list) as JSON.")
def promote_cmd(run_id: str | None, artifact: str | None, name: str | None, reason: str | None,
                where: str | None, sign: bool | None, as_list: bool, retired: bool, as_json: bool) -> None:
    """Promote ARTIFACT of run ID under a stable name, refs/promoted/NAME.

    ARTIFACT is a stored artifact's path (a step's output of a pipeline run:
    STEP:PATH).  The run must have succeeded and not be retired.  Promoting a
    name again keeps its history: 'git log --first-parent refs/promoted/NAME'.

    \b
    git run promote 01jb7 model.pt --as prod-model --reason "best val acc"
    git run promote --list
    """
    if as_list:
        if run_id or artifact or name or reason or where or sign is not None:
            raise click.UsageError("--list takes no ID, ARTIFACT, --as, --reason, --where or --sign")
        from .commands.promote import promotions

        sys.exit(promotions(retired, as_json))
    if retired:
        raise click.UsageError("--retired goes with --list")
    missing = [what for what, v in (("ID", run_id), ("ARTIFACT", artifact), ("--as NAME", name),
                                    ("--reason TEXT", reason)) if v is None]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    assert run_id is not None and artifact is not None and name is not None and reason is not None
    from .commands.promote import promote

    sys.exit(promote(run_id, artifact, name, reason, where, sign, as_json))


@main.command("verify", context_settings=CONTEXT)
@click.argument("name", metavar="NAME")
@click.option("--require-signature", is_flag=True, help="Fail when the promotion is unsigned or its key unknown.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def verify_cmd(name: str, require_signature: bool, as_json: bool) -> None:
    """Check promotion NAME: its signature, its record, and that its artifact is still stored.

    One line a finding.  Exits 0 when every one holds, 1 otherwise (a bad
    signature, an invalid record, the artifact in no cache or store, retired).
    """
    from .commands.verify import verify

    sys.exit(verify(name, require_signature, as_json))


@main.command("retire", context_settings=CONTEXT)
@click.argument("target", metavar="TARGET", shell_complete=complete_runs)
@click.option("--reason", required=True, help="Why it is withdrawn.")
@click.option("--superseded-by", "superseded_by", metavar="ID",
              help="The run (or, for a promotion, the promotion) that replaces it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def retire_cmd(target: str, reason: str, superseded_by: str | None, as_json: bool) -> None:
    """Mark a run or a promotion as withdrawn, with a new commit on its ref.

    TARGET is a run (id, prefix, name) or a promotion (NAME or
    refs/promoted/NAME).  The earlier commits keep the record as it was; 'ls'
    hides retired runs, 'show' says why they were retired.
    """
    from .commands.retire import retire

    sys.exit(retire(target, reason, superseded_by, as_json))


@main.command("ls", context_settings=CONTEXT)
@reader("ls")
@click.option("--status", "statuses", multiple=True, shell_complete=complete_statuses,
              help="Only runs with this status: running, succeeded, failed, canceled, crashed (repeatable).")
@click.option("--since", help="Only runs started since: a date, date-time, age like 2h, 3d, 1w, "
              "or what 'git log --since' takes (yesterday, 2.weeks.ago).")
@click.option("--until", help="Only runs started until: the same forms as --since.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only runs with this tag (repeatable).")
@click.option("--name", help="Only runs whose name contains this (or matches this glob).")
@click.option("--limit", "-n", type=int, help="At most this many runs.")
@click.option("--kind", type=click.Choice(["command", "pipeline"]),
              help="Only command runs ('git run exec') or only pipeline runs.")
@click.option("--remote", "remote", metavar="REMOTE", shell_complete=complete_remotes,
              help="List the runs on REMOTE (fetched into its tracking refs).")
@click.option("--group", "group", metavar="FIELD|ID", shell_complete=complete_runs,
              help="Group the table by FIELD (run_group, name, params.opt, ...: a line per group; --json gets "
              "a 'group' key), or, when it names no field, list only the runs of run ID's group (it, its "
              "reruns, the other points of its sweep).")
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Only runs for which EXPR holds, e.g. 'metrics.acc > 0.9 and params.opt = adam' "
              "(repeatable: all must hold; see docs/queries.md).")
@click.option("--sort", "sort", multiple=True, metavar="KEYS",
              help="Order by these fields, e.g. -metrics.acc,params.lr ('-': descending); default newest first.")
@click.option("--columns", "columns", multiple=True, metavar="FIELDS",
              help="Show ID, NAME, STATUS and these fields (comma-separated, e.g. params.lr,metrics.acc); "
              "--csv gets the same columns.")
@click.option("--slow", is_flag=True,
              help="Only runs far slower than the earlier runs of the same name (median + 3 scaled MADs), "
              "with a SLOW column.")
@click.option("--retired", "only_retired", is_flag=True, help="Only retired runs (hidden by default).")
@click.option("--all", "all_runs", is_flag=True, help="Retired runs too.")
@output_options(json_help="JSON array of records, same keys as run.json.",
                jsonl_help="One JSON record a line, same keys as run.json.",
                csv_help="Flat columns: id, name, status, started, duration, params.*, metrics.* "
                "(with pipeline runs: kind, steps, failed_step after duration; with --columns, those).")
def ls_cmd(statuses: tuple[str, ...], since: str | None, until: str | None, tags: tuple[str, ...],
           name: str | None, limit: int | None, kind: str | None, output: str | None, remote: str | None,
           group: str | None, where: tuple[str, ...], sort: tuple[str, ...], columns: tuple[str, ...],
           slow: bool, only_retired: bool, all_runs: bool) -> None:
    """List runs, newest first.

    The newest run of a group of several (a run and its reruns, a sweep)
    has '(latest)' after its name.  Besides its usual columns the table
    shows the params whose value varies among the listed runs (at most 4)
    and the fields --where and --sort name.  Retired runs are hidden unless
    --retired or --all.

    With remotes, the SHARED column says where each run is: 'local only',
    'origin' (same there), 'origin+' (local updates not pushed yet), or
    'origin only' (fetched by a plain 'git fetch', not yet taken in).
    """
    from .commands.ls import ls
    from .listing import Filters, column_list

    if only_retired and all_runs:
        raise click.UsageError("--retired and --all cannot be used together")
    retired = "only" if only_retired else "all" if all_runs else "hide"
    filters = Filters(list(statuses), since, until, list(tags), name, limit, kind, group, list(where), list(sort),
                      retired, slow)
    sys.exit(ls(filters, output, remote, column_list(list(columns)) or None))


@main.command("show", context_settings=CONTEXT)
@reader("show")
@click.argument("run_id", metavar="ID", shell_complete=complete_runs)
@click.option("--json", "as_json", is_flag=True, help="The whole record, with config and environment.")
def show_cmd(run_id: str, as_json: bool) -> None:
    """Show one run. ID may be any unique prefix, or the run's name."""
    from .commands.show import show

    sys.exit(show(run_id, as_json))


@main.command("log", context_settings=CONTEXT)
@reader("log")
@click.argument("run_id", metavar="ID", shell_complete=complete_runs)
@click.option("--stdout", "stdout", is_flag=True, help="Only the captured stdout.")
@click.option("--stderr", "stderr", is_flag=True, help="Only the captured stderr (printed to stdout).")
@click.option("--step", metavar="STEP", help="What this step of a pipeline run printed.")
def log_cmd(run_id: str, stdout: bool, stderr: bool, step: str | None) -> None:
    """Print what a run's command (or one step of a pipeline run) printed."""
    from .commands.log import log

    sys.exit(log(run_id, stdout, stderr, step))


@main.command("diff", context_settings=CONTEXT)
@reader("diff")
@click.argument("a", metavar="A", shell_complete=complete_runs)
@click.argument("b", metavar="B", shell_complete=complete_runs)
@click.option("--patch", "-p", is_flag=True, help="Also print the code patch between the snapshots.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def diff_cmd(a: str, b: str, patch: bool, as_json: bool) -> None:
    """Compare two runs: config, metrics, code, inputs, artifacts, environment."""
    from .commands.diff import diff

    sys.exit(diff(a, b, patch, as_json))


@main.command("export", context_settings=CONTEXT)
@click.option("--where", "where", multiple=True, metavar="EXPR",
              help="Only runs for which EXPR holds (repeatable: all must hold; see docs/queries.md).")
@click.option("--sort", "sort", multiple=True, metavar="KEYS",
              help="Order by these fields, e.g. -metrics.acc ('-': descending); default newest first.")
@click.option("--limit", "-n", type=int, help="At most this many runs.")
@click.option("--columns", "columns", multiple=True, metavar="FIELDS",
              help="These fields (comma-separated) after id, instead of the default columns.")
@click.option("--all", "all_runs", is_flag=True, help="Retired runs too (hidden by default).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl", "parquet"]), default="csv",
              show_default=True, help="The output format (parquet needs pyarrow and -o FILE).")
@click.option("-o", "--output", "output", metavar="FILE", help="Write to FILE instead of stdout.")
def export_cmd(where: tuple[str, ...], sort: tuple[str, ...], limit: int | None, columns: tuple[str, ...],
               all_runs: bool, fmt: str, output: str | None) -> None:
    """Export the runs a query selects as flat rows.

    One row a run: id, name, status, started, ended, duration, kind,
    run_group, code.commit, code.dirty, then every params.*, metrics.* and
    tags.* key (or the --columns), read from the run index.
    """
    from .commands.export import export

    sys.exit(export(list(where), list(sort), limit, list(columns), all_runs, fmt, output))


@main.command("push", context_settings=CONTEXT)
@click.argument("remote", required=False, shell_complete=complete_remotes)
@click.argument("ids", nargs=-1, metavar="[ID]...", shell_complete=complete_runs)
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary: runs pushed, up to date, refused (with reasons), objects uploaded.")
def push_cmd(remote: str | None, ids: tuple[str, ...], as_json: bool) -> None:
    """Push runs to REMOTE (default: all runs it lacks) and their artifacts to its store.

    Runs never collide (ids are unique); an updated run is a fast-forward; a run
    changed both here and there is reported, never overwritten.
    """
    from .commands.share import push

    sys.exit(push(remote, list(ids), as_json))


@main.command("fetch", context_settings=CONTEXT)
@click.argument("remote", required=False, shell_complete=complete_remotes)
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary: runs new, updated, unchanged, refused (with reasons).")
def fetch_cmd(remote: str | None, as_json: bool) -> None:
    """Fetch REMOTE's runs; new ones appear, updated ones fast-forward."""
    from .commands.share import fetch

    sys.exit(fetch(remote, as_json))


@main.command("pull", context_settings=CONTEXT)
@click.argument("remote", required=False, shell_complete=complete_remotes)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary, as fetch --json does.")
def pull_cmd(remote: str | None, as_json: bool) -> None:
    """Fetch runs; their artifacts are downloaded on demand by 'git run checkout'."""
    from .commands.share import pull

    sys.exit(pull(remote, as_json))


@main.command("checkout", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID", required=False, shell_complete=complete_runs)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--force", "-f", is_flag=True, help="Overwrite files that differ from the run's artifacts.")
@click.option("--remote", shell_complete=complete_remotes,
              help="Download missing artifacts from this remote's store (default: the usual remote).")
@click.option("--inputs", is_flag=True,
              help="Restore the run's kept inputs (those git does not track) instead of its artifacts.")
@click.option("--promoted", metavar="NAME",
              help="Restore promotion NAME's artifact (then no ID: 'checkout --promoted NAME [PATH]...').")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary: files written, unchanged, refused, missing.")
def checkout_cmd(run_id: str | None, paths: tuple[str, ...], force: bool, remote: str | None, inputs: bool,
                 promoted: str | None, as_json: bool) -> None:
    """Restore a run's artifacts (or those under PATH) into the working tree.

    Every file is verified against its digest; paths that would leave the
    working tree are refused, and modified files are not overwritten without
    --force.  With --inputs, the inputs the run kept are restored instead;
    with --promoted NAME, the artifact of promotion NAME.
    """
    from .commands.share import checkout

    if promoted is not None:
        if inputs:
            raise click.UsageError("--inputs and --promoted do not go together")
        sys.exit(checkout(None, [run_id, *paths] if run_id else list(paths), force, remote, as_json,
                          promoted=promoted))
    if run_id is None:
        raise click.UsageError("Missing argument 'ID'.")
    sys.exit(checkout(run_id, list(paths), force, remote, as_json, inputs))


@main.group("remote", context_settings=CONTEXT, invoke_without_command=True)
@click.pass_context
def remote_group(ctx: click.Context) -> None:
    """Set up a git remote to carry runs."""
    _help_without_verb(ctx)


@remote_group.command("setup", context_settings=CONTEXT)
@click.argument("remote", required=False, shell_complete=complete_remotes)
def remote_setup_cmd(remote: str | None) -> None:
    """Add refspecs so that plain 'git fetch' and 'git push' carry runs too."""
    from .commands.share import remote_setup

    sys.exit(remote_setup(remote))


@main.group("hooks", context_settings=CONTEXT, invoke_without_command=True)
@click.pass_context
def hooks_group(ctx: click.Context) -> None:
    """Git hooks: warn before commits about runs on uncommitted code; note reproducible runs after."""
    _help_without_verb(ctx)


def _hook_flags(fn: Any) -> Any:
    fn = click.option("--post-commit", "post_commit", is_flag=True,
                      help="Only the after-commit check (post-commit and post-merge).")(fn)
    return click.option("--pre-commit", "pre_commit", is_flag=True,
                        help="Only the before-commit check (pre-commit and pre-merge-commit).")(fn)


@hooks_group.command("install", context_settings=CONTEXT)
@_hook_flags
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary: hooks installed, chained, updated, already installed.")
def hooks_install_cmd(pre_commit: bool, post_commit: bool, as_json: bool) -> None:
    """Install the hooks (both by default), chaining any hook already there."""
    from .commands.hooks import install

    sys.exit(install(pre_commit, post_commit, as_json))


@hooks_group.command("uninstall", context_settings=CONTEXT)
@_hook_flags
def hooks_uninstall_cmd(pre_commit: bool, post_commit: bool) -> None:
    """Remove the hooks and put back what was there before."""
    from .commands.hooks import uninstall

    sys.exit(uninstall(pre_commit, post_commit))


@hooks_group.command("run", context_settings={**CONTEXT, "ignore_unknown_options": True})
@click.argument("name", metavar="NAME",
                type=click.Choice(["pre-commit", "post-commit", "pre-merge-commit", "post-merge"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hooks_run_cmd(name: str, args: tuple[str, ...]) -> None:
    """Run one hook's check (what the installed hooks and the pre-commit framework call)."""
    from .commands.hooks import run

    sys.exit(run(name))


@main.command("completion", context_settings=CONTEXT)
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script for bash or zsh (see SHELL COMPLETION in git-run(1)).

    \b
    git run completion bash > ~/.local/share/bash-completion/completions/git-run
    git run completion zsh > ~/.zsh/completions/_git-run    # a directory on $fpath
    """
    from .completion import script

    click.echo(script(shell), nl=False)


# What the completion scripts call on TAB; the executable answers it before
# loading click (main.py), this is the same for 'python -m gitruns'.
@main.command("__complete", hidden=True, context_settings=CONTEXT)
@click.argument("what", type=click.Choice(["runs"]))
def complete_cmd(what: str) -> None:
    from .completion import print_runs

    sys.exit(print_runs())


def _bare_color(argv: list[str]) -> list[str]:
    """A bare ``--color`` means always, as in git, and never takes the next word as
    its value (``git run show --color ID``): click would, so it is made explicit."""
    out = list(argv)
    verb = next((w for w in out if not w.startswith("-")), None)
    if verb not in ("ls", "show", "diff", "log"):  # exec's command keeps its own words
        return out
    for i, word in enumerate(out):
        if word == "--":
            break
        if word == "--color" and (i + 1 == len(out) or out[i + 1] not in ("auto", "always", "never")):
            out[i] = "--color=always"
    return out


def run(argv: list[str] | None = None) -> int:
    """Entry point of the git-run executable."""
    from .warn import show_on_stderr

    show_on_stderr()
    args = _bare_color(sys.argv[1:] if argv is None else argv)
    return exitcode.call(lambda: _click_main(args), sys.argv[1:] if argv is None else argv)


def _click_main(args: list[str]) -> None:
    """Parse and run one verb; click's own ends become exit codes (the rest: exitcode.call)."""
    try:
        main.main(args=args, prog_name="git run", standalone_mode=False)
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx and exc.ctx.parent else " (see 'git run -h')"
        print(f"git run: error: {exc.format_message()}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
    except click.Abort:
        raise SystemExit(130) from None
    except _ReaderGone:
        raise BrokenPipeError() from None


def entry() -> None:
    exitcode.finish(run())

