"""``git run show`` and ``git run log``: one run, for people."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import bounds, recordread, timeutil
from .errors import RecordError
from .lookup import Run
from .progress import human_size
from .repo import Repo
from .table import number
from .terminal import command_text, safe

if TYPE_CHECKING:
    from . import reading


def read_config(repo: Repo, run: Run) -> tuple[Any, bytes | None]:
    """(the run's effective config, its raw YAML), bounded (see bounds); raises
    RecordError when config.yaml is refused."""
    raw = recordread.read_file(repo.git, run.commit, "config.yaml")
    return (bounds.load_yaml(raw) if raw else {}), raw


def read_env(repo: Repo, run: Run) -> Any:
    """The run's env.json, bounded; raises RecordError when it is refused."""
    raw = recordread.read_file(repo.git, run.commit, "env.json")
    return bounds.load_json(raw, "env.json") if raw else {}


def full_json(run: reading.Run) -> dict[str, Any]:
    """What ``git run show --json`` prints: the listing's keys, the config and the environment
    (None, with a warning, when refused)."""
    out = run.to_dict()
    out["config"] = run.config
    out["environment"] = run.env
    return out


def _code_line(code: Mapping[str, Any]) -> str:
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


def human(run: reading.Run) -> str:
    """The run for people.  Every value from the record goes through safe(): one
    line each, no control characters or escape sequences (the record may come
    from anyone who can push)."""
    rec = run.record
    lines = [f"run {run.id}" + (f"  ({safe(rec['name'])})" if rec.get("name") else "")]

    def add(label: str, value: Any) -> None:
        lines.append(f"{label + ':':<12}{safe(value)}")

    def more(text: str) -> None:
        lines.append(f"{'':12}{safe(text)}")

    status = run.status
    if rec.get("exit_code") is not None:
        status += f" (exit {rec['exit_code']}" + (f", {rec['signal']}" if rec.get("signal") else "") + ")"
    add("status", status)
    add("command", command_text(rec.get("command") or []))
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
        more(f"{change['status']} {change['path']}")
    for path in (code.get("untracked_files") or [])[:20]:
        more(f"? {path}")
    for big in code.get("untracked_large") or []:
        more(f"? {big['path']} ({human_size(big['size'])}, not stored, {big['digest']})")
    for sub in code.get("submodules") or []:
        more(f"submodule {sub['path']} at {str(sub['commit'])[:12]}" + (" (dirty)" if sub.get("dirty") else ""))
    if rec.get("tags"):
        add("tags", " ".join(f"{k}={v}" for k, v in rec["tags"].items()))
    if error := rec.get("error"):
        add("error", error.get("message"))
    try:
        raw_cfg = run.config_yaml()
    except RecordError as exc:
        add("config", f"({exc})")
        raw_cfg = None
    if raw_cfg and raw_cfg.strip() not in (b"{}", b""):
        lines.append("config:")
        lines.extend(f"  {safe(line)}" for line in raw_cfg.decode(errors="replace").rstrip().splitlines())
    if rec.get("metrics"):
        lines.append("metrics:")
        lines.extend(f"  {safe(k)}: {safe(number(v))}" for k, v in rec["metrics"].items())
    if rec.get("inputs"):
        lines.append("inputs:")
        for item in rec["inputs"]:
            lines.append(safe(f"  {item['path']}  {item['kind']}, {human_size(item['size'])}  {item['digest']}"))
    if rec.get("artifacts"):
        lines.append("artifacts:")
        for art in rec["artifacts"]:
            if art.get("status") == "stored":
                lines.append(safe(f"  {art['path']}  {art['kind']}, {human_size(art['size'] or 0)}  "
                                  f"{art['digest']}"))
            else:
                lines.append(safe(f"  {art['path']}  {art.get('status')}"))
    logs = rec.get("logs") or {}
    if logs:
        add("logs", ", ".join(
            f"{k} {human_size(v.get('size') or 0)}" + (" (truncated in git)" if v.get("truncated") else "")
            for k, v in logs.items()))
    return "\n".join(lines) + "\n"
