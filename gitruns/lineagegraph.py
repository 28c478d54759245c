"""Lineage: which runs an artifact came from and which runs used it, by digest.

At launch, ``gitruns.linking`` finds the earlier runs whose artifacts a run
consumes (for the record's ``upstream`` and the commit's further parents).
Afterwards, :func:`lineage` walks the graph upstream (inputs, the runs that
produced them, their code) or downstream (the runs that consumed a run's
artifacts, their artifacts, promotions), one SQL query per level over the
index's ``digests`` table (never a record read per run downstream), and
:func:`dependents` lists what depends on a run or on a promoted artifact.

The graph is data flow: ``run --produced--> data --consumed--> run``,
``data --promoted--> promotion`` and ``code --ran--> run``; a walk goes along the
edges (downstream) or against them (upstream).  A consumer is only downstream of a
producer created before it or in the same millisecond (a run id starts with its
creation time), which leaves out the run that merely produced the same bytes
again; a walk is bounded by the number of runs, so even runs of one millisecond
cannot send it round a cycle.  See docs/lineage.md.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .linking import best_producer, producer_rows

if TYPE_CHECKING:
    from . import record
    from .repo import Repo
    from .runindex import RunIndex

DIGEST_PREFIX = "xxh3_128:"
MIN_HEX = 8  # the shortest abbreviation of a digest's hex part
HEX_LEN = 32
CHUNK = 500  # digests or commits in one IN (...) list
DIRECTIONS = ("upstream", "downstream")
HEX = frozenset("0123456789abcdef")


# --- digests ---------------------------------------------------------------------------------


def is_hex(text: str) -> bool:
    return bool(text) and all(c in HEX for c in text)


def digest_hex(text: str) -> str | None:
    """The hex part of a full or abbreviated digest (``xxh3_128:1a2b...`` or ``1a2b...``,
    at least 8 hex digits), lowercased; None when ``text`` is not one."""
    raw = text.strip().lower()
    if raw.startswith(DIGEST_PREFIX):
        raw = raw[len(DIGEST_PREFIX):]
    if MIN_HEX <= len(raw) <= HEX_LEN and is_hex(raw):
        return raw
    return None


def short(digest: str | None) -> str:
    """A digest as the human output shows it: 12 hex digits."""
    if not digest:
        return "-"
    return digest.removeprefix(DIGEST_PREFIX)[:12]


def complete_digest(index: RunIndex, text: str, known: bool = True) -> str:
    """The full digest ``text`` abbreviates among the inputs, artifacts and promotions
    the index knows; UsageError when it is not a digest, ambiguous, or unknown (a full
    digest no run has is returned as it is unless ``known``)."""
    hexpart = digest_hex(text)
    if hexpart is None:
        raise UsageError(f"'{text}' is not a digest ({DIGEST_PREFIX} and 32 hex digits, or at least "
                         f"{MIN_HEX} of them)")
    full = DIGEST_PREFIX + hexpart
    if len(hexpart) == HEX_LEN and not known:
        return full
    low, high = full, full + "g"  # every hex digit sorts below 'g'
    found = sorted({d for (d,) in index.db.execute(
        "SELECT DISTINCT digest FROM digests WHERE digest >= ? AND digest < ? LIMIT 11", (low, high))}
        | {d for (d,) in index.db.execute(
            "SELECT DISTINCT digest FROM promoted WHERE digest >= ? AND digest < ? LIMIT 11", (low, high))})
    if not found:
        raise UsageError(f"no run has a file of digest {hexpart}")
    if len(found) > 1:
        raise UsageError(f"digest {hexpart} is ambiguous: " + ", ".join(short(d) for d in found[:10]))
    return str(found[0])


def current_digest(path: str, repo: Repo, cwd: str | None = None) -> tuple[str, str]:
    """(path as shown, digest) of a file or directory in the working tree, hashed as
    ``-i`` and ``-o`` hash it (the repository's stat cache spares a rehash)."""
    from .hashing import StatCache, hash_path
    from .repo import relative_to_root

    full = os.path.abspath(os.path.join(cwd or os.getcwd(), path))
    if not os.path.exists(full):
        raise UsageError(f"{path}: no such file or directory")
    root = repo.require_worktree()
    rel = relative_to_root(root, full)
    shown = rel if rel is not None else path
    cache = StatCache(os.path.join(repo.state_dir, "statcache.sqlite"))
    try:
        hashed = hash_path(full, cache, label=path)
    finally:
        cache.close()
    return shown, hashed.digest


# --- the graph -------------------------------------------------------------------------------


def run_node_id(run_id: str) -> str:
    return f"run:{run_id}"


def data_node_id(digest: str) -> str:
    return f"data:{digest}"


@dataclass
class Lineage:
    """A lineage graph: nodes by id (``run:<id>``, ``data:<digest>``, ``code:<commit>``,
    ``promoted:<name>``) and data-flow edges between them."""

    target: dict[str, Any]
    direction: str
    depth: int | None
    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    _edge_keys: set[tuple[str, str, str | None]] = field(default_factory=set, repr=False)

    def add_node(self, node_id: str, kind: str, **fields: Any) -> dict[str, Any]:
        node = self.nodes.get(node_id)
        if node is None:
            node = self.nodes[node_id] = {"id": node_id, "type": kind, **fields}
        return node

    def add_edge(self, source: str, dest: str, kind: str, path: str | None = None, step: str | None = None) -> None:
        key = (source, dest, path)
        if key in self._edge_keys:
            return
        self._edge_keys.add(key)
        self.edges.append({"from": source, "to": dest, "type": kind, "path": path, "step": step})

    def runs(self) -> list[dict[str, Any]]:
        """The run nodes other than the root, nearest first."""
        found = [n for n in self.nodes.values() if n["type"] == "run" and n["id"] != self.root]
        return sorted(found, key=lambda n: (n.get("depth", 0), n["id"]))

    def promotions(self) -> list[dict[str, Any]]:
        return sorted((n for n in self.nodes.values() if n["type"] == "promotion"), key=lambda n: n["id"])

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "direction": self.direction, "depth": self.depth, "root": self.root,
                "nodes": list(self.nodes.values()), "edges": list(self.edges)}


@dataclass
class Target:
    """What ``lineage`` and ``which`` were pointed at: a run, or data by digest."""

    kind: str  # "run" | "path" | "digest"
    run: str | None = None
    digest: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        if self.run is not None:
            out["run"] = self.run
        if self.digest is not None:
            out["digest"] = self.digest
        if self.path is not None:
            out["path"] = self.path
        return out


def parse_target(index: RunIndex, text: str, repo: Repo, cwd: str | None = None,
                 runs: bool = True) -> Target:
    """``text`` as a lineage target: ``xxh3_128:...`` is a digest; ``path@digest`` the
    data of that digest (once at that path); then a run (id, prefix, name; not for
    ``which``, ``runs`` False), a file or directory in the working tree (its digest
    now), or at least 8 hex digits of a digest.  UsageError when it is none of them,
    or a digest no run has (``which`` takes a full one and says no run has it)."""
    from .errors import AmbiguousRun, UnknownRun

    raw = text.strip()
    if not raw:
        raise UsageError("the target is empty: a run, a path, path@digest or a digest")
    if raw.lower().startswith(DIGEST_PREFIX):
        return Target("digest", digest=complete_digest(index, raw, runs))
    if "@" in raw:
        path, _, tail = raw.rpartition("@")
        if path and digest_hex(tail) is not None:
            return Target("path", digest=complete_digest(index, tail, runs), path=path)
    if runs:
        try:
            return Target("run", run=index.resolve(raw))
        except AmbiguousRun:
            raise
        except UnknownRun:
            pass
    full = os.path.join(cwd or os.getcwd(), raw)
    if os.path.lexists(full):
        shown, digest = current_digest(raw, repo, cwd)
        return Target("path", digest=digest, path=shown)
    if digest_hex(raw) is not None:
        return Target("digest", digest=complete_digest(index, raw, runs))
    what = "run, file or digest" if runs else "file or digest"
    raise UsageError(f"no {what} matches '{raw}'")


# A run node's details, from ``visible v JOIN runs r``: the status as listings derive it
# (gitruns_status only for a running run: the others are as recorded), the record's
# ``retired`` only when retired.
DETAILS = ("v.source, r.name, CASE WHEN r.status = 'running' THEN gitruns_status(r.status, r.host, r.pid, "
           "r.process) ELSE r.status END, r.retired, CASE WHEN r.retired THEN json_extract(CAST(r.json AS TEXT), "
           "'$.retired') END, r.started")


class _Walk:
    """One walk over the index, building a :class:`Lineage`."""

    def __init__(self, index: RunIndex, graph: Lineage, depth: int | None) -> None:
        self.index = index
        self.db = index.db
        self.graph = graph
        self.depth = depth
        self.run_depth: dict[str, int] = {}  # run id -> hops from the target
        self.commit_of: dict[str, str] = {}  # run id -> visible commit

    def _deeper(self, level: int) -> bool:
        return self.depth is None or level < self.depth

    def _add_run(self, rid: str, commit: str | None, level: int) -> bool:
        """Add a run node; True when it is new (to be expanded)."""
        if rid in self.run_depth:
            return False
        self.run_depth[rid] = level
        if commit is not None:
            self.commit_of[rid] = commit
        self.graph.add_node(run_node_id(rid), "run", run=rid, commit=commit, depth=level)
        return True

    # -- downstream --------------------------------------------------------------------------

    def downstream(self, start: str | None, digest: str | None) -> None:
        """Everything downstream of the run ``start`` (already a node) or of ``digest``:
        the runs reached, in one recursive query; then their artifacts and the
        consumed edges between them, a query per 500 runs."""
        limit = -1 if self.depth is None else self.depth
        args: list[Any]
        if start is not None:
            seed, args = "SELECT ?, ?, 0", [self.commit_of[start], start]
        else:
            assert digest is not None
            self.graph.add_node(data_node_id(digest), "data", digest=digest)
            seed = ("SELECT v.commit_id, v.run_id, 1 FROM digests c JOIN visible v ON v.commit_id = c.commit_id "
                    "WHERE c.role = 'input' AND c.digest = ? AND ? <> 0")
            args = [digest, limit]
        rows = self.db.execute(
            f"WITH RECURSIVE down(commit_id, run_id, depth) AS ({seed} UNION "
            "SELECT v.commit_id, v.run_id, down.depth + 1 FROM down "
            "JOIN digests a ON a.commit_id = down.commit_id AND a.role = 'artifact' "
            "JOIN digests c ON c.digest = a.digest AND c.role = 'input' "
            "JOIN visible v ON v.commit_id = c.commit_id "
            "WHERE substr(v.run_id, 1, 10) >= substr(down.run_id, 1, 10) AND v.run_id <> down.run_id "
            "AND down.depth < ?) "
            f"SELECT d.commit_id, d.run_id, MIN(d.depth), {DETAILS} FROM down d JOIN visible v ON v.commit_id = "
            "d.commit_id JOIN runs r ON r.commit_id = d.commit_id GROUP BY d.commit_id ORDER BY 3, 2",
            [*args, limit if limit >= 0 else self._runs_count()]).fetchall()
        depth_of: dict[str, int] = {}
        run_of: dict[str, str] = {}
        for commit, rid, level, *details in rows:
            self._add_run(rid, commit, level)
            self._describe(rid, commit, *details)
            depth_of[rid] = self.run_depth[rid]
            run_of[commit] = rid
        expanded = [c for c, rid in run_of.items() if limit < 0 or depth_of[rid] < limit]
        made: dict[str, str] = {}  # digest -> the first run that produced it
        if digest is not None:
            made[digest] = ""
        produced: list[tuple[int, str, str, str | None, str | None]] = []
        for commit, dig, path, step in self._rows("artifact", expanded):
            rid = run_of[commit]
            produced.append((depth_of[rid], rid, dig, path, step))
            made[dig] = min(made.get(dig, rid), rid)
        consumed: list[tuple[str, str, str | None, str | None]] = []
        for commit, dig, path, step in self._rows("input", [c for c, rid in run_of.items() if depth_of[rid] > 0]):
            rid = run_of[commit]
            if dig in made and _after(rid, made[dig]):
                consumed.append((rid, dig, path, step))
        for _level, rid, dig, path, step in sorted(produced, key=lambda p: (p[0], p[1], p[2])):
            self.graph.add_node(data_node_id(dig), "data", digest=dig)
            self.graph.add_edge(run_node_id(rid), data_node_id(dig), "produced", path, step)
        for rid, dig, path, step in sorted(consumed, key=lambda c: (c[0], c[1])):
            self.graph.add_edge(data_node_id(dig), run_node_id(rid), "consumed", path, step)

    def _runs_count(self) -> int:
        """No path through runs is longer than there are runs: the bound of a walk
        that two runs of the same millisecond could otherwise send round a cycle."""
        return int(self.db.execute("SELECT COUNT(*) FROM visible").fetchone()[0])

    def _rows(self, role: str, commits: list[str]) -> list[tuple[str, str, str | None, str | None]]:
        """(commit, digest, path, step) of the commits' inputs or artifacts, one per commit
        and digest (a step's row rather than the run's copy of a step's output)."""
        out: list[tuple[str, str, str | None, str | None]] = []
        seen: set[tuple[str, str]] = set()
        for i in range(0, len(commits), CHUNK):
            chunk = commits[i:i + CHUNK]
            for commit, digest, path, step in self.db.execute(
                    f"SELECT commit_id, digest, path, step FROM digests WHERE role = ? AND commit_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY commit_id, digest, step IS NULL, step, path",
                    [role, *chunk]):
                if (commit, digest) not in seen:
                    seen.add((commit, digest))
                    out.append((commit, digest, path, step))
        return out

    def promotions(self) -> None:
        """Every promotion of a data node's digest."""
        digests = sorted(n["digest"] for n in self.graph.nodes.values() if n["type"] == "data")
        for i in range(0, len(digests), CHUNK):
            chunk = digests[i:i + CHUNK]
            for name, run, path, digest, retired in self.db.execute(
                    "SELECT name, run_id, path, digest, retired FROM promoted WHERE digest IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY name", chunk):
                node = f"promoted:{name}"
                self.graph.add_node(node, "promotion", name=name, run=run, path=path, digest=digest,
                                    retired=bool(retired))
                self.graph.add_edge(data_node_id(digest), node, "promoted", path)

    # -- upstream ----------------------------------------------------------------------------

    def upstream_of_runs(self, frontier: dict[str, str], level: int) -> None:
        """From runs (id -> commit) at ``level``: their code, their inputs and the runs
        that produced them (as the record says, else by digest), and on: a level is a
        query for the records and one for the producers."""
        import json

        while frontier:
            wanted: list[tuple[str, str]] = []  # (consumer, digest) the record links to no run
            linked: list[record.Upstream] = []
            for rid, raw in self._records(frontier):
                try:
                    rec = json.loads(bytes(raw))  # accepted by the index already; read with .get
                except ValueError:
                    continue
                if not isinstance(rec, dict):
                    continue
                self._code(rid, rec)
                inputs, upstream = _consumed(rec)
                covered = {u["digest"] for u in upstream}
                for digest, path, step in inputs:
                    node = data_node_id(digest)
                    self.graph.add_node(node, "data", digest=digest)
                    self.graph.add_edge(node, run_node_id(rid), "consumed", path, step)
                    if digest not in covered:
                        wanted.append((rid, digest))
                linked += upstream
            if not self._deeper(level):
                return
            new: dict[str, str] = {}
            where = self._locations(u["run"] for u in linked)
            for u in linked:
                self._producer(u["run"], u.get("commit"), where.get(u["run"]), u["digest"], u.get("artifact"),
                               u.get("step"), level + 1, new)
            rows = producer_rows(self.index, [d for _, d in wanted]) if wanted else {}
            for consumer, digest in wanted:
                best = best_producer([r for r in rows.get(digest, []) if _after(consumer, r[0])])
                if best is not None:
                    prid, pcommit, pstep, ppath, _ = best
                    self._producer(prid, pcommit, pcommit, digest, ppath, pstep, level + 1, new)
            frontier = new
            level += 1

    def _records(self, runs: Mapping[str, str]) -> list[tuple[str, bytes]]:
        """(run id, run.json) of runs (id -> commit), in id order."""
        out: list[tuple[str, bytes]] = []
        commits = sorted(runs.values())
        for i in range(0, len(commits), CHUNK):
            chunk = commits[i:i + CHUNK]
            out += self.db.execute(f"SELECT run_id, json FROM runs WHERE commit_id IN ({','.join('?' * len(chunk))})",
                                   chunk).fetchall()
        return sorted(out)

    def upstream_of_digest(self, digest: str) -> None:
        """Every run that produced ``digest``, then up."""
        self.graph.add_node(data_node_id(digest), "data", digest=digest)
        if not self._deeper(0):
            return
        new: dict[str, str] = {}
        for rid, commit, step, path, _status in sorted(producer_rows(self.index, [digest]).get(digest, [])):
            self._producer(rid, commit, commit, digest, path, step, 1, new)
        self.upstream_of_runs(new, 1)

    def _producer(self, rid: str, commit: str | None, located: str | None, digest: str, path: str | None,
                  step: str | None, level: int, new: dict[str, str]) -> None:
        """The run ``rid`` produced ``digest``; ``located``: its visible commit now (None:
        no longer in this repository, shown with the commit the record named)."""
        if self._add_run(rid, located or commit, level) and located is not None:
            new[rid] = located
        if located is None:
            self.graph.nodes[run_node_id(rid)]["missing"] = True
        self.graph.add_edge(run_node_id(rid), data_node_id(digest), "produced", path, step)

    def _locations(self, ids: Iterable[str]) -> dict[str, str]:
        """run id -> visible commit, of those of ``ids`` that are visible."""
        out: dict[str, str] = {}
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i:i + CHUNK]
            out.update(self.db.execute(
                f"SELECT run_id, commit_id FROM visible WHERE run_id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def _code(self, rid: str, rec: Mapping[str, Any]) -> None:
        code = rec.get("code")
        if not isinstance(code, Mapping):
            return
        commit = code.get("commit")
        if not isinstance(commit, str):
            return
        node = f"code:{commit}"
        self.graph.add_node(node, "code", commit=commit, branch=code.get("branch"))
        self.graph.add_edge(node, run_node_id(rid), "ran", "dirty" if code.get("dirty") else None)

    # -- the run nodes' details ----------------------------------------------------------------

    def describe_runs(self) -> None:
        """Name, status (as listings derive it), retirement and source of every run node
        not described yet."""
        ids = sorted(rid for rid in self.run_depth if "name" not in self.graph.nodes[run_node_id(rid)])
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            for rid, commit, *details in self.db.execute(
                    f"SELECT v.run_id, v.commit_id, {DETAILS} FROM visible v JOIN runs r ON r.commit_id = v.commit_id "
                    f"WHERE v.run_id IN ({','.join('?' * len(chunk))})", chunk):
                self._describe(rid, commit, *details)
        for node in self.graph.nodes.values():
            if node["type"] == "run" and "name" not in node:
                node.update(name=None, status=None, retired=None, source=None, started=None)

    def _describe(self, rid: str, commit: str, source: str | None, name: str | None, status: str | None,
                  retired: int, why: str | None, started: float | None) -> None:
        self.graph.nodes[run_node_id(rid)].update(
            commit=commit, source=source, name=name, status=status, retired=_retirement(why) if retired else None,
            started=iso_of(started))


def _after(later: str, earlier: str) -> bool:
    """Whether run ``later`` could have used what run ``earlier`` made: another run,
    created in the same millisecond or after (a run id starts with its creation time;
    '' is no run: the target digest itself)."""
    return not earlier or (later != earlier and later[:10] >= earlier[:10])


def _retirement(text: Any) -> dict[str, Any]:
    import json

    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"reason": None}


def iso_of(epoch: Any) -> str | None:
    """An index time (epoch seconds) as UTC ISO 8601."""
    if not isinstance(epoch, (int, float)):
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _consumed(rec: Mapping[str, Any]) -> tuple[list[tuple[str, str, str | None]], list[record.Upstream]]:
    """A record's inputs from elsewhere (digest, path, step) and its upstream entries
    naming other runs; a step's inputs that are this run's own outputs are left out."""
    rid = rec.get("id")
    own: set[str] = set()
    for art in rec.get("artifacts") or []:
        if isinstance(art, dict) and isinstance(art.get("digest"), str):
            own.add(art["digest"])
    steps = [s for s in rec.get("steps") or [] if isinstance(s, dict)]
    for step in steps:
        for art in step.get("outputs") or []:
            if isinstance(art, dict) and isinstance(art.get("digest"), str):
                own.add(art["digest"])
    inputs: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()

    def take(items: Any, step: str | None) -> None:
        for item in items or []:
            if not isinstance(item, dict) or item.get("kind") == "value":
                continue
            digest = item.get("digest")
            if isinstance(digest, str) and digest not in seen and (step is None or digest not in own):
                seen.add(digest)
                inputs.append((digest, str(item.get("path")), step))

    take(rec.get("inputs"), None)
    for step in steps:
        take(step.get("inputs"), str(step.get("name")))
    upstream: list[record.Upstream] = []
    for u in [*(rec.get("upstream") or []), *(x for s in steps for x in (s.get("upstream") or []))]:
        if isinstance(u, dict) and isinstance(u.get("run"), str) and u.get("run") != rid \
                and isinstance(u.get("digest"), str) and u["digest"] in seen:
            upstream.append(u)  # type: ignore[arg-type]
    return inputs, upstream


# --- the library functions ---------------------------------------------------------------------


def lineage(target: str, direction: str = "upstream", depth: int | None = None,
            repo: Repo | str | os.PathLike[str] | None = None, cwd: str | None = None) -> Lineage:
    """The lineage of ``target`` (a run id, prefix or name; a path in the working tree;
    ``path@digest``; a digest) ``direction`` ("upstream" or "downstream"), at most
    ``depth`` runs away (None: all the way).  ``repo``: a repository or a path in one
    (default: the one ``cwd`` is in)."""
    from .repo import open_at, open_repo
    from .runindex import RunIndex

    if direction not in DIRECTIONS:
        raise UsageError(f"direction must be upstream or downstream, not {direction!r}")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, not {depth}")
    repo = open_repo(cwd) if repo is None else open_at(repo)
    with RunIndex.open(repo) as index:
        parsed = parse_target(index, target, repo, cwd)
        return _walk(index, parsed, direction, depth)


def _walk(index: RunIndex, parsed: Target, direction: str, depth: int | None) -> Lineage:
    if parsed.kind == "run":
        assert parsed.run is not None
        root = run_node_id(parsed.run)
    else:
        assert parsed.digest is not None
        root = data_node_id(parsed.digest)
    graph = Lineage(parsed.to_dict(), direction, depth, root)
    walk = _Walk(index, graph, depth)
    if parsed.kind == "run":
        assert parsed.run is not None
        located = index.location(parsed.run)
        assert located is not None
        walk._add_run(parsed.run, located[0], 0)
        if direction == "downstream":
            walk.downstream(parsed.run, None)
        else:
            walk.upstream_of_runs({parsed.run: located[0]}, 0)
    else:
        assert parsed.digest is not None
        if direction == "downstream":
            walk.downstream(None, parsed.digest)
        else:
            walk.upstream_of_digest(parsed.digest)
        if parsed.path is not None:
            graph.nodes[root]["path"] = parsed.path
    if direction == "downstream":
        walk.promotions()
    walk.describe_runs()
    return graph


@dataclass
class Dependent:
    """A run or promotion downstream of a run or a promoted artifact."""

    kind: str  # "run" | "promotion"
    id: str  # the run id, or the promotion's name
    name: str | None  # the run's name (a promotion: its name)
    status: str | None  # the run's status (a promotion: "promoted")
    retired: bool
    depth: int | None  # runs away from what it depends on (a promotion: None)
    commit: str | None
    digest: str | None  # what it consumed (a run: the first input found; a promotion: the artifact)
    path: str | None  # where: its input path, or the promoted artifact's path

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def dependents(repo: Repo | None = None, run_id: str | None = None, promotion: str | None = None
               ) -> list[Dependent]:
    """Every run and promotion downstream of the run ``run_id`` (id, prefix or name) or of
    the artifact promoted as ``promotion``: runs nearest first, then promotions."""
    from .repo import open_repo
    from .runindex import RunIndex

    if (run_id is None) == (promotion is None):
        raise UsageError("dependents of a run or of a promotion: give one of them")
    repo = repo or open_repo()
    with RunIndex.open(repo) as index:
        if run_id is not None:
            rid = index.resolve(run_id)
            graph = _walk(index, Target("run", run=rid), "downstream", None)
            skip = None
        else:
            row = index.db.execute("SELECT digest FROM promoted WHERE name = ?", (promotion,)).fetchone()
            if row is None or not row[0]:
                raise UsageError(f"no promotion named '{promotion}' (see refs/promoted/)")
            graph = _walk(index, Target("digest", digest=str(row[0])), "downstream", None)
            skip = f"promoted:{promotion}"
    into: dict[str, dict[str, Any]] = {}
    for edge in graph.edges:
        if edge["type"] in ("consumed", "promoted"):
            into.setdefault(edge["to"], {"digest": graph.nodes[edge["from"]]["digest"], "path": edge["path"]})
    out: list[Dependent] = []
    for node in graph.runs():
        via = into.get(node["id"], {})
        out.append(Dependent("run", node["run"], node.get("name"), node.get("status"), bool(node.get("retired")),
                             node.get("depth"), node.get("commit"), via.get("digest"), via.get("path")))
    for node in graph.promotions():
        if node["id"] == skip:
            continue
        out.append(Dependent("promotion", node["name"], node["name"], "promoted", bool(node.get("retired")), None,
                             None, node.get("digest"), node.get("path")))
    return out
