"""Click wiring for ``git run``: parse arguments, call one verb, map errors to exit codes.

Expected errors print one line and exit 1 (2 for bad usage or input);
^C exits 130; a bug exits 3 with one line naming its crash log (gitruns.crashlog),
and its traceback on stderr with ``--debug`` or GITRUNS_DEBUG=1.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from . import __version__
from .errors import GitrunsError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
BUG_EXIT = 3


class _InOrder(click.Group):
    """Lists verbs in the order a user meets them, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_InOrder, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="git-run")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def main(debug: bool) -> None:
    """Record every run as a commit on refs/runs/<id> in this repository.

    Wrap a command with 'git run exec -- CMD', then find, inspect and compare
    runs with 'git run ls', 'show', 'log' and 'diff', or with plain git:
    'git log refs/runs/<id>', 'git diff refs/runs/A refs/runs/B'.
    """
    if debug:
        os.environ["GITRUNS_DEBUG"] = "1"


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
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def exec_cmd(command: tuple[str, ...], **opts: Any) -> None:
    """Run COMMAND and record it as a run.

    \b
    git run exec -- python train.py --epochs 3
    git run exec -c params.yaml -p train.lr=0.01 -i data/ -o model.pt -- python train.py

    Exits with the command's exit code (128+N if it was killed by signal N).
    The effective config is handed to the command as the YAML file named by
    $GITRUNS_CONFIG_FILE.
    """
    from .commands.exec_ import exec_

    sys.exit(exec_(list(command), **opts))


@main.command("ls", context_settings=CONTEXT)
@click.option("--status", "statuses", multiple=True,
              help="Only runs with this status: running, succeeded, failed, canceled, crashed (repeatable).")
@click.option("--since", help="Only runs started since: a date, date-time, or age like 2h, 3d, 1w.")
@click.option("--until", help="Only runs started until: a date, date-time, or age.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only runs with this tag (repeatable).")
@click.option("--name", help="Only runs whose name contains this (or matches this glob).")
@click.option("--limit", "-n", type=int, help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of records, same keys as run.json.")
@click.option("--remote", "remote", metavar="REMOTE", help="List the runs on REMOTE (fetched into its tracking refs).")
def ls_cmd(statuses: tuple[str, ...], since: str | None, until: str | None, tags: tuple[str, ...],
           name: str | None, limit: int | None, as_json: bool, remote: str | None) -> None:
    """List runs, newest first.

    With remotes, the SHARED column says where each run is: 'local only',
    'origin' (same there), 'origin+' (local updates not pushed yet), or
    'origin only' (fetched by a plain 'git fetch', not yet taken in).
    """
    from .commands.ls import ls
    from .listing import Filters

    sys.exit(ls(Filters(list(statuses), since, until, list(tags), name, limit), as_json, remote))


@main.command("show", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The whole record, with config and environment.")
def show_cmd(run_id: str, as_json: bool) -> None:
    """Show one run. ID may be any unique prefix, or the run's name."""
    from .commands.show import show

    sys.exit(show(run_id, as_json))


@main.command("log", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID")
@click.option("--stdout", "stdout", is_flag=True, help="Only the captured stdout.")
@click.option("--stderr", "stderr", is_flag=True, help="Only the captured stderr (printed to stdout).")
def log_cmd(run_id: str, stdout: bool, stderr: bool) -> None:
    """Print what a run's command printed."""
    from .commands.log import log

    sys.exit(log(run_id, stdout, stderr))


@main.command("diff", context_settings=CONTEXT)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--patch", "-p", is_flag=True, help="Also print the code patch between the snapshots.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def diff_cmd(a: str, b: str, patch: bool, as_json: bool) -> None:
    """Compare two runs: config, metrics, code, inputs, artifacts, environment."""
    from .commands.diff import diff

    sys.exit(diff(a, b, patch, as_json))


@main.command("push", context_settings=CONTEXT)
@click.argument("remote", required=False)
@click.argument("ids", nargs=-1, metavar="[ID]...")
def push_cmd(remote: str | None, ids: tuple[str, ...]) -> None:
    """Push runs to REMOTE (default: all runs it lacks) and their artifacts to its store.

    Runs never collide (ids are unique); an updated run is a fast-forward; a run
    changed both here and there is reported, never overwritten.
    """
    from .commands.share import push

    sys.exit(push(remote, list(ids)))


@main.command("fetch", context_settings=CONTEXT)
@click.argument("remote", required=False)
def fetch_cmd(remote: str | None) -> None:
    """Fetch REMOTE's runs; new ones appear, updated ones fast-forward."""
    from .commands.share import fetch

    sys.exit(fetch(remote))


@main.command("pull", context_settings=CONTEXT)
@click.argument("remote", required=False)
def pull_cmd(remote: str | None) -> None:
    """Fetch runs; their artifacts are downloaded on demand by 'git run checkout'."""
    from .commands.share import pull

    sys.exit(pull(remote))


@main.command("checkout", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--force", "-f", is_flag=True, help="Overwrite files that differ from the run's artifacts.")
@click.option("--remote", help="Download missing artifacts from this remote's store (default: the usual remote).")
def checkout_cmd(run_id: str, paths: tuple[str, ...], force: bool, remote: str | None) -> None:
    """Restore a run's artifacts (or those under PATH) into the working tree.

    Every file is verified against its digest; paths that would leave the
    working tree are refused, and modified files are not overwritten without
    --force.
    """
    from .commands.share import checkout

    sys.exit(checkout(run_id, list(paths), force, remote))


@main.group("remote", context_settings=CONTEXT)
def remote_group() -> None:
    """Set up a git remote to carry runs."""


@remote_group.command("setup", context_settings=CONTEXT)
@click.argument("remote", required=False)
def remote_setup_cmd(remote: str | None) -> None:
    """Add refspecs so that plain 'git fetch' and 'git push' carry runs too."""
    from .commands.share import remote_setup

    sys.exit(remote_setup(remote))


@main.group("hooks", context_settings=CONTEXT)
def hooks_group() -> None:
    """Git hooks: warn before commits about runs on uncommitted code; note reproducible runs after."""


def _hook_flags(fn: Any) -> Any:
    fn = click.option("--post-commit", "post_commit", is_flag=True,
                      help="Only the after-commit check (post-commit and post-merge).")(fn)
    return click.option("--pre-commit", "pre_commit", is_flag=True,
                        help="Only the before-commit check (pre-commit and pre-merge-commit).")(fn)


@hooks_group.command("install", context_settings=CONTEXT)
@_hook_flags
def hooks_install_cmd(pre_commit: bool, post_commit: bool) -> None:
    """Install the hooks (both by default), chaining any hook already there."""
    from .commands.hooks import install

    sys.exit(install(pre_commit, post_commit))


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


def _show_warnings() -> None:
    """The core reports warnings through the warnings module; on the command line
    each is one escaped line on stderr, every time (not once per place)."""
    import warnings

    from .terminal import warning_text
    from .warn import GitrunsWarning

    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if not issubclass(category, GitrunsWarning):
            shown(message, category, filename, lineno, file, line)
            return
        try:
            print(f"gitruns: warning: {warning_text(str(message), 1000)}", file=sys.stderr)
        except (OSError, ValueError):
            pass

    warnings.showwarning = show
    warnings.simplefilter("always", GitrunsWarning)


def run(argv: list[str] | None = None) -> int:
    """Entry point of the git-run executable."""
    _show_warnings()
    try:
        main.main(args=argv, prog_name="git run", standalone_mode=False)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx and exc.ctx.parent else " (see 'git run -h')"
        print(f"git run: error: {exc.format_message()}{hint}", file=sys.stderr)
        return 2
    except click.Abort:
        return 130
    except GitrunsError as exc:
        from .terminal import warning_text

        # Errors may quote a record's paths or names: never raw on the terminal.
        print(f"git run: error: {warning_text(exc, 1000)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Our reader (a pager, head) went away: not an error worth a traceback.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        except OSError:
            pass
        return 141
    except Exception as exc:  # noqa: BLE001 - the one place bugs are turned into an exit code
        return _internal_error(exc, sys.argv[1:] if argv is None else argv)


def _internal_error(exc: Exception, argv: list[str]) -> int:
    """A bug: one line naming the crash log (versions, command, traceback), and the
    traceback itself on stderr with --debug or GITRUNS_DEBUG=1."""
    from .crashlog import write
    from .redact import scrub_text
    from .terminal import warning_text

    log = write(exc, argv)
    where = f"the crash log is {log}" if log else "no crash log could be written"
    if os.environ.get("GITRUNS_DEBUG"):
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        print(f"git run: internal error ({where})", file=sys.stderr)
    else:
        message = warning_text(scrub_text(f"{type(exc).__name__}: {exc}"), 300)
        print(f"git run: internal error: {message} ({where}; "
              "rerun with 'git run --debug ...' for the traceback)", file=sys.stderr)
    return BUG_EXIT


def entry() -> None:
    sys.exit(run())

