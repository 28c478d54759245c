"""``git run diff A B``: what differs between two runs."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pygit2

from . import promisor, record
from .errors import RecordError
from .lookup import Run
from .repo import Repo
from .runrefs import RECORD_DIR
from .table import number
from .terminal import command_text, safe
from .userconfig import flatten


def _mapping_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: b[k] for k in sorted(b) if k not in a},
        "removed": {k: a[k] for k in sorted(a) if k not in b},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(a) if k in b and a[k] != b[k]},
    }


def _config(repo: Repo, run: Run) -> dict[str, Any]:
    from .showing import read_config

    try:
        data = read_config(repo, run)[0]
    except RecordError as exc:
        raise RecordError(f"run {run.id}: {exc}") from None
    return flatten(data if isinstance(data, dict) else {})


def _env(repo: Repo, run: Run) -> dict[str, Any]:
    from .showing import read_env

    try:
        data = read_env(repo, run)
    except RecordError as exc:
        raise RecordError(f"run {run.id}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _version_key(v: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for piece in v.replace("-", ".").split("."):
        parts.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return tuple(parts)


def _by_path(items: Any) -> dict[str, Any]:
    return {i["path"]: i.get("digest") for i in items or [] if isinstance(i, dict) and "path" in i}


def _run_tree(repo: Repo, run: Run) -> pygit2.Tree:
    # The run commit's own tree: the code plus .gitruns/.  (The bare code tree,
    # code.snapshot_tree, is not reachable from the ref, so a clone lacks it.)
    return repo.git[pygit2.Oid(hex=run.commit)].peel(pygit2.Tree)


def compare(repo: Repo, a: Run, b: Run, patch: bool = False) -> dict[str, Any]:
    ra, rb = a.record, b.record
    out: dict[str, Any] = {"a": a.id, "b": b.id}
    out["run"] = {k: {"a": ra.get(k), "b": rb.get(k)} for k in ("name", "command", "cwd", "exit_code")
                  if ra.get(k) != rb.get(k)}
    if a.status != b.status:
        out["run"]["status"] = {"a": a.status, "b": b.status}
    out["config"] = _mapping_diff(_config(repo, a), _config(repo, b))
    ma, mb = ra.get("metrics") or {}, rb.get("metrics") or {}
    metrics = {}
    for name in sorted(set(ma) | set(mb)):
        va, vb = ma.get(name), mb.get(name)
        delta = None
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and not isinstance(va, bool):
            delta = vb - va
        if va != vb:
            metrics[name] = {"a": va, "b": vb, "delta": delta}
    out["metrics"] = metrics
    diff = _run_tree(repo, a).diff_to_tree(_run_tree(repo, b))
    # Rename detection and patches read the changed blobs; a partial clone
    # fetches those it lacks in one go (as `git diff` does), not one by one.
    promisor.prefetch(repo.git, [str(f.id) for d in diff.deltas for f in (d.old_file, d.new_file)])
    diff.find_similar()
    code_patches = [p for p in diff if p is not None and not p.delta.new_file.path.startswith(RECORD_DIR + "/")
                    and not p.delta.old_file.path.startswith(RECORD_DIR + "/")]
    out["code"] = {
        "a": ra["code"].get("snapshot_tree"), "b": rb["code"].get("snapshot_tree"),
        "files": [{"status": p.delta.status_char(), "path": p.delta.new_file.path,
                   **({"old_path": p.delta.old_file.path}
                      if p.delta.old_file.path != p.delta.new_file.path else {})}
                  for p in code_patches],
    }
    if patch:
        out["code"]["patch"] = "".join(p.text or "" for p in code_patches)
    out["inputs"] = _mapping_diff(_by_path(ra.get("inputs")), _by_path(rb.get("inputs")))
    out["artifacts"] = _mapping_diff(_by_path(ra.get("artifacts")), _by_path(rb.get("artifacts")))
    ea, eb = _env(repo, a), _env(repo, b)
    pa = ((ea.get("python") or {}).get("packages")) or {}
    pb = ((eb.get("python") or {}).get("packages")) or {}
    pkgs = _mapping_diff(pa, pb)
    upgraded = {k: v for k, v in pkgs["changed"].items() if _version_key(str(v["b"])) > _version_key(str(v["a"]))}
    downgraded = {k: v for k, v in pkgs["changed"].items() if k not in upgraded}
    env: dict[str, Any] = {"packages": {"added": pkgs["added"], "removed": pkgs["removed"],
                                        "upgraded": upgraded, "downgraded": downgraded}}
    facts: dict[str, Callable[[dict[str, Any]], Any]] = {
        "python": lambda e: (e.get("python") or {}).get("version"),
        "python_executable": lambda e: (e.get("python") or {}).get("executable"),
        "os": lambda e: f"{(e.get('os') or {}).get('system')} {(e.get('os') or {}).get('release')}",
        "cpu": lambda e: (e.get("cpu") or {}).get("model"),
        "gpus": lambda e: ", ".join(g.get("name", "?") for g in e.get("gpus") or []) or None,
        "gpu_driver": lambda e: e.get("gpu_driver"),
        "cuda": lambda e: e.get("cuda"),
        "git": lambda e: e.get("git"),
    }
    env["changed"] = {k: {"a": f(ea), "b": f(eb)} for k, f in facts.items() if f(ea) != f(eb)}
    env["variables"] = _mapping_diff(ea.get("env") or {}, eb.get("env") or {})
    out["environment"] = env
    if ra.get("kind") == "pipeline" or rb.get("kind") == "pipeline":
        out["steps"] = compare_steps(ra.get("steps") or [], rb.get("steps") or [])
    out.update(intended(ra, rb))
    return out


INCIDENTAL = ("started_at", "ended_at", "duration_s", "host", "pid", "user")


def intended(ra: Mapping[str, Any], rb: Mapping[str, Any]) -> dict[str, Any]:
    """For two runs of one group (a run and its rerun, two reruns): the changes the
    rerun was asked for ("intended": the rerun's ``rerun.changes``, and which run it
    reran), apart from what differs anyway ("incidental": time, host, pid).  Empty
    for unrelated runs."""
    if record.group_of(ra) != record.group_of(rb):
        return {}
    # The rerun's changes, relative to the run it reran: B's (diff ORIG NEW), or A's when
    # A is the rerun of B or B is no rerun.
    rerun_rec: Mapping[str, Any] | None = None
    if ra.get("rerun_of") == rb.get("id") and isinstance(ra.get("rerun"), Mapping):
        rerun_rec = ra
    elif isinstance(rb.get("rerun"), Mapping):
        rerun_rec = rb
    elif isinstance(ra.get("rerun"), Mapping):
        rerun_rec = ra
    rerun = rerun_rec.get("rerun") if rerun_rec is not None else None
    changes = [c for c in (rerun.get("changes") if isinstance(rerun, Mapping) else None) or []
               if isinstance(c, Mapping)]
    return {
        "intended": {"run": rerun_rec.get("id") if rerun_rec is not None else None,
                     "of": rerun_rec.get("rerun_of") if rerun_rec is not None else None,
                     "changes": [dict(c) for c in changes]},
        "incidental": {k: {"a": ra.get(k), "b": rb.get(k)} for k in INCIDENTAL if ra.get(k) != rb.get(k)},
    }


def change_text(change: Mapping[str, Any]) -> str:
    """One change of a rerun as a line: "param train.lr: 0.1 -> 0.01", "from_step train"."""
    text = f"{change.get('kind')} {change.get('name')}"
    if "from" in change or "to" in change:
        text += f": {change.get('from')} -> {change.get('to')}"
    return text


def _metric_changes(ma: Any, mb: Any) -> dict[str, Any]:
    ma = ma if isinstance(ma, dict) else {}
    mb = mb if isinstance(mb, dict) else {}
    out = {}
    for name in sorted(set(ma) | set(mb)):
        va, vb = ma.get(name), mb.get(name)
        delta = None
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) \
                and not isinstance(va, bool) and not isinstance(vb, bool):
            delta = vb - va
        if va != vb:
            out[name] = {"a": va, "b": vb, "delta": delta}
    return out


def _step_side(s: Any) -> dict[str, Any] | None:
    if not isinstance(s, dict):
        return None
    return {"status": s.get("status"), "duration_s": s.get("duration_s"), "cached_from": s.get("cached_from"),
            "attempts": len(s.get("attempts") or [])}


def compare_steps(a: list[Any], b: list[Any]) -> list[dict[str, Any]]:
    """Step by step, in B's order then the steps only A has: each step's status,
    duration, cache source and attempts in A and in B (None where the run has no such
    step), and its metrics that changed."""
    by_a = {str(s.get("name")): s for s in a if isinstance(s, dict)}
    by_b = {str(s.get("name")): s for s in b if isinstance(s, dict)}
    names = list(by_b) + [n for n in by_a if n not in by_b]
    return [{"name": n, "a": _step_side(by_a.get(n)), "b": _step_side(by_b.get(n)),
             "metrics": _metric_changes((by_a.get(n) or {}).get("metrics"), (by_b.get(n) or {}).get("metrics"))}
            for n in names]


def _mapping_lines(d: dict[str, Any]) -> list[str]:
    lines = [f"  + {k}: {v}" for k, v in d["added"].items()]
    lines += [f"  - {k}: {v}" for k, v in d["removed"].items()]
    lines += [f"  ~ {k}: {c['a']} -> {c['b']}" for k, c in d["changed"].items()]
    return lines


def _side_text(side: dict[str, Any]) -> str:
    from .timeutil import human_duration

    text = str(side.get("status"))
    if side.get("status") not in ("pending", "skipped") and isinstance(side.get("duration_s"), (int, float)):
        text += " " + human_duration(side["duration_s"])
    if isinstance(side.get("attempts"), int) and side["attempts"] > 1:
        text += f" ({side['attempts']} attempts)"
    cached = side.get("cached_from")
    if side.get("status") == "cached" and isinstance(cached, dict):
        text += f" (from {str(cached.get('run'))[:12]}/{cached.get('step')})"
    return text


def _step_lines(steps: list[dict[str, Any]], a: str, b: str) -> list[str]:
    """One line a step: "  train: failed 3.25s -> succeeded 2.90s", "+"/"-" for a step only
    in B/A, then its changed metrics.  The caller makes every line safe."""
    lines = []
    for step in steps:
        name, sa, sb = step["name"], step["a"], step["b"]
        if sa is None:
            lines.append(f"  + {name}: {_side_text(sb)} (only in {b})")
        elif sb is None:
            lines.append(f"  - {name}: {_side_text(sa)} (only in {a})")
        elif _side_text(sa) == _side_text(sb):
            lines.append(f"  {name}: {_side_text(sa)}, in both")
        else:
            lines.append(f"  ~ {name}: {_side_text(sa)} -> {_side_text(sb)}")
        for metric, v in step["metrics"].items():
            lines.append(f"      {metric}: {number(v['a'])} -> {number(v['b'])}"
                         + (f" ({'+' if v['delta'] >= 0 else ''}{number(v['delta'])})"
                            if v["delta"] is not None else ""))
    return lines


def human(result: dict[str, Any], abbrev: dict[str, str]) -> str:
    """The diff for people: every line made safe() (record values cannot forge
    lines or reach the terminal as escape sequences); the patch keeps its
    newlines and tabs but not its control characters."""
    a, b = abbrev.get(result["a"], result["a"]), abbrev.get(result["b"], result["b"])
    lines = [f"diff run {a} -> run {b}"]

    def section(title: str, body: list[str]) -> None:
        lines.append(f"{title}:" + ("" if body else " same"))
        lines.extend(body)

    shown = {"command": command_text}  # a command is shown as it would be typed
    if "intended" in result:
        meant = result["intended"]
        head = "intended"
        if meant.get("run"):
            head += f" (run {abbrev.get(meant['run'], str(meant['run'])[:12])} reran " \
                    f"{abbrev.get(meant['of'], str(meant['of'])[:12])})"
        section(head, [f"  {change_text(c)}" for c in meant["changes"]])
        inc = result["incidental"]
        lines.append("incidental: " + (", ".join(inc) + " differ" if inc else "none"))
    section("run", [f"  ~ {k}: {shown.get(k, str)(v['a'])} -> {shown.get(k, str)(v['b'])}"
                    for k, v in result["run"].items()])
    section("config", _mapping_lines(result["config"]))
    section("metrics", [
        f"  {k}: {number(v['a'])} -> {number(v['b'])}"
        + (f" ({'+' if v['delta'] >= 0 else ''}{number(v['delta'])})" if v["delta"] is not None else "")
        for k, v in result["metrics"].items()
    ])
    code = result["code"]
    section("code", [f"  {f['status']} {f.get('old_path', '') + ' -> ' if 'old_path' in f else ''}{f['path']}"
                     for f in code["files"]])
    section("inputs", _mapping_lines(result["inputs"]))
    section("artifacts", _mapping_lines(result["artifacts"]))
    env = result["environment"]
    pk = env["packages"]
    body = [f"  ~ {k}: {v['a']} -> {v['b']}" for k, v in env["changed"].items()]
    body += [f"  + {k} {v}" for k, v in pk["added"].items()]
    body += [f"  - {k} {v}" for k, v in pk["removed"].items()]
    body += [f"  ^ {k} {v['a']} -> {v['b']}" for k, v in pk["upgraded"].items()]
    body += [f"  v {k} {v['a']} -> {v['b']}" for k, v in pk["downgraded"].items()]
    body += _mapping_lines({kind: {f"${k}": v for k, v in d.items()} for kind, d in env["variables"].items()})
    section("environment", body)
    if "steps" in result:
        lines.append("steps:" + ("" if result["steps"] else " none"))
        lines.extend(_step_lines(result["steps"], a, b))
    text = "\n".join(safe(line) for line in lines) + "\n"
    if code.get("patch"):
        text += "\n" + safe(code["patch"], multiline=True)
    return text
