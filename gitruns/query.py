"""The query language of ``--where`` and ``--sort``, compiled to SQL over the run index.

Pure: no git, no files.  :func:`parse` reads the user's text into an :class:`Expr`,
:func:`compile_where` turns it into an SQL boolean expression with ``?`` parameters
over the index tables (``v`` visible, ``r`` runs, ``attrs`` subqueried), and
:func:`parse_sort` / :func:`compile_order` do the same for an ORDER BY body.  User
text reaches SQL only as parameters; every identifier comes from the fixed maps
below.  :func:`register` adds the SQL functions the compiled text calls.  The
language, as a user reads it, is docs/queries.md.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    import sqlite3

MAX_TEXT = 4000
MAX_DEPTH = 64
MAX_IN = 1000

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "!~")

# The run columns a query may name, as the SQL that reads them and how values compare.
# kind: text (compare as text), time (epoch seconds; values as `ls --since`),
# seconds (a duration; values with a unit), bool (true/false), commit (hex prefix).
_STATUS_SQL = ("CASE WHEN r.status = 'running' "
               "THEN run_status(r.status, r.host, r.pid, r.process) ELSE r.status END")
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("v.run_id", "text"),
    "name": ("r.name", "text"),
    "status": (_STATUS_SQL, "text"),
    "kind": ("r.kind", "text"),
    "started": ("r.started", "time"),
    "ended": ("r.ended", "time"),
    "duration": ("r.duration", "seconds"),
    "run_group": ("r.run_group", "text"),
    "rerun_of": ("r.rerun_of", "text"),
    "code.commit": ("r.code_commit", "commit"),
    "code.branch": ("r.code_branch", "text"),
    "code.dirty": ("r.code_dirty", "bool"),
    "user": ("r.user", "text"),
    "host": ("r.host", "text"),
    "invoked_by": ("r.invoked_by", "text"),
    "retired": ("r.retired", "bool"),
}
ALIASES = {"group": "run_group"}
_PREFIXES = ("params.", "config.", "metrics.", "tags.", "env.packages.", "step.")
_ENV = ("env.python", "env.os", "env.gpu")
KNOWN = ("params.*, config.*, metrics.*, tags.*, env.python, env.os, env.gpu, env.packages.<name>, "
         "step.<name>.status|duration|metrics.<m>, " + ", ".join(COLUMNS) + ", group")

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([smhdw]?)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_BIG_INT = re.compile(r"^[-+]?\d+$")
_NUMBERISH = re.compile(r"^[-+]?\.?\d")  # a bare word that starts like a number: a mistyped one
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")
_WORD_STOP = set(" \t\r\n()=!<>~,'\"")


class QueryError(UsageError):
    """A malformed ``--where`` or ``--sort``: one line naming the column (exit 2)."""

    def __init__(self, option: str, message: str, text: str, column: int, hint: str = "") -> None:
        from .terminal import safe

        # Every part may hold the user's text (a field name, a value): all made safe.
        tail = f" ({safe(hint)})" if hint else ""
        super().__init__(f"{option}: {safe(message)} at column {column}: {safe(_window(text, column))}{tail}")
        self.column = column


def _window(text: str, column: int, most: int = 80) -> str:
    """At most ``most`` characters of ``text`` around ``column``, ellipses where cut."""
    if len(text) <= most:
        return text
    start = max(0, min(column - 1 - most // 2, len(text) - most))
    piece = text[start:start + most]
    return ("…" if start else "") + piece + ("…" if start + most < len(text) else "")


@dataclass(frozen=True)
class Field:
    """A field as the query named it: ``name`` canonical (``config.x`` is ``params.x``,
    ``group`` is ``run_group``, package names PEP 503), ``attr`` the attrs key or None
    for a run column."""

    name: str
    attr: str | None
    kind: str  # for attrs: "attr" or "version"; for columns, COLUMNS' kind


@dataclass(frozen=True)
class Value:
    kind: str  # number, string (quoted), word (bare), true, false, null, regex
    text: str  # as written (a quoted string unescaped; a regex its pattern)
    column: int
    number: float | None = None


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # one of OPERATORS, or "in" / "not in"
    values: tuple[Value, ...]
    column: int
    source: str = dataclasses.field(repr=False, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Compare | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool


# -- parsing ----------------------------------------------------------------------


def normalize_package(name: str) -> str:
    """A package name as PEP 503 compares them: case folded, runs of -_. one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve_field(name: str) -> Field | None:
    """The field ``name`` refers to, or None when it names none."""
    lowered = name.lower()
    if lowered in ALIASES:
        lowered = ALIASES[lowered]
    if lowered in COLUMNS:
        return Field(lowered, None, COLUMNS[lowered][1])
    if lowered in _ENV:
        return Field(lowered, lowered, "version" if lowered == "env.python" else "attr")
    for prefix in _PREFIXES:
        if not name.lower().startswith(prefix):
            continue
        rest = name[len(prefix):]
        if not rest or rest.startswith(".") or rest.endswith("."):
            return None
        if prefix == "config.":
            return Field("params." + rest, "params." + rest, "attr")
        if prefix == "env.packages.":
            key = "env.packages." + normalize_package(rest)
            return Field(key, key, "version")
        if prefix == "step.":
            return _step_field(rest)
        return Field(prefix + rest, prefix + rest, "attr")
    return None


def _step_field(rest: str) -> Field | None:
    for tail in (".status", ".duration"):
        if rest.endswith(tail) and len(rest) > len(tail):
            return Field("step." + rest, "step." + rest, "attr")
    step, sep, metric = rest.partition(".metrics.")
    if sep and step and metric:
        return Field("step." + rest, "step." + rest, "attr")
    return None


class _Parser:
    def __init__(self, text: str, option: str) -> None:
        self.text = text
        self.option = option
        self.pos = 0
        self.depth = 0

    def fail(self, message: str, pos: int | None = None, hint: str = "") -> QueryError:
        at = self.pos if pos is None else pos
        if at >= len(self.text.rstrip()):
            at = len(self.text.rstrip())
        return QueryError(self.option, message, self.text, at + 1, hint)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek_char(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def peek_word(self) -> str:
        """The bare word at the cursor, lower-cased, without consuming it."""
        self.skip()
        end = self.pos
        while end < len(self.text) and self.text[end] not in _WORD_STOP:
            end += 1
        return self.text[self.pos:end].lower()

    def word(self) -> tuple[str, int]:
        self.skip()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _WORD_STOP:
            self.pos += 1
        return self.text[start:self.pos], start

    def keyword(self, name: str) -> bool:
        if self.peek_word() == name:
            self.pos += len(name)
            return True
        return False

    # expr := and ('or' and)* ; and := unary ('and' unary)* ; unary := 'not' unary | primary
    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.keyword("or"):
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_unary()]
        while self.keyword("and"):
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Expr:
        start = self.pos
        if self.keyword("not"):
            self.enter(start)
            item = self.parse_unary()
            self.depth -= 1
            return Not(item)
        return self.parse_primary()

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels", pos)

    def parse_primary(self) -> Expr:
        char = self.peek_char()
        if char == "(":
            start = self.pos
            self.enter(start)
            self.pos += 1
            if self.peek_char() == ")":
                raise self.fail("empty parentheses")
            inner = self.parse_or()
            if self.peek_char() != ")":
                if self.at_end():
                    raise self.fail("'(' is never closed", start)
                raise self.fail(f"expected 'and', 'or' or ')' but found {self.found()}")
            self.pos += 1
            self.depth -= 1
            return inner
        if not char:
            raise self.fail("expected a comparison like metrics.acc > 0.9")
        if char in _WORD_STOP:
            raise self.fail(f"expected a field name but found {self.found()}")
        return self.parse_comparison()

    def found(self) -> str:
        self.skip()
        if self.pos >= len(self.text):
            return "the end"
        char = self.text[self.pos]
        if char in _WORD_STOP:
            return f"'{char}'"
        return f"'{self.peek_word_raw()}'"

    def peek_word_raw(self) -> str:
        end = self.pos
        while end < len(self.text) and self.text[end] not in _WORD_STOP:
            end += 1
        return _clip(self.text[self.pos:end])

    def parse_comparison(self) -> Expr:
        name, start = self.word()
        if name.lower() in ("and", "or", "in"):
            raise self.fail(f"expected a field name but found '{name}'", start)
        fld = resolve_field(name)
        if fld is None:
            message, hint = _unknown(name)
            raise self.fail(message, start, hint)
        if self.keyword("in"):
            return self.parse_in(fld, "in", start)
        if self.peek_word() == "not":
            self.keyword("not")
            if not self.keyword("in"):
                raise self.fail("expected 'in' after 'not'")
            return self.parse_in(fld, "not in", start)
        op = self.operator()
        if op is None:
            if self.at_end():
                raise self.fail(f"expected an operator (= != < <= > >= ~ in) after '{_clip(name)}'")
            raise self.fail(f"expected an operator (= != < <= > >= ~ in) but found {self.found()}")
        value = self.value(op)
        return Compare(fld, op, (value,), start + 1, self.text)

    def operator(self) -> str | None:
        self.skip()
        for op in ("!=", "<=", ">=", "!~", "=", "<", ">", "~"):
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    def parse_in(self, fld: Field, op: str, start: int) -> Expr:
        if self.peek_char() != "(":
            raise self.fail(f"expected '(' after '{op}'")
        self.pos += 1
        values: list[Value] = []
        while True:
            if self.peek_char() == ")" and values:
                break
            values.append(self.value(op))
            if len(values) > MAX_IN:
                raise self.fail(f"more than {MAX_IN} values in one '{op}' list")
            char = self.peek_char()
            if char == ",":
                self.pos += 1
                continue
            if char == ")":
                break
            if not char:
                raise self.fail(f"the '{op}' list is never closed with ')'")
            raise self.fail(f"expected ',' or ')' in the '{op}' list but found {self.found()}")
        self.pos += 1
        return Compare(fld, op, tuple(values), start + 1, self.text)

    def value(self, op: str) -> Value:
        char = self.peek_char()
        start = self.pos
        if not char:
            raise self.fail(f"expected a value after '{op}'")
        if char in "'\"":
            return Value("string", self.quoted(char), start + 1)
        if char == "/" and op in ("~", "!~"):
            return self.regex()
        if char in _WORD_STOP:
            raise self.fail(f"expected a value after '{op}' but found '{char}'")
        text, _ = self.word()
        lowered = text.lower()
        if lowered in ("true", "false", "null"):
            return Value(lowered, text, start + 1)
        if lowered in ("and", "or", "not"):
            raise self.fail(f"expected a value after '{op}' but found '{text}'", start)
        if _NUMBER.match(text):
            return Value("number", text, start + 1, float(text))
        return Value("word", text, start + 1)

    def quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.fail(f"unterminated string: no closing {quote}", start)

    def regex(self) -> Value:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.text.startswith("/", self.pos + 1):
                out.append("/")
                self.pos += 2
                continue
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos:self.pos + 2])
                self.pos += 2
                continue
            if char == "/":
                self.pos += 1
                pattern = "".join(out)
                if self.pos < len(self.text) and self.text[self.pos] == "i":
                    self.pos += 1
                    pattern = "(?i)" + pattern
                if self.pos < len(self.text) and self.text[self.pos] not in _WORD_STOP:
                    raise self.fail("unexpected text after the regex (only the flag 'i' may follow)")
                try:
                    _compiled(pattern)
                except re.error as exc:
                    raise self.fail(f"bad regex: {exc.msg}", start) from None
                return Value("regex", pattern, start + 1)
            out.append(char)
            self.pos += 1
        raise self.fail("unterminated regex: no closing /", start)


def _clip(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _unknown(name: str) -> tuple[str, str]:
    """What is wrong with the field ``name``, and a hint."""
    import difflib

    lowered = name.lower()
    shown = _clip(name)
    for prefix in ("params", "config", "metrics", "tags", "env.packages"):
        if lowered in (prefix, prefix + "."):
            return f"'{shown}' needs a key", f"{prefix}.<name>"
    if lowered.startswith("step."):
        return f"'{shown}' is not a step field", "step.<name>.status, .duration or .metrics.<m>"
    if lowered.startswith("env."):
        return f"unknown field '{shown}'", "env.python, env.os, env.gpu or env.packages.<name>"
    close = difflib.get_close_matches(lowered, [*COLUMNS, *ALIASES, *_ENV], n=1)
    if close:
        hint = f"did you mean {close[0]}? "
    elif "." not in name and not any(c in _WORD_STOP for c in name):
        hint = f"did you mean params.{shown} or metrics.{shown}? "
    else:
        hint = ""
    return f"unknown field '{shown}'", f"{hint}fields: {KNOWN}"


def parse(text: str, option: str = "--where") -> Expr:
    """``text`` read as a ``--where`` expression; QueryError (exit 2) when malformed."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"{option}: the expression is {len(text)} characters; at most {MAX_TEXT}")
    parser = _Parser(text, option)
    if parser.at_end():
        raise parser.fail("empty expression: expected a comparison like metrics.acc > 0.9")
    expr = parser.parse_or()
    if not parser.at_end():
        if parser.peek_char() == ")":
            raise parser.fail("')' without a matching '('")
        raise parser.fail(f"expected 'and', 'or' or the end but found {parser.found()}")
    return expr


def fields(expr: Expr) -> set[str]:
    """The canonical field names ``expr`` uses (``config.x`` as ``params.x``)."""
    if isinstance(expr, Compare):
        return {expr.field.name}
    if isinstance(expr, Not):
        return fields(expr.item)
    out: set[str] = set()
    for item in expr.items:
        out |= fields(item)
    return out


# -- compiling ----------------------------------------------------------------------

def _rows(key: str | None) -> tuple[str, str, str]:
    """(FROM body aliased ``a``, its run column, the runs column that names) holding
    the rows of an attrs key: ``env.packages.*`` are kept once per environment, not
    once per run, and found through the run's commit; attrs name a run by ``runs.n``
    (gitruns.runindex)."""
    if key is not None and key.startswith("env.packages."):
        return "env_attrs a JOIN run_env re ON re.env_id = a.env_id", "re.commit_id", "r.commit_id"
    return "attrs a", "a.run", "r.n"


BROAD = 2000  # a condition met by at least this many rows is "broad" (see _has)

Probe = Callable[[str, list[Any]], int]


def _has(cond: str, key: str | None, params: list[Any], start: int, probe: Probe | None) -> str:
    """The runs with a row of the key (``params[start]``) meeting ``cond`` (whose
    parameters follow it in ``params``).

    Two ways to write it, each much faster in its own case (at 100,000 runs, 0.1 ms
    against 90-370 ms):

    - membership in an uncorrelated subquery: SQLite builds the set once from the
      (key, num) or (key, txt) index and starts from it: best when few rows match;
    - a correlated ``EXISTS``: each run, in the listing's order, probes attrs once,
      and a ``LIMIT`` stops after a few: best when many match.

    ``probe`` (from :func:`compile_where`) counts the matching rows up to
    :data:`BROAD`; without one, the subquery.  attrs.run is never NULL (the index
    writes every row from a run), so ``NOT`` of either is never NULL either."""
    source, inner, outer = _rows(key)
    body = f"FROM {source} WHERE a.key = ? AND {cond}"
    if probe is not None and probe(f"SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT {BROAD})",
                                   params[start:]) >= BROAD:
        return f"EXISTS (SELECT 1 {body} AND {inner} = {outer})"
    return f"{outer} IN (SELECT {inner} {body})"


_SQL_OP = {"=": "=", "!=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def compile_where(expr: Expr, now: dt.datetime, probe: Probe | None = None) -> tuple[str, list[Any]]:
    """``expr`` as an SQL boolean (never NULL) with ``?`` placeholders, and its parameters.
    ``probe(sql, params)``: runs a counting query over the index, which chooses how
    each condition on params, metrics, tags or env is written (:func:`_has`); the
    runs selected are the same either way."""
    params: list[Any] = []
    sql = _compile(expr, now, params, probe)
    return sql, params


def _compile(expr: Expr, now: dt.datetime, params: list[Any], probe: Probe | None) -> str:
    if isinstance(expr, (And, Or)):
        word = " AND " if isinstance(expr, And) else " OR "
        return _balanced([_compile(item, now, params, probe) for item in expr.items], word)
    if isinstance(expr, Not):
        return "(NOT " + _compile(expr.item, now, params, probe) + ")"
    if expr.field.attr is not None:
        return _attr(expr, params, probe)
    return _column(expr, now, params)


def _balanced(parts: list[str], word: str) -> str:
    """``parts`` joined by ``word`` as a balanced tree: SQLite parses ``a OR b OR c``
    left-deep and refuses expressions nested 1,000 deep, so a long chain is grouped."""
    if len(parts) <= 16:
        return "(" + word.join(parts) + ")"
    half = len(parts) // 2
    return "(" + _balanced(parts[:half], word) + word + _balanced(parts[half:], word) + ")"


def _fail(cmp: Compare, value: Value | None, message: str) -> QueryError:
    return QueryError("--where", message, cmp.source, value.column if value else cmp.column)


def _attr(cmp: Compare, params: list[Any], probe: Probe | None) -> str:
    """A comparison over attrs.  True only for runs that have the key (with a value that
    is not null); ``!=`` and ``not in`` mean: has the key, and no value of it matches."""
    key = cmp.field.attr
    assert key is not None
    value = cmp.values[0]
    if value.kind == "null":
        if cmp.op not in ("=", "!="):
            raise _fail(cmp, value, f"null compares only with = or !=, not '{cmp.op}'")
        start = len(params)
        params.append(key)
        present = _has("a.txt IS NOT 'null'", key, params, start, probe)
        return present if cmp.op == "!=" else f"(NOT {present})"
    if cmp.op in ("!=", "!~", "not in"):
        positive = {"!=": "=", "!~": "~", "not in": "in"}[cmp.op]
        start = len(params)
        params.append(key)
        present = _has("a.txt IS NOT 'null'", key, params, start, probe)
        match = _attr_match(cmp, positive, params, probe)
        return f"({present} AND NOT {match})"
    return _attr_match(cmp, cmp.op, params, probe)


def _attr_match(cmp: Compare, op: str, params: list[Any], probe: Probe | None) -> str:
    start = len(params)
    params.append(cmp.field.attr)
    if op == "in":
        return _has(_attr_in(cmp, params), cmp.field.attr, params, start, probe)
    return _has(_attr_cond(cmp, cmp.values[0], op, params), cmp.field.attr, params, start, probe)


def _attr_in(cmp: Compare, params: list[Any]) -> str:
    """``a.num IN (...) OR a.txt IN (...)``: a list of 1,000 values stays one shallow
    expression (SQLite refuses expressions nested 1,000 deep)."""
    nums: list[Any] = []
    words: list[Any] = []  # bare numbers also match text that reads the same
    txts: list[Any] = []
    versions: list[Any] = []
    for value in cmp.values:
        if value.kind == "null":
            raise _fail(cmp, value, "null cannot be in a list; use = null or != null")
        if value.kind == "regex":
            raise _fail(cmp, value, "a /regex/ needs '~'")
        version = _version_of(cmp, value)
        if version is not None:
            versions.append(version)
        elif value.kind == "number":
            nums.append(value.number)
            words.append(value.text)
        elif value.kind in ("true", "false"):
            txts.append(value.kind)
        else:
            txts.append(value.text)
    conds = []
    for sql, group in (("a.num IN", nums), ("(a.num IS NULL AND a.txt IN", words),
                       ("a.txt IN", txts), ("gitruns_version_key(a.txt) IN", versions)):
        if group:
            close = "))" if sql.startswith("(") else ")"
            conds.append(f"{sql} ({', '.join('?' * len(group))}{close}")
            params.extend(group)
    return "(" + " OR ".join(conds) + ")"


def _version_of(cmp: Compare, value: Value) -> str | None:
    """The version key of ``value`` when ``cmp`` is on a version field and it reads as one."""
    if cmp.field.kind != "version" or value.kind not in ("number", "word", "string"):
        return None
    return version_key(value.text)


def _attr_cond(cmp: Compare, value: Value, op: str, params: list[Any]) -> str:
    if op == "~":
        return _match("a.txt", value, params)
    if value.kind == "regex":
        raise _fail(cmp, value, "a /regex/ needs '~'")
    if value.kind in ("true", "false"):
        if op != "=":
            raise _fail(cmp, value, f"{value.kind} compares only with = or !=")
        params.append(value.kind)
        return "a.txt = ?"
    version = _version_of(cmp, value)
    if version is not None:
        params.append(version)
        return f"gitruns_version_key(a.txt) {_SQL_OP[op]} ?"
    if cmp.field.kind == "version" and op != "=":
        raise _fail(cmp, value, f"'{_clip(value.text)}' is not a version like 2.1 or 2.1.0rc1")
    if value.kind == "number" and op == "=" and _BIG_INT.match(value.text) and abs(int(value.text)) > 2 ** 53:
        # Beyond 2**53 a float cannot tell neighbouring integers apart (a seed): compare the digits.
        params.append(str(int(value.text)))
        return "a.txt = ?"
    if value.kind == "word" and op in ("<", "<=", ">", ">=") and _NUMBERISH.match(value.text):
        raise _fail(cmp, value, f"'{_clip(value.text)}' is not a number (quote it to compare it as text)")
    if value.kind == "number":
        if op == "=":  # 0.01 also matches a string "0.01" (a param written quoted in YAML)
            params += [value.number, value.text]
            return "(a.num = ? OR (a.num IS NULL AND a.txt = ?))"
        params.append(value.number)
        return f"a.num {_SQL_OP[op]} ?"
    params.append(value.text)
    return f"a.txt {_SQL_OP[op]} ?"


def _match(column: str, value: Value, params: list[Any]) -> str:
    params.append(value.text)
    return f"{column} REGEXP ?" if value.kind == "regex" else f"{column} GLOB ?"


def _column(cmp: Compare, now: dt.datetime, params: list[Any]) -> str:
    """A comparison over a run column.  A NULL column makes it false, never NULL, so
    ``not`` negates it as a boolean."""
    sql, kind = COLUMNS[cmp.field.name]
    if cmp.op in ("in", "not in"):
        conds = [_column_cond(cmp, sql, kind, "=", v, now, params) for v in cmp.values]
        inner = _balanced(conds, " OR ")
        if cmp.op == "not in":
            inner = f"NOT {inner}"
        return f"({sql} IS NOT NULL AND {inner})"
    value = cmp.values[0]
    if value.kind == "null":
        if cmp.op not in ("=", "!="):
            raise _fail(cmp, value, f"null compares only with = or !=, not '{cmp.op}'")
        return f"({sql} IS NULL)" if cmp.op == "=" else f"({sql} IS NOT NULL)"
    negate = cmp.op in ("!=", "!~")
    op = {"!=": "=", "!~": "~"}.get(cmp.op, cmp.op)
    cond = _column_cond(cmp, sql, kind, op, value, now, params)
    return f"({sql} IS NOT NULL AND {'NOT ' if negate else ''}{cond})"


def _column_cond(cmp: Compare, sql: str, kind: str, op: str, value: Value,
                 now: dt.datetime, params: list[Any]) -> str:
    name = cmp.field.name
    if value.kind == "null":
        raise _fail(cmp, value, "null cannot be in a list; use = null or != null")
    if op == "~":
        if kind not in ("text", "commit"):
            raise _fail(cmp, value, f"'~' matches text; {name} is a {_KIND_WORDS[kind]}")
        return "(" + _match(sql, value, params) + ")"
    if value.kind == "regex":
        raise _fail(cmp, value, "a /regex/ needs '~'")
    if kind == "bool":
        if op != "=" or value.kind not in ("true", "false"):
            raise _fail(cmp, value, f"{name} is true or false (compare with = or !=)")
        params.append(1 if value.kind == "true" else 0)
        return f"{sql} = ?"
    if kind == "commit":
        if op != "=":
            raise _fail(cmp, value, f"{name} compares with =, !=, in or ~ (a prefix of 4+ hex digits)")
        if not _HEX.match(value.text):
            raise _fail(cmp, value, f"{name} takes a commit id or a prefix of 4 or more hex digits")
        params.append(value.text.lower() + "%")
        return f"{sql} LIKE ?"
    if kind == "time":
        params.append(_when(cmp, value, now))
    elif kind == "seconds":
        params.append(_seconds(cmp, value))
    elif value.kind in ("true", "false"):
        params.append(value.kind)
    else:
        params.append(value.text)
    return f"{sql} {_SQL_OP[op]} ?"


_KIND_WORDS = {"time": "time", "seconds": "duration", "bool": "true/false flag"}


def _when(cmp: Compare, value: Value, now: dt.datetime) -> float:
    from .timeutil import parse_when

    try:
        return parse_when(value.text, now).timestamp()
    except UsageError as exc:
        raise _fail(cmp, value, str(exc)) from None


def _seconds(cmp: Compare, value: Value) -> float:
    match = _DURATION.match(value.text.strip())
    if not match:
        raise _fail(cmp, value, f"'{_clip(value.text)}' is not a duration like 90, 90s, 5m, 2h, 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


# -- sorting ------------------------------------------------------------------------

TIE_BREAK = "r.started DESC, v.run_id DESC"


def parse_sort(text: str | Sequence[str]) -> list[SortKey]:
    """``-metrics.acc,params.lr`` (or several such texts): fields, ``-`` descending,
    ``+`` or nothing ascending."""
    texts = [text] if isinstance(text, str) else list(text)
    keys: list[SortKey] = []
    for item in texts:
        if len(item) > MAX_TEXT:
            raise UsageError(f"--sort: the text is {len(item)} characters; at most {MAX_TEXT}")
        pos = 0
        for part in item.split(","):
            stripped = part.strip()
            column = pos + len(part) - len(part.lstrip()) + 1
            pos += len(part) + 1
            if not stripped:
                raise QueryError("--sort", "expected a field name", item, column)
            descending = stripped.startswith("-")
            name = stripped[1:].lstrip() if stripped[0] in "+-" else stripped
            if not name:
                raise QueryError("--sort", "expected a field name after the sign", item, column + 1)
            fld = resolve_field(name)
            if fld is None or any(c in _WORD_STOP for c in name):
                message, hint = _unknown(name)
                raise QueryError("--sort", message, item, column + (stripped != name), hint)
            keys.append(SortKey(fld, descending))
    return keys


def compile_order(keys: Sequence[SortKey]) -> tuple[str, list[Any]]:
    """An ORDER BY body: the keys, then ``r.started DESC, v.run_id DESC``.  A run that
    lacks a key sorts after those that have it in both directions; for an attrs key,
    numbers come before text (each ordered in the key's direction)."""
    parts: list[str] = []
    params: list[Any] = []
    for key in keys:
        way = "DESC" if key.descending else "ASC"
        agg = "MAX" if key.descending else "MIN"
        fld = key.field
        source, inner, outer = _rows(fld.attr)
        if fld.attr is None:
            parts.append(f"{COLUMNS[fld.name][0]} {way} NULLS LAST")
        elif fld.kind == "version":
            parts.append(f"(SELECT {agg}(gitruns_version_key(a.txt)) FROM {source} "
                         f"WHERE {inner} = {outer} AND a.key = ?) {way} NULLS LAST")
            params.append(fld.attr)
        elif key.descending:
            # One subquery a key, its value read once a run: ascending over -num and
            # text with its bytes complemented puts numbers (largest first) before text
            # (last in code point order first); MIN prefers a number, as numbers sort
            # before blobs.
            parts.append("(SELECT MIN(CASE WHEN a.num IS NOT NULL THEN -a.num WHEN a.txt IS NOT 'null' "
                         f"THEN gitruns_text_desc(a.txt) END) FROM {source} "
                         f"WHERE {inner} = {outer} AND a.key = ?) ASC NULLS LAST")
            params.append(fld.attr)
        else:
            parts.append("(SELECT MIN(CASE WHEN a.num IS NOT NULL THEN a.num WHEN a.txt IS NOT 'null' "
                         f"THEN a.txt END) FROM {source} "
                         f"WHERE {inner} = {outer} AND a.key = ?) ASC NULLS LAST")
            params.append(fld.attr)
    parts.append(TIE_BREAK)
    return ", ".join(parts), params


# -- SQL functions ------------------------------------------------------------------

_VERSION_PATTERN = (
    r"^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)"
    r"(?:[-_.]?(a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?"
    r"(?:[-_.]?(post|rev|r)[-_.]?(\d*)|-(\d+))?"
    r"(?:[-_.]?(dev)[-_.]?(\d*))?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*$"
)  # compiled on first use (version_key): compiling it costs every command that imports this
_PRE = {"a": "1", "alpha": "1", "b": "2", "beta": "2", "c": "3", "rc": "3", "pre": "3", "preview": "3"}


@lru_cache(maxsize=4096)
def version_key(text: str | None) -> str | None:
    """A string that sorts as PEP 440 orders versions (``2.9`` < ``2.10`` < ``2.10.1``;
    ``2.0rc1`` < ``2.0`` < ``2.0.post1``; trailing ``.0`` and a ``+local`` label do not
    count), or None for text that is no version."""
    if text is None:
        return None
    match = re.match(_VERSION_PATTERN, text, re.IGNORECASE)  # re caches the compiled pattern
    if not match:
        return None
    epoch, release, pre, pre_n, post, post_n, post_implicit, dev, dev_n = match.groups()
    parts = [int(p) for p in release.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    key = f"{int(epoch or 0):04d}:" + ".".join(f"{p:010d}" for p in parts)
    # After the release, one phase character then its number: dev < pre < final < post;
    # ' ' sorts before '.', so 2.0 (and 2.0rc1) come before 2.0.1.
    if pre:
        key += f" {_PRE[pre.lower()]}{int(pre_n or 0):010d}"
    elif post or post_implicit:
        key += f" 7{int(post_n or post_implicit or 0):010d}"
    elif dev:
        key += f" 0{int(dev_n or 0):010d}"
    else:
        key += " 5"
    if dev and (pre or post or post_implicit):
        key += f" 0{int(dev_n or 0):010d}"  # 2.0rc1.dev1 < 2.0rc1
    elif pre or post or post_implicit:
        key += " 5"
    return key


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: object) -> bool:
    if pattern is None or value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


def _text_desc(text: str | None) -> bytes | None:
    """A blob that sorts (bytewise, as SQLite compares blobs) in the reverse order of
    ``text`` (UTF-8 bytes compare in code point order): each byte complemented, then
    0xFF so that a longer text with the same start comes first."""
    if text is None:
        return None
    return bytes(255 - b for b in text.encode("utf-8", "surrogatepass")) + b"\xff"


def _run_status(status: str | None, host: str | None, pid: int | None, process: str | None) -> str | None:
    import json

    from .record import effective_status

    if status is None:
        return None
    try:
        proc = json.loads(process) if process else None
    except ValueError:
        proc = None
    rec = {"status": status, "host": host, "pid": pid, "process": proc if isinstance(proc, dict) else None}
    return effective_status(rec)


def register(db: sqlite3.Connection) -> None:
    """Add the SQL functions compiled queries call: REGEXP, gitruns_version_key,
    gitruns_text_desc and run_status."""
    db.create_function("regexp", 2, _regexp, deterministic=True)
    db.create_function("gitruns_version_key", 1, version_key, deterministic=True)
    db.create_function("gitruns_text_desc", 1, _text_desc, deterministic=True)
    db.create_function("run_status", 4, _run_status)
