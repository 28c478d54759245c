"""Reading a pipeline file: ``gitruns.yaml`` (ours) or a ``dvc.yaml`` (:mod:`.dvcfile`)
into a linked :class:`~.plan.Plan`.

The file may come from a teammate's commit, so it is bounded before it is parsed
(1 MiB, YAML aliases counted by :func:`gitruns.bounds.load_yaml`) and checked key
by key: unknown keys, wrong types, step names that cannot be tree names, and
paths that leave the working tree or go into ``.git`` are refused before anything
runs.  Every refusal is one :class:`~gitruns.errors.UsageError` line that names
the file and the step or key.  ``${...}`` placeholders are checked for shape
only; the engine replaces them with config values when the step runs.
"""
from __future__ import annotations

import math
import os
import posixpath
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import UsageError
from .plan import MAX_RETRIES, MAX_RETRY_DELAY_S, MAX_TIMEOUT_S, Plan, StepSpec

DEFAULT_FILE = "gitruns.yaml"
DVC_NAMES = ("dvc.yaml", "dvc.yml")
GITRUNS_NAMES = ("gitruns.yaml", "gitruns.yml")
MAX_FILE_BYTES = 1 << 20
MAX_NAME = 100
# Step names become tree names (.gitruns/steps/<name>/) and ref-safe words.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# As userconfig.substitute reads them: ${key}, and $${ for a literal ${.
_PLACEHOLDER = re.compile(r"\$(\$?)\{([^{}]*)\}")

STEP_KEYS = ("cmd", "deps", "outs", "metrics", "params", "wdir", "env", "retries", "timeout", "always_changed")
TOP_KEYS = ("params", "steps", "stages")
RETRY_KEYS = ("count", "delay")
# DVC's options of an output entry (``- model.pkl: {cache: false}``): accepted, the path kept.
OUTPUT_OPTIONS = ("cache", "persist", "desc", "remote", "push", "type", "labels", "meta")
_BOOL_OPTIONS = ("cache", "persist", "push")
_TEXT_OPTIONS = ("desc", "remote", "type")
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Origin:
    """Where a definition was read from: how messages name it, the working tree,
    and the file's directory relative to the root (``.`` at the root)."""

    name: str  # the file relative to the root, as messages and plan.file show it
    root: str  # absolute
    dir: str  # POSIX, relative to root

    def fail(self, message: str, step: str | None = None, kind: str = "step") -> NoReturn:
        where = f"{self.name}: {kind} {step}: " if step is not None else f"{self.name}: "
        raise UsageError(where + message)


def load(path: str, root: str) -> Plan:
    """Read the pipeline file at ``path`` (absolute, or relative to the current
    directory) of the working tree ``root``: gitruns.yaml format, or dvc.yaml format
    when the file is named dvc.yaml/dvc.yml, or has a top-level ``stages`` key and
    is not named gitruns.yaml/gitruns.yml.  Returns a linked Plan (graph.link
    called).  Every refusal is a UsageError (exit 2), one line, naming the file and
    step or key."""
    from .. import hashing
    from . import graph

    root = os.path.abspath(root)
    full = os.path.abspath(path)
    rel = _tree_relative(full, root)
    if rel == ".":
        raise UsageError(f"pipeline file {path} is a directory; give -f FILE")
    if rel is None:
        raise UsageError(f"pipeline file {path} is outside the working tree {root}")
    if os.path.lexists(full) and _tree_relative(os.path.realpath(full), os.path.realpath(root)) is None:
        raise UsageError(f"pipeline file {path} is a symlink out of the working tree {root}")
    raw = _read_bounded(full, path)
    plan = parse_bytes(raw, rel, root)
    plan.digest = hashing.digest_bytes(raw)
    try:
        graph.link(plan, root)
    except UsageError as exc:
        raise UsageError(f"{rel}: {exc}") from None
    return plan


def parse_bytes(raw: bytes, rel: str, root: str) -> Plan:
    """The definition ``raw`` of the file ``rel`` (relative to ``root``) as a Plan,
    not linked: the format chosen as :func:`load` chooses it.  Resume reads a run's
    own definition from its code snapshot with it."""
    origin = Origin(name=rel, root=root, dir=posixpath.dirname(rel) or ".")
    data = _parse_yaml(raw, origin)
    base = posixpath.basename(rel)
    if base in DVC_NAMES or (base not in GITRUNS_NAMES and "stages" in data and "steps" not in data):
        from . import dvcfile

        plan = dvcfile.parse(data, origin)
    else:
        plan = parse(data, origin)
    plan.file = rel
    return plan


def _read_bounded(full: str, shown: str) -> bytes:
    try:
        # O_NONBLOCK: a FIFO named as the pipeline file must not hang us.
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        where = os.path.dirname(full)
        raise UsageError(f"no pipeline file {os.path.basename(full)} in {where}; "
                         "write one or give -f FILE") from None
    except OSError as exc:
        raise UsageError(f"cannot read pipeline file {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"pipeline file {shown} is a directory; give -f FILE")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"pipeline file {shown} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise UsageError(f"pipeline file {shown} refused: too large ({info.st_size:,} bytes; "
                             f"the limit is {MAX_FILE_BYTES >> 20} MiB)")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:  # grew while we read it
            raise UsageError(f"pipeline file {shown} refused: larger than {MAX_FILE_BYTES >> 20} MiB")
        return b"".join(chunks)
    except OSError as exc:
        raise UsageError(f"cannot read pipeline file {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _parse_yaml(raw: bytes, origin: Origin) -> dict[str, Any]:
    from ..bounds import load_yaml
    from ..errors import RecordError

    try:
        data = load_yaml(raw, origin.name)
    except RecordError as exc:
        raise UsageError(str(exc)) from None
    _refuse_repeated_keys(raw, origin)
    if data is None:
        origin.fail("the file is empty: no steps")
    if not isinstance(data, dict):
        origin.fail(f"must hold a mapping (steps: ...), not a {_type(data)}")
    return data


def _refuse_repeated_keys(raw: bytes, origin: Origin) -> None:
    """A key given twice in one mapping (a step pasted twice, a merge gone wrong):
    YAML readers keep the last silently; DVC refuses it, and so do we.  Run after
    the bounded load, on the composed nodes, each visited once (aliases are not
    expanded)."""
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = yaml.compose(raw, Loader=loader)
    seen: set[int] = set()
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            names: set[str] = set()
            for key, value in node.value:
                todo.append(value)
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in names:
                        origin.fail(f"line {key.start_mark.line + 1}: key {_quote(key.value)} is given twice "
                                    "in one mapping")
                    names.add(key.value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


def parse(data: dict[str, Any], origin: Origin) -> Plan:
    """A gitruns.yaml's data into a Plan (not linked)."""
    check_keys(data, TOP_KEYS, origin, None)
    if "steps" in data and "stages" in data:
        origin.fail("both steps and stages are given; stages is another name for steps: keep one")
    key = "stages" if "stages" in data else "steps"
    body = data.get(key)
    if body is None or body == {}:
        origin.fail(f"no steps: write them under '{key}:'")
    if not isinstance(body, dict):
        origin.fail(f"'{key}' must be a mapping of step names to steps, not a {_type(body)}")
    steps: dict[str, StepSpec] = {}
    for name, spec in body.items():
        check_name(name, origin)
        steps[name] = _step(name, spec, origin)
    if "params" in data:
        named = _strings(data["params"], origin, None, "params")
        files = [config_file(p, origin.dir, origin, None, "params") for p in named]
    else:
        files = default_params(origin.dir, origin)
    return Plan(steps=steps, format="gitruns", params_files=files)


def _step(name: str, spec: Any, origin: Origin, kind: str = "step") -> StepSpec:
    if not isinstance(spec, dict):
        origin.fail(f"must be a mapping of keys (cmd, deps, outs, ...), not a {_type(spec)}", name, kind)
    check_keys(spec, STEP_KEYS, origin, name, kind)
    step = StepSpec(name=name, cmd=command(spec.get("cmd"), origin, name, kind))
    step.wdir = wdir(spec.get("wdir"), origin, name, kind)
    step.deps = paths(spec.get("deps"), "deps", step.wdir, origin, name, kind)
    step.outs = paths(spec.get("outs"), "outs", step.wdir, origin, name, kind, output=True)
    step.metrics = paths(spec.get("metrics"), "metrics", step.wdir, origin, name, kind, output=True)
    add_outputs(step, step.metrics)
    step.params = keys(spec.get("params"), origin, name, kind)
    step.env = env(spec.get("env"), origin, name, kind)
    step.retries, step.retry_delay_s = retries(spec.get("retries"), origin, name, kind)
    step.timeout_s = timeout(spec.get("timeout"), origin, name, kind)
    step.always_run = boolean(spec.get("always_changed"), "always_changed", origin, name, kind)
    return step


# Readers of one field each, shared with dvcfile.  ``step`` None means the top level.

def check_keys(data: dict[Any, Any], known: Iterable[str], origin: Origin, step: str | None,
               kind: str = "step", what: str = "key") -> None:
    known = tuple(known)
    for key in data:
        if key not in known:
            origin.fail(f"unknown {what} {_quote(key)} (known: {', '.join(known)})", step, kind)


def check_name(name: Any, origin: Origin, kind: str = "step") -> None:
    if not isinstance(name, str):
        origin.fail(f"{kind} name {_quote(name)} is a {_type(name)}; quote it to make it a name")
    if len(name) > MAX_NAME:
        origin.fail(f"{kind} name {_quote(name)} is longer than {MAX_NAME} characters")
    if not _NAME.fullmatch(name):
        origin.fail(f"{kind} name {_quote(name)} is not allowed: use letters, digits, _, . and -, "
                    "not starting with . or -")


def command(value: Any, origin: Origin, step: str, kind: str = "step") -> str:
    """``cmd``: a string, or a list of strings joined with `` && `` (as DVC does)."""
    if value is None:
        origin.fail("no cmd: every step needs a command", step, kind)
    if isinstance(value, list):
        if not value:
            origin.fail("cmd is an empty list", step, kind)
        for part in value:
            if not isinstance(part, str):
                origin.fail(f"cmd must be a string or a list of strings; it holds a {_type(part)}", step, kind)
        text = " && ".join(value)
    elif isinstance(value, str):
        text = value
    else:
        origin.fail(f"cmd must be a string or a list of strings, not a {_type(value)}", step, kind)
    if not text.strip():
        origin.fail("cmd is empty", step, kind)
    if "\0" in text:
        origin.fail("cmd holds a NUL character", step, kind)
    check_placeholders(text, "cmd", origin, step, kind)
    return text


def check_placeholders(text: str, key: str, origin: Origin, step: str, kind: str = "step") -> None:
    """Refuse a ``${...}`` the engine could not read: unclosed, nested or empty."""
    if "${" not in text:
        return
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(2).strip()
        if not match.group(1) and (not name or any(c.isspace() for c in name)):
            origin.fail(f"malformed placeholder {_quote(match.group(0))} in {key}: write ${{key}} "
                        "with a dotted config key, or $${ for a literal ${", step, kind)
    if "${" in _PLACEHOLDER.sub("", text):
        origin.fail(f"malformed placeholder in {key} (a ${{ without its closing }}): write ${{key}}, "
                    "or $${ for a literal ${", step, kind)


def wdir(value: Any, origin: Origin, step: str, kind: str = "step") -> str:
    """``wdir``, relative to the file's directory, as a root-relative path."""
    if value is None:
        return origin.dir
    if not isinstance(value, str) or not value.strip():
        origin.fail(f"wdir must be a directory name, not {_show(value)}", step, kind)
    rel = _join(origin, origin.dir, value, "wdir", step, kind)
    if not os.path.isdir(os.path.join(origin.root, rel)):
        origin.fail(f"wdir {value} is not a directory", step, kind)
    return rel


def paths(value: Any, key: str, base: str, origin: Origin, step: str | None, kind: str = "step", *,
          output: bool = False, options: tuple[str, ...] = OUTPUT_OPTIONS) -> list[str]:
    """A list of paths (``deps``, ``outs``, ``metrics``, ``plots``): each a string or a
    one-key mapping ``{path: {options}}``; root-relative, in order, without repeats."""
    if value is None:
        return []
    if not isinstance(value, list):
        origin.fail(f"{key} must be a list of paths, not a {_type(value)}", step, kind)
    out: list[str] = []
    for entry in value:
        if isinstance(entry, dict):
            if len(entry) != 1:
                origin.fail(f"{key}: an entry with options must be one path mapped to its options "
                            f"(- path: {{cache: false}}), not {len(entry)} keys", step, kind)
            ((raw, opts),) = entry.items()
            check_options(raw, opts, key, options, origin, step, kind)
        else:
            raw = entry
        if not isinstance(raw, str) or not raw.strip():
            origin.fail(f"{key} entries must be paths, not {_show(raw)}", step, kind)
        if "${" in raw:
            origin.fail(f"{key}: placeholders in paths are not supported ({_quote(raw)}); "
                        "write the path", step, kind)
        rel = _join(origin, base, raw, key, step, kind)
        if output:
            _check_output(rel, raw, key, origin, step, kind)
        if rel not in out:
            out.append(rel)
    return out


def check_options(path: Any, opts: Any, key: str, known: tuple[str, ...], origin: Origin,
                  step: str | None, kind: str = "step") -> None:
    if opts is None:
        return
    if not isinstance(opts, dict):
        origin.fail(f"{key}: the options of {_quote(path)} must be a mapping, not a {_type(opts)}", step, kind)
    for name, value in opts.items():
        if name not in known:
            origin.fail(f"{key}: {_quote(path)} has unknown option {_quote(name)} "
                        f"(known: {', '.join(known)})", step, kind)
        if name in _BOOL_OPTIONS and not isinstance(value, bool):
            origin.fail(f"{key}: option {name} of {_quote(path)} must be true or false", step, kind)
        if name in _TEXT_OPTIONS and not isinstance(value, str):
            origin.fail(f"{key}: option {name} of {_quote(path)} must be a string", step, kind)
        if name == "labels" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            origin.fail(f"{key}: option labels of {_quote(path)} must be a list of strings", step, kind)


def add_outputs(step: StepSpec, extra: list[str]) -> None:
    """Add ``extra`` (metrics, plots) to the step's outputs unless an output holds them already."""
    for path in extra:
        if not any(path == out or path.startswith(out + "/") for out in step.outs):
            step.outs.append(path)


def keys(value: Any, origin: Origin, step: str, kind: str = "step") -> list[str]:
    """``params``: dotted keys of the effective config."""
    out: list[str] = []
    for key in _strings(value, origin, step, "params", kind):
        if not key.strip() or any(c.isspace() for c in key) or "${" in key:
            origin.fail(f"params: {_quote(key)} is not a config key (write a dotted key like train.lr)", step, kind)
        if key not in out:
            out.append(key)
    return out


def env(value: Any, origin: Origin, step: str, kind: str = "step") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        origin.fail(f"env must be a mapping of variable names to values, not a {_type(value)}", step, kind)
    out: dict[str, str] = {}
    for name, val in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            origin.fail(f"env: {_quote(name)} is not a variable name", step, kind)
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            origin.fail(f"env: {name} must be a string or a number, not {_show(val)} "
                        "(quote it: \"true\")", step, kind)
        text = val if isinstance(val, str) else str(val)
        if "\0" in text:
            origin.fail(f"env: {name} holds a NUL character", step, kind)
        out[name] = text
    return out


def retries(value: Any, origin: Origin, step: str, kind: str = "step") -> tuple[int, float]:
    """``retries``: a count, or ``{count: N, delay: seconds}``; the delay doubles per retry."""
    if value is None:
        return 0, 1.0
    count: Any = value
    delay: Any = 1.0
    if isinstance(value, dict):
        check_keys(value, RETRY_KEYS, origin, step, kind, what="key of retries")
        count = value.get("count", 0)
        delay = value.get("delay", 1.0)
        if not _number(delay) or not 0 <= delay <= MAX_RETRY_DELAY_S:
            origin.fail(f"retries: delay must be a number of seconds from 0 to {MAX_RETRY_DELAY_S:g}, "
                        f"not {_show(delay)}", step, kind)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_RETRIES:
        origin.fail(f"retries must be a whole number from 0 to {MAX_RETRIES}, or {{count: N, delay: seconds}}, "
                    f"not {_show(count)}", step, kind)
    return count, float(delay)


def timeout(value: Any, origin: Origin, step: str, kind: str = "step") -> float | None:
    if value is None:
        return None
    if not _number(value) or not 0 < value <= MAX_TIMEOUT_S:
        origin.fail(f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:.0f}, "
                    f"not {_show(value)}", step, kind)
    return float(value)


def boolean(value: Any, key: str, origin: Origin, step: str, kind: str = "step") -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        origin.fail(f"{key} must be true or false, not {_show(value)}", step, kind)
    return value


def config_file(raw: str, base: str, origin: Origin, step: str | None, key: str, kind: str = "step") -> str:
    """A config (params) file, relative to ``base``: it must exist inside the tree and
    be YAML or JSON; its absolute path."""
    rel = _join(origin, base, raw, key, step, kind)
    if not rel.endswith(CONFIG_SUFFIXES):
        origin.fail(f"{key}: {_quote(raw)}: gitruns reads YAML and JSON config files "
                    f"({', '.join(CONFIG_SUFFIXES)})", step, kind)
    full = os.path.join(origin.root, rel)
    if not os.path.isfile(full):
        origin.fail(f"{key}: config file {raw} does not exist", step, kind)
    if _tree_relative(os.path.realpath(full), os.path.realpath(origin.root)) is None:
        origin.fail(f"{key}: config file {raw} leads outside the working tree", step, kind)
    return full


def default_params(base: str, origin: Origin) -> list[str]:
    """params.yaml in ``base`` when it exists (as DVC reads it): its absolute path, in a list."""
    full = os.path.join(origin.root, base, "params.yaml")
    if not os.path.lexists(full):
        return []
    if _tree_relative(os.path.realpath(full), os.path.realpath(origin.root)) is None:
        origin.fail(f"{os.path.normpath(os.path.join(base, 'params.yaml'))} leads outside the working tree; "
                    "a config from elsewhere is named with -c")
    if not os.path.isfile(full):
        origin.fail(f"{os.path.normpath(os.path.join(base, 'params.yaml'))} is not a file")
    return [os.path.normpath(full)]


def _strings(value: Any, origin: Origin, step: str | None, key: str, kind: str = "step") -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        origin.fail(f"{key} must be a list of strings, not {_show(value)}", step, kind)
    return value


def _join(origin: Origin, base: str, raw: str, key: str, step: str | None, kind: str) -> str:
    """``raw`` (relative to ``base``, itself relative to the root; or absolute) as a
    normalised root-relative POSIX path; refused outside the tree or in ``.git``."""
    from ..gitnames import names_git_dir

    if "\0" in raw:
        origin.fail(f"{key}: a path holds a NUL character", step, kind)
    if os.path.isabs(raw):
        rel = _tree_relative(os.path.normpath(raw), origin.root)
        if rel is None:
            origin.fail(f"{key}: {raw} is outside the working tree", step, kind)
    else:
        rel = posixpath.normpath(posixpath.join(base, raw))
        if rel == ".." or rel.startswith("../"):
            origin.fail(f"{key}: {raw} leads outside the working tree", step, kind)
    if any(names_git_dir(part) for part in rel.split("/")):
        origin.fail(f"{key}: {raw} is inside the git directory", step, kind)
    return rel


def _check_output(rel: str, raw: str, key: str, origin: Origin, step: str | None, kind: str) -> None:
    from ..gitnames import path_refusal

    if rel == ".":
        origin.fail(f"{key}: {raw} is the working tree root itself; name the files the step writes", step, kind)
    if rel == ".gitruns" or rel.startswith(".gitruns/"):
        origin.fail(f"{key}: {raw} is inside .gitruns, where run records live", step, kind)
    # Through symlinks too: an output is written, so it must really land in the tree.
    full = os.path.join(origin.root, rel)
    reason = path_refusal(full, origin.root, [])
    if reason is not None:
        if os.path.islink(full):
            # Left by an earlier run of a step (ln -s ...): say what to do about it.
            origin.fail(f"{key}: {raw} is a symlink leading {reason.removeprefix('is ')}; remove it "
                        f"(an output must be written inside the working tree)", step, kind)
        origin.fail(f"{key}: {raw} is {reason}", step, kind)


def _tree_relative(full: str, root: str) -> str | None:
    """``full`` relative to ``root`` as a POSIX path (``.`` for the root), or None when
    outside it; lexically first, then with symlinks resolved (a root given through one)."""
    for a, b in ((full, root), (os.path.realpath(full), os.path.realpath(root))):
        rel = os.path.relpath(a, b)
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return rel.replace(os.sep, "/")
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _type(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {_type(value)}"
    return _quote(value)


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"'{text}'"
