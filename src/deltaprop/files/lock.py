"""One writer per output directory, with a lock that a crashed run does not leave stuck.

``deltaprop train --out DIR`` holds :class:`DirectoryLock` on ``DIR`` while it runs, so two runs
pointed at the same directory never interleave their files: the second one is refused with
:class:`LockedError`, which names the holder.

The lock is the file ``DIR/.deltaprop.lock``, which records the holder's PID, host and start
time for that message. On POSIX the exclusion itself is an advisory ``flock`` on the file: the
kernel drops it when the holder exits, however it exits (SIGKILL, a crash), so a lock left behind
by a dead process is *stale* and the next run simply takes it over. Without ``fcntl`` (Windows)
the lock is the file's existence, and a file whose PID is no longer running is taken over.

>>> import tempfile
>>> directory = tempfile.mkdtemp()
>>> with DirectoryLock(directory):
...     DirectoryLock(directory).acquire()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
deltaprop.files.lock.LockedError: ... is in use by another deltaprop process (pid ...
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import stat

from ..atomic import pid_alive
from ..core.checks import is_count
from ..errors import DeltapropError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["LOCK_NAME", "DirectoryLock", "LockedError"]

LOCK_NAME = ".deltaprop.lock"
_HOLDER_BYTES = 4096  # a holder record is a short JSON line; never read more than this
# Never through a symbolic link, never inherited by a child process, never waiting on a FIFO.
_OPEN_FLAGS = (getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))


class LockedError(DeltapropError):
    """The directory is locked by another process that is still running."""


class DirectoryLock:
    """An exclusive lock on ``directory`` (created if needed), held between acquire and release.

    Parameters
    ----------
    directory : str or os.PathLike
    option : str
        How the user named the directory, for the message (default ``"--out"``).

    Use it as a context manager, or call :meth:`acquire` and :meth:`release`. If acquiring
    created the directory (and its parents) and nothing was written into it, releasing removes
    them again, so a run that fails early leaves no trace.
    """

    def __init__(self, directory, option: str = "--out"):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self.option = option
        self.taken_over = None
        """The holder record of a stale lock this one replaced, or None."""
        self._fd = None
        self._created = []

    def acquire(self) -> DirectoryLock:
        """Take the lock or raise :class:`LockedError` naming the process that holds it."""
        if self._fd is not None:
            return self
        missing, parent = [], os.path.abspath(self.directory)
        while not os.path.isdir(parent) and parent != os.path.dirname(parent):
            missing.append(parent)  # deepest first
            parent = os.path.dirname(parent)
        os.makedirs(self.directory, exist_ok=True)
        self._created = missing
        try:
            self._fd = self._acquire_flock() if fcntl is not None else self._acquire_by_pid()
        except BaseException:
            self._remove_created_directory()
            raise
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": datetime.datetime.now().isoformat(timespec="seconds")})
        os.ftruncate(self._fd, 0)
        os.write(self._fd, record.encode("utf-8") + b"\n")
        os.fsync(self._fd)
        return self

    def _open_lock_file(self, flags: int) -> int:
        """Open the lock file with ``flags``, refusing anything but a regular file (a link is never followed).

        A symbolic link, a FIFO, a directory, a device or a hard link to another file (more than
        one name) at the lock's path is refused with :class:`~deltaprop.errors.DeltapropError`
        before a byte is read or written through it.
        """
        try:
            fd = os.open(self.path, flags | _OPEN_FLAGS, 0o644)
        except OSError as error:
            try:
                found = os.lstat(self.path).st_mode
            except OSError:
                raise error from None
            if stat.S_ISREG(found):
                raise
            raise self._not_a_lock(found) from None
        try:
            found = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISREG(found.st_mode) or found.st_nlink > 1:
            os.close(fd)
            raise self._not_a_lock(found.st_mode, found.st_nlink)
        return fd

    def _not_a_lock(self, mode: int, links: int = 1) -> DeltapropError:
        """The refusal of a lock path that holds something deltaprop did not create."""
        what = ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
                else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket" if not stat.S_ISREG(mode)
                else f"a file with {links} names (a hard link to another file)")
        return DeltapropError(f"{self.option} {self.directory}: the lock file {self.path} is {what}, not a lock "
                              "file deltaprop made; deltaprop never follows or writes through it: remove it if no "
                              "deltaprop process is running")

    def _acquire_flock(self) -> int:
        for _ in range(100):
            fd = self._open_lock_file(os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise self._locked(holder) from None
            except BaseException:
                os.close(fd)
                raise
            # A releasing holder unlinks the file before it unlocks: if that happened between our
            # open and our flock, we locked a file nobody else will ever look at. Start again.
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                holder = _read_holder(fd)
                self.taken_over = holder if holder.get("pid") is not None else None
                return fd
            os.close(fd)
        raise LockedError(f"{self.option} {self.directory}: could not take the lock {self.path}; "
                          "other processes keep taking and releasing it")

    def _acquire_by_pid(self) -> int:
        # Without flock, a lock is the file's existence; a file whose PID is dead is stale.
        for _ in range(2):
            try:
                return self._open_lock_file(os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                try:
                    fd = self._open_lock_file(os.O_RDONLY)
                except FileNotFoundError:
                    continue  # its holder just released it
                try:
                    holder = _parse_holder(os.read(fd, _HOLDER_BYTES))
                finally:
                    os.close(fd)
                if pid_alive(holder.get("pid")):
                    raise self._locked(holder) from None
                self.taken_over = holder
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
        raise self._locked({})

    def _locked(self, holder: dict) -> LockedError:
        pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
        who = f"pid {pid}" if pid is not None else "unknown pid"
        if host:
            who += f" on {host}"
        if started:
            who += f", since {started}"
        return LockedError(f"{self.option} {self.directory} is in use by another deltaprop process ({who}); "
                           f"wait for it to finish or choose another {self.option}")

    def release(self) -> None:
        """Give the lock up: remove the lock file, then unlock (so no one locks a removed file)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)  # closing drops the flock
        self._fd = None
        self._remove_created_directory()

    def _remove_created_directory(self) -> None:
        """Remove the directories acquire created (deepest first), as long as they are empty."""
        for directory in self._created:
            try:
                os.rmdir(directory)
            except OSError:  # not empty: the run wrote something, keep it and its parents
                break
        self._created = []

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    with contextlib.suppress(OSError):
        return _parse_holder(os.pread(fd, _HOLDER_BYTES, 0))
    return {}


def _parse_holder(raw: bytes) -> dict:
    """The holder record, or ``{}`` if the file is empty or garbled (a holder killed mid-write)."""
    try:
        holder = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(holder, dict):
        return {}
    pid = holder.get("pid")
    holder["pid"] = pid if is_count(pid, minimum=1) else None
    return holder
