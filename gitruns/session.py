"""One run from launch to end: the launch record, then the final record.

``exec`` (a command in a child process) and ``gitruns.start_run()`` (code in
this process) share this: snapshot the code, hash inputs, capture the
environment, write the launch commit; later fold in metrics, parameters,
artifacts and logs and write the final commit on the same ref.

Nothing here prints: warnings go through :func:`gitruns.warn.warn`, errors about
the record are collected in ``Session.errors`` and the outcome is returned
(:class:`Outcome`), for ``git run exec`` (or the calling code) to tell.
"""
from __future__ import annotations

import getpass
import json
import os
import shutil
import signal as signal_mod
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pygit2

from . import __version__, record, redact, runid, runrefs, snapshot, timeutil, userconfig
from .cache import CacheError
from .cache import for_repo as cache_for_repo
from .environment import EnvironmentCapture
from .errors import ConcurrentUpdate, DirtyTreeRefused, GitrunsError, PathError, UsageError
from .gitnames import path_refusal
from .hashing import HashedPath, StatCache, digest_file, hash_path
from .manifest import manifest_bytes
from .metricsfile import final_values, json_safe, read_metrics_file
from .progress import trace
from .repo import Repo, open_repo, relative_to_root
from .settings import Settings
from .settings import load as load_settings
from .warn import warn

CI_MARKERS = {
    "GITHUB_ACTIONS": "github-actions", "GITLAB_CI": "gitlab-ci", "JENKINS_URL": "jenkins",
    "BUILDKITE": "buildkite", "CIRCLECI": "circleci", "TRAVIS": "travis", "TF_BUILD": "azure-pipelines",
    "BITBUCKET_BUILD_NUMBER": "bitbucket", "TEAMCITY_VERSION": "teamcity", "DRONE": "drone",
}


def detect_invoker(env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Who or what started the run, from the environment."""
    forced = env.get("GITRUNS_INVOKED_BY")
    if forced in record.INVOKERS:
        return forced, {"source": "GITRUNS_INVOKED_BY"}
    if env.get("GITRUNS_RUN_ID"):
        return "run", {"parent_run": env["GITRUNS_RUN_ID"]}
    for var, provider in CI_MARKERS.items():
        if env.get(var):
            return "ci", {"provider": provider}
    if env.get("CI", "").lower() in ("true", "1", "yes"):
        return "ci", {"provider": "unknown"}
    return "manual", {}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# Git's own list of the variables that tie a process to one repository (what git
# clears before working in another one); used when `git rev-parse` cannot say.
_GIT_LOCAL_ENV_FALLBACK = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)


@lru_cache(maxsize=1)
def git_local_env_vars() -> frozenset[str]:
    """What ``git rev-parse --local-env-vars`` prints: the variables a hook or an alias
    inherits from git (``GIT_INDEX_FILE``, ``GIT_DIR``, ``GIT_PREFIX``, ...) that would
    point the user's command at git's state of the moment rather than its own."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--local-env-vars"], capture_output=True, text=True,
                              check=False, timeout=30)
        names = frozenset(proc.stdout.split()) if proc.returncode == 0 else frozenset()
    except (OSError, subprocess.SubprocessError):
        names = frozenset()
    return names or frozenset(_GIT_LOCAL_ENV_FALLBACK)


@dataclass
class LaunchSpec:
    argv: list[str]
    cwd: str
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metrics_files: list[str] = field(default_factory=list)
    # Replace ${key} in argv by config values (git run exec); off for start_run's sys.argv.
    substitute: bool = False


@dataclass
class Outcome:
    """How a run ended, for the line ``git run exec`` ends with."""

    run_id: str
    short_id: str
    status: str  # the record's status, or "crashed" when its final record could not be written
    exit_code: int | None
    signal: str | None
    duration_s: float
    error_type: str | None


def parse_tags(items: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag '{item}': expected key=value")
        tags[key.strip()] = value
    return tags


def _settle(status: str, error: dict[str, Any] | None,
            problems: list[tuple[str, str]]) -> tuple[str, dict[str, Any] | None]:
    """The run's status and error once the record's own problems are counted in."""
    if not problems:
        return status, error
    messages = [message for _, message in problems]
    kinds = {kind for kind, _ in problems}
    if error is None and status == "succeeded":
        if kinds & {"storage", "disk_full"}:
            return "failed", {"type": "disk_full" if "disk_full" in kinds else "storage",
                              "message": "; ".join(messages)}
        return status, {"type": "record", "message": "; ".join(messages)}
    if error is not None:
        error["record_problems"] = messages
    return status, error


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
        self.output_paths = [self._inside(p, "-o") for p in spec.outputs]
        for path in spec.inputs:
            if not os.path.exists(self._abs(path)):
                raise PathError(f"input {path} does not exist")
        self.run_id = runid.new_id()
        self.run_dir = os.path.join(self.repo.state_dir, "work", self.run_id)
        self.config_file = self._config_file_path()
        self.cache = cache_for_repo(self.repo, self.settings)
        self.rec: dict[str, Any] = dict(record.new(self.run_id))  # built up in place; record.RunRecord says its shape
        self.code_tree = ""
        self.commit: str | None = None
        self.files: dict[str, bytes] = {}
        # Errors about the record, for the caller to tell (the core never prints).
        self.errors: list[str] = []
        self.final_written = False
        self.exit_code: int | None = None

    # -- paths ---------------------------------------------------------------
    def _abs(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.spec.cwd, os.path.expanduser(path)))

    def _inside(self, path: str, flag: str) -> str:
        full = self._abs(path)
        reason = self._refusal(full)
        if reason is not None:
            raise PathError(f"{flag} {path}: {reason}; outputs must be inside the working tree "
                            f"{self.root} and outside the git directory")
        return full

    def _refusal(self, full: str) -> str | None:
        """Why ``full`` may not be stored as an output (see :func:`gitruns.api.path_refusal`)."""
        return path_refusal(full, self.root, [self.repo.git_dir, self.repo.common_dir])

    def _display(self, full: str) -> str:
        rel = relative_to_root(self.root, full)
        return rel if rel is not None else full

    def _config_file_path(self) -> str | None:
        """Where the command finds the effective config: only when there is one (-c or
        -p), under the first -c file's own name so code that looks at the name or the
        extension still works; ``config.yaml`` for -p alone."""
        if not (self.spec.config_files or self.spec.overrides):
            return None
        name = os.path.basename(self.spec.config_files[0]) if self.spec.config_files else "config.yaml"
        return os.path.join(self.run_dir, "config", name or "config.yaml")

    # -- launch ----------------------------------------------------------------
    def command_env(self) -> dict[str, str]:
        """The command's environment: ours, without git's repository-local variables
        (a hook's GIT_INDEX_FILE would make the command's own git commands use
        git's temporary index), with the GITRUNS_* variables of this run."""
        local = git_local_env_vars()
        env = {k: v for k, v in os.environ.items() if k not in local and k != "GITRUNS_CONFIG_FILE"}
        env.update(GITRUNS_RUN_ID=self.run_id, GITRUNS_RUN_DIR=self.run_dir, GITRUNS_REPO_ROOT=self.root)
        if self.config_file is not None:
            env["GITRUNS_CONFIG_FILE"] = self.config_file
        return env

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
            os.makedirs(os.path.dirname(self.config_file), exist_ok=True)
            with open(self.config_file, "w", encoding="utf-8") as fh:
                fh.write(userconfig.dump_for(self.config_file, self.config))
        invoked_by, invocation = detect_invoker(dict(os.environ))
        env_capture = EnvironmentCapture(
            self.argv, self.command_env(), os.path.join(self.repo.state_dir, "envcache"),
            self.settings.items("gitruns.envInclude"),
        )
        statcache = StatCache(os.path.join(self.repo.state_dir, "statcache.sqlite"))
        try:
            outputs = tuple(str(relative_to_root(self.root, p)) for p in self.output_paths)
            code = snapshot.capture(
                self.repo, self.settings.size("gitruns.untrackedMaxSize"), statcache, outputs,
                max_files=self.settings.size("gitruns.untrackedMaxFiles"),
                max_total=self.settings.size("gitruns.untrackedMaxTotal"),
            )
            self._dirty_policy(code)
            inputs = [self._input_entry(p, statcache) for p in self.spec.inputs]
        finally:
            statcache.close()
        self.code_tree = code.snapshot_tree
        environment = env_capture.result()
        rec = self.rec
        rec.update(
            name=self.spec.name,
            command=self._recorded_argv(),
            cwd=self.rel_cwd,
            started_at=timeutil.iso(timeutil.now()),
            user=_user(),
            host=socket.gethostname(),
            pid=pid if pid is not None else os.getpid(),
            process=record.this_process(),
            invoked_by=invoked_by,
            invocation=invocation,
            tags=redact.mapping(self.tags),
            code=code.to_record(),
            inputs=inputs,
            gitruns_version=__version__,
        )
        if self.argv != self.spec.argv:
            # The command as typed, ${key} and all, beside the one that ran.
            rec["command_template"] = redact.argv(self.spec.argv)
        self.files = {
            "config.yaml": userconfig.dump(redact.mapping(self.config)).encode(),
            "env.json": (json.dumps(environment, indent=2, ensure_ascii=False) + "\n").encode(),
        }
        parents = [code.commit] if code.commit else []
        self.commit = runrefs.write(self.repo, rec, self.files, self.code_tree, parents, None)

    def _recorded_argv(self) -> list[str]:
        """The command that ran as the record keeps it: a value put in by ${key} is
        taken from the redacted config, so a secret-looking key's value stays out
        of the record whatever option it was given to."""
        if self.argv == self.spec.argv:
            return redact.argv(self.argv)
        return redact.argv(userconfig.substitute(self.spec.argv, redact.mapping(self.config)))

    def _dirty_policy(self, code: snapshot.CodeState) -> None:
        if not code.dirty:
            return
        policy = self.settings.get("gitruns.dirty")
        untracked = len(code.untracked_files) + len(code.untracked_large) + len(code.untracked_withheld)
        if code.untracked_overflow:
            # Overflow beyond the listing limit is only counted in the summary.
            untracked += code.untracked_overflow["files"] - sum(1 for e in code.untracked_large
                                                                 if e.get("reason") == "cap")
        dirty_subs = sum(1 for s in code.submodules if s.get("dirty"))
        counts = f"{len(code.changed_files)} changed, {untracked} untracked"
        if dirty_subs:
            counts += f", {dirty_subs} submodule{'s' if dirty_subs > 1 else ''} with uncommitted changes"
        if policy == "refuse":
            raise DirtyTreeRefused(
                f"the working tree has uncommitted changes ({counts}) and gitruns.dirty is 'refuse'; "
                "commit them or run with GITRUNS_DIRTY=allow"
            )
        if policy == "warn":
            warn(f"running on uncommitted changes ({counts}); "
                 f"the exact code is saved in refs/runs/{self.run_id}")
        # Said even when dirty runs are allowed: code that ran is missing from the
        # snapshot for a reason the user may not expect.
        for line in code.warnings():
            warn(line)

    def _input_entry(self, path: str, statcache: StatCache) -> dict[str, Any]:
        full = self._abs(path)
        hashed = hash_path(full, statcache, label=path)
        trace(f"input {path}: {len(hashed.files)} files, {hashed.size} bytes, {hashed.bytes_read} bytes read, "
              f"{hashed.cache_hits} stat-cache hits")
        rel = relative_to_root(self.root, full)
        tracked = False
        if rel is not None and hashed.kind == "file":
            try:
                tracked = rel in self.repo.git.index
            except Exception:  # an unreadable index only loses this hint
                tracked = False
        return {"path": self._display(full), "kind": hashed.kind, "size": hashed.size,
                "digest": hashed.digest, "files": len(hashed.files), "tracked": tracked}

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
        """
        self.exit_code = exit_code
        try:
            self._finish(status, exit_code, signal_num, error, stdout_spool, stderr_spool)
        except ConcurrentUpdate:
            raise
        except Exception as exc:  # noqa: BLE001 - the run's outcome must not be lost to a side problem
            self._finish_anyway(status, exit_code, signal_num, error, exc)
        return self.outcome()

    def outcome(self) -> Outcome:
        rec = self.rec
        duration = rec.get("duration_s")
        if not isinstance(duration, (int, float)):
            started = timeutil.parse_iso(rec["started_at"])
            duration = round((timeutil.now() - started).total_seconds(), 3)
        error = rec.get("error")
        return Outcome(
            run_id=self.run_id, short_id=self.short_id(),
            status=str(rec["status"]) if self.final_written else "crashed",
            exit_code=self.exit_code, signal=rec.get("signal"), duration_s=float(duration),
            error_type=error.get("type") if isinstance(error, dict) else None,
        )

    def short_id(self) -> str:
        """The shortest unique prefix of this run's id among the repository's runs (as ls shows it)."""
        prefix = "refs/runs/" + self.run_id[:runid.MIN_ABBREV]
        try:
            near = [name.removeprefix("refs/runs/") for name in self.repo.git.references
                    if name.startswith(prefix)]
        except Exception:  # noqa: BLE001 - only for display
            near = []
        return runid.abbreviations([*{self.run_id, *near}]).get(self.run_id, self.run_id)

    def _finish_anyway(self, status: str, exit_code: int | None, signal_num: int | None,
                       error: dict[str, Any] | None, exc: Exception) -> None:
        """The final record without what failed to fold in, its error saying why."""
        assert self.commit is not None
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        ended = timeutil.now()
        started = timeutil.parse_iso(self.rec["started_at"])
        self.rec.update(
            status=status, exit_code=exit_code,
            signal=signal_mod.Signals(signal_num).name if signal_num else None,
            ended_at=timeutil.iso(ended), duration_s=round((ended - started).total_seconds(), 3),
            error={**(error or {"type": "record"}),
                   "message": ((error or {}).get("message", "") + "; " if error else "")
                   + f"gitruns could not complete the record: {detail}"},
        )
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
        warn(f"the record of run {self.run_id[:12]} is incomplete: {detail}; "
             f"partial files are kept in {self.run_dir}")

    def _finish(
        self,
        status: str,
        exit_code: int | None,
        signal_num: int | None,
        error: dict[str, Any] | None,
        stdout_spool: str | None,
        stderr_spool: str | None,
    ) -> None:
        """The steps of the final record, each folding one thing in.

        What could not be recorded goes to ``problems``: "record" and "missing" ones
        (a metrics file or an output the command did not write) leave the outcome as
        it is; "storage" and "disk_full" ones (something the run declared to keep,
        and that exists, was not kept) make a succeeded run failed."""
        assert self.commit is not None
        ended = timeutil.now()
        problems: list[tuple[str, str]] = []
        command_succeeded = status == "succeeded"
        points = self._gather_metrics(problems)
        params = self._gather_params()
        artifacts = self._store_artifacts(problems)
        logs = self._store_logs(stdout_spool, stderr_spool, problems)
        self.files["metrics.jsonl"] = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in points).encode()
        if params:
            merged = userconfig.deep_merge(self.config, params)
            self.files["config.yaml"] = userconfig.dump(redact.mapping(merged)).encode()
        status, error = _settle(status, error, problems)
        self._note_commit_made_meanwhile()
        started = timeutil.parse_iso(self.rec["started_at"])
        self.rec.update(
            status=status,
            exit_code=exit_code,
            signal=signal_mod.Signals(signal_num).name if signal_num else None,
            ended_at=timeutil.iso(ended),
            duration_s=round((ended - started).total_seconds(), 3),
            metrics=final_values(points),
            params=redact.mapping(params),
            artifacts=artifacts,
            logs=logs,
            error=error,
        )
        self.commit = runrefs.write(self.repo, self.rec, self.files, self.code_tree, [self.commit], self.commit)
        self.final_written = True
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self._tell(problems, command_succeeded)

    def _gather_metrics(self, problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Every metric point: logged from code, then read from the -m files."""
        points = [json_safe(p) for p in self._read_jsonl("metrics.jsonl")]
        for path in self.spec.metrics_files:
            try:
                points.extend(read_metrics_file(self._abs(path), label=path))
            except GitrunsError as exc:
                problems.append(("record", str(exc)))
        return points

    def _gather_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for item in self._read_jsonl("params.jsonl"):
            params = userconfig.deep_merge(params, json_safe(item))
        return params

    def _store_artifacts(self, problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The -o outputs, then the paths logged from code, each stored once."""
        artifacts: list[dict[str, Any]] = []
        seen: set[str] = set()
        logged = [p["path"] for p in self._read_jsonl("artifacts.jsonl") if isinstance(p.get("path"), str)]
        statcache = self._statcache()
        try:
            for full, source in [(p, "output") for p in self.output_paths] + [(p, "logged") for p in logged]:
                if full in seen:
                    continue
                seen.add(full)
                artifacts.append(self._artifact_entry(full, source, statcache, problems))
        finally:
            statcache.close()
        return artifacts

    def _store_logs(self, stdout_spool: str | None, stderr_spool: str | None,
                    problems: list[tuple[str, str]]) -> dict[str, Any]:
        logs: dict[str, Any] = {}
        cap = self.settings.size("gitruns.logMaxSize")
        for stream, spool in (("stdout", stdout_spool), ("stderr", stderr_spool)):
            data, meta = self._log(stream, spool, cap, problems)
            self.files[f"{stream}.log"] = data
            logs[stream] = meta
        return logs

    def _tell(self, problems: list[tuple[str, str]], command_succeeded: bool) -> None:
        """Problems, told once the record is written, one line each; the record holds
        the same text in its error.  A metrics file or an output missing after a
        failed command is its consequence, not news."""
        for kind, message in problems:
            if kind in ("storage", "disk_full"):
                self.errors.append(" ".join(message.split()))
            elif command_succeeded:
                warn(" ".join(message.split()))

    def _note_commit_made_meanwhile(self) -> None:
        """If the user committed exactly this run's code while it ran, say so now:
        the post-commit hook leaves running runs alone."""
        code = self.rec.get("code") or {}
        if not code.get("dirty") or code.get("reproducible_from"):
            return
        try:
            git = self.repo.git
            if git.head_is_unborn:
                return
            head = git.head.peel(pygit2.Commit)
            if str(head.tree_id) == code.get("snapshot_tree"):
                self.rec["code"] = dict(code, reproducible_from=str(head.id))
        except Exception:  # noqa: BLE001, S110 - only a note; never fail the record over it
            pass

    def _read_jsonl(self, name: str) -> list[dict[str, Any]]:
        out = []
        try:
            with open(os.path.join(self.run_dir, name), encoding="utf-8") as fh:
                for line in fh:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(item, dict):
                        out.append(item)
        except OSError:
            pass
        return out

    def _statcache(self) -> StatCache:
        return StatCache(os.path.join(self.repo.state_dir, "statcache.sqlite"))

    def _artifact_entry(self, full: str, source: str, statcache: StatCache,
                        problems: list[tuple[str, str]]) -> dict[str, Any]:
        """One artifact of the record; what goes wrong is added to ``problems`` and the
        entry says how far it got (a digest computed before the cache failed is kept)."""
        shown = self._display(full)
        what = f"output {shown}" if source == "output" else f"logged artifact {shown}"
        entry: dict[str, Any] = {"path": shown, "source": source, "status": "error", "kind": None,
                                 "size": None, "digest": None}
        reason = self._refusal(full)
        if reason is not None:
            # Checked again here: a path logged from code, or an output the command
            # turned into a symlink into .git, must never be read into the cache.
            message = f"{what} is {reason}; it was not stored"
            problems.append(("storage", message))
            return {**entry, "error": message}
        if not os.path.exists(full):
            if source == "output":
                problems.append(("missing", f"output {shown} was not written by the command"))
            return {**entry, "status": "missing"}
        try:
            hashed: HashedPath = hash_path(full, statcache, label=shown)
        except GitrunsError as exc:
            message = f"{what} could not be stored: {exc}"
            problems.append(("storage", message))
            return {**entry, "error": message}
        entry.update(kind=hashed.kind, size=hashed.size, digest=hashed.digest, files=len(hashed.files))
        methods: set[str] = set()
        try:
            for f in hashed.files:
                methods.add(self.cache.store_file(f.abspath, f.digest))
            if hashed.kind == "dir":
                self.cache.store_bytes(manifest_bytes(hashed.files))
        except CacheError as exc:
            message = f"{what} was not stored: {exc}"
            problems.append(("disk_full" if exc.disk_full else "storage", message))
            return {**entry, "error": message, "stored_by": sorted(methods)}
        return {**entry, "status": "stored", "stored_by": sorted(methods)}

    def _log(self, stream: str, spool: str | None, cap: int,
             problems: list[tuple[str, str]]) -> tuple[bytes, dict[str, Any]]:
        if spool is None or not os.path.exists(spool):
            return b"", {"size": 0, "digest": None, "truncated": False}
        size = os.path.getsize(spool)
        digest = digest_file(spool)
        if size <= cap:
            with open(spool, "rb") as fh:
                return fh.read(), {"size": size, "digest": digest, "truncated": False}
        # Keep the head and the tail in git (errors are usually at the end);
        # the whole stream goes to the artifact cache.
        try:
            self.cache.store_file(spool, digest)
            where = f"is {digest} in the artifact cache; 'git run log' prints it"
        except CacheError as exc:
            problems.append(("disk_full" if exc.disk_full else "storage",
                             f"the full {stream} ({size} bytes) was not stored: {exc}"))
            where = f"({digest}) could not be stored in the artifact cache"
        half = cap // 2
        with open(spool, "rb") as fh:
            head = fh.read(half)
            fh.seek(size - half)
            tail = fh.read(half)
        marker = (f"\n[gitruns: {size - 2 * half} bytes omitted here; the full log ({size} bytes) "
                  f"{where}]\n").encode()
        return head + marker + tail, {"size": size, "digest": digest, "truncated": True}


class CodeRun(Session):
    """``gitruns.start_run()``: a run of code in this very process."""

    def __init__(self, argv: list[str], name: str | None = None, config: dict[str, Any] | None = None,
                 tags: dict[str, str] | None = None, inputs: list[str] | None = None,
                 outputs: list[str] | None = None, on_end: Callable[[], None] | None = None) -> None:
        spec = LaunchSpec(argv=argv, cwd=os.getcwd(), name=name,
                          tags=[f"{k}={v}" for k, v in (tags or {}).items()],
                          inputs=list(inputs or []), outputs=list(outputs or []))
        super().__init__(spec)
        # Called once the run is finished (gitruns.api forgets its current run).
        self.on_end = on_end
        if config:
            self.config = userconfig.deep_merge(self.config, config)
        self.launch()

    def __enter__(self) -> CodeRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end(exc)

    def end(self, exc: BaseException | None = None) -> None:
        if self.commit is None or self.rec["status"] != "running":
            return
        if exc is None:
            self.finish("succeeded", 0, None, None)
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("canceled", 130, None, {"type": "interrupt", "message": "KeyboardInterrupt"})
        else:
            self.finish("failed", 1, None, {"type": "exception", "message": f"{type(exc).__name__}: {exc}"})
        # No command layer here to print errors: the calling code gets them as warnings.
        for message in self.errors:
            warn(message)
        if self.on_end is not None:
            self.on_end()
