"""Data sets: scikit-learn's digits, MNIST from IDX files, CSV files and synthetic sets."""

from .idx import read_idx
from .mnist import load_mnist

__all__ = ["read_idx", "load_mnist"]
