"""The step graph: which step needs which (from the files and values they read
and write), refused before anything runs when it cannot be run, and the order
the steps of a request run in.

Every refusal is a :class:`~gitruns.errors.UsageError` (exit 2) naming the step.
"""
from __future__ import annotations

import os
from typing import Any

from .. import userconfig
from ..errors import UsageError
from .plan import Plan, StepSpec


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies under it (``data`` and ``data/x.csv``)."""
    if a == b or a == "." or b == ".":
        return True
    return a.startswith(b + "/") or b.startswith(a + "/")


def link(plan: Plan, root: str) -> None:
    """Fill each step's ``needs`` from the plan; refuse two steps writing one
    output, a dep that neither exists under ``root`` nor is written by a step, a
    value no step returns, and cycles."""
    steps = list(plan.steps.values())
    writers: list[tuple[str, StepSpec]] = [(out, s) for s in steps for out in s.outs]
    for i, (out, step) in enumerate(writers):
        for other_out, other in writers[i + 1:]:
            if other is not step and overlaps(out, other_out):
                raise UsageError(f"steps {step.name} and {other.name} both write {min(out, other_out, key=len)}")
    for step in steps:
        needs: list[str] = []
        for dep in step.deps:
            found = [s.name for out, s in writers if overlaps(dep, out)]
            if step.name in found:
                raise UsageError(f"step {step.name}: {dep} is both a dep and an output of the step")
            if not found and not os.path.lexists(os.path.join(root, dep)):
                raise UsageError(f"step {step.name}: dep {dep} does not exist and no step writes it")
            needs.extend(found)
        for arg, (source, name) in step.value_inputs.items():
            if source not in plan.steps:
                raise UsageError(f"step {step.name}: argument {arg} reads {source}.{name}, "
                                 f"but there is no step {source}")
            if name not in plan.steps[source].value_outputs:
                raise UsageError(f"step {step.name}: argument {arg} reads {source}.{name}, "
                                 f"which step {source} does not return")
            needs.append(source)
        step.needs = [name for name in plan.steps if name in needs and name != step.name]
    _refuse_cycles(plan)


def _refuse_cycles(plan: Plan) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for up in plan.steps[name].needs:
            if state.get(up) == 1:
                cycle = path[path.index(up):] + [up]
                raise UsageError(f"steps form a cycle: {' -> '.join(reversed(cycle))}")
            if up not in state:
                visit(up)
        path.pop()
        state[name] = 2

    for name in plan.steps:
        if name not in state:
            visit(name)


def order(plan: Plan, targets: list[str]) -> list[str]:
    """The steps to run for ``targets`` (all when empty) and everything they need,
    each after the steps it needs, otherwise in definition order."""
    unknown = [t for t in targets if t not in plan.steps]
    if unknown:
        known = ", ".join(plan.steps) or "none"
        raise UsageError(f"no step {unknown[0]} in the pipeline (steps: {known})")
    wanted: set[str] = set()
    todo = list(targets or plan.steps)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(plan.steps[name].needs)
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(wanted):
        for name in plan.steps:
            if name in wanted and name not in placed and all(u in placed for u in plan.steps[name].needs):
                done.append(name)
                placed.add(name)
                break
    return done


def downstream(plan: Plan, name: str) -> list[str]:
    """Every step that needs ``name``, directly or through others, in definition order."""
    below: set[str] = set()
    changed = True
    while changed:
        changed = False
        for step in plan.steps.values():
            if step.name not in below and any(u == name or u in below for u in step.needs):
                below.add(step.name)
                changed = True
    return [s for s in plan.steps if s in below]


def check_params(plan: Plan, config: dict[str, Any], names: list[str] | None = None) -> None:
    """Refuse a step whose ``params`` name a key the effective config lacks."""
    for step in plan.steps.values():
        if names is not None and step.name not in names:
            continue
        for key in step.params:
            if userconfig.lookup(config, key) is userconfig.MISSING:
                known = ", ".join(sorted(userconfig.flatten(config))[:10]) or "none"
                raise UsageError(f"step {step.name}: param {key} is not in the config (keys: {known})")


def step_params(step: StepSpec, config: dict[str, Any]) -> dict[str, Any]:
    """The values of a step's params: dotted key -> value."""
    return {key: userconfig.lookup(config, key) for key in step.params}
