"""MNIST from a directory of IDX files (gzip or raw), images scaled to [0, 1]."""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .idx import read_idx

__all__ = ["load_mnist", "MNIST_FILES"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise DataError(f"MNIST file {stem}(.gz) not found in {directory}")


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
    images, labels = read_idx(_find(directory, image_stem)), read_idx(_find(directory, label_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"MNIST files in {directory} disagree: images {images.shape}, labels {labels.shape}")
    X = images.reshape(len(images), -1).astype(dtype) / np.asarray(255, dtype)
    return X, labels.astype(np.int64)
