"""The digits data set, shipped inside deltaprop: 1,797 8x8 grey images of handwritten digits.

``digits.npz`` (45 kB, beside this module) holds ``images`` ``(1797, 8, 8)`` uint8 pixels 0..16
and ``labels`` ``(1797,)`` uint8, in the order of scikit-learn's ``load_digits()``, from which it
was generated once (scikit-learn 1.9.1). Source: the test set of the UCI "Optical Recognition of
Handwritten Digits" data set (E. Alpaydin, C. Kaynak, 1998; https://doi.org/10.24432/C50P49),
licensed CC BY 4.0 by the UCI Machine Learning Repository, redistributed by scikit-learn
(BSD-3-Clause). See ``DIGITS.md``. Reading it needs NumPy only, never scikit-learn, and never
unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataError

__all__ = ["DIGITS_FILE", "load_digits"]

DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")


def load_digits(dtype=np.float32):
    """Return ``(X, y)``: images ``(1797, 64)`` scaled to [0, 1] and integer labels ``(1797,)``.

    The pixels of the original are integers 0..16; they are divided by 16.

    >>> X, y = load_digits()
    >>> X.shape, y[:5].tolist(), float(X.max())
    ((1797, 64), [0, 1, 2, 3, 4], 1.0)
    """
    try:
        with np.load(DIGITS_FILE, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"the bundled digits file {DIGITS_FILE} could not be read ({error}); reinstall deltaprop") from None
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise DataError(f"the bundled digits file {DIGITS_FILE} has shapes {images.shape}, {labels.shape}; "
                        "expected (1797, 8, 8), (1797,): reinstall deltaprop")
    return (images.reshape(len(images), 64) / 16.0).astype(dtype), labels.astype(np.int64)
