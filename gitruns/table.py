"""Plain text tables for human output.

Cells come from records (names, commands, tags), so anything may be in them:
a newline, a tab or an escape sequence is shown as a visible escape
(``terminal.safe``), never as a line break; and columns are measured in
terminal cells, not characters (``wcwidth``): a CJK character or an emoji
takes two, a combining accent none, so the columns still line up.
"""
from __future__ import annotations

from .terminal import safe


def width(text: str) -> int:
    """How many terminal cells ``text`` (already made safe) takes."""
    if text.isascii():  # the usual case: one cell a character
        return len(text)
    import wcwidth

    cells = wcwidth.wcswidth(text)
    if cells >= 0:
        return int(cells)
    # wcswidth gives -1 when a character has no width it knows; count the others.
    return sum(max(0, int(wcwidth.wcwidth(ch))) for ch in text)


def clip(text: str, most: int) -> str:
    """``text`` made terminal-safe (so the visible escapes count), then cut to at most
    ``most`` terminal cells with "…"; never inside a character made of several code
    points (an accent stays with its letter, an emoji sequence stays whole)."""
    text = safe(text)
    if width(text) <= most:
        return text
    import wcwidth

    out, used = [], 0
    for cluster in wcwidth.iter_graphemes(text):
        cells = width(cluster)
        if used + cells > most - 1:
            break
        out.append(cluster)
        used += cells
    return "".join(out) + "…"


def _pad(text: str, cells: int, right: bool) -> str:
    fill = " " * max(0, cells - width(text))
    return fill + text if right else text + fill


def render(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    # One line a row, whatever the cells hold.
    headers = [safe(h) for h in headers]
    rows = [[safe(c) for c in row] for row in rows]
    widths = [width(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], width(cell))

    def line(cells: list[str]) -> str:
        return "  ".join(_pad(c, widths[i], i in right) for i, c in enumerate(cells)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)]) + "\n"


def number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value) if value is not None else "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
