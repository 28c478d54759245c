"""Pipelines defined in Python: ``@gitruns.step``, ``gitruns.Pipeline`` and its result.

A step is a function; its arguments are values other steps returned (declared
with ``inputs``, or matched by name) and params from the effective config
(``<step>.<arg>`` first, then ``<arg>``; an argument with a default may be absent).
The pipeline is turned into a :class:`~.plan.Plan` (format ``python``) and run by
:mod:`.engine` as one run; each step runs in a forked child (:mod:`.pystep`) and
its returned values are stored in the artifact cache, from where the result
loads them (verified) on demand.  Everything is refused, as a
:class:`~gitruns.errors.UsageError`, before anything runs.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GitrunsError, UsageError
from . import pystep
from .plan import MAX_RETRIES, MAX_RETRY_DELAY_S, MAX_TIMEOUT_S, Plan, StepSpec

if TYPE_CHECKING:
    from .. import record as rec
    from .engine import PipelineOutcome

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")
_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_PLAIN = (type(None), bool, int, float, str)


class Step:
    """A function made a pipeline step by :func:`step`; calling it calls the function."""

    def __init__(self, func: Callable[..., Any], *, name: str | None, inputs: Mapping[str, str],
                 outputs: Sequence[str], deps: Sequence[str], outs: Sequence[str], metrics: Sequence[str],
                 retries: int, retry_delay: float, timeout: float | None, wdir: str, env: Mapping[str, str],
                 serializers: Mapping[str, str], always_run: bool) -> None:
        functools.update_wrapper(self, func)
        self.__gitruns_function__ = func
        self.__gitruns_serializers__ = dict(serializers)
        self.func = func
        self.name: str = name or str(getattr(func, "__name__", type(func).__name__))
        self.inputs = dict(inputs)
        self.outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        self.deps = _paths(deps)
        self.outs = _paths(outs)
        self.metrics = _paths(metrics)
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.wdir = wdir
        self.env = dict(env)
        self.serializers = dict(serializers)
        self.always_run = always_run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<gitruns.step {self.name}>"


def _paths(paths: str | Sequence[str] | None) -> list[str]:
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def step(func: Callable[..., Any] | None = None, *, name: str | None = None,
         inputs: Mapping[str, str] | None = None, outputs: str | Sequence[str] = (),
         deps: str | Sequence[str] = (), outs: str | Sequence[str] = (), metrics: str | Sequence[str] = (),
         retries: int = 0, retry_delay: float = 1.0, timeout: float | None = None, wdir: str = ".",
         env: Mapping[str, str] | None = None, serializers: Mapping[str, str] | None = None,
         always_run: bool = False) -> Any:
    """Make a function a pipeline step: ``@gitruns.step`` or ``@gitruns.step(outputs=[...], ...)``.

    ``outputs`` names the values it returns (one: the value itself; several: a tuple
    in that order or a dict by name); ``inputs`` maps an argument to the value it
    receives, ``"step.value"`` (or ``"step"`` for a step's only value); ``deps``,
    ``outs`` and ``metrics`` are files and directories relative to the repository
    root, as in gitruns.yaml; ``serializers`` chooses how a value is stored
    (``{"model": "json"}``); ``retries``, ``retry_delay`` (seconds, doubling),
    ``timeout`` (seconds per attempt), ``wdir``, ``env`` and ``always_run`` as in gitruns.yaml.
    """
    def make(f: Callable[..., Any]) -> Step:
        if not callable(f):
            raise TypeError(f"@gitruns.step decorates a function, not {type(f).__name__}")
        return Step(f, name=name, inputs=inputs or {}, outputs=outputs, deps=deps, outs=outs, metrics=metrics,
                    retries=retries, retry_delay=retry_delay, timeout=timeout, wdir=wdir, env=env or {},
                    serializers=serializers or {}, always_run=always_run)

    if func is not None:
        return make(func)
    return make


def serializer(type_: type | None, dump: Callable[[Any], bytes], load: Callable[[bytes], Any], *,
               name: str | None = None) -> str:
    """Register how values are stored: ``dump(value) -> bytes`` and ``load(bytes) -> value``.

    Values of ``type_`` (and its subclasses) returned by a step are then written with
    it, unless the step chooses otherwise (``serializers={"v": name}``); with
    ``type_=None`` it is only used where a step names it.  Returns its name
    (``name``, else the type's ``module.qualname``), which the value file records:
    a process that reads the value back registers the same serializer first."""
    return pystep.register(type_, dump, load, name)


# --- from steps to a plan -------------------------------------------------------------------------


@dataclass
class _Built:
    plan: Plan
    defaults: dict[str, Any]  # function defaults injected into the config: "<step>.<arg>" nested
    root: str


class Pipeline:
    """Steps made with :func:`step`, linked by the values they pass and the files they
    read and write; :meth:`run` runs them as one run."""

    def __init__(self, steps: Iterable[Callable[..., Any]], name: str | None = None) -> None:
        self.steps: list[Step] = [s if isinstance(s, Step) else step(s) for s in steps]
        self.name = name
        caller = sys._getframe(1).f_globals.get("__file__")
        self.file: str | None = os.path.abspath(caller) if isinstance(caller, str) else None

    def __repr__(self) -> str:
        return f"<gitruns.Pipeline {self.name or ''} steps={[s.name for s in self.steps]}>"

    def plan(self, *, config: Mapping[str, Any] | None = None, config_files: Sequence[str] = (),
             overrides: Sequence[str] = (), cwd: str | None = None) -> Plan:
        """The plan the engine runs (linked), with the params each step uses."""
        return self._build(config, config_files, overrides, cwd).plan

    def _build(self, config: Mapping[str, Any] | None, config_files: Sequence[str], overrides: Sequence[str],
               cwd: str | None) -> _Built:
        from .. import userconfig
        from ..repo import open_repo
        from ..runpaths import RunPaths
        from . import graph

        repo = open_repo(cwd)
        root = repo.require_worktree()
        paths = RunPaths(root, root, (repo.git_dir, repo.common_dir))
        start = os.path.abspath(cwd or os.getcwd())
        files = [os.path.join(start, f) for f in config_files]
        effective = userconfig.effective(files, [])
        if config:
            effective = userconfig.deep_merge(effective, dict(config))
        if overrides:
            effective = userconfig.deep_merge(effective, userconfig.effective([], list(overrides)))

        if not self.steps:
            raise UsageError("a pipeline with no steps: give Pipeline the steps it runs")
        seen: set[str] = set()
        for s in self.steps:
            if not _NAME.fullmatch(s.name):
                raise UsageError(f"step name {s.name!r}: letters, digits, _ and -, starting with a letter or _")
            if s.name in seen:
                raise UsageError(f"two steps are named {s.name}")
            seen.add(s.name)
        returns: dict[str, list[str]] = {}  # value name -> the steps returning one of that name
        for s in self.steps:
            for value in s.outputs:
                if not _VALUE.fullmatch(value):
                    raise UsageError(f"step {s.name}: output {value!r} is not a Python identifier")
                if s.outputs.count(value) > 1:
                    raise UsageError(f"step {s.name}: output {value} is declared twice")
                returns.setdefault(value, []).append(s.name)
            for value, chosen in s.serializers.items():
                if value not in s.outputs:
                    raise UsageError(f"step {s.name}: serializers names {value}, which is not one of its outputs")
                if not pystep.known(chosen):
                    raise UsageError(f"step {s.name}: no serializer {chosen!r} for {value} "
                                     "(built in: pickle, json, bytes, path; gitruns.serializer registers more)")

        defaults: dict[str, Any] = {}
        specs: dict[str, StepSpec] = {}
        by_name = {s.name: s for s in self.steps}
        for s in self.steps:
            value_inputs, params = _arguments(s, by_name, returns, effective, defaults)
            specs[s.name] = StepSpec(
                name=s.name, func=s,
                deps=[_rel(paths, p, s.name, "deps") for p in s.deps],
                outs=list(dict.fromkeys([_rel(paths, p, s.name, "outs") for p in s.outs + s.metrics])),
                metrics=[_rel(paths, p, s.name, "metrics") for p in s.metrics],
                params=params, wdir=_wdir(paths, s), env={str(k): str(v) for k, v in s.env.items()},
                retries=_count(s.retries, s.name, "retries"), retry_delay_s=_seconds(s.retry_delay, s.name),
                timeout_s=_timeout(s.timeout, s.name), always_run=bool(s.always_run),
                value_inputs=value_inputs, value_outputs=list(s.outputs),
            )
        plan = Plan(steps=specs, format="python")
        if self.file is not None:
            from ..hashing import digest_file
            from ..repo import relative_to_root

            plan.file = relative_to_root(root, self.file)
            if plan.file is not None and os.path.isfile(self.file):
                plan.digest = digest_file(self.file)
        graph.link(plan, root)
        return _Built(plan, defaults, root)

    def run(self, targets: Iterable[str | Step] = (), *, jobs: int = 1, config: Mapping[str, Any] | None = None,
            config_files: Sequence[str] = (), overrides: Sequence[str] = (), force: bool | Iterable[str | Step] = False,
            fail_fast: bool = False, name: str | None = None, tags: Mapping[str, str] | Sequence[str] = (),
            cwd: str | None = None) -> PipelineResult:
        """Run the steps ``targets`` need (all by default) as one run of the repository
        of ``cwd`` (the current directory by default), as ``git run pipeline`` would.

        ``config`` is merged over ``config_files`` and under ``overrides``
        (``["train.lr=0.1"]``, as ``-p``); ``force=True`` reuses no earlier step,
        ``force=["train"]`` re-executes only those; ``tags`` a mapping or ``["k=v"]``.
        Refusals raise :class:`gitruns.UsageError` before anything runs; a failed step
        does not raise: see the result's ``status``, ``ok`` and ``error``."""
        from .. import userconfig
        from . import engine

        built = self._build(config, config_files, overrides, cwd)
        merged = userconfig.deep_merge(built.defaults, dict(config or {}))
        if force is True or force is False:
            forced, steps = bool(force), []
        elif isinstance(force, str):
            forced, steps = False, [force]
        else:
            forced, steps = False, [f.name if isinstance(f, Step) else str(f) for f in force]
        for forced_step in steps:
            if forced_step not in built.plan.steps:
                raise UsageError(f"force: no step {forced_step} in the pipeline (steps: {', '.join(built.plan.steps)})")
        start = os.path.abspath(cwd or os.getcwd())
        options = engine.PipelineOptions(
            targets=[t.name if isinstance(t, Step) else str(t) for t in targets], jobs=jobs,
            config_files=[os.path.join(start, f) for f in config_files], overrides=list(overrides),
            config=merged or None, force=forced, force_steps=steps, fail_fast=fail_fast,
            name=name if name is not None else self.name, tags=_tags(tags),
            argv=_argv(),
            cwd=start,
        )
        outcome = engine.run(built.plan, options)
        return PipelineResult(outcome, built.plan, built.root)


def _argv() -> list[str]:
    """The command the record keeps: how this process was started (``python pipe.py``)."""
    argv = [str(a) for a in sys.argv]
    if not argv or not argv[0]:  # an interactive interpreter
        return ["python", *argv[1:]]
    if argv[0] in ("-c", "-m"):
        return ["python", *argv]
    return argv


def _rel(paths: Any, path: str, step: str, what: str) -> str:
    full = paths.output(path, f"step {step}: {what}")
    rel: str = paths.display(full)
    return rel.replace(os.sep, "/")


def _wdir(paths: Any, s: Step) -> str:
    if s.wdir in ("", "."):
        return "."
    return _rel(paths, s.wdir, s.name, "wdir")


def _count(value: int, step: str, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_RETRIES:
        raise UsageError(f"step {step}: {what} must be a whole number from 0 to {MAX_RETRIES}, not {value!r}")
    return value


def _seconds(value: float, step: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_RETRY_DELAY_S:
        raise UsageError(f"step {step}: retry_delay must be a number of seconds from 0 to "
                         f"{MAX_RETRY_DELAY_S:g}, not {value!r}")
    return float(value)


def _timeout(value: float | None, step: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT_S:
        raise UsageError(f"step {step}: timeout must be a number of seconds above 0 and at most "
                         f"{MAX_TIMEOUT_S:.0f}, not {value!r}")
    return float(value)


def _tags(tags: Mapping[str, str] | Sequence[str]) -> list[str]:
    if isinstance(tags, Mapping):
        return [f"{k}={v}" for k, v in tags.items()]
    return [str(t) for t in tags]


def _source(spec: str, s: Step, arg: str, by_name: Mapping[str, Step]) -> tuple[str, str]:
    """``"step.value"``, or ``"step"`` for that step's only value."""
    source, dot, value = spec.partition(".")
    if source == s.name:
        raise UsageError(f"step {s.name}: argument {arg} reads {spec}, a value of the step itself")
    if not dot:
        other = by_name.get(source)
        if other is None:
            raise UsageError(f"step {s.name}: argument {arg} reads {spec}, but there is no step {source}")
        if len(other.outputs) != 1:
            raise UsageError(f"step {s.name}: argument {arg} reads step {source}, which returns "
                             f"{len(other.outputs)} values: name one ({source}.<value>)")
        value = other.outputs[0]
    return source, value


def _arguments(s: Step, by_name: Mapping[str, Step], returns: Mapping[str, list[str]], config: dict[str, Any],
               defaults: dict[str, Any]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Each argument of a step's function: a value (declared, else matched by name), or
    a param from the config (``<step>.<arg>``, then ``<arg>``), or its default (put into
    the config as ``<step>.<arg>`` when it is plain data, so that the record has it)."""
    import inspect

    from .. import userconfig

    try:
        signature = inspect.signature(s.func)
    except (TypeError, ValueError):
        raise UsageError(f"step {s.name}: the arguments of {s.func!r} cannot be read") from None
    args = {p.name: p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    for arg in s.inputs:
        if arg not in args:
            raise UsageError(f"step {s.name}: inputs names argument {arg}, which the function does not take "
                             f"(its arguments: {', '.join(args) or 'none'})")
    value_inputs: dict[str, tuple[str, str]] = {}
    params: list[str] = []
    for arg, p in args.items():
        if arg in s.inputs:
            value_inputs[arg] = _source(s.inputs[arg], s, arg, by_name)
            continue
        producers = [n for n in returns.get(arg, []) if n != s.name]
        if len(producers) == 1:
            value_inputs[arg] = (producers[0], arg)
            continue
        if len(producers) > 1:
            raise UsageError(f"step {s.name}: argument {arg} matches the values of steps "
                             f"{', '.join(producers)}: say which with inputs={{'{arg}': '{producers[0]}.{arg}'}}")
        key = next((k for k in (f"{s.name}.{arg}", arg) if userconfig.lookup(config, k) is not userconfig.MISSING),
                   None)
        if key is not None:
            params.append(key)
            continue
        if p.default is p.empty:
            raise UsageError(f"step {s.name}: argument {arg} is not a value of another step, not in the config "
                             f"({s.name}.{arg} or {arg}) and has no default")
        holder = userconfig.lookup(config, s.name)
        if _plain(p.default) and (holder is userconfig.MISSING or isinstance(holder, dict)):
            defaults.setdefault(s.name, {})[arg] = p.default
            params.append(f"{s.name}.{arg}")
    return value_inputs, params


def _plain(value: Any) -> bool:
    """Data a config file can hold (so a default can be recorded as a param)."""
    if isinstance(value, _PLAIN):
        return not isinstance(value, float) or value == value  # nan is not a YAML value to compare
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


# --- the result -----------------------------------------------------------------------------------


@dataclass
class StepResult:
    """One step of a finished pipeline run."""

    name: str
    record: rec.Step
    spec: StepSpec
    root: str
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> str:
        return str(self.record["status"])

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "cached")

    @property
    def duration_s(self) -> float | None:
        return self.record.get("duration_s")

    @property
    def cached_from(self) -> rec.CachedFrom | None:
        return self.record.get("cached_from")

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.record.get("metrics") or {})

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.record.get("params") or {})

    @property
    def error(self) -> rec.Error | None:
        return self.record.get("error")

    @property
    def attempts(self) -> list[rec.Attempt]:
        return list(self.record.get("attempts") or [])

    def value(self, name: str | None = None) -> Any:
        """A value the step returned, loaded from the artifact cache by its digest
        (verified); the step's only value when ``name`` is None."""
        if name is None:
            if len(self.spec.value_outputs) != 1:
                raise KeyError(f"step {self.name} returns {len(self.spec.value_outputs)} values: name one "
                               f"({', '.join(self.spec.value_outputs) or 'none'})")
            name = self.spec.value_outputs[0]
        if name not in self._loaded:
            self._loaded[name] = _load(self, name)
        return self._loaded[name]


def _load(result: StepResult, name: str) -> Any:
    shown = f"{result.name}.{name}"
    entry = next((a for a in result.record.get("outputs") or [] if a.get("path") == shown), None)
    if entry is None:
        raise KeyError(f"step {result.name} has no value {name} (status {result.status})")
    digest = entry.get("digest")
    if entry.get("status") != "stored" or not isinstance(digest, str):
        raise GitrunsError(f"value {shown} was not stored (status {entry.get('status')})")
    import tempfile

    from ..cache import local_cache
    from ..repo import open_repo

    cache = local_cache(open_repo(result.root))
    # A verified copy in a private temporary directory: a Path value may be handed on,
    # and the cache's own object must never be written through.
    where = tempfile.mkdtemp(prefix="gitruns-value-")
    try:
        dest = os.path.join(where, name)
        if entry.get("kind") == "dir" or "files" in entry:  # a directory value: by its listing
            _copy_dir_verified(cache, digest, dest, shown)
        else:
            _copy_verified(cache, digest, dest, shown)
        value = pystep.read_value(dest)
    except BaseException:
        _remove_tree(where)
        raise
    if pystep.serializer_of(dest) == pystep.PATH:
        _TEMPORARY.append(where)  # the Path handed out points here: kept until the process exits
        if len(_TEMPORARY) == 1:
            import atexit

            atexit.register(_remove_temporary)
    else:
        _remove_tree(where)
    return value


_TEMPORARY: list[str] = []


def _remove_temporary() -> None:
    for path in _TEMPORARY:
        _remove_tree(path)


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _copy_dir_verified(cache: Any, digest: str, dest: str, shown: str) -> None:
    """A directory value from its listing, every file verified; no listed path may
    leave ``dest`` (the listing is as untrusted as any record)."""
    from ..checkout import check_path
    from ..manifest import MAX_LISTING_BYTES, parse_manifest

    listing = cache.read_verified(digest, MAX_LISTING_BYTES)
    if listing is None:
        raise GitrunsError(f"value {shown}: its listing ({digest}) is not in the local artifact cache")
    os.mkdir(dest, 0o700)
    for entry in parse_manifest(listing, shown):
        parts = check_path(entry.path)
        os.makedirs(os.path.join(dest, *parts[:-1]), exist_ok=True)
        _copy_verified(cache, entry.digest, os.path.join(dest, *parts), f"{shown}/{entry.path}")


def _copy_verified(cache: Any, digest: str, dest: str, shown: str) -> None:
    from ..hashing import copy_and_digest

    src = cache.object_path(digest)
    if not os.path.exists(src):
        raise GitrunsError(f"value {shown} ({digest}) is not in the local artifact cache")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        got = copy_and_digest(src, fd)
    finally:
        os.close(fd)
    if got != digest:
        os.unlink(dest)
        kept = cache.quarantine(digest)
        raise GitrunsError(f"value {shown}: the cache object {digest} is corrupt (moved to {kept})")


class PipelineResult:
    """How a pipeline run went: ``run_id``, ``status``, ``ok``, ``error`` and
    ``steps`` (name -> :class:`StepResult`); ``result["step"]`` is a step's only value."""

    def __init__(self, outcome: PipelineOutcome, plan: Plan, root: str) -> None:
        self.outcome = outcome
        self.run_id = outcome.run_id
        self.status = outcome.status
        self.exit_code = outcome.exit_code
        self.record: rec.RunRecord = outcome.record
        self.errors = list(outcome.errors)
        self.steps: dict[str, StepResult] = {
            s["name"]: StepResult(s["name"], s, plan.steps[s["name"]], root)
            for s in outcome.record.get("steps") or [] if s.get("name") in plan.steps
        }

    @property
    def ok(self) -> bool:
        return bool(self.status == "succeeded")

    @property
    def error(self) -> rec.Error | None:
        return self.record.get("error")

    def __getitem__(self, name: str) -> Any:
        return self.steps[name].value()

    def __repr__(self) -> str:
        return f"<gitruns.PipelineResult {self.run_id} {self.status}>"
