"""docs/design.md's module map names every module of the package, once, so the
map cannot fall behind the code (add a line there with each new module)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mapped() -> list[str]:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([\w/]+)`:", section, flags=re.M)


def test_every_module_has_one_line_in_the_module_map() -> None:
    names = mapped()
    modules = sorted(p.stem for p in (ROOT / "gitruns").glob("*.py")) + ["commands/"]
    # A subpackage of one concept names each of its modules: pipelines/engine, ...
    modules += [f"pipelines/{p.stem}" for p in (ROOT / "gitruns" / "pipelines").glob("*.py")]
    assert sorted(set(names)) == sorted(names), "a module is named twice"
    assert sorted(names) == sorted(modules)


def test_no_module_is_called_store() -> None:
    # "store" means an artifact store only; run refs, records and the cache have their own names.
    assert not (ROOT / "gitruns" / "store.py").exists()
    assert "store" not in mapped()


def test_every_subpackage_is_packaged() -> None:
    # An installed (not editable) gitruns lacking a subpackage fails at its first import.
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"gitruns"} | {f"gitruns.{p.parent.name}" for p in (ROOT / "gitruns").glob("*/__init__.py")}
    assert listed == found
