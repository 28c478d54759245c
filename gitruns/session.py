"""One run from launch to end: the launch record, then the final record.

``exec`` (a command in a child process) and ``gitruns.start_run()`` (code in
this process, :mod:`gitruns.coderun`) share this: snapshot the code, hash
inputs, capture the environment, write the launch commit; later fold in
metrics, parameters, artifacts and logs and write the final commit on the same
ref.  :class:`Session` coordinates; each step is a module of its own
(:mod:`~gitruns.launchspec`, :mod:`~gitruns.runpaths`, :mod:`~gitruns.dirtypolicy`,
:mod:`~gitruns.inputs`, :mod:`~gitruns.rundir`, :mod:`~gitruns.outputs`,
:mod:`~gitruns.logfiles`, :mod:`~gitruns.outcome`).

Nothing here prints: warnings go through :func:`gitruns.warn.warn`, errors about
the record are collected in ``Session.errors`` and the outcome is returned
(:class:`~gitruns.outcome.Outcome`), for ``git run exec`` (or the calling code) to tell.
"""
from __future__ import annotations

import json
import os
import shutil
import signal as signal_mod
import socket
import sys
from datetime import datetime
from typing import Any, cast

import pygit2

from . import (
    __version__,
    dirtypolicy,
    inputs,
    logfiles,
    outcome,
    outputs,
    record,
    redact,
    rundir,
    runid,
    runrefs,
    snapshot,
    timeutil,
    userconfig,
)
from .cache import for_repo as cache_for_repo
from .commandenv import command_env
from .environment import EnvironmentCapture
from .errors import ConcurrentUpdate, GitrunsError, PathError
from .hashing import StatCache
from .launchspec import LaunchSpec, detect_invoker, parse_tags, user
from .metricsfile import final_values, json_safe
from .outcome import Outcome, Problems, settle, tell
from .repo import Repo, open_repo, relative_to_root
from .runpaths import RunPaths
from .settings import Settings
from .settings import load as load_settings
from .warn import warn

# The record fields a LaunchSpec's ``lineage`` may set.
LINEAGE_FIELDS = ("run_group", "rerun_of", "rerun", "sweep")


class Session:
    """A run being recorded.  ``launch()`` then ``finish()``."""

    def __init__(self, spec: LaunchSpec, repo: Repo | None = None) -> None:
        self.spec = spec
        self.repo = repo or open_repo(spec.cwd)
        self.root = self.repo.require_worktree()
        self.settings: Settings = load_settings(self.repo.git)
        self.tags = parse_tags(spec.tags)
        self.config = userconfig.effective(spec.config_files, spec.overrides)
        # What runs: the command as typed, ${key} replaced (a missing key stops here).
        self.argv = userconfig.substitute(spec.argv, self.config) if spec.substitute else list(spec.argv)
        rel_cwd = relative_to_root(self.root, spec.cwd)
        if rel_cwd is None:
            raise PathError(f"{spec.cwd} is outside the working tree {self.root}")
        self.rel_cwd = rel_cwd
        self.paths = RunPaths(spec.cwd, self.root, (self.repo.git_dir, self.repo.common_dir))
        self.output_paths = [self.paths.output(p, "-o") for p in spec.outputs]
        for path in spec.inputs:
            if not os.path.exists(self.paths.abs(path)):
                raise PathError(f"input {path} does not exist")
        self.run_id = runid.new_id()
        self.run_dir = os.path.join(self.repo.state_dir, "work", self.run_id)
        self.config_file = rundir.config_file_path(self.run_dir, spec.config_files, spec.overrides)
        self.cache = cache_for_repo(self.repo, self.settings)
        self.rec: record.RunRecord = record.new(self.run_id)  # filled in by the launch, then the end
        self.code_tree = ""
        self.commit: str | None = None
        self.files: dict[str, bytes] = {}
        # Errors about the record, for the caller to tell (the core never prints).
        self.errors: list[str] = []
        self.final_written = False
        self.exit_code: int | None = None
        # A pipeline run's summary of its steps, folded into the final record.
        self.extra_metrics: dict[str, Any] = {}
        self.extra_artifacts: list[record.Artifact] = []

    def command_env(self) -> dict[str, str]:
        """The command's environment (see :func:`gitruns.commandenv.command_env`)."""
        return command_env(self.run_id, self.run_dir, self.root, self.config_file, self.spec.path_prefix)

    def _statcache_path(self) -> str:
        return os.path.join(self.repo.state_dir, "statcache.sqlite")

    # -- launch ----------------------------------------------------------------
    def launch(self, pid: int | None = None) -> None:
        """Write the launch record.  A repository that cannot be written (read-only,
        full, a file where a directory should be) is one :class:`GitrunsError`,
        raised before the command could start, with nothing half-made left."""
        try:
            self._launch(pid)
        except BaseException as exc:
            # No run was recorded: leave no working directory behind either.
            shutil.rmtree(self.run_dir, ignore_errors=True)
            if not isinstance(exc, (OSError, pygit2.GitError)):
                raise
            if isinstance(exc, OSError) and exc.strerror:
                detail = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
            else:
                detail = " ".join(str(exc).split())  # one line, whatever libgit2 said
            raise GitrunsError(f"cannot record the run, so the command was not started: {detail}") from None

    def _launch(self, pid: int | None) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        if self.config_file is not None:
            rundir.write_config(self.config_file, self.config)
        invoked_by, invocation = detect_invoker(dict(os.environ))
        if self.spec.invoked_by is not None:
            if invoked_by != "manual":
                invocation = {**invocation, "detected": invoked_by}
            invoked_by = self.spec.invoked_by
        env_capture = EnvironmentCapture(
            self.argv, self.command_env(), os.path.join(self.repo.state_dir, "envcache"),
            self.settings.items("gitruns.envInclude"),
        )
        statcache = StatCache(self._statcache_path())
        try:
            declared = tuple(str(relative_to_root(self.root, p)) for p in self.output_paths)
            code = snapshot.capture(
                self.repo, self.settings.size("gitruns.untrackedMaxSize"), statcache, declared,
                max_files=self.settings.size("gitruns.untrackedMaxFiles"),
                max_total=self.settings.size("gitruns.untrackedMaxTotal"),
            )
            dirtypolicy.apply(code, self.settings, self.run_id)
            keeper = inputs.Keeper.for_settings(self.settings, self.cache.root)  # untracked inputs: cached
            entries = inputs.entries(list(self.spec.inputs), self.paths, self.repo, statcache, keeper)
        finally:
            statcache.close()
        self.code_tree = code.snapshot_tree
        environment = env_capture.result()
        rec = self.rec
        rec["name"] = self.spec.name
        rec["command"] = self._recorded_argv()
        rec["cwd"] = self.rel_cwd
        rec["started_at"] = timeutil.iso(timeutil.now())
        rec["user"] = user()
        rec["host"] = socket.gethostname()
        rec["pid"] = pid if pid is not None else os.getpid()
        rec["process"] = record.this_process()
        rec["invoked_by"] = invoked_by
        rec["invocation"] = invocation
        rec["tags"] = redact.mapping(self.tags)
        for key in LINEAGE_FIELDS:
            if key in self.spec.lineage:
                rec[key] = self.spec.lineage[key]  # type: ignore[literal-required]
        rec["code"] = cast(record.Code, code.to_record())  # snapshot builds it as a plain dict
        rec["inputs"] = entries
        rec["gitruns_version"] = __version__
        if self.spec.metrics_files:
            rec["metrics_files"] = [self.paths.display(self.paths.abs(p)) for p in self.spec.metrics_files]
        if self.argv != self.spec.argv:
            # The command as typed, ${key} and all, beside the one that ran.
            rec["command_template"] = redact.argv(self.spec.argv)
        self.files = {
            "config.yaml": userconfig.dump(redact.mapping(self.config)).encode(),
            "env.json": (json.dumps(environment, indent=2, ensure_ascii=False) + "\n").encode(),
        }
        rec["upstream"] = self._upstream(entries)
        parents = [code.commit] if code.commit else []
        if code.commit:
            # The runs whose artifacts it consumes are further parents, after the launch
            # HEAD, so `git log refs/runs/<id>` walks upstream.  Not without a HEAD:
            # the first parent would then be another run's (see docs/lineage.md).
            parents += [u["commit"] for u in rec["upstream"]]
        self.commit = runrefs.write(self.repo, rec, self.files, self.code_tree, _unique(parents), None)

    def _upstream(self, entries: list[record.Input]) -> list[record.Upstream]:
        """The earlier runs whose artifacts the inputs are, by digest (gitruns.linking)."""
        from .linking import digests_of, link_inputs

        items = digests_of(entries)
        return link_inputs(self.repo, items, self.run_id) if items else []

    def _recorded_argv(self) -> list[str]:
        """The command that ran as the record keeps it: a value put in by ${key} is
        taken from the redacted config, so a secret-looking key's value stays out
        of the record whatever option it was given to."""
        if self.argv == self.spec.argv:
            return redact.argv(self.argv)
        return redact.argv(userconfig.substitute(self.spec.argv, redact.mapping(self.config)))

    def checkpoint(self, note: str, upstream: list[str] | None = None) -> None:
        """A further commit of the running run, titled ``note`` (a pipeline step
        started or ended): the record and ``files`` as they are now.  ``upstream``:
        commits of other runs a step consumes, further parents after the previous one."""
        assert self.commit is not None
        parents = _unique([self.commit, *(upstream or [])])
        self.commit = runrefs.write(self.repo, json_safe(self.rec), self.files, self.code_tree, parents,
                                    self.commit, note)

    # -- finish ----------------------------------------------------------------
    def finish(
        self,
        status: str,
        exit_code: int | None,
        signal_num: int | None,
        error: dict[str, Any] | None,
        stdout_spool: str | None = None,
        stderr_spool: str | None = None,
    ) -> Outcome:
        """Write the final record; if folding something in fails, still record the outcome.

        Never raises for a problem around the command (only :class:`ConcurrentUpdate`,
        when someone else moved the run's ref), so exec always exits with the
        command's own code.  Problems that are errors (something declared was not
        kept, or the record could not be written at all) are added to
        :attr:`errors` for the caller to tell; the others are warnings.
        ``error`` is the record's error (:class:`gitruns.record.Error`) as the caller built it.
        """
        self.exit_code = exit_code
        run_error = cast("record.Error | None", error)
        try:
            self._finish(status, exit_code, signal_num, run_error, stdout_spool, stderr_spool)
        except ConcurrentUpdate:
            raise
        except Exception as exc:  # noqa: BLE001 - the run's outcome must not be lost to a side problem
            self._finish_anyway(status, exit_code, signal_num, run_error, exc)
        return self.outcome()

    def outcome(self) -> Outcome:
        return outcome.of(self.rec, self.repo, self.exit_code, self.final_written)

    def _end(self, status: str, exit_code: int | None, signal_num: int | None, ended: datetime) -> None:
        """The fields every final record has: how and when the run ended."""
        started = timeutil.parse_iso(self.rec["started_at"])
        self.rec["status"] = status
        self.rec["exit_code"] = exit_code
        self.rec["signal"] = signal_mod.Signals(signal_num).name if signal_num else None
        self.rec["ended_at"] = timeutil.iso(ended)
        self.rec["duration_s"] = round((ended - started).total_seconds(), 3)

    def _finish_anyway(self, status: str, exit_code: int | None, signal_num: int | None,
                       error: record.Error | None, exc: Exception) -> None:
        """The final record without what failed to fold in, its error saying why."""
        assert self.commit is not None
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        self._end(status, exit_code, signal_num, timeutil.now())
        self.rec["error"] = outcome.incomplete(error, detail)
        try:
            self.rec = json_safe(self.rec)
            self.commit = runrefs.write(self.repo, self.rec, self.files, self.code_tree, [self.commit],
                                        self.commit)
        except ConcurrentUpdate:
            raise
        except Exception as again:  # noqa: BLE001 - e.g. the git directory itself is full or read-only
            why = " ".join(f"{type(again).__name__}: {again}".split())
            self.errors.append(f"could not write the final record of run {self.run_id[:12]}: {why}; "
                               f"it will show as crashed, and what it printed is kept in {self.run_dir}")
            return
        self.final_written = True
        # A bug, not a condition of the machine: leave the crash log an exit 3 would.
        from .crashlog import write as write_crash_log

        log = write_crash_log(exc, sys.argv[1:])
        warn(f"the record of run {self.run_id[:12]} is incomplete: {detail}; "
             f"partial files are kept in {self.run_dir}" + (f"; the crash log is {log}" if log else ""))

    def _finish(self, status: str, exit_code: int | None, signal_num: int | None, error: record.Error | None,
                stdout_spool: str | None, stderr_spool: str | None) -> None:
        """The steps of the final record, each folding one thing in; what could not
        be recorded goes to ``problems`` (see :data:`gitruns.outcome.Problems`)."""
        assert self.commit is not None
        ended = timeutil.now()
        problems: Problems = []
        command_succeeded = status == "succeeded"
        metrics_files = [(self.paths.abs(p), p) for p in self.spec.metrics_files]
        points = rundir.metric_points(self.run_dir, metrics_files, problems)
        params = rundir.params(self.run_dir)
        logged = rundir.logged_artifacts(self.run_dir)
        artifacts = outputs.store_all(self.output_paths, logged, self.paths, self.cache,
                                      self._statcache_path(), problems)
        logs = logfiles.keep_both(stdout_spool, stderr_spool, self.settings.size("gitruns.logMaxSize"),
                                  self.cache, self.files, problems)
        self.files["metrics.jsonl"] = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in points).encode()
        if params:
            merged = userconfig.deep_merge(self.config, params)
            self.files["config.yaml"] = userconfig.dump(redact.mapping(merged)).encode()
        status, error = settle(status, error, problems)
        self._note_commit_made_meanwhile()
        self._end(status, exit_code, signal_num, ended)
        self.rec["metrics"] = {**final_values(points), **self.extra_metrics}
        self.rec["params"] = redact.mapping(params)
        self.rec["artifacts"] = artifacts + self.extra_artifacts
        self.rec["logs"] = logs
        self.rec["error"] = error
        self.commit = runrefs.write(self.repo, self.rec, self.files, self.code_tree, [self.commit], self.commit)
        self.final_written = True
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.errors.extend(tell(problems, command_succeeded))

    def _note_commit_made_meanwhile(self) -> None:
        """If the user committed exactly this run's code while it ran, say so now:
        the post-commit hook leaves running runs alone."""
        code = self.rec["code"]
        if not code or not code.get("dirty") or code.get("reproducible_from"):
            return
        try:
            git = self.repo.git
            if git.head_is_unborn:
                return
            head = git.head.peel(pygit2.Commit)
            if str(head.tree_id) == code.get("snapshot_tree"):
                noted = code.copy()
                noted["reproducible_from"] = str(head.id)
                self.rec["code"] = noted
        except Exception:  # noqa: BLE001, S110 - only a note; never fail the record over it
            pass


def _unique(commits: list[str]) -> list[str]:
    """``commits`` without repeats, in order (a commit is a parent once)."""
    return list(dict.fromkeys(commits))
