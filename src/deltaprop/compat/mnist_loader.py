"""The book's ``mnist_loader``: ``load_data()`` and ``load_data_wrapper()``, read from MNIST's IDX files.

Nielsen's ``mnist_loader.py`` unpickles ``mnist.pkl.gz``; this one reads the four IDX files MNIST
is published as (gzip or raw; :func:`deltaprop.data.load_mnist`, which never unpickles), from
``path``, else the directory in the environment variable ``DELTAPROP_MNIST``, else deltaprop's
download cache (``deltaprop train --data mnist --download`` fills it).

The split is the book's: the first 50,000 training images train, the last 10,000 validate, and
the 10,000 ``t10k`` images test. With only the ``t10k-*`` files present, the split is the one
``deltaprop train --data mnist:DIR`` uses (:func:`deltaprop.data.mnist_split`): the first 8,000
``t10k`` images train, the last 2,000 test, and the validation data are empty.

>>> from deltaprop.compat import mnist_loader                     # doctest: +SKIP
>>> import deltaprop.compat.nielsen as network                     # doctest: +SKIP
>>> training_data, validation_data, test_data = mnist_loader.load_data_wrapper("data/mnist")  # doctest: +SKIP
>>> net = network.Network([784, 30, 10])                           # doctest: +SKIP
>>> net.SGD(training_data, 30, 10, 3.0, test_data=test_data)       # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np

from ..data.download import default_cache_dir
from ..data.mnist import MNIST_FILES, TEST_ONLY_SPLIT, _find, load_mnist
from ..errors import DataError
from ._book import vectorized_result

__all__ = ["BOOK_VALIDATION", "load_data", "load_data_wrapper", "vectorized_result"]

BOOK_VALIDATION = 10_000
"""The last 10,000 of MNIST's 60,000 training images are the book's validation data."""


def _directory(path) -> str:
    if path is None:
        path = os.environ.get("DELTAPROP_MNIST") or default_cache_dir("mnist")
    path = os.fspath(path)
    if os.path.isfile(path):
        raise DataError(f"{path} is a file; give the directory of MNIST's IDX files (deltaprop never unpickles "
                        "mnist.pkl.gz): t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz and the train-* pair")
    return path


def load_data(path=None, dtype=np.float32):
    """Return ``(training_data, validation_data, test_data)``, each a pair ``(X, y)`` as in the book:
    ``X`` images ``(n, 784)`` in [0, 1] (float32), ``y`` integer labels ``(n,)``.

    The book's 50,000 / 10,000 / 10,000 with all four files; 8,000 / 0 / 2,000 of the ``t10k``
    images with only those (see the module docstring).
    """
    directory = _directory(path)
    X_test, y_test = load_mnist(directory, "test", dtype)
    if all(_find(directory, stem) for stem in MNIST_FILES["train"]):
        X, y = load_mnist(directory, "train", dtype)
        k = len(X) - BOOK_VALIDATION
        return (X[:k], y[:k]), (X[k:], y[k:]), (X_test, y_test)
    k = TEST_ONLY_SPLIT
    empty = (X_test[:0], y_test[:0])
    return (X_test[:k], y_test[:k]), empty, (X_test[k:], y_test[k:])


def load_data_wrapper(path=None, dtype=np.float32):
    """Return ``(training_data, validation_data, test_data)`` in the book's format, as lists.

    ``training_data`` holds ``(x, y)`` with ``x`` a ``(784, 1)`` column vector and ``y`` the one-hot
    ``(10, 1)`` column vector of its digit; ``validation_data`` and ``test_data`` hold ``(x, label)``
    with an integer label. (The book's Python 3 port returns zips; lists can be read more than once.)
    The columns are views into one array, so the lists cost little beyond the images themselves.
    """
    (X, y), (X_val, y_val), (X_test, y_test) = load_data(path, dtype)
    one_hot = np.eye(10, dtype=dtype)[y][:, :, None]  # one_hot[i] is vectorized_result(y[i]), shape (10, 1)
    training_data = [(x.reshape(784, 1), e) for x, e in zip(X, one_hot)]
    validation_data = [(x.reshape(784, 1), int(j)) for x, j in zip(X_val, y_val)]
    test_data = [(x.reshape(784, 1), int(j)) for x, j in zip(X_test, y_test)]
    return training_data, validation_data, test_data
