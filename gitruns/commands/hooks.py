"""git run hooks install / uninstall / run."""
from __future__ import annotations

import json
import sys

from .. import commitcheck, hookinstall
from ..repo import open_repo
from ..settings import load as load_settings
from ..terminal import json_text


def _names(pre_commit: bool, post_commit: bool) -> list[str]:
    if not pre_commit and not post_commit:
        pre_commit = post_commit = True
    wanted = {"pre-commit"} if pre_commit else set()
    wanted |= {"post-commit"} if post_commit else set()
    return [n for n in hookinstall.HOOKS if hookinstall.CHECK_OF[n] in wanted]


def _show(result: hookinstall.InstallResult, as_json: bool) -> None:
    if as_json:
        print(json_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False)))
        return
    for line in result.lines():
        print(line)


def install(pre_commit: bool, post_commit: bool, as_json: bool = False) -> int:
    repo = open_repo()
    try:
        result = hookinstall.install(repo, _names(pre_commit, post_commit))
    except hookinstall.InstallFailed as exc:
        _show(exc.result, as_json)  # what was done before it stopped; the error line follows
        raise
    _show(result, as_json)
    return 0


def uninstall(pre_commit: bool, post_commit: bool) -> int:
    repo = open_repo()
    for line in hookinstall.uninstall(repo, _names(pre_commit, post_commit)):
        print(line)
    return 0


def run(name: str) -> int:
    """What a hook does; a problem inside it never blocks the user's commit."""
    name = hookinstall.CHECK_OF.get(name, name)
    from ..warn import show_on_stderr

    show_on_stderr()
    try:
        repo = open_repo()
        if name == "pre-commit":
            warnings = commitcheck.pre_commit(repo)
            for line in commitcheck.render(warnings):
                print(line, file=sys.stderr)
            if warnings.any() and load_settings(repo.git).flag("gitruns.hooks.block"):
                print("gitruns: commit stopped (gitruns.hooks.block is true)", file=sys.stderr)
                return 1
            return 0
        if name == "post-commit":
            noted = commitcheck.post_commit(repo)
            if noted:
                print(f"gitruns: {len(noted)} run(s) now reproducible from this commit", file=sys.stderr)
            return 0
    except Exception as exc:  # noqa: BLE001 - a hook must not stop a commit over its own failure
        print(f"gitruns: {name} check skipped: {exc}", file=sys.stderr)
        return 0
    print(f"gitruns: no hook named {name}", file=sys.stderr)
    return 2
