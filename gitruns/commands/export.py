from __future__ import annotations

import sys

from ..exporting import export as export_runs
from ..listing import column_list
from ..repo import open_repo


def export(where: list[str], sort: list[str], limit: int | None, columns: list[str], all_runs: bool, fmt: str,
           output: str | None) -> int:
    """Write the selected runs as ``fmt`` to stdout or the file ``output``."""
    if limit is not None and limit < 0:
        from ..errors import UsageError

        raise UsageError("--limit must be 0 or more")
    chosen = column_list(columns) or None
    repo = open_repo()
    result = export_runs(repo, fmt, where=where, sort=sort, limit=limit, columns=chosen, retired=all_runs,
                               path=output, out=None if output else sys.stdout)
    if output:
        print(f"exported {result.count} run{'s' if result.count != 1 else ''} to {output}", file=sys.stderr)
    return 0
