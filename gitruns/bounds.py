"""Bounded readers for record files that may come from elsewhere.

A record fetched from a remote (or crafted into refs/runs/*) is untrusted
input.  Before it is parsed, its size is checked (from the object header, so an
oversized blob is never read into memory by gitruns) and its nesting depth is
measured by a cheap scan; YAML is composed by a loader that counts the nodes
aliases expand to, so an alias bomb is refused instead of expanded later by
whoever walks the data.  Every refusal is a :class:`RecordError` that says why
in one line.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import RecordError

MiB = 1 << 20
# run.json: a record of 100,000 changed files is about 8 MiB.
MAX_RECORD_BYTES = 16 * MiB
# env.json (and any other JSON file), read by show and diff.
MAX_FILE_BYTES = 4 * MiB
# config.yaml: YAML is composed in Python (to be measured), about 10x slower
# than JSON; a config written by gitruns from hand-made files is a few KiB.
MAX_YAML_BYTES = 1 * MiB
# Nesting of arrays/objects (JSON) or sequences/mappings (YAML).  Python's own
# parsers and every recursive walk after them (validation, flattening, dumping)
# fail near 1,000; no record or config gitruns writes comes near 100.
MAX_DEPTH = 100
# Values (scalars and collections) of a YAML document once its aliases are
# expanded: what a walk over the loaded data (flatten, diff, dump) will visit.
MAX_YAML_NODES = 250_000

LIMITS = {"run.json": MAX_RECORD_BYTES, "config.yaml": MAX_YAML_BYTES, "env.json": MAX_FILE_BYTES}


def human_bytes(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"


def check_size(name: str, size: int, limit: int | None = None) -> None:
    most = LIMITS.get(name, MAX_FILE_BYTES) if limit is None else limit
    if size > most:
        raise RecordError(f"{name} refused: too large ({size:,} bytes; the limit is {human_bytes(most)})")


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes, stop: int = MAX_DEPTH) -> int:
    """The nesting depth of JSON text, counting brackets outside strings; stops
    counting once past ``stop``.  A few bytes.count() calls for a usual record."""
    opening = raw.count(b"[") + raw.count(b"{")
    if opening <= stop:
        return opening  # cannot be deeper than that
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for b in brackets:
        if b == 0x5B or b == 0x7B:  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    break
        else:
            depth -= 1
    return deepest


def load_json(raw: bytes, name: str) -> Any:
    """JSON from ``name`` (already size-checked), refusing deep nesting before parsing."""
    if json_depth(raw) > MAX_DEPTH:
        raise RecordError(f"{name} refused: nested more than {MAX_DEPTH} levels deep")
    try:
        return _decoder().decode(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{name} is not valid JSON: {exc}") from None
    except RecursionError:  # not reached after the depth check; kept as a backstop
        raise RecordError(f"{name} refused: nested too deeply") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float (1e999) is refused, as NaN
    and Infinity are: it would come back out as Infinity, which is not JSON."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text[:40]} is too large a number")
    return value


_DECODER: json.JSONDecoder | None = None


def _decoder() -> json.JSONDecoder:
    """One decoder for all (json.loads with an argument builds one per call).
    NaN and Infinity are not JSON (gitruns never writes them), and they break
    arithmetic on durations and metrics downstream."""
    global _DECODER
    if _DECODER is None:
        _DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite)
    return _DECODER


def load_yaml(raw: bytes, name: str = "config.yaml") -> Any:
    """YAML (safe types only) within MAX_DEPTH and MAX_YAML_NODES after alias expansion."""
    import yaml

    check_size(name, len(raw))
    try:
        loader = _loader_class()(raw)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _Refused as exc:
        raise RecordError(f"{name} refused: {exc}") from None
    except RecursionError:
        raise RecordError(f"{name} refused: nested too deeply") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        if "maximum nesting depth" in detail:  # libyaml's own limit (PyYAML 6.0.4 and later)
            raise RecordError(f"{name} refused: nested too deeply") from None
        raise RecordError(f"{name} is not valid YAML: {detail[:200]}") from None


class _Refused(Exception):
    pass


_SCALAR = (1, 1)  # (height, expanded nodes) of a scalar, which is not stored


_LOADER: Any = None


def _loader_class() -> Any:
    """A safe loader whose composer measures every node: its height and how many
    nodes it stands for once aliases are expanded.  libyaml parses when present
    (fast); composing stays in Python, which is where the measuring happens."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml
    from yaml.composer import Composer
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    class Measuring(Composer):
        def __init__(self) -> None:
            super().__init__()
            self._depth = 0
            self._size: dict[int, tuple[int, int]] = {}  # id(node) -> (height, expanded nodes)
            self._keep: list[Any] = []  # keeps measured nodes alive, so ids stay unique

        def compose_node(self, parent: Any, index: Any) -> Any:
            alias = self.check_event(yaml.AliasEvent)  # type: ignore[attr-defined]  # from the Parser mixed in
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            if isinstance(node, ScalarNode):
                return node  # height 1, one value: nothing to refuse
            measured = self._size.get(id(node))
            if measured is None:
                if alias:  # an alias to a node still being composed: a recursive structure
                    raise _Refused("an alias refers to a node that contains it")
                children: list[Any] = node.value if isinstance(node, SequenceNode) else (
                    [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else [])
                height, count = 1, 1
                for child in children:
                    h, c = self._size.get(id(child), _SCALAR)
                    if h >= height:
                        height = h + 1
                    count += c
                measured = (height, count)
                self._size[id(node)] = measured
                self._keep.append(node)
            height, count = measured
            if height > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep once aliases are expanded")
            if count > MAX_YAML_NODES:
                raise _Refused(f"more than {MAX_YAML_NODES:,} values once aliases are expanded")
            return node

    try:
        from yaml.cyaml import CParser as Parser  # type: ignore[attr-defined]  # not in the stubs

        def init_parser(self: Any, stream: bytes) -> None:
            Parser.__init__(self, stream)
    except ImportError:  # no libyaml: the pure-Python reader, scanner and parser
        from yaml.parser import Parser as PyParser
        from yaml.reader import Reader
        from yaml.scanner import Scanner

        class Parser(Reader, Scanner, PyParser):  # type: ignore[no-redef]
            pass

        def init_parser(self: Any, stream: bytes) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            PyParser.__init__(self)

    class Loader(Measuring, Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        # Measuring comes first, so its get_node/compose_* win over CParser's own.
        get_node = Composer.get_node
        check_node = Composer.check_node
        get_single_node = Composer.get_single_node

        def __init__(self, stream: bytes) -> None:
            init_parser(self, stream)
            Measuring.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        def dispose(self) -> None:
            if hasattr(Parser, "dispose"):
                Parser.dispose(self)

    _LOADER = Loader
    return Loader
