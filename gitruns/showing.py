"""``git run show`` and ``git run log``: one run, for people."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def _plain(text: str, slot: str) -> str:
    return text


Paint = Callable[[str, str], str]  # colour.paint: (safe text, slot) -> text


def pipeline_text(pipe: Mapping[str, Any]) -> str:
    """"gitruns.yaml (gitruns), targets: evaluate, -j 2": where a pipeline run's steps came from."""
    text = str(pipe.get("file") or "(defined in Python)")
    if pipe.get("format"):
        text += f" ({pipe['format']})"
    targets = pipe.get("targets") if isinstance(pipe.get("targets"), list) else []
    text += ", targets: " + (" ".join(str(t) for t in targets) if targets else "all")
    if isinstance(pipe.get("jobs"), int) and pipe["jobs"] > 1:
        text += f", -j {pipe['jobs']}"
    if pipe.get("fail_fast"):
        text += ", --fail-fast"
    forced = pipe.get("forced") if isinstance(pipe.get("forced"), list) else []
    if forced:
        text += ", forced: " + " ".join(str(f) for f in forced)
    return text


def human(run: reading.Run, paint: Paint = _plain, unicode: bool = False,
          dependents: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The run for people.  Every value from the record goes through safe(): one
    line each, no control characters or escape sequences (the record may come
    from anyone who can push).  ``paint`` colours the step statuses (already
    safe); ``unicode`` draws the step graph with box-drawing characters."""
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
    if isinstance(retired := rec.get("retired"), Mapping):
        add("retired", retired_text(retired))
        if retired.get("superseded_by"):
            more(f"superseded by {retired['superseded_by']}")
        for line in dependents_lines(dependents or []):
            more(line)
    add("command", command_text(rec.get("command") or []))
    if isinstance(pipe := rec.get("pipeline"), Mapping):
        add("pipeline", pipeline_text(pipe))
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
    if rec.get("rerun_of"):
        from .diffing import change_text

        rerun: Mapping[str, Any] = rec.get("rerun") or {}
        rerun = rerun if isinstance(rerun, Mapping) else {}
        intended = [c for c in rerun.get("changes") or [] if isinstance(c, Mapping)]
        mode = rerun.get("mode") or "rerun"
        add(str(mode), f"{mode} of {rec['rerun_of']} (group {rec.get('run_group')}): "
                       f"{len(intended)} change{'' if len(intended) == 1 else 's'}")
        for one in intended:
            more(change_text(one))
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
            lines.append(safe(f"  {item['path']}  {item['kind']}, {human_size(item['size'])}  {item['digest']}  "
                              f"{input_state(item)}"))
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
    steps = [s for s in rec.get("steps") or [] if isinstance(s, dict)]
    if steps:
        lines.append(f"steps:      {safe(step_counts(steps))}")
        lines.extend("  " + line for line in step_graph(steps, paint, unicode))
    return "\n".join(lines) + "\n"


def dependents_lines(dependents: Sequence[Mapping[str, Any]]) -> list[str]:
    """What depended on a retired run or promotion (lineage.dependents), a line each
    (not yet made safe): "depended on by run 01jd3k8x (report, succeeded) via model.pt"."""
    if not dependents:
        return ["nothing here depended on it"]
    out = [f"{len(dependents)} depended on it:"]
    for dep in dependents:
        if dep.get("kind") == "promotion":
            out.append(f"  promotion {dep.get('id')}" + (f" of {dep.get('path')}" if dep.get("path") else ""))
            continue
        what = ", ".join(str(x) for x in (dep.get("name"), dep.get("status")) if x)
        out.append(f"  run {str(dep.get('id'))[:12]}" + (f" ({what})" if what else "")
                   + (" retired" if dep.get("retired") else "")
                   + (f" via {dep.get('path')}" if dep.get("path") else ""))
    return out


def retired_text(retired: Mapping[str, Any]) -> str:
    """``<when> by <who>: <reason>`` of a record's ``retired`` (not yet made safe)."""
    return f"{timeutil.human_local(retired.get('at'))} by {retired.get('by')}: {retired.get('reason')}"


def input_state(item: Mapping[str, Any]) -> str:
    """Whether an input can be had back: ``tracked`` (git has it, in the run's code),
    ``kept`` (a copy in the artifact cache), or ``not kept`` with the reason when
    the record gives one (records before schema 4 never kept inputs)."""
    if item.get("tracked") is True:
        return "tracked"
    if item.get("kept") is True:
        return "kept"
    why = item.get("not_kept")
    return f"not kept ({why})" if isinstance(why, str) and why else "not kept"


# -- a pipeline run's steps ---------------------------------------------------------
#
# A tree reads best for the 3-20 steps of a usual pipeline: each step hangs under
# the latest step it needs (in the run's order, so prepare -> train -> evaluate
# reads as a chain), and names the further ones ("also needs X"); a step
# needing nothing is a root.  Statuses line up in one column after the names.

_BOX = {"mid": "├── ", "last": "└── ", "bar": "│   ", "gap": "    "}
_ASCII = {"mid": "|-- ", "last": "`-- ", "bar": "|   ", "gap": "    "}
STDERR_LINES = 3  # of a failed step's stderr, under its error line
_NAME_COLUMN_MOST = 40  # a long name does not push every other status to the right
_STATUS_WIDTH = max(len(s) for s in ("succeeded", "canceled", "pending"))


def step_counts(steps: Sequence[Mapping[str, Any]]) -> str:
    """"4 (1 succeeded, 1 failed, 1 cached, 1 skipped)": how many steps, by status."""
    from .record import STEP_STATUSES

    counts: dict[str, int] = {}
    for s in steps:
        status = str(s.get("status"))
        counts[status] = counts.get(status, 0) + 1
    order = [*STEP_STATUSES, *sorted(k for k in counts if k not in STEP_STATUSES)]
    return f"{len(steps)} (" + ", ".join(f"{counts[k]} {k}" for k in order if k in counts) + ")"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parents(steps: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """Each step's parent in the tree: the latest step it needs (by index), if any."""
    index: dict[str, int] = {}
    for i, s in enumerate(steps):
        index.setdefault(str(s.get("name")), i)
    out: list[int | None] = []
    for i, s in enumerate(steps):
        found = [index[str(n)] for n in _list(s.get("needs")) if str(n) in index and index[str(n)] != i]
        out.append(max(found) if found else None)
    return out


def _tree_order(steps: Sequence[Mapping[str, Any]]) -> list[tuple[int, int, list[bool]]]:
    """(step index, parent index or -1, the is-last flags of its ancestors and itself)
    in drawing order.  Iterative, and every step drawn once, whatever the record holds
    (a crafted record may have cycles: a step no root reaches is drawn as a root)."""
    parents = _parents(steps)
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parents):
        if p is not None:
            children.setdefault(p, []).append(i)
    drawn: set[int] = set()
    out: list[tuple[int, int, list[bool]]] = []
    starts = [i for i, p in enumerate(parents) if p is None] + list(range(len(steps)))
    for start in starts:
        if start in drawn:
            continue
        stack: list[tuple[int, int, list[bool]]] = [(start, -1, [])]
        while stack:
            i, parent, flags = stack.pop()
            if i in drawn:
                continue
            drawn.add(i)
            out.append((i, parent, flags))
            kids = [k for k in children.get(i, []) if k not in drawn]
            for n, k in reversed(list(enumerate(kids))):
                stack.append((k, i, [*flags, n == len(kids) - 1]))
    return out


def _step_details(s: Mapping[str, Any], parent_name: str | None) -> tuple[str, list[str]]:
    """The rest of a step's line after its status, and the lines under it (both safe)."""
    status = str(s.get("status"))
    parts: list[str] = []
    if status not in ("pending", "skipped") and s.get("duration_s") is not None:
        value = s.get("duration_s")
        parts.append(timeutil.human_duration(value) if isinstance(value, (int, float)) else safe(value))
    attempts = _list(s.get("attempts"))
    if len(attempts) > 1:
        parts.append(f"{len(attempts)} attempts")
    cached = s.get("cached_from")
    if status == "cached" and isinstance(cached, Mapping):
        parts.append(f"cached from {safe(str(cached.get('run'))[:12])}/{safe(cached.get('step'))}")
    error = s.get("error") if isinstance(s.get("error"), Mapping) else None
    message = safe(error.get("message")) if error and error.get("message") is not None else None
    if status == "skipped":
        parts.append(message or "a step it needs did not succeed")
    needs = [str(n) for n in _list(s.get("needs"))]
    others = [n for n in needs if n != parent_name]
    if others:
        also = "also needs " if parent_name is not None else "needs "
        parts.append("(" + also + ", ".join(safe(n) for n in others) + ")")
    below = [f"error: {message}"] if message and status in ("failed", "canceled") else []
    tail = error.get("stderr_tail") if error and status == "failed" else None
    if below and isinstance(tail, str):
        # Why it failed, in the step's own words: the last lines it printed on stderr.
        lines = [safe(line) for line in tail.splitlines() if line.strip()][-STDERR_LINES:]
        below += [("stderr: " if n == 0 else "        ") + line for n, line in enumerate(lines)]
    return "  ".join(parts), below


def step_graph(steps: Sequence[Mapping[str, Any]], paint: Paint = _plain, unicode: bool = False) -> list[str]:
    """The step tree, one line a step (and one for a failed step's error): names
    safe, statuses painted by ``paint``, box-drawing with ``unicode`` else ASCII."""
    from .table import width

    glyphs = _BOX if unicode else _ASCII
    order = _tree_order(steps)
    with_children = {p for _, p, _ in order}
    heads: list[str] = []
    below_prefix: list[str] = []
    for i, _parent, flags in order:
        lead = "".join(glyphs["gap"] if last else glyphs["bar"] for last in flags[:-1])
        has_children = i in with_children
        if flags:
            heads.append(lead + glyphs["last" if flags[-1] else "mid"])
            below_prefix.append(lead + (glyphs["gap"] if flags[-1] else glyphs["bar"]))
        else:
            heads.append("")
            below_prefix.append("")
        below_prefix[-1] += glyphs["bar"] if has_children else glyphs["gap"]
    names = [safe(steps[i].get("name")) for i, _, _ in order]
    column = min(_NAME_COLUMN_MOST, max((width(h) + width(n) for h, n in zip(heads, names, strict=True)),
                                        default=0))
    lines: list[str] = []
    for (i, parent, _flags), head, name, under in zip(order, heads, names, below_prefix, strict=True):
        s = steps[i]
        status = safe(s.get("status"))
        rest, below = _step_details(s, str(steps[parent].get("name")) if parent >= 0 else None)
        pad = " " * max(0, column - width(head) - width(name))
        status_pad = " " * max(0, _STATUS_WIDTH - width(status))
        line = f"{head}{name}{pad}  {paint(status, status)}"
        line = (line + status_pad + "  " + rest) if rest else line
        lines.append(line.rstrip(" "))
        lines.extend(f"{under}{text}" for text in below)
    return lines
