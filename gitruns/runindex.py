"""The run index: a SQLite database derived from the refs, for queries over many runs.

``<common git dir>/gitruns/index.sqlite`` (shared by worktrees) holds, per run
commit, the record's columns that queries filter and sort on, its params,
metrics, tags, environment and steps as ``attrs`` rows, and the digests of its
inputs and artifacts (for lineage and ``which``).  The refs stay the source of
truth: on open the index compares the refs with what it last saw and indexes
only the commits it has not seen (a run commit never changes, so a row keyed by
commit id never goes stale).  Deleting the file costs one rebuild.  When it
cannot be written (a read-only repository, a corrupt file), an in-memory index
is built for the one command.

Cheap "nothing changed" check: the refs live in ``packed-refs`` and in loose
files under ``refs/runs/``, ``refs/gitruns/remotes/<remote>/`` and
``refs/promoted/``; git and libgit2 write a ref by renaming a lock file into its
directory, which changes the directory's mtime.  The stat of those is the
fingerprint; one taken less than two seconds after its newest mtime is not
trusted (a second update within the same clock tick would not show), as git
treats a racily clean index entry.  Any other ref storage (reftable) is scanned
every time.

Tables (SQL over them uses the aliases ``v`` and ``r``; see docs/queries.md)::

    visible(run_id PRIMARY KEY, commit_id, source)    -- source NULL: local, else the remote
    runs(commit_id UNIQUE, run_id, name, status, kind, started, ended, duration,
         run_group, rerun_of, code_commit, code_branch, code_dirty, user, host, pid,
         process, invoked_by, retired, json, n PRIMARY KEY)
    attrs(run, key, num, txt)                         -- run: runs.n; params.*, metrics.*, tags.*,
                                                      -- env.*, step.*
                                                      -- (all but env.packages.*)
    env_attrs(env_id, key, num, txt)                  -- env.packages.*, once per env.json blob
    run_env(commit_id PRIMARY KEY, env_id)            -- the env.json blob of each run
    digests(commit_id, role, step, path, digest)      -- role: input | artifact
    promoted(name PRIMARY KEY, commit_id, run_id, path, digest, retired)
    refused(commit_id PRIMARY KEY, reason, reader)
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from . import record, runid
from .errors import AmbiguousRun, RecordError, UnknownRun
from .repo import Repo

INDEX_VERSION = 6  # the tables' shape: another one is dropped and rebuilt
DB_NAME = "index.sqlite"
RACY_S = 2.0
BATCH_FROM = 200  # from this many new commits, `git cat-file --batch` reads them
CHUNK = 10000  # records read, parsed and written at a time
PROGRESS_FROM = 1000  # from this many records to index, progress on a terminal
BULK_FROM = 5000  # from this many new records into an empty index, its indexes are made after
PARALLEL_FROM = 20000  # from this many records into an empty index, one process a core reads them
MAX_PROCESSES = 8
_BULK_INDEXES = ("attrs_commit", "attrs_key_num", "digests_digest", "digests_commit",
                 "runs_name", "runs_group", "runs_started")

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS visible (run_id TEXT PRIMARY KEY, commit_id TEXT NOT NULL, source TEXT)",
    "CREATE TABLE IF NOT EXISTS runs (commit_id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL, name TEXT, status TEXT, "
    "kind TEXT, started REAL, ended REAL, duration REAL, run_group TEXT, rerun_of TEXT, code_commit TEXT, "
    "code_branch TEXT, code_dirty INTEGER, user TEXT, host TEXT, pid INTEGER, process TEXT, invoked_by TEXT, "
    "retired INTEGER NOT NULL DEFAULT 0, json BLOB NOT NULL, n INTEGER PRIMARY KEY)",
    # attrs rows name their run by runs.n: a 40-digit commit id in each of some 20 rows a
    # run and in their three indexes made the index half again as large and slower to build
    "CREATE TABLE IF NOT EXISTS attrs (run INTEGER NOT NULL, key TEXT NOT NULL, num REAL, txt TEXT)",
    "CREATE TABLE IF NOT EXISTS digests (commit_id TEXT NOT NULL, role TEXT NOT NULL, step TEXT, path TEXT, "
    "digest TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS promoted (name TEXT PRIMARY KEY, commit_id TEXT NOT NULL, run_id TEXT, path TEXT, "
    "digest TEXT, retired INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS refused (commit_id TEXT PRIMARY KEY, reason TEXT, reader TEXT)",
    # env.packages.* once per environment (env.json blob), not once per run: most runs share one
    "CREATE TABLE IF NOT EXISTS env_attrs (env_id TEXT NOT NULL, key TEXT NOT NULL, num REAL, txt TEXT)",
    "CREATE TABLE IF NOT EXISTS run_env (commit_id TEXT PRIMARY KEY, env_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS env_attrs_env ON env_attrs(env_id, key, num, txt)",
    "CREATE INDEX IF NOT EXISTS env_attrs_key_txt ON env_attrs(key, txt, env_id)",
    "CREATE INDEX IF NOT EXISTS run_env_env ON run_env(env_id)",
    # groups of several visible runs (reruns, sweeps) and their newest, kept at each sync
    "CREATE TABLE IF NOT EXISTS multi_groups (run_group TEXT PRIMARY KEY, newest TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS visible_commit ON visible(commit_id)",
    "CREATE INDEX IF NOT EXISTS runs_name ON runs(name)",
    "CREATE INDEX IF NOT EXISTS runs_group ON runs(run_group)",
    "CREATE INDEX IF NOT EXISTS runs_started ON runs(started)",
    # Covering: a filter or a sort key reads the index alone (gitruns.query).
    "CREATE INDEX IF NOT EXISTS attrs_commit ON attrs(run, key, num, txt)",
    # One index for numbers and text: building each index of 2 million rows (100,000
    # runs) takes 4 s; a condition on text reads the key's entries from it, which at
    # 100,000 runs takes milliseconds.
    "CREATE INDEX IF NOT EXISTS attrs_key_num ON attrs(key, num, txt, run)",
    "CREATE INDEX IF NOT EXISTS digests_digest ON digests(digest)",
    "CREATE INDEX IF NOT EXISTS digests_commit ON digests(commit_id)",
)
_DROP = ("meta", "visible", "runs", "attrs", "digests", "promoted", "refused", "env_attrs", "run_env", "multi_groups")

RUN_COLUMNS = "v.run_id, v.commit_id, v.source, r.json"


def _reader() -> str:
    """Who judged a refusal: another gitruns (newer schemas, other limits) judges again."""
    from . import __version__

    return f"{__version__} schema {record.SCHEMA_VERSION}"


# --- the refs ------------------------------------------------------------------------------


def fingerprint(repo: Repo) -> str | None:
    """The stat of where run, tracking and promotion refs are kept; None when it cannot be
    trusted (another ref storage, or changed too recently to tell a second change)."""
    common = repo.common_dir
    if os.path.exists(os.path.join(common, "reftable")):
        return None
    parts: list[str] = []
    newest = 0
    places = [os.path.join(common, "packed-refs"), os.path.join(common, "refs", "runs")]
    remotes_dir = os.path.join(common, "refs", "gitruns", "remotes")
    places.append(remotes_dir)
    for dirpath, dirnames, _files in os.walk(remotes_dir):  # a remote's name may hold '/'
        places += [os.path.join(dirpath, d) for d in dirnames]
    promoted_dir = os.path.join(common, "refs", "promoted")
    places.append(promoted_dir)
    for dirpath, dirnames, _files in os.walk(promoted_dir):
        places += [os.path.join(dirpath, d) for d in dirnames]
    for place in places:
        try:
            st = os.stat(place)
        except OSError:
            parts.append(f"{place}:-")
            continue
        newest = max(newest, st.st_mtime_ns)
        parts.append(f"{place}:{st.st_mtime_ns}:{st.st_size}:{st.st_ino}")
    if time.time_ns() - newest < RACY_S * 1e9:
        return None
    return "\n".join(parts)


def scan(repo: Repo) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, str]]:
    """One pass over the refs: local runs (id -> commit), per remote the runs last seen
    there (remote -> id -> commit), and local promotions (name -> commit)."""
    from . import promotion, tracking
    from .runrefs import REF_PREFIX

    local: dict[str, str] = {}
    remotes: dict[str, dict[str, str]] = {}
    promoted: dict[str, str] = {}
    for ref in repo.git.references.iterator():
        name = ref.name
        if name.startswith(REF_PREFIX):
            rid = name[len(REF_PREFIX):]
            if runid.is_valid(rid):
                local[rid] = str(ref.target)
        elif name.startswith(promotion.REF_PREFIX):
            pname = name[len(promotion.REF_PREFIX):]
            if promotion.name_problem(pname) is None:
                promoted[pname] = str(ref.target)
        elif (parsed := tracking.parse_track_ref(name)) is not None:
            remotes.setdefault(parsed[0], {})[parsed[1]] = str(ref.target)
    return local, remotes, promoted


def visible_of(local: Mapping[str, str], remotes: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[str, str | None]]:
    """run id -> (commit, source): local runs, then runs known only from a remote (the
    first remote by name that has it)."""
    out: dict[str, tuple[str, str | None]] = {rid: (oid, None) for rid, oid in local.items()}
    for where in sorted(remotes):
        for rid, oid in remotes[where].items():
            out.setdefault(rid, (oid, where))
    return out


# --- what a record puts in the index ---------------------------------------------------------


def _epoch(text: Any) -> float | None:
    if text.__class__ is not str:
        return None
    try:
        value = _from_iso(text.replace("Z", "+00:00"))
        if value.tzinfo is None:  # as timeutil.parse_iso reads it: UTC
            value = value.replace(tzinfo=_UTC)
        return value.timestamp()
    except (ValueError, OverflowError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value) if value != "nan" else None  # SQLite has no NaN: NULL, text "nan"
    return None


def _text(value: Any) -> str:
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return int.__repr__(value)  # as json.dumps writes it
    if kind is float and value - value == 0:  # finite: json.dumps writes float.__repr__
        return float.__repr__(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=True)[:4096]
    except (TypeError, ValueError):
        return str(value)[:4096]


def _attr(rows: list[tuple[Any, str, float | None, str]], run: Any, key: str, value: Any) -> None:
    """One attrs row of ``run`` (a run number, or an env.json blob id for env_attrs)."""
    kind = value.__class__
    if kind is str:  # the common cases first, as _number and _text would have them
        if value in ("nan", "inf", "-inf"):
            num = _number(value)
            rows.append((run, key, None if num != num else num, value))
        else:
            rows.append((run, key, None, value))
    elif kind is float and value - value == 0:
        rows.append((run, key, value, float.__repr__(value)))
    elif kind is int and -(1 << 1023) < value < (1 << 1023):
        rows.append((run, key, float(value), int.__repr__(value)))
    else:
        num = _number(value)
        if num is not None and num != num:  # NaN
            num = None
        rows.append((run, key, num, _text(value)))


def _flat(data: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """As userconfig.flatten, into ``out`` (``prefix`` ends with a dot)."""
    for key, value in data.items():
        if value.__class__ is dict and value:
            _flat(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = value


_from_iso = dt.datetime.fromisoformat
_UTC = dt.timezone.utc

_PEP503 = re.compile(r"[-_.]+")


def package_key(name: str) -> str:
    """A package name as PEP 503 normalizes it: ``Torch_Vision`` -> ``torch-vision``."""
    return _PEP503.sub("-", name).lower()


def env_attrs(env: Any, packages: bool = True) -> list[tuple[str, Any]]:
    """(key, value) pairs of env.json that queries name: env.python, env.os, env.gpu,
    env.cuda, env.gpu_driver, env.packages.<name> (unless ``packages`` is False)."""
    if not isinstance(env, dict):
        return []
    out: list[tuple[str, Any]] = []
    python = env.get("python")
    if isinstance(python, dict):
        if isinstance(python.get("version"), str):
            out.append(("env.python", python["version"]))
        listed = python.get("packages")
        if packages and isinstance(listed, dict):
            out += [(f"env.packages.{package_key(str(k))}", v) for k, v in listed.items() if isinstance(v, str)]
    system = env.get("os")
    if isinstance(system, dict):
        if isinstance(system.get("system"), str):
            out.append(("env.os", system["system"]))
        if isinstance(system.get("distribution"), str):
            out.append(("env.os.distribution", system["distribution"]))
    for gpu in env.get("gpus") or []:
        if isinstance(gpu, dict) and isinstance(gpu.get("name"), str):
            out.append(("env.gpu", gpu["name"]))
    for key in ("cuda", "gpu_driver"):
        if isinstance(env.get(key), str):
            out.append((f"env.{key}", env[key]))
    return out


def _clean(value: Any) -> Any:
    """Text SQLite can store: a lone surrogate (from a JSON escape in a record) becomes U+FFFD."""
    if value.__class__ is str and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def _cleaned(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``rows`` with every text SQLite can store (most rows are ASCII: kept as they are)."""
    out: list[tuple[Any, ...]] = []
    for row in rows:
        for x in row:
            if x.__class__ is str and not x.isascii():
                row = tuple(_clean(y) for y in row)
                break
        out.append(row)
    return out


def record_rows(commit: str, rec: Mapping[str, Any], raw: bytes, config: Any, env: Any, n: int = 0) -> tuple[
        tuple[Any, ...], list[tuple[int, str, float | None, str]], list[tuple[str, str, str | None, str, str]]]:
    """The runs row (``n``: its number, which attrs rows name), attrs rows and digests
    rows of one record."""
    code: Mapping[str, Any] = rec.get("code") or {}
    if not isinstance(code, Mapping):
        code = {}
    process = rec.get("process")
    pid = rec.get("pid")
    row = (
        commit, rec.get("id"), rec.get("name"), rec.get("status"), rec.get("kind") or "command",
        _epoch(rec.get("started_at")), _epoch(rec.get("ended_at")), _number(rec.get("duration_s")),
        record.group_of(rec), rec.get("rerun_of"), code.get("commit"), code.get("branch"),
        1 if code.get("dirty") else 0, rec.get("user"), rec.get("host"),
        pid if pid.__class__ is int else None,
        json.dumps(process) if isinstance(process, dict) else None, rec.get("invoked_by"),
        1 if rec.get("retired") else 0, raw, n,
    )
    attrs: list[tuple[int, str, float | None, str]] = []
    params: dict[str, Any] = {}
    logged = rec.get("params")
    if isinstance(logged, dict):
        _flat(logged, "params.", params)
    if isinstance(config, dict):
        _flat(config, "params.", params)
    for key, value in params.items():
        _attr(attrs, n, key, value)
    for group in ("metrics", "tags"):
        values = rec.get(group)
        if values:
            for key, value in values.items():
                _attr(attrs, n, f"{group}.{key}", value)
    for key, value in env_attrs(env, packages=False):  # packages: package_rows, once per env.json
        _attr(attrs, n, key, value)
    digests: list[tuple[str, str, str | None, str, str]] = []
    for item in rec.get("inputs") or []:
        if isinstance(item, dict) and isinstance(item.get("digest"), str):
            digests.append((commit, "input", None, str(item.get("path")), item["digest"]))
    for art in rec.get("artifacts") or []:
        if isinstance(art, dict) and isinstance(art.get("digest"), str):
            digests.append((commit, "artifact", None, str(art.get("path")), art["digest"]))
    for step in rec.get("steps") or []:
        if not isinstance(step, dict):
            continue
        sname = str(step.get("name"))
        _attr(attrs, n, f"step.{sname}.status", step.get("status"))
        if step.get("duration_s") is not None:
            _attr(attrs, n, f"step.{sname}.duration", step.get("duration_s"))
        for key, value in (step.get("metrics") or {}).items():
            _attr(attrs, n, f"step.{sname}.metrics.{key}", value)
        for key, value in (step.get("params") or {}).items():
            _attr(attrs, n, f"step.{sname}.params.{key}", value)
        for item in step.get("inputs") or []:
            if isinstance(item, dict) and isinstance(item.get("digest"), str) and item.get("kind") != "value":
                digests.append((commit, "input", sname, str(item.get("path")), item["digest"]))
        for art in step.get("outputs") or []:
            if isinstance(art, dict) and isinstance(art.get("digest"), str) and art.get("kind") != "value":
                digests.append((commit, "artifact", sname, str(art.get("path")), art["digest"]))
    return row, attrs, digests


def package_rows(env_id: str, env: Any) -> list[tuple[str, str, float | None, str]]:
    """The env_attrs rows (env.packages.*) of one env.json blob."""
    rows: list[tuple[str, str, float | None, str]] = []
    if isinstance(env, dict):
        python = env.get("python")
        listed = python.get("packages") if isinstance(python, dict) else None
        if isinstance(listed, dict):
            for key, value in listed.items():
                if isinstance(value, str):
                    _attr(rows, env_id, f"env.packages.{package_key(str(key))}", value)
    return rows


# --- config.yaml, the common case quickly --------------------------------------------------

_NOT_SIMPLE: Any = object()
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+\Z")
# Plain words YAML 1.1 (PyYAML's SafeLoader) reads as something other than a string.
_SPECIAL = frozenset("yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF "
                     "null Null NULL".split())
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset(("null", "Null", "NULL", "~"))
_ODD = re.compile(r"[^\n A-Za-z0-9_./:,\[\]~+-]")  # anything else: PyYAML reads the file
_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_.-]*):(?: +(.*?))? *\Z")


def _scalar(text: str) -> Any:
    """A plain scalar of the quick reader, remembered (a sweep's configs repeat their
    values: the same few words and numbers in 100,000 files)."""
    value = _SCALARS.get(text, _NOT_SIMPLE)
    if value is _NOT_SIMPLE:
        value = _read_scalar(text)
        if len(_SCALARS) < 65536:
            _SCALARS[text] = value
    return value


_SCALARS: dict[str, Any] = {}


def _read_scalar(text: str) -> Any:
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    if _WORD.match(text) and text not in _SPECIAL:
        return text
    return _NOT_SIMPLE


def simple_yaml(raw: bytes) -> Any:
    """config.yaml as PyYAML's SafeLoader reads it, when it is of the common simple shape
    (nested block mappings of plain keys, scalars that are integers, decimals, true/false,
    null or plain words, and one-line ``[a, b]`` lists of them): ten times faster than
    the loader, which matters when indexing 100,000 runs.  Anything else (comments,
    quotes, anchors, tags, block lists, other scalars) is _NOT_SIMPLE: the caller loads
    it with gitruns.bounds.load_yaml.  tests/unit/test_runindex_yaml.py compares the two."""
    if len(raw) > 65536:
        return _NOT_SIMPLE
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return _NOT_SIMPLE
    if _ODD.search(text):
        return _NOT_SIMPLE
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(0, root)]
    pending: tuple[dict[str, Any], str, int] | None = None  # "key:" with nothing after it yet
    for line in text.split("\n"):
        if not line or line.isspace():
            continue
        m = _LINE.match(line)
        if m is None:
            return _NOT_SIMPLE
        spaces, key, rest = m.groups()
        indent = len(spaces)
        if pending is not None:
            parent, pkey, at = pending
            pending = None
            if indent > at:
                child: dict[str, Any] = {}
                parent[pkey] = child
                stack.append((indent, child))
            else:
                parent[pkey] = None
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            return _NOT_SIMPLE
        mapping = stack[-1][1]
        if key in _SPECIAL or key in mapping:
            return _NOT_SIMPLE
        if not rest:
            pending = (mapping, key, indent)
            continue
        value: Any
        if rest[0] == "[" and rest[-1] == "]":
            inner = rest[1:-1].strip(" ")
            value = [_scalar(item) for item in inner.split(", ")] if inner else []
            if any(v is _NOT_SIMPLE for v in value):
                return _NOT_SIMPLE
        else:
            value = _scalar(rest)
            if value is _NOT_SIMPLE:
                return _NOT_SIMPLE
        mapping[key] = value
    if pending is not None:
        pending[0][pending[1]] = None
    return root if root else _NOT_SIMPLE  # an empty document is None, not {}


# --- reading what is new -----------------------------------------------------------------


def _parse_tree(data: bytes) -> dict[str, tuple[str, str]]:
    """A raw git tree object: name -> (mode, hex id)."""
    out: dict[str, tuple[str, str]] = {}
    i = 0
    n = len(data)
    while i < n:
        space = data.find(b" ", i)
        nul = data.find(b"\0", space)
        if space < 0 or nul < 0 or nul + 21 > n:
            break
        mode = data[i:space].decode("ascii", "replace")
        name = data[space + 1:nul].decode("utf-8", "surrogateescape")
        out[name] = (mode, data[nul + 1:nul + 21].hex())
        i = nul + 21
    return out


def _record_files_batch(repo: Repo, commits: list[str]) -> dict[str, dict[str, str]]:
    """commit -> {file name -> blob id} of its .gitruns/ directory, read in one batch."""
    from . import catfile
    from .runrefs import RECORD_DIR

    specs = {f"{c}:{RECORD_DIR}": c for c in commits}
    trees = catfile.read_objects(repo.git_dir, list(specs), 4 << 20, "tree")
    out: dict[str, dict[str, str]] = {}
    for spec, data in trees.items():
        out[specs[spec]] = {name: oid for name, (mode, oid) in _parse_tree(data).items() if not mode.startswith("4")}
    return out


def _record_files(repo: Repo, commit: str) -> dict[str, str]:
    import pygit2

    from .runrefs import record_files

    try:
        tree = record_files(repo.git, commit)
    except (KeyError, ValueError, RecordError, pygit2.GitError):
        return {}
    return {e.name: str(e.id) for e in tree if e.type_str == "blob" and e.name is not None}


# --- the index -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Part:
    """A share of a rebuild indexed by a forked process (RunIndex._fork_parts)."""
    pid: int
    path: str
    wanted: list[tuple[str, str, str | None]]


class RunIndex:
    """The index of one repository, synced with its refs when opened."""

    def __init__(self, repo: Repo, db: sqlite3.Connection, persistent: bool) -> None:
        self.repo = repo
        self.db = db
        self.persistent = persistent
        self.new_refusals: list[tuple[str, str, bool]] = []  # (run id, reason, local) refused by this sync

    @classmethod
    def open(cls, repo: Repo, sync: bool = True) -> RunIndex:
        """The index of ``repo``, synced with the refs (unless ``sync`` is False)."""
        refusals = cls._build(repo) if sync else []
        db, persistent = _connect(repo)
        index = cls(repo, db, persistent)
        index.new_refusals = refusals
        if sync:
            index.sync()
        return index

    @classmethod
    def _build(cls, repo: Repo) -> list[tuple[str, str, bool]]:
        """Where there is no index file yet: build it whole in a file of its own, without
        a journal (it is not in use until renamed into place, and a crash leaves only a
        file to delete), then rename it into place.  A third faster than writing the
        same rows through the write-ahead log.  Returns the refusals it met."""
        path = os.path.join(repo.state_dir, DB_NAME)
        if os.path.exists(path):
            return []
        fresh = f"{path}.{os.getpid()}.new"
        _remove_abandoned(repo.state_dir)
        try:
            os.makedirs(repo.state_dir, exist_ok=True)
            db = sqlite3.connect(fresh, timeout=30, isolation_level=None)
        except (sqlite3.Error, OSError):
            return []
        try:
            _prepare(db, journal=False)
            index = cls(repo, db, True)
            index.sync()
            db.close()
            # Into place only where there is none yet (another process may have built one
            # meanwhile and be using it, write-ahead log and all): a link never replaces.
            if not os.path.exists(path):
                for suffix in ("-wal", "-shm"):  # of an index deleted alone: not this file's
                    with contextlib.suppress(OSError):
                        os.unlink(path + suffix)
            try:
                os.link(fresh, path)
            except FileExistsError:
                pass
            except OSError:  # no hard links here
                if not os.path.exists(path):
                    os.replace(fresh, path)
            return index.new_refusals
        except (sqlite3.Error, OSError):
            return []
        finally:
            db.close()
            with contextlib.suppress(OSError):
                os.unlink(fresh)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keeping up with the refs --------------------------------------------------------------

    def sync(self, force: bool = False) -> bool:
        """Bring the index up to the refs; whether anything was looked at again."""
        mark = fingerprint(self.repo)
        if not force and mark is not None and self._meta("fingerprint") == mark:
            return False
        local, remotes, promoted = scan(self.repo)
        now = visible_of(local, remotes)
        db = self.db
        before = dict((rid, (c, s)) for rid, c, s in db.execute("SELECT run_id, commit_id, source FROM visible"))
        known = {c for (c,) in db.execute("SELECT commit_id FROM runs")}
        refused = dict(db.execute("SELECT commit_id, reason FROM refused WHERE reader = ?", (_reader(),)))
        wanted = [(rid, c, s) for rid, (c, s) in sorted(now.items()) if c not in known and c not in refused]
        self._index(wanted)
        with _transaction(db):
            gone = [rid for rid in before if rid not in now]
            db.executemany("DELETE FROM visible WHERE run_id = ?", [(rid,) for rid in gone])
            db.executemany("INSERT OR REPLACE INTO visible VALUES (?, ?, ?)",
                           [(rid, c, s) for rid, (c, s) in now.items() if before.get(rid) != (c, s)])
            self._drop_unreferenced(set(c for c, _ in now.values()))
            db.execute("DELETE FROM multi_groups")
            db.execute("INSERT INTO multi_groups SELECT r.run_group, MAX(v.run_id) FROM visible v JOIN runs r "
                       "ON r.commit_id = v.commit_id WHERE r.run_group IS NOT NULL GROUP BY r.run_group "
                       "HAVING COUNT(*) > 1")
            self._sync_promoted(promoted)
            self._set_meta("fingerprint", mark or "")
        return True

    def _drop_unreferenced(self, commits: set[str]) -> None:
        """Rows of commits no ref points at any more (a run updated, deleted, gc'd)."""
        stale = [c for (c,) in self.db.execute("SELECT commit_id FROM runs") if c not in commits]
        if stale:
            self._drop_commits(stale)
            self.db.execute("DELETE FROM env_attrs WHERE env_id NOT IN (SELECT env_id FROM run_env)")

    def _drop_commits(self, commits: Sequence[str]) -> None:
        """Every row of ``commits`` (attrs name their run by its number, the rest by commit)."""
        gone = [(c,) for c in commits]
        self.db.executemany("DELETE FROM attrs WHERE run = (SELECT n FROM runs WHERE commit_id = ?)", gone)
        for table in ("runs", "digests", "run_env"):
            self.db.executemany(f"DELETE FROM {table} WHERE commit_id = ?", gone)  # noqa: S608

    def _index(self, wanted: list[tuple[str, str, str | None]]) -> None:
        """Read, check and index the records of ``wanted`` (run id, commit, source), a
        chunk at a time (memory stays bounded for any count).  Into an empty index (a
        rebuild), the secondary indexes are made once at the end: building an index
        over sorted rows is several times faster than keeping it up row by row."""
        if not wanted:
            return
        bulk = len(wanted) >= BULK_FROM and self.db.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None
        if bulk:
            with _transaction(self.db):
                for name in _BULK_INDEXES:
                    self.db.execute(f"DROP INDEX IF EXISTS {name}")  # noqa: S608 - fixed names
        from .progress import Progress

        # Long work shows progress on a terminal (a rebuild of 100,000 runs takes a minute).
        shown = Progress("gitruns: indexing runs", len(wanted), min_total=PROGRESS_FROM, unit="runs")
        try:
            mine, parts = self._fork_parts(wanted) if bulk else (wanted, [])
            try:
                for i in range(0, len(mine), CHUNK):
                    self._index_chunk(mine[i:i + CHUNK], fresh=bulk, tick=shown.advance)
                while parts:
                    self._join_part(parts[0], shown.advance)
                    parts.pop(0)
            finally:
                _abandon(parts)  # after an error here (or Ctrl-C): no process or file is left
            shown.close()
        finally:
            if bulk:
                # SQLite sorts an index's entries on several threads when asked.
                self.db.execute(f"PRAGMA threads = {min(_cores(), MAX_PROCESSES)}")
                with _transaction(self.db):
                    for statement in _TABLES:
                        if statement.startswith("CREATE INDEX"):
                            self.db.execute(statement)

    # -- a rebuild on several cores ----------------------------------------------------------------

    def _fork_parts(self, wanted: list[tuple[str, str, str | None]]) -> tuple[
            list[tuple[str, str, str | None]], list[_Part]]:
        """Where a rebuild is large and the machine has several cores: every share of
        ``wanted`` but the first is read, checked and written by a forked process of
        its own into a file of its own (``<index>.<pid>.<k>.part``), which
        :meth:`_join_part` copies in.  Reading and checking records is Python's work,
        one core a process; the records are the same either way.  Returns the first
        share (this process's) and the others."""
        cores = min(_cores(), MAX_PROCESSES)
        if cores < 2 or len(wanted) < PARALLEL_FROM or not hasattr(os, "fork") or not self.persistent:
            return wanted, []
        size = -(-len(wanted) // cores)
        parts: list[_Part] = []
        for k in range(1, cores):
            share = wanted[k * size:(k + 1) * size]
            if not share:
                break
            path = os.path.join(self.repo.state_dir, f"{DB_NAME}.{os.getpid()}.{k}.part")
            with contextlib.suppress(OSError):
                os.unlink(path)
            pid = os.fork()
            if pid == 0:  # the child: its own connection, never the parent's; leaves by _exit
                code = 1
                try:
                    db = sqlite3.connect(path, isolation_level=None)
                    _prepare(db, journal=False)
                    with _transaction(db):
                        for name in _BULK_INDEXES:
                            db.execute(f"DROP INDEX IF EXISTS {name}")  # noqa: S608 - fixed names
                        db.execute("CREATE TABLE new_refusals (run_id TEXT, reason TEXT, local INTEGER)")
                    child = RunIndex(self.repo, db, True)
                    for i in range(0, len(share), CHUNK):
                        child._index_chunk(share[i:i + CHUNK], fresh=True, base=k * size)
                    with _transaction(db):
                        db.executemany("INSERT INTO new_refusals VALUES (?, ?, ?)", child.new_refusals)
                    db.close()
                    code = 0
                finally:
                    os._exit(code)
            parts.append(_Part(pid, path, share))
        return wanted[:size], parts

    def _join_part(self, part: _Part, tick: Callable[[int], None]) -> None:
        """Copy in what a forked process indexed; where it failed, index its share here."""
        _, status = os.waitpid(part.pid, 0)
        try:
            if status != 0:
                raise sqlite3.OperationalError("a part of the rebuild failed")
            db = self.db
            db.execute("ATTACH DATABASE ? AS part", (part.path,))
            try:
                with _transaction(db):
                    have = {e for (e,) in db.execute("SELECT DISTINCT env_id FROM main.env_attrs")}
                    for table in ("runs", "attrs", "digests", "run_env", "refused"):
                        db.execute(f"INSERT OR REPLACE INTO main.{table} SELECT * FROM part.{table}")  # noqa: S608
                    db.execute("CREATE TEMP TABLE known_envs (env_id TEXT PRIMARY KEY)")
                    db.executemany("INSERT INTO known_envs VALUES (?)", [(e,) for e in have])
                    db.execute("INSERT INTO main.env_attrs SELECT * FROM part.env_attrs "
                               "WHERE env_id NOT IN (SELECT env_id FROM known_envs)")
                    db.execute("DROP TABLE known_envs")
                    self.new_refusals += [(rid, reason, bool(local)) for rid, reason, local in
                                          db.execute("SELECT run_id, reason, local FROM part.new_refusals")]
            finally:
                db.execute("DETACH DATABASE part")
            tick(len(part.wanted))
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("DETACH DATABASE part")
            for i in range(0, len(part.wanted), CHUNK):
                self._index_chunk(part.wanted[i:i + CHUNK], fresh=True, tick=tick)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(part.path)

    def _index_chunk(self, wanted: list[tuple[str, str, str | None]], fresh: bool = False,
                     tick: Callable[[int], None] | None = None, base: int = 0) -> None:
        """One chunk of :meth:`_index`; ``fresh``: into an index that had no runs (and, without
        its indexes, a DELETE by commit would scan every row so far: none is needed)."""
        from . import bounds, catfile
        from .validation import parse_record

        commits = [c for _, c, _ in wanted]
        from .recordread import prefetch_records

        prefetch_records(self.repo.git, commits, ("run.json", "config.yaml", "env.json"))
        if len(wanted) >= BATCH_FROM:
            files = _record_files_batch(self.repo, commits)
        else:
            files = {c: _record_files(self.repo, c) for c in commits}
        blob_ids = {oid for fs in files.values() for name, oid in fs.items() if name in ("run.json", "config.yaml",
                                                                                          "env.json")}
        blobs: dict[str, bytes] = {}
        if len(blob_ids) >= BATCH_FROM:
            blobs = catfile.read_blobs(self.repo.git_dir, sorted(blob_ids), bounds.MAX_FILE_BYTES)
        parsed_config: dict[str, Any] = {}
        parsed_env: dict[str, Any] = {}
        rows: list[tuple[Any, ...]] = []
        attrs: list[tuple[int, str, float | None, str]] = []
        digests: list[tuple[str, str, str | None, str, str]] = []
        refusals: list[tuple[str, str, str]] = []
        run_envs: list[tuple[str, str]] = []
        packages: list[tuple[str, str, float | None, str]] = []
        have_envs = {e for (e,) in self.db.execute("SELECT DISTINCT env_id FROM run_env")}
        number = max(base, self.db.execute("SELECT COALESCE(MAX(n), 0) FROM runs").fetchone()[0])
        for n, (rid, commit, source) in enumerate(wanted, 1):
            if tick is not None and n % 500 == 0:
                tick(500)
            names = files.get(commit, {})
            try:
                raw = self._blob(names.get("run.json"), blobs, commit, "run.json")
                if raw is None:
                    raise RecordError(f"commit {commit[:12]} has no run.json")
                rec = parse_record(raw, rid, "schema")  # a local ref can be crafted too: as show checks it
                if rec.get("id") != rid:
                    raise RecordError(f"its record is of run {str(rec.get('id'))[:40]}")
            except RecordError as exc:
                reason = str(exc).removeprefix(f"run {rid}: ")
                refusals.append((commit, reason, _reader()))
                self.new_refusals.append((rid, reason, source is None))
                continue
            config = self._parsed(names.get("config.yaml"), blobs, commit, "config.yaml", parsed_config)
            env_id = names.get("env.json")
            env = self._parsed(env_id, blobs, commit, "env.json", parsed_env)
            number += 1
            row, a, d = record_rows(commit, rec, raw, config, env, number)
            if env_id is not None:
                run_envs.append((commit, env_id))
                if env_id not in have_envs:
                    have_envs.add(env_id)
                    packages += package_rows(env_id, env)
            rows.append(row)
            attrs += a
            digests += d
        with _transaction(self.db):
            if not fresh:  # rows of these commits from before (none, unless a reader changed): gone first
                self._drop_commits(commits)
            self.db.executemany("INSERT INTO runs VALUES (" + ",".join("?" * 21) + ")", _cleaned(rows))
            self.db.executemany("INSERT INTO attrs VALUES (?, ?, ?, ?)", _cleaned(attrs))
            self.db.executemany("INSERT OR REPLACE INTO run_env VALUES (?, ?)", run_envs)
            self.db.executemany("INSERT INTO env_attrs VALUES (?, ?, ?, ?)", _cleaned(packages))
            self.db.executemany("INSERT INTO digests VALUES (?, ?, ?, ?, ?)", _cleaned(digests))
            self.db.executemany("INSERT OR REPLACE INTO refused VALUES (?, ?, ?)", _cleaned(refusals))

    def _blob(self, oid: str | None, blobs: dict[str, bytes], commit: str, name: str) -> bytes | None:
        if oid is None:
            return None
        if oid in blobs:
            return blobs[oid]
        from .recordread import read_file

        return read_file(self.repo.git, commit, name)

    def _parsed(self, oid: str | None, blobs: dict[str, bytes], commit: str, name: str, seen: dict[str, Any]) -> Any:
        """config.yaml or env.json, parsed once per distinct blob; None when absent or refused."""
        if oid is None:
            return None
        if oid in seen:
            return seen[oid]
        from . import bounds

        value: Any = None
        try:
            raw = self._blob(oid, blobs, commit, name)
            if raw is not None:
                if name.endswith(".yaml"):
                    value = simple_yaml(raw)
                    if value is _NOT_SIMPLE:
                        value = bounds.load_yaml(raw, name)
                else:
                    value = bounds.load_json(raw, name)
        except (RecordError, ValueError):
            value = None  # the record is still listed; its params or environment cannot be queried
        seen[oid] = value
        return value

    def _sync_promoted(self, promoted: Mapping[str, str]) -> None:
        from . import promotion

        have = dict(self.db.execute("SELECT name, commit_id FROM promoted"))
        self.db.executemany("DELETE FROM promoted WHERE name = ?", [(n,) for n in have if n not in promoted])
        for name, commit in promoted.items():
            if have.get(name) == commit:
                continue
            try:
                data = promotion.read_untrusted(self.repo.git, commit, name)
            except RecordError:
                self.db.execute("DELETE FROM promoted WHERE name = ?", (name,))
                continue
            art = data["artifact"]
            self.db.execute("INSERT OR REPLACE INTO promoted VALUES (?, ?, ?, ?, ?, ?)",
                            _cleaned([(name, commit, data["run"], art.get("path"), art.get("digest"),
                                       1 if data.get("retired") else 0)])[0])

    def refuse(self, items: list[tuple[str, str]]) -> None:
        """Note commits (commit id, reason) whose record was refused elsewhere (fetch)."""
        with _transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO refused VALUES (?, ?, ?)",
                                _cleaned([(c, r, _reader()) for c, r in items]))

    def abbreviate(self, ids: list[str]) -> dict[str, str]:
        """The shortest unique prefix of each of ``ids`` among every visible run."""
        return dict(zip(ids, self._abbreviated(ids), strict=True))

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------------------------------

    def runs(self, where: str = "1", params: Sequence[Any] = (), order: str | None = None,
             order_params: Sequence[Any] = (), limit: int | None = None, retired: bool = True,
             lead: tuple[str, bool] | None = None) -> Iterator[Any]:
        """Visible runs (gitruns.lookup.Run) matching the SQL ``where`` over ``v``/``r``,
        in ``order`` (default: newest first), streamed from the database.  ``lead``:
        (attrs key, descending) when ``order`` begins with that key (query.compile_order),
        which with a limit lets the index walk the key's numbers in order."""
        from .lookup import Run

        if lead is not None and limit is not None:
            found = self._leading(lead, where, params, order, order_params, limit, retired)
            if found is not None:
                for rid, commit, source, raw in found:
                    yield Run(rid, commit, _record(raw, rid), source)
                return
        sql = f"SELECT {RUN_COLUMNS} FROM visible v JOIN runs r ON r.commit_id = v.commit_id WHERE ({where})"
        if not retired:
            sql += " AND r.retired = 0"
        sql += f" ORDER BY {order or 'v.run_id DESC'}"
        args = [*params, *order_params]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for rid, commit, source, raw in self.db.execute(sql, args):
            yield Run(rid, commit, _record(raw, rid), source)

    def _leading(self, lead: tuple[str, bool], where: str, params: Sequence[Any], order: str | None,
                 order_params: Sequence[Any], limit: int, retired: bool) -> list[tuple[Any, ...]] | None:
        """The first ``limit`` runs in ``order`` when its first key is ``lead``: the
        key's rows with a number, walked in the (key, num) index's order, each run
        taken at its first row (its largest number descending, its smallest ascending:
        the value compile_order sorts it by), ties broken by the whole ``order``.  A run
        with a number sorts before one with only text or none, so when ``limit`` runs
        with a number match, they are the answer; otherwise None (the caller sorts all)."""
        key, descending = lead
        sql = (f"SELECT {RUN_COLUMNS} FROM attrs s INDEXED BY attrs_key_num JOIN runs r ON r.n = s.run "
               f"JOIN visible v ON v.commit_id = r.commit_id WHERE s.key = ? AND s.num IS NOT NULL AND ({where})"
               + (" AND r.retired = 0" if not retired else "")
               + f" ORDER BY s.num {'DESC' if descending else 'ASC'}, {order}")
        out: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        for row in self.db.execute(sql, [key, *params, *order_params]):
            if row[0] not in seen:
                seen.add(row[0])
                out.append(row)
                if len(out) == limit:
                    return out
        return None

    def runs_of(self, refs: Sequence[tuple[str, str, str | None]]) -> list[Any]:
        """The runs of ``refs`` (run id, commit, source), visible or not (a remote's own
        listing), newest first; their commits indexed first if need be."""
        from .lookup import Run

        known = {c for (c,) in self.db.execute("SELECT commit_id FROM runs")}
        refused = {c for (c,) in self.db.execute("SELECT commit_id FROM refused WHERE reader = ?", (_reader(),))}
        self._index([(rid, c, s) for rid, c, s in sorted(refs) if c not in known and c not in refused])
        out: list[Any] = []
        for rid, commit, source in sorted(refs, reverse=True):
            row = self.db.execute("SELECT json FROM runs WHERE commit_id = ? AND run_id = ?", (commit, rid)).fetchone()
            if row is not None:
                out.append(Run(rid, commit, _record(row[0], rid), source))
        return out

    def count(self, where: str = "1", params: Sequence[Any] = (), retired: bool = True) -> int:
        sql = f"SELECT COUNT(*) FROM visible v JOIN runs r ON r.commit_id = v.commit_id WHERE ({where})"
        if not retired:
            sql += " AND r.retired = 0"
        return int(self.db.execute(sql, list(params)).fetchone()[0])

    def ids(self) -> list[str]:
        """Every visible run id, oldest first (listed or not: for abbreviations)."""
        return [rid for (rid,) in self.db.execute("SELECT run_id FROM visible ORDER BY run_id")]

    def refused_local(self) -> list[tuple[str, str]]:
        """(run id, reason) of local runs whose record is refused: warned about on every
        listing, as they are this repository's own and should be deleted."""
        return list(self.db.execute(
            # CROSS JOIN: from the (usually empty) refusals, not from every visible run
            "SELECT v.run_id, f.reason FROM refused f CROSS JOIN visible v ON v.commit_id = f.commit_id "
            "WHERE v.source IS NULL AND f.reader = ? ORDER BY v.run_id DESC", (_reader(),)))

    def latest_of_groups(self, run_ids: Iterable[str] | None = None) -> dict[str, bool]:
        """For each run of a group of several (of ``run_ids`` only, when given): whether it
        is the group's newest, from the groups the last sync found (no scan of every run)."""
        if run_ids is None:
            # CROSS JOIN: SQLite keeps this order, from the (usually small) groups table
            return {rid: rid == newest for rid, newest in self.db.execute(
                "SELECT v.run_id, g.newest FROM multi_groups g CROSS JOIN runs r ON r.run_group = g.run_group "
                "CROSS JOIN visible v ON v.commit_id = r.commit_id")}
        wanted = sorted(set(run_ids))
        out: dict[str, bool] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            out.update((rid, rid == newest) for rid, newest in self.db.execute(
                "SELECT v.run_id, g.newest FROM visible v JOIN runs r ON r.commit_id = v.commit_id "
                f"JOIN multi_groups g ON g.run_group = r.run_group WHERE v.run_id IN ({','.join('?' * len(chunk))})",
                chunk))
        return out

    def neighbourhood(self, ids: Sequence[str]) -> list[str]:
        """``ids`` and, for each, the visible ids just before and after it: all that the
        shortest unique prefixes of ``ids`` depend on (no list of every run)."""
        out = set(ids)
        for rid in ids:
            out.update(self._neighbours(rid))
        return sorted(out)

    def resolve(self, text: str) -> str:
        """A full run id from a unique prefix, ``refs/runs/<id>``, or an exact name."""
        from .runrefs import REF_PREFIX

        raw = text.strip()
        if raw.startswith(REF_PREFIX):
            raw = raw[len(REF_PREFIX):]
        prefix = runid.normalize_prefix(raw)
        if prefix and all(c in runid.ALPHABET for c in prefix):
            matches = [rid for (rid,) in self.db.execute(
                "SELECT run_id FROM visible WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 51",
                (prefix, prefix + "\x7f"))]
            if len(matches) == 1:
                return str(matches[0])
            if len(matches) > 1:
                raise AmbiguousRun(raw, self._abbreviated(matches)[::-1])
        named = [rid for (rid,) in self.db.execute(
            "SELECT v.run_id FROM visible v JOIN runs r ON r.commit_id = v.commit_id WHERE r.name = ? "
            "ORDER BY v.run_id DESC LIMIT 51", (raw,))]
        if len(named) == 1:
            return str(named[0])
        if len(named) > 1:
            raise AmbiguousRun(raw, self._abbreviated(named))
        if self.db.execute("SELECT 1 FROM visible LIMIT 1").fetchone() is None:
            raise UnknownRun(f"no run matches '{raw}': this repository has no runs yet")
        raise UnknownRun(f"no run matches '{raw}' (see 'git run ls')")

    def _abbreviated(self, ids: list[str]) -> list[str]:
        return [runid.abbreviations([rid, *self._neighbours(rid)])[rid] for rid in ids]

    def _neighbours(self, rid: str) -> list[str]:
        before = self.db.execute("SELECT run_id FROM visible WHERE run_id < ? ORDER BY run_id DESC LIMIT 1",
                                 (rid,)).fetchone()
        after = self.db.execute("SELECT run_id FROM visible WHERE run_id > ? ORDER BY run_id LIMIT 1",
                                (rid,)).fetchone()
        return [row[0] for row in (before, after) if row is not None]

    def location(self, run_id: str) -> tuple[str, str | None] | None:
        """(commit, source) of a visible run, or None."""
        row = self.db.execute("SELECT commit_id, source FROM visible WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else (str(row[0]), row[1])

    def producers(self, digests: Iterable[str]) -> dict[str, list[tuple[str, str, str | None, str]]]:
        """digest -> (run id, commit, step, path) of every visible run with it as an artifact."""
        return self._by_digest(digests, "artifact")

    def consumers(self, digests: Iterable[str]) -> dict[str, list[tuple[str, str, str | None, str]]]:
        """digest -> (run id, commit, step, path) of every visible run with it as an input."""
        return self._by_digest(digests, "input")

    def _by_digest(self, digests: Iterable[str], role: str) -> dict[str, list[tuple[str, str, str | None, str]]]:
        out: dict[str, list[tuple[str, str, str | None, str]]] = {}
        wanted = sorted(set(digests))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            sql = ("SELECT d.digest, v.run_id, v.commit_id, d.step, d.path FROM digests d JOIN visible v "
                   f"ON v.commit_id = d.commit_id WHERE d.role = ? AND d.digest IN ({','.join('?' * len(chunk))}) "
                   "ORDER BY v.run_id")
            for digest, rid, commit, step, path in self.db.execute(sql, [role, *chunk]):
                out.setdefault(digest, []).append((rid, commit, step, path))
        return out


PACKAGES = "env.packages."


def attr_rows(db: sqlite3.Connection, commits: Sequence[str], keys: Sequence[str]) -> list[tuple[str, str, Any, Any]]:
    """(commit, key, num, txt) of ``keys`` for ``commits``, ordered by commit, key and as
    recorded, as ``SELECT ... FROM attrs`` gave them before env.packages.* moved to
    ``env_attrs`` (once per env.json blob): what a listing's columns read."""
    out: list[tuple[str, str, Any, Any]] = []
    plain = [k for k in keys if not k.startswith(PACKAGES)]
    packages = [k for k in keys if k.startswith(PACKAGES)]
    for i in range(0, len(commits), 400):
        chunk = list(commits[i:i + 400])
        marks = ",".join("?" * len(chunk))
        if plain:
            out += db.execute(
                "SELECT r.commit_id, a.key, a.num, a.txt FROM runs r JOIN attrs a INDEXED BY attrs_commit "
                f"ON a.run = r.n WHERE r.commit_id IN ({marks}) AND a.key IN ({','.join('?' * len(plain))}) "
                "ORDER BY r.commit_id, a.key, a.rowid", [*chunk, *plain])
        if packages:
            out += db.execute(
                "SELECT re.commit_id, a.key, a.num, a.txt FROM run_env re JOIN env_attrs a ON a.env_id = re.env_id "
                f"WHERE re.commit_id IN ({marks}) AND a.key IN ({','.join('?' * len(packages))}) "
                "ORDER BY re.commit_id, a.key, a.rowid", [*chunk, *packages])
    if plain and packages:
        out.sort(key=lambda row: (row[0], row[1]))  # stable: a key's rows stay as recorded
    return out


def _record(raw: bytes, rid: str) -> record.RunRecord:
    """A record the index accepted before (bounded and checked then): only parsed and
    upgraded, as gitruns.validation.parse_record with check "none" would, without
    measuring its size and depth again."""
    from . import bounds

    text = raw if isinstance(raw, str) else None  # a damaged index may hold text: read it all the same
    try:
        return record.upgrade(bounds._decoder().decode(text if text is not None else bytes(raw).decode("utf-8")))
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, RecordError):
        from .validation import parse_record

        return parse_record(text.encode() if text is not None else bytes(raw), rid, "none")  # says what is wrong


def _connect(repo: Repo) -> tuple[sqlite3.Connection, bool]:
    """The database file (created, or rebuilt when of another shape), or an in-memory one."""
    path = os.path.join(repo.state_dir, DB_NAME)
    try:
        os.makedirs(repo.state_dir, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            _prepare(db)
            return db, True
        except sqlite3.DatabaseError:
            db.close()
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(path + suffix)  # derived data: a corrupt file is rebuilt
                except OSError:
                    pass
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            _prepare(db)
            return db, True
    except (sqlite3.Error, OSError):
        db = sqlite3.connect(":memory:", isolation_level=None)
        _prepare(db)
        return db, False


def _abandon(parts: list[_Part]) -> None:
    """Stop the processes of ``parts`` and remove their files."""
    import signal

    for part in parts:
        with contextlib.suppress(OSError):
            os.kill(part.pid, signal.SIGTERM)
        with contextlib.suppress(OSError):
            os.waitpid(part.pid, 0)
        with contextlib.suppress(OSError):
            os.unlink(part.path)


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _remove_abandoned(state_dir: str) -> None:
    """Files of builds whose process is gone (killed before renaming its file into place)."""
    try:
        names = [n for n in os.listdir(state_dir) if n.startswith(DB_NAME + ".") and n.endswith((".new", ".part"))]
    except OSError:
        return
    for name in names:
        pid = name[len(DB_NAME) + 1:].split(".")[0]  # index.sqlite.<pid>.new, index.sqlite.<pid>.<k>.part
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still building (or the pid is reused: the file waits for a later build)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(state_dir, name))


def _prepare(db: sqlite3.Connection, journal: bool = True) -> None:
    db.execute("PRAGMA busy_timeout = 30000")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != INDEX_VERSION:
        with _transaction(db):
            for table in _DROP:
                db.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - fixed names
            db.execute(f"PRAGMA user_version = {INDEX_VERSION}")
    if not journal:  # a file nobody else reads until it is complete (RunIndex._build)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
    else:
        try:
            db.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
        except sqlite3.OperationalError:
            pass
        db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB (the default 2 MiB thrashes building indexes)
    db.execute("PRAGMA temp_store = MEMORY")
    with _transaction(db):
        for statement in _TABLES:
            db.execute(statement)
    _register(db)


def _status(status: str | None, host: str | None, pid: int | None, process: str | None) -> str | None:
    """The derived status of a record's columns (``crashed`` for a running run of this
    host whose recorder is gone): gitruns.record.effective_status."""
    try:
        proc = json.loads(process) if process else None
    except ValueError:
        proc = None
    return record.effective_status({"status": status, "host": host, "pid": pid, "process": proc})


def _fnmatch(pattern: str | None, name: str | None) -> bool:
    import fnmatch

    return pattern is not None and name is not None and fnmatch.fnmatchcase(name.lower(), pattern.lower())


def _register(db: sqlite3.Connection) -> None:
    """The SQL functions listings and queries use (gitruns.query adds its own)."""
    import importlib

    db.create_function("gitruns_status", 4, _status)
    db.create_function("gitruns_fnmatch", 2, _fnmatch, deterministic=True)

    try:
        query = importlib.import_module("gitruns.query")
    except ImportError:  # TEMPORARY until the query module lands (issue 11, part A)
        return
    query.register(db)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (the connection is in autocommit mode otherwise)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
