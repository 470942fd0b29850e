"""Plots of training: learning curves, gradient norms and saturation per layer, confusion matrices.

Every function draws with matplotlib's Agg renderer on a :class:`matplotlib.figure.Figure` of its
own (no pyplot, no display, no global state) and writes a PNG atomically: to a temporary file
beside ``path``, renamed into place once complete.

``history`` arguments accept a :class:`~deltaprop.History`, its ``.history`` dict, or the dict
:func:`deltaprop.files.history.load_history` reads back from ``history.csv``. Diagnostic columns are named
as :mod:`deltaprop.train.diagnostics` writes them: ``grad_norm[i]`` and ``saturation[i]`` for
``layers[i]``, the notes' layer ``l = i + 2``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..atomic import atomic_write
from ..errors import DeltapropError

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


def _figure(ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib only where a plot is drawn
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.5 * ncols, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    return figure, axes


def _save(figure, path) -> str:
    path = os.fspath(path)
    with atomic_write(path, "wb") as handle:
        try:
            figure.savefig(handle, format="png")
        except (OSError, DeltapropError):
            raise
        except Exception as error:  # noqa: BLE001 -- matplotlib failing on values it cannot lay out: one line
            raise DeltapropError(f"could not draw {path}: matplotlib failed ({type(error).__name__}: "
                                 f"{str(error)[:100]})") from None
    return path


DRAWABLE = 1e300
"""Largest magnitude drawn: matplotlib cannot lay out an axis whose span overflows (e.g. -1e308 to 1e308).
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
    figure, axes = _figure(2 if cost_keys and accuracy_keys else 1)
    labels = {"cost": "training cost", "val_cost": "test cost", "accuracy": "training accuracy", "val_accuracy": "test accuracy"}
    if cost_keys:
        ax = axes[0]
        for key in cost_keys:
            ax.plot(*_finite_series(epochs, metrics[key]), marker="o", markersize=3, label=labels[key])
        drawn = [_finite_series(epochs, metrics[k])[1] for k in cost_keys]
        if all(len(y) == 0 or y.min() > 0 for y in drawn) and any(len(y) for y in drawn):
            ax.set_yscale("log")
        off_scale = sum(_off_scale(epochs, metrics[k]) for k in cost_keys)
        ax.set(xlabel="epoch", ylabel="cost C (mean over examples)", title=_title("cost", off_scale))
        ax.legend()
        ax.grid(True, alpha=0.3)
    if accuracy_keys:
        ax = axes[-1]
        for key in accuracy_keys:
            ax.plot(*_finite_series(epochs, metrics[key]), marker="o", markersize=3, label=labels[key])
        off_scale = sum(_off_scale(epochs, metrics[k]) for k in accuracy_keys)
        ax.set(xlabel="epoch", ylabel="accuracy", title=_title("accuracy", off_scale))
        ax.legend()
        ax.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _per_layer(history, prefix, path, ylabel, title, log):
    metrics = _metrics(history)
    columns = layer_columns(metrics, prefix)
    if not columns:
        raise DeltapropError(f"history has no {prefix}[i] columns (train with --diagnostics to record them)")
    epochs = _epochs(metrics)
    figure, (ax,) = _figure()
    for i, name in columns:
        x, y = _finite_series(epochs, metrics[name])
        if log:
            x, y = x[y > 0], y[y > 0]
        ax.plot(x, y, marker="o", markersize=3, label=f"layer l={i + 2} (layers[{i}])")
    if log:
        ax.set_yscale("log")
    off_scale = sum(_off_scale(epochs, metrics[name]) for _, name in columns)
    ax.set(xlabel="epoch", ylabel=ylabel, title=_title(title, off_scale))
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3, which="both")
    return _save(figure, path)


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
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise DeltapropError(f"a confusion matrix must be square, got shape {matrix.shape}")
    k = matrix.shape[0]
    figure, (ax,) = _figure()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax)
    ax.set(xlabel="predicted class", ylabel="true class", title=title, xticks=range(k), yticks=range(k))
    if k <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize="small",
                        color="white" if matrix[i, j] > threshold else "black")
    return _save(figure, path)


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

