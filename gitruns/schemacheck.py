"""A fast yes-or-not-sure check of records against their JSON Schema.

``jsonschema`` spends about 2 ms on a run record (it builds a validator object
for every subschema it descends into); fetching 1,000 runs, or rebuilding the
run index, spent most of its time there.  This compiles a schema once into
Python source for the keywords the record schemas use (as fastjsonschema does):
one function for the schema and one for each ``$ref`` target it calls, the
checks inlined (``type(v) is dict``, a lookup for each declared property, a
frozenset for an enum of strings), then ``compile()`` and ``exec()`` it.

It answers only "certainly valid" (True) or "not sure" (False).  The rule that
keeps it safe: it is never more lenient than jsonschema.  Anything it does not
understand (an unknown keyword, a float where an integer is wanted, an ``enum``
of containers, a type that is not exactly a JSON one) makes it say False, or
makes ``compile_schema`` return None, and the caller then validates with
jsonschema, which is the authority and says why.

The generated source holds no text of the schema but property names written
with ``repr()`` and numbers: its own names come from a fixed alphabet (``v3``,
``f1``, ``R0``), and regular expressions and sets are bound as globals.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"title", "description", "$comment", "default", "examples", "$defs"})
_ROOT_ONLY = frozenset({"$schema", "$id"})  # an inner $id would move what "#/..." means
# The exact Python type of each JSON type name (jsonschema takes 1.0 as an integer:
# "not sure" here, never wrongly yes; and bool, a subclass of int, is never a number).
_TYPES = {"object": ("dict",), "array": ("list",), "string": ("str",), "integer": ("int",),
          "number": ("int", "float"), "boolean": ("bool",), "null": ("NoneType",)}
_JSON_TYPES = frozenset({"dict", "list", "str", "int", "float", "bool", "NoneType"})
# The keywords that apply to one type only (to any other value they say nothing).
_APPLIES_TO = {"properties": "dict", "required": "dict", "additionalProperties": "dict",
               "items": "list", "pattern": "str", "minLength": "str", "maxLength": "str",
               "minimum": "number"}
_MAX_NESTING = 12  # deeper subschemas get a function of their own (Python caps nested blocks)


class _Unsupported(Exception):
    """The schema uses something this compiler does not handle."""


class _MissingType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _MissingType()


def _literal(value: Any) -> str:
    """Source text for a property name or a bound: only a str, an int or a finite
    float (their repr is an exact Python literal), never anything else."""
    kind = type(value)
    if kind is str or kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    raise _Unsupported(repr(value)[:40])


def _type_test(var: str, kind: str) -> str:
    return f"{var} is None" if kind == "NoneType" else f"type({var}) is {kind}"


def _is_leaf(schema: Any) -> bool:
    """A subschema small enough to inline wherever it is referred to."""
    return type(schema) is dict and all(k in _LEAF_KEYWORDS or k in _ANNOTATIONS for k in schema)


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and math.isfinite(value)


class _Generator:
    """Writes the source of one schema's check: ``f0`` is the whole schema."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"MISSING": _MISSING, "NoneType": type(None), "dict": dict, "list": list,
                                      "str": str, "int": int, "float": float, "bool": bool}
        self.refs: dict[str, str] = {}  # ref target -> its function's name
        self.regexes: dict[str, str] = {}  # pattern -> the name of its bound search
        self.pending: list[tuple[str, Any]] = []  # functions to write: (name, schema)
        self.counter = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, prefix: str, value: Any) -> str:
        name = self.fresh(prefix)
        self.names[name] = value
        return name

    def source(self) -> str:
        self.pending.append(("f0", self.root))
        done: set[str] = set()
        while self.pending:
            name, schema = self.pending.pop()
            if name not in done:
                done.add(name)
                self.function(name, schema)
        return "\n".join(self.lines) + "\n"

    def function(self, name: str, schema: Any) -> None:
        body: list[str] = []
        self.node(schema, "v0", body, 1, root=schema is self.root)
        self.lines.append(f"def {name}(v0):")
        self.lines.extend(body)
        self.lines.append("    return True")
        self.lines.append("")

    def call(self, schema: Any) -> str:
        """A function of its own for ``schema`` (an anyOf option, a deep subschema)."""
        name = self.fresh("f")
        self.pending.append((name, schema))
        return name

    def ref(self, target: Any) -> str:
        """The function of a reference inside this schema (``#/$defs/x``,
        ``#/properties/error``); any other (another document, an anchor, a
        percent-escape) is unsupported.  Written once, so recursion works."""
        if target not in self.refs:
            self.refs[target] = self.call(self.target(target))
        return self.refs[target]

    def target(self, target: Any) -> Any:
        """The subschema a reference names."""
        if type(target) is not str or not target.startswith("#/") or "%" in target:
            raise _Unsupported(repr(target)[:40])
        node: Any = self.root
        for part in target[2:].split("/"):
            if type(node) is not dict:
                raise _Unsupported(target)
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    # -- one subschema, inlined: statements that return False on a failure ----

    def node(self, schema: Any, var: str, out: list[str], depth: int, root: bool = False) -> None:
        pad = "    " * depth
        if schema is True:
            return
        if schema is False:
            out.append(f"{pad}return False")
            return
        if type(schema) is not dict:
            raise _Unsupported(repr(schema)[:40])
        if depth > _MAX_NESTING:
            out.append(f"{pad}if not {self.call(schema)}({var}):")
            out.append(f"{pad}    return False")
            return
        for key in schema:
            if type(key) is not str or key not in _KEYWORDS and key not in _ANNOTATIONS and \
                    not (root and key in _ROOT_ONLY):
                raise _Unsupported(repr(key)[:40])
        # What the value's exact type may be once "type" has been checked.
        kinds: frozenset[str] = _JSON_TYPES
        if "type" in schema:
            kinds = self.type_check(schema["type"], var, out, pad)
        elif any(k in _APPLIES_TO for k in schema):
            # Without "type", a keyword for one type skips values of another: only
            # when the value is exactly a JSON type is that what jsonschema does.
            out.append(f"{pad}if type({var}) not in JSON_TYPES:")
            out.append(f"{pad}    return False")
            self.names["JSON_TYPES"] = (dict, list, str, int, float, bool, type(None))
        if "enum" in schema:
            if type(schema["enum"]) is not list:
                raise _Unsupported("enum")
            self.enum(schema["enum"], var, out, pad)
        if "const" in schema:
            self.enum([schema["const"]], var, out, pad)
        if "$ref" in schema:
            target = self.target(schema["$ref"])
            if _is_leaf(target):  # a time, an object id: inlined
                self.node(target, var, out, depth)
            else:
                out.append(f"{pad}if not {self.ref(schema['$ref'])}({var}):")
                out.append(f"{pad}    return False")
        if "anyOf" in schema:
            self.any_of(schema["anyOf"], var, out, depth)
        for kind, keys in (("str", ("pattern", "minLength", "maxLength")), ("number", ("minimum",)),
                           ("list", ("items",)),
                           ("dict", ("required", "properties", "additionalProperties"))):
            present = [k for k in keys if k in schema]
            if not present:
                continue
            exact = ("int", "float") if kind == "number" else (kind,)
            if not kinds & set(exact):
                continue  # "type" already refused every value these apply to
            inner = depth
            if kinds - set(exact) == {"NoneType"}:
                out.append(f"{pad}if {var} is not None:")
                inner = depth + 1
            elif not kinds <= set(exact):
                test = " or ".join(f"type({var}) is {t}" for t in exact)
                out.append(f"{pad}if {test}:")
                inner = depth + 1
            getattr(self, f"for_{kind}")(schema, var, out, inner)

    def type_kinds(self, arg: Any) -> set[str]:
        """The exact Python types of a "type" keyword's JSON type names."""
        names = [arg] if type(arg) is str else arg
        if type(names) is not list or not names:
            raise _Unsupported("type")
        kinds: set[str] = set()
        for n in names:
            if type(n) is not str or n not in _TYPES:
                raise _Unsupported(repr(n)[:40])
            kinds.update(_TYPES[n])
        return kinds

    def type_check(self, arg: Any, var: str, out: list[str], pad: str) -> frozenset[str]:
        kinds = self.type_kinds(arg)
        tests = [f"{var} is not None" if k == "NoneType" else f"type({var}) is not {k}" for k in sorted(kinds)]
        out.append(f"{pad}if {' and '.join(tests)}:")
        out.append(f"{pad}    return False")
        return frozenset(kinds)

    def enum(self, values: list[Any], var: str, out: list[str], pad: str) -> None:
        """JSON equality, as jsonschema's: a string equals only a string, a bool
        only a bool (True is not 1), numbers by value (1 is 1.0); a container in
        the enum is never matched here (not sure)."""
        strings = frozenset(v for v in values if type(v) is str)
        numbers = [v for v in values if type(v) in (int, float)]
        if any(not _is_number(v) for v in numbers):
            raise _Unsupported("enum")  # NaN is not equal to itself, except to jsonschema's `is`
        tests = []
        if strings:
            tests.append(f"type({var}) is str and {var} in {self.bind('S', strings)}")
        if numbers:
            tests.append(f"(type({var}) is int or type({var}) is float) and "
                         f"{var} in {self.bind('S', frozenset(numbers))}")
        for flag in (True, False):
            if any(v is flag for v in values):
                tests.append(f"{var} is {flag}")
        if any(v is None for v in values):
            tests.append(f"{var} is None")
        if not tests:
            out.append(f"{pad}return False")
            return
        out.append(f"{pad}if not ({' or '.join(f'({t})' for t in tests)}):")
        out.append(f"{pad}    return False")

    def any_of(self, options: Any, var: str, out: list[str], depth: int) -> None:
        pad = "    " * depth
        if type(options) is not list or not options:
            raise _Unsupported("anyOf")
        # Options that only name types (the {"type": "null"} of "a time or null") are
        # tested inline; when one other option is left, the value must pass it unless
        # it is of those types.
        kinds: set[str] = set()
        others = []
        for option in options:
            if type(option) is dict and "type" in option and all(k == "type" or k in _ANNOTATIONS for k in option):
                kinds |= self.type_kinds(option["type"])
            else:
                others.append(option)
        if len(others) <= 1:
            if kinds:
                tests = [_type_test(var, k) for k in sorted(kinds)]
                out.append(f"{pad}if not ({' or '.join(tests)}):")
                depth += 1
            body: list[str] = []
            self.node(others[0] if others else False, var, body, depth)
            out.extend(body or ([f"{pad}    pass"] if kinds else []))
            return
        tests = [_type_test(var, k) for k in sorted(kinds)]
        for option in others:
            if type(option) is dict and set(option) == {"$ref"}:
                tests.append(f"{self.ref(option['$ref'])}({var})")
            else:
                tests.append(f"{self.call(option)}({var})")
        out.append(f"{pad}if not ({' or '.join(tests)}):")
        out.append(f"{pad}    return False")

    def for_str(self, schema: dict[str, Any], var: str, out: list[str], depth: int) -> None:
        pad = "    " * depth
        if "pattern" in schema:
            if type(schema["pattern"]) is not str:
                raise _Unsupported("pattern")
            search = self.regexes.get(schema["pattern"])
            if search is None:
                search = self.regexes[schema["pattern"]] = self.bind("R", re.compile(schema["pattern"]).search)
            out.append(f"{pad}if {search}({var}) is None:")
            out.append(f"{pad}    return False")
        for key, op in (("minLength", "<"), ("maxLength", ">")):
            if key in schema:
                bound = schema[key]
                if type(bound) is not int or bound < 0:
                    raise _Unsupported(key)
                out.append(f"{pad}if len({var}) {op} {_literal(bound)}:")
                out.append(f"{pad}    return False")

    def for_number(self, schema: dict[str, Any], var: str, out: list[str], depth: int) -> None:
        pad = "    " * depth
        low = schema["minimum"]
        if not _is_number(low):
            raise _Unsupported("minimum")
        out.append(f"{pad}if {var} < {_literal(low)}:")
        out.append(f"{pad}    return False")

    def for_list(self, schema: dict[str, Any], var: str, out: list[str], depth: int) -> None:
        pad = "    " * depth
        each = schema["items"]
        if type(each) is not dict and type(each) is not bool:
            raise _Unsupported("items")  # the array form is another draft's (prefixItems)
        if each is True or each == {}:
            return
        item = self.fresh("v")
        out.append(f"{pad}for {item} in {var}:")
        body: list[str] = []
        self.node(each, item, body, depth + 1)
        out.extend(body or [f"{pad}    pass"])

    def for_dict(self, schema: dict[str, Any], var: str, out: list[str], depth: int) -> None:
        pad = "    " * depth
        props = schema.get("properties", {})
        required = schema.get("required", [])
        if type(props) is not dict or type(required) is not list or any(type(k) is not str for k in required):
            raise _Unsupported("properties")
        # A required name that is also declared is found by its lookup below.
        absent = [k for k in dict.fromkeys(required) if k not in props]
        if absent:
            out.append(f"{pad}if {' or '.join(f'{_literal(k)} not in {var}' for k in absent)}:")
            out.append(f"{pad}    return False")
        for name, sub in props.items():
            value = self.fresh("v")
            body: list[str] = []
            if name in required:
                self.node(sub, value, body, depth)
                out.append(f"{pad}{value} = {var}.get({_literal(name)}, MISSING)")
                out.append(f"{pad}if {value} is MISSING:")
                out.append(f"{pad}    return False")
                out.extend(body)
            else:
                self.node(sub, value, body, depth + 1)
                if body:  # (a property whose schema says nothing is not looked up)
                    out.append(f"{pad}{value} = {var}.get({_literal(name)}, MISSING)")
                    out.append(f"{pad}if {value} is not MISSING:")
                    out.extend(body)
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            known = self.bind("K", frozenset(props))
            if extra is False:
                out.append(f"{pad}if not {known}.issuperset({var}):")
                out.append(f"{pad}    return False")
            elif props:
                key, value = self.fresh("k"), self.fresh("v")
                body = []
                self.node(extra, value, body, depth + 2)
                if body:
                    out.append(f"{pad}for {key}, {value} in {var}.items():")
                    out.append(f"{pad}    if {key} not in {known}:")
                    out.extend(body)
            else:
                value = self.fresh("v")
                body = []
                self.node(extra, value, body, depth + 1)
                if body:
                    out.append(f"{pad}for {value} in {var}.values():")
                    out.extend(body)


_KEYWORDS = frozenset({"type", "enum", "const", "$ref", "anyOf", *_APPLIES_TO})
_LEAF_KEYWORDS = frozenset({"type", "enum", "const", "pattern", "minLength", "maxLength", "minimum"})


def generate(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The source of ``schema``'s check (function ``f0``) and the globals it needs.
    Raises _Unsupported (or KeyError, TypeError, re.error) for what it cannot check."""
    generator = _Generator(schema)
    return generator.source(), generator.names


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A fast check of ``schema``, or None when it uses what this does not handle."""
    try:
        source, names = generate(schema)
        code = compile(source, "<gitruns.schemacheck>", "exec")
    except (_Unsupported, KeyError, TypeError, ValueError, re.error, SyntaxError, RecursionError, MemoryError):
        return None  # (SyntaxError: nested deeper than Python allows)
    namespace: dict[str, Any] = {"__builtins__": {"type": type, "len": len}, **names}
    exec(code, namespace)
    check: Check = namespace["f0"]
    return check


_RECORD_CHECKS: dict[int, Check | None] = {}  # schema version -> its check, built on first use


def _record_check(version: int) -> Check | None:
    if version not in _RECORD_CHECKS:
        from . import record

        _RECORD_CHECKS[version] = compile_schema(record.schema(version))
    return _RECORD_CHECKS[version]


def run_record_ok(data: Any) -> bool:
    """Whether a parsed run.json is certainly valid against the schema of the
    version it claims (False: not sure; ask jsonschema)."""
    version = data.get("schema") if type(data) is dict else None
    if type(version) is not int:
        return False
    check = _RECORD_CHECKS.get(version)
    if check is None:
        from . import record

        if not 1 <= version <= record.SCHEMA_VERSION:
            return False
        check = _record_check(version)
    return check is not None and check(data)
