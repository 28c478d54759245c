"""The fast schema check says "certainly valid" only where jsonschema agrees.

Every record of tests/data (one a schema version, a pipeline among them) is
mutated leaf by leaf (another type, a float for an integer, true for 1, an
unknown key, a missing key); for each mutation the fast check may answer False
(not sure) but never True where jsonschema finds an error.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitruns import record, schemacheck

DATA = Path(__file__).parent.parent / "data"
RECORDS = sorted(DATA.glob("run-v*.json"))
REPLACEMENTS: list[Any] = [None, True, False, 0, 1, 1.0, -1, 1.5, "", "x", "../x", [], [1], {}, {"a": 1}]


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*at, i))


def _set(data: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> Any:
    out = copy.deepcopy(data)
    holder = out
    for part in path[:-1]:
        holder = holder[part]
    if delete:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return out


def _mutations(data: dict[str, Any]) -> Iterator[Any]:
    for path in _paths(data):
        if not path:
            continue
        for value in REPLACEMENTS:
            yield _set(data, path, value)
        yield _set(data, path, None, delete=True)
        if isinstance(_get(data, path), dict):
            yield _set(data, (*path, "unexpected"), 1)
    yield dict(data, unexpected=1)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _jsonschema_ok(data: Any) -> bool:
    version = data.get("schema") if isinstance(data, dict) else None
    if type(version) is not int or not 1 <= version <= record.SCHEMA_VERSION:
        return False
    return not any(True for _ in record.validator(version).iter_errors(data))


@pytest.mark.parametrize("path,upgraded", [(p, False) for p in RECORDS] +
                         [(DATA / "run-v4.json", True), (DATA / "run-v3-pipeline.json", True)],
                         ids=lambda v: v.name if isinstance(v, Path) else ("current" if v else "as written"))
def test_never_more_lenient_than_jsonschema(path: Path, upgraded: bool) -> None:
    data = json.loads(path.read_text())
    if upgraded:  # as the current schema writes it (a run record of today, a pipeline among them)
        data = dict(record.upgrade(data))
    assert _jsonschema_ok(data)
    assert schemacheck.run_record_ok(data)  # a valid record takes the fast path
    accepted = 0
    for mutated in _mutations(data):
        if schemacheck.run_record_ok(mutated):
            accepted += 1
            assert _jsonschema_ok(mutated), json.dumps(mutated)[:300]
    assert accepted > 0  # some mutations are valid (a string for another string): the check is exercised


def test_every_record_schema_compiles() -> None:
    for version in range(1, record.SCHEMA_VERSION + 1):
        assert schemacheck.compile_schema(record.schema(version)) is not None


def test_what_it_does_not_understand_is_never_accepted() -> None:
    assert schemacheck.compile_schema({"type": "string", "format": "email"}) is None
    assert schemacheck.compile_schema({"$ref": "other.json#/x"}) is None
    check = schemacheck.compile_schema({"type": "integer"})
    assert check is not None and check(3) and not check(3.0) and not check(True)
    enum = schemacheck.compile_schema({"enum": [1, "a", None]})
    assert enum is not None and enum(1) and not enum(True) and not enum(1.5) and enum(None)
    assert not schemacheck.run_record_ok({"schema": record.SCHEMA_VERSION + 1})
    assert not schemacheck.run_record_ok([])
