"""What the command ran on: its Python and packages, the OS and hardware.

The Python recorded is the one that actually runs the command: the command
itself when it is a Python interpreter (resolved on the PATH the command gets),
the interpreter named by a script's ``#!`` line, or else the first ``python3``
on that PATH (what a shell script or ``make`` would most likely call).  Its
packages are read by running that interpreter, in parallel with the rest of
the launch, and cached per interpreter until a directory on its ``sys.path``
changes.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
from typing import Any

from . import gitcmd, redact

_PYTHON_NAME = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?(\.exe)?$")

_PROBE = r"""
import json, sys, platform
try:
    from importlib import metadata
    pkgs = {}
    direct = {}
    for d in metadata.distributions():
        name = d.metadata["Name"]
        if name and name not in pkgs:
            pkgs[name] = d.version
            try:
                text = d.read_text("direct_url.json")
            except Exception:
                text = None
            if text and len(text) < 65536:
                try:
                    direct[name] = json.loads(text)
                except ValueError:
                    pass
except Exception as exc:
    pkgs = {"<error>": str(exc)}
    direct = {}
print(json.dumps({
    "executable": sys.executable,
    "version": platform.python_version(),
    "implementation": platform.python_implementation(),
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "sys_path": [p for p in sys.path if p],
    "packages": dict(sorted(pkgs.items(), key=lambda kv: kv[0].lower())),
    "direct_urls": direct,
}))
"""

# Environment variables worth recording (prefixes end in '*').
DEFAULT_ENV = [
    "PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHASHSEED", "PYTHON*",
    "VIRTUAL_ENV", "CONDA_*", "CUDA_*", "CUDNN_*", "NVIDIA_*", "NCCL_*", "OMP_*", "MKL_*",
    "OPENBLAS_*", "TORCH_*", "PYTORCH_*", "TF_*", "XLA_*", "JAX_*", "HF_*", "TRANSFORMERS_*",
    "TOKENIZERS_*", "WANDB_*", "MLFLOW_*", "SLURM_*", "LANG", "LC_*", "TZ", "CI", "GITRUNS_*",
]


def _which(name: str, path: str | None) -> str | None:
    return shutil.which(name, path=path)


def python_for(argv: list[str], env: dict[str, str]) -> tuple[str | None, str]:
    """The interpreter that will run ``argv``, and how it was chosen."""
    path = env.get("PATH")
    prog = argv[0] if argv else ""
    resolved = prog if os.sep in prog else _which(prog, path)
    if resolved and _PYTHON_NAME.match(os.path.basename(prog)):
        return resolved, "command"
    if resolved and os.path.isfile(resolved):
        try:
            with open(resolved, "rb") as fh:
                first = fh.readline(256)
        except OSError:
            first = b""
        if first.startswith(b"#!"):
            words = first[2:].decode(errors="replace").split()
            if words and os.path.basename(words[0]) == "env" and len(words) > 1:
                words = words[1:]
                if words[0] == "-S" and len(words) > 1:
                    words = words[1:]
                interp = _which(words[0], path)
            else:
                interp = words[0] if words else None
            if interp and _PYTHON_NAME.match(os.path.basename(interp)):
                return interp, "shebang"
    for name in ("python3", "python"):
        found = _which(name, path)
        if found:
            return found, "path"
    return None, "none"


# Bumped when the probe records more: older cache files are then read again.
PROBE_VERSION = 2


def _redact_url(url: str) -> str:
    """A URL fit for a record: a password redacted (``redact.scrub_text``), and over
    http(s) a user name alone too (``https://TOKEN@host/`` is how tokens are often
    given to pip and git)."""
    import urllib.parse

    url = redact.scrub_text(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() in ("http", "https", "git+http", "git+https") and "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        if ":" not in userinfo:
            return urllib.parse.urlunsplit(parts._replace(netloc=f"{redact.REDACTED}@{host}"))
    return url


def package_source(direct: Any) -> dict[str, Any] | None:
    """Where a package came from, from its PEP 610 ``direct_url.json``:
    ``{"vcs": "git", "url", "commit"}``, ``{"dir": path, "editable": bool}`` or
    ``{"archive": url, "hash"}``; None when pip installed it from an index (which
    index is not recorded anywhere, so it cannot be known) or nothing says."""
    import urllib.parse

    if not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
        return None
    url = direct["url"]
    vcs, dir_info, archive = direct.get("vcs_info"), direct.get("dir_info"), direct.get("archive_info")
    if isinstance(vcs, dict):
        return {"vcs": str(vcs.get("vcs") or "git"), "url": _redact_url(url),
                "commit": vcs.get("commit_id") if isinstance(vcs.get("commit_id"), str) else None}
    if isinstance(dir_info, dict):
        parts = urllib.parse.urlsplit(url)
        path = urllib.parse.unquote(parts.path) if parts.scheme == "file" else _redact_url(url)
        return {"dir": path, "editable": dir_info.get("editable") is True}
    if isinstance(archive, dict):
        digest = archive.get("hash") if isinstance(archive.get("hash"), str) else None
        hashes = archive.get("hashes")
        if isinstance(hashes, dict) and hashes:
            algo = "sha256" if "sha256" in hashes else sorted(hashes)[0]
            digest = f"{algo}={hashes[algo]}"
        return {"archive": _redact_url(url), "hash": digest}
    return None


def with_sources(info: Any) -> Any:
    """The probe's answer with ``direct_urls`` turned into ``package_sources``: one
    entry per package, None where the source is not knowable."""
    if not isinstance(info, dict):
        return info
    direct = info.pop("direct_urls", None)
    direct = direct if isinstance(direct, dict) else {}
    pkgs = info.get("packages")
    if isinstance(pkgs, dict) and "<error>" not in pkgs:
        info["package_sources"] = {name: package_source(direct.get(name)) for name in pkgs}
    return info


class PythonProbe:
    """Reads an interpreter's packages, using a cache when nothing changed."""

    def __init__(self, interpreter: str | None, source: str, cache_dir: str, env: dict[str, str]) -> None:
        self.interpreter = interpreter
        self.source = source
        self.cache_file = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.cached: dict[str, Any] | None = None
        if interpreter is None:
            return
        real = os.path.realpath(interpreter)
        pypath = env.get("PYTHONPATH", "")
        key = hashlib.sha1(f"{interpreter}\0{real}\0{pypath}".encode()).hexdigest()[:20]
        self.cache_file = os.path.join(cache_dir, f"python-{key}.json")
        self.cached = self._load_cache()
        if self.cached is None:
            # Same environment as the command, so PYTHONPATH and user site count.
            self.proc = gitcmd.start([interpreter, "-c", _PROBE], env)

    def _stamp(self, paths: list[str]) -> dict[str, int]:
        out = {}
        for p in paths:
            try:
                out[p] = os.stat(p).st_mtime_ns
            except OSError:
                out[p] = -1
        return out

    def _load_cache(self) -> dict[str, Any] | None:
        assert self.cache_file is not None and self.interpreter is not None
        try:
            with open(self.cache_file, encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("probe") != PROBE_VERSION:
                return None  # written by an older probe (no package sources)
            if data["stamp"] != self._stamp(list(data["stamp"])):
                return None
            if data["exe_mtime"] != os.stat(self.interpreter).st_mtime_ns:
                return None
            return dict(data["info"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def result(self, timeout: float = 30.0) -> dict[str, Any] | None:
        if self.interpreter is None:
            return None
        if self.cached is not None:
            info = self.cached
        else:
            assert self.proc is not None
            try:
                out, _ = self.proc.communicate(timeout=timeout)
                info = with_sources(json.loads(out.decode()))
            except (subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                return {"executable": self.interpreter, "error": "could not read the interpreter's packages"}
            self._save(info)
        info = dict(info)
        info["chosen_by"] = self.source
        info.pop("sys_path", None)
        return info

    def _save(self, info: dict[str, Any]) -> None:
        assert self.cache_file is not None and self.interpreter is not None
        try:
            os.makedirs(os.path.dirname(self.cache_file), exist_ok=True)
            data = {
                "probe": PROBE_VERSION,
                "stamp": self._stamp([p for p in info.get("sys_path", []) if os.path.isdir(p)]),
                "exe_mtime": os.stat(self.interpreter).st_mtime_ns,
                "info": info,
            }
            tmp = f"{self.cache_file}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.cache_file)
        except OSError:
            pass


class GpuProbe:
    """nvidia-smi, when present, queried in the background."""

    def __init__(self) -> None:
        self.proc = None
        self.header = None
        exe = shutil.which("nvidia-smi")
        if exe:
            self.proc = gitcmd.start([exe, "--query-gpu=name,driver_version,memory.total,uuid",
                                      "--format=csv,noheader,nounits"])
            self.header = gitcmd.start([exe])

    def result(self) -> dict[str, Any]:
        if self.proc is None:
            return {"gpus": [], "driver": None, "cuda": None}
        gpus = []
        driver = None
        try:
            out, _ = self.proc.communicate(timeout=20)
            for line in out.decode(errors="replace").splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) >= 3:
                    driver = parts[1]
                    gpus.append({"name": parts[0], "driver": parts[1],
                                 "memory_mib": int(parts[2]) if parts[2].isdigit() else parts[2],
                                 "uuid": parts[3] if len(parts) > 3 else None})
        except subprocess.TimeoutExpired:
            self.proc.kill()
        cuda = None
        if self.header is not None:
            try:
                text, _ = self.header.communicate(timeout=20)
                m = re.search(r"CUDA Version:\s*([\d.]+)", text.decode(errors="replace"))
                cuda = m.group(1) if m else None
            except subprocess.TimeoutExpired:
                self.header.kill()
        return {"gpus": gpus, "driver": driver, "cuda": cuda}


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _os_release() -> str | None:
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', _read("/etc/os-release"), re.M)
    return m.group(1) if m else None


def _cpu_model() -> str | None:
    m = re.search(r"^(model name|Model|Hardware)\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    return m.group(2).strip() if m else (platform.processor() or None)


def _memory_bytes() -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    if m:
        return int(m.group(1)) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


# Set by exec for the command itself; they say nothing about the environment.
OWN_VARIABLES = {"GITRUNS_RUN_ID", "GITRUNS_RUN_DIR", "GITRUNS_CONFIG_FILE", "GITRUNS_REPO_ROOT"}


def selected_env(env: dict[str, str], extra: list[str]) -> dict[str, str]:
    patterns = DEFAULT_ENV + extra
    out = {}
    for name in sorted(env):
        if name in OWN_VARIABLES:
            continue
        for pat in patterns:
            if (pat.endswith("*") and name.startswith(pat[:-1])) or name == pat:
                out[name] = redact.env_value(name, env[name])
                break
    return out


class EnvironmentCapture:
    """Everything env.json holds; probes start at construction and run in parallel."""

    def __init__(self, argv: list[str], env: dict[str, str], cache_dir: str, extra_env: list[str]) -> None:
        interp, source = python_for(argv, env)
        self.python = PythonProbe(interp, source, cache_dir, env)
        self.gpu = GpuProbe()
        self.git = gitcmd.start(["git", "--version"])
        self.env = env
        self.extra_env = extra_env

    def result(self) -> dict[str, Any]:
        uname = platform.uname()
        git_version = None
        if self.git is not None:
            out, _ = self.git.communicate()
            git_version = out.decode(errors="replace").strip().removeprefix("git version ")
        gpu = self.gpu.result()
        return {
            "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": self.python.result(),
            "os": {
                "system": uname.system,
                "release": uname.release,
                "version": uname.version,
                "distribution": _os_release(),
                "machine": uname.machine,
            },
            "cpu": {"model": _cpu_model(), "count": os.cpu_count(), "arch": uname.machine},
            "memory_bytes": _memory_bytes(),
            "gpus": gpu["gpus"],
            "gpu_driver": gpu["driver"],
            "cuda": gpu["cuda"],
            "git": git_version,
            "env": selected_env(self.env, self.extra_env),
        }
