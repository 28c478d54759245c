"""push, fetch, pull, checkout and remote setup."""
from __future__ import annotations

import json
import sys
from typing import Any

from ..progress import human_size
from ..shareresult import FetchResult, PushResult, SyncReport
from ..terminal import json_text, safe, warning_text


def _print_json(summary: dict[str, Any]) -> None:
    """One JSON object on stdout: readable UTF-8, no raw control or bidi character
    (reasons and paths come from remotes and records)."""
    sys.stdout.write(json_text(json.dumps(summary, indent=2, ensure_ascii=False)) + "\n")


def _report_lines(report: SyncReport) -> list[str]:
    """Problems, one line each; run ids come from ref names and reasons from
    records and remotes, so every line is made terminal-safe and bounded."""
    return [warning_text(line, 400) for line in _problem_lines(report)]


def _problem_lines(report: SyncReport, what: str = "") -> list[str]:
    lines = []
    if report.diverged:
        lines.append(f"diverged {what}(changed here and there; not overwritten): {', '.join(report.diverged)}")
    if report.invalid:
        lines += [f"invalid {what}record, not taken: {item}" for item in report.invalid]
    if report.rejected:
        lines += [f"{what}rejected by the remote: {item}" for item in report.rejected]
    return lines


def _promotion_lines(report: SyncReport) -> list[str]:
    return [warning_text(line, 400) for line in _problem_lines(report, "promotion ")]


def push(remote: str | None, ids: list[str], as_json: bool = False) -> int:
    from ..quickpush import nothing_to_push

    # Nothing new (a push repeated, or run from a hook): answered without libgit2 when certain.
    result: PushResult | None = None if ids else nothing_to_push(remote)
    if result is None:
        from .. import sharing
        from ..repo import open_repo

        result = sharing.push(remote, ids or None, repo=open_repo())
    rep = result.report
    if as_json:
        _print_json(result.to_dict())
    else:
        print(f"{result.remote}: pushed {len(rep.pushed)} run(s), {len(rep.unchanged)} already there"
              + (f", {len(rep.behind)} newer there (git run fetch)" if rep.behind else ""))
        prom = result.promotions
        if prom.pushed or prom.unchanged or prom.behind or prom.diverged or prom.rejected:
            print(f"{result.remote}: pushed {len(prom.pushed)} promotion(s), {len(prom.unchanged)} already there"
                  + (f", {len(prom.behind)} newer there (git run fetch)" if prom.behind else ""))
        if result.store:
            print(f"artifacts: uploaded {result.uploaded} object(s), {human_size(result.upload_bytes)} to "
                  f"{result.store}" + (f" ({result.repaired} in place of corrupt ones)" if result.repaired else ""))
        elif rep.pushed:
            print("artifacts: no store for this remote, they stay in the local cache "
                  f"(git config remote.{result.remote}.gitrunsStore URL)", file=sys.stderr)
    if result.missing_locally:
        print(f"warning: {len(result.missing_locally)} artifact object(s) not in the local cache, not uploaded",
              file=sys.stderr)
    problems = (_report_lines(rep) + _promotion_lines(result.promotions) + result.corrupt
                + [f"invalid local record, not pushed: {item}" for item in result.refused])
    for line in problems:
        print(f"git run: {line}", file=sys.stderr)
    return 1 if problems else 0


def _fetched(result: FetchResult, as_json: bool) -> int:
    rep = result.report
    if as_json:
        _print_json(result.to_dict())
    else:
        print(f"{result.remote}: {len(rep.new)} new run(s), {len(rep.updated)} updated, "
              f"{len(rep.unchanged)} unchanged"
              + (f", {len(rep.ahead)} with local updates to push" if rep.ahead else ""))
        prom = result.promotions
        if prom.new or prom.updated or prom.unchanged or prom.ahead or prom.diverged or prom.invalid:
            print(f"{result.remote}: {len(prom.new)} new promotion(s), {len(prom.updated)} updated, "
                  f"{len(prom.unchanged)} unchanged"
                  + (f", {len(prom.ahead)} with local updates to push" if prom.ahead else ""))
    problems = _report_lines(rep) + _promotion_lines(result.promotions)
    for line in problems:
        print(f"git run: {line}", file=sys.stderr)
    return 1 if problems else 0


def fetch(remote: str | None, as_json: bool = False) -> int:
    from .. import sharing

    return _fetched(sharing.fetch(remote), as_json)


def pull(remote: str | None, as_json: bool = False) -> int:
    """fetch; artifacts come later, on demand, with checkout."""
    from .. import sharing

    return _fetched(sharing.pull(remote), as_json)


def checkout(run_id: str | None, paths: list[str], force: bool, remote: str | None, as_json: bool = False,
             inputs: bool = False, promoted: str | None = None) -> int:
    from .. import checkout as checkout_mod
    from ..repo import open_repo

    repo = open_repo()
    try:
        if promoted is not None:
            result, data = checkout_mod.checkout_promoted(repo, promoted, paths, force, remote)
            if (retired := data.get("retired")) is not None:
                from ..warn import warn

                warn(f"promotion {data['name']} was retired on {retired.get('at')} by {retired.get('by')}: "
                     f"{retired.get('reason')}")
        else:
            assert run_id is not None
            result = checkout_mod.checkout(repo, run_id, paths, force, remote, inputs=inputs)
    except checkout_mod.CheckoutFailed as exc:
        if as_json:  # what was done (or refused) before it stopped; the error line follows
            _print_json(exc.result.to_dict())
        raise
    if as_json:
        _print_json(result.to_dict())
        return 0
    for path in result.written:
        print(f"restored {safe(path)}")
    if inputs:  # an input that cannot come back says why (tracked ones come with the code)
        for path, status in result.missing:
            print(f"not restored {safe(path)}: {safe(status)}")
        if not result.written:
            print("inputs already up to date" if result.unchanged else "no kept inputs to restore")
    elif not result.written:
        print("artifacts already up to date")
    return 0


def remote_setup(remote: str | None) -> int:
    from .. import remote as remote_mod
    from ..repo import open_repo

    repo = open_repo()
    name = remote_mod.default_remote(repo, remote)
    added = remote_mod.setup(repo, name)
    for line in added:
        print(f"added {line}")
    if not added:
        print(f"{name} already carries runs")
    return 0
