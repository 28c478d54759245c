"""``git run checkout``: restore a run's artifacts into the working tree.

A record and the store objects it names are untrusted (a teammate's push can be
crafted), so nothing here lets them choose where a file is written: every path
is checked by name (no ``..``, no absolute path, no spelling of ``.git``), the
tree is walked through directory descriptors opened with ``O_NOFOLLOW`` (no
symlink is followed, anywhere on the path), files are written to temporary
names created with ``O_EXCL|O_NOFOLLOW`` and renamed within the same directory
after the final name is checked again, and every byte is verified against its
digest while it is copied.  Everything is refused before anything is written.
"""
from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from typing import Any

import xxhash

from . import lookup
from .artifactstore import RemoteStore, fetch_into_cache
from .cache import ArtifactCache, local_cache
from .errors import GitrunsError, PathError
from .gitnames import names_git_dir
from .hashing import CHUNK, PREFIX, copy_and_digest
from .manifest import directory_listing, parse_manifest
from .repo import Repo
from .sharing import store_of_default_remote
from .terminal import safe


@dataclass
class Restore:
    path: str  # relative to the working tree root, as the record writes it
    digest: str
    size: int
    executable: bool
    parts: list[str] = field(default_factory=list)  # its components, checked


@dataclass
class CheckoutResult:
    """What ``checkout`` did, path by path (paths as the record writes them: untrusted,
    show them through ``terminal.safe``/``json_text``)."""

    run: str
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already there with the right content
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why): in the way, nothing written
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, status): declared, never stored

    def to_dict(self) -> dict[str, Any]:
        """The summary ``git run checkout --json`` prints (docs/sharing.md)."""
        return {
            "run": self.run,
            "written": self.written,
            "unchanged": self.unchanged,
            "refused": [{"path": p, "reason": why} for p, why in self.refused],
            "missing": [{"path": p, "status": status} for p, status in self.missing],
            "ok": not self.refused,
        }


class CheckoutFailed(GitrunsError):
    """Checkout stopped; ``result`` says what was written before (nothing, when files
    were in the way) and what was refused.  Keeps the exit code of its cause."""

    def __init__(self, message: str, result: CheckoutResult, exit_code: int = 1) -> None:
        super().__init__(message)
        self.result = result
        self.exit_code = exit_code


def check_path(rel: str) -> list[str]:
    """The components of a record path, refusing anything that could leave the working
    tree or reach the git directory by its name alone (symlinks are checked on disk)."""
    shown = safe(rel)
    if not rel or os.path.isabs(rel) or rel.startswith(("/", "\\")) or "\0" in rel:
        raise PathError(f"refusing artifact path '{shown}': not a relative path")
    try:
        os.fsencode(rel)
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        raise PathError(f"refusing artifact path '{shown}': not a valid file name") from None
    # A backslash is a separator on Windows: treat it as one, as git does with protectNTFS.
    parts = rel.replace("\\", "/").split("/")
    if any(names_git_dir(p) for p in parts):
        raise PathError(f"refusing artifact path '{shown}': it names the git directory")
    if any(p in ("", ".", "..") for p in parts):
        raise PathError(f"refusing artifact path '{shown}': it would leave the working tree")
    return parts


def _safe_target(root: str, rel: str) -> str:
    """The absolute target of a record path (names checked only; see _Tree for the rest)."""
    return os.path.join(os.path.realpath(root), *check_path(rel))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Tree:
    """The working tree, walked one component at a time through directory descriptors
    opened with O_NOFOLLOW, so a symlink anywhere on a path is refused (even one that
    resolves inside the tree: `link -> .git` does), a directory that is the git
    directory under another name (a separate or linked git dir) is refused, and no
    component can be swapped for a symlink between the check and the write."""

    def __init__(self, root: str, forbidden: dict[str, str]) -> None:
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # Directories never written into, by identity (device, inode), whatever they are
        # called and however they are reached: path -> what it is.
        self.forbidden: dict[tuple[int, int], str] = {}
        for path, what in forbidden.items():
            try:
                st = os.stat(path)
            except OSError:
                continue
            self.forbidden.setdefault((st.st_dev, st.st_ino), what)

    def close(self) -> None:
        os.close(self.root_fd)

    def parent(self, item: Restore, create: bool) -> int | None:
        """A descriptor of the directory that will hold ``item`` (the caller closes it),
        or None when it does not exist yet and ``create`` is false."""
        shown = safe(item.path)
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(item.parts[:-1]):
                where = safe("/".join(item.parts[:i + 1]))
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(part, 0o777, dir_fd=fd)
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise PathError(f"refusing artifact path '{shown}': {where} is a symlink "
                                    "(checkout never writes through one)")
                if not stat.S_ISDIR(st.st_mode):
                    raise PathError(f"cannot restore {shown}: {where} is not a directory")
                try:
                    sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:  # ELOOP/ENOTDIR: it changed under us
                    raise PathError(f"refusing artifact path '{shown}': {where} changed while checked "
                                    f"({exc.strerror})") from None
                os.close(fd)
                fd = sub
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) in self.forbidden:
                    raise PathError(f"refusing artifact path '{shown}': {where} is "
                                    f"{self.forbidden[(st.st_dev, st.st_ino)]}")
            return fd
        except BaseException:
            os.close(fd)
            raise


def _conflicting(plan: list[Restore]) -> None:
    """Two restores at one place, or a file where another needs a directory."""
    files: dict[tuple[str, ...], str] = {}
    for item in plan:
        key = tuple(item.parts)
        if files.setdefault(key, item.digest) != item.digest:
            raise PathError(f"refusing run: {safe(item.path)} is restored twice with different contents")
    for key in files:
        for n in range(1, len(key)):
            if key[:n] in files:
                raise PathError(f"refusing run: {safe('/'.join(key))} would be inside the file "
                                f"{safe('/'.join(key[:n]))}")


def _kept_inputs(run: lookup.Run) -> list[dict[str, Any]]:
    """A run's inputs in the shape of artifacts: ``stored`` when kept, else why not."""
    out = []
    for item in run.record.get("inputs") or []:
        if not isinstance(item, dict):
            continue
        path = str(item.get("path"))
        if item.get("kept") is True:
            status = "stored"
        elif item.get("tracked") is True:
            status = "tracked: in the run's code"
        else:
            status = "not kept" + (f": {item['not_kept']}" if isinstance(item.get("not_kept"), str) else "")
        if status == "stored" and os.path.isabs(path):
            status = "outside the working tree"
        out.append({"path": path, "kind": item.get("kind"), "size": item.get("size"),
                    "digest": item.get("digest"), "status": status})
    return out


def plan_checkout(repo: Repo, run: lookup.Run, paths: list[str], cache: ArtifactCache,
                  remote_store: RemoteStore | None,
                  not_stored: list[tuple[str, str]] | None = None, inputs: bool = False) -> list[Restore]:
    """What to restore: the run's artifacts, or with ``inputs`` its kept inputs; those
    declared but not stored (not kept) are added to ``not_stored`` (path, status) when
    they are among those chosen."""
    chosen = [p.rstrip("/") for p in paths]
    out: list[Restore] = []
    matched: set[str] = set()
    what = "input" if inputs else "artifact"
    for art in _kept_inputs(run) if inputs else run.record.get("artifacts") or []:
        apath = str(art.get("path"))
        if art.get("status") != "stored" or not art.get("digest"):
            if apath in chosen:
                did = "keep" if inputs else "store"
                raise PathError(f"run {run.id[:12]} declared {safe(apath)} but did not {did} it "
                                f"({safe(str(art.get('status')))})")
            if not_stored is not None and (not chosen or any(apath.startswith(c + "/") for c in chosen)):
                not_stored.append((apath, str(art.get("status"))))
            continue
        if chosen:
            hits = [c for c in chosen if apath == c or apath.startswith(c + "/") or c.startswith(apath + "/")]
            if not hits:
                continue
            matched.update(hits)
        check_path(apath)  # before anything is fetched for it
        if art.get("kind") == "dir":
            listing = directory_listing(cache, remote_store, str(art["digest"]), safe(apath))
            for digest, size, exe, rel in parse_manifest(listing, safe(apath)):
                full = f"{apath}/{rel}"
                if chosen and not any(full == c or full.startswith(c + "/") or c == apath
                                      or apath.startswith(c + "/") for c in chosen):
                    continue
                out.append(Restore(full, digest, size, exe, check_path(full)))
        else:
            out.append(Restore(apath, str(art["digest"]), int(art.get("size") or 0), False, check_path(apath)))
    unknown = [c for c in chosen if c not in matched]
    if unknown:
        raise PathError(f"run {run.id[:12]} has no {what} at {', '.join(safe(m) for m in unknown)}")
    _conflicting(out)
    return out


def _digest_at(fd: int, name: str) -> str:
    """The digest of a regular file in the directory ``fd`` (not following a symlink)."""
    h = xxhash.xxh3_128()
    with os.fdopen(os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd), "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return PREFIX + h.hexdigest()


def checkout(repo: Repo, run_id: str, paths: list[str], force: bool, remote: str | None,
             root: str | None = None, inputs: bool = False) -> CheckoutResult:
    """Restore a run's artifacts (with ``inputs``: its kept inputs instead) into the
    working tree (or under the directory ``root``).
    Returns what was written, what was already there; raises CheckoutFailed (with the
    same) when files are in the way (nothing is written then) or a restore fails part way."""
    run = lookup.load(repo, run_id)
    return _checkout_run(repo, run, paths, force, remote, root, inputs)


def checkout_promoted(repo: Repo, name: str, paths: list[str], force: bool, remote: str | None,
                      root: str | None = None) -> tuple[CheckoutResult, dict[str, Any]]:
    """Restore the artifact of promotion ``name`` (NAME or refs/promoted/NAME) to its
    recorded path, with every check ``checkout`` makes; also returns the promotion's
    record (validated), whose ``retired`` the caller warns about."""
    from .promoting import load

    name, _commit, data = load(repo, name)
    art = data["artifact"]
    # The run as the promotion froze it: only the promoted artifact, at its digest.
    rec: dict[str, Any] = {"artifacts": [{"path": art["path"], "digest": art["digest"], "size": art.get("size"),
                                          "kind": art.get("kind") or "file", "status": "stored"}]}
    run = lookup.Run(data["run"], data["run_commit"], rec)  # type: ignore[arg-type]
    return _checkout_run(repo, run, paths, force, remote, root, False), dict(data)


def _checkout_run(repo: Repo, run: lookup.Run, paths: list[str], force: bool, remote: str | None,
                  root: str | None, inputs: bool) -> CheckoutResult:
    root = repo.require_worktree() if root is None else root
    cache = local_cache(repo)
    remote_store = store_of_default_remote(repo, remote)
    result = CheckoutResult(run.id)
    plan = plan_checkout(repo, run, paths, cache, remote_store, result.missing, inputs)
    tree = _Tree(root, _forbidden_dirs(repo, root, cache))
    try:
        # Refuse before writing anything, as git checkout does.
        todo: list[Restore] = []
        try:
            _check_targets(tree, plan, force, result.refused, todo, result.unchanged)
        except OSError as exc:
            raise GitrunsError(f"cannot check the working tree: {exc.strerror or exc}") from None
        if result.refused:
            shown = [safe(p) + (f" ({why})" if why != "modified" else "") for p, why in result.refused]
            raise CheckoutFailed(f"would overwrite modified files (use --force): {', '.join(shown[:5])}"
                                 + (f" and {len(shown) - 5} more" if len(shown) > 5 else ""), result)
        for item in todo:
            try:
                _restore(tree, item, cache, remote_store)
            except GitrunsError as exc:
                if not result.written:
                    raise
                raise CheckoutFailed(str(exc), result, exc.exit_code) from exc
            result.written.append(item.path)
        return result
    finally:
        tree.close()


def _forbidden_dirs(repo: Repo, root: str, cache: ArtifactCache) -> dict[str, str]:
    """Directories checkout never writes into: the git directory (this worktree's and the
    common one, wherever they are), the artifact cache, and the hooks directory when
    core.hooksPath puts it in the working tree (a restored file there would run at the
    next commit)."""
    out = {repo.git_dir: "the git directory", repo.common_dir: "the git directory",
           cache.root: "the artifact cache"}
    try:
        hooks = repo.git.config["core.hooksPath"]
    except (KeyError, ValueError):
        hooks = None
    if hooks:
        # Relative to the working tree, also when restoring elsewhere (root).
        out[os.path.join(repo.root or root, os.path.expanduser(str(hooks)))] = "the hooks directory (core.hooksPath)"
    return out


def _check_targets(tree: _Tree, plan: list[Restore], force: bool, conflicts: list[tuple[str, str]],
                   todo: list[Restore], unchanged: list[str]) -> None:
    """Sort the plan into what to write (``todo``), what is in the way (``conflicts``:
    path and why) and what is already there (``unchanged``); refuse a symlink at any
    final name."""
    name_max = os.fpathconf(tree.root_fd, "PC_NAME_MAX")
    for item in plan:
        # Checked here, or a directory made for it would be left behind by the failed write.
        if any(len(os.fsencode(part)) > name_max for part in item.parts):
            raise PathError(f"cannot restore {safe(item.path)}: a name in it is longer than the "
                            f"filesystem allows ({name_max} bytes)")
        fd = tree.parent(item, create=False)
        if fd is None:
            todo.append(item)
            continue
        try:
            name = item.parts[-1]
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                todo.append(item)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise PathError(f"refusing artifact path '{safe(item.path)}': the working tree has "
                                "a symlink there (checkout never writes through one)")
            if stat.S_ISDIR(st.st_mode):
                conflicts.append((item.path, "a directory"))
                continue
            if not stat.S_ISREG(st.st_mode):
                conflicts.append((item.path, "not a regular file"))
                continue
            if _digest_at(fd, name) == item.digest:
                unchanged.append(item.path)
                continue
            if not force:
                conflicts.append((item.path, "modified"))
                continue
            todo.append(item)
        finally:
            os.close(fd)


def _restore(tree: _Tree, item: Restore, cache: ArtifactCache, remote_store: RemoteStore | None) -> None:
    """Write one file: into a temporary created exclusively in its directory (O_EXCL and
    O_NOFOLLOW, a fresh random name: nothing planted there is followed), verified while
    copied, then renamed over the final name after checking that name again."""
    shown = safe(item.path)
    for attempt in (1, 2):
        if not cache.has(item.digest):
            if remote_store is None:
                raise GitrunsError(f"{shown} ({item.digest}) is not in the local cache and no "
                                   "artifact store is configured for a remote")
            fetch_into_cache(cache, remote_store, item.digest, shown)
        try:
            fd = tree.parent(item, create=True)
        except OSError as exc:
            raise GitrunsError(f"cannot restore {shown}: {exc.strerror or exc}") from None
        assert fd is not None
        tmp = f".gitruns-tmp-{secrets.token_hex(8)}"
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                          dir_fd=fd)
            try:
                # One pass: hash the bytes as they are copied, and publish only a match.
                good = copy_and_digest(cache.object_path(item.digest), out) == item.digest
                if good:
                    os.fchmod(out, (0o755 if item.executable else 0o644) & ~_umask())
            finally:
                os.close(out)
            if good:
                try:
                    st = os.stat(item.parts[-1], dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None and not stat.S_ISREG(st.st_mode):
                    raise PathError(f"refusing artifact path '{shown}': it changed while being restored "
                                    "(no longer a regular file)")
                # rename() replaces the name itself, never what a symlink there points at.
                os.replace(tmp, item.parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
                return
        except OSError as exc:
            raise GitrunsError(f"cannot restore {shown}: {exc.strerror or exc}") from None
        finally:
            try:
                os.unlink(tmp, dir_fd=fd)
            except OSError:
                pass
            os.close(fd)
        # The local copy is corrupt: move it aside and fetch a good one, once.
        kept = cache.quarantine(item.digest)
        bad = f"cache object {item.digest} is corrupt; not restoring {shown} (moved to {kept})"
        if remote_store is None:
            raise GitrunsError(f"{bad}; with an artifact store for a remote "
                               "(git config remote.NAME.gitrunsStore URL) a good copy is fetched from it")
        if attempt == 2:
            raise GitrunsError(f"{bad}; the copy fetched from {remote_store.shown} did not match either")
        try:
            fetch_into_cache(cache, remote_store, item.digest, shown)
        except GitrunsError as exc:
            raise GitrunsError(f"{bad}; fetching a good copy failed: {exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
