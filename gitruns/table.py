"""Plain text tables for human output."""
from __future__ import annotations

from collections.abc import Callable

from .terminal import safe


def clip(text: str, width: int) -> str:
    """At most ``width`` characters of ``text``, made terminal-safe first (so the
    visible escapes count towards the width)."""
    text = safe(text)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def render(headers: list[str], rows: list[list[str]], right: set[int] | None = None,
           paint: Callable[[int, str], str] | None = None) -> str:
    """Columns padded to the widest cell.  ``paint(column, cell)`` (colour.py) may
    wrap a body cell in colour; it is applied after the width is taken and the
    padding stays outside, so colour never shifts a column."""
    right = right or set()
    # Cells come from records: one line each, never an escape sequence.
    headers = [h if h.isprintable() else safe(h) for h in headers]
    rows = [[c if c.isprintable() else safe(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str], painted: bool = False) -> str:
        parts = []
        for i, c in enumerate(cells):
            pad = " " * (widths[i] - len(c))
            shown = paint(i, c) if painted and paint is not None and c else c
            parts.append(pad + shown if i in right else shown + pad)
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r, True) for r in rows)]) + "\n"


def number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value) if value is not None else "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
