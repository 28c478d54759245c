"""What differs between two runs' environments (``.gitruns/env.json``).

Pure logic over two env.json documents as ``environment.EnvironmentCapture``
writes them.  Both come from records, so nothing is assumed of their shape: a
field an older gitruns did not record (package sources, GPUs, ...) is reported
as "not recorded", never as a difference, and never raises.  Package names are
compared as pip compares them (PEP 503: case and ``-_.`` runs folded).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NOT_RECORDED = "not recorded"


def canonical(name: str) -> str:
    """A package name as PEP 503 compares it: ``Foo_Bar`` is ``foo-bar``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class PackageChange:
    name: str
    old: str | None  # the version; None when the package is absent on that side
    new: str | None
    old_source: Any = None  # the PEP 610 source (environment.package_source), when recorded
    new_source: Any = None
    source_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "from": self.old, "to": self.new}
        if self.source_changed:
            out["source"] = {"from": self.old_source, "to": self.new_source}
        return out


@dataclass
class FactChange:
    name: str  # "python", "python_implementation", "os", "cpu", "gpus", "gpu_driver", "cuda"
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "from": self.old, "to": self.new}


@dataclass
class EnvDiff:
    added: list[PackageChange] = field(default_factory=list)
    removed: list[PackageChange] = field(default_factory=list)
    changed: list[PackageChange] = field(default_factory=list)  # version or source
    facts: list[FactChange] = field(default_factory=list)
    not_recorded: list[str] = field(default_factory=list)  # what either side lacks, e.g. "packages (original)"

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "packages": {
                "added": [p.to_dict() for p in self.added],
                "removed": [p.to_dict() for p in self.removed],
                "changed": [p.to_dict() for p in self.changed],
            },
            "changed": [f.to_dict() for f in self.facts],
            "not_recorded": list(self.not_recorded),
        }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _packages(env: dict[str, Any]) -> dict[str, tuple[str, str]] | None:
    """canonical name -> (name as recorded, version); None when not recorded."""
    py = env.get("python")
    if not isinstance(py, dict) or not isinstance(py.get("packages"), dict):
        return None
    out = {}
    for name, version in py["packages"].items():
        if isinstance(name, str) and not name.startswith("<"):  # "<error>": the probe failed
            out[canonical(name)] = (name, str(version))
    return out


def _sources(env: dict[str, Any]) -> dict[str, Any] | None:
    srcs = _dict(env.get("python")).get("package_sources")
    if not isinstance(srcs, dict):
        return None
    return {canonical(k): v for k, v in srcs.items() if isinstance(k, str)}


def _gpus(env: dict[str, Any]) -> Any:
    gpus = env.get("gpus")
    if not isinstance(gpus, list):
        return None
    names = [str(g.get("name", "?")) for g in gpus if isinstance(g, dict)]
    return ", ".join(names) if names else "none"


def _os(env: dict[str, Any]) -> Any:
    o = env.get("os")
    if not isinstance(o, dict):
        return None
    words = [str(o[k]) for k in ("system", "release") if o.get(k)]
    if o.get("distribution"):
        words.append(f"({o['distribution']})")
    return " ".join(words) or None


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


# name -> how to read it; None from a reader means the field is absent.
_FACTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "python": lambda e: _scalar(_dict(e.get("python")).get("version")),
    "python_implementation": lambda e: _scalar(_dict(e.get("python")).get("implementation")),
    "os": _os,
    "cpu": lambda e: _scalar(_dict(e.get("cpu")).get("model")),
    "cpu_count": lambda e: _scalar(_dict(e.get("cpu")).get("count")),
    "gpus": _gpus,
    "gpu_driver": lambda e: _scalar(e.get("gpu_driver")) if "gpu_driver" in e else None,
    "cuda": lambda e: _scalar(e.get("cuda")) if "cuda" in e else None,
}
# Keys whose None value is a real answer ("no GPU driver"), not a missing field.
_NONE_IS_AN_ANSWER = ("gpu_driver", "cuda")


def compare(old_env: Any, new_env: Any) -> EnvDiff:
    """The differences from ``old_env`` (the original run's) to ``new_env``."""
    old, new = _dict(old_env), _dict(new_env)
    out = EnvDiff()
    for name, read in _FACTS.items():
        a, b = read(old), read(new)
        present_a = a is not None or (name in _NONE_IS_AN_ANSWER and name in old)
        present_b = b is not None or (name in _NONE_IS_AN_ANSWER and name in new)
        if not present_a or not present_b:
            out.not_recorded.append(f"{name} ({'original' if not present_a else 'new run'})")
            continue
        if a != b:
            out.facts.append(FactChange(name, a, b))
    pa, pb = _packages(old), _packages(new)
    if pa is None or pb is None:
        out.not_recorded.append(f"packages ({'original' if pa is None else 'new run'})")
        return out
    sa, sb = _sources(old), _sources(new)
    if sa is None or sb is None:
        out.not_recorded.append(f"package sources ({'original' if sa is None else 'new run'})")
    for key in sorted(set(pa) | set(pb)):
        if key not in pa:
            name, version = pb[key]
            out.added.append(PackageChange(name, None, version, None, (sb or {}).get(key)))
        elif key not in pb:
            name, version = pa[key]
            out.removed.append(PackageChange(name, version, None, (sa or {}).get(key), None))
        else:
            name, va = pa[key]
            vb = pb[key][1]
            src_a, src_b = (sa or {}).get(key), (sb or {}).get(key)
            moved = sa is not None and sb is not None and src_a != src_b
            if va != vb or moved:
                out.changed.append(PackageChange(name, va, vb, src_a, src_b, moved))
    return out


def source_text(source: Any) -> str:
    """A package source in a few words: "git URL@commit", "dir PATH (editable)", "archive URL", "index"."""
    if source is None:
        return "index (or unknown)"
    if not isinstance(source, dict):
        return str(source)
    if "vcs" in source:
        commit = str(source.get("commit") or "")[:12]
        return f"{source.get('vcs')} {source.get('url')}" + (f"@{commit}" if commit else "")
    if "dir" in source:
        return f"dir {source.get('dir')}" + (" (editable)" if source.get("editable") else "")
    if "archive" in source:
        return f"archive {source.get('archive')}"
    return "unknown"


def lines(diff: EnvDiff) -> list[str]:
    """The differences for people, one per line (not yet made safe: the caller does)."""
    out = [f"  ~ {f.name}: {f.old} -> {f.new}" for f in diff.facts]
    out += [f"  + {p.name} {p.new}" for p in diff.added]
    out += [f"  - {p.name} {p.old}" for p in diff.removed]
    for p in diff.changed:
        text = f"  ~ {p.name} {p.old} -> {p.new}" if p.old != p.new else f"  ~ {p.name} {p.old}"
        if p.source_changed:
            text += f" (from {source_text(p.old_source)} -> {source_text(p.new_source)})"
        out.append(text)
    if diff.not_recorded:
        out.append(f"  not recorded: {', '.join(diff.not_recorded)}")
    return out
