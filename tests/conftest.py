"""Shared fixtures: the real MNIST test set (found through ``DELTAPROP_MNIST``), and small random problems."""

import os
from pathlib import Path

import numpy as np
import pytest


def find_mnist():
    """The directory named by the environment variable ``DELTAPROP_MNIST`` if it holds MNIST's t10k files
    (gzip or raw), else None: the tests that need real MNIST then skip, saying how to run them."""
    value = os.environ.get("DELTAPROP_MNIST")
    if not value:
        return None
    path = Path(value)
    stems = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    if all((path / stem).exists() or (path / f"{stem}.gz").exists() for stem in stems):
        return path
    return None


MNIST_DIR = find_mnist()
MNIST_SKIP_REASON = ("real MNIST not available: set DELTAPROP_MNIST to a directory holding "
                     f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (now {os.environ.get('DELTAPROP_MNIST')!r})")
needs_mnist = pytest.mark.skipif(MNIST_DIR is None, reason=MNIST_SKIP_REASON)


@pytest.fixture(scope="session")
def mnist_dir():
    """The real MNIST directory (``DELTAPROP_MNIST``); skips the test when it is not set up."""
    if MNIST_DIR is None:
        pytest.skip(MNIST_SKIP_REASON)
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist_subset(mnist_dir):
    """Nielsen-style split of the real MNIST test set: first 8,000 to train, last 2,000 to test."""
    from deltaprop.data import load_mnist

    X, y = load_mnist(mnist_dir)
    return (X[:8000], y[:8000]), (X[8000:], y[8000:])


@pytest.fixture(scope="session")
def digits_split():
    """scikit-learn's bundled digits, scaled to [0, 1], with a fixed stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    return (X_train, y_train), (X_test, y_test)


def random_problem(sizes, cost, rng, m=5, dtype=np.float64):
    """Inputs and targets that suit ``cost``: one-hot rows for log_likelihood, values in (0, 1) otherwise."""
    X = rng.standard_normal((m, sizes[0])).astype(dtype)
    if cost == "log_likelihood":
        Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], m)]
    else:
        Y = rng.uniform(0.05, 0.95, (m, sizes[-1])).astype(dtype)
    return X, Y
