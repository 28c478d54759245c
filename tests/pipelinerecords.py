"""Pipeline runs written as the engine writes them, for the read verbs' tests.

``pipeline_run(repo, steps)`` writes, in a real repository (conftest.make_repo),
one run of kind "pipeline" through ``gitruns.runrefs.write`` in this process: a
launch commit with every step ``pending``, then a commit per step start and end
on the run's ref, then the final record, each validated against
gitruns/schema/run.schema.json.  Each step's stdout and stderr are
``.gitruns/steps/<name>/stdout.log`` and ``stderr.log``.  The read verbs are then
driven through the real ``git run`` executable.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from conftest import validate

BASE = dt.datetime(2026, 11, 24, 4, 0, 0, tzinfo=dt.timezone.utc)


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _log(data: bytes, truncated: bool = False, digest: str | None = None) -> dict[str, Any]:
    from gitruns.hashing import digest_bytes

    return {"size": len(data), "digest": digest or digest_bytes(data), "truncated": truncated}


def step(name: str, status: str, needs: list[str] | None = None, duration: float = 1.0,
         attempts: int = 1, metrics: dict[str, Any] | None = None, error: str | None = None,
         cached_from: tuple[str, str] | None = None, stdout: bytes = b"", stderr: bytes = b"",
         command: str | None = None, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a test says about one step; ``pipeline_run`` makes the full step record of it."""
    return {"name": name, "status": status, "needs": list(needs or []), "duration": duration,
            "attempts": attempts, "metrics": dict(metrics or {}), "error": error, "cached_from": cached_from,
            "stdout": stdout, "stderr": stderr, "command": command if command is not None else f"echo {name}",
            "outputs": list(outputs or [])}


def _step_record(spec: dict[str, Any], status: str, start: dt.datetime | None, final: bool) -> dict[str, Any]:
    ran = status in ("succeeded", "failed", "canceled", "running")
    attempts = []
    if ran and start is not None:
        when = start
        count = spec["attempts"] if final else 1
        each = spec["duration"] / max(1, count)
        for n in range(1, count + 1):
            last = n == count
            ok = status == "succeeded" or not last
            attempts.append({
                "number": n, "started_at": _iso(when),
                "ended_at": _iso(when + dt.timedelta(seconds=each)) if final else None,
                "duration_s": round(each, 3) if final else None,
                "exit_code": (0 if last and status == "succeeded" else 1) if final else None,
                "signal": "SIGINT" if final and last and status == "canceled" else None,
                "error": None if ok or not final else {"type": "exit", "message": spec["error"] or "exit 1"},
            })
            when += dt.timedelta(seconds=each)
            if not final:
                break
    error = None
    if final and status in ("failed", "skipped", "canceled") and spec["error"]:
        error = {"type": {"failed": "exit", "skipped": "skipped", "canceled": "canceled"}[status],
                 "message": spec["error"]}
    timed = final and status in ("succeeded", "failed", "canceled", "cached")
    rec: dict[str, Any] = {
        "name": spec["name"], "status": status, "command": spec["command"], "needs": spec["needs"],
        "wdir": ".", "params": {}, "inputs": [], "outputs": spec["outputs"] if final else [],
        "metrics": spec["metrics"] if final else {}, "attempts": attempts,
        "started_at": _iso(start) if start is not None and status != "pending" else None,
        "ended_at": _iso(start + dt.timedelta(seconds=spec["duration"])) if timed and start else None,
        "duration_s": spec["duration"] if timed else None,
        "cache_key": _log(f"{spec['name']}:{spec['command']}".encode())["digest"],
        "cached_from": ({"run": spec["cached_from"][0], "step": spec["cached_from"][1]}
                        if final and status == "cached" and spec["cached_from"] else None),
        "logs": ({"stdout": _log(spec["stdout"]), "stderr": _log(spec["stderr"])}
                 if final and status in ("succeeded", "failed", "canceled") else {}),
        "error": error,
        "retries": max(0, spec["attempts"] - 1),
    }
    return rec


def pipeline_run(repo: Path, steps: list[dict[str, Any]], *, name: str | None = None,
                 file: str = "gitruns.yaml", status: str | None = None, run_id: str | None = None,
                 started: dt.datetime = BASE, record_edit: Any = None,
                 extra_files: dict[str, bytes] | None = None) -> str:
    """Write a pipeline run with ``steps`` (made by :func:`step`) and return its id.

    ``record_edit(rec)`` may change the final record before it is written (for
    hostile records); the final record is still validated against the schema."""
    from gitruns import record as rec_mod
    from gitruns import runid, runrefs
    from gitruns.repo import open_at

    r = open_at(str(repo))
    head = r.git.head.peel()
    code_tree = str(head.tree.id)
    rid = run_id or runid.new_id(int(started.timestamp() * 1000))
    rec: dict[str, Any] = dict(rec_mod.new(rid))
    rec.update(
        kind="pipeline", name=name, command=["git", "run", "pipeline", "-f", file], cwd=".",
        started_at=_iso(started), user="ada", host="test-host", pid=4242, process=None,
        invoked_by="manual", invocation={},
        code={"commit": str(head.id), "branch": "main", "detached": False, "dirty": False,
              "changed_files": [], "untracked_files": [], "snapshot_tree": code_tree,
              "reproducible_from": None},
        pipeline={"file": file, "format": "gitruns", "digest": None, "targets": [],
                  "jobs": 1, "fail_fast": False, "forced": [], "declared": {}},
        gitruns_version="test",
    )
    specs = {s["name"]: s for s in steps}
    current = {s["name"]: _step_record(s, "pending", None, False) for s in steps}
    rec["steps"] = [current[s["name"]] for s in steps]
    files: dict[str, bytes] = {}

    def commit(previous: str | None, note: str | None) -> str:
        rec["steps"] = [current[s["name"]] for s in steps]
        validate(json.loads(rec_mod.dumps(rec)))
        return runrefs.write(r, rec, dict(files), code_tree, [str(head.id)] if previous is None else [previous],
                             previous, note)

    oid = commit(None, None)
    clock = started
    for s in steps:
        final_status = s["status"]
        if final_status in ("pending",):
            continue
        if final_status in ("succeeded", "failed", "canceled", "running"):
            current[s["name"]] = _step_record(s, "running", clock, False)
            oid = commit(oid, f"step {s['name']} started")
        if final_status == "running":
            continue
        current[s["name"]] = _step_record(s, final_status, clock, True)
        if final_status in ("succeeded", "failed", "canceled"):
            files[f"steps/{s['name']}/stdout.log"] = s["stdout"]
            files[f"steps/{s['name']}/stderr.log"] = s["stderr"]
        oid = commit(oid, f"step {s['name']} {final_status}")
        clock += dt.timedelta(seconds=s["duration"])
    statuses = [s["status"] for s in steps]
    if status is None:
        status = ("running" if any(x in ("running", "pending") for x in statuses) else
                  "canceled" if "canceled" in statuses else "failed" if "failed" in statuses else "succeeded")
    rec["status"] = status
    if status != "running":
        rec["ended_at"] = _iso(clock)
        rec["duration_s"] = round((clock - started).total_seconds(), 3)
        rec["exit_code"] = 0 if status == "succeeded" else 1
    rec["metrics"] = {f"{s['name']}.{k}": v for s in steps for k, v in s["metrics"].items()}
    failed = [s["name"] for s in steps if s["status"] == "failed"]
    if failed:
        rec["error"] = {"type": "step", "message": f"step {failed[0]} failed: {specs[failed[0]]['error']}",
                        "step": failed[0]}
    files.update(extra_files or {})
    if record_edit is not None:
        rec["steps"] = [current[s["name"]] for s in steps]
        edited = copy.deepcopy(rec)
        record_edit(edited)
        rec.clear()
        rec.update(edited)
        validate(json.loads(rec_mod.dumps(rec)))
        runrefs.write(r, rec, dict(files), code_tree, [oid], oid, None)
        return rid
    if status != "running":
        commit(oid, None)
    return rid


FOUR = [
    step("prepare", "succeeded", duration=1.5, metrics={"rows": 100}, stdout=b"prepared 100 rows\n"),
    step("train", "failed", ["prepare"], duration=3.25, attempts=3, error="exit 1: loss went to nan",
         stderr=b"Traceback: loss is nan\n"),
    step("evaluate", "skipped", ["train", "features"], duration=0, error="needs train, which failed"),
    step("features", "cached", ["prepare"], duration=0.01, cached_from=("01jd3kx5q7e8r9s0t1v2w3x4y5", "features")),
]
