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

from . import __version__, record, redact, runid, snapshot, store, timeutil, userconfig
from .cache import for_repo as cache_for_repo
from .environment import EnvironmentCapture
from .errors import ConcurrentUpdate, DirtyTreeRefused, GitrunsError, PathError, UsageError
from .hashing import HashedPath, StatCache, digest_file, hash_path, manifest_bytes
from .metricsfile import final_values, read_metrics_file
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
        self.rec = record.new(self.run_id)
        self.code_tree = ""
        self.commit: str | None = None
        self.files: dict[str, bytes] = {}

    # -- paths ---------------------------------------------------------------
    def _abs(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.spec.cwd, os.path.expanduser(path)))

    def _inside(self, path: str, flag: str) -> str:
        full = self._abs(path)
        if relative_to_root(self.root, full) in (None, "."):
            raise PathError(f"{flag} {path}: outputs must be inside the working tree {self.root}")
        return full

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
            tags=self.tags,
            code=code.to_record(),
            inputs=inputs,
            gitruns_version=__version__,
        )
        self.files = {
            "config.yaml": userconfig.dump(redact.mapping(self.config)).encode(),
            "env.json": (json.dumps(environment, indent=2, ensure_ascii=False) + "\n").encode(),
        }
        parents = [code.commit] if code.commit else []
        self.commit = store.write(self.repo, rec, self.files, self.code_tree, parents, None)

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
        if policy != "allow":
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
        """Write the final record; if folding something in fails, still record the outcome."""
        try:
            self._finish(status, exit_code, signal_num, error, stdout_spool, stderr_spool)
        except ConcurrentUpdate:
            raise
        except Exception as exc:  # noqa: BLE001 - the run's outcome must not be lost to a side problem
            assert self.commit is not None
            ended = timeutil.now()
            started = timeutil.parse_iso(self.rec["started_at"])
            self.rec.update(
                status=status, exit_code=exit_code,
                signal=signal_mod.Signals(signal_num).name if signal_num else None,
                ended_at=timeutil.iso(ended), duration_s=round((ended - started).total_seconds(), 3),
                error={**(error or {"type": "record"}),
                       "message": ((error or {}).get("message", "") + "; " if error else "")
                       + f"gitruns could not complete the record: {type(exc).__name__}: {exc}"},
            )
            print(f"gitruns: warning: the record of run {self.run_id[:12]} is incomplete: {exc}; "
                  f"partial files are kept in {self.run_dir}", file=sys.stderr)
            self.commit = store.write(self.repo, self.rec, self.files, self.code_tree, [self.commit], self.commit)

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
        problems: list[str] = []
        points = self._read_jsonl("metrics.jsonl")
        for path in self.spec.metrics_files:
            try:
                points.extend(read_metrics_file(self._abs(path)))
            except GitrunsError as exc:
                problems.append(str(exc))
        params: dict[str, Any] = {}
        for item in self._read_jsonl("params.jsonl"):
            params = userconfig.deep_merge(params, item)
        artifacts: list[dict[str, Any]] = []
        seen: set[str] = set()
        logged = [p["path"] for p in self._read_jsonl("artifacts.jsonl") if isinstance(p.get("path"), str)]
        statcache = self._statcache()
        try:
            for full, source in [(p, "output") for p in self.output_paths] + [(p, "logged") for p in logged]:
                if full in seen:
                    continue
                seen.add(full)
                try:
                    artifacts.append(self._artifact_entry(full, source, statcache))
                except GitrunsError as exc:
                    problems.append(str(exc))
                    artifacts.append({"path": self._display(full), "source": source, "status": "error",
                                      "kind": None, "size": None, "digest": None, "error": str(exc)})
        finally:
            statcache.close()
        logs: dict[str, Any] = {}
        cap = self.settings.size("gitruns.logMaxSize")
        for stream, spool in (("stdout", stdout_spool), ("stderr", stderr_spool)):
            data, meta = self._log(spool, cap)
            self.files[f"{stream}.log"] = data
            logs[stream] = meta
        self.files["metrics.jsonl"] = "".join(
            json.dumps(p, ensure_ascii=False) + "\n" for p in points
        ).encode()
        if params:
            merged = userconfig.deep_merge(self.config, params)
            self.files["config.yaml"] = userconfig.dump(redact.mapping(merged)).encode()
        if problems and error is None and status == "succeeded":
            error = {"type": "record", "message": "; ".join(problems)}
        elif problems and error is not None:
            error["record_problems"] = problems
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
        self.commit = store.write(self.repo, rec, self.files, self.code_tree, [self.commit], self.commit)
        shutil.rmtree(self.run_dir, ignore_errors=True)

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

    def _artifact_entry(self, full: str, source: str, statcache: StatCache) -> dict[str, Any]:
        shown = self._display(full)
        if not os.path.exists(full):
            return {"path": shown, "source": source, "status": "missing", "kind": None,
                    "size": None, "digest": None}
        hashed: HashedPath = hash_path(full, statcache, label=shown)
        methods = {self.cache.store_file(f.abspath, f.digest) for f in hashed.files}
        if hashed.kind == "dir":
            self.cache.store_bytes(manifest_bytes(hashed.files))
        return {"path": shown, "source": source, "status": "stored", "kind": hashed.kind,
                "size": hashed.size, "digest": hashed.digest, "files": len(hashed.files),
                "stored_by": sorted(methods)}

    def _log(self, spool: str | None, cap: int) -> tuple[bytes, dict[str, Any]]:
        if spool is None or not os.path.exists(spool):
            return b"", {"size": 0, "digest": None, "truncated": False}
        size = os.path.getsize(spool)
        digest = digest_file(spool)
        if size <= cap:
            with open(spool, "rb") as fh:
                return fh.read(), {"size": size, "digest": digest, "truncated": False}
        # Keep the head and the tail in git (errors are usually at the end);
        # the whole stream goes to the artifact cache.
        self.cache.store_file(spool, digest)
        half = cap // 2
        with open(spool, "rb") as fh:
            head = fh.read(half)
            fh.seek(size - half)
            tail = fh.read(half)
        marker = (f"\n[gitruns: {size - 2 * half} bytes omitted here; the full log ({size} bytes) "
                  f"is {digest} in the artifact cache; 'git run log' prints it]\n").encode()
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
