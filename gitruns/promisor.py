"""Partial clones: objects this clone lacks, fetched from its promisor remote in one go."""
from __future__ import annotations

import pygit2


def promisor_remotes(git: pygit2.Repository) -> list[str]:
    """The remotes this clone may fetch missing objects from (a partial clone's);
    empty for a full clone, which is checked once, from the config."""
    out = []
    try:
        for entry in git.config:
            key = entry.name.lower()
            if key == "extensions.partialclone" and entry.value:
                out.append(entry.value)
            elif key.startswith("remote.") and key.endswith(".promisor") and (entry.value or "").lower() in (
                    "true", "yes", "on", "1"):
                out.append(entry.name[len("remote."):-len(".promisor")])
    except (pygit2.GitError, ValueError):
        return []
    return list(dict.fromkeys(out))


def prefetch(git: pygit2.Repository, oids: list[str]) -> None:
    """Bring objects a partial clone lacks in one fetch from its promisor remote
    (what git does itself before a diff), instead of one lazy fetch per object.
    Best effort: anything still missing is fetched one by one when read."""
    import subprocess

    missing = [o for o in dict.fromkeys(oids) if o and o != "0" * 40 and pygit2.Oid(hex=o) not in git]
    if not missing:
        return
    for name in promisor_remotes(git):
        subprocess.run(["git", "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", name, "--no-tags",
                        "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin"],
                       cwd=git.path, input="".join(f"{o}\n" for o in missing).encode(),
                       capture_output=True, check=False)
        missing = [o for o in missing if pygit2.Oid(hex=o) not in git]
        if not missing:
            return
