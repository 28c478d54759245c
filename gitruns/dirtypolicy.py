"""``gitruns.dirty``: what a run launched on uncommitted changes does (refuse,
warn, allow), and the warnings about code left out of the snapshot."""
from __future__ import annotations

from .errors import DirtyTreeRefused
from .settings import Settings
from .snapshot import CodeState
from .warn import warn


def apply(code: CodeState, settings: Settings, run_id: str) -> None:
    """Refuse (:class:`DirtyTreeRefused`) or warn as ``gitruns.dirty`` says, for ``code``."""
    if not code.dirty:
        return
    policy = settings.get("gitruns.dirty")
    untracked = len(code.untracked_files) + len(code.untracked_large) + len(code.untracked_withheld)
    if code.untracked_overflow:
        # Overflow beyond the listing limit is only counted in the summary.
        untracked += code.untracked_overflow["files"] - sum(1 for e in code.untracked_large
                                                             if e.get("reason") == "cap")
    dirty_subs = sum(1 for s in code.submodules if s.get("dirty"))
    counts = f"{len(code.changed_files)} changed, {untracked} untracked"
    if dirty_subs:
        counts += f", {dirty_subs} submodule{'s' if dirty_subs > 1 else ''} with uncommitted changes"
    if policy == "refuse":
        raise DirtyTreeRefused(
            f"the working tree has uncommitted changes ({counts}) and gitruns.dirty is 'refuse'; "
            "commit them or run with GITRUNS_DIRTY=allow"
        )
    if policy == "warn":
        warn(f"running on uncommitted changes ({counts}); "
             f"the exact code is saved in refs/runs/{run_id}")
    # Said even when dirty runs are allowed: code that ran is missing from the
    # snapshot for a reason the user may not expect.
    for line in code.warnings():
        warn(line)
