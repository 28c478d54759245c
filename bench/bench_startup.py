"""Start-up costs: `import gitruns` beside a bare `python -c pass`, and what the import pulls in.

`import gitruns` is what every instrumented script pays (log_metric and friends), so it
must not import pygit2, click, yaml, jsonschema or pandas; those load only where used.
"""
from __future__ import annotations

import subprocess
import sys

from common import env, median_of, run

HEAVY = ("pygit2", "click", "yaml", "jsonschema", "pandas", "fsspec", "xxhash")


def imported_heavy() -> list[str]:
    code = f"import sys, gitruns; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, check=True)
    return out.stdout.split()


def main(repeat: int = 15) -> list[str]:
    bare = median_of(lambda: run([sys.executable, "-c", "pass"]), repeat)
    imp = median_of(lambda: run([sys.executable, "-c", "import gitruns"]), repeat)
    git_version = median_of(lambda: run(["git", "--version"]), repeat)
    run_version = median_of(lambda: run(["git", "run", "--version"]), repeat)
    heavy = imported_heavy()
    return [
        "| what | time (median) | baseline | ratio |",
        "|---|---|---|---|",
        f"| `python -c 'import gitruns'` | {imp * 1000:.0f} ms | `python -c pass` {bare * 1000:.0f} ms "
        f"| {imp / bare:.2f}x (+{(imp - bare) * 1000:.0f} ms) |",
        f"| `git run --version` | {run_version * 1000:.0f} ms | `git --version` {git_version * 1000:.0f} ms "
        f"| {run_version / git_version:.1f}x |",
        "",
        "Heavy modules loaded by `import gitruns`: " + (", ".join(heavy) if heavy else "none") + ".",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
