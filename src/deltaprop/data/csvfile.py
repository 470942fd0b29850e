"""Numeric CSV files: a header row naming the columns, then one example per row.

Every problem is reported with the file, the line and the column: a cell that is not a finite
number (or that overflows the dtype it is loaded in: ``1e39`` is beyond float32), a row with the
wrong number of cells, a missing label column, a label that cannot be a class.

A label column is read as classes when every label is a whole number >= 0, the largest is below
:data:`MAX_CLASSES` and the labels are dense: the network gets ``max + 1`` outputs, so
``max + 1`` may be at most ``max(10, 2 x the number of distinct labels)`` (labels 0-9, 1-10, 0 and
7 qualify; years 1990-2020 or a stray 1000000000 do not, and are refused with a message). Labels
that are not all whole numbers >= 0 are regression targets; ``task=`` overrides the choice.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from ..errors import DataError
from .regular import open_regular

__all__ = ["DEFAULT_LABEL", "MAX_CLASSES", "load_csv", "read_csv"]

DEFAULT_LABEL = "label"
"""Name of the label column when none is given."""

MAX_CLASSES = 10_000
"""Most classes a label column may stand for (labels 0 to 9,999)."""

_FEW_CLASSES = 10  # up to this many outputs, labels need not be dense (a small file may miss some classes)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv(path, header: bool | None = None):
    """Return ``(columns, values)``: the header's column names (or ``None``) and a float64 array.

    Parameters
    ----------
    path : str or os.PathLike
    header : bool, optional
        Whether the first row names the columns. By default it does when none of its cells is a
        number.

    Raises
    ------
    DataError
        If the file cannot be read, is empty, has rows of different lengths, or a cell that is
        not a finite number (the message gives the line and the column).
    """
    columns, values, _ = _read(path, header)
    return columns, values


def _read(path, header):
    """:func:`read_csv`, and the line number of each row of values."""
    path = os.fspath(path)
    reader = None
    handle, _ = open_regular(path, "CSV file", newline="", encoding="utf-8", text=True)
    try:
        with handle:
            reader = csv.reader(handle)
            # (line number, stripped cells) of every row that is not blank
            rows = [(reader.line_num, [cell.strip() for cell in row]) for row in reader if any(c.strip() for c in row)]
    except OSError as error:
        raise DataError(f"cannot read CSV file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise DataError(f"CSV file {path} is not UTF-8 text") from None
    except csv.Error as error:
        raise DataError(f"CSV file {path}, line {reader.line_num}: {error}") from None
    if not rows:
        raise DataError(f"CSV file {path} is empty")
    first = rows[0][1]
    if header is None:
        header = not any(_is_number(cell) for cell in first)
    columns = first if header else None
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"CSV file {path} has a header but no rows of data")
    width = len(first)
    for line, cells in body:
        if len(cells) != width:
            what = "the header has" if header else "the first row has"
            raise DataError(f"CSV file {path}, line {line}: {len(cells)} cells, but {what} {width} (ragged rows)")
    try:
        values = np.array([cells for _, cells in body], dtype=np.float64)  # fast path: all numbers
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        _raise_first_bad_cell(path, body, columns)
    return columns, values, [line for line, _ in body]


def _raise_first_bad_cell(path, body, columns):
    """Find the first cell that is not a finite number and raise a DataError naming it."""
    for line, cells in body:
        for j, cell in enumerate(cells):
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                name = f"column {columns[j]!r}" if columns else f"column {j + 1}"
                raise DataError(f"CSV file {path}, line {line}, {name}: {cell or '(empty)'!r} is not a finite number")
    raise DataError(f"CSV file {path} holds a cell that is not a number")  # not reached


def _column_name(columns, j) -> str:
    return f"column {columns[j]!r}" if columns else f"column {j + 1}"


def _cast(path, values, lines, columns, dtype) -> np.ndarray:
    """``values`` in ``dtype``; a cell that overflows it (1e39 in float32) is named, line and column."""
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = values.astype(dtype)
    if dtype.kind == "f" and not np.isfinite(cast).all():
        i, j = (int(k) for k in np.argwhere(~np.isfinite(cast))[0])
        raise DataError(f"CSV file {path}, line {lines[i]}, {_column_name(columns, j)}: {values[i, j]:.6g} overflows "
                        f"{dtype.name} (its largest finite value is {np.finfo(dtype).max:.4g})")
    return cast


def _label_task(path, y, lines, label, task):
    """``"classification"`` or ``"regression"`` for the label column ``y``, or a DataError saying why neither."""
    whole = bool(np.all(y >= 0) and np.all(y == np.round(y)))
    if task is None:
        task = "classification" if whole else "regression"
    if task not in ("classification", "regression"):
        raise DataError(f"task={task!r} must be 'classification', 'regression' or None (decided by the labels)")
    if task == "regression":
        return task
    override = f"; to read them as regression targets, use load_csv({path!r}, {label!r}, task='regression')"
    if not whole:
        i = int(np.argmax(~((y >= 0) & (y == np.round(y)))))
        raise DataError(f"CSV file {path}, line {lines[i]}, column {label!r}: label {y[i]:.17g} is not a class "
                        "number (a whole number >= 0)")
    top = int(np.argmax(y))
    if y[top] >= MAX_CLASSES:
        raise DataError(f"CSV file {path}, line {lines[top]}, column {label!r}: label {y[top]:.17g} is too large for "
                        f"a class: labels are classes 0 to {MAX_CLASSES - 1:,} (at most {MAX_CLASSES:,}){override}")
    n_outputs, distinct = int(y[top]) + 1, len(np.unique(y))
    if n_outputs > max(_FEW_CLASSES, 2 * distinct):
        raise DataError(f"CSV file {path}, column {label!r}: the labels are {distinct:,} distinct whole numbers up to "
                        f"{int(y[top]):,}, too sparse to be classes 0 to {n_outputs - 1:,} (one output each: at least "
                        f"half of them must occur){override}")
    return task


def load_csv(path, label: str = DEFAULT_LABEL, dtype=np.float32, task=None):
    """Return ``(X, y, feature_names)`` from a CSV file whose header names a label column.

    ``X`` holds every other column as features ``(n, n_features)``; ``y`` is the label column,
    as integers ``(n,)`` for a classification task, as floats ``(n, 1)`` for regression. By
    default (``task=None``) the labels decide, as the module docstring says; ``task`` may be
    ``"classification"`` or ``"regression"``.
    """
    path = os.fspath(path)
    columns, values, lines = _read(path, None)
    if columns is None:
        raise DataError(
            f"CSV file {path} has no header row; its first row must name the columns, one of them {label!r}"
        )
    if label not in columns:
        raise DataError(
            f"CSV file {path} has no label column {label!r}; its columns are {', '.join(columns)} "
            f"(name the label column with csv:PATH:COLUMN)"
        )
    if columns.count(label) > 1:
        raise DataError(f"CSV file {path} has {columns.count(label)} columns named {label!r}")
    j = columns.index(label)
    features = [name for name in columns if name != label]
    if not features:
        raise DataError(f"CSV file {path} has no feature columns besides the label {label!r}")
    cast = _cast(path, values, lines, columns, dtype)
    X = np.delete(cast, j, axis=1)
    y = values[:, j]
    if _label_task(path, y, lines, label, task) == "classification":
        return X, y.astype(np.int64), features
    return X, cast[:, j : j + 1].copy(), features
