"""``git run lineage TARGET``: an indented tree of what it came from or what used it."""
from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from ..lineagegraph import Lineage, short
from ..lineagegraph import lineage as lineage_of
from ..terminal import json_text, safe

MAX_INDENT = 24  # deeper levels are numbered rather than indented further


def lineage(target: str, direction: str, depth: int | None, as_json: bool) -> int:
    """Print the lineage of ``target``; 1 when no run produced or used it."""
    graph = lineage_of(target, direction, depth)
    if as_json:
        sys.stdout.write(json_text(json.dumps(graph.to_dict(), indent=2, ensure_ascii=False)) + "\n")
        return 0
    sys.stdout.write("".join(line + "\n" for line in render(graph)))
    if not graph.runs() and not graph.promotions() and graph.root.startswith("data:"):
        sys.stderr.write(f"no run {'produced' if direction == 'upstream' else 'used'} it\n")
        return 1
    return 0


def _run_text(node: Mapping[str, Any]) -> str:
    parts = [f"run {safe(node['run'][:12])}", safe(node.get("name") or "-"), safe(node.get("status") or "?")]
    retired = node.get("retired")
    if retired:
        why = retired.get("reason") if isinstance(retired, Mapping) else None
        parts.append("retired" + (f": {safe(why)}" if why else ""))
        if isinstance(retired, Mapping) and retired.get("superseded_by"):
            parts.append(f"superseded by {safe(str(retired['superseded_by'])[:12])}")
    if node.get("missing"):
        parts.append("(not among the runs here: not fetched, or deleted)")
    if node.get("source"):
        parts.append(f"(from {safe(node['source'])})")
    return "  ".join(parts)


def _text(graph: Lineage, node: Mapping[str, Any], edge: Mapping[str, Any] | None) -> str:
    kind = node["type"]
    path = safe(edge["path"]) if edge is not None and edge.get("path") else None
    step = f" (step {safe(edge['step'])})" if edge is not None and edge.get("step") else ""
    if kind == "run":
        text = _run_text(node)
        if edge is None:
            return text
        if edge["type"] == "consumed":
            return f"used by {text}  as {path}{step}"
        return f"produced by {text}  as {path}{step}"
    if kind == "data":
        if edge is None:
            where = f"{safe(node['path'])}@" if node.get("path") else "data "
            return f"{where}{short(node['digest'])}"
        role = "artifact" if edge["type"] == "produced" else "input"
        return f"{role} {path}{step}  {short(node['digest'])}"
    if kind == "code":
        extra = ", ".join(x for x in (safe(node.get("branch") or ""), "dirty" if edge and edge.get("path") else "")
                          if x)
        return f"code {safe(node['commit'][:12])}" + (f" ({extra})" if extra else "")
    if kind == "promotion":
        return f"promoted as {safe(node['name'])}" + ("  retired" if node.get("retired") else "")
    return safe(node["id"])


def render(graph: Lineage) -> list[str]:
    """The graph as an indented tree from its root; a node met again is not expanded
    a second time ("see above")."""
    down = graph.direction == "downstream"
    children: dict[str, list[dict[str, Any]]] = {}
    for edge in graph.edges:
        children.setdefault(edge["from"] if down else edge["to"], []).append(edge)
    lines: list[str] = []
    expanded: set[str] = set()
    stack: list[tuple[str, dict[str, Any] | None, int]] = [(graph.root, None, 0)]
    while stack:
        node_id, parent_edge, level = stack.pop()
        node = graph.nodes[node_id]
        indent = "  " * min(level, MAX_INDENT) + (f"[{level}] " if level > MAX_INDENT else "")
        text = _text(graph, node, parent_edge)
        below = children.get(node_id, [])
        if node_id in expanded and below:
            lines.append(f"{indent}{text}  (see above)")
            continue
        expanded.add(node_id)
        lines.append(indent + text)
        for child in reversed(below):  # children in edge order
            stack.append((child["to"] if down else child["from"], child, level + 1))
    return lines
