"""Helpers shared by the benchmarks: a scratch repository and a timer."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

BIN = os.path.dirname(sys.executable)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = BIN + os.pathsep + e.get("PATH", "")
    e.setdefault("GIT_AUTHOR_NAME", "bench")
    e.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    e.setdefault("GIT_COMMITTER_NAME", "bench")
    e.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")
    e.pop("GITRUNS_TRACE", None)
    return e


def scratch_repo(files: int = 50) -> str:
    path = tempfile.mkdtemp(prefix="gitruns-bench-")
    run(["git", "init", "-q", path])
    for i in range(files):
        with open(os.path.join(path, f"module_{i}.py"), "w") as fh:
            fh.write(f"VALUE = {i}\n" * 20)
    run(["git", "add", "-A"], cwd=path)
    run(["git", "commit", "-qm", "bench"], cwd=path)
    return path


def run(argv: list[str], cwd: str | None = None) -> None:
    subprocess.run(argv, cwd=cwd, env=env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(fn: Callable[[], None], repeat: int) -> float:
    return statistics.median(timed(fn) for _ in range(repeat))


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().release}"


def template_run(repo: str) -> tuple[Any, str, dict[str, Any], dict[str, bytes]]:
    """The one run of ``repo`` read back to be copied under new ids through gitruns' own
    store: (opened repository, its run id, its record, its .gitruns/ files but run.json)."""
    import pygit2

    from gitruns import recordread, runrefs
    from gitruns.repo import open_repo

    r = open_repo(repo)
    (rid, commit), = list(runrefs.iter_refs(r))
    template = recordread.read_record(r.git, commit)
    tree = r.git[pygit2.Oid(hex=commit)].peel(pygit2.Tree)
    files = {e.name: bytes(r.git[e.id].data) for e in r.git[tree[".gitruns"].id]}
    files.pop("run.json")
    return r, rid, dict(template), files
