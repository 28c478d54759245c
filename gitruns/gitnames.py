"""Names that git treats as its own directory, on any filesystem.

Stdlib only: ``gitruns.api`` (imported by training scripts) uses it too.
"""
from __future__ import annotations

import re

# Code points HFS+ ignores in names (git's is_hfs_dotgit): '.g\u200cit' is '.git' there.
_HFS_IGNORED = frozenset([*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])
_SHORT_NAME = re.compile(r"git~[0-9]+")


def names_git_dir(part: str) -> bool:
    """Whether a path component names the git directory on some filesystem: any case
    (Windows, macOS), NTFS trailing dots and spaces, an NTFS stream (`.git::$INDEX_ALLOCATION`),
    the 8.3 short name (GIT~1), HFS+ ignorable code points.  As git's verify_path with
    core.protectNTFS and core.protectHFS (CVE-2014-9390, CVE-2019-1353), on every
    platform: a working tree may be shared with one of those."""
    name = "".join(c for c in part if ord(c) not in _HFS_IGNORED).lower()
    name = name.split(":", 1)[0].rstrip(" .")
    return name == ".git" or bool(_SHORT_NAME.fullmatch(name))
