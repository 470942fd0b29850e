"""scikit-learn's bundled digits: 1,797 8x8 grey images of handwritten digits, no download needed."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from ..errors import DataError

__all__ = ["load_digits"]


def _bundled_csv():
    """Path of scikit-learn's ``digits.csv.gz``, found without importing scikit-learn (or None).

    Importing scikit-learn costs most of a second; the data itself is a 60 kB CSV it ships.
    """
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def load_digits(dtype=np.float32):
    """Return ``(X, y)``: images ``(1797, 64)`` scaled to [0, 1] and integer labels ``(1797,)``.

    The pixels of the original are integers 0..16; they are divided by 16.

    >>> X, y = load_digits()
    >>> X.shape, y[:5].tolist(), float(X.max())
    ((1797, 64), [0, 1, 2, 3, 4], 1.0)
    """
    path = _bundled_csv()
    if path is not None:
        data = np.loadtxt(path, delimiter=",")  # 65 columns: 64 pixels, then the label
        pixels, labels = data[:, :-1], data[:, -1]
    else:
        try:
            from sklearn.datasets import load_digits as sklearn_digits
        except ImportError:
            raise DataError("the digits data set comes with scikit-learn: pip install 'deltaprop[cli]'") from None
        pixels, labels = sklearn_digits(return_X_y=True)
    return (pixels / 16.0).astype(dtype), labels.astype(np.int64)
