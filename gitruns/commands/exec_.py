from __future__ import annotations

import os

from ..errors import UsageError
from ..execute import execute
from ..session import LaunchSpec


def exec_(argv: list[str], name: str | None, tags: list[str], config_files: list[str],
          overrides: list[str], inputs: list[str], outputs: list[str], metrics_files: list[str]) -> int:
    if not argv:
        raise UsageError("exec needs a command: git run exec [OPTIONS] -- CMD [ARGS...]")
    spec = LaunchSpec(argv=list(argv), cwd=os.getcwd(), name=name, tags=list(tags),
                      config_files=list(config_files), overrides=list(overrides), inputs=list(inputs),
                      outputs=list(outputs), metrics_files=list(metrics_files))
    return execute(spec)
