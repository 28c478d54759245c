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


# -- the generated code's own paths, each held to jsonschema's answers --------

TREE = {  # recursion through $ref, anyOf of two object shapes, arrays of arrays
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$ref": "#/$defs/node",
    "$defs": {
        "node": {"type": "object", "required": ["name"], "additionalProperties": False,
                 "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 3},
                                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                                "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                                "leaf": {"anyOf": [{"type": "object", "required": ["a"]},
                                                   {"type": "object", "required": ["b"],
                                                    "properties": {"b": {"type": "number", "minimum": 0.5}}},
                                                   {"type": "null"}]}}},
    },
}

CASES: list[tuple[dict[str, Any], list[Any], list[Any]]] = [
    # (schema, instances it must accept fast, instances it may only reject or be unsure of)
    (TREE,
     [{"name": "a"}, {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]},
      {"name": "a", "grid": [[1, 2], [], [3]]}, {"name": "a", "leaf": {"a": []}},
      {"name": "a", "leaf": {"b": 0.5}}, {"name": "a", "leaf": {"b": 2}}, {"name": "a", "leaf": None}],
     [{"name": ""}, {"name": "abcd"}, {}, {"name": "a", "x": 1}, {"name": "a", "children": [{"name": 1}]},
      {"name": "a", "children": [{"name": "b", "children": [{}]}]}, {"name": "a", "grid": [[1, 1.0]]},
      {"name": "a", "grid": [[True]]}, {"name": "a", "grid": [1]}, {"name": "a", "leaf": {"b": 0.4}},
      {"name": "a", "leaf": {"b": True}}, {"name": "a", "leaf": {}}, {"name": "a", "leaf": []}, []]),
    ({"enum": [1, "a", None, False, [1], {"k": 1}]},
     [1, 1.0, "a", None, False],
     [True, 0, "b", 1.5, [1], {"k": 1}, [], {}]),
    ({"const": True}, [True], [1, 1.0, False, "true", None]),
    ({"const": 0}, [0, 0.0, -0.0], [False, None, "0", []]),
    ({"type": "integer"}, [0, -3, 2**70], [1.0, 1.5, True, "1", None]),
    ({"type": ["number", "boolean"], "minimum": 2}, [2, 2.5, 10**20, True, False], [1, 1.999, "3", None]),
    ({"minimum": 1, "pattern": "^a$", "items": False, "required": ["x"], "maxLength": 2},  # no "type"
     [1, "a", "a\n", [], {"x": None}, None, True],  # ($ matches before a final newline, for both)
     [0, "b", "ab", [1], {}, {"y": 1}]),
    ({"type": "object", "properties": {"p": False, "q": True, "r": {}}, "required": ["q", "r"]},
     [{"q": 1, "r": None}], [{"q": 1}, {"r": 1}, {"p": 1, "q": 1, "r": 1}]),
    ({"type": "object", "additionalProperties": {"type": "string"}},
     [{}, {"a": "b"}], [{"a": 1}, {"a": "b", "c": None}]),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
     [{"a": 1, "b": "x"}], [{"a": "x"}, {"a": 1, "b": 2}]),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, ["x", 1], [1.5, None, True]),
    ({"anyOf": [{"type": "string", "pattern": "^x"}, {"type": "string", "pattern": "y$"}, {"type": "null"}]},
     ["xa", "ay", None], ["a", 1]),
    ({"anyOf": [False, {"type": "null"}]}, [None], [0, "x"]),
    ({"anyOf": [{}]}, [1, "x", None, {}], []),
    ({"type": "integer", "anyOf": [{"description": "any"}, {"type": "null"}]}, [1], ["1"]),
    ({"type": "object", "properties": {"a'\n\"); import os; (\"": {"type": "string"}},
      "required": ["a'\n\"); import os; (\""]},
     [{"a'\n\"); import os; (\"": "x"}], [{"a'\n\"); import os; (\"": 1}, {}]),
]


def _deep(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


def _nest(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


CASES.append((_deep(40), [_nest(40, 1), _nest(39, [])], [_nest(40, 1.5), _nest(40, "1"), _nest(39, 1)]))


@pytest.mark.parametrize("schema,fast,rest", CASES, ids=[str(i) for i in range(len(CASES))])
def test_generated_check_agrees_with_jsonschema(schema: dict[str, Any], fast: list[Any], rest: list[Any]) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    check = schemacheck.compile_schema(schema)
    assert check is not None
    for instance in fast:
        assert validator.is_valid(instance), instance  # (the case itself is right)
        assert check(instance) is True, instance
    for instance in rest:
        assert check(instance) is False or validator.is_valid(instance), instance
    assert not rest or any(not validator.is_valid(instance) for instance in rest)


def test_values_not_exactly_json_are_not_sure() -> None:
    from collections import OrderedDict

    class Text(str):
        pass

    # jsonschema takes a dict subclass as an object and checks its properties: so must this, or say not sure
    for schema in ({"properties": {"a": {"type": "string"}}}, {"type": "object", "required": ["a"]}):
        check = schemacheck.compile_schema(schema)
        assert check is not None and check({"a": "x"})
        assert not check(OrderedDict(a=1)) and not check(OrderedDict())
    check = schemacheck.compile_schema({"pattern": "^a$"})
    assert check is not None and check("a") and not check(Text("b"))


def test_what_the_generator_refuses() -> None:
    for schema in ({"enum": [float("nan")]}, {"const": float("inf")}, {"minimum": True},
                   {"items": [{"type": "string"}]}, {"enum": "ab"}, {"type": "any"}, {"type": []},
                   {"properties": {"a": {"$id": "other", "$ref": "#/x"}}}, {"$ref": "#"},
                   {"$ref": "#/$defs/missing"}, {"$ref": "#/$defs/a%20b"}, {"pattern": "("},
                   {"required": "a"}, {"anyOf": []}, {"minLength": -1}, {"$anchor": "x"}, {"not": {}}):
        assert schemacheck.compile_schema(schema) is None, schema


def test_every_record_version_has_a_generated_check() -> None:
    for version in range(1, record.SCHEMA_VERSION + 1):
        check = schemacheck._record_check(version)
        assert check is not None and check.__code__.co_filename == "<gitruns.schemacheck>"
    # each old record of tests/data passes its own version's check, and no other version's
    for path in RECORDS:
        data = json.loads(path.read_text())
        assert data["schema"] < record.SCHEMA_VERSION
        assert schemacheck.run_record_ok(data), path.name
        for other in range(1, record.SCHEMA_VERSION + 1):
            if other != data["schema"]:
                assert not schemacheck.run_record_ok(dict(data, schema=other)) or \
                    _jsonschema_ok(dict(data, schema=other)), (path.name, other)
