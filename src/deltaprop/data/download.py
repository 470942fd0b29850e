"""Downloading data files into a cache directory, verified by SHA-256 before anything uses them.

A download streams into a temporary file beside its destination while hashing it; only a file
whose SHA-256 matches the expected one is renamed into place. On a mismatch, or any failure, the
temporary file is deleted: the cache never holds an unverified file.

Every wait is bounded: each read waits at most ``timeout`` seconds, and each file must arrive
within ``deadline`` seconds altogether (a server trickling a byte a minute is cut off). Every size
is bounded: a file is cut off as soon as it exceeds its known size (or :data:`MAX_DOWNLOAD_BYTES`).
Redirects are followed to ``https`` anywhere, and to ``http`` only on the host the URL named;
never to ``ftp``, ``file`` or any other scheme.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import DataError

__all__ = ["DOWNLOAD_DEADLINE", "MAX_DOWNLOAD_BYTES", "default_cache_dir", "fetch", "sha256_of"]

_CHUNK = 1 << 16

DOWNLOAD_DEADLINE = 600.0
"""Seconds one file may take to download, all reads together (10 minutes)."""

MAX_DOWNLOAD_BYTES = 1 << 30
"""Most bytes a file of unknown size may have (1 GiB)."""


def default_cache_dir(*parts) -> str:
    """``$DELTAPROP_CACHE_DIR``, else ``$XDG_CACHE_HOME/deltaprop``, else ``~/.cache/deltaprop``; joined with ``parts``."""
    root = os.environ.get("DELTAPROP_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "deltaprop")
    return os.path.join(root, *parts)


def sha256_of(path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect to ``https``, or to ``http`` on the first URL's own host; refuses any other."""

    def __init__(self, url: str):
        super().__init__()
        self.url, self.host = url, urllib.parse.urlsplit(url).hostname

    def _check(self, req, fp, newurl) -> None:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if not (target.scheme == "https" or (target.scheme == "http" and target.hostname == self.host)):
            if fp is not None:
                fp.close()
            raise DataError(f"cannot download {self.url}: the server redirects to {newurl}, which is refused "
                            f"(redirects may go to https, or to http on {self.host} only)")

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self._check(req, fp, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):
        newurl = headers.get("location") or headers.get("uri")
        if newurl:  # checked before urllib's own scheme check, so every refusal reads alike
            self._check(req, fp, newurl)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _Watchdog:
    """Shuts the download's sockets down when its deadline passes, whatever read is waiting then
    (connecting, the status line and headers, the body): each read's own timeout alone would let a
    server that trickles a byte at a time hold the download forever."""

    def __init__(self, seconds: float):
        self.sockets, self.expired, self._lock = [], False, threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def register(self, sock):
        with self._lock:
            self.sockets.append(sock)
            if self.expired:
                self._shut(sock)
        return sock

    @staticmethod
    def _shut(sock):
        if sock.fileno() != -1:  # -1: closed or handed over (to an SSL socket, registered too)
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: no TLS state touched

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self.sockets:
                self._shut(sock)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()


def _opener(url: str, watchdog: _Watchdog):
    """A urllib opener whose connections the watchdog can cut, and whose redirects are checked."""

    def watched(base):
        class Watched(base):
            def __init__(self, *args, **options):
                super().__init__(*args, **options)
                plain = self._create_connection
                self._create_connection = lambda *a, **k: watchdog.register(plain(*a, **k))

            def connect(self):
                super().connect()
                watchdog.register(self.sock)  # for https, the TLS socket now holding the connection

        return Watched

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(watched(http.client.HTTPConnection), req)

    handlers = [Http(), _CheckedRedirects(url)]
    if hasattr(http.client, "HTTPSConnection"):
        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(watched(http.client.HTTPSConnection), req, context=self._context)

        handlers.append(Https())
    return urllib.request.build_opener(*handlers)


def _content_length(response):
    try:
        return int(response.headers.get("Content-Length"))
    except (TypeError, ValueError):
        return None


def fetch(url: str, path, sha256: str, timeout: float = 60.0, deadline: float = DOWNLOAD_DEADLINE,
          size: int | None = None) -> str:
    """Download ``url`` to ``path`` if its SHA-256 is ``sha256``; return ``path``.

    Only ``http`` and ``https`` URLs are accepted (and redirects as the module docstring says).
    ``timeout`` bounds each read, ``deadline`` the whole file (seconds); ``size`` is the most bytes
    the file may have (default :data:`MAX_DOWNLOAD_BYTES`): the download stops as soon as the
    server announces or sends more. Raises :class:`DataError` if the server cannot be reached,
    answers with an error, is too slow, sends too much or a file with another checksum; ``path``
    is then left as it was (absent, or its previous content) and no temporary file remains.
    """
    from ..atomic import atomic_write, remove_stale_temporaries

    path = os.fspath(path)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise DataError(f"cannot download {url}: only http:// and https:// URLs are accepted")
    limit = MAX_DOWNLOAD_BYTES if size is None else int(size)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    remove_stale_temporaries(path)  # what a killed download left behind
    digest, received = hashlib.sha256(), 0
    started = time.monotonic()
    too_slow = (f"cannot download {url}: it took longer than {deadline:g} s ({{:,}} bytes received); the partial "
                "file was discarded")
    try:
        with _Watchdog(deadline) as watchdog, _opener(url, watchdog).open(url, timeout=timeout) as response, \
                atomic_write(path, "wb") as handle:
            announced = _content_length(response)
            if announced is not None and announced > limit:
                raise DataError(f"cannot download {url}: the server announces {announced:,} bytes, more than the "
                                f"{limit:,} expected; nothing was kept")
            while True:
                chunk = response.read1(_CHUNK)  # returns after one read of the socket: the deadline is checked often
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise DataError(f"cannot download {url}: the server sent more than the {limit:,} bytes expected; "
                                    "the download was stopped and discarded")
                if time.monotonic() - started > deadline:
                    raise DataError(too_slow.format(received))
                digest.update(chunk)
                handle.write(chunk)
            if watchdog.expired:  # the connection was cut: what arrived is not the file
                raise DataError(too_slow.format(received))
            if digest.hexdigest() != sha256.lower():
                raise DataError(
                    f"checksum mismatch for {url}: expected SHA-256 {sha256}, got {digest.hexdigest()}; the file was discarded"
                )
    except DataError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as error:
        if watchdog.expired:
            raise DataError(too_slow.format(received)) from None
        if isinstance(error, urllib.error.HTTPError):
            raise DataError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
        if isinstance(error, urllib.error.URLError):
            if isinstance(error.reason, TimeoutError):
                raise DataError(f"cannot download {url}: no answer for {timeout:g} s") from None
            raise DataError(f"cannot download {url}: {error.reason}") from None
        if isinstance(error, TimeoutError):
            raise DataError(f"cannot download {url}: no data for {timeout:g} s; the partial file was discarded") from None
        raise DataError(f"cannot download {url} to {path}: {error}") from None
    return path
