"""Checks on user input, done once at the boundary of every public call.

Each check raises a :class:`~deltaprop.errors.DeltapropError` whose message names the argument,
the offending value or shape, and what would be accepted. None of them modifies its input.
"""

from __future__ import annotations

import math
import numbers
import reprlib

import numpy as np

from ..errors import DeltapropError, NonFiniteError, ShapeError
from .rows import open_rows

__all__ = ["MAX_COUNT", "all_finite", "as_dtype", "as_inputs", "as_targets", "check_non_negative", "check_positive",
           "check_same_length", "is_count"]

_BLOCK = 1 << 20  # elements per block when scanning a large (possibly memory-mapped) array

MAX_COUNT = 10**9
"""Largest whole number :func:`check_positive` accepts for a count (epochs, batch size, ...)."""


def as_dtype(dtype) -> np.dtype:
    """Return ``float32`` or ``float64`` as a NumPy dtype; anything else is an error."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DeltapropError(f"dtype={dtype!r} is not supported; use 'float32' (default) or 'float64'")
    return resolved


def _finite_in(block, dtype) -> bool:
    if dtype is None or block.dtype == dtype:
        return bool(np.isfinite(block).all())
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(block.astype(dtype)).all())


def all_finite(array, dtype=None, rows=None) -> bool:
    """True if ``array`` holds no NaN or infinity, also once cast to ``dtype`` if given (1e39 is
    finite in float64 and infinite in float32); scans in blocks so a memmap is never copied whole.

    A memmap of a file is read with positioned reads (:mod:`deltaprop.core.rows`), so the scan
    leaves none of the file resident in the process. ``rows`` (a ``slice(start, stop)``) limits
    the scan to those rows: each process of a data-parallel run checks its own part.
    """
    dtype = None if dtype is None else np.dtype(dtype)
    reader = open_rows(array)
    if reader is not None:
        first, end = (0, None) if rows is None else (rows.start or 0, rows.stop)
        with reader:
            per_block = max(1, (1 << 16) // max(1, array.shape[1]))  # 64 Ki elements a read
            return all(_finite_in(block, dtype) for block in reader.blocks(per_block, first, end))
    if rows is not None:
        array = array[rows]
    flat = array.reshape(-1) if array.flags.c_contiguous else None
    if flat is None or flat.size <= _BLOCK:
        return _finite_in(array, dtype)
    return all(_finite_in(flat[i : i + _BLOCK], dtype) for i in range(0, flat.size, _BLOCK))


def _first_not_finite(array, dtype=None):
    """``(index, value)`` of the first entry of ``array`` that is NaN or infinite (in ``dtype`` if given), or None.

    For error messages only: it scans again, a whole-file memmap with positioned reads.
    """
    rows = open_rows(array)
    if rows is not None:
        with rows:
            per_block = max(1, (1 << 16) // max(1, array.shape[1]))
            for k, block in enumerate(rows.blocks(per_block)):
                with np.errstate(over="ignore", invalid="ignore"):
                    bad = ~np.isfinite(block if dtype is None else block.astype(dtype))
                if bad.any():
                    i, j = (int(n) for n in np.argwhere(bad)[0])
                    return (i + k * per_block, j), block[i, j]
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(array if dtype is None or array.dtype == dtype else array.astype(dtype))
    if not bad.any():
        return None
    index = tuple(int(n) for n in np.argwhere(bad)[0])
    return index, array[index]


def _non_finite_error(array, dtype, name, advice="", rows=None):
    """The NonFiniteError for ``array``, which holds a value that is not finite once in ``dtype``: NaN or
    infinity in the array itself, or a finite value beyond ``dtype``'s range (1e39 in float32).

    ``rows`` (a slice): the value was found in those rows; indices are still given in ``array``'s."""
    first = 0
    if rows is not None:
        first = rows.start or 0
        array = array[rows]
        advice = f" (in rows {first} to {rows.stop - 1}){advice}" if rows.stop is not None else advice

    def find(part, dtype=None):  # the first bad entry, its row counted in the whole array
        found = _first_not_finite(part, dtype)
        if found is None or not first:
            return found
        index, value = found
        return (index[0] + first, *index[1:]), value

    found = find(array)
    if found is not None:
        index, value = found
        return NonFiniteError(f"{name} holds NaN or infinity ({name}[{', '.join(map(str, index))}] is {value}){advice}")
    found = find(array, dtype)
    if found is None:  # not reached: the caller found one
        return NonFiniteError(f"{name} holds values that are not finite in {dtype.name}{advice}")
    index, value = found
    return NonFiniteError(f"{name} holds a value that overflows {dtype.name}: {name}[{', '.join(map(str, index))}] is "
                          f"{float(value):.6g}, beyond its largest finite value {float(np.finfo(dtype).max):.4g}; scale "
                          "the data or use dtype='float64'")


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
    array, dtype = _numeric(X, name), np.dtype(dtype)
    if array.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (examples, features) with {n_in} features, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ShapeError(f"{name} is an empty batch (shape {array.shape}); give at least one example")
    if array.shape[1] != n_in:
        raise ShapeError(f"{name} has {array.shape[1]} features per example (shape {array.shape}) but the network's first layer takes {n_in}")
    if array.dtype == dtype or isinstance(array, np.memmap):  # kept as it is: a memmap is converted batch by batch
        if array.dtype.kind == "f" and not all_finite(array, dtype, rows):
            raise _non_finite_error(array, dtype, name, "; clean or impute the data first", rows)
        return array
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(dtype)
    if array.dtype.kind == "f" and not all_finite(cast, rows=rows):  # checked after the cast: 1e39 is infinite in float32
        raise _non_finite_error(array, dtype, name, "; clean or impute the data first", rows)
    return cast


def as_targets(Y, n_out: int, dtype, name: str = "Y", sum_to_one: bool = False) -> np.ndarray:
    """Return targets as an ``(m, n_out)`` array of ``dtype``.

    ``Y`` may be integer class labels of shape ``(m,)`` (turned into one-hot rows when
    ``n_out > 1``, into a column when ``n_out == 1``) or target rows of shape ``(m, n_out)``.
    With ``sum_to_one`` (softmax + log-likelihood), each row must sum to 1.
    """
    array, dtype = _numeric(Y, name), np.dtype(dtype)
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
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not all_finite(cast):  # checked after the cast: 1e39 is infinite in float32
        raise _non_finite_error(array, dtype, name)
    array = cast
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
        outside = (labels < 0) | (labels >= n_classes)  # before the cast: 1e300 has no int64
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise DeltapropError(f"{name} holds class label {labels[i]:g} (at index {i}); the network's {n_classes} "
                                 f"outputs allow labels 0 to {n_classes - 1}")
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


def _as_float(value):
    """``value`` (any ``numbers.Real``: float, int, Fraction, NumPy scalar) as a finite float, else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):  # 10**400 has no float
        return None
    return number if math.isfinite(number) else None


def check_positive(value, name: str, integer: bool = False, maximum=None):
    """Return ``value`` as an ``int`` (``integer``) or a finite ``float`` if it is positive; raise naming ``name``.

    A count (``integer``) must be at most ``maximum`` (default :data:`MAX_COUNT`, 10**9): a larger one is
    a typo or an attack, and would overflow or allocate. Any real number is accepted as a float
    (``Fraction(1, 10)`` gives 0.1) if the float is finite, and then at most ``maximum`` if given.
    """
    if integer:
        maximum = MAX_COUNT if maximum is None else maximum
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value <= 0:
            raise DeltapropError(f"{name}={reprlib.repr(value)} must be a positive integer")
        if value > maximum:
            raise DeltapropError(f"{name}={reprlib.repr(value)} must be a positive integer at most {maximum:,}")
        return int(value)
    number = _as_float(value)
    if number is None or number <= 0:
        raise DeltapropError(f"{name}={reprlib.repr(value)} must be a positive number")
    if maximum is not None and number > maximum:
        raise DeltapropError(f"{name}={reprlib.repr(value)} must be a positive number at most {maximum:g}")
    return number


def check_non_negative(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number >= 0; raise naming ``name`` otherwise."""
    number = _as_float(value)
    if number is None or number < 0:
        raise DeltapropError(f"{name}={reprlib.repr(value)} must be a number >= 0")
    return number
