"""Data sets: scikit-learn's digits, MNIST from IDX files, CSV files, memmapped ``.npy`` files, synthetic sets.

:func:`load_dataset` takes the command line's ``--data`` strings (``digits``, ``mnist:DIR``,
``csv:PATH[:label]``, ``npy:X.npy,y.npy``, ``xor``, ``spirals``, ``sine``) and returns a
:class:`Dataset` with a fixed training/test split.
"""

from .csvfile import load_csv, read_csv
from .digits import load_digits
from .download import default_cache_dir, fetch
from .idx import read_idx, write_idx
from .mnist import MNIST_SHA256, download_mnist, load_mnist, mnist_split
from .npyfile import load_npy
from .spec import Dataset, DataSpec, load_dataset, parse_data_spec, train_test_split
from .synthetic import sine, spirals, xor

__all__ = [
    "MNIST_SHA256",
    "DataSpec",
    "Dataset",
    "default_cache_dir",
    "download_mnist",
    "fetch",
    "load_csv",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_npy",
    "mnist_split",
    "parse_data_spec",
    "read_csv",
    "read_idx",
    "sine",
    "spirals",
    "train_test_split",
    "write_idx",
    "xor",
]
