"""A fast yes-or-not-sure check of records against their JSON Schema.

``jsonschema`` spends about 2 ms on a run record (it builds a validator object
for every subschema it descends into); fetching 1,000 runs spent most of its time
there.  This compiles a schema once into plain Python closures for the keywords
the record schemas use, and answers only "certainly valid" (True) or "not sure"
(False).  The rule that keeps it safe: it is never more lenient than jsonschema.
Anything it does not understand (an unknown keyword, a float where an integer
is wanted, an ``enum`` of containers) makes it say False, and the caller then
validates with jsonschema, which is the authority and says why.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$comment", "default", "examples", "$defs"})


class _Unsupported(Exception):
    """The schema uses something this compiler does not handle."""


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


def _is_type(value: Any, name: str) -> bool:
    kind = type(value)
    if name == "object":
        return kind is dict
    if name == "array":
        return kind is list
    if name == "string":
        return kind is str
    if name == "integer":
        return kind is int  # 1.0 is an integer to jsonschema: "not sure" here, never wrongly yes
    if name == "number":
        return kind is int or kind is float
    if name == "boolean":
        return kind is bool
    if name == "null":
        return value is None
    raise _Unsupported(name)


# The exact Python types of each JSON type, as _is_type answers (an integer is an int,
# never 1.0; a bool is not a number).
_KINDS: dict[str, frozenset[type]] = {
    "object": frozenset({dict}), "array": frozenset({list}), "string": frozenset({str}),
    "integer": frozenset({int}), "number": frozenset({int, float}), "boolean": frozenset({bool}),
}


def _same(a: Any, b: Any) -> bool:
    """JSON equality for scalars (True is not 1); containers are not compared."""
    if type(a) in (dict, list) or type(b) in (dict, list):
        return False
    if type(a) is bool or type(b) is bool or a is None or b is None:
        return type(a) is type(b) and a == b
    return bool(a == b)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        """A reference inside this schema (``#/$defs/x``, ``#/properties/error``);
        any other (another document, an anchor, a percent-escape) is unsupported."""
        if not target.startswith("#/") or "%" in target:
            raise _Unsupported(target)
        if target not in self.refs:
            node: Any = self.root
            for part in target[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            holder: list[Check] = []
            self.refs[target] = lambda v: holder[0](v)  # recursive definitions resolve late
            holder.append(self.compile(node))
        return self.refs[target]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise _Unsupported(repr(schema))
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _ANNOTATIONS:
                continue
            checks.append(self.keyword(key, arg, schema))
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) and second(v)

        def every(v: Any) -> bool:
            for c in checks:
                if not c(v):
                    return False
            return True

        return every

    def keyword(self, key: str, arg: Any, schema: dict[str, Any]) -> Check:
        if key == "type":
            names = [arg] if isinstance(arg, str) else list(arg)
            for n in names:
                _is_type(None, n)  # an unknown type name is unsupported
            if "null" in names:
                rest = [n for n in names if n != "null"]
                if not rest:
                    return lambda v: v is None
                if len(rest) == 1 and rest[0] in _KINDS:
                    kinds = _KINDS[rest[0]]
                    return lambda v: v is None or type(v) in kinds
            elif len(names) == 1 and names[0] in _KINDS:
                kinds = _KINDS[names[0]]
                return lambda v: type(v) in kinds  # the same answer as _is_type, without its chain of ifs
            return lambda v: any(_is_type(v, n) for n in names)
        if key == "properties":
            props = {k: self.compile(s) for k, s in arg.items()}

            def properties(v: Any) -> bool:
                if type(v) is not dict:
                    return True
                for k, x in v.items():
                    c = props.get(k)
                    if c is not None and not c(x):
                        return False
                return True

            return properties
        if key == "additionalProperties":
            known = frozenset(schema.get("properties") or {})
            if "patternProperties" in schema:
                raise _Unsupported(key)
            extra = self.compile(arg)
            return lambda v: type(v) is not dict or all(extra(x) for k, x in v.items() if k not in known)
        if key == "required":
            names = list(arg)
            return lambda v: type(v) is not dict or all(k in v for k in names)
        if key == "items":
            if not isinstance(arg, dict) and not isinstance(arg, bool):
                raise _Unsupported(key)
            each = self.compile(arg)
            return lambda v: type(v) is not list or all(each(x) for x in v)
        if key == "enum":
            values = list(arg)
            return lambda v: any(_same(v, e) for e in values)
        if key == "const":
            return lambda v: _same(v, arg)
        if key == "pattern":
            rx = re.compile(arg)
            return lambda v: type(v) is not str or rx.search(v) is not None
        if key == "minimum":
            low = arg
            return lambda v: type(v) not in (int, float) or v >= low
        if key == "anyOf":
            options = [self.compile(s) for s in arg]
            return lambda v: any(c(v) for c in options)
        if key == "$ref":
            return self.ref(arg)
        raise _Unsupported(key)


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A fast check of ``schema``, or None when it uses what this does not handle."""
    try:
        return _Compiler(schema).compile(schema)
    except (_Unsupported, KeyError, TypeError, re.error):
        return None


@functools.lru_cache(maxsize=8)
def _record_check(version: int) -> Check | None:
    from . import record

    return compile_schema(record.schema(version))


def run_record_ok(data: Any) -> bool:
    """Whether a parsed run.json is certainly valid against the schema of the
    version it claims (False: not sure; ask jsonschema)."""
    from . import record

    version = data.get("schema") if isinstance(data, dict) else None
    if type(version) is not int or not 1 <= version <= record.SCHEMA_VERSION:
        return False
    check = _record_check(version)
    return check is not None and check(data)
