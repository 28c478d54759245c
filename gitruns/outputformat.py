"""Machine output for listings: ``--json``, ``--jsonl`` and ``--csv``, one way for every verb.

:func:`output_options` gives a click command the three flags (at most one of
them; the function gets ``output``: "json", "jsonl", "csv" or None for the
human form), as sqlite-utils' ``output_options`` does.  The writers return
text and never print; click is imported only by the decorator.

Everything in these outputs may come from a record, which is untrusted:

- JSON goes through :func:`gitruns.terminal.json_text` (no raw DEL, C1 or bidi
  control; json.dumps already escapes the C0 ones);
- CSV is for spreadsheets as much as for programs, so a text cell that starts
  with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  ``'``: a spreadsheet shows it as text instead of running it as a formula
  (OWASP's advice on CSV injection).  Numbers are written as numbers, so
  ``-0.5`` stays ``-0.5``.  Newlines stay, quoted by the csv module; other
  control characters are escaped as in the human output.  For data exactly as
  recorded, use ``--jsonl``.
"""
from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, TypeVar

from .terminal import json_text, safe

FORMATS = ("json", "jsonl", "csv")
F = TypeVar("F", bound=Callable[..., Any])

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# One encoder for every record: json.dumps with arguments builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


def output_options(json_help: str = "One JSON array of records.",
                   jsonl_help: str = "One JSON record a line (for jq -c and pandas.read_json(lines=True)).",
                   csv_help: str | None = "Comma-separated values with a header line.") -> Callable[[F], F]:
    """Add ``--json``, ``--jsonl`` and (unless ``csv_help`` is None) ``--csv`` to a click
    command; the function receives ``output`` (a name from FORMATS, or None)."""
    import click

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, as_json: bool = False, as_jsonl: bool = False, as_csv: bool = False,
                    **kwargs: Any) -> Any:
            chosen = [flag for flag, on in (("--json", as_json), ("--jsonl", as_jsonl), ("--csv", as_csv)) if on]
            if len(chosen) > 1:
                raise click.UsageError(f"{' and '.join(chosen)} cannot be used together: choose one output format")
            output = chosen[0].removeprefix("--") if chosen else None
            return fn(*args, output=output, **kwargs)

        if csv_help is not None:
            wrapper = click.option("--csv", "as_csv", is_flag=True, help=csv_help)(wrapper)
        wrapper = click.option("--jsonl", "as_jsonl", is_flag=True, help=jsonl_help)(wrapper)
        wrapper = click.option("--json", "as_json", is_flag=True, help=json_help)(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def json_array(records: Iterable[Mapping[str, Any]]) -> str:
    """One JSON array, one record a line: valid JSON that is also easy to grep, written by
    the C encoder (indentation would force the slow pure-Python one)."""
    body = ",\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in records)
    return json_text(f"[\n{body}\n]\n") if body else "[]\n"


def write_json_array(records: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    """:func:`json_array`, written a record at a time (memory stays flat for any count)."""
    first = True
    for r in records:
        out.write(json_text(("[\n" if first else ",\n") + _ENCODE(r)))
        first = False
    out.write("[]\n" if first else "\n]\n")


def write_json_lines(records: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    """:func:`json_lines`, written a record at a time."""
    for r in records:
        out.write(json_text(_ENCODE(r) + "\n"))


def json_lines(records: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object a line (JSON Lines); nothing at all for no records."""
    return json_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records))


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: numbers as they are, text safe for spreadsheets and terminals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = safe(text, multiline=True)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> str:
    """A header line, then one line a row (a missing key is an empty cell); RFC 4180 quoting."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in columns])  # keys come from records too
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return out.getvalue()
