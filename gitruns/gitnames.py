"""Names that git treats as its own directory, on any filesystem, and the paths
a run may store as outputs because of that.

Stdlib only: ``gitruns.api`` (imported by training scripts) and ``gitruns.runpaths``
both use it, so neither imports the other for it.
"""
from __future__ import annotations

import os
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


def path_refusal(full: str, root: str, git_dirs: list[str]) -> str | None:
    """Why ``full`` may not be an output of a run in the working tree ``root``, or None.

    Refused: anything outside the working tree, the root itself, and anything in
    a git directory: a path with a component that names it on some filesystem
    (``.git`` in any case, ``.git.``, ``GIT~1``: see :func:`names_git_dir`), before or after
    resolving symlinks, or one inside or
    containing one of ``git_dirs`` (a linked worktree's or a separate git dir).
    """
    real_root = os.path.realpath(root)
    lexical = os.path.relpath(os.path.normpath(full), os.path.normpath(root))
    real = os.path.realpath(full)
    if real == real_root:
        return "the working tree root itself"
    if not real.startswith(real_root + os.sep):
        return f"outside the working tree {root}"
    resolved = os.path.relpath(real, real_root)
    for rel in (lexical, resolved):
        if any(names_git_dir(part) for part in rel.split(os.sep)):
            return "inside the git directory"
    for git_dir in git_dirs:
        real_git = os.path.realpath(git_dir)
        if real_root.startswith(real_git + os.sep):
            continue  # the tree itself lies in it (a temporary worktree of a rerun): its own files are fine
        if real == real_git or real.startswith(real_git + os.sep):
            return f"inside the git directory {git_dir}"
        if real_git.startswith(real + os.sep):
            return f"a directory holding the git directory {git_dir}"
    return None
