"""Bringing files the code tree lacks into a temporary worktree (see
:mod:`gitruns.tempworktree`): data that git does not track, named as an input,
taken from the user's working tree.

A file is reflinked where the file system can (free, and the copy is
independent), else copied, whatever its size: a symbolic link to the user's
file would let the command write into the user's working tree, show in the new
run's record as an untracked file of the code and name an absolute path as its
input (found by the review of issue 10).  Large data costs its copy on a file
system without reflinks; docs/reruns.md says so.  Nothing is ever written in
the user's working tree, and nothing is placed outside the temporary one.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil

from .errors import PathError

_FICLONE = 0x40049409


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _reflink_or_copy(src: str, dest: str) -> None:
    try:
        with open(src, "rb") as s, open(dest, "wb") as d:
            try:
                fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF,
                                     errno.EPERM):
                    raise
            shutil.copyfileobj(s, d, 1024 * 1024)
    finally:
        if os.path.exists(src) and os.path.exists(dest):
            shutil.copymode(src, dest)


def stage(user_root: str, temp_root: str, rel: str) -> str:
    """Put the user's ``rel`` (relative to the repository root) at the same place in
    the temporary worktree; return how: ``present`` (the code tree has it) or
    ``copy``.  A path that would leave either tree is refused."""
    src = os.path.join(user_root, rel)
    dest = os.path.join(temp_root, rel)
    if os.path.isabs(rel) or not _inside(user_root, src) or not _inside(temp_root, os.path.dirname(dest) or temp_root):
        raise PathError(f"{rel} is outside the working tree")
    if os.path.lexists(dest):
        return "present"
    if not os.path.lexists(src):
        raise PathError(f"{rel} does not exist in the working tree")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dest)
        return "copy"
    if os.path.isdir(src):
        shutil.copytree(src, dest, symlinks=True, copy_function=_copy_function)
    else:
        _reflink_or_copy(src, dest)
    return "copy"


def _copy_function(src: str, dest: str) -> str:
    _reflink_or_copy(src, dest)
    return dest
