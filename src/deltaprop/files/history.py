"""Training histories as CSV: one row per epoch, the first column ``epoch`` (counted from 1).

With the diagnostics' measurements before any training (``Diagnostics.initial``), a first row with
``epoch`` 0 holds them; its other cells (the cost of an epoch, which has not happened) are empty.
"""

from __future__ import annotations

import csv
import math
import os

from ..atomic import atomic_write
from ..errors import DeltapropError

__all__ = ["history_table", "load_history", "save_history"]


def history_table(history, initial=None) -> dict:
    """``{"epoch": [...], metric: [...]}``: the history with its epoch numbers, from 1.

    ``history`` is a :class:`~deltaprop.History` or a dict mapping metric names to per-epoch
    lists. With ``initial`` (a dict of metrics measured before any training, as
    ``Diagnostics.initial``), the table starts with epoch 0, where metrics absent from
    ``initial`` are NaN. Plots and :func:`save_history` take this table as it is.
    """
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, dict):
        raise DeltapropError(f"history must be a deltaprop.History or a dict of lists, got {type(history).__name__}")
    if initial is not None and not isinstance(initial, dict):
        raise DeltapropError(f"initial must be a dict of metrics measured before training, got {type(initial).__name__}")
    names = [name for name in metrics if name != "epoch"]
    n = max((len(metrics[name]) for name in names), default=0)
    table = {"epoch": list(metrics["epoch"]) if "epoch" in metrics else list(range(1, n + 1))}
    for name in names:
        values = list(metrics[name])
        table[name] = values + [math.nan] * (n - len(values))
    if initial:
        table["epoch"].insert(0, 0)
        for name in names:
            table[name].insert(0, float(initial.get(name, math.nan)))
        for name in initial:
            if name not in table:
                table[name] = [float(initial[name])] + [math.nan] * n
    return table


def save_history(history, path, initial=None) -> None:
    """Write a training history as CSV, one row per epoch, atomically.

    ``history`` is a :class:`~deltaprop.History` or a dict mapping metric names to per-epoch
    lists. The first column is ``epoch`` (counted from 1); with ``initial`` (see
    :func:`history_table`) a first row, epoch 0, holds the measurements before any training.
    Missing values are written as empty cells.
    """
    table = history_table(history, initial)
    names = [name for name in table if name != "epoch"]
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *names])
        for row, epoch in enumerate(table["epoch"]):
            cells = [table[name][row] for name in names]
            epoch = int(epoch) if float(epoch).is_integer() else epoch  # a table read back holds floats
            writer.writerow([epoch, *("" if math.isnan(float(v)) else repr(float(v)) for v in cells)])


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
