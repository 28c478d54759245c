"""Step caching: a step whose definition and inputs match a successful earlier
step (in any run this repository sees, fetched ones included) is not run; its
outputs are restored from the artifact cache, verified, and it is recorded as
``cached`` with the run and step it came from.

The key is content only: the command after interpolation (a Python step's
definition), the digests of its deps in order and of the values it reads, its
params' values, its env, its wdir and the output paths it declares.  Never the
step's name, never a dep's path: a renamed but unchanged input is still a hit.

A record is untrusted: it never chooses where a file is written.  Outputs go
only to the paths the local plan declares; a directory's listing (from the
cache) is checked name by name; every byte is verified while it is copied, and
a candidate whose objects are missing or corrupt is no hit (the step runs).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .. import record
from ..cache import ArtifactCache
from ..errors import GitrunsError, RecordError
from ..hashing import StatCache, copy_and_digest, digest_bytes, hash_path, split_digest
from ..repo import Repo
from .graph import overlaps
from .plan import Plan, StepSpec, value_path

if TYPE_CHECKING:
    from ..artifactstore import RemoteStore

# Successful earlier steps tried for one key, newest first, before the step just runs.
MAX_CANDIDATES = 5


def value_name(step: str, name: str) -> str:
    """How a value is named in records: ``<step>.<name>``."""
    return f"{step}.{name}"


def step_inputs(plan: Plan, step: StepSpec, root: str, statcache: StatCache, values_dir: str) -> list[record.StepInput]:
    """What the step reads, hashed now (its deps in order, then its values)."""
    out: list[record.StepInput] = []
    for dep in step.deps:
        hashed = hash_path(os.path.join(root, dep), statcache, label=dep)
        entry: record.StepInput = {"path": dep, "kind": hashed.kind, "size": hashed.size, "digest": hashed.digest}
        if hashed.kind == "dir":
            entry["files"] = len(hashed.files)
        writer = next((s.name for s in plan.steps.values() if s is not step and any(overlaps(dep, o) for o in s.outs)),
                      None)
        if writer is not None:
            entry["from_step"] = writer
        out.append(entry)
    for _arg, (source, name) in step.value_inputs.items():
        hashed = hash_path(value_path(values_dir, source, name), statcache, label=value_name(source, name))
        out.append({"path": value_name(source, name), "kind": "value", "size": hashed.size,
                    "digest": hashed.digest, "from_step": source})
    return out


def key(definition: Any, step: StepSpec, inputs: list[record.StepInput], params: Mapping[str, Any]) -> str:
    """The step's cache key: content only, never its name or its deps' paths."""
    doc = {
        "definition": definition,
        "deps": [i["digest"] for i in inputs if i["kind"] != "value"],
        "values": [i["digest"] for i in inputs if i["kind"] == "value"],
        "params": dict(params),
        "env": dict(sorted(step.env.items())),
        "wdir": step.wdir,
        "outs": list(step.outs),
        "value_outputs": list(step.value_outputs),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return digest_bytes(text.encode())


@dataclass
class Candidate:
    run: str  # the run whose step record matched
    step: record.Step
    origin: record.CachedFrom  # the step that actually ran (cached_from followed)


@dataclass
class Reuse:
    """A step to take from an earlier run's record (``PipelineOptions.reuse``): the
    run's id and its step record.  Used by ``git run resume`` (the steps that
    succeeded) and meant for ``rerun --from-step`` (the steps before it)."""

    run: str
    step: record.Step

    def candidate(self) -> Candidate:
        """As a step-cache candidate: ``cached_from`` followed, so a step reused from a
        reused step names the run and step that made its outputs."""
        origin = self.step.get("cached_from")
        if not (isinstance(origin, dict) and isinstance(origin.get("run"), str)
                and isinstance(origin.get("step"), str)):
            origin = {"run": self.run, "step": str(self.step.get("name"))}
        return Candidate(self.run, self.step, {"run": origin["run"], "step": origin["step"]})


def unavailable(step: record.Step, cache: ArtifactCache,
                remote: Callable[[], RemoteStore | None] | None = None) -> str | None:
    """The first output of a recorded step that could not be restored now (its
    object, or for a directory its listing or a file of it, in neither the cache nor
    the remote's store, where a missing one is fetched into the cache); None when
    every one can be."""
    for art in step.get("outputs") or []:
        if not isinstance(art, dict):
            return "?"
        path = str(art.get("path"))
        digest = art.get("digest")
        if art.get("status") != "stored" or not isinstance(digest, str):
            return path
        is_dir = art.get("kind") == "dir" or (art.get("kind") == "value" and isinstance(art.get("files"), int))
        try:
            split_digest(digest)
            _require_in_cache(digest, is_dir, cache, remote)
        except (_Miss, ValueError, OSError, GitrunsError):
            return path
    return None


class Index:
    """Successful steps of every run this repository sees, by cache key; read once,
    at the first lookup, through the listing index (so a rerun stays fast)."""

    def __init__(self, repo: Repo, own_run: str, prefer: str | None = None) -> None:
        self.repo = repo
        self.own_run = own_run
        self.prefer = prefer  # a run whose steps come first (rerun --from-step: the original)
        self._by_key: dict[str, list[Candidate]] | None = None

    def _build(self) -> dict[str, list[Candidate]]:
        from ..lookup import all_runs

        by_key: dict[str, list[Candidate]] = {}
        for run in all_runs(self.repo):  # newest first
            if run.id == self.own_run or run.record.get("kind") != "pipeline":
                continue
            for step in run.record.get("steps") or []:
                if not isinstance(step, dict) or step.get("status") not in ("succeeded", "cached"):
                    continue
                ckey = step.get("cache_key")
                if not isinstance(ckey, str):
                    continue
                origin = step.get("cached_from")
                if not (isinstance(origin, dict) and isinstance(origin.get("run"), str)
                        and isinstance(origin.get("step"), str)):
                    origin = {"run": run.id, "step": str(step.get("name"))}
                by_key.setdefault(ckey, []).append(Candidate(run.id, step, origin))
        if self.prefer is not None:
            for found in by_key.values():
                found.sort(key=lambda c: c.run != self.prefer)  # stable: newest first otherwise
        return by_key

    def candidates(self, ckey: str) -> list[Candidate]:
        if self._by_key is None:
            self._by_key = self._build()
        return self._by_key.get(ckey, [])[:MAX_CANDIDATES]


class _Miss(Exception):
    """This candidate cannot be restored (an object missing or corrupt, a bad listing)."""


def restore(step: StepSpec, candidate: Candidate, root: str, git_dirs: list[str], cache: ArtifactCache,
            values_dir: str, statcache: StatCache,
            remote: Callable[[], RemoteStore | None] | None = None) -> list[record.Artifact] | None:
    """Put the candidate's outputs at the step's declared paths (and its values in
    ``values_dir``), each verified; the step's ``outputs`` for the record, or None
    when the candidate cannot provide every one (nothing is written then).

    An output already there with the right content (hashed through the stat cache,
    so an unchanged large output is not read again) is left alone, but its objects
    must still be in the cache: the record says they are stored.

    An object missing here is downloaded, verified, from the artifact store of the
    default remote (``remote`` gives it, or None), as for a fetched run's outputs."""
    from ..gitnames import path_refusal

    by_path: dict[str, Mapping[str, Any]] = {}
    for art in candidate.step.get("outputs") or []:
        if isinstance(art, dict) and isinstance(art.get("path"), str):
            by_path[art["path"]] = art
    wanted: list[tuple[str, str, bool]] = [(out, os.path.join(root, out), False) for out in step.outs]
    wanted += [(value_name(step.name, v), value_path(values_dir, step.name, v), True) for v in step.value_outputs]
    staged: list[tuple[str, str]] = []  # (temporary, final)
    outputs: list[record.Artifact] = []
    try:
        for shown, final, is_value in wanted:
            found = by_path.get(shown)
            if found is None or found.get("status") != "stored" or not isinstance(found.get("digest"), str):
                raise _Miss(shown)
            digest = str(found["digest"])
            split_digest(digest)
            if not is_value and path_refusal(final, root, git_dirs) is not None:
                raise _Miss(shown)
            is_dir = found.get("kind") == "dir" or (is_value and isinstance(found.get("files"), int))
            _require_in_cache(digest, is_dir, cache, remote)  # even for an output left in place
            if not _in_place(final, digest, statcache):
                os.makedirs(os.path.dirname(final), exist_ok=True)
                tmp = _stage_dir(digest, final, cache) if is_dir else _stage_file(digest, final, cache, False)
                staged.append((tmp, final))
            entry = cast(record.Artifact, {k: v for k, v in found.items() if k != "stored_by"})
            entry["path"] = shown
            outputs.append(entry)
    except (_Miss, ValueError, OSError, GitrunsError):
        _discard(staged)
        return None
    for tmp, final in staged:
        _remove(final)
        os.replace(tmp, final)
    return outputs


def _in_place(final: str, digest: str, statcache: StatCache) -> bool:
    """Whether ``final`` already holds exactly ``digest`` (a regular file or a directory)."""
    if os.path.islink(final) or not os.path.exists(final):
        return False
    try:
        return hash_path(final, statcache).digest == digest
    except GitrunsError:
        return False


def _require_in_cache(digest: str, is_dir: bool, cache: ArtifactCache,
                      remote: Callable[[], RemoteStore | None] | None) -> None:
    """A miss unless the cache holds the object (a directory: its listing and every
    file); what it lacks is first downloaded, verified, from the remote's store when
    ``remote`` gives one."""
    from ..artifactstore import fetch_into_cache
    from ..manifest import MAX_LISTING_BYTES, parse_manifest

    def ensure(wanted: str) -> None:
        if cache.has(wanted):
            return
        store = remote() if remote is not None else None
        if store is None:
            raise _Miss(wanted)
        fetch_into_cache(cache, store, wanted, wanted)

    ensure(digest)
    if not is_dir:
        return
    listing = cache.read_verified(digest, MAX_LISTING_BYTES)
    if listing is None:
        raise _Miss(digest)
    try:
        entries = parse_manifest(listing, digest)
    except RecordError:
        raise _Miss(digest) from None
    for entry in entries:
        ensure(entry.digest)


def _stage_file(digest: str, final: str, cache: ArtifactCache, executable: bool, directory: str | None = None) -> str:
    """A verified copy of a cache object in a fresh temporary beside ``final``."""
    src = cache.object_path(digest)
    if not os.path.exists(src):
        raise _Miss(digest)
    fd, tmp = tempfile.mkstemp(dir=directory or os.path.dirname(final), prefix=".gitruns-tmp-")
    try:
        good = copy_and_digest(src, fd) == digest
        if good:
            os.fchmod(fd, 0o755 & ~_umask() if executable else 0o644 & ~_umask())
    finally:
        os.close(fd)
    if not good:
        os.unlink(tmp)
        cache.quarantine(digest)
        raise _Miss(digest)
    return tmp


def _stage_dir(digest: str, final: str, cache: ArtifactCache) -> str:
    """A verified copy of a directory artifact in a fresh temporary directory beside ``final``."""
    from ..checkout import check_path
    from ..manifest import MAX_LISTING_BYTES, parse_manifest

    listing = cache.read_verified(digest, MAX_LISTING_BYTES)  # a corrupt listing is quarantined
    if listing is None:
        raise _Miss(digest)
    try:
        entries = parse_manifest(listing, final)
    except RecordError:
        raise _Miss(digest) from None
    top = tempfile.mkdtemp(dir=os.path.dirname(final), prefix=".gitruns-tmp-")
    try:
        for entry in entries:
            parts = check_path(entry.path)  # an untrusted listing names no way out
            where = os.path.join(top, *parts[:-1])
            os.makedirs(where, exist_ok=True)
            tmp = _stage_file(entry.digest, os.path.join(where, parts[-1]), cache, entry.executable, where)
            os.replace(tmp, os.path.join(where, parts[-1]))
    except BaseException:
        shutil.rmtree(top, ignore_errors=True)
        raise
    return top


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _discard(staged: list[tuple[str, str]]) -> None:
    for tmp, _final in staged:
        try:
            _remove(tmp)
        except OSError:
            pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
