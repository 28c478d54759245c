"""The effective configuration of a run: files, then ``-p`` overrides.

Files are YAML or JSON mappings (JSON is YAML, but ``.json`` files are read as
JSON so errors name the JSON line).  Later files win; nested mappings merge
key by key.  ``-p a.b=value`` sets a nested key, the value typed as a YAML
scalar (``3`` is an int, ``true`` a bool, ``'3'`` a string).
"""
from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from .errors import ConfigError


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
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"config file {path}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, not a {type(data).__name__}")
    return data


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
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)) and not raw.strip().startswith(("{", "[")):
        value = raw  # 'a: b' typed by YAML as a mapping is meant as text here
    return parts, value


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
    return str(yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True))


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
