"""The paths a run names (-i, -o, -m, logged artifacts): resolved from where it
was launched, refused when outside the working tree or inside the git directory,
shown relative to the repository root."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import PathError
from .gitnames import path_refusal
from .repo import relative_to_root


@dataclass(frozen=True)
class RunPaths:
    cwd: str  # where the run was launched
    root: str  # the working tree's root
    git_dirs: tuple[str, ...]  # the git directory and the common one

    def abs(self, path: str) -> str:
        """``path`` as the user gave it, made absolute from the launch directory."""
        return os.path.normpath(os.path.join(self.cwd, os.path.expanduser(path)))

    def output(self, path: str, flag: str) -> str:
        """An output's absolute path; a :class:`PathError` when it may not be stored."""
        full = self.abs(path)
        reason = self.refusal(full)
        if reason is not None:
            raise PathError(f"{flag} {path}: {reason}; outputs must be inside the working tree "
                            f"{self.root} and outside the git directory")
        return full

    def refusal(self, full: str) -> str | None:
        """Why ``full`` may not be stored as an output (see :func:`gitruns.gitnames.path_refusal`)."""
        return path_refusal(full, self.root, list(self.git_dirs))

    def display(self, full: str) -> str:
        """``full`` relative to the repository root, as records show paths."""
        rel = relative_to_root(self.root, full)
        return rel if rel is not None else full
