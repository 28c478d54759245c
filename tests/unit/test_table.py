"""table.py: aligned columns, cells that can never break a row."""
from __future__ import annotations

import pytest

from gitruns import table


def test_render_aligns_and_right_justifies() -> None:
    out = table.render(["ID", "NAME", "LOSS"], [["a1", "baseline", "0.5"], ["b22", "-", "0.25"]], right={2})
    assert out == (
        "ID   NAME      LOSS\n"
        "a1   baseline   0.5\n"
        "b22  -         0.25\n"
    )


def test_render_strips_trailing_blanks_and_handles_no_rows() -> None:
    assert table.render(["A", "B"], [["x", ""]]) == "A  B\nx\n"
    assert table.render(["ID", "NAME"], []) == "ID  NAME\n"


def test_cells_from_records_cannot_forge_rows_or_escape() -> None:
    out = table.render(["NAME", "X"], [["evil\nfake row", "\x1b[2J"], ["ok", "1"]])
    lines = out.splitlines()
    assert len(lines) == 3 and "\x1b" not in out
    assert lines[1] == "evil\\x0afake row  ^[[2J"


@pytest.mark.parametrize("text, width, shown", [
    ("short", 10, "short"), ("exactly10!", 10, "exactly10!"), ("a bit too long", 10, "a bit too…"),
    ("\x1b[31m", 4, "^[[…"), ("x", 0, "…"),
])
def test_clip(text: str, width: int, shown: str) -> None:
    assert table.clip(text, width) == shown


@pytest.mark.parametrize("value, shown", [
    (None, "-"), (True, "True"), (False, "False"), (3, "3"), (0.123456, "0.1235"), (1e-7, "1e-07"),
    (123456.0, "1.235e+05"), ("nan", "nan"), (float("inf"), "inf"),
])
def test_number(value: object, shown: str) -> None:
    assert table.number(value) == shown
