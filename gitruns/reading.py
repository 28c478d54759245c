"""Reading runs from Python: what ``ls``, ``show``, ``diff`` and ``log`` show, as data.

::

    import gitruns
    frame = gitruns.runs(status="succeeded", since="1w").to_pandas()
    run = gitruns.load("01jd3k")            # any unique prefix, or a name
    run.params, run.metrics, run.metrics_history, run.logs.stdout
    run.artifacts.restore("model.pt")       # as 'git run checkout'
    gitruns.compare(a, b)                   # as 'git run diff --json'

The verbs call these functions and only format what they return.  They never
print: a record part that is refused (too large, too deep) is reported with
:func:`gitruns.warn.warn` (a :class:`~gitruns.warn.GitrunsWarning`) and read as
None.  ``repo`` is a path inside the repository (default: the current
directory).  See docs/python.md.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from .errors import RecordError, UsageError
from .warn import warn

# pygit2 and YAML come with these: imported where used, so that naming
# gitruns.runs or gitruns.Run costs nothing until a run is read.
if TYPE_CHECKING:
    from . import listing, lookup
    from .record import RunRecord
    from .repo import Repo
    from .runindex import RunIndex

PathLike = str | os.PathLike[str]
RepoArg: TypeAlias = "PathLike | Repo | None"  # a path inside the repository, or an opened one
STREAMS = ("stdout", "stderr")


def open_at(repo: RepoArg) -> Repo:
    """The repository containing ``repo`` (a path; default: the current directory)."""
    from .repo import open_at as open_repo_at

    return open_repo_at(repo)


# --- one run -------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """A recorded non-finite number ("nan", "inf", "-inf") as the float it stands for."""
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def _time(text: Any) -> dt.datetime | None:
    from .timeutil import parse_iso

    try:
        return parse_iso(text) if isinstance(text, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Code:
    """The code a run ran: ``commit`` (HEAD at launch), and whether it was ``dirty``."""

    commit: str | None
    branch: str | None
    dirty: bool
    snapshot_tree: str | None
    reproducible_from: str | None
    changed_files: list[dict[str, Any]]
    untracked_files: list[str]


@dataclass(frozen=True)
class Input:
    """An input named with ``-i``: hashed at launch."""

    path: str
    kind: str | None
    size: int | None
    digest: str | None


@dataclass(frozen=True)
class Artifact:
    """An output: ``status`` is "stored" when its content is in the artifact cache."""

    path: str
    kind: str | None
    size: int | None
    digest: str | None
    status: str | None
    source: str | None


class Artifacts(list[Artifact]):
    """A run's artifacts, with :meth:`restore`."""

    def __init__(self, items: Iterable[Artifact], repo: Repo, run_id: str) -> None:
        super().__init__(items)
        self._repo = repo
        self._run_id = run_id

    def restore(self, path: PathLike | Iterable[PathLike] | None = None, dest: PathLike | None = None,
                force: bool = False, remote: str | None = None) -> list[str]:
        """Restore the stored artifacts (or those at or under ``path``) as ``git run checkout``
        does, with the same checks: into the working tree, or under the directory ``dest``.
        A file that differs is not overwritten unless ``force``.  Returns the paths written."""
        from .checkout import checkout

        if path is None:
            paths: list[str] = []
        elif isinstance(path, (str, os.PathLike)):
            paths = [os.fspath(path)]
        else:
            paths = [os.fspath(p) for p in path]
        root = None
        if dest is not None:
            root = os.path.abspath(os.fspath(dest))
            self._refuse_inside_git(root)
            os.makedirs(root, exist_ok=True)
        return checkout(self._repo, self._run_id, paths, force, remote, root=root).written

    def _refuse_inside_git(self, root: str) -> None:
        """Never restore into the git directory (hooks, config) or the artifact cache."""
        from .cache import local_cache

        real = os.path.realpath(root)
        for where, what in ((self._repo.git_dir, "the git directory"), (self._repo.common_dir, "the git directory"),
                            (local_cache(self._repo).root, "the artifact cache")):
            inside = os.path.realpath(where)
            if real == inside or real.startswith(inside.rstrip(os.sep) + os.sep):
                raise UsageError(f"refusing to restore into {what}: {root}")


@dataclass(frozen=True)
class Step:
    """One step of a pipeline run: ``status`` is one of pending, running, succeeded,
    failed, cached (its outputs reused from ``cached_from``: run id and step name),
    skipped (``error`` says why) or canceled."""

    name: str
    status: str
    duration_s: float | None
    attempts: int
    cached_from: tuple[str, str] | None
    metrics: dict[str, Any]
    error: str | None
    needs: list[str]
    command: str | None
    outputs: list[Artifact]


def _step(s: Mapping[str, Any]) -> Step:
    cached = s.get("cached_from")
    error = s.get("error")
    duration = s.get("duration_s")
    return Step(
        name=str(s.get("name")), status=str(s.get("status")),
        duration_s=float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        attempts=len(s.get("attempts") or []),
        cached_from=(str(cached.get("run")), str(cached.get("step"))) if isinstance(cached, Mapping) else None,
        metrics={str(k): _number(v) for k, v in (s.get("metrics") or {}).items()},
        error=str(error.get("message")) if isinstance(error, Mapping) and error.get("message") is not None else None,
        needs=[str(n) for n in s.get("needs") or []],
        command=s.get("command") if isinstance(s.get("command"), str) else None,
        outputs=[Artifact(str(a.get("path")), a.get("kind"), a.get("size"), a.get("digest"), a.get("status"),
                          a.get("source"))
                 for a in s.get("outputs") or [] if isinstance(a, dict)],
    )


class Logs:
    """A run's captured output: ``.stdout`` and ``.stderr`` as text, :meth:`read` as bytes.
    ``step``: one step's output, of a pipeline run (``.gitruns/steps/<step>/``)."""

    def __init__(self, repo: Repo, run: lookup.Run, step: str | None = None) -> None:
        self._repo = repo
        self._run = run
        self._step = step

    def chunks(self, stream: str) -> Iterator[bytes]:
        """The stream in chunks of at most 1 MiB (a log of any size costs little memory)."""
        from . import runlogs, sharing
        from .cache import local_cache

        if stream not in STREAMS:
            raise UsageError(f"no log stream {stream!r}: expected stdout or stderr")
        cache = local_cache(self._repo)
        if self._step is not None:
            meta = runlogs.step_logs(self._run, self._step)
            runlogs.fetch_step_logs(self._repo, meta, cache)
            return runlogs.step_chunks(self._repo, self._run, self._step, stream, cache)
        sharing.fetch_logs(self._repo, self._run, cache)  # full logs kept outside git, from the store
        return runlogs.chunks(self._repo, self._run, stream, cache)

    def read(self, stream: str) -> bytes:
        return b"".join(self.chunks(stream))

    @property
    def stdout(self) -> str:
        return self.read("stdout").decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.read("stderr").decode(errors="replace")


class Run:
    """One run: its record, and the rest of ``.gitruns/`` read when first asked for."""

    def __init__(self, repo: Repo, run: lookup.Run) -> None:
        self._repo = repo
        self._run = run

    def __repr__(self) -> str:
        return f"<gitruns.Run {self.id} {self.status}{' ' + repr(self.name) if self.name else ''}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and (self.id, self.commit) == (other.id, other.commit)

    def __hash__(self) -> int:
        return hash((self.id, self.commit))

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def commit(self) -> str:
        """The run ref's commit (the latest update of the run)."""
        return self._run.commit

    @property
    def source(self) -> str | None:
        """None for a run of this repository; else the remote it is only known from."""
        return self._run.source

    @property
    def record(self) -> RunRecord:
        """``run.json`` as it is (upgraded to the current schema)."""
        return self._run.record

    @property
    def name(self) -> str | None:
        return self.record.get("name")

    @property
    def status(self) -> str:
        """running, succeeded, failed, canceled, or crashed (a running run whose recorder is gone)."""
        return self._run.status

    @property
    def kind(self) -> str:
        """"command" (``git run exec``) or "pipeline" (``git run pipeline``: see :attr:`steps`)."""
        return str(self.record.get("kind") or "command")

    @property
    def steps(self) -> list[Step]:
        """A pipeline run's steps, in the order they were planned (empty for a command run)."""
        return [_step(s) for s in self.record.get("steps") or [] if isinstance(s, dict)]

    def step_logs(self, step: str) -> Logs:
        """One step's captured output (``.stdout``, ``.stderr``); UsageError for an unknown step."""
        from . import runlogs

        runlogs.step_logs(self._run, step)  # refuses an unknown step, naming the run's steps
        return Logs(self._repo, self._run, step)

    @property
    def command(self) -> list[str]:
        return list(self.record.get("command") or [])

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.record.get("tags") or {})

    @property
    def started_at(self) -> dt.datetime | None:
        return _time(self.record.get("started_at"))

    @property
    def ended_at(self) -> dt.datetime | None:
        return _time(self.record.get("ended_at"))

    @property
    def duration_s(self) -> float | None:
        value = self.record.get("duration_s")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def metrics(self) -> dict[str, Any]:
        """The final value of each metric (non-finite ones as float nan/inf)."""
        return {str(k): _number(v) for k, v in (self.record.get("metrics") or {}).items()}

    def config_yaml(self) -> bytes | None:
        """``config.yaml`` as written (None when the run has none), once it is known to be
        within the limits (see bounds); raises RecordError when it is refused."""
        from .showing import read_config

        return read_config(self._repo, self._run)[1]

    @cached_property
    def config(self) -> Any:
        """The effective configuration (``config.yaml``); None when it is refused (with a warning)."""
        from .showing import read_config

        try:
            return read_config(self._repo, self._run)[0]
        except RecordError as exc:
            warn(f"run {self.id}: {exc}")
            return None

    @property
    def params(self) -> dict[str, Any]:
        """The configuration flattened to dotted keys: ``{"train.lr": 0.01}``."""
        from .userconfig import flatten

        config = self.config
        return flatten(config) if isinstance(config, dict) else {}

    @cached_property
    def env(self) -> Any:
        """``env.json``: interpreter, packages, OS, hardware; None when it is refused (with a warning)."""
        from .showing import read_env

        try:
            return read_env(self._repo, self._run)
        except RecordError as exc:
            warn(f"run {self.id}: {exc}")
            return None

    @cached_property
    def metrics_history(self) -> list[dict[str, Any]]:
        """Every logged point, in the order logged: ``name``, ``value``, ``step``, ``time``."""
        from . import recordread

        try:
            raw = recordread.read_file(self._repo.git, self.commit, "metrics.jsonl", limit=None) or b""
        except RecordError as exc:
            warn(f"run {self.id}: {exc}")
            return []
        points, bad = [], 0
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                point = json.loads(line)
            except (ValueError, RecursionError):
                point = None
            if not isinstance(point, dict) or "name" not in point:
                bad += 1
                continue
            point["value"] = _number(point.get("value"))
            points.append(point)
        if bad:
            warn(f"run {self.id}: {bad} line(s) of metrics.jsonl are not metric points, skipped")
        return points

    @property
    def logs(self) -> Logs:
        return Logs(self._repo, self._run)

    @property
    def artifacts(self) -> Artifacts:
        items = [Artifact(str(a.get("path")), a.get("kind"), a.get("size"), a.get("digest"), a.get("status"),
                          a.get("source"))
                 for a in self.record.get("artifacts") or [] if isinstance(a, dict)]
        return Artifacts(items, self._repo, self.id)

    @property
    def inputs(self) -> list[Input]:
        return [Input(str(i.get("path")), i.get("kind"), i.get("size"), i.get("digest"))
                for i in self.record.get("inputs") or [] if isinstance(i, dict)]

    @property
    def code(self) -> Code:
        c: Mapping[str, Any] = self.record.get("code") or {}
        return Code(c.get("commit"), c.get("branch"), bool(c.get("dirty")), c.get("snapshot_tree"),
                    c.get("reproducible_from"), list(c.get("changed_files") or []),
                    list(c.get("untracked_files") or []))

    def to_dict(self) -> dict[str, Any]:
        """What ``git run ls --json`` gives for it: run.json's keys, the derived status, the commit."""
        from . import listing

        return listing.as_json(self._run)

    def row(self) -> dict[str, Any]:
        """One flat row: id, name, status, started, duration, ``params.<key>``, ``metrics.<key>``."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "status": self.status,
                               "started": self.record.get("started_at"), "duration": self.duration_s,
                               "kind": self.kind}
        if self.kind == "pipeline":
            from .listing import failed_step

            out["steps"] = len(self.record.get("steps") or [])
            out["failed_step"] = failed_step(self.record)
        out.update({f"params.{k}": v for k, v in self.params.items()})
        out.update({f"metrics.{k}": v for k, v in self.metrics.items()})
        return out


# --- many runs -----------------------------------------------------------------------------


class RunList(list[Run]):
    """Runs, newest first, as :func:`runs` chose them."""

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict a run (see :meth:`Run.row`); configurations are read in one batch."""
        from . import recordread

        if self:
            recordread.prefetch_records(self[0]._repo.git, [r.commit for r in self], ("config.yaml",))
        return [r.row() for r in self]

    def columns(self, rows: list[dict[str, Any]] | None = None, kind: bool = False) -> list[str]:
        """id, name, status, started, duration, then every ``params.*`` and ``metrics.*`` key, sorted.
        With pipeline runs among them (or ``kind``), kind after duration; with pipeline runs,
        also ``steps`` (how many) and ``failed_step``."""
        rows = self.rows() if rows is None else rows
        keys = {k for row in rows for k in row}
        fixed = ["id", "name", "status", "started", "duration"]
        pipelines = any(row.get("kind") == "pipeline" for row in rows)
        fixed += ["kind"] if kind or pipelines else []
        fixed += ["steps", "failed_step"] if pipelines else []
        return fixed + sorted(k for k in keys if k.startswith("params.")) + \
            sorted(k for k in keys if k.startswith("metrics."))

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` with one row per run (see :meth:`Run.row`); ``started`` in UTC.

        Typed Any: pandas is optional, and mypy would otherwise need it and its stubs."""
        import importlib

        try:
            pd: Any = importlib.import_module("pandas")  # optional, and untyped without pandas-stubs
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        rows = self.rows()
        frame = pd.DataFrame(rows, columns=self.columns(rows, kind=True))
        frame["started"] = pd.to_datetime(frame["started"], utc=True, errors="coerce")
        frame["duration"] = pd.to_numeric(frame["duration"], errors="coerce").astype("float64")
        return frame


class Selection:
    """What a listing chose (``chosen``: streamed from the run index for this repository's
    runs) and what it looked at; close it (or use ``with``) when done."""

    def __init__(self, chosen: Iterable[lookup.Run], index: RunIndex | None = None,
                 seen: list[lookup.Run] | None = None, slow: Mapping[str, Any] | None = None) -> None:
        self.chosen = chosen
        self._index = index
        self._seen = seen or []
        self.slow = slow  # with --slow: run id -> gitruns.slow.Slow of every slow run

    @property
    def index(self) -> RunIndex | None:
        """The run index the runs were chosen from (None for a remote's listing)."""
        return self._index

    def __enter__(self) -> Selection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._index is not None:
            self._index.close()

    def any(self) -> bool:
        """Whether there was any run to choose from."""
        if self._index is not None:
            return self._index.count() > 0
        return bool(self._seen)

    def ids(self, shown: list[str] | None = None) -> list[str]:
        """Run ids enough for the shortest unique prefixes of ``shown`` (default: every
        run looked at): with the index, the shown ones and their neighbours in id order."""
        if self._index is not None:
            if shown is not None and len(shown) <= 2000:
                return self._index.neighbourhood(shown)
            return self._index.ids()
        return [r.id for r in self._seen]

    def latest(self) -> Callable[[lookup.Run], bool | None]:
        """For a run of a group of several: whether it is the group's newest (None for a
        run alone in its group); from the index's groups table, no scan of every run."""
        from . import listing, record

        if self._index is not None:
            newest = dict(self._index.db.execute("SELECT run_group, newest FROM multi_groups"))
            return lambda run: (run.id == newest[g]) if (g := record.group_of(run.record)) in newest else None
        marks = listing.latest_of_groups(self._seen)
        return lambda run: marks.get(run.id)


def select(repo: Repo, filters: listing.Filters, remote: str | None = None) -> Selection:
    """The runs ``git run ls`` lists: this repository's (filtered and limited in SQL by the
    run index), or those on ``remote`` ("" for the usual one), fetched into its tracking
    refs first."""
    from . import listing, lookup
    from . import remote as remote_mod
    from . import tracking as tracking_mod
    from .runindex import RunIndex

    if remote is not None:
        used = [opt for opt, on in (("--where", filters.where), ("--sort", filters.sort), ("--slow", filters.slow),
                                    ("--group FIELD", filters.group_by)) if on]
        if used:
            raise UsageError(f"{used[0]} does not work with --remote: take the remote's runs in with "
                             "'git run fetch', then query them here")
        name = remote_mod.default_remote(repo, remote or None)
        tracking_mod.fetch_tracking(repo, name)
        seen = lookup.all_runs(repo, [(rid, oid, name) for rid, oid in tracking_mod.tracked(repo, name).items()])
        chosen = listing.select(seen, filters)
        if filters.retired != "all":
            chosen = [r for r in chosen if bool(r.record.get("retired")) == (filters.retired == "only")]
        return Selection(chosen, seen=seen)
    index = RunIndex.open(repo)
    try:
        where, args = listing.where_sql(filters, index)
        order, order_args = listing.order_sql(filters)
        lookup.warn_refusals(index)
    except BaseException:
        index.close()
        raise
    slow = None
    if filters.slow:
        from . import slow as slow_mod

        slow = slow_mod.found(index.db)
    if filters.limit == 0:
        return Selection([], index, slow=slow)
    return Selection(index.runs(where, args, order, order_args, limit=filters.limit, lead=listing.lead_of(filters)),
                     index, slow=slow)


def _strings(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _retired(value: bool | str) -> str:
    """``retired=``: False (hide them, as ls does), True (them too) or "only"."""
    if value is True or value == "all":
        return "all"
    if value is False or value == "hide":
        return "hide"
    if value == "only":
        return "only"
    raise UsageError(f"retired={value!r}: expected False, True or 'only'")


def runs(status: str | Iterable[str] | None = None, since: str | dt.datetime | None = None,
         until: str | dt.datetime | None = None, tags: Mapping[str, str] | Iterable[str] | None = None,
         name: str | None = None, limit: int | None = None, remote: str | None = None,
         repo: RepoArg = None, kind: str | None = None, *, where: str | Iterable[str] | None = None,
         sort: str | Iterable[str] | None = None, retired: bool | str = False, slow: bool = False,
         group: str | None = None) -> RunList:
    """The runs ``git run ls`` lists, newest first, with its filters.

    ``status``: one or more of running, succeeded, failed, canceled, crashed.
    ``since``/``until``: a datetime, an ISO date or time, or an age like "2h", "3d".
    ``tags``: ``{"key": "value"}`` or ``["key=value"]``, all must match.
    ``name``: a part of the name, or a glob.  ``limit``: at most this many.
    ``remote``: the runs on that remote ("" for the usual one) instead of this repository's.
    ``kind``: only "command" runs or only "pipeline" runs.
    ``where``: a query (``"metrics.acc > 0.9 and params.opt = adam"``; several: all must
    hold), ``sort``: ``"-metrics.acc,params.lr"`` (docs/queries.md).  ``retired``: False
    hides retired runs, True lists them too, "only" lists only them.  ``slow``: only the
    runs far slower than usual (as ``ls --slow``).  ``group``: only the runs of the group
    of this run (id, prefix or name).
    """
    from . import listing

    r = open_at(repo)
    tag_list = [f"{k}={v}" for k, v in tags.items()] if isinstance(tags, Mapping) else _strings(tags)
    filters = listing.Filters(_strings(status), since, until, tag_list, name, limit, kind, None,
                              _strings(where), _strings(sort), _retired(retired), slow)
    if group is not None:
        filters.group = group
        if filters.group_by is not None:
            raise UsageError(f"group={group!r} names a field: runs() takes a run whose group to list")
    with select(r, filters, remote) as selection:
        return RunList(Run(r, x) for x in selection.chosen)


def load(run_id: str, repo: RepoArg = None) -> Run:
    """One run by id, unique id prefix, ``refs/runs/<id>`` or name; its record validated.

    Raises :class:`~gitruns.errors.UnknownRun` or :class:`~gitruns.errors.AmbiguousRun`
    (both :class:`~gitruns.errors.UsageError`) when it does not name exactly one run."""
    from . import lookup

    r = open_at(repo)
    return Run(r, lookup.load(r, run_id))


def compare(a: str | Run, b: str | Run, patch: bool = False, repo: RepoArg = None) -> dict[str, Any]:
    """What differs between two runs: the structure ``git run diff --json`` prints
    (run, config, metrics with deltas, code files and optionally the ``patch``,
    inputs, artifacts, environment)."""
    from . import diffing, lookup

    r = open_at(repo)
    run_a = a._run if isinstance(a, Run) else lookup.load(r, a)
    run_b = b._run if isinstance(b, Run) else lookup.load(r, b)
    result: dict[str, Any] = json.loads(json.dumps(diffing.compare(r, run_a, run_b, patch=patch), default=str))
    return result


@overload
def logs(run_id: str | Run, stream: str | None = None, *, binary: Literal[False] = False,
         repo: RepoArg = None, step: str | None = None) -> str: ...


@overload
def logs(run_id: str | Run, stream: str | None = None, *, binary: Literal[True],
         repo: RepoArg = None, step: str | None = None) -> bytes: ...


def logs(run_id: str | Run, stream: str | None = None, *, binary: bool = False,
         repo: RepoArg = None, step: str | None = None) -> str | bytes:
    """What the run's command printed on ``stream`` ("stdout" or "stderr"; default: stdout
    then stderr), as text (undecodable bytes replaced) or, with ``binary``, bytes.
    ``step``: what that step of a pipeline run printed (UsageError for a step the run
    does not have, or for a command run)."""
    run = run_id if isinstance(run_id, Run) else load(run_id, repo)
    source = run.logs if step is None else run.step_logs(step)
    data = b"".join(source.read(s) for s in ([stream] if stream is not None else STREAMS))
    return data if binary else data.decode(errors="replace")
