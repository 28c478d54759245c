"""push, fetch, pull and checkout: runs through git remotes, artifacts through stores."""
from __future__ import annotations

import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from typing import Any

import xxhash

from . import remote as remote_mod
from . import store
from .artifactstore import CorruptObject, RemoteStore, store_for
from .cache import ArtifactCache
from .cache import for_repo as cache_for_repo
from .errors import GitrunsError, PathError, RecordError, UsageError
from .hashing import CHUNK, PREFIX, copy_and_digest, digest_bytes, digest_file
from .repo import Repo
from .settings import load as load_settings


def local_cache(repo: Repo) -> ArtifactCache:
    return cache_for_repo(repo, load_settings(repo.git))


# A directory artifact's listing comes from the cache or a store: untrusted, so bounded.
MAX_LISTING_BYTES = 256 * 1024 * 1024
_DIGEST = re.compile(r"xxh3_128:[0-9a-f]{32}")
_SIZE = re.compile(r"[0-9]{1,19}")


def parse_manifest(data: bytes, where: str = "a directory artifact") -> list[tuple[str, int, bool, str]]:
    """(digest, size, executable, relative path) of each file of a directory artifact.

    The listing is checked line by line (digest format, size, mode, no repeated
    path); its paths go through the same checks as record paths when restored."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"malformed listing of {where}: not UTF-8") from None
    if text.endswith("\n"):
        text = text[:-1]
    out = []
    seen: set[str] = set()
    for number, line in enumerate(text.split("\n") if text else [], 1):
        fields = line.split(" ", 3)
        if (len(fields) != 4 or not _DIGEST.fullmatch(fields[0]) or not _SIZE.fullmatch(fields[1])
                or fields[2] not in ("x", "-") or not fields[3] or fields[3] in seen):
            raise RecordError(f"malformed listing of {where}: line {number}: {_shown(line[:80])}")
        seen.add(fields[3])
        out.append((fields[0], int(fields[1]), fields[2] == "x", fields[3]))
    return out


def _listing(cache: ArtifactCache, remote_store: RemoteStore | None, digest: str, where: str) -> bytes:
    """A directory artifact's listing, verified, from the cache or else the store."""
    data = cache.read_verified(digest, MAX_LISTING_BYTES)  # a corrupt copy is quarantined
    if data is None:
        if remote_store is None:
            raise GitrunsError(f"the listing of {where} ({digest}) is not in the local cache "
                               "and no artifact store is configured")
        fetch_into_cache(cache, remote_store, digest, where)
        data = cache.read_verified(digest, MAX_LISTING_BYTES)
        if data is None:
            raise GitrunsError(f"the listing of {where} ({digest}) could not be read from the cache")
    return data


def _objects(rec: dict[str, Any], cache: ArtifactCache) -> list[tuple[str, str]]:
    """(digest, what it is) of every cache object a run's record refers to: artifacts,
    directory listings and their files, and full logs kept outside git.  A listing
    that is not here (or corrupt: then quarantined) is named, its files cannot be."""
    out: list[tuple[str, str]] = []
    for art in rec.get("artifacts") or []:
        if art.get("status") != "stored" or not art.get("digest"):
            continue
        apath = str(art.get("path"))
        out.append((art["digest"], f"artifact {apath}"))
        if art.get("kind") == "dir":
            data = cache.read_verified(art["digest"], MAX_LISTING_BYTES)
            if data is not None:
                out += [(d, f"artifact {apath}/{rel}") for d, _, _, rel in parse_manifest(data, apath)]
    for stream, meta in (rec.get("logs") or {}).items():
        if isinstance(meta, dict) and meta.get("truncated") and meta.get("digest"):
            out.append((meta["digest"], f"full {stream} log"))
    first: dict[str, str] = {}
    for digest, what in out:
        first.setdefault(digest, what)  # an object shared by several artifacts is named once
    return list(first.items())


def run_objects(rec: dict[str, Any], cache: ArtifactCache) -> list[str]:
    """Every cache object a run's record refers to (see _objects)."""
    return [d for d, _ in _objects(rec, cache)]


def fetch_into_cache(cache: ArtifactCache, remote_store: RemoteStore, digest: str, what: str = "") -> None:
    """Download an object into the cache, verified.  A copy that fails verification is
    quarantined and fetched once more (a transfer can go wrong); a second bad copy
    means the store's own object is bad: it is moved aside in the store, so a push
    from a clone with a good copy uploads it again, and the error says so."""
    dest = cache.object_path(digest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    for attempt in (1, 2):
        try:
            remote_store.download(digest, dest)
        except CorruptObject as exc:
            kept = cache.quarantine(digest, exc.path)
            if attempt == 1:
                continue
            moved = remote_store.quarantine(digest)
            raise GitrunsError(
                f"{digest}{f' ({what})' if what else ''} in artifact store {remote_store.shown} is corrupt: "
                f"two downloads failed verification (bad copy kept in {kept}"
                + (f"; the store's copy moved to {moved}" if moved else "")
                + "); repair: run 'git run push' in a clone that has a good copy, then try again") from None
        os.chmod(dest, 0o444)
        return


@dataclass
class PushResult:
    remote: str
    report: remote_mod.SyncReport
    uploaded: int = 0
    upload_bytes: int = 0
    store: str | None = None
    missing_locally: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # one line each: object, what, run, where it went
    refused: list[str] = field(default_factory=list)  # local runs whose record is unreadable: not pushed
    repaired: int = 0  # objects re-uploaded in place of ones the store had quarantined


class _Confirmed:
    """Run commits whose objects (those this clone holds) are known to be in a store.

    So that push can upload what the store lacks for runs the remote already has
    (pushed with plain git, or before a store was configured) without asking the
    store about every object of every run on every push: each run commit is
    checked once per store.  Kept in SQLite in the state dir; losing it only
    costs one more check."""

    def __init__(self, repo: Repo, store_url: str) -> None:
        import sqlite3

        self.key = digest_bytes(store_url.encode())  # the URL may hold a password
        self.db: Any = None
        self.added: list[str] = []
        try:
            os.makedirs(repo.state_dir, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(repo.state_dir, "stores.sqlite"), timeout=30,
                                      isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS confirmed (store TEXT, run_commit TEXT, "
                            "PRIMARY KEY (store, run_commit))")
            self.done = {row[0] for row in self.db.execute(
                "SELECT run_commit FROM confirmed WHERE store = ?", (self.key,))}
        except sqlite3.Error:
            self.db, self.done = None, set()

    def add(self, commit: str) -> None:
        self.added.append(commit)

    def close(self) -> None:
        """Keep what was confirmed, in one transaction (one disk sync, not one a run)."""
        import sqlite3

        if self.db is None:
            return
        try:
            if self.added:
                with self.db:
                    self.db.execute("BEGIN")
                    self.db.executemany("INSERT OR IGNORE INTO confirmed VALUES (?, ?)",
                                        [(self.key, c) for c in self.added])
        except sqlite3.Error:
            pass  # only costs one more check next time
        finally:
            self.db.close()


def push(repo: Repo, remote: str | None, ids: list[str] | None) -> PushResult:
    name = remote_mod.default_remote(repo, remote)
    local = dict(store.iter_refs(repo))
    wanted = [store.resolve(repo, i) for i in ids] if ids else None
    for rid in wanted or []:
        if rid not in local:
            raise UsageError(f"run {rid} is known here only from a remote; 'git run fetch' takes it in")
    todo, report = remote_mod.plan_push(repo, name, local, wanted)
    result = PushResult(name, report)
    records: dict[str, dict[str, Any]] = {}
    for rid in list(todo):
        # A bad record (crafted, or damaged here) is not spread further, and never
        # stops the others from being pushed.
        try:
            records[rid] = store.read_record(repo.git, local[rid])
        except RecordError as exc:
            todo.remove(rid)
            result.refused.append(f"{rid}: {exc}")
    remote_store = store_for(repo, name)
    if remote_store is not None:
        _upload(repo, local, todo, report.unchanged, remote_store, result, records)
    # Artifacts first, then the records that point at them.
    remote_mod.push_refs(repo, name, local, todo, report)
    return result


def _upload(repo: Repo, local: dict[str, str], todo: list[str], unchanged: list[str],
            remote_store: RemoteStore, result: PushResult, records: dict[str, dict[str, Any]]) -> None:
    """Upload, verified, every object the store lacks: of the runs being pushed, of runs
    the remote already has but this store was never confirmed to hold, and good copies
    of objects the store quarantined as corrupt."""
    cache = local_cache(repo)
    confirmed = _Confirmed(repo, remote_store.url)
    try:
        later = [rid for rid in unchanged if local[rid] not in confirmed.done]
        for rid in todo + later:
            try:
                rec = records.get(rid) or store.read_record(repo.git, local[rid])
            except RecordError:
                continue  # already on the remote; its record is refused by every reader anyway
            complete = True
            for digest, what in _objects(rec, cache):
                if not cache.has(digest):
                    if rid in todo:
                        result.missing_locally.append(digest)
                    continue
                if not remote_store.has(digest):
                    complete &= _upload_verified(cache, remote_store, digest, f"{what} of run {rid}", result)
            if complete:
                confirmed.add(local[rid])
        for digest in remote_store.quarantined():
            if cache.has(digest) and not remote_store.has(digest):
                if _upload_verified(cache, remote_store, digest, "an object the store had quarantined", result):
                    result.repaired += 1
        if todo or result.uploaded or result.corrupt:
            result.store = remote_store.shown
    finally:
        confirmed.close()


def _upload_verified(cache: ArtifactCache, remote_store: RemoteStore, digest: str, what: str,
                     result: PushResult) -> bool:
    """Upload one cache object after checking its bytes against its digest; a corrupt
    one is quarantined and reported, and never reaches the store."""
    path = cache.object_path(digest)
    if digest_file(path) != digest:
        kept = cache.quarantine(digest)
        result.corrupt.append(f"{digest} ({_shown(what)}) is corrupt in the local cache; moved to {kept}, "
                              "not uploaded (a clone with a good copy can upload it with 'git run push')")
        return False
    remote_store.upload(path, digest)
    result.uploaded += 1
    result.upload_bytes += os.path.getsize(path)
    return True


def fetch(repo: Repo, remote: str | None) -> tuple[str, remote_mod.SyncReport]:
    name = remote_mod.default_remote(repo, remote)
    return name, remote_mod.fetch(repo, name)


def _store_of_default_remote(repo: Repo, remote: str | None = None) -> RemoteStore | None:
    if not remote and not remote_mod.remotes(repo):
        return None
    try:
        return store_for(repo, remote_mod.default_remote(repo, remote))
    except GitrunsError:
        if remote:
            raise
        return None


def fetch_logs(repo: Repo, run: store.Run, cache: ArtifactCache) -> None:
    """Bring a run's full logs (kept outside git when large) into the local cache,
    from the usual remote's store; without one, git's head and tail are shown."""
    wanted = [m["digest"] for m in (run.record.get("logs") or {}).values()
              if isinstance(m, dict) and m.get("truncated") and m.get("digest") and not cache.has(m["digest"])]
    if not wanted:
        return
    remote_store = _store_of_default_remote(repo)
    if remote_store is None:
        return
    for digest in wanted:
        try:
            if remote_store.has(digest):
                fetch_into_cache(cache, remote_store, digest)
        except GitrunsError:
            pass  # the head and tail in git are still there to show


@dataclass
class Restore:
    path: str  # relative to the working tree root, as the record writes it
    digest: str
    size: int
    executable: bool
    parts: list[str] = field(default_factory=list)  # its components, checked


# Code points HFS+ ignores in names (git's is_hfs_dotgit): '.g\u200cit' is '.git' there.
_HFS_IGNORED = frozenset([*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])
_SHORT_NAME = re.compile(r"git~[0-9]+")


def _names_git_dir(part: str) -> bool:
    """Whether a path component names the git directory on some filesystem: any case
    (Windows, macOS), NTFS trailing dots and spaces, an NTFS stream (`.git::$INDEX_ALLOCATION`),
    the 8.3 short name (GIT~1), HFS+ ignorable code points.  As git's verify_path with
    core.protectNTFS and core.protectHFS (CVE-2014-9390, CVE-2019-1353), on every
    platform: a working tree may be shared with one of those."""
    name = "".join(c for c in part if ord(c) not in _HFS_IGNORED).lower()
    name = name.split(":", 1)[0].rstrip(" .")
    return name == ".git" or bool(_SHORT_NAME.fullmatch(name))


def _shown(text: str) -> str:
    """A path from a record, safe to print: control and invisible characters escaped."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def check_path(rel: str) -> list[str]:
    """The components of a record path, refusing anything that could leave the working
    tree or reach the git directory by its name alone (symlinks are checked on disk)."""
    shown = _shown(rel)
    if not rel or os.path.isabs(rel) or rel.startswith(("/", "\\")) or "\0" in rel:
        raise PathError(f"refusing artifact path '{shown}': not a relative path")
    try:
        os.fsencode(rel)
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        raise PathError(f"refusing artifact path '{shown}': not a valid file name") from None
    # A backslash is a separator on Windows: treat it as one, as git does with protectNTFS.
    parts = rel.replace("\\", "/").split("/")
    if any(_names_git_dir(p) for p in parts):
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
        shown = _shown(item.path)
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(item.parts[:-1]):
                where = _shown("/".join(item.parts[:i + 1]))
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
            raise PathError(f"refusing run: {_shown(item.path)} is restored twice with different contents")
    for key in files:
        for n in range(1, len(key)):
            if key[:n] in files:
                raise PathError(f"refusing run: {_shown('/'.join(key))} would be inside the file "
                                f"{_shown('/'.join(key[:n]))}")


def plan_checkout(repo: Repo, run: store.Run, paths: list[str], cache: ArtifactCache,
                  remote_store: RemoteStore | None) -> list[Restore]:
    chosen = [p.rstrip("/") for p in paths]
    out: list[Restore] = []
    matched: set[str] = set()
    for art in run.record.get("artifacts") or []:
        apath = str(art.get("path"))
        if art.get("status") != "stored" or not art.get("digest"):
            if apath in chosen:
                raise PathError(f"run {run.id[:12]} declared {_shown(apath)} but did not store it "
                                f"({art.get('status')})")
            continue
        if chosen:
            hits = [c for c in chosen if apath == c or apath.startswith(c + "/") or c.startswith(apath + "/")]
            if not hits:
                continue
            matched.update(hits)
        check_path(apath)  # before anything is fetched for it
        if art.get("kind") == "dir":
            listing = _listing(cache, remote_store, art["digest"], _shown(apath))
            for digest, size, exe, rel in parse_manifest(listing, _shown(apath)):
                full = f"{apath}/{rel}"
                if chosen and not any(full == c or full.startswith(c + "/") or c == apath
                                      or apath.startswith(c + "/") for c in chosen):
                    continue
                out.append(Restore(full, digest, size, exe, check_path(full)))
        else:
            out.append(Restore(apath, art["digest"], int(art.get("size") or 0), False, check_path(apath)))
    missing = [c for c in chosen if c not in matched]
    if missing:
        raise PathError(f"run {run.id[:12]} has no artifact at {', '.join(_shown(m) for m in missing)}")
    _conflicting(out)
    return out


def _digest_at(fd: int, name: str) -> str:
    """The digest of a regular file in the directory ``fd`` (not following a symlink)."""
    h = xxhash.xxh3_128()
    with os.fdopen(os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd), "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return PREFIX + h.hexdigest()


def checkout(repo: Repo, run_id: str, paths: list[str], force: bool, remote: str | None) -> list[str]:
    """Restore a run's artifacts into the working tree; returns the paths written."""
    root = repo.require_worktree()
    run = store.load(repo, run_id)
    cache = local_cache(repo)
    remote_store = _store_of_default_remote(repo, remote)
    plan = plan_checkout(repo, run, paths, cache, remote_store)
    tree = _Tree(root, _forbidden_dirs(repo, root, cache))
    try:
        # Refuse before writing anything, as git checkout does.
        conflicts: list[str] = []
        todo: list[Restore] = []
        try:
            _check_targets(tree, plan, force, conflicts, todo)
        except OSError as exc:
            raise GitrunsError(f"cannot check the working tree: {exc.strerror or exc}") from None
        if conflicts:
            raise GitrunsError(f"would overwrite modified files (use --force): {', '.join(conflicts[:5])}"
                               + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""))
        written = []
        for item in todo:
            _restore(tree, item, cache, remote_store)
            written.append(item.path)
        return written
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
        out[os.path.join(root, os.path.expanduser(str(hooks)))] = "the hooks directory (core.hooksPath)"
    return out


def _check_targets(tree: _Tree, plan: list[Restore], force: bool, conflicts: list[str],
                   todo: list[Restore]) -> None:
    """Sort the plan into what to write (``todo``) and what is in the way (``conflicts``);
    refuse a symlink at any final name."""
    name_max = os.fpathconf(tree.root_fd, "PC_NAME_MAX")
    for item in plan:
        # Checked here, or a directory made for it would be left behind by the failed write.
        if any(len(os.fsencode(part)) > name_max for part in item.parts):
            raise PathError(f"cannot restore {_shown(item.path)}: a name in it is longer than the "
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
                raise PathError(f"refusing artifact path '{_shown(item.path)}': the working tree has "
                                "a symlink there (checkout never writes through one)")
            if stat.S_ISDIR(st.st_mode):
                conflicts.append(f"{_shown(item.path)} (a directory)")
                continue
            if not stat.S_ISREG(st.st_mode):
                conflicts.append(f"{_shown(item.path)} (not a regular file)")
                continue
            if _digest_at(fd, name) == item.digest:
                continue
            if not force:
                conflicts.append(_shown(item.path))
                continue
            todo.append(item)
        finally:
            os.close(fd)


def _restore(tree: _Tree, item: Restore, cache: ArtifactCache, remote_store: RemoteStore | None) -> None:
    """Write one file: into a temporary created exclusively in its directory (O_EXCL and
    O_NOFOLLOW, a fresh random name: nothing planted there is followed), verified while
    copied, then renamed over the final name after checking that name again."""
    shown = _shown(item.path)
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
