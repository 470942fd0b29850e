"""Numeric CSV files: a header row naming the columns, then one example per row.

Every problem is reported with the file, the line and the column: a cell that is not a finite
number, a row with the wrong number of cells, a missing label column.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from ..errors import DataError

__all__ = ["DEFAULT_LABEL", "load_csv", "read_csv"]

DEFAULT_LABEL = "label"
"""Name of the label column when none is given."""


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
    path = os.fspath(path)
    reader = None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
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
    return columns, values


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


def load_csv(path, label: str = DEFAULT_LABEL, dtype=np.float32):
    """Return ``(X, y, feature_names)`` from a CSV file whose header names a label column.

    ``X`` holds every other column as features ``(n, n_features)``; ``y`` is the label column,
    as integers ``(n,)`` when every label is a whole number >= 0 (a classification task), as
    floats ``(n, 1)`` otherwise (regression).
    """
    path = os.fspath(path)
    columns, values = read_csv(path, header=None)
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
    X = np.delete(values, j, axis=1).astype(dtype)
    y = values[:, j]
    if np.all(y >= 0) and np.all(y == np.round(y)):
        return X, y.astype(np.int64), features
    return X, y[:, None].astype(dtype), features
