"""One run from launch to end: the launch record, then the final record.

``exec`` (a command in a child process) and ``gitruns.start_run()`` (code in
this process) share this: snapshot the code, hash inputs, capture the
environment, write the launch commit; later fold in metrics, parameters,
artifacts and logs and write the final commit on the same ref.
"""
from __future__ import annotations

import getpass
import json
import os
import shutil
import signal as signal_mod
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

import pygit2

from . import __version__, record, redact, runid, runrefs, snapshot, timeutil, userconfig
from .api import path_refusal
from .cache import CacheError
from .cache import for_repo as cache_for_repo
from .environment import EnvironmentCapture
from .errors import ConcurrentUpdate, DirtyTreeRefused, GitrunsError, PathError, UsageError
from .hashing import HashedPath, StatCache, digest_file, hash_path
from .manifest import manifest_bytes
from .metricsfile import final_values, json_safe, read_metrics_file
from .progress import trace
from .repo import Repo, open_repo, relative_to_root
from .settings import Settings
from .settings import load as load_settings

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


def parse_tags(items: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag '{item}': expected key=value")
        tags[key.strip()] = value
    return tags


class Session:
    """A run being recorded.  ``launch()`` then ``finish()``."""

    def __init__(self, spec: LaunchSpec, repo: Repo | None = None) -> None:
        self.spec = spec
        self.repo = repo or open_repo(spec.cwd)
        self.root = self.repo.require_worktree()
        self.settings: Settings = load_settings(self.repo.git)
        self.tags = parse_tags(spec.tags)
        self.config = userconfig.effective(spec.config_files, spec.overrides)
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
        self.cache = cache_for_repo(self.repo, self.settings)
        self.rec: dict[str, Any] = dict(record.new(self.run_id))  # built up in place; record.RunRecord says its shape
        self.code_tree = ""
        self.commit: str | None = None
        self.files: dict[str, bytes] = {}

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

    # -- launch ----------------------------------------------------------------
    def command_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            GITRUNS_RUN_ID=self.run_id,
            GITRUNS_RUN_DIR=self.run_dir,
            GITRUNS_CONFIG_FILE=os.path.join(self.run_dir, "config.yaml"),
            GITRUNS_REPO_ROOT=self.root,
        )
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
        with open(os.path.join(self.run_dir, "config.yaml"), "w", encoding="utf-8") as fh:
            fh.write(userconfig.dump(self.config))
        invoked_by, invocation = detect_invoker(dict(os.environ))
        env_capture = EnvironmentCapture(
            self.spec.argv, self.command_env(), os.path.join(self.repo.state_dir, "envcache"),
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
            command=redact.argv(self.spec.argv),
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
        self.files = {
            "config.yaml": userconfig.dump(redact.mapping(self.config)).encode(),
            "env.json": (json.dumps(environment, indent=2, ensure_ascii=False) + "\n").encode(),
        }
        parents = [code.commit] if code.commit else []
        self.commit = runrefs.write(self.repo, rec, self.files, self.code_tree, parents, None)

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
            print(f"gitruns: warning: running on uncommitted changes ({counts}); "
                  f"the exact code is saved in refs/runs/{self.run_id[:12]}...", file=sys.stderr)
        # Said even when dirty runs are allowed: code that ran is missing from the
        # snapshot for a reason the user may not expect.
        for line in code.warnings():
            print(f"gitruns: warning: {line}", file=sys.stderr)

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
    ) -> None:
        """Write the final record; if folding something in fails, still record the outcome.

        Never raises for a problem around the command (only :class:`ConcurrentUpdate`,
        when someone else moved the run's ref), so exec always exits with the
        command's own code; a record that cannot be written at all is one line on stderr.
        """
        try:
            self._finish(status, exit_code, signal_num, error, stdout_spool, stderr_spool)
        except ConcurrentUpdate:
            raise
        except Exception as exc:  # noqa: BLE001 - the run's outcome must not be lost to a side problem
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
                print(f"gitruns: error: could not write the final record of run {self.run_id[:12]}: {why}; "
                      f"it will show as crashed, and what it printed is kept in {self.run_dir}", file=sys.stderr)
                return
            print(f"gitruns: warning: the record of run {self.run_id[:12]} is incomplete: {detail}; "
                  f"partial files are kept in {self.run_dir}", file=sys.stderr)

    def _finish(
        self,
        status: str,
        exit_code: int | None,
        signal_num: int | None,
        error: dict[str, Any] | None,
        stdout_spool: str | None,
        stderr_spool: str | None,
    ) -> None:
        assert self.commit is not None
        rec = self.rec
        ended = timeutil.now()
        # What could not be recorded: "record" and "missing" problems (a metrics file
        # or an output the command did not write) leave the outcome as it is;
        # "storage" and "disk_full" ones (something the run declared to keep, and
        # that exists, was not kept) make a succeeded run failed.
        problems: list[tuple[str, str]] = []
        command_succeeded = status == "succeeded"
        points = [json_safe(p) for p in self._read_jsonl("metrics.jsonl")]
        for path in self.spec.metrics_files:
            try:
                points.extend(read_metrics_file(self._abs(path), label=path))
            except GitrunsError as exc:
                problems.append(("record", str(exc)))
        params: dict[str, Any] = {}
        for item in self._read_jsonl("params.jsonl"):
            params = userconfig.deep_merge(params, json_safe(item))
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
        logs: dict[str, Any] = {}
        cap = self.settings.size("gitruns.logMaxSize")
        for stream, spool in (("stdout", stdout_spool), ("stderr", stderr_spool)):
            data, meta = self._log(stream, spool, cap, problems)
            self.files[f"{stream}.log"] = data
            logs[stream] = meta
        self.files["metrics.jsonl"] = "".join(
            json.dumps(p, ensure_ascii=False) + "\n" for p in points
        ).encode()
        if params:
            merged = userconfig.deep_merge(self.config, params)
            self.files["config.yaml"] = userconfig.dump(redact.mapping(merged)).encode()
        messages = [message for _, message in problems]
        kinds = {kind for kind, _ in problems}
        if problems and error is None and status == "succeeded":
            if kinds & {"storage", "disk_full"}:
                status = "failed"
                error = {"type": "disk_full" if "disk_full" in kinds else "storage", "message": "; ".join(messages)}
            else:
                error = {"type": "record", "message": "; ".join(messages)}
        elif problems and error is not None:
            error["record_problems"] = messages
        self._note_commit_made_meanwhile()
        started = timeutil.parse_iso(rec["started_at"])
        rec.update(
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
        self.commit = runrefs.write(self.repo, rec, self.files, self.code_tree, [self.commit], self.commit)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        # Said at the end, after the command's own output, one line each; the
        # record holds the same text in its error.  A metrics file or an output
        # missing after a failed command is its consequence, not news.
        for kind, message in problems:
            if kind in ("storage", "disk_full"):
                print(f"gitruns: error: {' '.join(message.split())}", file=sys.stderr)
            elif command_succeeded:
                print(f"gitruns: warning: {' '.join(message.split())}", file=sys.stderr)

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
                 outputs: list[str] | None = None) -> None:
        spec = LaunchSpec(argv=argv, cwd=os.getcwd(), name=name,
                          tags=[f"{k}={v}" for k, v in (tags or {}).items()],
                          inputs=list(inputs or []), outputs=list(outputs or []))
        super().__init__(spec)
        if config:
            self.config = userconfig.deep_merge(self.config, config)
        self.launch()

    def __enter__(self) -> CodeRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end(exc)

    def end(self, exc: BaseException | None = None) -> None:
        from .api import _end_started

        if self.commit is None or self.rec["status"] != "running":
            return
        if exc is None:
            self.finish("succeeded", 0, None, None)
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("canceled", 130, None, {"type": "interrupt", "message": "KeyboardInterrupt"})
        else:
            self.finish("failed", 1, None, {"type": "exception", "message": f"{type(exc).__name__}: {exc}"})
        _end_started()
