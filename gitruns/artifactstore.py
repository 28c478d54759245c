"""Remote artifact stores: a directory, an sftp location, or S3-compatible storage.

The layout is the local cache's (``xxh3_128/<2 hex>/<30 hex>``).  Transports
come from fsspec (its sftp implementation over paramiko, and s3fs), so users'
keys, agents and AWS credentials work as those libraries read them.  Which store
belongs to a git remote is git config:

    git config remote.origin.gitrunsStore s3://bucket/prefix
    git config remote.origin.gitrunsStoreEndpoint http://minio.local:9000   # S3-compatible

A remote that is a local path (or file://) has a default store inside that
repository: ``<its git dir>/gitruns/cache``.

An upload goes to a temporary name and is renamed into place (S3: a PUT or a
completed multipart upload is atomic), so a half-uploaded object is never
visible under its digest.  Transfers are retried with backoff.
"""
from __future__ import annotations

import os
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .cache import QUARANTINE, ArtifactCache, default_root, object_key
from .errors import GitrunsError, UsageError
from .hashing import digest_file, split_digest
from .progress import Progress
from .redact import scrub_text

if TYPE_CHECKING:
    from .repo import Repo

T = TypeVar("T")
ATTEMPTS = 4


class _Callback:
    """An fsspec callback that drives our progress line."""

    def __init__(self, progress: Progress) -> None:
        import fsspec.callbacks

        class CB(fsspec.callbacks.Callback):  # type: ignore[misc]
            def call(self, *args: Any, **kwargs: Any) -> None:
                pass

            def relative_update(self, inc: int = 1) -> None:
                progress.advance(inc)

        self.cb = CB()


def _permanent(exc: BaseException) -> bool:
    """Errors that another attempt cannot fix: refused keys or credentials, no permission."""
    if isinstance(exc, PermissionError):
        return True
    name = type(exc).__name__
    return name in ("AuthenticationException", "BadHostKeyException", "NoCredentialsError") or \
        "known_hosts" in str(exc)


def _known_hosts_policy() -> Any:
    """Accept a server only if ~/.ssh/known_hosts knows its key, as ssh does by default.

    (fsspec's default would trust any key on first use.)  Connect once with
    ``ssh`` to add a new host.
    """
    import paramiko

    class KnownHosts(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            known = paramiko.HostKeys()
            for path in ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"):
                try:
                    known.load(os.path.expanduser(path))
                except (OSError, paramiko.SSHException):
                    continue
            entry = known.lookup(hostname)
            if entry is not None and key.get_name() in entry:
                if entry[key.get_name()] == key:
                    return
                raise paramiko.SSHException(f"host key for {hostname} does not match known_hosts")
            raise paramiko.SSHException(
                f"{hostname} is not in ~/.ssh/known_hosts; connect once with ssh to check and add its key")

    return KnownHosts()


def _filesystem(protocol: str, **options: Any) -> Any:
    import fsspec

    return fsspec.filesystem(protocol, **options)


class RemoteStore:
    def __init__(self, url: str, endpoint: str | None = None) -> None:
        self.url = url
        self.shown = scrub_text(url)
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        self.atomic_put = False
        self.local = False
        self.fs: Any = None
        self._connect: Callable[[], Any] = lambda: None
        if scheme in ("", "file"):
            path = parts.path if scheme == "file" else url
            # fsspec (50 ms to import) only when an object moves: a push with nothing
            # new asks a directory store only what os can answer (has, quarantined).
            self.local = True
            self._connect = lambda: _filesystem("file")
            self.root = os.path.abspath(os.path.expanduser(path))
        elif scheme in ("sftp", "ssh"):
            if not parts.hostname:
                raise UsageError(f"artifact store {self.shown}: no host")
            kwargs: dict[str, Any] = {"host": parts.hostname, "port": parts.port or 22}
            if parts.username:
                kwargs["username"] = urllib.parse.unquote(parts.username)
            if parts.password:
                kwargs["password"] = urllib.parse.unquote(parts.password)
            kwargs["host_key_policy"] = _known_hosts_policy()
            self._connect = lambda: _filesystem("sftp", skip_instance_cache=True, **kwargs)
            self.root = parts.path or "."
        elif scheme == "s3":
            options: dict[str, Any] = {}
            if endpoint:
                options["endpoint_url"] = endpoint
            self.fs = _filesystem("s3", skip_instance_cache=True, **options)
            self.root = f"{parts.netloc}{parts.path}".rstrip("/")
            self.atomic_put = True
        else:
            raise UsageError(f"artifact store {self.shown}: unsupported scheme '{scheme}' "
                             "(use a path, file://, sftp:// or s3://)")

    def _filesystem(self) -> Any:
        if self.fs is None:
            self.fs = self._connect()  # errors are retried by _retry, then reported
        return self.fs

    def key(self, digest: str) -> str:
        return f"{self.root}/{object_key(digest)}"

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        delay = 0.5
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except GitrunsError:
                raise
            except Exception as exc:  # noqa: BLE001 - transports raise OSError, botocore and paramiko errors
                if _permanent(exc):
                    raise GitrunsError(f"{what} failed: {scrub_text(str(exc))}") from None
                if attempt == ATTEMPTS:
                    raise GitrunsError(f"{what} failed after {ATTEMPTS} attempts: {scrub_text(str(exc))}") from None
                if self.fs is not None and self.url.startswith(("sftp:", "ssh:")):
                    self.fs = None  # reconnect on a dropped connection
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def has(self, digest: str) -> bool:
        if self.local:
            return os.path.exists(self.key(digest))
        return bool(self._retry(f"looking up {digest} in {self.shown}",
                                lambda: self._filesystem().exists(self.key(digest))))

    def upload(self, local: str, digest: str) -> None:
        size = os.path.getsize(local)
        dest = self.key(digest)

        def attempt() -> None:
            fs = self._filesystem()
            progress = Progress(f"uploading {digest[9:21]}", size)
            cb = _Callback(progress).cb
            if self.atomic_put:
                fs.put_file(local, dest, callback=cb)
            else:
                tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
                fs.makedirs(f"{self.root}/tmp", exist_ok=True)
                fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
                try:
                    fs.put_file(local, tmp, callback=cb)
                    fs.mv(tmp, dest)
                except BaseException:
                    try:
                        fs.rm_file(tmp)
                    except Exception:  # noqa: BLE001, S110 - best effort clean-up
                        pass
                    raise
            progress.close()

        self._retry(f"uploading {digest} to {self.shown}", attempt)

    def download(self, digest: str, dest: str) -> None:
        """Fetch an object to ``dest`` (replaced atomically) and verify its digest."""
        tmp = f"{dest}.part-{uuid.uuid4().hex[:8]}"

        def attempt() -> None:
            fs = self._filesystem()
            try:
                size = int(fs.size(self.key(digest)) or 0)
            except FileNotFoundError:
                raise GitrunsError(f"{digest} is not in artifact store {self.shown}") from None
            progress = Progress(f"downloading {digest[9:21]}", size)
            fs.get_file(self.key(digest), tmp, callback=_Callback(progress).cb)
            progress.close()

        try:
            self._retry(f"downloading {digest} from {self.shown}", attempt)
            if digest_file(tmp) != digest:
                # The caller quarantines the bad copy (kept for inspection) and decides
                # whether to try again.
                bad, tmp = tmp, ""
                raise CorruptObject(digest, self.shown, bad)
            os.replace(tmp, dest)
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)

    def quarantine(self, digest: str) -> str | None:
        """Move the store's copy of ``digest`` aside, into ``<store>/quarantine/``, so that a
        later ``git run push`` from a clone with a good copy uploads it again (push skips
        objects the store has).  Returns where it went (as shown), or None."""
        _, hexpart = split_digest(digest)
        aside = f"{self.root}/{QUARANTINE}/{hexpart}-{uuid.uuid4().hex[:12]}"

        def attempt() -> None:
            fs = self._filesystem()
            fs.makedirs(f"{self.root}/{QUARANTINE}", exist_ok=True)
            fs.mv(self.key(digest), aside)

        try:
            self._retry(f"moving the corrupt {digest} aside in {self.shown}", attempt)
        except GitrunsError:
            return None  # gone already (another clone moved it), or no permission: the error says the rest
        return scrub_text(aside)

    def quarantined(self) -> list[str]:
        """Digests of objects moved aside as corrupt (one listing), for push to repair."""
        def attempt() -> list[str]:
            try:
                if self.local:
                    return os.listdir(f"{self.root}/{QUARANTINE}")  # no fsspec on a push with nothing new
                names = self._filesystem().ls(f"{self.root}/{QUARANTINE}", detail=False)
            except (FileNotFoundError, NotADirectoryError):
                return []
            return [str(n) for n in names]

        try:
            names = self._retry(f"listing {self.shown}/quarantine", attempt)
        except GitrunsError:
            return []  # a store we may not list: nothing to repair from here
        out = []
        for name in names:
            hexpart = name.rstrip("/").rsplit("/", 1)[-1][:32]
            try:
                split_digest(f"xxh3_128:{hexpart}")
            except ValueError:
                continue
            out.append(f"xxh3_128:{hexpart}")
        return sorted(set(out))


class CorruptObject(GitrunsError):
    """A downloaded object does not match its digest; ``path`` holds the bad bytes."""

    def __init__(self, digest: str, shown: str, path: str) -> None:
        super().__init__(f"{digest} from {shown} does not match its digest; not used")
        self.digest = digest
        self.path = path


def store_for(repo: Repo, remote: str) -> RemoteStore | None:
    """The artifact store of a git remote, or None when it has none."""
    from .quickpush import local_path_of
    from .remote import remote_url

    config = repo.git.config
    key = f"remote.{remote}.gitrunsStore"
    if key in config:
        endpoint_key = f"remote.{remote}.gitrunsStoreEndpoint"
        endpoint = str(config[endpoint_key]) if endpoint_key in config else None
        return RemoteStore(str(config[key]), endpoint)
    path = local_path_of(remote_url(repo, remote), repo.root or repo.git_dir)
    if path is None:
        return None
    git_dir = os.path.join(path, ".git") if os.path.isdir(os.path.join(path, ".git")) else path
    return RemoteStore(default_root(os.path.join(git_dir, "gitruns")))


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
