"""push, fetch, pull, checkout and remote setup."""
from __future__ import annotations

import sys

from .. import checkout as checkout_mod
from .. import remote as remote_mod
from .. import sharing
from ..progress import human_size
from ..repo import open_repo
from ..terminal import safe, warning_text


def _report_lines(report: remote_mod.SyncReport) -> list[str]:
    """Problems, one line each; run ids come from ref names and reasons from
    records and remotes, so every line is made terminal-safe and bounded."""
    return [warning_text(line, 400) for line in _problem_lines(report)]


def _problem_lines(report: remote_mod.SyncReport) -> list[str]:
    lines = []
    if report.diverged:
        lines.append(f"diverged (changed here and there; not overwritten): {', '.join(report.diverged)}")
    if report.invalid:
        lines += [f"invalid record, not taken: {item}" for item in report.invalid]
    if report.rejected:
        lines += [f"rejected by the remote: {item}" for item in report.rejected]
    return lines


def push(remote: str | None, ids: list[str]) -> int:
    repo = open_repo()
    result = sharing.push(repo, remote, ids or None)
    rep = result.report
    print(f"{result.remote}: pushed {len(rep.pushed)} run(s), {len(rep.unchanged)} already there"
          + (f", {len(rep.behind)} newer there (git run fetch)" if rep.behind else ""))
    if result.store:
        print(f"artifacts: uploaded {result.uploaded} object(s), {human_size(result.upload_bytes)} to {result.store}"
              + (f" ({result.repaired} in place of corrupt ones)" if result.repaired else ""))
    elif rep.pushed:
        print("artifacts: no store for this remote, they stay in the local cache "
              f"(git config remote.{result.remote}.gitrunsStore URL)", file=sys.stderr)
    if result.missing_locally:
        print(f"warning: {len(result.missing_locally)} artifact object(s) not in the local cache, not uploaded",
              file=sys.stderr)
    problems = (_report_lines(rep) + result.corrupt
                + [f"invalid local record, not pushed: {item}" for item in result.refused])
    for line in problems:
        print(f"git run: {line}", file=sys.stderr)
    return 1 if problems else 0


def fetch(remote: str | None) -> int:
    repo = open_repo()
    name, rep = sharing.fetch(repo, remote)
    print(f"{name}: {len(rep.new)} new run(s), {len(rep.updated)} updated, {len(rep.unchanged)} unchanged"
          + (f", {len(rep.ahead)} with local updates to push" if rep.ahead else ""))
    problems = _report_lines(rep)
    for line in problems:
        print(f"git run: {line}", file=sys.stderr)
    return 1 if problems else 0


def pull(remote: str | None) -> int:
    """fetch; artifacts come later, on demand, with checkout."""
    return fetch(remote)


def checkout(run_id: str, paths: list[str], force: bool, remote: str | None) -> int:
    repo = open_repo()
    written = checkout_mod.checkout(repo, run_id, paths, force, remote)
    for path in written:
        print(f"restored {safe(path)}")
    if not written:
        print("artifacts already up to date")
    return 0


def remote_setup(remote: str | None) -> int:
    repo = open_repo()
    name = remote_mod.default_remote(repo, remote)
    added = remote_mod.setup(repo, name)
    for line in added:
        print(f"added {line}")
    if not added:
        print(f"{name} already carries runs")
    return 0
