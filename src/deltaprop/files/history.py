"""Training histories as CSV: one row per epoch, the first column ``epoch`` (counted from 1)."""

from __future__ import annotations

import csv
import math
import os

from ..atomic import atomic_write
from ..errors import DeltapropError

__all__ = ["load_history", "save_history"]


def save_history(history, path) -> None:
    """Write a training history as CSV, one row per epoch, atomically.

    ``history`` is a :class:`~deltaprop.History` or a dict mapping metric names to per-epoch
    lists. The first column is ``epoch`` (counted from 1).
    """
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, dict):
        raise DeltapropError(f"history must be a deltaprop.History or a dict of lists, got {type(history).__name__}")
    names = list(metrics)
    n = max((len(values) for values in metrics.values()), default=0)
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *names])
        for epoch in range(n):
            row = [metrics[name][epoch] if epoch < len(metrics[name]) else "" for name in names]
            writer.writerow([epoch + 1, *(repr(float(v)) if v != "" else "" for v in row)])


def load_history(path) -> dict:
    """Read a history CSV written by :func:`save_history`: ``{metric: [value per epoch]}``.

    Empty cells become NaN. The ``epoch`` column is returned too.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise DeltapropError(f"history file {path} is not a text CSV file") from None
    except OSError as error:
        raise DeltapropError(f"cannot read history file {path}: {error.strerror or error}") from None
    if not rows or not rows[0] or rows[0][0] != "epoch":
        raise DeltapropError(f"history file {path} does not start with a header row 'epoch,...' (written by deltaprop train?)")
    header, body = rows[0], [row for row in rows[1:] if row]
    history = {name: [] for name in header}
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DeltapropError(f"history file {path}, line {line}: {len(row)} cells, but the header has {len(header)}")
        for name, cell in zip(header, row):
            try:
                history[name].append(float(cell) if cell.strip() else math.nan)
            except ValueError:
                raise DeltapropError(f"history file {path}, line {line}, column {name!r}: {cell!r} is not a number") from None
    if not body:
        raise DeltapropError(f"history file {path} has no epochs")
    return history
