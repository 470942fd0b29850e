"""Opening a file that is read whole: only a regular file, never waiting on a FIFO or a device.

``open()`` of a FIFO blocks until a writer comes, and ``/dev/zero`` or ``/dev/urandom`` never end:
a data or model file named by a user (or by another file) must be a regular file. The file is
opened with ``O_NONBLOCK`` (which makes opening a FIFO return at once) and checked with
``fstat`` on the descriptor itself, so nothing can be swapped in between the check and the read.
"""

from __future__ import annotations

import os
import stat

from ..errors import DataError

__all__ = ["open_regular"]


def open_regular(path, kind: str, error=DataError, text: bool = False, missing: str | None = None, **text_options):
    """Open the regular file ``path`` for reading; return ``(handle, size in bytes)``.

    ``kind`` names the file in messages (``"cannot read IDX file PATH: ..."``); ``error`` is the
    :class:`~deltaprop.errors.DeltapropError` subclass raised when it is missing (the message then
    ends with ``missing``, default the system's words), unreadable, a directory or not a regular
    file. ``text`` opens it as text with ``text_options`` (``encoding``, ``newline``).
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as failure:
        raise error(f"cannot read {kind} {path}: {missing or failure.strerror}") from None
    except IsADirectoryError:
        raise error(f"cannot read {kind} {path}: it is a directory, not a file") from None
    except OSError as failure:
        raise error(f"cannot read {kind} {path}: {failure.strerror or failure}") from None
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise error(f"cannot read {kind} {path}: it is a directory, not a file")
        if not stat.S_ISREG(status.st_mode):
            raise error(f"cannot read {kind} {path}: it is not a regular file (a FIFO, a device or a socket)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "r" if text else "rb", **text_options)
    except BaseException:
        os.close(fd)
        raise
    return handle, status.st_size
