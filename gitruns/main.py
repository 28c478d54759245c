"""The git-run executable's entry point: a thin dispatcher that sends the commit
hooks' calls (`git-run hooks run NAME`) past the click CLI, which costs tens of
milliseconds to import on every commit, and everything else to it."""
from __future__ import annotations

import sys

_HOOK_NAMES = ("pre-commit", "post-commit", "pre-merge-commit", "post-merge")


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
    from .cli import entry

    entry()
