"""``git run reproduce``: the verdict for people (the verb itself calls ``render``).

Every value shown comes from records or store objects: each line goes through
``terminal.safe`` before colour is put on, so nothing from a record reaches
the terminal as an escape sequence or forges a line.
"""
from __future__ import annotations

from .. import envdiff
from ..colour import SLOTS
from ..progress import human_size
from ..table import number
from ..terminal import safe
from ..verdict import ArtifactVerdict, MetricVerdict, Verdict

_RESET = "\x1b[m"
_SLOT = {"reproduced": "succeeded", "differs": "failed", "missing": "failed", "new": "cached",
         "equal": "succeeded", "changed": "running"}


def _paint(text: str, slot: str, colour: bool) -> str:
    code = SLOTS.get(slot)
    return f"{code}{text}{_RESET}" if colour and code and text else text


def _size(n: int | None) -> str:
    return human_size(n) if isinstance(n, int) else "?"


def _artifact_lines(a: ArtifactVerdict, colour: bool) -> list[str]:
    word = _paint(f"{a.verdict:<10}", _SLOT.get(a.verdict, ""), colour)
    name = safe(a.name) + ("/" if a.kind == "dir" else "")
    if a.verdict == "reproduced":
        head = f"{name} ({_size(a.old_size)})"
    elif a.verdict == "differs":
        head = f"{name}: {_size(a.old_size)} -> {_size(a.new_size)}"
    elif a.verdict == "new":
        head = f"{name} ({_size(a.new_size)}, only in the new run)"
    else:
        head = name
    if a.note and a.verdict != "differs":
        head += f" ({safe(a.note)})"
    out = [f"  {word} {head}"]
    if a.verdict == "differs":
        if a.note:
            out.append(f"      {safe(a.note)}")
        for line in a.diff or []:
            text = "      " + safe(line)
            slot = "frag" if line.startswith("@@") else "new" if line.startswith("+") else \
                "old" if line.startswith("-") else ""
            out.append(_paint(text, slot, colour) if slot else text)
        if a.diff_truncated:
            out.append("      ...")
        if a.files is not None:
            counts = a.files["counts"]
            for kind, mark in (("changed", "~"), ("added", "+"), ("removed", "-")):
                for path in a.files[kind]:
                    out.append(f"      {mark} {safe(path)}")
                more = counts[kind] - len(a.files[kind])
                if more > 0:
                    out.append(f"      ... and {more} more {kind}")
            out.append(f"      ({counts['same']} file(s) the same)")
    return out


def _metric_line(m: MetricVerdict, colour: bool) -> str:
    word = _paint(f"{m.verdict:<10}", _SLOT.get(m.verdict, "failed" if m.verdict == "missing" else ""), colour)
    name = safe(m.name)
    if m.verdict == "equal":
        return f"  {word} {name}: {safe(number(m.old))}"
    if m.verdict == "missing":
        return f"  {word} {name}: {safe(number(m.old))} (the new run has none)"
    if m.verdict == "new":
        return f"  {word} {name}: {safe(number(m.new))} (only in the new run)"
    text = f"  {word} {name}: {safe(number(m.old))} -> {safe(number(m.new))}"
    if m.delta is not None:
        text += f" ({'+' if m.delta >= 0 else ''}{number(m.delta)}"
        if m.relative is not None:
            text += f", {'+' if m.relative >= 0 else ''}{m.relative * 100:.3g}%"
        text += ")"
    return text


def render(verdict: Verdict, colour: bool = False) -> list[str]:
    """The verdict as lines for a terminal (no trailing newlines): the headline,
    then artifacts, metrics, the run's end, and the environment differences."""
    if verdict.reproduced:
        head = _paint("reproduced", "succeeded", colour)
        n = len([a for a in verdict.artifacts if a.verdict == "reproduced"])
        lines = [f"verdict: {head} ({n} artifact(s) identical)" if n else
                 f"verdict: {head} (the original recorded no artifacts to compare)"]
    else:
        lines = [f"verdict: {_paint('not reproduced', 'failed', colour)}"]
        lines += [f"  {safe(r)}" for r in verdict.reasons]
    lines.append("artifacts:" + ("" if verdict.artifacts else " none"))
    for a in verdict.artifacts:
        lines += _artifact_lines(a, colour)
    lines.append("metrics:" + ("" if verdict.metrics else " none"))
    lines += [_metric_line(m, colour) for m in verdict.metrics]
    st = verdict.status
    if st and not st.get("same"):
        lines.append(f"status: original {safe(st['original']['status'])} (exit {safe(st['original']['exit_code'])}), "
                     f"new {safe(st['new']['status'])} (exit {safe(st['new']['exit_code'])})")
    env = envdiff.lines(verdict.environment)
    lines.append("environment:" + ("" if env else " same"))
    lines += [safe(line) for line in env]
    return lines


def reproduce(run_id: str, env: str, installer: str, name: str | None, tags: list[str], quiet: bool,
              as_json: bool) -> int:
    """Rerun ``run_id`` exactly and print the verdict; 0 only when it reproduced.

    With --json, what the command prints goes to stderr, so stdout holds the JSON alone.
    """
    import json
    import sys

    from .. import colour
    from ..reproduce import ReproduceOptions
    from ..reproduce import reproduce as run_reproduce
    from ..terminal import json_text, say, stdout_to_stderr, warning_text
    from .rerun import final_line

    def progress(message: str) -> None:
        if not quiet and sys.stderr.isatty():
            say(f"gitruns: {safe(message)}")

    options = ReproduceOptions(env=env, installer=installer, name=name, tags=list(tags), quiet=quiet)
    if quiet or as_json:
        from ..progress import silence

        silence()
    with stdout_to_stderr(as_json):  # the command's own output to stderr: stdout is the JSON's
        result = run_reproduce(run_id, options, progress=progress)
    for message in result.rerun.errors:
        say(f"gitruns: error: {warning_text(' '.join(message.split()), 1000)}")
    if as_json:
        sys.stdout.write(json_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False)) + "\n")
        return 0 if result.reproduced else 1
    if not quiet:
        say(f"gitruns: {final_line(result.rerun, 'reproducing')}")
    colour.decide(sys.stdout.isatty())
    for line in render(result.verdict, colour.enabled()):
        sys.stdout.write(line + "\n")
    return 0 if result.reproduced else 1

