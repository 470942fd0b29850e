"""Downloading data files into a cache directory, verified by SHA-256 before anything uses them.

A download streams into a temporary file beside its destination while hashing it; only a file
whose SHA-256 matches the expected one is renamed into place. On a mismatch, or any failure, the
temporary file is deleted: the cache never holds an unverified file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request

from ..errors import DataError

__all__ = ["default_cache_dir", "fetch", "sha256_of"]

_CHUNK = 1 << 16


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


def fetch(url: str, path, sha256: str, timeout: float = 60.0) -> str:
    """Download ``url`` to ``path`` if its SHA-256 is ``sha256``; return ``path``.

    Only ``http`` and ``https`` URLs are accepted. Raises :class:`DataError` if the server cannot
    be reached, answers with an error, or sends a file with another checksum; ``path`` is then
    left as it was (absent, or its previous content).
    """
    from ..atomic import atomic_write

    path = os.fspath(path)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise DataError(f"cannot download {url}: only http:// and https:// URLs are accepted")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(path, "wb") as handle:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                handle.write(chunk)
            if digest.hexdigest() != sha256.lower():
                raise DataError(
                    f"checksum mismatch for {url}: expected SHA-256 {sha256}, got {digest.hexdigest()}; the file was discarded"
                )
    except urllib.error.HTTPError as error:
        raise DataError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DataError(f"cannot download {url}: {error.reason}") from None
    except (OSError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"cannot download {url} to {path}: {error}") from None
    return path
