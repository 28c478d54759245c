"""``git run show`` and ``git run log``: one run, for people."""
from __future__ import annotations

import json
from typing import Any

import yaml

from . import store, timeutil
from .cache import ArtifactCache
from .progress import human_size
from .repo import Repo
from .store import Run
from .table import number


def full_json(repo: Repo, run: Run) -> dict[str, Any]:
    from .listing import as_json

    out = as_json(run)
    raw_cfg = store.read_file(repo.git, run.commit, "config.yaml")
    raw_env = store.read_file(repo.git, run.commit, "env.json")
    out["config"] = yaml.safe_load(raw_cfg) if raw_cfg else {}
    out["environment"] = json.loads(raw_env) if raw_env else {}
    return out


def _code_line(code: dict[str, Any]) -> str:
    commit = (code.get("commit") or "")[:12] or "(no commits yet)"
    where = code.get("branch") or ("detached HEAD" if code.get("detached") else "-")
    if code.get("reproducible_from"):
        return (f"code = commit {code['reproducible_from'][:12]} (committed after the run, which was "
                f"launched from uncommitted changes on {commit}, {where})")
    if not code.get("dirty"):
        return f"code = commit {commit} ({where}), clean"
    n_changed = len(code.get("changed_files") or [])
    n_untracked = len(code.get("untracked_files") or []) + len(code.get("untracked_large") or [])
    return (f"dirty snapshot on {commit} ({where}): {n_changed} changed, {n_untracked} untracked; "
            f"snapshot tree {str(code.get('snapshot_tree'))[:12]}")


def human(repo: Repo, run: Run) -> str:
    rec = run.record
    lines = [f"run {run.id}" + (f"  ({rec['name']})" if rec.get("name") else "")]

    def add(label: str, value: Any) -> None:
        lines.append(f"{label + ':':<12}{value}")

    status = run.status
    if rec.get("exit_code") is not None:
        status += f" (exit {rec['exit_code']}" + (f", {rec['signal']}" if rec.get("signal") else "") + ")"
    add("status", status)
    add("command", " ".join(rec.get("command") or []))
    add("cwd", rec.get("cwd") or ".")
    add("started", f"{timeutil.human_local(rec.get('started_at'))}  ({rec.get('started_at')})")
    if rec.get("ended_at"):
        add("ended", f"{timeutil.human_local(rec.get('ended_at'))}  "
                     f"after {timeutil.human_duration(rec.get('duration_s'))}")
    add("by", f"{rec.get('user')}@{rec.get('host')} pid {rec.get('pid')}, {rec.get('invoked_by')}"
        + "".join(f" {k}={v}" for k, v in (rec.get("invocation") or {}).items()))
    code = rec.get("code") or {}
    add("code", _code_line(code))
    for change in (code.get("changed_files") or [])[:20]:
        lines.append(f"{'':12}{change['status']} {change['path']}")
    for path in (code.get("untracked_files") or [])[:20]:
        lines.append(f"{'':12}? {path}")
    for big in code.get("untracked_large") or []:
        lines.append(f"{'':12}? {big['path']} ({human_size(big['size'])}, not stored, {big['digest']})")
    for sub in code.get("submodules") or []:
        lines.append(f"{'':12}submodule {sub['path']} at {str(sub['commit'])[:12]}"
                     + (" (dirty)" if sub.get("dirty") else ""))
    if rec.get("tags"):
        add("tags", " ".join(f"{k}={v}" for k, v in rec["tags"].items()))
    if rec.get("error"):
        add("error", rec["error"].get("message"))
    raw_cfg = store.read_file(repo.git, run.commit, "config.yaml")
    if raw_cfg and raw_cfg.strip() not in (b"{}", b""):
        lines.append("config:")
        lines.extend(f"  {line}" for line in raw_cfg.decode(errors="replace").rstrip().splitlines())
    if rec.get("metrics"):
        lines.append("metrics:")
        lines.extend(f"  {k}: {number(v)}" for k, v in rec["metrics"].items())
    if rec.get("inputs"):
        lines.append("inputs:")
        for item in rec["inputs"]:
            lines.append(f"  {item['path']}  {item['kind']}, {human_size(item['size'])}  {item['digest']}")
    if rec.get("artifacts"):
        lines.append("artifacts:")
        for item in rec["artifacts"]:
            if item.get("status") == "stored":
                lines.append(f"  {item['path']}  {item['kind']}, {human_size(item['size'])}  {item['digest']}")
            else:
                lines.append(f"  {item['path']}  {item.get('status')}")
    logs = rec.get("logs") or {}
    if logs:
        lines.append("logs:       " + ", ".join(
            f"{k} {human_size(v.get('size') or 0)}" + (" (truncated in git)" if v.get("truncated") else "")
            for k, v in logs.items()))
    return "\n".join(lines) + "\n"


def log_bytes(repo: Repo, run: Run, stream: str, cache: ArtifactCache) -> bytes:
    """A captured stream, whole, in memory (``git run log`` streams it with ``logs.chunks``)."""
    from .logs import chunks

    return b"".join(chunks(repo, run, stream, cache))
