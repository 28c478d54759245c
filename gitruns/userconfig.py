"""The effective configuration of a run: files, then ``-p`` overrides.

Files are YAML or JSON mappings (JSON is YAML, but ``.json`` files are read as
JSON so errors name the JSON line).  Later files win; nested mappings merge
key by key.  ``-p a.b=value`` sets a nested key, the value typed as a YAML 1.2
core-schema scalar (``3`` int, ``1e-3`` float, ``010`` the int 10, ``0o10`` 8,
``true`` bool, ``no`` a string, ``'3'`` a string); files are read as PyYAML reads
them (YAML 1.1), which is how most programs will read them too.

``${key}`` in a command's arguments is replaced by the effective value of
``key`` (:func:`substitute`): see docs/configuration.md.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, NoReturn

import yaml

from .errors import ConfigError, UsageError

# libyaml's parser and emitter when PyYAML has them: the same typing (resolvers and
# constructors are PyYAML's Python ones either way), but a 1 MB value costs
# under a second instead of a minute in the pure-Python emitter.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FAST_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Core12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema implicit typing (spec 10.3.2).

    PyYAML implements YAML 1.1, where ``1e-3`` is a string, ``no``/``off`` are
    False, ``010`` is octal 8 and ``2024-01-02`` a date; on a command line
    (``-p lr=1e-3``) those surprise everyone.  Quoted scalars stay strings, and
    flow collections (``[1e-3, no]``) are typed by the same rules.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table, replaced whole


# Order matters within a first character: int before float ("10" is an int).
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
):
    _Core12Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _construct_int12(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # leading zeros are decimal in YAML 1.2


def _construct_float12(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = str(loader.construct_scalar(node)).lower()  # type: ignore[arg-type]
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    return float(text)


_Core12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int12)
_Core12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float12)


def parse_scalar(raw: str) -> Any:
    """A ``-p`` value typed by YAML 1.2's core schema; text that is not a YAML scalar
    or flow collection stays the text it is."""
    if not raw.strip():
        return ""
    try:
        value = yaml.load(raw, Loader=_Core12Loader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError, RecursionError):
        return raw
    if isinstance(value, (dict, list)) and not raw.strip().startswith(("{", "[")):
        return raw  # 'a: b' typed by YAML as a mapping is meant as text here
    return value


def load_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    if path.endswith(".json"):
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {path}, line {exc.lineno}: {exc.msg}") from None
    else:
        try:
            data = yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError:
            _python_yaml_error(path, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, not a {type(data).__name__}")
    _refuse_alias_bombs(data, path)
    return data


def _refuse_alias_bombs(data: Any, path: str) -> None:
    """A few hundred bytes of YAML aliases can stand for billions of values, which
    merging, recording and substituting the config would expand: count the values
    as they would be expanded, and stop at the bound records have (a params.yaml
    may come with a teammate's commit)."""
    from .bounds import MAX_YAML_NODES

    seen = 0
    todo: list[Any] = [data]
    while todo:
        item = todo.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            raise ConfigError(f"config file {path} refused: more than {MAX_YAML_NODES} values once its "
                              "aliases are expanded")
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def _python_yaml_error(path: str, text: str) -> NoReturn:
    """Raise the ConfigError for a file libyaml refused, worded by PyYAML's own
    parser (whose messages name the problem more plainly)."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {path}{where}: {problem}") from None
    raise ConfigError(f"config file {path}: not valid YAML")


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not p for p in parts):
        raise ConfigError(f"-p '{text}': expected key=value, with a dotted key like train.lr=0.1")
    return parts, parse_scalar(raw)


def effective(files: list[str], overrides: list[str]) -> dict[str, Any]:
    """Merge config files (later wins) and then apply overrides."""
    result: dict[str, Any] = {}
    for path in files:
        result = deep_merge(result, load_file(path))
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return result


def dump(config: dict[str, Any]) -> str:
    if not config:
        return "{}\n"
    return str(yaml.dump(config, Dumper=_FAST_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True))


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                out.update(flatten(value, name))
            else:
                out[name] = value
        return out
    return {prefix: data} if prefix else {}


_PLACEHOLDER = re.compile(r"\$(\$?)\{([^{}]*)\}")
_MISSING = object()
MISSING = _MISSING  # what lookup returns for a key the config lacks


def lookup(config: dict[str, Any], key: str) -> Any:
    """The value of a dotted ``key`` (``train.lr``) in ``config``, or ``_MISSING``.
    A key that itself holds dots (``{"a.b": 1}``) is found too; the longest one wins."""
    if key in config:
        return config[key]
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in config and isinstance(config[head], dict):
            found = lookup(config[head], ".".join(parts[cut:]))
            if found is not _MISSING:
                return found
    return _MISSING


def render(value: Any) -> str:
    """A config value as one command-line argument: strings as they are, numbers as
    Python writes them (``0.001``, ``1e-05``, ``inf``), booleans and null as YAML and
    JSON write them (``true``, ``null``), dates in ISO 8601, lists and mappings as
    compact JSON (``[1,2]``, ``{"a":1}``), which YAML and ``json.loads`` both read."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return _json_default(value)


def _json_default(value: Any) -> str:
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)


def substitute(argv: list[str], config: dict[str, Any]) -> list[str]:
    """``argv`` with each ``${key}`` replaced by the rendered value of ``key`` and each
    ``$${`` by a literal ``${``.  A key the config does not have is a
    :class:`UsageError` naming it, raised before anything runs."""
    out = []
    for arg in argv:
        if "${" not in arg:
            out.append(arg)
            continue

        def replace(match: re.Match[str]) -> str:
            escaped, key = match.group(1), match.group(2)
            if escaped:
                return "${" + key + "}"
            value = lookup(config, key.strip()) if key.strip() else _MISSING
            if value is _MISSING:
                known = ", ".join(sorted(flatten(config))[:10]) or "none: no -c or -p was given"
                raise UsageError(f"${{{key}}} in the command names no config key (keys: {known}); "
                                 f"write $${{{key}}} for a literal ${{{key}}}")
            return render(value)

        out.append(_PLACEHOLDER.sub(replace, arg))
    return out


def dump_for(name: str, config: dict[str, Any]) -> str:
    """The effective config as the text a file called ``name`` should hold: JSON for
    a ``.json`` name, YAML otherwise."""
    if name.endswith(".json"):
        return json.dumps(config, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    return dump(config)
