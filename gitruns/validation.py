"""Record validation: run.json bytes from anywhere turned into a record, or refused.

Every record that did not come from this gitruns is untrusted input (fetched,
read from a tracking ref, or a local ref that someone crafted): it is bounded
(size, nesting) before it is parsed and checked, as written, against the JSON
Schema of the version it claims, before anything reads a field of it.
"""
from __future__ import annotations

from typing import Any

from . import bounds, record, schemacheck
from .errors import RecordError
from .timeutil import parse_iso


def parse_record(raw: bytes, run_id: str, check: str = "schema") -> record.RunRecord:
    """run.json bytes into the current record shape, bounded first (size, depth).

    ``check``: "schema" validates the record as written against its version's
    JSON Schema (for any record that did not come from this gitruns: fetched,
    tracking, or shown alone); "shape" only checks the types listing relies on,
    which is cheap enough for 10,000 records; "none" for bytes accepted before.
    """
    try:
        bounds.check_size("run.json", len(raw))
        data = bounds.load_json(raw, "run.json")
        if check == "schema":
            validate_untrusted(data, run_id)
        elif check == "shape":
            _check_shape(data, run_id)
        return record.upgrade(data)
    except RecordError as exc:
        text = str(exc)
        kind = type(exc)
        raise kind(text if text.startswith(f"run {run_id}") else f"run {run_id}: {text}") from None


def _check_times(data: dict[str, Any]) -> None:
    """Times must be real dates, not only look like them (2026-13-45 matches the
    schema's pattern), since every reader turns them into local time."""
    for key in ("started_at", "ended_at"):
        text = data.get(key)
        if isinstance(text, str):
            try:
                parse_iso(text)
            except (ValueError, OverflowError):
                raise RecordError(f"invalid record at {key}: not a date and time") from None


_SHAPE: dict[str, tuple[type, ...]] = {
    "id": (str,), "name": (str, type(None)), "status": (str,), "command": (list,),
    "started_at": (str, type(None)), "duration_s": (int, float, type(None)), "code": (dict,),
    "metrics": (dict, type(None)), "tags": (dict, type(None)), "host": (str, type(None)),
    "process": (dict, type(None)), "pid": (int, type(None)),
}


def _check_shape(data: Any, run_id: str) -> None:
    """The types `ls` relies on, for records not validated against the schema."""
    if not isinstance(data, dict):
        raise RecordError("run.json is not a JSON object")
    for key, types in _SHAPE.items():
        if key in data and not isinstance(data[key], types):
            raise RecordError(f"invalid record at {key}")
    for c in data.get("command") or ():
        if type(c) is not str:
            raise RecordError("invalid record at command")
    # (Times are not parsed here, for speed: ls shows a bad one as it is.)
    code = data.get("code") or {}
    for key in ("commit", "reproducible_from"):
        if not isinstance(code.get(key), (str, type(None))):
            raise RecordError(f"invalid record at code/{key}")
    if data.get("id") != run_id:
        raise RecordError(f"its record says it is run {data.get('id')}")


def validate_untrusted(data: Any, run_id: str) -> None:
    """A record fetched from elsewhere is untrusted input: check it, as written,
    against the schema of the version it claims."""
    version = data.get("schema") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > record.SCHEMA_VERSION:
        raise RecordError(f"run {run_id} has record schema {version}, newer than this gitruns "
                          f"understands ({record.SCHEMA_VERSION}); upgrade gitruns")
    if not isinstance(version, int) or not 1 <= version <= record.SCHEMA_VERSION:
        raise RecordError(f"run {run_id}: unknown record schema {version!r}")
    # The compiled check answers "certainly valid" fast; anything else goes to jsonschema,
    # which decides and says why (tests/unit/test_schemacheck.py holds them to agree).
    # (jsonschema is imported only then: a sync of valid records never loads it.)
    if not schemacheck.run_record_ok(data):
        import jsonschema

        error = jsonschema.exceptions.best_match(record.validator(version).iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "record"
            raise RecordError(f"run {run_id}: invalid record at {where}: {error.message}")
    if data.get("id") != run_id:
        raise RecordError(f"run {run_id}: its record says it is run {data.get('id')}")
    try:
        _check_times(data)
    except RecordError as exc:
        raise RecordError(f"run {run_id}: {exc}") from None
