"""Data in ``.npy`` files, opened as memmaps: data sets larger than memory, read only where needed.

``npy:X.npy,y.npy`` names the inputs (``(n, k)``, float, in the training dtype) and the labels
(``(n,)`` integers for classification) or targets (``(n,)`` or ``(n, j)`` floats, regression).
The inputs are never read whole: :func:`np.load` maps them (``mmap_mode="r"``) and the training
loop reads each batch's rows with positioned reads (:mod:`deltaprop.core.rows`); in a
data-parallel run each rank reads only the rows of its shares. The labels are read into memory.

With two files, the last quarter of the rows (in the file's order: shuffle the rows once when
writing the file) is the test set; ``npy:X.npy,y.npy,X_test.npy,y_test.npy`` gives it explicitly.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

__all__ = ["TEST_FRACTION", "load_npy"]

TEST_FRACTION = 0.25


def _open(path, what, mmap):
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{what} file {path} does not exist") from None
    except OSError as error:
        raise DataError(f"cannot read {what} file {path}: {error.strerror or error}") from None
    except ValueError as error:  # not a .npy file, a truncated one, or one that holds objects
        raise DataError(f"{what} file {path} is not a readable .npy array ({error})") from None


def _inputs(path, dtype):
    X = _open(path, "input", mmap=True)
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[0] == 0:
        raise DataError(f"input file {path} must hold a 2-D array (examples, features), got shape "
                        f"{getattr(X, 'shape', None)}")
    if X.dtype.kind != "f":
        raise DataError(f"input file {path} holds {X.dtype}; it must hold floats (float32 or float64), scaled as "
                        "the network should see them")
    if X.dtype != dtype:  # converting would read the whole file into memory
        raise DataError(f"input file {path} holds {X.dtype} but training runs in {dtype.name}: save it as {dtype.name} "
                        f"(X.astype(np.{dtype.name})) or train with --dtype {X.dtype.name}")
    return X


def _targets(path, n, X_path):
    y = _open(path, "label", mmap=False)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise DataError(f"label file {path} has shape {y.shape}, but {X_path} has {n} rows: it must hold one label "
                        f"(shape ({n},)) or one row of targets (shape ({n}, k)) per row")
    if y.dtype.kind in "iu":
        if y.ndim != 1:
            raise DataError(f"label file {path} holds integers of shape {y.shape}: class labels must be 1-D")
        if n and y.min() < 0:
            raise DataError(f"label file {path} holds the negative class label {y.min()}; labels are 0, 1, 2, ...")
        return y.astype(np.int64)
    if y.dtype.kind != "f":
        raise DataError(f"label file {path} holds {y.dtype}: use integers for class labels, floats for targets")
    if not np.isfinite(y).all():
        raise DataError(f"label file {path} holds NaN or infinity")
    return y.reshape(n, -1)


def load_npy(paths, dtype):
    """``(X_train, y_train, X_test, y_test)`` from ``"X.npy,y.npy"`` or ``"X.npy,y.npy,X_test.npy,y_test.npy"``.

    The inputs are memmaps (of their rows, for the two-file split); the labels are in memory.

    Raises
    ------
    DataError
        Naming the file: missing, not a ``.npy`` array, of the wrong shape or dtype, or whose
        labels do not match the inputs.
    """
    parts = paths.split(",") if isinstance(paths, str) else []
    if len(parts) not in (2, 4) or not all(parts):
        raise DataError(f"data source npy:{paths} must name two files, npy:X.npy,y.npy, or four, "
                        "npy:X.npy,y.npy,X_test.npy,y_test.npy")
    dtype = np.dtype(dtype)
    X = _inputs(parts[0], dtype)
    y = _targets(parts[1], len(X), parts[0])
    if len(parts) == 4:
        X_test = _inputs(parts[2], dtype)
        y_test = _targets(parts[3], len(X_test), parts[2])
        if X_test.shape[1] != X.shape[1]:
            raise DataError(f"test input file {parts[2]} has {X_test.shape[1]} features but {parts[0]} has "
                            f"{X.shape[1]}")
        if (y.dtype.kind == "i") != (y_test.dtype.kind == "i") or y.shape[1:] != y_test.shape[1:]:
            raise DataError(f"label files {parts[1]} and {parts[3]} hold different kinds of labels "
                            f"({y.dtype}{list(y.shape[1:])} and {y_test.dtype}{list(y_test.shape[1:])})")
        return X, y, X_test, y_test
    if len(X) < 2:
        raise DataError(f"input file {parts[0]} has {len(X)} row; at least 2 are needed to hold some out for testing")
    n_test = max(1, round(TEST_FRACTION * len(X)))
    cut = len(X) - n_test
    return X[:cut], y[:cut], X[cut:], y[cut:]
