"""Promotions: an artifact of a run frozen under a stable name, ``refs/promoted/<NAME>``.

Each promotion is a commit whose tree holds only ``.gitruns/promotion.json`` (the
record below); its parents are the previous promotion of the same name (so
``git log --first-parent refs/promoted/NAME`` is the name's history) and the
promoted run's commit (so the run, its code and its record are reachable from
the promotion and travel with it).  Retiring a promotion is one more commit
whose record has ``retired`` set.  See docs/promotion.md.

``promotion.json`` (schema 1)::

    {"schema": 1, "kind": "promotion", "name": "prod-model", "run": "<run id>",
     "run_commit": "<the run ref's commit when promoted>",
     "artifact": {"path": "model.pt", "digest": "xxh3_128:...", "size": 123, "kind": "file",
                  "step": null},
     "reason": "best val acc of sweep 01j...", "criteria": {"where": "metrics.acc > 0.9",
     "metrics": {"acc": 0.93}}, "promoted_by": "ada", "promoted_at": "2026-...Z",
     "retired": null | {"at", "by", "reason", "superseded_by"}}

Anything read back may have been written by someone else (fetched): it is read
through :func:`read_untrusted`, bounded before parsing, checked against
``gitruns/schema/promotion.schema.json``, and its artifact path checked as
``git run checkout`` checks paths.
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, TypedDict

from .errors import RecordError, UsageError

REF_PREFIX = "refs/promoted/"
RECORD_DIR = ".gitruns"
RECORD_FILE = "promotion.json"
SCHEMA_VERSION = 1
MAX_BYTES = 256 * 1024  # a promotion record is a few hundred bytes; anything near this is hostile
MAX_NAME = 200

# A component of a promotion name: what `git check-ref-format` accepts, narrowed to
# what is safe to show and type: letters, digits, and . _ - + @ (no leading dot or dash).
_COMPONENT = re.compile(r"[A-Za-z0-9_+@][A-Za-z0-9._+@-]*")


class Artifact(TypedDict, total=False):
    path: str
    digest: str
    size: int | None
    kind: str | None
    step: str | None  # the step of a pipeline run whose output it is


class Retired(TypedDict, total=False):
    at: str
    by: str
    reason: str
    superseded_by: str | None


class Promotion(TypedDict):
    schema: int
    kind: str
    name: str
    run: str
    run_commit: str
    artifact: Artifact
    reason: str
    criteria: dict[str, Any]
    promoted_by: str
    promoted_at: str
    retired: Retired | None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a promotion, or None.  Components separated by ``/``
    (``models/prod``), each as git's ref names allow and a little narrower."""
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it is longer than {MAX_NAME} characters"
    for part in name.split("/"):
        if not _COMPONENT.fullmatch(part):
            return "each part between '/' must be letters, digits and . _ - + @, not starting with '.' or '-'"
        if part.endswith(".lock") or part.endswith(".") or ".." in part:
            return "a part may not end with '.lock' or '.', or hold '..'"
    return None


def check_name(name: str) -> str:
    """``name`` (a promotion name, or ``refs/promoted/<name>``) as a name; UsageError if it cannot be one."""
    from .terminal import safe

    bare = name[len(REF_PREFIX):] if name.startswith(REF_PREFIX) else name
    problem = name_problem(bare)
    if problem is not None:
        raise UsageError(f"bad promotion name '{safe(name[:MAX_NAME])}': {problem}")
    return bare


def ref_name(name: str) -> str:
    return REF_PREFIX + name


def dumps(data: Promotion) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


@functools.lru_cache(maxsize=1)
def validator() -> Any:
    import jsonschema

    schema = json.loads(resources.files("gitruns").joinpath("schema/promotion.schema.json").read_text("utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def parse(raw: bytes, name: str | None = None) -> Promotion:
    """promotion.json bytes, bounded, parsed and validated; ``name``: the name its ref
    has, which the record must carry too (a record cannot claim another name)."""
    from . import bounds
    from .checkout import check_path
    from .errors import PathError
    from .terminal import warning_text

    bounds.check_size(RECORD_FILE, len(raw), MAX_BYTES)
    data = bounds.load_json(raw, RECORD_FILE)
    if isinstance(data, dict) and isinstance(data.get("schema"), int) and data["schema"] > SCHEMA_VERSION:
        raise RecordError(f"promotion record schema {data['schema']} is newer than this gitruns understands "
                          f"({SCHEMA_VERSION}); upgrade gitruns")
    errors = sorted(validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "the top"
        raise RecordError(f"invalid promotion record at {where}: {warning_text(errors[0].message, 200)}")
    problem = name_problem(data["name"])
    if problem is not None:
        raise RecordError(f"invalid promotion record: bad name ({problem})")
    if name is not None and data["name"] != name:
        raise RecordError("invalid promotion record: it names another promotion than its ref")
    try:
        check_path(data["artifact"]["path"])
    except PathError as exc:
        raise RecordError(f"invalid promotion record: {exc}") from None
    promotion: Promotion = data
    return promotion


def read_untrusted(git: Any, commit_id: str, name: str | None = None) -> Promotion:
    """The promotion record of commit ``commit_id`` (a pygit2.Repository ``git``),
    bounded and validated; RecordError says why not."""
    import pygit2

    try:
        commit = git[pygit2.Oid(hex=commit_id)].peel(pygit2.Commit)
        entry = commit.peel(pygit2.Tree)[RECORD_DIR]
        if entry.type_str != "tree":
            raise KeyError(RECORD_DIR)
        blob_entry = git[entry.id].peel(pygit2.Tree)[RECORD_FILE]
        if blob_entry.type_str != "blob":
            raise RecordError(f"{RECORD_DIR}/{RECORD_FILE} of commit {commit_id[:12]} is not a file")
        _kind, size = git.odb.read_header(blob_entry.id)
    except (KeyError, ValueError):
        raise RecordError(f"commit {commit_id[:12]} holds no {RECORD_DIR}/{RECORD_FILE}") from None
    except pygit2.GitError as exc:
        raise RecordError(f"cannot read promotion commit {commit_id[:12]}: {exc}") from None
    from . import bounds

    bounds.check_size(RECORD_FILE, size, MAX_BYTES)
    data = parse(bytes(git[blob_entry.id].peel(pygit2.Blob).data), name)
    problem = consistency_problem(git, data, [str(p) for p in commit.parent_ids])
    if problem is not None:
        raise RecordError(f"invalid promotion record: {problem}")
    return data


def consistency_problem(git: Any, data: Promotion, parents: list[str]) -> str | None:
    """Why a promotion record does not hold together, or None: its run commit must be a
    parent of the promotion commit (so it travels with it), that commit must record the
    run it names, and that run's record (validated) must have the artifact at that path
    with that digest.  A record can claim anything; only what its run recorded counts."""
    from .recordread import read_untrusted as read_run
    from .terminal import safe

    run_commit = data["run_commit"]
    if run_commit not in parents:
        return f"it names run commit {run_commit[:12]}, which is not a parent of the promotion commit"
    try:
        rec: dict[str, Any] = dict(read_run(git, run_commit, data["run"]))
    except (RecordError, KeyError, ValueError) as exc:
        return f"the promoted run's record is refused: {' '.join(str(exc).split())[:300]}"
    if rec.get("id") != data["run"]:
        return "the promoted run's commit records another run"
    art = data["artifact"]
    entries = [a for a in rec.get("artifacts") or [] if isinstance(a, dict)]
    entries += [o for s in rec.get("steps") or [] if isinstance(s, dict)
                for o in s.get("outputs") or [] if isinstance(o, dict)]
    if not any(e.get("path") == art["path"] and e.get("digest") == art["digest"] for e in entries):
        return f"run {data['run'][:12]} has no artifact {safe(art['path'])} with digest {art['digest']}"
    return None


def scan(git: Any) -> dict[str, str]:
    """Every local promotion: name -> commit id."""
    out: dict[str, str] = {}
    for ref in git.references.iterator():
        if ref.name.startswith(REF_PREFIX):
            name = ref.name[len(REF_PREFIX):]
            if name_problem(name) is None:
                out[name] = str(ref.target)
    return out
