"""Data sources named by one string, as the command line's ``--data`` takes them.

================== ==============================================================
spec               data
================== ==============================================================
``digits``         scikit-learn's 1,797 8x8 digits, 75% train / 25% test
``mnist:DIR``      MNIST IDX files in DIR (``mnist`` alone: the download cache)
``csv:PATH``       a CSV file with a header; the column ``label`` holds the labels
``csv:PATH:COL``   the same, labels in column COL
``npy:X,y``        ``.npy`` files of inputs and labels, memmapped; the last 25% test
``npy:X,y,Xt,yt``  the same with a test set of its own (:mod:`deltaprop.data.npyfile`)
``xor``            400 points of the xor problem (2 classes)
``spirals``        400 points on two interleaved spirals (2 classes)
``sine``           400 noisy samples of ``sin(x)`` (regression)
================== ==============================================================

Splits are fixed: the same spec always gives the same training and test sets, whatever seed
the network is trained with, so ``deltaprop evaluate`` sees the test set ``train`` held out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..core.initializers import as_generator
from ..errors import DataError
from . import synthetic
from .csvfile import DEFAULT_LABEL, load_csv
from .digits import load_digits
from .download import default_cache_dir
from .mnist import MNIST_MIRROR, download_mnist, mnist_split
from .npyfile import load_npy

__all__ = ["SOURCES", "DataSpec", "Dataset", "load_dataset", "parse_data_spec", "train_test_split"]

SOURCES = ("digits", "mnist", "csv", "npy", "xor", "spirals", "sine")
SPEC_HELP = "digits, mnist:DIR, csv:PATH[:label], npy:X.npy,y.npy[,X_test.npy,y_test.npy], xor, spirals or sine"
TEST_FRACTION = 0.25
SPLIT_SEED = 0


@dataclass(frozen=True)
class DataSpec:
    """A parsed data source: ``kind`` is one of :data:`SOURCES`; ``path`` and ``label`` where they apply."""

    kind: str
    path: str | None = None
    label: str | None = None

    def __str__(self):
        return ":".join(part for part in (self.kind, self.path, self.label) if part is not None)


def parse_data_spec(text) -> DataSpec:
    """Parse ``digits``, ``mnist[:DIR]``, ``csv:PATH[:label]``, ``npy:X,y[,X_test,y_test]``, ``xor``, ``spirals``
    or ``sine``.

    In ``csv:PATH:label`` the label part is the text after the last colon, unless the whole of
    ``PATH:label`` names an existing file.

    >>> parse_data_spec("csv:data/iris.csv:species")
    DataSpec(kind='csv', path='data/iris.csv', label='species')
    """
    if isinstance(text, DataSpec):
        return text
    if not isinstance(text, str) or not text:
        raise DataError(f"data source {text!r} is not valid; use {SPEC_HELP}")
    kind, _, rest = text.partition(":")
    if kind not in SOURCES:
        raise DataError(f"data source {text!r} is not known; use {SPEC_HELP}")
    if kind == "csv":
        if not rest:
            raise DataError(f"data source {text!r} needs a file: csv:PATH or csv:PATH:LABEL_COLUMN")
        if ":" in rest and not os.path.exists(rest):
            path, label = rest.rsplit(":", 1)
            return DataSpec("csv", path, label or DEFAULT_LABEL)
        return DataSpec("csv", rest, DEFAULT_LABEL)
    if kind == "mnist":
        return DataSpec("mnist", rest or None)
    if kind == "npy":
        if len(rest.split(",")) not in (2, 4) or not all(rest.split(",")):
            raise DataError(f"data source {text!r} needs two files, npy:X.npy,y.npy, or four, "
                            "npy:X.npy,y.npy,X_test.npy,y_test.npy")
        return DataSpec("npy", rest)
    if rest:
        raise DataError(f"data source {text!r}: {kind} takes no argument after ':'")
    return DataSpec(kind)


@dataclass
class Dataset:
    """Training and test sets of one source.

    ``y`` holds integer class labels ``(n,)`` for a classification task and targets ``(n, k)``
    for regression.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" or "regression"
    n_classes: int | None = None

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        """Output units a network needs: one per class, or one per regression target."""
        return self.n_classes if self.task == "classification" else self.y_train.shape[1]

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    def part(self, which: str = "test"):
        """``(X, y)`` of ``"train"``, ``"test"`` or ``"all"`` (both, training set first)."""
        if which == "train":
            return self.X_train, self.y_train
        if which == "test":
            return self.X_test, self.y_test
        if which == "all":
            return np.concatenate([self.X_train, self.X_test]), np.concatenate([self.y_train, self.y_test])
        raise DataError(f"part={which!r} must be 'train', 'test' or 'all'")

    def __repr__(self):
        return (f"Dataset({self.name!r}, {self.task}, {len(self.X_train)} train + {len(self.X_test)} test, "
                f"{self.n_features} features, {self.n_outputs} outputs)")


def train_test_split(X, y, test_fraction: float = TEST_FRACTION, seed=SPLIT_SEED, stratify: bool = True):
    """Split rows into ``(X_train, y_train, X_test, y_test)``, reproducibly.

    With ``stratify`` (integer labels), each class contributes ``round(test_fraction * count)``
    of its rows to the test set, so both sets keep the class proportions.
    """
    rng = as_generator(seed)
    n = len(X)
    if stratify and y.ndim == 1:
        test = np.concatenate([
            members[: round(test_fraction * len(members))]
            for members in (rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y))
        ])
        if len(test) == 0:  # every class too small to give a row: fall back to one random row
            stratify = False
    if not (stratify and y.ndim == 1):
        test = rng.permutation(n)[: max(1, round(test_fraction * n))]
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    return X[~is_test], y[~is_test], X[is_test], y[is_test]


def _classification(name, X, y, split=True) -> Dataset:
    n_classes = int(y.max()) + 1
    if n_classes < 2:
        raise DataError(f"data source {name!r} has a single class ({n_classes - 1}); a classifier needs at least 2")
    parts = train_test_split(X, y) if split else (X, y, X, y)
    return Dataset(name, *parts, task="classification", n_classes=n_classes)


def load_dataset(spec, dtype=np.float32, download: bool = False, mirror: str = MNIST_MIRROR) -> Dataset:
    """Load the data source ``spec`` (a string, see the module docstring) with its fixed split.

    ``download`` fetches missing MNIST files from ``mirror`` into the MNIST directory (the
    cache directory for a bare ``mnist``), verifying their SHA-256 first.
    """
    spec = parse_data_spec(spec)
    name = str(spec)
    if spec.kind == "digits":
        return _classification(name, *load_digits(dtype))
    if spec.kind == "mnist":
        directory = spec.path or default_cache_dir("mnist")
        if download:
            download_mnist(directory, base_url=mirror)
        X_train, y_train, X_test, y_test = mnist_split(directory, dtype)
        return Dataset(name, X_train, y_train, X_test, y_test, "classification", n_classes=10)
    if spec.kind == "csv":
        X, y, _ = load_csv(spec.path, spec.label, dtype)
        if len(X) < 2:
            raise DataError(f"CSV file {spec.path} has {len(X)} row; at least 2 are needed to hold some out for testing")
        if y.ndim == 1:
            return _classification(name, X, y)
        return Dataset(name, *train_test_split(X, y, stratify=False), task="regression")
    if spec.kind == "npy":
        X_train, y_train, X_test, y_test = load_npy(spec.path, dtype)
        if y_train.ndim == 1:
            n_classes = int(max(y_train.max(), y_test.max())) + 1
            if n_classes < 2:
                raise DataError(f"data source {name!r} has a single class (0); a classifier needs at least 2")
            return Dataset(name, X_train, y_train, X_test, y_test, "classification", n_classes=n_classes)
        return Dataset(name, X_train, y_train.astype(dtype), X_test, y_test.astype(dtype), "regression")
    if spec.kind == "sine":
        X, y = synthetic.sine(seed=SPLIT_SEED, dtype=dtype)
        return Dataset(name, *train_test_split(X, y, stratify=False), task="regression")
    X, y = getattr(synthetic, spec.kind)(seed=SPLIT_SEED, dtype=dtype)  # xor, spirals
    return _classification(name, X, y)
