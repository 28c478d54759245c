"""``git run sweep``: a grid (or K random points of it) of runs of one group.

Each point is a normal run (``git run exec -p key=value ... -- CMD``, or
``git run pipeline -f FILE -p ...``) launched as a subprocess in a temporary
worktree holding the user's current code (:mod:`gitruns.tempworktree`), so the
user's working tree, index and HEAD are never touched.  The points share a
group (``run_group``: the sweep id), the tag ``sweep=<id>``, and a ``sweep``
record field saying where each sits in the sweep.  A point's own output goes to
a log file under the state dir (its record keeps it anyway).

Nothing here prints: progress goes to a callback, the result is returned.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import random as random_mod
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import runid, userconfig
from .errors import UsageError
from .repo import Repo, open_repo, relative_to_root

# How long a point's process gets to record itself canceled after SIGTERM
# (exec's own grace, plus a margin) before it is SIGKILLed.
_CANCEL_WAIT_S = 30.0


@dataclass
class Axis:
    key: str
    texts: list[str]  # the values as typed (what -p gets)
    values: list[Any]  # as userconfig types them


def parse_params(items: list[str]) -> list[Axis]:
    """``-p key=v1,v2`` options as axes, in the order given.  A key given twice,
    an empty key or value, or a missing ``=`` is a :class:`UsageError`."""
    axes: list[Axis] = []
    seen: set[str] = set()
    for item in items:
        key, sep, rest = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"-p '{item}': expected key=value[,value...]")
        texts = [t.strip() for t in rest.split(",")]
        if any(not t for t in texts):
            raise UsageError(f"-p '{item}': an empty value (values are separated by commas)")
        if key in seen:
            raise UsageError(f"-p {key} is given twice; list all its values in one -p {key}=a,b,c")
        seen.add(key)
        axes.append(Axis(key, texts, [userconfig.parse_scalar(t) for t in texts]))
    if not axes:
        raise UsageError("sweep needs at least one -p key=value[,value...]")
    return axes


def grid(axes: list[Axis]) -> list[list[int]]:
    """Every point of the grid, as the index of each axis's value; the last axis
    varies fastest (the cartesian product in the order given)."""
    return [list(p) for p in itertools.product(*(range(len(a.texts)) for a in axes))]


# A grid larger than this is refused without --random: launching a million runs
# by accident is not a sweep anyone meant.
MAX_POINTS = 10_000


def grid_size(axes: list[Axis]) -> int:
    return math.prod(len(a.texts) for a in axes)


def point_at(axes: list[Axis], index: int) -> list[int]:
    """The ``index``-th point of :func:`grid` without making the grid (mixed radix)."""
    out: list[int] = []
    for axis in reversed(axes):
        index, digit = divmod(index, len(axis.texts))
        out.append(digit)
    return out[::-1]


def pick(total: int, k: int | None, seed: int | None) -> tuple[list[int] | None, int | None]:
    """The indices of ``k`` points of ``total`` drawn without replacement with
    ``random.Random(seed)`` (a seed is drawn when none is given), in grid order;
    None (all of them) when ``k`` is None.  Returns them and the seed used."""
    if k is None:
        return None, seed
    if k < 1:
        raise UsageError(f"--random {k}: expected a number of points of at least 1")
    if seed is None:
        seed = random_mod.SystemRandom().randrange(2**31)
    return sorted(random_mod.Random(seed).sample(range(total), min(k, total))), seed


def choose(points: list[list[int]], k: int | None, seed: int | None) -> tuple[list[list[int]], int | None]:
    """``k`` of ``points`` as :func:`pick` draws them; all points when ``k`` is None."""
    picked, seed = pick(len(points), k, seed)
    return (points if picked is None else [points[i] for i in picked]), seed


def select(axes: list[Axis], k: int | None, seed: int | None) -> tuple[list[list[int]], int | None]:
    """The points a sweep runs: the whole grid (at most MAX_POINTS), or ``k`` drawn
    from it without making it."""
    total = grid_size(axes)
    if k is None and total > MAX_POINTS:
        raise UsageError(f"the grid has {total:,} points, more than {MAX_POINTS:,}: run --random K of them")
    picked, seed = pick(total, k, seed)
    if picked is None:
        return grid(axes), seed
    return [point_at(axes, i) for i in picked], seed


@dataclass
class SweepOptions:
    params: list[str]  # -p key=v1,v2,...
    argv: list[str] = field(default_factory=list)  # the command (empty with pipeline_file)
    pipeline_file: str | None = None  # -f FILE: each point a pipeline run
    jobs: int = 1
    random: int | None = None
    seed: int | None = None
    sort: str | None = None  # METRIC ascending, -METRIC descending
    metrics: list[str] = field(default_factory=list)  # --metric: the table's metric columns
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metrics_files: list[str] = field(default_factory=list)
    cwd: str | None = None
    progress: Callable[[SweepProgress], None] | None = None


@dataclass
class SweepProgress:
    size: int
    done: int
    failed: int
    running: int


@dataclass
class PointResult:
    index: int
    point: dict[str, Any]
    run_id: str | None = None
    status: str = "pending"  # then a run status, or "not started"
    exit_code: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "run": self.run_id, "status": self.status, "exit_code": self.exit_code,
                "params": self.point, "metrics": self.metrics, "error": self.error, "log": self.log}


@dataclass
class SweepResult:
    id: str
    size: int
    random: bool
    seed: int | None
    keys: list[str]
    points: list[PointResult]
    interrupted: bool = False
    sort: str | None = None
    metric_columns: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if all(p.status == "succeeded" for p in self.points) else 1

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "size": self.size, "random": self.random, "seed": self.seed, "params": self.keys,
                "sort": self.sort, "metrics": self.metric_columns, "interrupted": self.interrupted,
                "points": [p.to_dict() for p in self.ordered()]}

    def ordered(self) -> list[PointResult]:
        """The points as the table shows them: by the sort metric (points lacking it
        after those that have it), failed and unfinished points last, else sweep order."""
        ok = [p for p in self.points if p.status == "succeeded"]
        rest = [p for p in self.points if p.status != "succeeded"]
        if self.sort:
            name = self.sort.lstrip("-")
            descending = self.sort.startswith("-")

            def key(p: PointResult) -> tuple[int, float]:
                value = p.metrics.get(name)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    return (1, 0.0)
                return (0, -float(value) if descending else float(value))

            ok.sort(key=key)
        return ok + rest


def sweep(options: SweepOptions) -> SweepResult:
    """Run every point of the sweep; return what each did."""
    if bool(options.argv) == bool(options.pipeline_file):
        raise UsageError("sweep needs a command after '--' or a pipeline file with -f, not both")
    if options.jobs < 1:
        raise UsageError(f"-j {options.jobs}: expected at least 1")
    if options.sort is not None and not options.sort.lstrip("-"):
        raise UsageError("--sort: expected a metric name (-NAME for descending)")
    axes = parse_params(options.params)
    points, seed = select(axes, options.random, options.seed)
    cwd = options.cwd or os.getcwd()
    repo = open_repo(cwd)
    root = repo.require_worktree()
    rel_cwd = relative_to_root(root, cwd)
    if rel_cwd is None:
        raise UsageError(f"{cwd} is outside the working tree {root}")
    staged = _staged_paths(root, cwd, [*options.inputs, *options.config_files])
    commit, tree = _snapshot(repo)
    sweep_id = runid.new_id()
    log_dir = os.path.join(repo.state_dir, "sweeps", sweep_id)
    os.makedirs(log_dir, exist_ok=True)
    results = [PointResult(i, {a.key: a.values[v] for a, v in zip(axes, p, strict=True)})
               for i, p in enumerate(points)]
    runner = _Runner(repo, root, rel_cwd, commit, tree, staged, options, log_dir, len(points))
    lineage_base = {"id": sweep_id, "size": len(points), "random": options.random is not None, "seed": seed}
    started_ms = runid.timestamp_ms(sweep_id)
    interrupted = False
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        futures = []
        for res, p in zip(results, points, strict=True):
            overrides = [f"{a.key}={a.texts[v]}" for a, v in zip(axes, p, strict=True)]
            lineage = {"run_group": sweep_id, "sweep": {**lineage_base, "index": res.index, "point": res.point}}
            futures.append(pool.submit(runner.run_point, res, overrides, lineage))
        try:
            while not all(f.done() for f in futures):
                time.sleep(0.05)
        except KeyboardInterrupt:
            interrupted = True
            runner.cancel_all()
        for f in futures:
            f.result()
    _find_runs(repo, sweep_id, started_ms, results)
    columns = _metric_columns(results, options)
    return SweepResult(sweep_id, len(points), options.random is not None, seed, [a.key for a in axes], results,
                       interrupted, options.sort, columns)


def _staged_paths(root: str, cwd: str, paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        full = os.path.normpath(os.path.join(cwd, p))
        rel = relative_to_root(root, full)
        if rel is None or rel == ".":
            raise UsageError(f"{p} is outside the working tree {root}")
        if not os.path.lexists(full):
            raise UsageError(f"{p} does not exist")
        out.append(rel)
    return out


def _snapshot(repo: Repo) -> tuple[str, str]:
    """The user's current code, written as a tree without touching the index (as exec
    records it): the HEAD commit and that tree."""
    from . import snapshot

    code = snapshot.current(repo)
    if code.commit is None:
        raise UsageError("sweep needs a commit to start from: this repository has none yet")
    return code.commit, code.snapshot_tree


class _Runner:
    """Runs points, each in its own temporary worktree, and can cancel them all."""

    def __init__(self, repo: Repo, root: str, rel_cwd: str, commit: str, tree: str, staged: list[str],
                 options: SweepOptions, log_dir: str, size: int) -> None:
        self.repo = repo
        self.root = root
        self.rel_cwd = rel_cwd
        self.commit = commit
        self.tree = tree
        self.staged = staged
        self.options = options
        self.log_dir = log_dir
        self.lock = threading.Lock()
        self.making = threading.Lock()
        self.children: set[subprocess.Popen[bytes]] = set()
        self.canceled = False
        self.progress = SweepProgress(size, 0, 0, 0)

    def _tell(self) -> None:
        if self.options.progress is not None:
            self.options.progress(SweepProgress(**vars(self.progress)))

    def command(self, overrides: list[str], lineage: dict[str, Any], index: int) -> list[str]:
        o = self.options
        verb = "pipeline" if o.pipeline_file else "exec"
        args = [sys.executable, "-m", "gitruns", verb, "--lineage", json.dumps(lineage)]
        for ov in overrides:
            args += ["-p", ov]
        args += ["--tag", f"sweep={lineage['run_group']}"]
        for t in o.tags:
            args += ["--tag", t]
        if o.name:
            args += ["--name", f"{o.name}-{index}"]
        for c in o.config_files:
            args += ["-c", c]
        if o.pipeline_file:
            return [*args, "-f", o.pipeline_file]
        for flag, items in (("-i", o.inputs), ("-o", o.outputs), ("-m", o.metrics_files)):
            for item in items:
                args += [flag, item]
        return [*args, "--", *o.argv]

    def run_point(self, res: PointResult, overrides: list[str], lineage: dict[str, Any]) -> None:
        from . import staging, tempworktree

        with self.lock:
            if self.canceled:
                res.status, res.error = "not started", "the sweep was interrupted first"
                return
            self.progress.running += 1
            self._tell()
        res.log = os.path.join(self.log_dir, f"{res.index}.log")
        try:
            with contextlib.ExitStack() as stack:
                with self.making:  # one 'git worktree add' at a time: they share .git/worktrees/
                    wt = stack.enter_context(tempworktree.temporary_worktree(self.repo, self.commit, self.tree))
                for rel in self.staged:
                    staging.stage(self.root, wt, rel)
                env = tempworktree.git_env()
                env["GITRUNS_INVOKED_BY"] = "sweep"
                env.pop("GITRUNS_RUN_ID", None)
                with open(res.log, "wb") as log:
                    with self.lock:
                        if self.canceled:
                            res.status, res.error = "not started", "the sweep was interrupted first"
                            return
                        # Its own session: a ^C on the terminal reaches the sweep only,
                        # which cancels each point with SIGTERM (and each records it).
                        child = subprocess.Popen(self.command(overrides, lineage, res.index),
                                                 cwd=os.path.join(wt, self.rel_cwd), env=env,
                                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True)
                        self.children.add(child)
                    try:
                        res.exit_code = child.wait()
                    finally:
                        with self.lock:
                            self.children.discard(child)
        except Exception as exc:  # noqa: BLE001 - one point's problem is reported, not fatal to the sweep
            res.status = "failed"
            res.error = " ".join(f"{exc}".split()) or type(exc).__name__
        finally:
            with self.lock:
                self.progress.running -= 1
                self.progress.done += 1
                if res.exit_code != 0:
                    self.progress.failed += 1
                self._tell()

    def cancel_all(self) -> None:
        """SIGTERM to every running point (each records itself canceled); SIGKILL to
        one that is still there after a while; no new point starts."""
        with self.lock:
            self.canceled = True
            children = list(self.children)
        for child in children:
            try:
                child.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + _CANCEL_WAIT_S
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()


def _find_runs(repo: Repo, sweep_id: str, started_ms: int, results: list[PointResult]) -> None:
    """Each point's run, found by its record's sweep id and index (runs made
    before the sweep started are not read)."""
    from . import recordread, runrefs

    by_index = {r.index: r for r in results}
    for rid, commit in runrefs.iter_refs(repo):
        try:
            if runid.timestamp_ms(rid) < started_ms:
                continue
            rec = recordread.read_record(repo.git, commit)
        except Exception:  # noqa: BLE001, S112 - a run that cannot be read is not one of ours
            continue
        sw = rec.get("sweep")
        if not isinstance(sw, dict) or sw.get("id") != sweep_id:
            continue
        res = by_index.get(sw.get("index"))
        if res is None:
            continue
        res.run_id = rid
        res.status = str(rec.get("status"))
        metrics = rec.get("metrics") or {}
        res.metrics = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
        error = rec.get("error")
        if error and res.status != "succeeded":
            res.error = " ".join(str(error.get("message") or error.get("type")).split())
    for res in results:
        if res.run_id is None and res.status == "pending":
            res.status = "failed"
            res.error = res.error or f"no run was recorded (exit {res.exit_code}); see {res.log}"


def _metric_columns(results: list[PointResult], options: SweepOptions) -> list[str]:
    """The metrics the table shows: those named (--metric, --sort), else every final
    metric all succeeded points share, in the order the first has them."""
    named = list(options.metrics)
    if options.sort and options.sort.lstrip("-") not in named:
        named.insert(0, options.sort.lstrip("-"))
    if named:
        return named
    ok = [r for r in results if r.status == "succeeded"]
    if not ok:
        return []
    return [k for k in ok[0].metrics if all(k in r.metrics for r in ok[1:])]
