"""Shared fixtures: the real MNIST test set beside the project, and small random problems."""

from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_subset():
    """Nielsen-style split of the real MNIST test set: first 8,000 to train, last 2,000 to test."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {MNIST_DIR}")
    from deltaprop.data import load_mnist

    X, y = load_mnist(MNIST_DIR)
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
