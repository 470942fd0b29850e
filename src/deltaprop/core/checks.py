"""Checks on user input, done once at the boundary of every public call.

Each check raises a :class:`~deltaprop.errors.DeltapropError` whose message names the argument,
the offending value or shape, and what would be accepted. None of them modifies its input.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import DeltapropError, NonFiniteError, ShapeError
from .rows import open_rows

__all__ = ["as_inputs", "as_targets", "check_same_length", "check_positive", "check_non_negative", "all_finite",
           "as_dtype", "is_count"]

_BLOCK = 1 << 20  # elements per block when scanning a large (possibly memory-mapped) array


def as_dtype(dtype) -> np.dtype:
    """Return ``float32`` or ``float64`` as a NumPy dtype; anything else is an error."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DeltapropError(f"dtype={dtype!r} is not supported; use 'float32' (default) or 'float64'")
    return resolved


def all_finite(array, rows=None) -> bool:
    """True if ``array`` holds no NaN or infinity; scans in blocks so a memmap is never copied whole.

    A memmap of a file is read with positioned reads (:mod:`deltaprop.core.rows`), so the scan
    leaves none of the file resident in the process. ``rows`` (a ``slice(start, stop)``) limits
    the scan to those rows: each process of a data-parallel run checks its own part.
    """
    reader = open_rows(array)
    if reader is not None:
        first, end = (0, None) if rows is None else (rows.start or 0, rows.stop)
        with reader:
            per_block = max(1, (1 << 16) // max(1, array.shape[1]))  # 64 Ki elements a read
            return all(np.isfinite(block).all() for block in reader.blocks(per_block, first, end))
    if rows is not None:
        array = array[rows]
    flat = array.reshape(-1) if array.flags.c_contiguous else None
    if flat is None or flat.size <= _BLOCK:
        return bool(np.isfinite(array).all())
    return all(np.isfinite(flat[i : i + _BLOCK]).all() for i in range(0, flat.size, _BLOCK))


def _numeric(value, name):
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise DeltapropError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    return array


def as_inputs(X, n_in: int, dtype, name: str = "X", rows=None) -> np.ndarray:
    """Return ``X`` as an ``(m, n_in)`` array of ``dtype`` with ``m >= 1`` and finite entries.

    An array already of that dtype is returned as it is (a memmap stays a memmap). ``rows`` (a
    slice) limits the check for NaN and infinity to those rows (a data-parallel run's share).
    """
    array = _numeric(X, name)
    if array.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (examples, features) with {n_in} features, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ShapeError(f"{name} is an empty batch (shape {array.shape}); give at least one example")
    if array.shape[1] != n_in:
        raise ShapeError(f"{name} has {array.shape[1]} features per example (shape {array.shape}) but the network's first layer takes {n_in}")
    if array.dtype.kind == "f" and not all_finite(array, rows):
        where = "" if rows is None else f" (in rows {rows.start} to {rows.stop - 1})"
        raise NonFiniteError(f"{name} holds NaN or infinity{where}; clean or impute the data first")
    if array.dtype != dtype and not isinstance(array, np.memmap):
        array = array.astype(dtype)
    return array


def as_targets(Y, n_out: int, dtype, name: str = "Y", sum_to_one: bool = False) -> np.ndarray:
    """Return targets as an ``(m, n_out)`` array of ``dtype``.

    ``Y`` may be integer class labels of shape ``(m,)`` (turned into one-hot rows when
    ``n_out > 1``, into a column when ``n_out == 1``) or target rows of shape ``(m, n_out)``.
    With ``sum_to_one`` (softmax + log-likelihood), each row must sum to 1.
    """
    array = _numeric(Y, name)
    if array.ndim == 1 and n_out > 1:
        return one_hot(array, n_out, dtype, name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_out:
        raise ShapeError(
            f"{name} must be class labels of shape (m,) or targets of shape (m, {n_out}) to match the network's {n_out} outputs, got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ShapeError(f"{name} is an empty batch (shape {array.shape}); give at least one example")
    if array.dtype.kind == "f" and not all_finite(array):
        raise NonFiniteError(f"{name} holds NaN or infinity")
    array = array.astype(dtype, copy=False)
    if sum_to_one and not np.allclose(array.sum(axis=1), 1.0, atol=1e-3):
        raise DeltapropError(
            f"each row of {name} must sum to 1 for a softmax output with the log_likelihood cost (one-hot rows or probabilities)"
        )
    return array


def one_hot(labels, n_classes: int, dtype, name: str = "y") -> np.ndarray:
    """Return one-hot rows of shape ``(m, n_classes)`` for integer ``labels`` in ``[0, n_classes)``."""
    labels = _numeric(labels, name)
    if labels.ndim != 1 or labels.shape[0] == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array of class labels, got shape {labels.shape}")
    if labels.dtype.kind == "f":
        if not all_finite(labels) or not np.all(labels == np.round(labels)):
            raise DeltapropError(f"{name} must hold integer class labels in [0, {n_classes - 1}], got non-integer values")
    ints = labels.astype(np.int64)
    bad = (ints < 0) | (ints >= n_classes)
    if bad.any():
        raise DeltapropError(
            f"{name} holds class label {ints[bad][0]} (at index {int(np.flatnonzero(bad)[0])}); the network's {n_classes} outputs allow labels 0 to {n_classes - 1}"
        )
    rows = np.zeros((ints.shape[0], n_classes), dtype=dtype)
    rows[np.arange(ints.shape[0]), ints] = 1
    return rows


def check_same_length(X, Y, x_name="X", y_name="Y"):
    """Raise unless ``X`` and ``Y`` hold the same number of examples."""
    if len(X) != len(Y):
        raise ShapeError(f"{x_name} has {len(X)} examples but {y_name} has {len(Y)}; they must match")


def is_count(value, minimum: int = 0) -> bool:
    """True if ``value`` is a whole number (a Python or NumPy integer, not a bool) ``>= minimum``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= minimum


def check_positive(value, name: str, integer: bool = False):
    """Return ``value`` if it is a positive (integer) number; raise naming ``name`` otherwise."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise DeltapropError(f"{name}={value!r} must be {what}")
    return int(value) if integer else float(value)


def check_non_negative(value, name: str) -> float:
    """Return ``value`` if it is a finite number >= 0; raise naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise DeltapropError(f"{name}={value!r} must be a number >= 0")
    return float(value)
