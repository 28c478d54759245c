"""Running a pipeline: one run, one ref, a commit per step start and end.

:func:`run` refuses what cannot run (exit 2) before anything is recorded, then
writes the launch commit holding the whole plan (every step ``pending``) and
schedules the steps: up to ``jobs`` at once, each when the steps it needs have
succeeded (or were reused from the cache), in plan order.  Everything happens
on this thread: children are polled, never waited on by threads, so every
commit of the run comes from one place in order.

Nothing here prints: the caller is told of each step through
``PipelineOptions.progress`` and of the outcome by the returned
:class:`PipelineOutcome`.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

from .. import logfiles, outputs, record, redact, rundir, timeutil, userconfig
from ..errors import GitrunsError, UsageError
from ..hashing import StatCache, hash_path
from ..launchspec import LaunchSpec
from ..manifest import manifest_bytes
from ..metricsfile import final_values, json_safe
from ..outcome import Problems
from ..runpaths import RunPaths
from ..session import Session
from ..warn import warn
from . import graph, stepcache, steprun
from .plan import Child, Plan, StepContext, StepSpec, value_path

if TYPE_CHECKING:
    from ..artifactstore import RemoteStore
    from ..repo import Repo

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_S = 0.01  # how often running steps are looked at


@dataclass
class StepEvent:
    """A step changed state: ``running``, ``retrying``, ``succeeded``, ``failed``,
    ``cached``, ``skipped`` or ``canceled``."""

    step: str
    status: str
    attempt: int = 0
    duration_s: float | None = None
    message: str | None = None
    cached_from: record.CachedFrom | None = None


@dataclass
class PipelineOptions:
    targets: list[str] = field(default_factory=list)
    jobs: int = 1
    config_files: list[str] = field(default_factory=list)  # --config, read after plan.params_files
    overrides: list[str] = field(default_factory=list)  # -p key=value, applied last
    config: dict[str, Any] | None = None  # a mapping merged after the files, before -p
    force: bool = False  # no step reused
    force_steps: list[str] = field(default_factory=list)
    fail_fast: bool = False
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    argv: list[str] | None = None  # the command the record keeps
    cwd: str | None = None
    progress: Callable[[StepEvent], None] | None = None
    # Set by resume and sweep: written into the launch record (see LaunchSpec.lineage).
    lineage: dict[str, Any] = field(default_factory=dict)
    invoked_by: str | None = None
    # Steps taken from a given earlier record instead of run (resume; rerun --from-step):
    # step name -> stepcache.Reuse.  Consulted before the step cache: such a step's
    # outputs are restored, verified, from that record's outputs (cache, else the
    # default remote's store) and it is recorded ``cached`` with ``cached_from`` the
    # step that made them; when they cannot be restored the step fails (it is not
    # run: the caller asked for exactly those outputs).  See :class:`stepcache.Reuse`.
    reuse: dict[str, stepcache.Reuse] = field(default_factory=dict)
    # The repository (or temporary worktree, see tempworktree.open_worktree) to run
    # in; None: the one at ``cwd``.
    repo: Repo | None = None
    # Set by rerun --from-step: reuse this run's steps before any other identical ones.
    reuse_from: str | None = None


@dataclass
class PipelineOutcome:
    run_id: str
    status: str
    exit_code: int
    record: record.RunRecord
    errors: list[str]

    def to_dict(self) -> dict[str, Any]:
        """For --json: the new run's record (the keys of run.json)."""
        return dict(record.ordered(self.record))

    @property
    def counts(self) -> dict[str, int]:
        """How many steps ended in each status."""
        out: dict[str, int] = {}
        for step in self.record.get("steps") or []:
            out[step["status"]] = out.get(step["status"], 0) + 1
        return out


def effective_config(plan: Plan, options: PipelineOptions) -> dict[str, Any]:
    """plan.params_files, then --config files, then options.config, then -p."""
    config = userconfig.effective(list(plan.params_files) + list(options.config_files), [])
    if options.config:
        config = userconfig.deep_merge(config, dict(options.config))
    if options.overrides:
        config = userconfig.deep_merge(config, userconfig.effective([], list(options.overrides)))
    return config


def run(plan: Plan, options: PipelineOptions) -> PipelineOutcome:
    """Run the steps of ``plan`` that ``options.targets`` need (all when none) as one run."""
    if options.jobs < 1:
        raise UsageError(f"-j {options.jobs}: the number of steps at once must be at least 1")
    config = effective_config(plan, options)
    names = graph.order(plan, list(options.targets))
    graph.check_params(plan, config, names)
    for forced in options.force_steps:
        if forced not in plan.steps:
            raise UsageError(f"--force-step {forced}: no step {forced} in the pipeline "
                             f"(steps: {', '.join(plan.steps)})")
        if forced not in names:
            raise UsageError(f"--force-step {forced}: step {forced} is not among the steps this run needs "
                             f"({', '.join(names)})")
    commands: dict[str, tuple[str, str]] = {}  # name -> (what runs, what the record shows)
    for name in names:
        cmd = plan.steps[name].cmd
        if cmd is not None:
            try:
                commands[name] = (userconfig.substitute([cmd], config)[0],
                                  userconfig.substitute([cmd], redact.mapping(config))[0])
            except UsageError as exc:
                raise UsageError(f"step {name}: {exc}") from None
    cwd = options.cwd or os.getcwd()
    spec = LaunchSpec(argv=list(options.argv or ["git", "run", "pipeline", *options.targets]), cwd=cwd,
                      name=options.name, tags=list(options.tags),
                      config_files=list(plan.params_files) + list(options.config_files),
                      overrides=list(options.overrides), lineage=dict(options.lineage),
                      invoked_by=options.invoked_by)
    for reused in options.reuse:
        if reused not in names:
            raise UsageError(f"step {reused} to reuse is not among the steps this run needs ({', '.join(names)})")
    session = Session(spec, repo=options.repo)
    session.config = config
    with _worktree_lock(session.repo.git_dir):
        return _Runner(plan, options, session, names, commands).go()


@contextlib.contextmanager
def _worktree_lock(git_dir: str) -> Iterator[None]:
    """One pipeline at a time in a working tree (as DVC locks its repository): two
    would read and write the same files, and a step could be recorded with inputs
    another pipeline's step had just replaced.  Worktrees of one repository each
    have their own git dir, so each its own lock."""
    import fcntl

    path = os.path.join(git_dir, "gitruns-pipeline.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise GitrunsError(f"another git run pipeline (pid {holder}) is running in this working tree; "
                               "wait for it to end") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _reads_nothing(spec: StepSpec) -> bool:
    """A command step with no deps and no params (``cmd: date > stamp``, a download)
    always runs, as DVC runs such "callback" stages: nothing tells whether its world
    changed.  A Python step's own source is a dep."""
    return spec.func is None and not spec.deps and not spec.params


class _Signals:
    """SIGINT, SIGTERM and SIGHUP while steps run: noted, and forwarded at once to
    every running step's process group.  Steps lead their own groups, so the
    terminal's ^C never reaches them by itself: it is always forwarded."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.groups: Callable[[], list[int]] = list
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may; the caller handles its own signals then
        for sig in _FORWARDED:
            self.previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        again = signum in self.received  # git, our parent, passes the terminal's ^C on too
        self.received.append(signum)
        if again:
            return
        for pid in self.groups():
            steprun.signal_group(pid, signum)


def _guarded_git_dirs(git_dirs: list[str], root: str) -> list[str]:
    """The git directories no output may be in or hold.  A temporary worktree
    (resume, rerun) lies inside the common git dir: that one is left out, or
    every output would be refused; paths are still kept inside the worktree,
    and its own ``.git`` file is refused by name."""
    real_root = os.path.realpath(root)
    return [d for d in git_dirs if not real_root.startswith(os.path.realpath(d) + os.sep)]


class _Runner:
    def __init__(self, plan: Plan, options: PipelineOptions, session: Session, names: list[str],
                 commands: dict[str, tuple[str, str]]) -> None:
        self.plan = plan
        self.options = options
        self.session = session
        self.names = names
        self.commands = commands
        self.config = session.config
        self.root = session.root
        self.git_dirs = _guarded_git_dirs([session.repo.git_dir, session.repo.common_dir], self.root)
        self.paths = RunPaths(self.root, self.root, tuple(self.git_dirs))
        self.values_dir = os.path.join(session.run_dir, "values")
        self.steps: dict[str, record.Step] = {}
        self.running: dict[str, steprun.Running] = {}
        self.retry_at: dict[str, tuple[float, int]] = {}  # name -> (when, next attempt number)
        self._store_looked_up = False
        self._store: RemoteStore | None = None
        self.failed_first: str | None = None
        self.canceling = False
        self.signals = _Signals()
        self.signals.groups = lambda: [r.child.pid for r in self.running.values()]
        self.statcache: StatCache | None = None
        self.index = stepcache.Index(session.repo, session.run_id, prefer=options.reuse_from)
        self.forced = list(names) if options.force else list(options.force_steps)
        self._pystep: Any = None
        # Lineage (gitruns.linking): the commit that ended each step, and the commits of
        # other runs a step consumes (further parents of its start commit).
        self.step_commits: dict[str, str] = {}
        self.step_parents: dict[str, list[str]] = {}
        self._run_index: Any = None
        self._run_index_opened = False

    # -- the record ----------------------------------------------------------
    def _new_step(self, name: str) -> record.Step:
        spec = self.plan.steps[name]
        step = cast(record.Step, {
            "name": name, "status": "pending", "command": None, "needs": list(spec.needs), "wdir": spec.wdir,
            "params": {}, "inputs": [], "outputs": [], "metrics": {}, "attempts": [], "started_at": None,
            "ended_at": None, "duration_s": None, "cache_key": None, "cached_from": None, "logs": {},
            "error": None,
        })
        if spec.cmd is not None:
            ran, shown = self.commands[name]
            step["command"] = shown
            if shown != spec.cmd:
                step["command_template"] = spec.cmd
        if spec.func is not None:
            step["function"] = f"{getattr(spec.func, '__module__', '?')}:{getattr(spec.func, '__qualname__', '?')}"
        if spec.env:
            step["env"] = redact.mapping(dict(spec.env))
        step["retries"] = spec.retries
        step["timeout_s"] = spec.timeout_s
        step["params"] = json_safe(redact.mapping(graph.step_params(spec, self.config)))
        return step

    def _launch_record(self) -> None:
        rec = self.session.rec
        rec["kind"] = "pipeline"
        pipeline: record.Pipeline = {
            "file": self.plan.file, "format": self.plan.format, "digest": self.plan.digest,
            "targets": list(self.options.targets), "jobs": self.options.jobs, "fail_fast": self.options.fail_fast,
            "forced": list(self.forced), "declared": dict(self.plan.declared),
        }
        rec["pipeline"] = pipeline
        self.steps = {name: self._new_step(name) for name in self.names}
        rec["steps"] = list(self.steps.values())

    def _event(self, name: str, status: str, **kw: Any) -> None:
        if self.options.progress is not None:
            self.options.progress(StepEvent(name, status, **kw))

    def _checkpoint(self, name: str, what: str, upstream: list[str] | None = None) -> None:
        try:
            self.session.checkpoint(f"step {name} {what}", upstream)
        except GitrunsError as exc:
            self.session.errors.append(f"could not record that step {name} {what}: {exc}")

    # -- lineage -------------------------------------------------------------
    def _lineage_index(self) -> Any:
        """The run index, opened once for the run (None when it cannot be: one warning)."""
        if not self._run_index_opened:
            self._run_index_opened = True
            from ..linking import open_index

            self._run_index = open_index(self.session.repo)
        return self._run_index

    def _link(self, name: str) -> None:
        """The step's ``upstream``: deps that are outputs of an earlier step of this run
        (the commit that ended it), then deps that are artifacts of earlier runs, by
        digest; those runs' commits become further parents of the step's start commit."""
        from ..linking import digests_of, link_inputs

        step = self.steps[name]
        made: dict[str, tuple[str, str | None]] = {}  # digest -> (step, path) of this run's earlier steps
        for other in self.names:
            done = self.steps[other]
            if other == name or other not in self.step_commits or done["status"] not in ("succeeded", "cached"):
                continue
            for out in done["outputs"]:
                if isinstance(out.get("digest"), str):
                    made.setdefault(str(out["digest"]), (other, out.get("path")))
        inside: list[record.Upstream] = []
        rest: list[tuple[str, str]] = []
        for digest, path in digests_of(step["inputs"]):
            found = made.get(digest) or _inside(path, made.values())
            if found is not None:
                other, art = found
                inside.append({"run": self.session.run_id, "commit": self.step_commits[other], "digest": digest,
                               "path": path, "artifact": art, "step": other})
            else:
                rest.append((digest, path))
        outside: list[record.Upstream] = []
        if rest:
            index = self._lineage_index()
            if index is not None:
                outside = link_inputs(self.session.repo, rest, self.session.run_id, index)
        step["upstream"] = inside + outside
        self.step_parents[name] = [u["commit"] for u in outside]

    def _link_cached(self, name: str, candidate: stepcache.Candidate) -> None:
        """A cached step also names the run whose outputs it reused (its commit a
        further parent of the step's commit)."""
        origin = candidate.origin
        step = self.steps[name]
        index = self._lineage_index()
        located = index.location(origin["run"]) if index is not None and origin["run"] != self.session.run_id \
            else None
        if located is None:
            return
        entries: list[record.Upstream] = [
            {"run": origin["run"], "commit": located[0], "digest": str(out["digest"]), "path": str(out.get("path")),
             "artifact": out.get("path"), "step": origin["step"]}
            for out in step["outputs"] if isinstance(out.get("digest"), str) and out.get("source") != "value"]
        have = list(step.get("upstream") or [])
        known = {(u["run"], u["digest"]) for u in have}
        step["upstream"] = have + [u for u in entries if (u["run"], u["digest"]) not in known]
        self.step_parents[name] = [*self.step_parents.get(name, []), located[0]]

    # -- the run ---------------------------------------------------------------
    def go(self) -> PipelineOutcome:
        self._launch_record()
        self.signals.install()
        try:
            self.session.launch()
            self.statcache = StatCache(self.session._statcache_path())
            try:
                self._loop()
            except Exception as exc:
                # A bug: no step is left running, and the run still gets its final
                # record saying so, before the error reaches the caller (exit 3).
                self._kill_all()
                self._finish(internal=exc)
                raise
            finally:
                self._kill_all()
                self.statcache.close()
                if self._run_index is not None:
                    self._run_index.close()
        finally:
            self.signals.restore()
        return self._finish()

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            if self.signals.received and not self.canceling:
                self._cancel_running(now, forwarded=True)
            self._poll(now)
            if not self.canceling:
                self._start_ready(now)
            if not self.running and (self.canceling or not self._startable()):
                return
            time.sleep(POLL_S)

    def _startable(self) -> bool:
        """Whether anything can still start (pending with every need met, or a retry due)."""
        if self.retry_at:
            return True
        return any(self._ready(name) for name in self.names)

    def _ready(self, name: str) -> bool:
        step = self.steps[name]
        needs = [up for up in self.plan.steps[name].needs if up in self.steps]
        return step["status"] == "pending" and all(self.steps[up]["status"] in ("succeeded", "cached") for up in needs)

    def _start_ready(self, now: float) -> None:
        for name, (when, number) in sorted(self.retry_at.items(), key=lambda kv: self.names.index(kv[0])):
            if when <= now and len(self.running) < self.options.jobs:
                del self.retry_at[name]
                self._start_attempt(name, number, now)
        for name in self.names:
            if self.canceling:
                return
            if not self._ready(name):
                continue
            if self._try_cache(name):
                continue
            if len(self.running) >= self.options.jobs:
                continue
            self._start_attempt(name, 1, now)

    # -- one step ------------------------------------------------------------
    def _definition(self, spec: StepSpec) -> Any:
        if spec.cmd is not None:
            return self.commands[spec.name][0]
        return self._pystep_module().definition(spec)

    def _pystep_module(self) -> Any:
        if self._pystep is None:
            import importlib

            self._pystep = importlib.import_module("gitruns.pipelines.pystep")
        return self._pystep

    def _remote_store(self) -> RemoteStore | None:
        """The default remote's artifact store, looked up once and only when a reused
        step's objects are not in the local cache (a run fetched from a teammate)."""
        if not self._store_looked_up:
            self._store_looked_up = True
            from ..sharing import store_of_default_remote

            try:
                self._store = store_of_default_remote(self.session.repo)
            except GitrunsError:
                self._store = None
        return self._store

    def _try_cache(self, name: str) -> bool:
        """Hash the step's inputs and key it; True when an earlier step was reused
        (or the step could not even be prepared and has failed)."""
        spec = self.plan.steps[name]
        step = self.steps[name]
        if step["cache_key"] is not None:
            return False  # keyed already, waiting for a slot
        assert self.statcache is not None
        try:
            step["inputs"] = stepcache.step_inputs(self.plan, spec, self.root, self.statcache, self.values_dir)
        except GitrunsError as exc:
            step["started_at"] = timeutil.iso(timeutil.now())
            self._fail(name, {"type": "input", "message": f"cannot read the inputs of step {name}: {exc}"})
            return True
        self._keep_inputs(name)  # kept inputs (issue 10): source deps git does not track
        self._link(name)
        params = {k: userconfig.lookup(self.config, k) for k in spec.params}
        ckey = stepcache.key(self._definition(spec), spec, step["inputs"], json_safe(params))
        step["cache_key"] = ckey
        reuse = self.options.reuse.get(name)
        if reuse is not None:
            return self._reuse(name, reuse.candidate())
        if spec.always_run or name in self.forced or _reads_nothing(spec):
            return False
        for candidate in self.index.candidates(ckey):
            if self._restore(name, candidate):
                return True
        return False

    def _restore(self, name: str, candidate: stepcache.Candidate) -> bool:
        """Restore the candidate's outputs for the step and record it ``cached``; False
        when they cannot all be restored (nothing was written then)."""
        spec = self.plan.steps[name]
        step = self.steps[name]
        assert self.statcache is not None
        restored = stepcache.restore(spec, candidate, self.root, self.git_dirs, self.session.cache,
                                     self.values_dir, self.statcache, self._remote_store)
        if restored is None:
            return False
        now = timeutil.iso(timeutil.now())
        step["status"] = "cached"
        step["outputs"] = restored
        step["metrics"] = dict(candidate.step.get("metrics") or {})
        step["cached_from"] = {"run": candidate.origin["run"], "step": candidate.origin["step"]}
        step["started_at"] = step["ended_at"] = now
        step["duration_s"] = 0.0
        self._link_cached(name, candidate)
        self._checkpoint(name, "cached", self.step_parents.get(name))
        self.step_commits[name] = self.session.commit or ""
        self._event(name, "cached", cached_from=candidate.origin)
        return True

    def _reuse(self, name: str, candidate: stepcache.Candidate) -> bool:
        """A step the caller asked to take from an earlier record (options.reuse)."""
        if self._restore(name, candidate):
            return True
        self.steps[name]["started_at"] = timeutil.iso(timeutil.now())
        self._fail(name, {"type": "reuse", "message": f"the outputs of step {candidate.step.get('name')} of run "
                          f"{candidate.run[:12]} could not be restored (not in the artifact cache nor the "
                          "store, or corrupt)"})
        return True

    def _keep_inputs(self, name: str) -> None:
        """The step's source deps that git does not track, copied into the artifact
        cache by digest (gitruns.inputs; docs/inputs.md); never fails the step."""
        from ..inputs import Keeper, keep_step_inputs

        assert self.statcache is not None
        keeper = Keeper.for_settings(self.session.settings, self.session.cache.root)
        keep_step_inputs(keeper, self.steps[name]["inputs"], self.root, self.session.repo, self.statcache)
        keeper.tell()

    def _context(self, name: str) -> StepContext:
        spec = self.plan.steps[name]
        own = steprun.step_dir(self.session.run_dir, name)
        os.makedirs(own, exist_ok=True)
        env = self.session.command_env()
        env.update(GITRUNS_STEP=name, GITRUNS_RUN_DIR=own)
        env.update(spec.env)
        return StepContext(
            run_id=self.session.run_id, step=spec, root=self.root, cwd=os.path.join(self.root, spec.wdir),
            env=env, config=self.config, params=graph.step_params(spec, self.config),
            stdout_path=os.path.join(own, "stdout"), stderr_path=os.path.join(own, "stderr"),
            values_dir=self.values_dir,
        )

    def _start_attempt(self, name: str, number: int, now: float) -> None:
        spec = self.plan.steps[name]
        step = self.steps[name]
        ctx = self._context(name)
        steprun.mark_attempt(ctx, number)
        offset = os.path.getsize(ctx.stderr_path)
        started_at = timeutil.iso(timeutil.now())
        attempt: record.Attempt = {"number": number, "started_at": started_at, "ended_at": None,
                                   "duration_s": None, "exit_code": None, "signal": None, "error": None}
        step["attempts"].append(attempt)
        first = step["status"] == "pending"
        step["status"] = "running"
        if first:
            step["started_at"] = started_at
        try:
            child: Child
            if spec.cmd is not None:
                child = steprun.launch_shell(ctx, self.commands[name][0])
            else:
                for source, _value in spec.value_inputs.values():
                    os.makedirs(os.path.join(self.values_dir, source), exist_ok=True)
                os.makedirs(os.path.join(self.values_dir, name), exist_ok=True)
                child = self._pystep_module().launch(ctx)
        except OSError as exc:
            attempt["ended_at"] = started_at
            attempt["duration_s"] = 0.0
            attempt["exit_code"] = 127 if isinstance(exc, FileNotFoundError) else 126
            attempt["error"] = {"type": "launch", "message": f"step {name} could not be started: {exc.strerror or exc}"}
            if first:
                self._checkpoint(name, "started", self.step_parents.get(name))
            self._attempt_failed(name, number, cast(record.Error, attempt["error"]), now)
            return
        self.running[name] = steprun.Running(child, number, now, started_at, extra={"offset": str(offset)})
        if first:
            self._checkpoint(name, "started", self.step_parents.get(name))
        self._event(name, "running", attempt=number)

    def _poll(self, now: float) -> None:
        for name, running in list(self.running.items()):
            code = running.child.poll()
            if code is None:
                timeout = self.plan.steps[name].timeout_s
                if timeout is not None and now - running.started >= timeout:
                    running.stop("timeout", now)
                running.escalate(now)
                continue
            del self.running[name]
            self._attempt_ended(name, running, code, now)

    def _attempt_ended(self, name: str, running: steprun.Running, code: int, now: float) -> None:
        spec = self.plan.steps[name]
        step = self.steps[name]
        attempt = step["attempts"][-1]
        ended = timeutil.now()
        attempt["ended_at"] = timeutil.iso(ended)
        attempt["duration_s"] = round(now - running.started, 3)
        sig = -code if code < 0 else None
        attempt["exit_code"] = 128 + sig if sig else code
        attempt["signal"] = signal.Signals(sig).name if sig else None
        stderr_path = os.path.join(steprun.step_dir(self.session.run_dir, name), "stderr")
        tail = steprun.attempt_tail(stderr_path, int(running.extra.get("offset", "0")))
        stopping = running.stopping
        if stopping is not None and stopping.reason == "canceled":
            attempt["error"] = {"type": "canceled", "message": self._cancel_reason()}
            self._end(name, "canceled", attempt["error"])
            return
        if stopping is not None and stopping.reason == "timeout":
            error: record.Error = {"type": "timeout",
                                   "message": f"attempt {running.number} timed out after {spec.timeout_s:g}s"}
        elif code == 0:
            attempt["error"] = None
            self._succeeded(name)
            return
        elif sig:
            error = {"type": "exit", "message": f"command killed by signal {attempt['signal']}"}
        else:
            error = {"type": "exit", "message": f"command exited with code {code}"}
        if tail:
            error["stderr_tail"] = tail
        attempt["error"] = error
        self._attempt_failed(name, running.number, error, now)

    def _attempt_failed(self, name: str, number: int, error: record.Error, now: float) -> None:
        spec = self.plan.steps[name]
        if number <= spec.retries and not self.canceling:
            delay = spec.retry_delay_s * (2 ** (number - 1))
            self.retry_at[name] = (now + delay, number + 1)
            self._event(name, "retrying", attempt=number, message=error["message"])
            # On record at once: a crash while waiting to retry keeps the failed attempt.
            self._checkpoint(name, f"attempt {number} failed, retrying in {delay:g}s")
            return
        self._fail(name, error)

    def _succeeded(self, name: str) -> None:
        spec = self.plan.steps[name]
        step = self.steps[name]
        problems: Problems = []
        assert self.statcache is not None
        stored = [outputs.store(os.path.join(self.root, out), "output", self.paths, self.session.cache,
                                self.statcache, problems) for out in spec.outs]
        for value in spec.value_outputs:
            stored.append(self._store_value(name, value, problems))
        own = steprun.step_dir(self.session.run_dir, name)
        declared = {os.path.join(self.root, out) for out in spec.outs}
        for full in dict.fromkeys(rundir.logged_artifacts(own)):  # gitruns.log_artifact() in the step
            if full not in declared:
                stored.append(outputs.store(full, "logged", self.paths, self.session.cache, self.statcache,
                                            problems))
        step["outputs"] = stored
        self._recheck_inputs(name)
        metric_problems: Problems = []
        points = rundir.metric_points(own, [(os.path.join(self.root, m), m) for m in spec.metrics], metric_problems)
        step["metrics"] = final_values(points)
        if problems:
            self._fail(name, {"type": "missing" if all(k == "missing" for k, _ in problems) else "storage",
                              "message": "; ".join(m for _, m in problems)})
            return
        for _kind, message in metric_problems:
            warn(f"step {name}: {message}")
        self._end(name, "succeeded", None)

    def _recheck_inputs(self, name: str) -> None:
        """The step's deps hashed again now that it ended (the stat cache makes an
        unchanged file one stat): if one changed while it ran, its outputs may come
        from either content, so the step is kept out of the step cache (no key) and
        the run says so."""
        spec = self.plan.steps[name]
        step = self.steps[name]
        assert self.statcache is not None
        changed = []
        for entry in step["inputs"]:
            if entry["kind"] == "value":
                continue
            try:
                now = hash_path(os.path.join(self.root, entry["path"]), self.statcache, label=entry["path"]).digest
            except GitrunsError:
                now = None
            if now != entry["digest"]:
                changed.append(entry["path"])
        if changed and spec.deps:
            step["cache_key"] = None
            warn(f"step {name}: {', '.join(changed)} changed while the step ran; its outputs are kept "
                 "but will not be reused by a later run")

    def _store_value(self, name: str, value: str, problems: Problems) -> record.Artifact:
        shown = stepcache.value_name(name, value)
        path = value_path(self.values_dir, name, value)
        entry: record.Artifact = {"path": shown, "source": "value", "kind": "value", "status": "missing",
                                  "size": None, "digest": None}
        if not os.path.exists(path):
            problems.append(("missing", f"value {shown} was not returned by the step"))
            return entry
        assert self.statcache is not None
        try:
            hashed = hash_path(path, self.statcache, label=shown)
            for f in hashed.files:
                self.session.cache.store_file(f.abspath, f.digest)
            if hashed.kind == "dir":
                # A directory value: stored as a directory output is, by its listing;
                # "files" marks it one in the record (its kind stays "value").
                self.session.cache.store_bytes(manifest_bytes(hashed.files))
                entry["files"] = len(hashed.files)
        except GitrunsError as exc:
            problems.append(("storage", f"value {shown} was not stored: {exc}"))
            entry["status"] = "error"
            entry["error"] = str(exc)
            return entry
        entry["status"] = "stored"
        entry["size"] = hashed.size
        entry["digest"] = hashed.digest
        return entry

    def _keep_logs(self, name: str) -> None:
        own = steprun.step_dir(self.session.run_dir, name)
        problems: Problems = []
        cap = self.session.settings.size("gitruns.logMaxSize")
        logs: dict[str, record.Log] = {}
        for stream in ("stdout", "stderr"):
            data, logs[stream] = logfiles.keep(stream, os.path.join(own, stream), cap, self.session.cache, problems)
            self.session.files[f"steps/{name}/{stream}.log"] = data
        self.steps[name]["logs"] = logs
        self.session.errors.extend(f"step {name}: {m}" for _, m in problems)

    def _end(self, name: str, status: str, error: record.Error | None) -> None:
        """The step ended (its record, its logs, a commit), and the event."""
        step = self.steps[name]
        ended = timeutil.now()
        step["status"] = status
        step["error"] = error
        step["ended_at"] = timeutil.iso(ended)
        if step["started_at"]:
            step["duration_s"] = round((ended - timeutil.parse_iso(step["started_at"])).total_seconds(), 3)
        self._keep_logs(name)
        if status == "failed":
            self._skip_below(name)
        self._checkpoint(name, status)
        if self.session.commit:
            self.step_commits[name] = self.session.commit
        self._event(name, status, attempt=len(step["attempts"]), duration_s=step["duration_s"],
                    message=error["message"] if error else None)

    def _fail(self, name: str, error: record.Error) -> None:
        if self.failed_first is None:
            self.failed_first = name
        if self.options.fail_fast and not self.canceling:
            self.canceling = True
            self._cancel_running(time.monotonic(), forwarded=False)
        self._end(name, "failed", error)

    def _skip_below(self, name: str) -> None:
        below = graph.downstream(self.plan, name)
        for other in self.names:
            step = self.steps[other]
            if step["status"] != "pending" or (other not in below and not self.options.fail_fast):
                continue
            why = f"step {name} failed" + ("" if other in below else " (--fail-fast)")
            step["status"] = "skipped"
            step["error"] = {"type": "skipped", "message": why}
            self._event(other, "skipped", message=why)

    def _cancel_reason(self) -> str:
        if self.signals.received:
            return f"{signal.Signals(self.signals.received[0]).name} received"
        return f"step {self.failed_first} failed (--fail-fast)"

    def _cancel_running(self, now: float, forwarded: bool) -> None:
        """Stop every running step; the signal that asked for it was sent to them
        already (``forwarded``), else SIGTERM now; SIGKILL after the grace period."""
        self.canceling = True
        for running in self.running.values():
            if forwarded:
                if running.stopping is None:
                    running.stopping = steprun.Stopping("canceled", now)
            else:
                running.stop("canceled", now)
            if running.stopping is not None:
                running.stopping.reason = "canceled"
        for name in list(self.retry_at):
            del self.retry_at[name]
            self._end(name, "canceled", {"type": "canceled", "message": self._cancel_reason()})

    def _kill_all(self) -> None:
        """Leave no step behind, whatever stopped the loop."""
        for running in self.running.values():
            steprun.signal_group(running.child.pid, signal.SIGKILL)

    # -- the end -------------------------------------------------------------
    def _finish(self, internal: Exception | None = None) -> PipelineOutcome:
        session = self.session
        received = self.signals.received[0] if self.signals.received else None
        for name in self.names:
            step = self.steps[name]
            if step["status"] == "running" and internal is not None:
                step["status"] = "failed"
                step["error"] = {"type": "internal", "message": "stopped by an internal error of gitruns"}
            if step["status"] in ("pending", "running"):
                step["status"] = "canceled" if received else "skipped"
                step["error"] = {"type": "canceled" if received else "skipped", "message": self._cancel_reason()
                                 if received else "not run"}
        error: dict[str, Any] | None = None
        if internal is not None:
            status, exit_code = "failed", 3
            error = {"type": "internal", "message": " ".join(f"{type(internal).__name__}: {internal}".split())}
        elif received is not None:
            status, exit_code = "canceled", 128 + received
            canceled = [n for n in self.names if self.steps[n]["status"] == "canceled"]
            error = {"type": "canceled", "message": f"{signal.Signals(received).name} received"
                     + (f"; steps canceled: {', '.join(canceled)}" if canceled else "")}
            killed = any(a.get("signal") == "SIGKILL" for n in self.names for a in self.steps[n].get("attempts") or [])
            _note_cancel(session, error, killed)
        elif self.failed_first is not None:
            status, exit_code = "failed", 1
            failed = self.steps[self.failed_first]
            ferr = failed["error"] or {"type": "exit", "message": "failed"}
            error = {"type": "step", "message": f"step {self.failed_first} failed: {ferr['message']}",
                     "step": self.failed_first}
            if ferr.get("stderr_tail"):
                error["stderr_tail"] = ferr["stderr_tail"]
        else:
            status, exit_code = "succeeded", 0
        owner: dict[str, str] = {}
        for name in self.names:
            step = self.steps[name]
            for metric, value in (step["metrics"] or {}).items():
                key = f"{name}.{metric}"
                if key in owner:
                    # Steps "a" (metric "b.c") and "a.b" (metric "c") would share one name.
                    warn(f"metric {key} of step {name} has the name of step {owner[key]}'s; "
                         f"the run keeps step {name}'s value (each step's own is in its record)")
                owner[key] = name
                session.extra_metrics[key] = value
            # Values live in the run's working directory only: not files to check out.
            session.extra_artifacts.extend(a for a in step["outputs"] if a.get("source") != "value")
        outcome = session.finish(status, exit_code, None, error)
        return PipelineOutcome(session.run_id, outcome.status, exit_code, session.rec, list(session.errors))


def _inside(path: str, outputs: Iterable[tuple[str, str | None]]) -> tuple[str, str | None] | None:
    """The (step, output) whose directory holds ``path`` (a dep on a file of an earlier
    step's output directory: the digests differ, the paths say it)."""
    for step, out in outputs:
        if out and path.startswith(out.rstrip("/") + "/"):
            return step, out
    return None


def _note_cancel(session: Session, error: dict[str, Any], killed: bool) -> None:
    """A 'git run cancel' request for this run: who canceled it and when, in the record."""
    from ..cancel import read_request, record_of

    cancel, message = record_of(read_request(session.repo, session.run_id), killed)
    if cancel is not None:
        session.rec["cancel"] = cancel
        error["message"] = f"{message}; {error['message']}"


def pipeline(file: str | None = None, targets: list[str] | tuple[str, ...] = (), *, jobs: int = 1,
             config_files: list[str] | tuple[str, ...] = (), overrides: list[str] | tuple[str, ...] = (),
             config: dict[str, Any] | None = None, force: bool = False,
             force_steps: list[str] | tuple[str, ...] = (), fail_fast: bool = False, name: str | None = None,
             tags: list[str] | tuple[str, ...] = (), argv: list[str] | None = None, cwd: str | None = None,
             progress: Callable[[StepEvent], None] | None = None,
             lineage: dict[str, Any] | None = None) -> PipelineOutcome:
    """Run the pipeline defined in ``file`` (``gitruns.yaml`` at the repository
    root by default; a ``dvc.yaml`` too), as ``git run pipeline`` does."""
    from ..repo import open_repo
    from .definition import DEFAULT_FILE, GITRUNS_NAMES, load

    here = cwd or os.getcwd()
    root = open_repo(here).require_worktree()
    if file is not None:
        if not file:
            raise UsageError("-f: an empty file name")
        path = os.path.join(here, file)
        if not os.path.lexists(path):
            raise UsageError(f"-f {file}: no such file")
        # A directory, FIFO or device is named by load(), which reads without blocking.
    else:
        found = [os.path.join(root, n) for n in GITRUNS_NAMES if os.path.isfile(os.path.join(root, n))]
        if not found:
            raise UsageError(f"no {DEFAULT_FILE} at the repository root {root} (use -f FILE for another definition)")
        path = found[0]
    plan = load(path, root)
    options = PipelineOptions(targets=list(targets), jobs=jobs, config_files=list(config_files),
                              overrides=list(overrides), config=config, force=force,
                              force_steps=list(force_steps), fail_fast=fail_fast, name=name, tags=list(tags),
                              argv=argv, cwd=here, progress=progress, lineage=dict(lineage or {}))
    return run(plan, options)
