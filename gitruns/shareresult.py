"""What push and fetch report: which runs (and promotions) went where, what was
refused and why.  Plain data, importable without libgit2 (``quickpush`` answers
a push with nothing new with these too)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SyncReport:
    """What a push or fetch did, run ids (or promotion names) in each list."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ahead: list[str] = field(default_factory=list)  # local has commits the remote lacks
    behind: list[str] = field(default_factory=list)  # the remote has commits we lack
    diverged: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

def _diverged(rep: SyncReport) -> list[dict[str, str]]:
    """The refusal entry of each run changed both here and there (push and fetch alike)."""
    return [{"id": rid, "reason": "diverged", "message": "changed here and there; not overwritten"}
            for rid in rep.diverged]


def _named(items: list[dict[str, str]]) -> list[dict[str, str]]:
    """Refusals of promotions: keyed by ``name``, not ``id``."""
    return [{"name": i["id"], "reason": i["reason"], "message": i["message"]} for i in items]


def _split(items: list[str]) -> list[tuple[str, str]]:
    """(run id, reason) of each "ID: reason" line of a report (run ids hold no colon)."""
    out = []
    for item in items:
        rid, _, reason = item.partition(": ")
        out.append((rid, reason))
    return out


@dataclass
class PushResult:
    """What ``push`` did.  Reasons quote remotes and records: show them through
    ``terminal.safe``/``json_text``."""

    remote: str
    report: SyncReport
    uploaded: int = 0
    upload_bytes: int = 0
    store: str | None = None  # the store shown (password redacted) when push used one
    missing_locally: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # one line each: object, what, run, where it went
    refused: list[str] = field(default_factory=list)  # local runs whose record is unreadable: not pushed
    repaired: int = 0  # objects re-uploaded in place of ones the store had quarantined
    has_store: bool = False  # whether the remote has an artifact store at all
    promotions: SyncReport = field(default_factory=SyncReport)

    def refusals(self) -> list[dict[str, str]]:
        """Runs not pushed, each with a reason: ``diverged`` (changed here and there),
        ``rejected`` (by the remote; its message), ``invalid`` (the local record)."""
        rep = self.report
        out = _diverged(rep)
        out += [{"id": rid, "reason": "rejected", "message": why} for rid, why in _split(rep.rejected)]
        out += [{"id": rid, "reason": "invalid", "message": why} for rid, why in _split(self.refused)]
        return out

    def failed(self) -> bool:
        """Whether anything was refused or is corrupt (the command exits 1)."""
        rep = self.report
        prom = self.promotions
        return bool(rep.diverged or rep.invalid or rep.rejected or self.corrupt or self.refused
                    or prom.diverged or prom.rejected)

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run push --json`` prints (docs/sharing.md)."""
        rep, prom = self.report, self.promotions
        return {
            "remote": self.remote,
            "pushed": rep.pushed,
            "up_to_date": rep.unchanged,
            "behind": rep.behind,
            "refused": self.refusals(),
            "promotions": {
                "pushed": prom.pushed,
                "up_to_date": prom.unchanged,
                "behind": prom.behind,
                "refused": _named(_diverged(prom) + [{"id": n, "reason": "rejected", "message": why}
                                                     for n, why in _split(prom.rejected)]),
            },
            "artifacts": {
                "store": self.store,
                "has_store": self.has_store,
                "uploaded": self.uploaded,
                "bytes": self.upload_bytes,
                "repaired": self.repaired,
                "missing_locally": self.missing_locally,
                "corrupt": self.corrupt,
            },
            "ok": not self.failed(),
        }


@dataclass
class FetchResult:
    """What ``fetch`` (and ``pull``) did."""

    remote: str
    report: SyncReport
    promotions: SyncReport = field(default_factory=SyncReport)

    def refusals(self, rep: SyncReport | None = None) -> list[dict[str, str]]:
        """Runs (or, given ``self.promotions``, promotions) not taken in: ``diverged``
        (changed here and there; yours kept) or ``invalid`` (the remote's record
        failed validation; the message says why)."""
        rep = rep or self.report
        out = _diverged(rep)
        out += [{"id": rid, "reason": "invalid", "message": why} for rid, why in _split(rep.invalid)]
        return out

    def failed(self) -> bool:
        return any(r.diverged or r.invalid or r.rejected for r in (self.report, self.promotions))

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run fetch --json`` prints (docs/sharing.md)."""
        rep, prom = self.report, self.promotions
        return {
            "remote": self.remote,
            "new": rep.new,
            "updated": rep.updated,
            "unchanged": rep.unchanged,
            "ahead": rep.ahead,
            "refused": self.refusals(),
            "promotions": {
                "new": prom.new,
                "updated": prom.updated,
                "unchanged": prom.unchanged,
                "ahead": prom.ahead,
                "refused": _named(self.refusals(prom)),
            },
            "ok": not self.failed(),
        }
