"""MNIST from a directory of IDX files (gzip or raw), images scaled to [0, 1], with an optional download.

The directory may hold the whole distribution (60,000 training and 10,000 test images) or only
the test files ``t10k-*``; :func:`mnist_split` then cuts those 10,000 images deterministically
into the first 8,000 for training and the last 2,000 for testing.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .download import DOWNLOAD_DEADLINE, default_cache_dir, fetch, sha256_of
from .idx import read_idx, read_idx_header

__all__ = ["MNIST_FILES", "MNIST_MAX_IMAGES", "MNIST_MIRROR", "MNIST_SHA256", "MNIST_SIZES", "download_mnist",
           "load_mnist", "mnist_split"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
"""Where :func:`download_mnist` looks by default (the mirror TensorFlow uses)."""

MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
"""SHA-256 of the four files as published by LeCun, Cortes and Burges."""

MNIST_SIZES = {
    "train-images-idx3-ubyte.gz": 9912422,
    "train-labels-idx1-ubyte.gz": 28881,
    "t10k-images-idx3-ubyte.gz": 1648877,
    "t10k-labels-idx1-ubyte.gz": 4542,
}
"""Size in bytes of each of the four files: a download is stopped as soon as it sends more."""

MNIST_MAX_IMAGES = 100_000
"""Most images (and labels) one MNIST file may declare: MNIST has 60,000 and 10,000. Images hold at
most ``MNIST_MAX_IMAGES * 784`` pixels, so a damaged or hostile header is refused before any
memory is spent on what it claims."""

_PIXELS = 28 * 28

TEST_ONLY_SPLIT = 8000
"""With only the t10k files, images ``[:8000]`` train and ``[8000:]`` test."""


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def _require(directory, stem):
    path = _find(directory, stem)
    if path is None:
        raise DataError(f"MNIST file {stem}(.gz) not found in {directory}")
    return path


def load_mnist(directory, split: str = "test", dtype=np.float32):
    """Return ``(X, y)``: images ``(n, 784)`` in [0, 1] and integer labels ``(n,)``.

    ``split`` is ``"test"`` (the 10,000 t10k images) or ``"train"``.
    """
    if split not in MNIST_FILES:
        raise DataError(f"split={split!r} must be 'train' or 'test'")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise DataError(f"MNIST directory {directory} does not exist")
    image_stem, label_stem = MNIST_FILES[split]
    image_path, label_path = _require(directory, image_stem), _require(directory, label_stem)
    # the headers first: both files must agree, and be of a sane size, before any data are read
    _, label_shape = read_idx_header(label_path, MNIST_MAX_IMAGES)
    _, image_shape = read_idx_header(image_path, MNIST_MAX_IMAGES * _PIXELS)
    if len(image_shape) != 3 or len(label_shape) != 1 or image_shape[0] != label_shape[0]:
        raise DataError(f"MNIST files in {directory} disagree: images {image_shape}, labels {label_shape}")
    labels = read_idx(label_path, max_elements=label_shape[0])
    images = read_idx(image_path, max_elements=image_shape[0] * image_shape[1] * image_shape[2])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):  # the files changed meanwhile
        raise DataError(f"MNIST files in {directory} disagree: images {images.shape}, labels {labels.shape}")
    X = images.reshape(len(images), -1).astype(dtype) / np.asarray(255, dtype)
    return X, labels.astype(np.int64)


def mnist_split(directory, dtype=np.float32):
    """Return ``(X_train, y_train, X_test, y_test)`` from ``directory``.

    With the training files present: the 60,000 training and the 10,000 test images. With only
    the t10k files: the first 8,000 test images for training, the last 2,000 for testing.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise DataError(f"MNIST directory {directory} does not exist")
    X_test, y_test = load_mnist(directory, "test", dtype)
    if all(_find(directory, stem) for stem in MNIST_FILES["train"]):
        X_train, y_train = load_mnist(directory, "train", dtype)
        return X_train, y_train, X_test, y_test
    k = TEST_ONLY_SPLIT
    return X_test[:k], y_test[:k], X_test[k:], y_test[k:]


def download_mnist(directory=None, base_url: str = MNIST_MIRROR, checksums=None, timeout: float = 60.0,
                   deadline: float = DOWNLOAD_DEADLINE, sizes=None) -> str:
    """Make sure ``directory`` holds the MNIST files with the right SHA-256; return ``directory``.

    Parameters
    ----------
    directory : str, optional
        The cache (default :func:`~deltaprop.data.download.default_cache_dir` ``/mnist``).
    base_url : str
        URL that the file names are appended to.
    checksums : dict, optional
        ``{file name: SHA-256}`` of the files to fetch (default :data:`MNIST_SHA256`, all four).
    timeout, deadline : float
        Seconds one read may wait, and seconds one whole file may take (see :func:`fetch`).
    sizes : dict, optional
        ``{file name: most bytes}`` (default :data:`MNIST_SIZES`): a server sending more is cut off.

    A file already in the directory is kept if its checksum matches and downloaded again
    otherwise; a download whose checksum does not match is discarded and raises
    :class:`~deltaprop.errors.DataError`, leaving no file behind.
    """
    directory = os.fspath(directory) if directory is not None else default_cache_dir("mnist")
    checksums = MNIST_SHA256 if checksums is None else checksums
    sizes = MNIST_SIZES if sizes is None else sizes
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    for name, sha256 in checksums.items():
        path = os.path.join(directory, name)
        if os.path.isfile(path) and sha256_of(path) == sha256.lower():
            continue
        fetch(base_url + name, path, sha256, timeout=timeout, deadline=deadline, size=sizes.get(name))
    return directory
