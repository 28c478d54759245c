"""The git-run executable's entry point: a thin dispatcher that sends the commit
hooks' calls (`git-run hooks run NAME`) and plain push, fetch and pull past the
click CLI, which costs tens of milliseconds to import (on every commit; a third of
a push with nothing new), and everything else to it."""
from __future__ import annotations

import os
import sys

_HOOK_NAMES = ("pre-commit", "post-commit", "pre-merge-commit", "post-merge")
_SHARE_VERBS = ("push", "fetch", "pull")


def _share_call(args: list[str]) -> tuple[str, list[str], bool] | None:
    """(verb, its words, --json) of a push, fetch or pull that click need not parse:
    only words and --json, and for fetch and pull at most one word (the remote).
    Anything else (-h, an unknown option, a stray word, shell completion) goes to
    click, which says what is wrong."""
    if not args or args[0] not in _SHARE_VERBS or "_GIT_RUN_COMPLETE" in os.environ:
        return None
    words = [a for a in args[1:] if a != "--json"]
    if any(not w or w.startswith("-") for w in words) or (args[0] != "push" and len(words) > 1):
        return None
    return args[0], words, len(words) < len(args) - 1


def main() -> None:
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "hooks" and args[1] == "run" and args[2] in _HOOK_NAMES:
        from .commands.hooks import run as run_hook

        sys.exit(run_hook(args[2]))
    if args[:2] == ["__complete", "runs"]:
        # Shell completion's call on every TAB: no click, no pygit2.
        from .completion import print_runs

        sys.exit(print_runs())
    if "--help" in args:
        from .helppage import open_page, page_for

        page = page_for(args)
        shown = open_page(page) if page else None
        if shown is not None:
            sys.exit(shown)
    share = _share_call(args)
    if share is not None:
        from . import exitcode
        from .commands import share as share_cmd
        from .warn import show_on_stderr

        show_on_stderr()
        verb, words, as_json = share
        if verb == "push":
            code = exitcode.call(lambda: sys.exit(share_cmd.push(words[0] if words else None, words[1:], as_json)),
                                 args)
        else:
            call = share_cmd.fetch if verb == "fetch" else share_cmd.pull
            code = exitcode.call(lambda: sys.exit(call(words[0] if words else None, as_json)), args)
        exitcode.finish(code)
    from .cli import entry

    entry()
