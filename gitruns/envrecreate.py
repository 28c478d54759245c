"""``--env recreate``: a fresh virtual environment with a run's recorded packages.

From a run's env.json (``python.version``, ``python.packages`` and, when
recorded, ``python.package_sources``):

- Python: ``python3.X`` (or ``pypy3.X``) of the recorded major.minor when one is
  on PATH, else the interpreter running gitruns; any difference from the
  recorded version is a change (kind "environment").
- Installer: ``uv`` when on PATH (``uv venv`` + ``uv pip install``), else
  ``python -m venv --without-pip`` and the running interpreter's pip pointed at
  it (``pip --python``), else a venv with pip of its own.
- Packages: exactly the recorded ones, with ``--no-deps`` (the record is the
  whole environment, so nothing is resolved anew): ``name==version`` for a
  package from an index; the recorded VCS URL at its commit, archive URL (with
  its hash), or local directory (editable when it was) for PEP 610 sources.
  pip, setuptools, wheel, distribute and uv are tooling and skipped; gitruns is
  skipped too and the running gitruns is made importable instead (a ``.pth`` to
  a directory holding only a link to this gitruns package), so
  ``import gitruns`` in the command reaches the run that launched it.
- A package that cannot be installed is tried on its own after the batch failed,
  so every such package is named (``cannot install foo==1.2: <the installer's
  last error line>``), and the recreation fails; nothing half-built is kept.
- Cached by the digest of what is installed, under ``<state dir>/envs/<key>``:
  a second reproduce of the same environment reuses the venv.

Names, versions and URLs come from a record: untrusted.  Each is checked before
it reaches the installer's command line (a name cannot be an option).
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import record
from .envdiff import canonical
from .errors import GitrunsError
from .redact import REDACTED, scrub_text
from .terminal import warning_text

# Not recreated: the venv brings its own installer, and gitruns is linked in.
TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute", "uv", "gitruns"})
MARKER = ".gitruns-env.json"  # written last: a venv without it is half-built
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,200}[A-Za-z0-9])?\Z")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,100}\Z")
_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}\Z|^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}\Z")
_HASH = re.compile(r"^[a-z0-9]{2,20}=[0-9a-fA-F]{16,128}\Z")
MAX_ERROR_CHARS = 300

Progress = Callable[[str], None]


@dataclass
class Failure:
    spec: str  # what could not be installed, as shown ("foo==1.2", "bar @ git+https://...")
    reason: str  # the installer's last error line, or why it was not tried

    def line(self) -> str:
        return f"cannot install {self.spec}: {self.reason}"


class RecreateError(GitrunsError):
    """The environment could not be recreated; ``failures`` names every package that
    could not be installed (each one line)."""

    def __init__(self, message: str, failures: list[Failure]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class Recreated:
    venv: str
    bin_dir: str  # for RerunOptions.path_prefix
    python: str  # the venv's interpreter
    python_version: str
    installer: str  # "uv" | "pip"
    packages: list[str] = field(default_factory=list)  # the specs installed
    skipped: list[str] = field(default_factory=list)  # recorded packages not installed (tooling)
    changes: list[record.Change] = field(default_factory=list)  # kind "environment"
    reused: bool = False  # from the cache, not built now
    temporary: bool = False  # built for one reproduction only: remove it with discard()

    def to_dict(self) -> dict[str, Any]:
        return {"venv": self.venv, "bin_dir": self.bin_dir, "python": self.python,
                "python_version": self.python_version, "installer": self.installer,
                "packages": list(self.packages), "skipped": list(self.skipped),
                "changes": [dict(c) for c in self.changes], "reused": self.reused,
                "temporary": self.temporary}


@dataclass
class _Spec:
    name: str
    shown: str  # for messages: "foo==1.2"
    args: list[str]  # for the installer's command line
    problem: str | None = None  # not installable, known before trying


def _change(name: str, old: Any, new: Any) -> record.Change:
    change: dict[str, Any] = {"kind": "environment", "name": name, "from": old, "to": new}
    return change  # type: ignore[return-value]  # "from" is a keyword: a dict literal


def _spec(name: str, version: str, source: Any) -> _Spec:
    """The installer arguments for one recorded package (checked: from a record)."""
    shown = f"{name}=={version}"
    if not _NAME.match(name):
        return _Spec(name, warning_text(name, 80), [], "not a valid package name")
    if not _VERSION.match(version):
        return _Spec(name, f"{name}=={warning_text(version, 80)}", [], "not a valid version")
    if source is None:
        return _Spec(name, shown, [shown])
    if not isinstance(source, dict):
        return _Spec(name, shown, [], "its recorded source is not understood")

    def url_problem(url: Any) -> str | None:
        if not isinstance(url, str) or not url or url.startswith("-") or any(c.isspace() for c in url):
            return "its recorded URL is not valid"
        if REDACTED in url or REDACTED in urllib.parse.unquote(url):
            return "its URL was recorded without its credentials (redacted)"
        return None

    if "vcs" in source:
        url, commit, vcs = source.get("url"), source.get("commit"), str(source.get("vcs") or "git")
        shown = f"{name} @ {vcs}+{scrub_text(str(url))}" + (f"@{commit}" if commit else "")
        problem = url_problem(url) or (None if vcs in ("git", "hg", "svn", "bzr") else f"unknown VCS {vcs}")
        if commit is not None and not (isinstance(commit, str) and _COMMIT.match(commit)):
            problem = problem or "its recorded commit is not valid"
        if problem:
            return _Spec(name, warning_text(shown, 200), [], problem)
        return _Spec(name, shown, [f"{name} @ {vcs}+{url}" + (f"@{commit}" if commit else "")])
    if "archive" in source:
        url, digest = source.get("archive"), source.get("hash")
        shown = f"{name} @ {scrub_text(str(url))}"
        problem = url_problem(url)
        if digest is not None and not (isinstance(digest, str) and _HASH.match(digest)):
            problem = problem or "its recorded hash is not valid"
        if problem is None and str(url).startswith("file:") and \
                not os.path.exists(urllib.parse.unquote(urllib.parse.urlsplit(str(url)).path)):
            problem = "its archive is not on this machine"
        if problem:
            return _Spec(name, warning_text(shown, 200), [], problem)
        full = str(url) + (f"#{digest}" if digest and "#" not in str(url) else "")
        return _Spec(name, shown, [f"{name} @ {full}"])
    if "dir" in source:
        path, editable = source.get("dir"), source.get("editable") is True
        shown = f"{name} from {path}" + (" (editable)" if editable else "")
        if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
            return _Spec(name, warning_text(shown, 200), [], "its recorded directory is not an absolute path")
        if not os.path.isdir(path):
            return _Spec(name, warning_text(shown, 200), [], f"its directory {warning_text(path, 200)} is not here")
        if editable:
            return _Spec(name, shown, ["-e", path])
        return _Spec(name, shown, [f"{name} @ {urllib.parse.urljoin('file:', urllib.parse.quote(path))}"])
    return _Spec(name, shown, [], "its recorded source is not understood")


def _relocated(source: Any, relocate: Mapping[str, str] | None) -> Any:
    """A directory source under a key of ``relocate`` moved under its value (the user's
    working tree -> the temporary worktree holding the run's code)."""
    if not relocate or not isinstance(source, dict) or not isinstance(source.get("dir"), str):
        return source
    path = os.path.normpath(source["dir"])
    for old, new in relocate.items():
        old = os.path.normpath(old)
        if path == old or path.startswith(old.rstrip(os.sep) + os.sep):
            return {**source, "dir": new if path == old else os.path.join(new, os.path.relpath(path, old))}
    return source


def plan(env_json: Any, relocate: Mapping[str, str] | None = None) -> tuple[list[_Spec], list[str]]:
    """(the packages to install, the recorded names skipped as tooling).  ``relocate``
    maps directories to others for directory sources (see ``recreate``)."""
    py = env_json.get("python") if isinstance(env_json, dict) else None
    if not isinstance(py, dict) or not isinstance(py.get("packages"), dict):
        raise GitrunsError("the run's env.json records no Python packages; its environment cannot be recreated")
    pkgs = py["packages"]
    if "<error>" in pkgs:
        raise GitrunsError("the run's packages could not be read when it ran; its environment cannot be recreated")
    found = py.get("package_sources")
    sources: dict[str, Any] = found if isinstance(found, dict) else {}
    specs, skipped = [], []
    for name in sorted(pkgs, key=lambda n: canonical(str(n))):
        if canonical(str(name)) in TOOLING:
            skipped.append(str(name))
            continue
        specs.append(_spec(str(name), str(pkgs[name]), _relocated(sources.get(name), relocate)))
    return specs, skipped


def _version_of(python: str) -> tuple[str, str] | None:
    try:
        proc = subprocess.run([python, "-c", "import platform; print(platform.python_version(), "
                                             "platform.python_implementation())"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = proc.stdout.split()
    return (words[0], words[1]) if proc.returncode == 0 and len(words) == 2 else None


def choose_python(env_json: Any) -> tuple[str, str, list[record.Change]]:
    """(interpreter, its version, the changes from the recorded Python)."""
    found = env_json.get("python") if isinstance(env_json, dict) else None
    py: dict[str, Any] = found if isinstance(found, dict) else {}
    recorded = str(py.get("version") or "")
    impl = str(py.get("implementation") or "CPython")
    candidates = []
    m = re.match(r"^(\d+)\.(\d+)", recorded)
    if m:
        stem = "pypy" if impl == "PyPy" else "python"
        found = shutil.which(f"{stem}{m.group(1)}.{m.group(2)}")
        if found:
            candidates.append(found)
    candidates.append(sys.executable)
    for python in candidates:
        got = _version_of(python)
        if got is None:
            continue
        version, got_impl = got
        changes = []
        if version != recorded:
            changes.append(_change("python", recorded or None, version))
        if got_impl != impl:
            changes.append(_change("python_implementation", impl, got_impl))
        return python, version, changes
    raise GitrunsError("no Python interpreter to build the environment with")


def _installer(requested: str) -> str:
    if requested not in ("auto", "uv", "pip"):
        raise GitrunsError(f"unknown installer '{requested}' (auto, uv or pip)")
    if requested == "auto":
        return "uv" if shutil.which("uv") else "pip"
    if requested == "uv" and not shutil.which("uv"):
        raise GitrunsError("uv is not on PATH")
    return requested


def env_key(python_version: str, installer: str, specs: list[_Spec]) -> str:
    """The cache key of an environment: Python major.minor, installer, and what is installed."""
    minor = ".".join(python_version.split(".")[:2])
    text = json.dumps({"python": minor, "installer": installer, "packages": [s.args for s in specs]})
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


def _last_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip().lstrip("×│╰─▶ ").strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines()]
    lines = [line for line in lines if line and "is ignored: it is neither a file nor a directory" not in line]
    # uv says why on a "cause:" line after its "error:" line; pip's last "ERROR:" line says it.
    causes = [line for line in lines if line.lower().startswith("cause:")]
    errors = [line for line in lines if line.lower().startswith("error")]
    text = (causes or errors or lines or [f"exit {proc.returncode}"])[-1]
    text = re.sub(r"^(error|cause):\s*", "", text, flags=re.I) or text
    return warning_text(scrub_text(text), MAX_ERROR_CHARS)


class _Builder:
    def __init__(self, installer: str, python: str, venv: str) -> None:
        self.installer = installer
        self.python = python
        self.venv = venv
        self.venv_python = os.path.join(venv, "bin", "python")
        # pip of the running interpreter pointed at the venv: no ensurepip (seconds) per venv.
        self.outer_pip = installer == "pip" and importlib.util.find_spec("pip") is not None

    def create(self) -> None:
        if self.installer == "uv":
            argv = ["uv", "venv", "--quiet", "--python", self.python, self.venv]
        elif self.outer_pip:
            argv = [self.python, "-m", "venv", "--without-pip", self.venv]
        else:
            argv = [self.python, "-m", "venv", self.venv]
        proc = _run(argv)
        if proc.returncode != 0:
            raise GitrunsError(f"cannot create a virtual environment at {self.venv}: {_last_error(proc)}")

    def install(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        if self.installer == "uv":
            argv = ["uv", "pip", "install", "--python", self.venv_python, "--no-deps", *args]
        elif self.outer_pip:
            argv = [sys.executable, "-m", "pip", "--python", self.venv_python, "install", "--no-deps",
                    "--disable-pip-version-check", "--no-input", *args]
        else:
            argv = [self.venv_python, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
                    "--no-input", *args]
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        return _run(argv, env)

    def link_gitruns(self) -> None:
        """``import gitruns`` in the venv reaches the running gitruns, and nothing else of
        its environment: a .pth naming a directory that holds only a link to the package."""
        proc = _run([self.venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        site = proc.stdout.strip()
        if proc.returncode != 0 or not os.path.isdir(site):
            raise GitrunsError(f"cannot find the site-packages of {self.venv}: {_last_error(proc)}")
        holder = os.path.join(self.venv, "gitruns-link")
        os.makedirs(holder, exist_ok=True)
        here = os.path.dirname(os.path.abspath(__file__))
        link = os.path.join(holder, "gitruns")
        if not os.path.lexists(link):
            os.symlink(here, link)
        with open(os.path.join(site, "gitruns-link.pth"), "w", encoding="utf-8") as fh:
            fh.write(holder + "\n")


def recreate(env_json: dict[str, Any], dest: str, progress: Progress | None = None,
             installer: str = "auto", relocate: Mapping[str, str] | None = None) -> Recreated:
    """A virtual environment at ``dest`` with the recorded packages: reused when ``dest``
    already holds a complete one for the same packages, else (re)built there.
    Raises RecreateError naming every package that could not be installed.

    ``relocate`` maps a directory to another for packages installed from a local
    directory: give ``{user's repository root: temporary worktree root}`` so that a
    project installed from its own repository (``pip install -e .``) is installed from
    the run's code, not from today's working tree."""
    say = progress or (lambda _message: None)
    specs, skipped = plan(env_json, relocate)
    python, version, changes = choose_python(env_json)
    tool = _installer(installer)
    key = env_key(version, tool, specs)
    pkgs: dict[str, Any] = env_json["python"]["packages"]  # plan() checked the shape
    changes += [_change(f"package {name}", str(pkgs.get(name)), None) for name in skipped
                if canonical(name) != "gitruns"]
    shown = [s.shown for s in specs]
    result = Recreated(dest, os.path.join(dest, "bin"), os.path.join(dest, "bin", "python"), version, tool,
                       shown, skipped, changes)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    with open(f"{dest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another reproduce building the same venv: wait for it
        if _complete(dest, key):
            result.reused = True
            return result
        if os.path.lexists(dest):
            shutil.rmtree(dest)  # half-built, or for other packages
        # Packages refused from the record are named with the others, after trying them all.
        failures = [Failure(s.shown, s.problem) for s in specs if s.problem]
        good = [s for s in specs if not s.problem]
        builder = _Builder(tool, python, dest)
        try:
            say(f"creating a virtual environment with Python {version} ({tool})")
            builder.create()
            if good:
                say(f"installing {len(good)} package(s)")
                proc = builder.install([a for s in good for a in s.args])
                if proc.returncode != 0:
                    # One by one, so that every package that cannot be installed is named.
                    before = len(failures)
                    for s in good:
                        say(f"installing {s.shown}")
                        one = builder.install(s.args)
                        if one.returncode != 0:
                            failures.append(Failure(s.shown, _last_error(one)))
                    if len(failures) == before:
                        failures.append(Failure("the packages together", _last_error(proc)))
            if failures:
                raise RecreateError(_message(failures), failures)
            builder.link_gitruns()
            with open(os.path.join(dest, MARKER), "w", encoding="utf-8") as fh:
                json.dump({"key": key, "python": version, "installer": tool, "packages": shown}, fh)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return result


def _complete(dest: str, key: str) -> bool:
    try:
        with open(os.path.join(dest, MARKER), encoding="utf-8") as fh:
            return bool(json.load(fh).get("key") == key)
    except (OSError, ValueError, AttributeError):
        return False


def _message(failures: list[Failure]) -> str:
    if len(failures) == 1:
        return failures[0].line()
    return (f"cannot install {len(failures)} packages: "
            + "; ".join(f"{f.spec} ({f.reason})" for f in failures))


def cache_dir(state_dir: str) -> str:
    """Where recreated environments are kept: ``<state dir>/envs``."""
    return os.path.join(state_dir, "envs")


def recreate_cached(state_dir: str, env_json: dict[str, Any], progress: Progress | None = None,
                    installer: str = "auto", relocate: Mapping[str, str] | None = None) -> Recreated:
    """``recreate`` into ``<state dir>/envs/<key>``: the same recorded packages (and Python
    major.minor and installer) reuse the same venv.

    A venv with a package relocated into the temporary worktree (see ``recreate``)
    depends on that worktree's code, so it is not kept for another reproduction: it is
    built in a directory of its own, ``temporary`` is set, and the caller removes it
    with :func:`discard` once the run is over."""
    specs, _ = plan(env_json, relocate)
    _, version, _ = choose_python(env_json)
    key = env_key(version, _installer(installer), specs)
    root = cache_dir(state_dir)
    if relocate and [s.args for s in specs] != [s.args for s in plan(env_json)[0]]:
        import tempfile

        os.makedirs(root, exist_ok=True)
        made = recreate(env_json, tempfile.mkdtemp(prefix=f"relocated-{key[:8]}-", dir=root), progress,
                        installer, relocate)
        made.temporary = True
        return made
    return recreate(env_json, os.path.join(root, key), progress, installer, relocate)


def discard(made: Recreated) -> None:
    """Remove a venv that ``recreate_cached`` built for one reproduction only."""
    if made.temporary:
        shutil.rmtree(made.venv, ignore_errors=True)
        try:
            os.unlink(f"{made.venv}.lock")
        except OSError:
            pass
