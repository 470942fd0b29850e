"""Atomic writes: the one way deltaprop writes a file.

What :func:`atomic_write` does depends on what is at the path:

* nothing, or a regular file: the file is written to a temporary file in the same directory,
  flushed and fsynced, then renamed over the target, so an interrupted or failed write never
  leaves a half-written file or destroys the previous one. The new file gets the permissions
  ``open()`` would give it (``0o666`` less the umask); a file being replaced keeps its own.
  A process killed mid-write leaves only a temporary ``.NAME.PID.XXXXXXXX.tmp``, which
  :func:`remove_stale_temporaries` clears once that process is gone;
* a FIFO or a character device (``/dev/null``, a terminal), also through a symbolic link such as
  ``/dev/stdout``: it is opened for writing and written to, never replaced;
* ``-``: standard output;
* anything else (a symbolic link to a regular file, a dangling link, a directory, a block
  device, a socket) is refused with a :class:`~deltaprop.errors.DeltapropError` naming the path:
  deltaprop replaces only regular files.

This module sits at the bottom of the package beside :mod:`deltaprop.errors` (the standard library
only), so that every layer that writes a file (data downloads, model files, the command line)
writes it the same way.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import secrets
import stat
import sys

from .errors import DeltapropError

__all__ = ["STDOUT", "atomic_write", "output_kind", "pid_alive", "remove_stale_temporaries"]

STDOUT = "-"
"""The path that means standard output (``./-`` names a file called ``-``)."""

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_NEW_FILE_MODE = 0o666  # what open() asks for; the kernel takes the umask (and default ACLs) off
_KEPT_MODE_BITS = 0o1777  # a replaced file's permissions; set-user/group-ID are dropped, as a write drops them


def _temporary_prefix(path: str) -> str:
    # The writer's PID in the name lets remove_stale_temporaries tell a dead writer's leftovers
    # from a live writer's file in progress.
    return f".{os.path.basename(path)}.{os.getpid()}."


def _describe(mode: int) -> str:
    """``a directory``, ``a FIFO``, ... : what a non-regular file is, for messages."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def output_kind(path) -> str:
    """How :func:`atomic_write` would write ``path``: ``"stdout"``, ``"new"``, ``"replace"`` or ``"stream"``.

    ``"new"``: nothing is there; ``"replace"``: a regular file, renamed over; ``"stream"``: a FIFO
    or a character device (possibly behind a symbolic link), written to in place. Anything else
    raises :class:`~deltaprop.errors.DeltapropError` naming the path and what is there.

    >>> output_kind("-"), output_kind("/dev/null")
    ('stdout', 'stream')
    """
    path = os.fspath(path)
    if path == STDOUT:
        return "stdout"
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return "new"
    if stat.S_ISREG(status.st_mode):
        return "replace"
    if stat.S_ISFIFO(status.st_mode) or stat.S_ISCHR(status.st_mode):
        return "stream"
    if stat.S_ISLNK(status.st_mode):
        try:
            target = os.stat(path).st_mode
        except OSError:
            raise DeltapropError(f"{path} is a symbolic link that leads nowhere; deltaprop replaces only regular "
                                 "files: remove the link or give another path") from None
        if stat.S_ISFIFO(target) or stat.S_ISCHR(target):
            return "stream"
        raise DeltapropError(f"{path} is a symbolic link to {_describe(target)}; deltaprop replaces only regular "
                             f"files, never a link: write to the link's target, or use {STDOUT} for standard output")
    raise DeltapropError(f"{path} is {_describe(status.st_mode)}; deltaprop writes regular files (replacing them "
                         "whole), FIFOs and character devices: give a file name")


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_options):
    """Open ``path`` for writing as the module docstring describes; yield the file object.

    For a regular file (or none yet): a temporary file beside ``path``; on success it is
    flushed, fsynced and renamed over ``path``. If the body raises, the temporary file is removed
    and ``path`` is left exactly as it was (absent, or holding its previous content). The rename
    (``os.replace``) is atomic on POSIX and Windows because both names are in the same directory;
    on POSIX the directory is fsynced too, so the new name survives a power cut.

    A FIFO or a character device is written in place (what was written before a failure stays
    written); ``-`` writes to standard output. ``mode`` is ``"wb"`` or ``"w"``; ``open_options``
    (``encoding``, ``newline``, ...) are those of :func:`open`.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(target, "w") as handle:
    ...     _ = handle.write("hello")
    >>> open(target).read()
    'hello'
    """
    path = os.fspath(path)
    kind = output_kind(path)
    if kind == "stdout":
        with _standard_output(mode, open_options) as handle:
            yield handle
    elif kind == "stream":
        with _stream(path, mode, open_options) as handle:
            yield handle
    else:
        with _replacement(path, mode, open_options) as handle:
            yield handle


@contextlib.contextmanager
def _replacement(path: str, mode: str, open_options: dict):
    """A temporary beside ``path``, renamed over it once the body has written it whole."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = _create_temporary(path, directory)
    try:
        with _naming(path), os.fdopen(fd, mode, **open_options) as handle:
            _take_over_permissions(handle.fileno(), temporary, path)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if output_kind(path) not in ("new", "replace"):  # something else appeared meanwhile: never rename over it
            raise DeltapropError(f"{path} changed into something that is not a regular file while it was written")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


_WRITE_ERRORS = {getattr(errno, name) for name in ("EFBIG", "ENOSPC", "EDQUOT", "EIO", "EROFS") if hasattr(errno, name)}


@contextlib.contextmanager
def _naming(path: str):
    """Give a failed write (a full disk, a file-size limit) the name of the file the caller asked for.

    ``write`` and ``fsync`` raise ``OSError(errno.EFBIG)`` with no file name; the user should read
    which file could not be written. Other errors pass unchanged.
    """
    try:
        yield
    except OSError as error:
        if type(error) is OSError and error.filename is None and error.errno in _WRITE_ERRORS:
            raise OSError(error.errno, error.strerror, path) from None
        raise


def _create_temporary(path: str, directory: str):
    """``(fd, name)`` of a new, empty temporary ``.NAME.PID.XXXXXXXX.tmp`` in ``directory``.

    Created as ``open()`` creates a file (mode 0o666 less the umask), exclusively (``O_EXCL``:
    never an existing file, never through a symbolic link).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    prefix = _temporary_prefix(path)
    for _ in range(100):
        temporary = os.path.join(directory, f"{prefix}{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, flags, _NEW_FILE_MODE), temporary
        except FileExistsError:
            continue
        except OSError as error:  # name the file the caller asked for, not the temporary one
            raise type(error)(error.errno, error.strerror, path) from None
    raise FileExistsError(f"{path}: could not create a temporary file beside it (100 names taken)")


def _take_over_permissions(fd: int, temporary: str, path: str) -> None:
    """Give the temporary the permissions (and, where allowed, the owner) of the file it will replace."""
    try:
        old = os.lstat(path)
    except OSError:
        return  # a new file: it keeps the mode it was created with
    if not stat.S_ISREG(old.st_mode):
        return
    mine = os.fstat(fd)
    if hasattr(os, "fchown") and (old.st_uid, old.st_gid) != (mine.st_uid, mine.st_gid):
        with contextlib.suppress(OSError):  # only root may give a file away; a group we belong to is fine
            os.fchown(fd, old.st_uid if os.geteuid() == 0 else -1, old.st_gid)
    mode = stat.S_IMODE(old.st_mode) & _KEPT_MODE_BITS
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows before Python 3.13
        os.chmod(temporary, mode)


@contextlib.contextmanager
def _stream(path: str, mode: str, open_options: dict):
    """Write into a FIFO or a character device in place: no temporary, no rename, no truncation."""
    try:
        # Blocks until a FIFO has a reader, as the shell's `> fifo` does.
        fd = os.open(path, os.O_WRONLY | _O_NOCTTY | _O_CLOEXEC | _O_BINARY)
    except OSError as error:
        raise type(error)(error.errno, error.strerror, path) from None
    status = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(status) or stat.S_ISCHR(status)):  # swapped for another file since output_kind looked
        os.close(fd)
        raise DeltapropError(f"{path} changed into {_describe(status)} while it was opened; give the path again")
    with _naming(path), os.fdopen(fd, mode, **open_options) as handle:
        yield handle
        handle.flush()


@contextlib.contextmanager
def _standard_output(mode: str, open_options: dict):
    """``-``: write to standard output (its bytes, in the encoding asked for), never closing it."""
    stdout = sys.stdout
    if stdout is None:
        raise DeltapropError(f"{STDOUT} means standard output, and this process has none")
    stdout.flush()
    buffer = getattr(stdout, "buffer", None)
    if "b" in mode:
        if buffer is None:
            raise DeltapropError(f"{STDOUT}: standard output takes text only here, not bytes; give a file name")
        yield buffer
        buffer.flush()
    elif buffer is None:
        yield stdout
        stdout.flush()
    else:
        text_options = {key: open_options[key] for key in ("encoding", "errors", "newline") if key in open_options}
        wrapper = io.TextIOWrapper(buffer, **text_options)
        try:
            yield wrapper
            wrapper.flush()
        finally:
            wrapper.detach()  # leave standard output open


def _sync_directory(directory: str) -> None:
    """Make a rename durable: fsync the directory holding the new name (POSIX only)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(path) -> list[str]:
    """Delete the temporaries of ``path`` that :func:`atomic_write` left when its process died.

    A temporary whose writer is still running is left alone. Returns the paths removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(f".{os.path.basename(path)}.") + r"(\d+)\.[a-z0-9_]{8}\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            match = pattern.fullmatch(name)
            if match and not pid_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    removed.append(os.path.join(directory, name))
    return removed


def pid_alive(pid: int) -> bool:
    """True if a process with this PID exists (on POSIX, also when it belongs to another user)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _windows_pid_alive(pid: int) -> bool:
    # NOTE: os.kill(pid, 0) on Windows would send CTRL_C_EVENT, so ask the kernel instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
