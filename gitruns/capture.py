"""Streaming a command's stdout/stderr to the terminal while capturing them.

Each stream is read in chunks as it comes and written both to our own stream
and to a spool file, so memory stays flat however much the command prints.
When our stream is a terminal the command gets a pseudo-terminal of its own
for that stream, so it still sees a tty and keeps its colours and line
buffering; otherwise it gets a pipe, as it would without gitruns.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pty
import termios
import threading
import tty


class StreamCapture:
    def __init__(self, our_fd: int, spool_path: str) -> None:
        self.our_fd = our_fd
        self.spool_path = spool_path
        self.size = 0
        self.echo = True
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
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def start(self) -> None:
        """Call after the child has been started with ``child_fd``."""
        os.close(self.child_fd)
        self._thread.start()

    def abandon(self) -> None:
        """The child never started: close both ends."""
        for fd in (self.child_fd, self.read_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _pump(self) -> None:
        with open(self.spool_path, "ab") as spool:
            while True:
                try:
                    chunk = os.read(self.read_fd, 65536)
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    break  # EIO: the pty's other side is closed
                if not chunk:
                    break
                spool.write(chunk)
                self.size += len(chunk)
                if self.echo:
                    self._echo(chunk)
        try:
            os.close(self.read_fd)
        except OSError:
            pass

    def _echo(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            try:
                n = os.write(self.our_fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                continue
            except OSError:
                self.echo = False  # our reader went away; keep capturing
                return
            view = view[n:]

    def finish(self, timeout: float) -> None:
        """Wait for the stream to end; a grandchild holding it open is not waited for."""
        self._thread.join(timeout)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
