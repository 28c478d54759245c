"""Python steps (``@gitruns.step``) as the engine runs them: what identifies a
step's code for the cache key, an attempt run in a forked child, and the values
passed between steps as files.

A value file is one header line naming its serializer (``gitruns-value
pickle``), then the bytes that serializer made; a :class:`pathlib.Path` value is
the plain file or directory itself, with no header.  So the file alone says how
to read it back, whichever process (or later run, reused from the cache) reads it.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .plan import StepContext, StepSpec, value_path

HEADER = b"gitruns-value "
_MAX_HEADER = 256


@dataclass(frozen=True)
class Serializer:
    name: str
    type: type | None  # chosen for return values of this type (None: only by name)
    dump: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


def _pickle_dump(value: Any) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


def _json_dump(value: Any) -> bytes:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode()


def _json_load(data: bytes) -> Any:
    import json

    return json.loads(data)


def _bytes_dump(value: Any) -> bytes:
    return bytes(value)


def _bytes_load(data: bytes) -> Any:
    return data


PATH = "path"  # the serializer name of plain files and directories (no header)
_BUILTIN = ("pickle", "json", "bytes", PATH)
# name -> serializer; types are tried newest registration first, then bytes, then pickle.
_REGISTRY: dict[str, Serializer] = {
    "pickle": Serializer("pickle", None, _pickle_dump, _pickle_load),
    "json": Serializer("json", None, _json_dump, _json_load),
    "bytes": Serializer("bytes", bytes, _bytes_dump, _bytes_load),
}


def register(type_: type | None, dump: Callable[[Any], bytes], load: Callable[[bytes], Any],
             name: str | None = None) -> str:
    """Register a serializer (see :func:`gitruns.serializer`); returns its name."""
    if name is None:
        if type_ is None:
            raise ValueError("a serializer needs a type or a name")
        name = f"{type_.__module__}.{type_.__qualname__}"
    if not name or any(c.isspace() for c in name) or len(name) > 100:
        raise ValueError(f"serializer name {name!r}: one word of at most 100 characters")
    if name in _BUILTIN:
        raise ValueError(f"serializer {name} is built in and cannot be replaced")
    _REGISTRY[name] = Serializer(name, type_, dump, load)
    return name


def known(name: str) -> bool:
    return name == PATH or name in _REGISTRY


def choose(value: Any, chosen: str | None) -> str:
    """The serializer a returned value is written with: the step's choice for it,
    else a registered type it is an instance of (newest first), else pickle."""
    from pathlib import PurePath

    if chosen is not None:
        return chosen
    if isinstance(value, PurePath):
        return PATH
    for serializer in reversed(list(_REGISTRY.values())):
        if serializer.type is not None and isinstance(value, serializer.type):
            return serializer.name
    return "pickle"


def write_value(value: Any, dest: str, chosen: str | None = None) -> str:
    """Write ``value`` to the file (or, for a directory path, the directory) ``dest``:
    into a temporary name beside it, then renamed into place.  Returns the serializer."""
    import shutil
    import tempfile

    name = choose(value, chosen)
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    if name == PATH:
        src = os.fspath(value)
        if os.path.isdir(src):
            tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
            os.rmdir(tmp)
            shutil.copytree(src, tmp, symlinks=False)
        elif os.path.isfile(src):
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=parent)
            os.close(fd)
            shutil.copyfile(src, tmp)
        else:
            raise FileNotFoundError(f"the returned path {src} is neither a file nor a directory")
    else:
        serializer = _REGISTRY.get(name)
        if serializer is None:
            raise ValueError(f"no serializer {name!r} (gitruns.serializer registers one)")
        data = serializer.dump(value)
        if not isinstance(data, bytes):
            raise TypeError(f"serializer {name} returned {type(data).__name__}, not bytes")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(HEADER + name.encode() + b"\n")
            fh.write(data)
    if os.path.isdir(dest) and not os.path.islink(dest):
        shutil.rmtree(dest)  # an earlier attempt's
    os.replace(tmp, dest)
    return name


def serializer_of(path: str) -> str:
    """The serializer a value file was written with (``path`` for a plain file or directory)."""
    if os.path.isdir(path):
        return PATH
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    if head.startswith(HEADER) and b"\n" in head:
        name = head[len(HEADER):head.index(b"\n")].decode("utf-8", "replace")
        if known(name) and name != PATH:
            return name
        raise ValueError(f"value {path} was written by serializer {name!r}, which is not registered here "
                         "(gitruns.serializer registers it)")
    return PATH


def read_value(path: str) -> Any:
    """A value back from its file: a :class:`pathlib.Path` to a plain file or directory,
    else what its serializer loads."""
    from pathlib import Path

    name = serializer_of(path)
    if name == PATH:
        return Path(path)
    with open(path, "rb") as fh:
        fh.readline()  # the header
        return _REGISTRY[name].load(fh.read())


# --- what the engine calls ------------------------------------------------------------------------


def function(step: StepSpec) -> Callable[..., Any]:
    """The user's function of a Python step (a ``@gitruns.step`` wrapper carries it)."""
    func = step.func
    if func is None:
        raise ValueError(f"step {step.name} is not a Python step")
    inner: Callable[..., Any] = getattr(func, "__gitruns_function__", func)
    return inner


def serializer_choices(step: StepSpec) -> dict[str, str]:
    """The step's own serializer choices, value name -> serializer name."""
    choices: dict[str, str] = dict(getattr(step.func, "__gitruns_serializers__", None) or {})
    return choices


def _code_bytes(code: Any) -> bytes:
    """A code object's bytecode and constants, nested code objects included,
    without the addresses a repr of them would hold."""
    parts = [code.co_code]
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            parts.append(_code_bytes(const))
        else:
            parts.append(repr(const).encode())
    parts.append(repr(code.co_names).encode())
    return b"\0".join(parts)


def definition(step: StepSpec) -> dict[str, Any]:
    """What identifies a Python step's code in its cache key: the digest of the
    function's source (its bytecode where the source cannot be read), its
    serializer choices and the names of the values it reads and returns; never
    the step's name."""
    import inspect

    from ..hashing import digest_bytes

    func = function(step)
    try:
        code = inspect.getsource(func).encode()
        kind = "source"
    except (OSError, TypeError):
        code = _code_bytes(getattr(func, "__code__", None) or getattr(type(func).__call__, "__code__", None))
        kind = "bytecode"
    return {
        "python": {kind: digest_bytes(code)},
        "serializers": dict(sorted(serializer_choices(step).items())),
        "value_inputs": sorted(step.value_inputs),
        "value_outputs": list(step.value_outputs),
    }


class ForkedChild:
    """A step's attempt in a forked child that leads its own process group."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._code: int | None = None

    def poll(self) -> int | None:
        if self._code is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: its status is lost
                self._code = 1
                return self._code
            if pid == 0:
                return None
            self._code = os.waitstatus_to_exitcode(status)  # negative for a signal
        return self._code

    def wait(self) -> int:
        """Block until the child ends (tests; the engine polls)."""
        while self._code is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self._code = 1
                break
            self._code = os.waitstatus_to_exitcode(status)
        return self._code


def launch(ctx: StepContext) -> ForkedChild:
    """Run one attempt of a Python step in a forked child; return at once."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    import warnings

    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() with threads running; the child only runs
        # the step's function and never takes the parent's locks (the engine commits
        # from its main thread, and the child leaves through os._exit).
        warnings.filterwarnings("ignore", message=".*multi-threaded.*fork", category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into the parent's code
        code = 1
        try:
            code = _child(ctx)
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException:
            try:
                import traceback

                traceback.print_exc()
            except BaseException:
                pass
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            os._exit(code)
    try:  # also here, so that the group exists before the engine may signal it
        os.setpgid(pid, pid)
    except OSError:
        pass
    return ForkedChild(pid)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    try:
        print(exc.code, file=sys.stderr)
    except BaseException:
        pass
    return 1


def _child(ctx: StepContext) -> int:
    import signal

    try:
        os.setpgid(0, 0)
    except OSError:  # the parent made it the group's leader already
        pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    _redirect(ctx)
    os.chdir(ctx.cwd)
    os.environ.clear()
    os.environ.update(ctx.env)
    step = ctx.step
    func = function(step)
    values = {arg: read_value(value_path(ctx.values_dir, source, name))
              for arg, (source, name) in step.value_inputs.items()}
    args, kwargs = arguments(func, step, values, ctx.params)
    result = func(*args, **kwargs)
    choices = serializer_choices(step)
    for name, value in split_result(step, result).items():
        write_value(value, value_path(ctx.values_dir, step.name, name), choices.get(name))
    return 0


def _redirect(ctx: StepContext) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, ctx.stdout_path), (2, ctx.stderr_path)):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, fd)
        os.close(out)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


def param_key(step: StepSpec, arg: str) -> str | None:
    """The config key a function argument was given from: ``<step>.<arg>`` or ``<arg>``."""
    for key in (f"{step.name}.{arg}", arg):
        if key in step.params:
            return key
    return None


def arguments(func: Callable[..., Any], step: StepSpec, values: dict[str, Any],
              params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments: values by argument name, then params from the config;
    an argument given neither keeps its default."""
    import inspect

    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional = True
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in values:
            given = values[p.name]
        else:
            key = param_key(step, p.name)
            if key is None or key not in params:
                positional = False
                continue
            given = params[key]
        if p.kind is p.POSITIONAL_ONLY and positional:
            args.append(given)
        else:
            kwargs[p.name] = given
    return args, kwargs


def split_result(step: StepSpec, result: Any) -> dict[str, Any]:
    """The values a step returned, by name: one value is itself; several a tuple
    (in declared order) or a dict by name."""
    names = step.value_outputs
    if not names:
        if result is not None:  # into the step's own stderr log, where its author looks
            print(f"gitruns: step {step.name} returned a value ({type(result).__name__}) but declares no outputs: "
                  "it is not kept (@gitruns.step(outputs=[...]) names them)", file=sys.stderr)
        return {}
    if len(names) == 1:
        return {names[0]: result}
    if isinstance(result, dict) and set(result) == set(names):
        return {name: result[name] for name in names}
    if isinstance(result, tuple) and len(result) == len(names):
        return dict(zip(names, result, strict=True))
    raise TypeError(f"step {step.name} declares outputs {', '.join(names)}: return a tuple of "
                    f"{len(names)} or a dict with those keys, not {type(result).__name__}")
