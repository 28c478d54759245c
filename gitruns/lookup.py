"""The runs a repository can see, by id, prefix or name: listing them, resolving
what the user typed, and loading one for show, diff, log and checkout.

A run is local (``refs/runs/<id>``) or known only from a remote's tracking refs.
Listing and resolving read the run index (``runindex``); any record it has not
accepted before is bounded and checked (see ``validation``) before it is indexed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import record, runid
from .errors import AmbiguousRun, RecordError, UnknownRun
from .record import RunRecord
from .recordread import read_untrusted
from .repo import Repo
from .runrefs import REF_PREFIX, ref_name

if TYPE_CHECKING:
    from .runindex import RunIndex


@dataclass
class Run:
    id: str
    commit: str
    record: RunRecord
    source: str | None = None  # None: a local run; else the remote it is only known from

    @property
    def status(self) -> str:
        return record.effective_status(self.record)


def warn_refused(rid: str, reason: str, local: bool) -> None:
    """The one warning for a record that is not listed (a GitrunsWarning: the command
    line shows it made safe and bounded)."""
    from .warn import warn

    hint = f" (delete it with 'git update-ref -d {ref_name(rid)}')" if local else ""
    warn(f"skipping run {rid}: {reason}{hint}")


def all_runs(repo: Repo, refs: list[tuple[str, str, str | None]] | None = None) -> list[Run]:
    """Every visible run (or those of ``refs``), newest first, through the run index.

    A record that cannot be read or is refused (too large, too deep, invalid) is
    skipped with one warning.  A local run (refs/runs/*) warns every time, as it
    is this repository's own and should be deleted; a run known only from a
    tracking ref warns once (fetch reports it too) and is then skipped quietly.
    """
    from .runindex import RunIndex

    with RunIndex.open(repo) as index:
        if refs is None:
            runs = list(index.runs())
            warn_refusals(index)
            return runs
        runs = index.runs_of(refs)
        warn_refusals(index, {rid for rid, _, _ in refs})
        return runs


def warn_refusals(index: RunIndex, only: set[str] | None = None) -> None:
    """The warnings a listing gives: every refused local run, and runs from remotes
    refused for the first time by this command's sync."""
    told: set[str] = set()
    for rid, reason in index.refused_local():
        if only is None or rid in only:
            warn_refused(rid, reason, True)
            told.add(rid)
    for rid, reason, local in index.new_refusals:
        if rid not in told and not local and (only is None or rid in only):
            warn_refused(rid, reason, False)
            told.add(rid)


def resolve(repo: Repo, text: str, refs: list[tuple[str, str, str | None]] | None = None) -> str:
    """A full run id from a unique prefix (or ``refs/runs/<id>``, or an exact --name)."""
    from .runindex import RunIndex

    if refs is None:
        with RunIndex.open(repo) as index:
            return index.resolve(text)
    raw = text.strip()
    if raw.startswith(REF_PREFIX):
        raw = raw[len(REF_PREFIX):]
    ids = [rid for rid, _, _ in refs]
    prefix = runid.normalize_prefix(raw)
    if prefix and all(c in runid.ALPHABET for c in prefix):
        matches = [rid for rid in ids if rid.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            abbrev = runid.abbreviations(ids)
            raise AmbiguousRun(raw, [abbrev[m] for m in reversed(matches)])
    named = [r.id for r in all_runs(repo, refs) if r.record.get("name") == raw]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        abbrev = runid.abbreviations(ids)
        raise AmbiguousRun(raw, [abbrev[m] for m in named])
    if not ids:
        raise UnknownRun(f"no run matches '{raw}': this repository has no runs yet")
    raise UnknownRun(f"no run matches '{raw}' (see 'git run ls')")


def load(repo: Repo, text: str) -> Run:
    """One run, for show, diff, log and checkout: its record bounded and validated
    against its schema, local or not (a local ref can be crafted too)."""
    from .runindex import RunIndex
    from .terminal import warning_text

    with RunIndex.open(repo) as index:
        rid = index.resolve(text)
        where = index.location(rid)
    assert where is not None
    commit, source = where

    try:
        rec = read_untrusted(repo.git, commit, rid)
    except RecordError as exc:
        raise RecordError(f"record refused: {warning_text(exc, 400)}") from None
    return Run(rid, commit, rec, source)
