"""The runs a repository can see, by id, prefix or name: listing them, resolving
what the user typed, and loading one for show, diff, log and checkout.

A run is local (``refs/runs/<id>``) or known only from a remote's tracking refs.
Listing reads records through the listing index; any record it has not accepted
before is bounded and checked (see ``validation``) before it is shown.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import bounds, catfile, record, runid
from .errors import AmbiguousRun, RecordError, UnknownRun
from .listingindex import ListingIndex
from .record import RunRecord
from .recordread import UnreadableRecord, prefetch_records, read_file, read_untrusted
from .repo import Repo
from .runrefs import RECORD_DIR, REF_PREFIX, ref_name, visible_refs
from .validation import parse_record


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
    """Every visible run (or those of ``refs``), newest first.

    A record that cannot be read or is refused (too large, too deep, invalid) is
    skipped with one warning.  A local run (refs/runs/*) warns every time, as it
    is this repository's own and should be deleted; a run known only from a
    tracking ref warns once (fetch reports it too) and is then skipped quietly.
    """
    refs = visible_refs(repo) if refs is None else sorted(refs)
    cache = ListingIndex(repo)
    known = cache.get_many([c for _, c, _ in refs])
    refused = cache.refused()
    unknown = [c for _, c, _ in refs if c not in known and c not in refused]
    prefetch_records(repo.git, unknown)
    batch = _read_batch(repo, unknown) if len(unknown) >= BATCH_FROM else {}
    fresh: list[tuple[str, bytes]] = []
    newly_refused: list[tuple[str, str]] = []
    runs: list[Run] = []
    for rid, commit, source in reversed(refs):
        if commit in refused:
            if source is None:
                warn_refused(rid, refused[commit], True)
            continue
        raw = known.get(commit) or batch.get(commit)
        try:
            if raw is None:
                raw = read_file(repo.git, commit, "run.json")
                if raw is None:
                    raise RecordError(f"commit {commit[:12]} has no run.json")
            # Bytes accepted before are only parsed; new ones are bounded and
            # checked: against the schema when they came from elsewhere.
            check = "none" if commit in known else "schema" if source is not None else "shape"
            rec = parse_record(raw, rid, check)
        except (RecordError, KeyError, ValueError) as exc:
            reason = str(exc).removeprefix(f"run {rid}: ")
            warn_refused(rid, reason, source is None)
            if isinstance(exc, RecordError) and not isinstance(exc, UnreadableRecord):
                newly_refused.append((commit, reason))  # its bytes never change: no need to read them again
            continue
        if commit not in known:
            fresh.append((commit, raw))
        runs.append(Run(rid, commit, rec, source))
    cache.put_many(fresh)
    cache.refuse(newly_refused)
    return runs


# From this many records unknown to the listing index, one `git cat-file --batch`
# reads them about three times faster than object-by-object lookups.
BATCH_FROM = 500


def _read_batch(repo: Repo, commits: list[str]) -> dict[str, bytes]:
    """commit -> its .gitruns/run.json, for those one `git cat-file --batch` could read."""
    specs = {f"{c}:{RECORD_DIR}/run.json": c for c in commits}
    return {specs[s]: raw for s, raw in catfile.read_blobs(repo.git_dir, list(specs), bounds.MAX_RECORD_BYTES).items()}


def resolve(repo: Repo, text: str, refs: list[tuple[str, str, str | None]] | None = None) -> str:
    """A full run id from a unique prefix (or ``refs/runs/<id>``, or an exact --name)."""
    raw = text.strip()
    if raw.startswith(REF_PREFIX):
        raw = raw[len(REF_PREFIX):]
    refs = visible_refs(repo) if refs is None else refs
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
    refs = visible_refs(repo)
    rid = resolve(repo, text, refs)
    found = {r: (c, s) for r, c, s in refs}
    commit, source = found[rid]
    from .terminal import warning_text

    try:
        rec = read_untrusted(repo.git, commit, rid)
    except RecordError as exc:
        raise RecordError(f"record refused: {warning_text(exc, 400)}") from None
    return Run(rid, commit, rec, source)
