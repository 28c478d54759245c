"""``git run verify NAME``: whether a promotion can be trusted, finding by finding.

1. The signature of its commit, by ``git verify-commit`` (git's own keys and
   allowed-signers file): ``good``, ``bad``, ``unsigned`` or ``unknown key`` (signed,
   but no key here to check it with).  Only ``bad`` fails, unless a signature is
   required.
2. The record: bounded and validated (:func:`gitruns.promotion.read_untrusted`), its
   run's commit a parent of the promotion, and the run's record there naming the
   artifact at that digest.
3. The artifact: in the local cache (its content hashed again) or, failing that,
   in the usual remote's artifact store (it exists there).
4. Not retired.

Nothing here prints: the findings are returned.  See docs/promotion.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from . import promotion
from .errors import GitrunsError, RecordError, UsageError
from .repo import Repo


@dataclass
class Finding:
    check: str  # signature, record, artifact, retired
    ok: bool
    state: str  # good, bad, unsigned, unknown key; valid, invalid; cache, store, missing, corrupt; ...
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "state": self.state, "message": self.message}


@dataclass
class VerifyResult:
    name: str
    commit: str
    findings: list[Finding] = field(default_factory=list)
    record: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def state(self, check: str) -> str | None:
        return next((f.state for f in self.findings if f.check == check), None)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "commit": self.commit, "ok": self.ok,
                "signature": self.state("signature"), "artifact": self.state("artifact"),
                "findings": [f.to_dict() for f in self.findings], "record": self.record}


def signature_state(repo: Repo, commit: str) -> tuple[str, str]:
    """(good | bad | unsigned | unknown key, what git said) for a commit."""
    import pygit2

    from .gitcmd import run
    from .terminal import warning_text

    obj = repo.git[pygit2.Oid(hex=commit)]
    sig, _signed = obj.peel(pygit2.Commit).gpg_signature
    if not sig:
        return "unsigned", "the commit is not signed"
    proc = run(["git", "--git-dir", repo.git_dir, "verify-commit", "--raw", commit], check=False)
    said = (proc.stderr + proc.stdout).decode(errors="replace")
    lines = [ln.strip() for ln in said.splitlines() if ln.strip() and not ln.startswith("[GNUPG:] ")]
    detail = warning_text(lines[0] if lines else said.strip(), 200)
    if proc.returncode == 0:
        return "good", detail or "good signature"
    unknown = ("NO_PUBKEY", "ERRSIG", "allowedSignersFile needs to be configured", "No principal matched",
               "No public key", "no signature found")
    if any(u in said for u in unknown) and "BADSIG" not in said:
        return "unknown key", detail or "no key to check the signature with"
    return "bad", detail or f"git verify-commit exited {proc.returncode}"


def _artifact(repo: Repo, digest: str) -> Finding:
    from .cache import local_cache
    from .sharing import store_of_default_remote

    cache = local_cache(repo)
    corrupt = False
    if cache.has(digest):
        if cache.verify(digest):
            return Finding("artifact", True, "cache", f"{digest} is in the local cache (content verified)")
        corrupt = True
    try:
        store = store_of_default_remote(repo)
        in_store = store is not None and store.has(digest)
    except GitrunsError as exc:
        store, in_store = None, False
        corrupt_note = f"; the store could not be asked: {exc}"
    else:
        corrupt_note = ""
    if in_store:
        assert store is not None
        note = " (the local copy is corrupt)" if corrupt else ""
        return Finding("artifact", True, "store", f"{digest} is in the artifact store {store.shown}{note}")
    if corrupt:
        return Finding("artifact", False, "corrupt",
                       f"{digest}: the local cache's copy does not match its digest, and no store has it"
                       + corrupt_note)
    where = "nor in a remote's artifact store" if store is not None else "and no remote artifact store is set up"
    return Finding("artifact", False, "missing", f"{digest} is not in the local cache {where}{corrupt_note}")


def _run_names_artifact(repo: Repo, data: promotion.Promotion, commit: str) -> Finding:
    """The record's run commit is a parent of the promotion, and that run's record
    (validated) has the artifact at that digest."""
    import pygit2

    parents = [str(p) for p in repo.git[pygit2.Oid(hex=commit)].peel(pygit2.Commit).parent_ids]
    problem = promotion.consistency_problem(repo.git, data, parents)
    if problem is not None:
        return Finding("record", False, "invalid", problem)
    art = data["artifact"]
    return Finding("record", True, "valid", f"record valid: run {data['run'][:12]} artifact "
                                            f"{art['path']} ({art['digest']})")


def verify(name: str, require_signature: bool = False, repo: Repo | str | os.PathLike[str] | None = None
           ) -> VerifyResult:
    """Check refs/promoted/NAME; the result's ``ok`` says whether every finding holds."""
    from .promoting import current
    from .repo import open_at
    from .terminal import safe

    repo = open_at(repo)
    bare = promotion.check_name(name)
    commit = current(repo, bare)
    if commit is None:
        raise UsageError(f"no promotion named '{safe(bare)}' (see 'git run promote --list')")
    result = VerifyResult(bare, commit)
    state, said = signature_state(repo, commit)
    ok = state == "good" or (state in ("unsigned", "unknown key") and not require_signature)
    result.findings.append(Finding("signature", ok, state, f"signature: {state} ({said})"))
    try:
        data = promotion.read_untrusted(repo.git, commit, bare)
    except RecordError as exc:
        result.findings.append(Finding("record", False, "invalid", f"record refused: {exc}"))
        return result
    result.record = dict(data)
    result.findings.append(_run_names_artifact(repo, data, commit))
    result.findings.append(_artifact(repo, data["artifact"]["digest"]))
    if (retired := data.get("retired")) is not None:
        by = f" superseded by {retired['superseded_by']}" if retired.get("superseded_by") else ""
        result.findings.append(Finding("retired", False, "retired", f"retired on {retired.get('at')} by "
                                       f"{retired.get('by')}: {retired.get('reason')}{by}"))
    return result
