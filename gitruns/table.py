"""Plain text tables for human output.

Cells come from records (names, commands, tags), so anything may be in them:
a newline, a tab or an escape sequence is shown as a visible escape
(``terminal.safe``), never as a line break; and columns are measured in
terminal cells, not characters (``wcwidth``): a CJK character or an emoji
takes two, a combining accent none, so the columns still line up.
"""
from __future__ import annotations

from collections.abc import Callable

from .terminal import safe


def width(text: str) -> int:
    """How many terminal cells ``text`` (already made safe) takes."""
    if text.isascii() or text.replace("…", "").isascii():  # the usual cases: one cell a character
        return len(text)  # (clip's "…" takes one cell too: no need to load wcwidth's tables for it)
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
    if text.isascii():  # the usual case: one cell a character, no clusters to keep whole
        return text if len(text) <= most else text[: max(0, most - 1)] + "…"
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


def render(headers: list[str], rows: list[list[str]], right: set[int] | None = None,
           paint: Callable[[int, str], str] | None = None) -> str:
    """Columns padded to the widest cell.  ``paint(column, cell)`` (colour.py) may
    wrap a body cell in colour; it is applied after the width is taken and the
    padding stays outside, so colour never shifts a column."""
    right = right or set()
    # One line a row, whatever the cells hold; each cell measured once.
    headers = [safe(h) for h in headers]
    rows = [[safe(c) for c in row] for row in rows]
    head_cells = [width(h) for h in headers]
    row_cells = [[width(c) for c in row] for row in rows]
    widths = list(head_cells)
    for cells in row_cells:
        for i, n in enumerate(cells):
            if n > widths[i]:
                widths[i] = n

    def line(cells: list[str], measured: list[int], painted: bool = False) -> str:
        parts = []
        for i, c in enumerate(cells):
            pad = " " * (widths[i] - measured[i])
            shown = paint(i, c) if painted and paint is not None and c else c
            parts.append(pad + shown if i in right else shown + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers, head_cells),
                      *(line(r, m, True) for r, m in zip(rows, row_cells, strict=True))]) + "\n"


def number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value) if value is not None else "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
