"""Colour on the command line, decided once per invocation the way git decides it.

``--color=auto|always|never`` on a read verb wins; otherwise git answers for
``color.run`` (falling back to ``color.ui``) with its own colorbool logic
(``git config --get-colorbool``), which knows ``auto``, ``TERM=dumb``, and that
colour stays on through a pager when ``color.pager`` allows it.  ``NO_COLOR``
(set and not empty) turns colour off unless the command line or the config
says ``always``.

Colour is a thin layer put on last: :func:`paint` wraps text that is already
terminal-safe (``terminal.safe``), so a record can never bring its own escapes.
"""
from __future__ import annotations

import os
import subprocess

# git's defaults for the same meanings (color.diff.*, color.status.*).
_RESET = "\x1b[m"
SLOTS: dict[str, str] = {
    "succeeded": "\x1b[32m",  # green
    "failed": "\x1b[31m",  # red
    "crashed": "\x1b[1;31m",  # bold red
    "running": "\x1b[33m",  # yellow
    "canceled": "\x1b[35m",  # magenta
    "cached": "\x1b[34m",  # blue: a pipeline step reused from an earlier run
    "skipped": "\x1b[2m",  # dim: a pipeline step that did not run
    "new": "\x1b[32m",  # a '+' line
    "old": "\x1b[31m",  # a '-' line
    "meta": "\x1b[1m",  # diff headers
    "frag": "\x1b[36m",  # @@ hunk headers
}
WHEN = ("auto", "always", "never")

_enabled: bool | None = None  # None: not decided yet
_requested: str | None = None  # --color=WHEN from the command line
_situation: tuple[bool, bool] | None = None  # (stdout is a tty, paging), once decide() was called


def request(when: str | None) -> None:
    """Remember ``--color=WHEN`` from the command line (None: not given)."""
    global _requested, _enabled
    if when is not None and when not in WHEN:
        from .errors import UsageError

        raise UsageError(f"--color={when}: expected auto, always or never")
    _requested = when
    _enabled = None


def decide(stdout_is_tty: bool, paging: bool = False) -> None:
    """Say where output goes; whether it is coloured is then decided once, on the
    first :func:`enabled` or :func:`paint` (so JSON output never asks git)."""
    global _enabled, _situation
    _situation = (stdout_is_tty, paging)
    _enabled = None


def reset() -> None:
    """Forget the decision and the request (for a second invocation in one process)."""
    global _enabled, _requested, _situation
    _enabled = _requested = _situation = None


def enabled() -> bool:
    """Whether output is coloured; False when :func:`decide` was never called, so
    library callers never get escapes by accident."""
    global _enabled
    if _enabled is None:
        _enabled = _want(*_situation) if _situation is not None else False
    return _enabled


def paint(text: str, slot: str) -> str:
    """``text`` in the colour of ``slot`` when colour is on; ``text`` must already
    be terminal-safe.  Unknown slots and empty text stay plain."""
    code = SLOTS.get(slot)
    if not code or not text or not enabled():
        return text
    return f"{code}{text}{_RESET}"


def _truthy_no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def _want(stdout_is_tty: bool, paging: bool) -> bool:
    if _requested == "always":
        return True
    if _requested == "never":
        return False
    if _truthy_no_color() and (_requested == "auto" or not _configured_always()):
        # NO_COLOR gives way to 'always' (no-color.org: configuration and command-line
        # arguments override it), not to auto.
        return False
    return _git_colorbool(stdout_is_tty, paging, force_auto=_requested == "auto")


def _git_colorbool(stdout_is_tty: bool, paging: bool, force_auto: bool = False) -> bool:
    """git's own answer: ``git config --get-colorbool color.run STDOUT-IS-TTY``
    (color.run, else color.ui, else auto).  When we page, stdout is the pager: git's
    rule then is colour if ``color.pager`` (default true), which git applies itself
    when GIT_PAGER_IN_USE is set and the tty answer is false.  ``--color=auto``
    asks with color.run=auto, whatever the config says."""
    env = dict(os.environ)
    if paging:
        env["GIT_PAGER_IN_USE"] = "true"
    tty = "true" if stdout_is_tty and not paging else "false"
    if tty == "false" and env.get("GIT_PAGER_IN_USE", "").lower() in ("1", "true", "yes", "on") \
            and not _pager_colour():
        return False if force_auto else _configured_always()
    argv = ["git", *(["-c", "color.run=auto"] if force_auto else []), "config", "--get-colorbool", "color.run", tty]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except OSError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def _pager_colour() -> bool:
    """``color.pager`` (default true); ``git config --get-colorbool`` does not read it."""
    try:
        proc = subprocess.run(["git", "config", "--type=bool", "--get", "color.pager"], capture_output=True,
                              text=True, check=False)
    except OSError:
        return True
    return proc.returncode != 0 or proc.stdout.strip() != "false"


def _configured_always() -> bool:
    for key in ("color.run", "color.ui"):
        try:
            proc = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True, check=False)
        except OSError:
            return False
        if proc.returncode == 0:
            return proc.stdout.strip().lower() == "always"
    return False


def diff_text(text: str) -> str:
    """Colour ``git run diff`` output (already terminal-safe): the summary's ``+``/``-``
    lines, then a code patch as git colours one (meta, hunk headers, old, new)."""
    if not enabled():
        return text
    out: list[str] = []
    in_patch = False
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            in_patch = True
        if not in_patch:
            if line.startswith("diff run "):
                out.append(paint(line, "meta"))
            elif line.startswith("  + "):
                out.append(paint(line, "new"))
            elif line.startswith("  - "):
                out.append(paint(line, "old"))
            else:
                out.append(line)
            continue
        if line.startswith(("diff --git ", "index ", "--- ", "+++ ", "new file mode", "deleted file mode",
                            "old mode", "new mode", "similarity index", "rename from", "rename to",
                            "Binary files")):
            out.append(paint(line, "meta"))
        elif line.startswith("@@"):
            end = line.find("@@", 2)
            out.append(paint(line[: end + 2], "frag") + line[end + 2:] if end > 0 else paint(line, "frag"))
        elif line.startswith("+"):
            out.append(paint(line, "new"))
        elif line.startswith("-"):
            out.append(paint(line, "old"))
        else:
            out.append(line)
    return "\n".join(out)
