"""Plots of training: learning curves, gradient norms and saturation per layer, confusion matrices.

Every function draws with :mod:`deltaprop.cli.chart` (Pillow, no matplotlib: the learning curve of a
run costs tens of milliseconds, not the second or two matplotlib takes to import and lay out) and
writes a PNG atomically: to a temporary file beside ``path``, renamed into place once complete.

``history`` arguments accept a :class:`~deltaprop.History`, its ``.history`` dict, or the dict
:func:`deltaprop.files.history.load_history` reads back from ``history.csv``. Diagnostic columns are named
as :mod:`deltaprop.train.diagnostics` writes them: ``grad_norm[i]`` and ``saturation[i]`` for
``layers[i]``, the notes' layer ``l = i + 2``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import DeltapropError
from .chart import Panel, Series, heat_map, line_chart, save_png

__all__ = [
    "confusion_matrix",
    "layer_columns",
    "plot_confusion_matrix",
    "plot_gradient_norms",
    "plot_history",
    "plot_learning_curves",
    "plot_saturation",
]


def _metrics(history) -> dict:
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, dict) or not metrics:
        raise DeltapropError(f"history must be a deltaprop.History or a non-empty dict of per-epoch lists, got {type(history).__name__}")
    return metrics


def _epochs(metrics) -> np.ndarray:
    if "epoch" in metrics:
        return np.asarray(metrics["epoch"], dtype=float)
    n = max(len(values) for values in metrics.values())
    return np.arange(1, n + 1, dtype=float)


def layer_columns(history, prefix: str) -> list[tuple[int, str]]:
    """``[(i, name), ...]`` of the columns ``prefix[i]`` in ``history``, by layer index ``i``.

    >>> layer_columns({"cost": [1], "grad_norm[1]": [2], "grad_norm[0]": [3]}, "grad_norm")
    [(0, 'grad_norm[0]'), (1, 'grad_norm[1]')]
    """
    pattern = re.compile(re.escape(prefix) + r"\[(\d+)\]$")
    found = [(int(m.group(1)), name) for name in _metrics(history) if (m := pattern.match(name))]
    return sorted(found)


DRAWABLE = 1e300
"""Largest magnitude drawn: an axis whose span overflows (e.g. -1e308 to 1e308) cannot be laid out.
Points beyond it are left out, as NaN and infinity are, and the axes' title says how many."""


def _finite_series(x, values):
    """The points of ``values`` (against ``x``) that can be drawn: finite and within :data:`DRAWABLE`."""
    y = np.asarray(values, dtype=float)
    x = np.asarray(x[: len(y)], dtype=float)
    y = y[: len(x)]
    keep = np.isfinite(y) & np.isfinite(x) & (np.abs(y) <= DRAWABLE) & (np.abs(x) <= DRAWABLE)
    return x[keep], y[keep]


def _off_scale(x, values) -> int:
    """How many points of ``values`` are finite but too large to draw."""
    y = np.asarray(values, dtype=float)
    x = np.asarray(x[: len(y)], dtype=float)
    y = y[: len(x)]
    with np.errstate(invalid="ignore"):
        return int(np.sum((np.isfinite(y) & (np.abs(y) > DRAWABLE)) | (np.isfinite(x) & (np.abs(x) > DRAWABLE))))


def _title(title, off_scale) -> str:
    return title if not off_scale else f"{title} ({off_scale} point{'s' if off_scale > 1 else ''} beyond ±{DRAWABLE:g} not drawn)"


def plot_learning_curves(history, path, title: str | None = None) -> str:
    """Cost (training and validation) per epoch and, for a classifier, accuracy; return ``path``."""
    metrics = _metrics(history)
    epochs = _epochs(metrics)
    accuracy_keys = [k for k in ("accuracy", "val_accuracy") if k in metrics]
    cost_keys = [k for k in ("cost", "val_cost") if k in metrics]
    if not cost_keys and not accuracy_keys:
        raise DeltapropError("history has neither 'cost' nor 'accuracy' columns to plot")
    labels = {"cost": "training cost", "val_cost": "validation cost", "accuracy": "training accuracy",
              "val_accuracy": "validation accuracy"}
    colors = {"cost": 0, "accuracy": 0, "val_cost": 1, "val_accuracy": 1}  # training blue, validation orange
    panels = []
    if cost_keys:
        series = [Series(*_finite_series(epochs, metrics[key]), labels[key], colors[key]) for key in cost_keys]
        log = all(len(s.y) == 0 or s.y.min() > 0 for s in series) and any(len(s.y) for s in series)
        off_scale = sum(_off_scale(epochs, metrics[k]) for k in cost_keys)
        panels.append(Panel(series, _title("cost", off_scale), "epoch", "cost C (mean over examples)", log_y=log))
    if accuracy_keys:
        series = [Series(*_finite_series(epochs, metrics[key]), labels[key], colors[key]) for key in accuracy_keys]
        off_scale = sum(_off_scale(epochs, metrics[k]) for k in accuracy_keys)
        panels.append(Panel(series, _title("accuracy", off_scale), "epoch", "accuracy"))
    return save_png(line_chart(panels, title), path)


def _per_layer(history, prefix, path, ylabel, title, log):
    metrics = _metrics(history)
    columns = layer_columns(metrics, prefix)
    if not columns:
        raise DeltapropError(f"history has no {prefix}[i] columns (train with --diagnostics to record them)")
    epochs = _epochs(metrics)
    series = [Series(*_finite_series(epochs, metrics[name]), f"layer l={i + 2} (layers[{i}])") for i, name in columns]
    off_scale = sum(_off_scale(epochs, metrics[name]) for _, name in columns)
    return save_png(line_chart([Panel(series, _title(title, off_scale), "epoch", ylabel, log_y=log)]), path)


def plot_gradient_norms(history, path) -> str:
    """``||dC/dW||`` of each layer per epoch, on a log scale (vanishing gradients show as a fan)."""
    return _per_layer(history, "grad_norm", path, "||dC/dW|| on the probe batch", "gradient norm per layer", log=True)


def plot_saturation(history, path) -> str:
    """Fraction of saturated sigmoid/tanh units of each layer per epoch."""
    return _per_layer(history, "saturation", path, "fraction of saturated units", "saturation per layer", log=False)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of examples of class ``i`` predicted as class ``j``.

    >>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
    [[1, 0], [1, 1]]
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise DeltapropError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D label arrays of one length")
    k = n_classes if n_classes is not None else int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def plot_confusion_matrix(matrix, path, title: str = "confusion matrix") -> str:
    """Draw a confusion matrix (rows: true class, columns: predicted) with its counts."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise DeltapropError(f"a confusion matrix must be square and not empty, got shape {matrix.shape}")
    return save_png(heat_map(matrix, title, "predicted class", "true class"), path)


def plot_history(history, directory, title: str | None = None) -> list[str]:
    """Write ``learning_curve.png`` and, when recorded, ``gradient_norms.png`` and ``saturation.png``.

    Returns the paths written.
    """
    directory = os.fspath(directory)
    written = [plot_learning_curves(history, os.path.join(directory, "learning_curve.png"), title=title)]
    if layer_columns(history, "grad_norm"):
        written.append(plot_gradient_norms(history, os.path.join(directory, "gradient_norms.png")))
    if layer_columns(history, "saturation"):
        written.append(plot_saturation(history, os.path.join(directory, "saturation.png")))
    return written

