"""Bringing files the code tree lacks into a temporary worktree (see
:mod:`gitruns.tempworktree`): data that git does not track, named as an input,
taken from the user's working tree.

A file is reflinked where the file system can (free, and the copy is
independent), else copied when it is at most ``COPY_MAX`` bytes; a larger one,
and a directory holding more than that, is a symbolic link to the user's own
(nothing of that size is duplicated on disk; the command could write through
it, as it could when it ran in the working tree).  Nothing is ever written in
the user's working tree, and nothing is placed outside the temporary one.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil

from .errors import PathError

COPY_MAX = 64 * 1024 * 1024
_FICLONE = 0x40049409


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _size(path: str) -> int:
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
        if total > COPY_MAX:
            break
    return total


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
    the temporary worktree; return how: ``present`` (the code tree has it), ``copy``
    or ``link``.  A path that would leave either tree is refused."""
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
    if _size(src) > COPY_MAX:
        os.symlink(os.path.abspath(src), dest)
        return "link"
    if os.path.isdir(src):
        shutil.copytree(src, dest, symlinks=True, copy_function=_copy_function)
    else:
        _reflink_or_copy(src, dest)
    return "copy"


def _copy_function(src: str, dest: str) -> str:
    _reflink_or_copy(src, dest)
    return dest
