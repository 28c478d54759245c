"""The verdict of a reproduction: the original run against its exact rerun.

Per artifact of the original (a pipeline run's step outputs are named
``<step>/<path>``): ``reproduced`` (same digest), ``differs`` (both sizes; for
text and JSON a short unified diff read from the cache, or the remote store, by
digest; for a directory, which of its files differ, from the two manifests),
``missing`` (the new run lacks it or stored nothing; or the original stored
nothing, so there is nothing to compare with); an artifact only the new run
has is ``new``.  Per metric: ``equal``, ``changed`` (with the delta new - old
and the relative delta), ``missing`` (only the original has it) or ``new``.
The environment differences come from ``envdiff``.

``reproduced`` is true only when every artifact of the original reproduced and
the new run ended as the original did (status and exit code); metrics and the
environment are there to explain, not to judge.

Everything here comes from records and store objects: bounded (sizes are
checked before a byte is read), decoded leniently, and never printed here (the
command layer shows it through ``terminal.safe``).
"""
from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import envdiff
from .errors import GitrunsError, RecordError

if TYPE_CHECKING:
    from .artifactstore import RemoteStore
    from .cache import ArtifactCache
    from .record import RunRecord
    from .repo import Repo

# A differing file larger than this is compared by size only.
MAX_DIFF_BYTES = 1 << 20
# Lines of unified diff kept per artifact, and characters per line.
MAX_DIFF_LINES = 20
MAX_LINE_CHARS = 200
# Files of a directory named per kind of difference.
MAX_DIR_FILES = 20

VERDICTS = ("reproduced", "differs", "missing", "new")
TEXT_SUFFIXES = (".json", ".jsonl", ".txt", ".csv", ".tsv", ".yaml", ".yml", ".md", ".log", ".toml", ".ini")


@dataclass
class ArtifactVerdict:
    name: str  # the path, or "<step>/<path>" for a pipeline step's output
    path: str
    step: str | None
    verdict: str  # one of VERDICTS
    kind: str | None = None  # "file" | "dir" | "value"
    old_digest: str | None = None
    new_digest: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    missing_in: str | None = None  # "new" | "original" | "both", for "missing"
    diff: list[str] | None = None  # a unified diff (text and JSON files)
    diff_truncated: bool = False
    files: dict[str, Any] | None = None  # a directory: {"added", "removed", "changed": [paths], counts}
    note: str | None = None  # why there is no diff: "binary", "larger than 1 MiB", "not available: ..."

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "path": self.path, "step": self.step, "verdict": self.verdict,
                               "kind": self.kind, "original": {"digest": self.old_digest, "size": self.old_size},
                               "new": {"digest": self.new_digest, "size": self.new_size}}
        if self.missing_in:
            out["missing_in"] = self.missing_in
        if self.diff is not None:
            out["diff"] = self.diff
            out["diff_truncated"] = self.diff_truncated
        if self.files is not None:
            out["files"] = self.files
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class MetricVerdict:
    name: str
    verdict: str  # "equal" | "changed" | "missing" | "new"
    old: Any = None
    new: Any = None
    delta: float | None = None  # new - old, when both are finite numbers
    relative: float | None = None  # delta / |old|, when old is not 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "original": self.old, "new": self.new,
                "delta": self.delta, "relative": self.relative}


@dataclass
class Verdict:
    original: str
    new: str
    reproduced: bool
    artifacts: list[ArtifactVerdict] = field(default_factory=list)
    metrics: list[MetricVerdict] = field(default_factory=list)
    environment: envdiff.EnvDiff = field(default_factory=envdiff.EnvDiff)
    status: dict[str, Any] = field(default_factory=dict)  # {"original": {...}, "new": {...}, "same": bool}
    reasons: list[str] = field(default_factory=list)  # why not reproduced, in words

    def count(self, verdict: str) -> int:
        return sum(1 for a in self.artifacts if a.verdict == verdict)

    def to_dict(self) -> dict[str, Any]:
        """What ``git run reproduce --json`` prints (docs/reproduce.md)."""
        return {
            "original": self.original,
            "new": self.new,
            "reproduced": self.reproduced,
            "verdict": "reproduced" if self.reproduced else "not reproduced",
            "reasons": list(self.reasons),
            "counts": {v: self.count(v) for v in VERDICTS},
            "artifacts": [a.to_dict() for a in self.artifacts],
            "metrics": [m.to_dict() for m in self.metrics],
            "environment": self.environment.to_dict(),
            "status": self.status,
        }


# -- artifacts -------------------------------------------------------------

def _entries(rec: Mapping[str, Any]) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    """name -> (path, step, the artifact entry): a pipeline's step outputs as
    "<step>/<path>", then the run's artifacts that no step output accounts for."""
    out: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
    from_steps: set[str] = set()
    for step in rec.get("steps") or []:
        if not isinstance(step, dict):
            continue
        sname = str(step.get("name"))
        for o in step.get("outputs") or []:
            if isinstance(o, dict) and isinstance(o.get("path"), str):
                out.setdefault(f"{sname}/{o['path']}", (o["path"], sname, o))
                from_steps.add(o["path"])
    for a in rec.get("artifacts") or []:
        if isinstance(a, dict) and isinstance(a.get("path"), str) and a["path"] not in from_steps:
            out.setdefault(a["path"], (a["path"], None, a))
    return out


def _stored(entry: Mapping[str, Any]) -> str | None:
    digest = entry.get("digest")
    return digest if entry.get("status") == "stored" and isinstance(digest, str) else None


def _size(entry: Mapping[str, Any]) -> int | None:
    size = entry.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


class _Reader:
    """Objects by digest from the cache, else the remote store (fetched into the
    cache, verified); bounded before reading."""

    def __init__(self, cache: ArtifactCache, remote_store: RemoteStore | None) -> None:
        self.cache = cache
        self.remote_store = remote_store

    def read(self, digest: str, size: int | None, limit: int, what: str) -> bytes:
        """The bytes, or GitrunsError saying why not."""
        if size is not None and size > limit:
            raise GitrunsError(f"larger than {limit // 1024} KiB")
        if not self.cache.has(digest):
            if self.remote_store is None:
                raise GitrunsError("not in the local cache and no artifact store is configured")
            from .artifactstore import fetch_into_cache

            fetch_into_cache(self.cache, self.remote_store, digest, what)
        data = self.cache.read_verified(digest, limit)
        if data is None:
            raise GitrunsError("the cached copy is corrupt (moved to the quarantine)")
        return data

    def listing(self, digest: str, what: str) -> dict[str, tuple[str, int]]:
        from .manifest import directory_listing, parse_manifest

        data = directory_listing(self.cache, self.remote_store, digest, what)
        return {e.path: (e.digest, e.size) for e in parse_manifest(data, what)}


def _text(data: bytes, path: str) -> list[str] | None:
    """The lines of a text file (JSON pretty-printed with sorted keys, so a diff
    shows values, not layout); None for binary content."""
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if path.lower().endswith(".json"):
        try:
            text = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass
    return text.splitlines()


def _unified(a: list[str], b: list[str], name: str) -> tuple[list[str], bool]:
    lines = list(difflib.unified_diff(a, b, f"original/{name}", f"new/{name}", lineterm="", n=1))[2:]
    lines = [line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…" for line in lines]
    return lines[:MAX_DIFF_LINES], len(lines) > MAX_DIFF_LINES


def _explain_file(v: ArtifactVerdict, reader: _Reader) -> None:
    assert v.old_digest and v.new_digest
    try:
        old = reader.read(v.old_digest, v.old_size, MAX_DIFF_BYTES, f"{v.name} (original)")
        new = reader.read(v.new_digest, v.new_size, MAX_DIFF_BYTES, f"{v.name} (new)")
    except (GitrunsError, OSError) as exc:
        v.note = f"no diff: {exc}"
        return
    a, b = _text(old, v.path), _text(new, v.path)
    if a is None or b is None:
        v.note = "binary"
        return
    v.diff, v.diff_truncated = _unified(a, b, v.name)


def _explain_dir(v: ArtifactVerdict, reader: _Reader) -> None:
    assert v.old_digest and v.new_digest
    try:
        old = reader.listing(v.old_digest, f"{v.name} (original)")
        new = reader.listing(v.new_digest, f"{v.name} (new)")
    except (GitrunsError, RecordError, OSError) as exc:
        v.note = f"no file list: {exc}"
        return
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in old if p not in new)
    changed = sorted(p for p in old if p in new and old[p][0] != new[p][0])
    v.files = {"added": added[:MAX_DIR_FILES], "removed": removed[:MAX_DIR_FILES],
               "changed": changed[:MAX_DIR_FILES],
               "counts": {"added": len(added), "removed": len(removed), "changed": len(changed),
                          "same": sum(1 for p in old if p in new and old[p][0] == new[p][0])}}


def compare_artifacts(original: Mapping[str, Any], new: Mapping[str, Any], reader: _Reader | None
                      ) -> list[ArtifactVerdict]:
    """One verdict per artifact of the original, then one per artifact only the new run has.
    With no ``reader``, differing files get no diff (sizes only)."""
    old_items, new_items = _entries(original), _entries(new)
    out: list[ArtifactVerdict] = []
    for name, (path, step, entry) in old_items.items():
        other = new_items.get(name)
        v = ArtifactVerdict(name, path, step, "missing", kind=_kind(entry),
                            old_digest=_stored(entry), old_size=_size(entry))
        if other is not None:
            v.new_digest, v.new_size = _stored(other[2]), _size(other[2])
        if v.old_digest is None:
            v.missing_in = "both" if v.new_digest is None else "original"
            v.note = f"the original stored nothing ({entry.get('status')})"
        elif v.new_digest is None:
            v.missing_in = "new"
            v.note = ("the new run has no such artifact" if other is None
                      else f"the new run stored nothing ({other[2].get('status')})")
        elif v.old_digest == v.new_digest:
            v.verdict = "reproduced"
        else:
            v.verdict = "differs"
            assert other is not None
            old_dir, new_dir = _is_dir(entry), _is_dir(other[2])
            if old_dir != new_dir:
                v.note = "a directory in one run, a file in the other"
            elif reader is not None:
                (_explain_dir if old_dir else _explain_file)(v, reader)
        out.append(v)
    for name, (path, step, entry) in new_items.items():
        if name not in old_items:
            out.append(ArtifactVerdict(name, path, step, "new", kind=_kind(entry),
                                       new_digest=_stored(entry), new_size=_size(entry)))
    return out


def _is_dir(entry: Mapping[str, Any]) -> bool:
    """A directory artifact, or a directory a Python step returned (a value with "files")."""
    return entry.get("kind") == "dir" or (entry.get("kind") == "value" and entry.get("files") is not None)


def _kind(entry: Mapping[str, Any]) -> str | None:
    kind = entry.get("kind")
    return kind if isinstance(kind, str) else None


# -- metrics ---------------------------------------------------------------

def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def compare_metrics(old: Any, new: Any) -> list[MetricVerdict]:
    """Final metric values: equal, changed (with the delta), missing (only the
    original has it) or new (only the new run has it)."""
    ma = old if isinstance(old, dict) else {}
    mb = new if isinstance(new, dict) else {}
    out = []
    for name in sorted(set(ma) | set(mb), key=str):
        if name not in mb:
            out.append(MetricVerdict(str(name), "missing", ma[name], None))
            continue
        if name not in ma:
            out.append(MetricVerdict(str(name), "new", None, mb[name]))
            continue
        a, b = ma[name], mb[name]
        if a == b and type(a) is type(b) or (_finite(a) and _finite(b) and a == b):
            out.append(MetricVerdict(str(name), "equal", a, b))
            continue
        m = MetricVerdict(str(name), "changed", a, b)
        if _finite(a) and _finite(b):
            m.delta = b - a
            m.relative = (b - a) / abs(a) if a != 0 else None
        out.append(m)
    return out


# -- the verdict -------------------------------------------------------------

def read_env(repo: Repo, run_id: str) -> dict[str, Any]:
    """A run's env.json by its id ({} when the run or its env.json is not here, or refused)."""
    from . import bounds, recordread
    from .runrefs import visible_refs

    for rid, commit, _ in visible_refs(repo):
        if rid == run_id:
            try:
                raw = recordread.read_file(repo.git, commit, "env.json")
                data = bounds.load_json(raw, "env.json") if raw else {}
            except RecordError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def compare(repo: Repo | None, original: RunRecord, new: RunRecord, cache: ArtifactCache | None,
            remote_store: RemoteStore | None = None, *, original_env: dict[str, Any] | None = None,
            new_env: dict[str, Any] | None = None) -> Verdict:
    """The verdict of ``new`` as a reproduction of ``original``.

    Differing artifacts are read from ``cache`` (and ``remote_store`` when the cache
    lacks them); without a cache, sizes only.  The environments are the runs'
    env.json, read from ``repo`` unless given."""
    if original_env is None:
        original_env = read_env(repo, original["id"]) if repo is not None else {}
    if new_env is None:
        new_env = read_env(repo, new["id"]) if repo is not None else {}
    reader = _Reader(cache, remote_store) if cache is not None else None
    artifacts = compare_artifacts(original, new, reader)
    status: dict[str, Any] = {
        "original": {"status": original.get("status"), "exit_code": original.get("exit_code")},
        "new": {"status": new.get("status"), "exit_code": new.get("exit_code")},
    }
    status["same"] = status["original"] == status["new"]
    reasons = []
    for verdict in ("differs", "missing"):
        names = [a.name for a in artifacts if a.verdict == verdict]
        if names:
            reasons.append(f"{len(names)} artifact(s) {verdict}: {', '.join(names[:5])}"
                           + (f" and {len(names) - 5} more" if len(names) > 5 else ""))
    if not status["same"]:
        reasons.append(f"the original {_ended(status['original'])}, the new run {_ended(status['new'])}")
    return Verdict(
        original=str(original.get("id")), new=str(new.get("id")), reproduced=not reasons,
        artifacts=artifacts, metrics=compare_metrics(original.get("metrics"), new.get("metrics")),
        environment=envdiff.compare(original_env, new_env), status=status, reasons=reasons,
    )


def _ended(side: Mapping[str, Any]) -> str:
    return f"{side.get('status')} (exit {side.get('exit_code')})"
