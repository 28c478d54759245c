"""The exact code a run was launched from, written as a git tree.

git itself builds the tree, so the snapshot holds what ``git add`` would store:
clean filters run (a Git LFS file becomes its pointer), files outside a sparse
checkout keep their committed version, submodules are taken at their checked-out
commit, and the work is done in C.  The steps, all on a private copy of the
index named by ``GIT_INDEX_FILE`` (the user's index file is only read):

1. ``git status --porcelain=v2 -uall`` on the private copy says what differs
   (tracked changes, untracked files, submodule state) and, as a side effect,
   refreshes the copy's stat data.
2. That refreshed copy is kept under ``<common git dir>/gitruns/snapshot-index/``,
   keyed by the user's index file and its exact content.  The next run starts
   from it as long as the user's index is unchanged, so files that were touched
   but not changed (a fresh checkout, a build tool) are hashed once, not on every
   run.  When the user's index changes, the next run starts from it again: the
   kept copy can never hold another set of tracked paths than the user's index.
3. ``git update-index --add --remove`` puts the changed tracked files and the
   untracked files chosen for the snapshot into the copy, and ``git write-tree``
   writes the tree.

Every run works on its own copy (hard-linked from the kept one, replaced by git
through its lock file and rename), so concurrent runs never share a file.

Untracked files go into the snapshot unless they are larger than
``gitruns.untrackedMaxSize``, beyond the ``gitruns.untrackedMaxFiles`` /
``gitruns.untrackedMaxTotal`` caps, or look like secrets (``.env``, keys, ...);
those are listed in the record instead and make the run dirty, since no commit
holds them.
"""
from __future__ import annotations

import fnmatch
import os
import re
import secrets as _secrets
import shutil
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import GitCommandError, GitrunsError, UsageError
from .gitcmd import run as run_cmd
from .hashing import StatCache, digest_file
from .repo import Repo

# Untracked files whose names say they hold credentials: never copied into a run
# commit (which may be pushed to a shared remote) unless committed by the user.
SECRET_PATTERNS = (
    ".env", ".env.*", "*.env", ".envrc", ".netrc", "_netrc", ".pgpass", ".git-credentials",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "*.pem", "*.key", "*.p12", "*.pfx",
    "credentials.json",
)
# Templates that are meant to be shared.
NOT_SECRET = (".env.example", ".env.sample", ".env.template", ".env.dist")
# Overflow files listed one by one (with digests) at most; the rest are summarised.
LISTED_MAX = 1000
RECORD_DIR = ".gitruns"
# Config that would make git read or write the private index differently from a plain one.
_GIT_CONFIG = (
    "-c", "core.fsmonitor=false", "-c", "core.splitIndex=false", "-c", "status.submoduleSummary=false",
    "-c", "core.quotePath=false", "-c", "core.hooksPath=/dev/null",  # no post-index-change hook on our copy
)


@dataclass
class CodeState:
    commit: str | None
    branch: str | None
    detached: bool
    dirty: bool
    snapshot_tree: str
    changed_files: list[dict[str, str]] = field(default_factory=list)
    untracked_files: list[str] = field(default_factory=list)
    untracked_large: list[dict[str, Any]] = field(default_factory=list)
    submodules: list[dict[str, Any]] = field(default_factory=list)
    untracked_withheld: list[str] = field(default_factory=list)
    untracked_overflow: dict[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "commit": self.commit,
            "branch": self.branch,
            "detached": self.detached,
            "dirty": self.dirty,
            "changed_files": self.changed_files,
            "untracked_files": self.untracked_files,
            "untracked_large": self.untracked_large,
            "untracked_withheld": self.untracked_withheld,
            "submodules": self.submodules,
            "snapshot_tree": self.snapshot_tree,
            "reproducible_from": None,
        }
        if self.untracked_overflow is not None:
            rec["untracked_overflow"] = self.untracked_overflow
        return rec

    def warnings(self) -> list[str]:
        """Lines worth a warning even when dirty runs are allowed: code that ran but
        that no commit holds, for a reason the user may not expect."""
        out = []
        if self.untracked_withheld:
            shown = ", ".join(self.untracked_withheld[:10])
            more = f" and {len(self.untracked_withheld) - 10} more" if len(self.untracked_withheld) > 10 else ""
            one = len(self.untracked_withheld) == 1
            out.append(f"untracked {shown}{more} "
                       + ("looks like a secret and was" if one else "look like secrets and were")
                       + " left out of the snapshot (never stored); add "
                       + ("it" if one else "them") + " to .gitignore")
        if self.untracked_overflow:
            ov = self.untracked_overflow
            dirs = ", ".join(f"{d['path']} ({d['files']} files, {_human(d['size'])})" for d in ov["directories"][:3])
            out.append(f"{ov['files']} untracked files ({_human(ov['size'])}) are beyond "
                       "gitruns.untrackedMaxFiles/untrackedMaxTotal and were left out of the snapshot"
                       + (f"; most are in {dirs}" if dirs else "")
                       + "; add them to .gitignore")
        return out


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


_SECRET_RE = re.compile("|".join(fnmatch.translate(p) for p in SECRET_PATTERNS))


def is_secret(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name not in NOT_SECRET and _SECRET_RE.match(name) is not None


def _head(repo: Repo) -> tuple[Any, str | None, bool]:
    import pygit2

    git = repo.git
    if git.head_is_unborn:
        target = git.references.get("HEAD")
        branch = None
        if target is not None and target.type == pygit2.enums.ReferenceType.SYMBOLIC:
            branch = str(target.target).removeprefix("refs/heads/")
        return None, branch, False
    head = git.head
    commit = head.peel(pygit2.Commit)
    if git.head_is_detached:
        return commit, None, True
    return commit, head.shorthand, False


class _PrivateIndex:
    """A per-run copy of the user's index, seeded from the kept refreshed copy."""

    def __init__(self, repo: Repo) -> None:
        import xxhash

        root = repo.require_worktree()
        user = os.environ.get("GIT_INDEX_FILE") or os.path.join(repo.git_dir, "index")
        self.user = os.path.abspath(os.path.join(root, user))
        self.dir = os.path.join(repo.state_dir, "snapshot-index")
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise GitrunsError(f"cannot create {self.dir}: {exc.strerror or exc}") from None
        self.key = xxhash.xxh3_64_hexdigest(os.path.realpath(self.user).encode())
        try:
            with open(self.user, "rb") as fh:
                content = fh.read()
            # The whole content, not the trailing checksum: index.skipHash writes zeros there.
            self.kept = os.path.join(self.dir, f"{self.key}.{xxhash.xxh3_128_hexdigest(content)}")
        except FileNotFoundError:
            self.kept = os.path.join(self.dir, f"{self.key}.none")
        self._sweep()
        self.path = os.path.join(self.dir, f"run-{os.getpid()}-{_secrets.token_hex(6)}")
        try:
            if os.path.exists(self.kept):
                try:
                    os.link(self.kept, self.path)  # git replaces it by rename; the kept one stays
                except OSError:
                    shutil.copy2(self.kept, self.path)
            elif os.path.exists(self.user):
                # copy2 keeps the mtime, which git's racy-clean check compares entries with.
                shutil.copy2(self.user, self.path)
        except OSError as exc:
            raise GitrunsError(f"cannot copy the index into {self.dir}: {exc.strerror or exc}") from None

    def _sweep(self) -> None:
        """Remove per-run copies left by runs killed a day ago or more (kill -9 skips close())."""
        try:
            old = time.time() - 86400
            for name in os.listdir(self.dir):
                full = os.path.join(self.dir, name)
                if name.startswith("run-") and os.lstat(full).st_ctime < old:  # ctime: a link sets it
                    os.unlink(full)
        except OSError:
            pass

    def keep(self) -> None:
        """Keep this copy, refreshed by git status, for the next run (best effort)."""
        try:
            if not os.path.exists(self.path):
                return
            if os.path.exists(self.kept) and os.path.samefile(self.path, self.kept):
                return
            staging = f"{self.kept}.{os.getpid()}.{_secrets.token_hex(4)}"
            try:
                os.link(self.path, staging)
            except OSError:
                shutil.copy2(self.path, staging)
            os.replace(staging, self.kept)
            for name in os.listdir(self.dir):
                if name.startswith(self.key + ".") and os.path.join(self.dir, name) != self.kept \
                        and name.count(".") == 1:
                    os.unlink(os.path.join(self.dir, name))
        except OSError:
            pass  # only a cache: the next run re-hashes what it must

    def close(self) -> None:
        for path in (self.path, self.path + ".lock"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError:
                pass


def _git_env(repo: Repo, index: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX", "GIT_OPTIONAL_LOCKS",
                        "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_ICASE_PATHSPECS")}
    env.update(GIT_DIR=repo.git_dir, GIT_WORK_TREE=repo.require_worktree(), GIT_INDEX_FILE=index,
               GIT_OPTIONAL_LOCKS="1")
    return env


def _git(repo: Repo, env: dict[str, str], args: list[str], input: bytes | None = None) -> bytes:
    try:
        return run_cmd(["git", *_GIT_CONFIG, *args], cwd=repo.require_worktree(), env=env, input=input).stdout
    except GitCommandError as exc:
        raise GitrunsError(f"cannot snapshot the working tree: {exc}") from None


def _letter(x: str, y: str) -> str:
    if "D" in (x, y):
        return "D"
    if "A" in (x, y):
        return "A"
    if "T" in (x, y):
        return "T"
    return "M"


@dataclass
class _Status:
    changed: list[dict[str, str]] = field(default_factory=list)
    update: list[str] = field(default_factory=list)  # tracked paths to take from the working tree
    untracked: list[str] = field(default_factory=list)
    conflicted: set[str] = field(default_factory=set)
    index_matches_head: bool = True  # no staged change: every entry's X is '.'
    submodules: dict[str, str] = field(default_factory=dict)  # path -> the 'S<c><m><u>' field


def _parse_status(raw: bytes) -> _Status:
    out = _Status()
    for item in raw.split(b"\0"):
        if not item:
            continue
        text = item.decode("utf-8", "surrogateescape")
        kind = text[0]
        if kind == "?":
            out.untracked.append(text[2:])
        elif kind == "1":
            parts = text.split(" ", 8)
            xy, sub, path = parts[1], parts[2], parts[8]
            out.changed.append({"path": path, "status": _letter(xy[0], xy[1])})
            if xy[0] != ".":
                out.index_matches_head = False
            if sub.startswith("S"):
                out.submodules[path] = sub
                if sub[1] == "C":  # another commit checked out: take it from its HEAD
                    out.update.append(path)
            elif xy[1] != ".":
                out.update.append(path)
        elif kind == "u":
            parts = text.split(" ", 10)
            out.changed.append({"path": parts[10], "status": "M"})
            out.update.append(parts[10])  # a conflict is taken as the file on disk
            out.conflicted.add(parts[10])
            out.index_matches_head = False
        # '2' (renames) cannot occur with --no-renames; '#' headers are not asked for.
    return out


def _digest(full: str, st: os.stat_result, statcache: StatCache) -> str:
    real = os.path.realpath(full)
    digest = statcache.lookup(real, st)
    if digest is None:
        digest = digest_file(full)
        statcache.store(real, st, digest)
    return digest


def _top_dir(path: str) -> str:
    return path.split("/", 1)[0] + "/" if "/" in path else path


@dataclass
class _Untracked:
    """The untracked files: those that enter the snapshot (with their stat data, in
    path order) and those listed in the record instead (see the module doc)."""

    chosen: dict[str, os.stat_result] = field(default_factory=dict)
    large: list[dict[str, Any]] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    overflow: dict[str, Any] | None = None

    def left_out(self) -> bool:
        return bool(self.large or self.withheld or self.overflow)


def current(repo: Repo) -> CodeState:
    """The user's code as it is now, as exec would record it (the caps from git
    config), its tree written into the object store: what resume and sweep run."""
    from .settings import load as load_settings

    settings = load_settings(repo.git)
    statcache = StatCache(os.path.join(repo.state_dir, "statcache.sqlite"))
    try:
        return capture(repo, settings.size("gitruns.untrackedMaxSize"), statcache,
                       max_files=settings.size("gitruns.untrackedMaxFiles"),
                       max_total=settings.size("gitruns.untrackedMaxTotal"))
    finally:
        statcache.close()


def capture(repo: Repo, untracked_max: int, statcache: StatCache, exclude: tuple[str, ...] = (),
            max_files: int = 10_000, max_total: int = 100 * 1024**2) -> CodeState:
    """Describe the code at launch and write its exact tree into the object store.

    ``exclude`` names paths (relative to the root) of the run's declared
    outputs: untracked files there are results of earlier runs, not code.
    """
    root = repo.require_worktree()
    head, branch, detached = _head(repo)
    status, untracked, tree_id = _write_tree(repo, root, head, statcache, exclude, untracked_max,
                                             max_files, max_total)
    tree: Any = repo.git[tree_id]  # a Tree: `in` and len() read its entries
    _refuse_record_dir(tree)
    submodules = _submodules(repo, root, tree, status.submodules, statcache)
    listed = {c["path"] for c in status.changed}
    status.changed.extend({"path": s["path"], "status": "M"} for s in submodules
                          if s["dirty"] and s["path"] not in listed)
    return CodeState(
        commit=str(head.id) if head is not None else None,
        branch=branch,
        detached=detached,
        dirty=_is_dirty(head, tree, untracked, submodules),
        snapshot_tree=tree_id,
        changed_files=status.changed,
        untracked_files=list(untracked.chosen),
        untracked_large=untracked.large,
        submodules=submodules,
        untracked_withheld=untracked.withheld,
        untracked_overflow=untracked.overflow,
    )


def _write_tree(repo: Repo, root: str, head: Any, statcache: StatCache, exclude: tuple[str, ...],
                untracked_max: int, max_files: int, max_total: int) -> tuple[_Status, _Untracked, str]:
    """Steps 1 to 3 of the module doc on a private index: what differs, which untracked
    files to take, and the tree git writes of them."""
    index = _PrivateIndex(repo)
    try:
        env = _git_env(repo, index.path)
        # Submodules' own work trees are looked at below, without optional locks:
        # a recursive status here would refresh (write) their index files.
        raw = _git(repo, env, ["status", "--porcelain=v2", "-z", "--untracked-files=all", "--no-renames",
                               "--ignore-submodules=dirty"])
        index.keep()
        status = _parse_status(raw)
        untracked = _choose_untracked(root, status.untracked, exclude, untracked_max, max_files, max_total,
                                      statcache)
        paths = sorted(set(status.update)) + list(untracked.chosen)
        tree_id, hashed = _stage(repo, env, root, paths, untracked.chosen, status, head, statcache)
    finally:
        index.close()
    _remember_blobs(root, repo.git[tree_id], hashed, statcache)
    return status, untracked, tree_id


def _refuse_record_dir(tree: Any) -> None:
    if RECORD_DIR in tree:
        raise UsageError(f"the working tree has its own '{RECORD_DIR}' (committed or untracked); gitruns "
                         f"keeps each run's record there in the run commit: rename it or add it to .gitignore")


def _is_dirty(head: Any, tree: Any, untracked: _Untracked, submodules: list[dict[str, Any]]) -> bool:
    """Whether no commit holds exactly the code that ran: the tree differs from HEAD's
    (any tree at all in a repository without commits), an untracked file was left
    out, or a submodule has changes of its own."""
    if head is None:
        differs = len(tree) > 0
    else:
        differs = str(head.tree_id) != str(tree.id)
    return differs or untracked.left_out() or any(s["dirty"] for s in submodules)


def _stage(repo: Repo, env: dict[str, str], root: str, paths: list[str], stats: dict[str, os.stat_result],
           status: _Status, head: Any, statcache: StatCache) -> tuple[str, list[tuple[str, os.stat_result]]]:
    """The snapshot tree: the private index with ``paths`` taken as they are on disk.

    A file whose stat data match the blob an earlier run stored it as is not read
    again: its blob is put into the tree directly, like a deleted file's removal.
    The others (new or changed files, submodules, conflicts) are hashed by
    ``git update-index --add``, which runs the clean filters.  When the index
    matches HEAD and git had nothing to hash, HEAD's tree is the base and git is
    not asked to load the index again.  Returns the tree and the files git hashed."""
    import pygit2

    git = repo.git
    edits: dict[str, tuple[int, pygit2.Oid] | None] = {}
    to_hash: list[str] = []
    hashed: list[tuple[str, os.stat_result]] = []
    real_root = os.path.realpath(root)
    blobs = statcache.blobs_under(real_root)
    for path in paths:
        if path in status.submodules or path in status.conflicted:
            to_hash.append(path)
            continue
        st = stats.get(path)
        if st is None:
            try:
                st = os.lstat(os.path.join(root, path))
            except FileNotFoundError:
                edits[path] = None  # deleted
                continue
            except OSError:
                to_hash.append(path)
                continue
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            to_hash.append(path)
            continue
        hit = blobs.get(real_root + "/" + path, st)
        if hit is not None:
            oid = pygit2.Oid(hex=hit[1])
            if oid in git.odb:  # a deleted run's blob may have been pruned since
                edits[path] = (hit[0], oid)
                continue
        to_hash.append(path)
        hashed.append((path, st))
    if to_hash:
        _git(repo, env, ["update-index", "--add", "--remove", "-z", "--stdin"],
             input=b"".join(os.fsencode(p) + b"\0" for p in to_hash))
        base = _git(repo, env, ["write-tree"]).decode().strip()
    elif head is not None and status.index_matches_head:
        base = str(head.tree_id)
    else:
        base = _git(repo, env, ["write-tree"]).decode().strip()
    return (_edit_tree(git, base, edits) if edits else base), hashed


def _edit_tree(git: Any, base: str, edits: dict[str, Any]) -> str:
    """``base`` with ``edits`` (path -> (mode, blob id), or None to remove) applied."""
    import pygit2

    tree_mode = int(pygit2.enums.FileMode.TREE)
    nested: dict[str, Any] = {}
    for path, value in sorted(edits.items()):
        node = nested
        parts = path.split("/")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}  # a directory where a (deleted) file was
            node = node[part]
        if value is None and isinstance(node.get(parts[-1]), dict):
            continue
        node[parts[-1]] = value

    def build(tree: Any, node: dict[str, Any]) -> Any:
        builder = git.TreeBuilder(tree) if tree is not None else git.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                sub = None
                if tree is not None and name in tree and tree[name].filemode == tree_mode:
                    sub = git[tree[name].id]
                oid = build(sub, value)
                if oid is None:
                    if builder.get(name) is not None:
                        builder.remove(name)
                else:
                    builder.insert(name, oid, tree_mode)
            elif value is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, value[1], value[0])
        if len(builder) == 0:
            return None  # git stores no empty directories
        return builder.write()

    oid = build(git[base], nested)
    return str(oid if oid is not None else git.TreeBuilder().write())


def _remember_blobs(root: str, tree: Any, hashed: list[tuple[str, os.stat_result]], statcache: StatCache) -> None:
    real_root = os.path.realpath(root)
    with statcache.batch():
        for path, st in hashed:
            try:
                entry = tree[path]
            except (KeyError, ValueError):
                continue
            statcache.store_blob(real_root + "/" + path, st, int(entry.filemode), str(entry.id))


def _choose_untracked(
    root: str, untracked: list[str], exclude: tuple[str, ...], untracked_max: int, max_files: int,
    max_total: int, statcache: StatCache,
) -> _Untracked:
    """Which untracked files enter the snapshot and which are only listed."""
    chosen: dict[str, os.stat_result] = {}
    large: list[dict[str, Any]] = []
    withheld: list[str] = []
    over: list[tuple[str, os.stat_result]] = []
    total = 0
    for path in sorted(untracked):
        if path.endswith("/"):
            continue  # a nested repository that is not a submodule: git cannot add it
        if any(path == e or path.startswith(e + "/") for e in exclude):
            continue
        if is_secret(path):
            withheld.append(path)
            continue
        full = os.path.join(root, path)
        try:
            st = os.lstat(full)
        except OSError:
            continue  # gone since git status looked
        size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        if stat.S_ISREG(st.st_mode) and size > untracked_max:
            large.append({"path": path, "size": size, "digest": "", "_st": st})
            continue
        if len(chosen) >= max_files or total + size > max_total:
            over.append((path, st))
            continue
        chosen[path] = st
        total += size
    overflow = None
    if over:
        by_dir: Counter[str] = Counter()
        size_by_dir: Counter[str] = Counter()
        for path, st in over:
            by_dir[_top_dir(path)] += 1
            size_by_dir[_top_dir(path)] += st.st_size
        overflow = {
            "files": len(over), "size": sum(st.st_size for _, st in over),
            "directories": [{"path": d, "files": n, "size": size_by_dir[d]} for d, n in by_dir.most_common(10)],
        }
        for path, st in over[:LISTED_MAX]:
            if stat.S_ISREG(st.st_mode):
                large.append({"path": path, "size": st.st_size, "digest": "", "reason": "cap", "_st": st})
    with statcache.batch():
        for entry in large:
            st = entry.pop("_st")
            entry["digest"] = _digest(os.path.join(root, entry["path"]), st, statcache)
    large.sort(key=lambda e: e["path"])
    return _Untracked(chosen, large, withheld, overflow)


def _submodules(repo: Repo, root: str, tree: Any, flags: dict[str, str], statcache: StatCache) -> list[dict[str, Any]]:
    """Every submodule of the snapshot, at the commit it holds; a dirty one lists its changes."""
    paths = set(flags)
    gitmodules = os.path.join(root, ".gitmodules")
    if os.path.exists(gitmodules):
        try:
            out = run_cmd(["git", "config", "-z", "--file", gitmodules, "--get-regexp", r"^submodule\..*\.path$"],
                          check=False).stdout
        except GitrunsError:
            out = b""
        for raw in out.split(b"\0"):
            if b"\n" in raw:
                paths.add(raw.split(b"\n", 1)[1].decode("utf-8", "surrogateescape").strip("/"))
    result = []
    for path in sorted(paths):
        try:
            entry = tree[path]
        except (KeyError, ValueError):
            continue
        if entry.filemode != 0o160000:
            continue
        changes = _submodule_changes(root, path, statcache)
        item: dict[str, Any] = {"path": path, "commit": str(entry.id), "dirty": bool(changes)}
        if changes:
            item["changed_files"] = changes
        result.append(item)
    return result


def _submodule_changes(root: str, sub: str, statcache: StatCache) -> list[dict[str, Any]]:
    """A submodule's changed and untracked files with their digests (the snapshot holds
    only the submodule's commit, so this is what says what ran); [] when it is clean
    or not checked out."""
    if not os.path.exists(os.path.join(root, sub, ".git")):
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith("GIT_CONFIG")}
    # Never write the submodule's index (nor, through the environment, its own submodules').
    env["GIT_OPTIONAL_LOCKS"] = "0"
    proc = run_cmd(["git", "-C", os.path.join(root, sub), "status", "--porcelain=v1", "-z", "--untracked-files=all",
                    "--no-renames"], env=env, check=False)
    out: list[dict[str, Any]] = []
    with statcache.batch():
        for item in proc.stdout.split(b"\0"):
            if len(out) >= LISTED_MAX:
                break  # the submodule is dirty either way; a forgotten venv there is not listed whole
            if len(item) < 4:
                continue
            text = item.decode("utf-8", "surrogateescape")
            xy, rel = text[:2], text[3:]
            if rel.endswith("/"):
                continue
            full = os.path.join(root, sub, rel)
            digest = None
            try:
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode):
                    digest = _digest(full, st, statcache)
            except OSError:
                pass
            letter = "A" if xy == "??" else _letter(xy[0], xy[1])
            out.append({"path": f"{sub}/{rel}", "status": letter, "digest": digest})
    return out
