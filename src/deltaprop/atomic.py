"""Atomic writes: the one way deltaprop writes a file.

A file is written to a temporary file in the same directory, flushed and fsynced, then renamed
over the target, so an interrupted or failed write never leaves a half-written file or destroys
the previous one. A process killed mid-write leaves only a temporary ``.NAME.PID.XXXXXXXX.tmp``,
which :func:`remove_stale_temporaries` clears once that process is gone.

This module sits at the bottom of the package beside :mod:`deltaprop.errors` (the standard library
only), so that every layer that writes a file (data downloads, model files, the command line)
writes it the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

__all__ = ["atomic_write", "pid_alive", "remove_stale_temporaries"]


def _temporary_prefix(path: str) -> str:
    # The writer's PID in the name lets remove_stale_temporaries tell a dead writer's leftovers
    # from a live writer's file in progress.
    return f".{os.path.basename(path)}.{os.getpid()}."


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_options):
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``.

    If the body raises, the temporary file is removed and ``path`` is left exactly as it was
    (absent, or holding its previous content). The rename (``os.replace``) is atomic on POSIX
    and Windows because both names are in the same directory; on POSIX the directory is fsynced
    too, so the new name survives a power cut. A process killed mid-write leaves only a
    temporary ``.NAME.PID.XXXXXXXX.tmp``, which :func:`remove_stale_temporaries` clears.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(target, "w") as handle:
    ...     _ = handle.write("hello")
    >>> open(target).read()
    'hello'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=_temporary_prefix(path), suffix=".tmp")
    except OSError as error:  # name the file the caller asked for, not the temporary one
        raise type(error)(error.errno, error.strerror, path) from None
    try:
        with os.fdopen(fd, mode, **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


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
