"""Run ids: unique without coordination, sorted by creation time.

An id is 26 characters of lowercase Crockford base32: 48 bits of milliseconds
since the epoch followed by 80 random bits (the ULID layout).  Two machines never
need to agree on anything to avoid a collision, and ``sorted(ids)`` is creation
order, so refs/runs/* lists oldest to newest.
"""
from __future__ import annotations

import os
import re
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 26
_ID_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")
# Shown ids are never shorter than this, like git's core.abbrev default.
MIN_ABBREV = 8
# Run <id> lives on REF_PREFIX + id (gitruns.runrefs writes it; here so that readers need no pygit2).
REF_PREFIX = "refs/runs/"


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(now_ms: int | None = None) -> str:
    """Return a fresh run id for the current time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    return _encode(ms, 10) + _encode(rand, 16)


def is_valid(run_id: str) -> bool:
    return bool(_ID_RE.match(run_id))


def timestamp_ms(run_id: str) -> int:
    """The creation time encoded in an id, in milliseconds."""
    value = 0
    for ch in run_id[:10]:
        value = value * 32 + ALPHABET.index(ch)
    return value


def normalize_prefix(text: str) -> str:
    """Lowercase a user-typed prefix and map Crockford's look-alikes."""
    return text.strip().lower().replace("o", "0").replace("i", "1").replace("l", "1")


def abbreviations(ids: list[str]) -> dict[str, str]:
    """Shortest unique prefix (at least MIN_ABBREV long) of each id."""
    ordered = sorted(ids)
    out: dict[str, str] = {}
    for i, rid in enumerate(ordered):
        need = MIN_ABBREV
        for j in (i - 1, i + 1):
            if 0 <= j < len(ordered):
                other = ordered[j]
                common = 0
                while common < ID_LENGTH and rid[common] == other[common]:
                    common += 1
                need = max(need, common + 1)
        out[rid] = rid[: min(need, ID_LENGTH)]
    return out
