"""Streaming a command's stdout/stderr to the terminal while capturing them.

Each stream is read in chunks as it comes and written first to a spool file,
then to our own stream, so memory stays flat however much the command prints
and the spool always holds at least what the user saw.  When our stream is a
terminal the command gets a pseudo-terminal of its own for that stream, so it
still sees a tty and keeps its colours and line buffering; otherwise it gets a
pipe, as it would without gitruns.

Guarantees (see docs/design.md, "Capturing output"):

- The spool is written with ``os.write`` on a raw descriptor, unbuffered, so
  whatever the command printed is on disk as soon as we read it, even if
  ``git-run`` is then killed with SIGKILL.
- After the command exits, both streams share one deadline
  (``execute.CAPTURE_DEADLINE_S``) to reach end-of-file.  A stream still held
  open by another process (a background grandchild) is then drained of what is
  already readable, without blocking, and left; that is reported by
  ``cut_short``.
- When our own reader goes away (``| head -1``), we stop reading and close our
  end of the command's pipe, so its next write gets SIGPIPE (EIO on a
  pseudo-terminal), as in a plain pipeline; nothing keeps spooling.
- A spool that cannot be written (disk full) stops being written; the command
  keeps running and its output keeps reaching our stream.  The problem is
  reported once, through ``CaptureProblems``.
"""
from __future__ import annotations

import array
import errno
import fcntl
import os
import pty
import select
import termios
import threading
import tty
from collections.abc import Callable

CHUNK = 65536
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class CaptureProblems:
    """What went wrong while spooling, shared by both streams and reported once."""

    def __init__(self, report: Callable[[str], None] | None = None) -> None:
        self.type: str | None = None  # "disk_full" or "capture"
        self.message: str | None = None
        self._report = report
        self._lock = threading.Lock()

    def spool_failed(self, path: str, exc: OSError) -> None:
        with self._lock:
            if self.type is not None:
                return  # the first problem is the one to tell; the other stream's follows from it
            self.type = "disk_full" if exc.errno in _DISK_FULL else "capture"
            self.message = (f"output capture stopped: cannot write {path}: {exc.strerror or exc}; "
                            "the command runs on and its output is still passed through; the record keeps what fit")
        if self._report is not None:
            self._report(self.message)


class StreamCapture:
    def __init__(self, our_fd: int, spool_path: str, problems: CaptureProblems | None = None) -> None:
        self.our_fd = our_fd
        self.spool_path = spool_path
        self.problems = problems or CaptureProblems()
        self.size = 0  # bytes in the spool
        self.echo = True
        self.reader_gone = False  # our own stream's reader went away
        self.cut_short = False  # stopped at the deadline with the stream still held open
        self.use_pty = _isatty(our_fd)
        if self.use_pty:
            self.read_fd, self.child_fd = pty.openpty()
            try:
                tty.setraw(self.child_fd)  # no \n -> \r\n translation in the capture
                winsize = fcntl.ioctl(our_fd, termios.TIOCGWINSZ, b"\0" * 8)
                fcntl.ioctl(self.child_fd, termios.TIOCSWINSZ, winsize)
            except OSError:
                pass
        else:
            self.read_fd, self.child_fd = os.pipe()
        os.set_inheritable(self.read_fd, False)
        # Our end never blocks: the pump waits in poll(), so it can also be woken to stop.
        os.set_blocking(self.read_fd, False)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self.spool_fd: int | None = None
        try:
            self.spool_fd = os.open(spool_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.problems.spool_failed(spool_path, exc)
        self._thread = threading.Thread(target=self._pump, daemon=True, name=f"capture {spool_path}")

    def start(self) -> None:
        """Call after the child has been started with ``child_fd``."""
        os.close(self.child_fd)
        self._thread.start()

    def abandon(self) -> None:
        """The child never started: close everything."""
        for fd in (self.child_fd, self.read_fd, self._wake_r, self._wake_w, self.spool_fd):
            _close(fd)

    def finish(self, deadline_s: float) -> None:
        """Wait up to ``deadline_s`` more seconds for end-of-file; then drain what is
        readable now and stop (a grandchild holding the stream is not waited for)."""
        self._thread.join(max(0.0, deadline_s))
        if self._thread.is_alive():
            self._stopping = True
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
            # The drain reads only what was already there, so this ends; it can wait
            # only on our own reader (a pager) taking the last bytes, as a pipeline would.
            self._thread.join()
        _close(self._wake_w)

    # -- the pump thread ---------------------------------------------------------------------
    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while True:
                try:
                    events = dict(poller.poll())
                except InterruptedError:
                    continue
                if self._wake_r in events:
                    self.cut_short = True
                    self._drain()
                    return
                if self._read_once() < 0:
                    if self.reader_gone:
                        # Keep what the command's writes already delivered into the
                        # pipe; its writes after we close our end fail, as in a pipeline.
                        self._drain()
                    return
        finally:
            _close(self.read_fd)  # the command's next write now gets SIGPIPE (or EIO on a pty)
            _close(self._wake_r)
            _close(self.spool_fd)
            self.spool_fd = None

    def _read_once(self, limit: int = CHUNK) -> int:
        """Read and pass on one chunk: how many bytes were read, or -1 when the
        stream is over for us."""
        try:
            chunk = os.read(self.read_fd, limit)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return -1  # EIO: every holder of the pty's other side has closed it
        if not chunk:
            return -1
        self._spool(chunk)
        if self.echo and not self._echo(chunk):
            self.echo = False
            self.reader_gone = True
            return -1  # stop reading, so the command meets the closed pipe as it would in a pipeline
        return len(chunk)

    def _drain(self) -> None:
        """Take what is readable right now, and no more: later output of whoever
        still holds the stream is not the command's."""
        try:
            count = array.array("i", [0])
            fcntl.ioctl(self.read_fd, termios.FIONREAD, count, True)
            left = count[0]
        except OSError:
            left = 1 << 20  # cannot ask; bounded all the same
        while left > 0:
            got = self._read_once(min(CHUNK, left))
            if got <= 0:
                return
            left -= got

    def _spool(self, chunk: bytes) -> None:
        if self.spool_fd is None:
            return
        view = memoryview(chunk)
        try:
            while view:
                n = os.write(self.spool_fd, view)
                self.size += n
                view = view[n:]
        except OSError as exc:
            _close(self.spool_fd)
            self.spool_fd = None
            self.problems.spool_failed(self.spool_path, exc)

    def _echo(self, chunk: bytes) -> bool:
        view = memoryview(chunk)
        while view:
            try:
                n = os.write(self.our_fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                # Someone made our stream non-blocking: wait until it takes more.
                waiter = select.poll()
                waiter.register(self.our_fd, select.POLLOUT)
                try:
                    waiter.poll()
                except InterruptedError:
                    pass
                continue
            except OSError:
                return False  # EPIPE, EIO: our reader went away
            view = view[n:]
        return True


def _close(fd: int | None) -> None:
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
