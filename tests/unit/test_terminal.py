"""terminal.py: record text made safe for a terminal, and for JSON."""
from __future__ import annotations

import json

import pytest

from gitruns import terminal


@pytest.mark.parametrize("text, shown", [
    ("plain text, ünïcödé, 漢字", "plain text, ünïcödé, 漢字"),
    ("\x1b[31mred\x1b[0m", "^[[31mred^[[0m"),
    ("line\nforged", "line\\x0aforged"),
    ("tab\there", "tab\\x09here"),
    ("over\rwrite", "over\\x0dwrite"),
    ("bell\x07", "bell\\x07"),
    ("del\x7f", "del\\x7f"),
    ("c1\x9b31m", "c1\\x9b31m"),
    ("abc\u202edcba", "abc\\u202edcba"),
    ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
    ("sep\u2028ara", "sep\\u2028ara"),
    ("lone \ud800", "lone \\ud800"),
])
def test_safe_single_line(text: str, shown: str) -> None:
    assert terminal.safe(text) == shown
    assert terminal.safe(text).isprintable()


def test_safe_multiline_keeps_line_structure() -> None:
    text = "a\tb\r\nc\n\x1b]0;title\x07d\re"
    assert terminal.safe(text, multiline=True) == "a\tb\r\nc\n^[]0;title\\x07d\\x0de"


def test_safe_takes_anything() -> None:
    assert terminal.safe(3) == "3" and terminal.safe(None) == "None"
    assert terminal.safe(ValueError("bad\nthing")) == "bad\\x0athing"


def test_clip_and_warning_text() -> None:
    assert terminal.clip("abc", 3) == "abc"
    assert terminal.clip("abcd", 3) == "ab…"
    long = "\x1b" * 1000
    shown = terminal.warning_text(long, 50)
    assert len(shown) == 50 and shown.endswith("…") and "\x1b" not in shown


@pytest.mark.parametrize("value", ["plain", "ünï", "a\u202eb", "del\x7f", "c1\x85", "lone \ud800", "\x1b[31m"])
def test_json_text_escapes_what_json_dumps_leaves_raw(value: str) -> None:
    raw = json.dumps({"v": value}, ensure_ascii=False)
    safe = terminal.json_text(raw)
    assert json.loads(safe) == {"v": value}  # the same JSON value
    assert all(ch.isprintable() for ch in safe)
    if value.isascii() and value.isprintable():
        assert safe == raw
