"""Callbacks: code that runs at fixed points of :meth:`Network.fit`, Keras-style.

A callback overrides any of the ``on_*`` methods. ``fit`` sets ``callback.network`` before
training starts and ``network.stop_training = False``; setting ``network.stop_training = True``
ends training after the current epoch. ``fit`` calls ``on_epoch_end(epoch, logs)`` *before* its
:class:`History` records ``logs``, so a callback may add metrics to them.

``logs`` at the end of an epoch hold ``cost`` (mean batch cost over the epoch) and, with
``validation_data``, ``val_cost`` (and ``val_accuracy`` for a classifier). Epochs count from 0.

============================== ==================================================================
callback                       what it does
============================== ==================================================================
:class:`EarlyStopping`         stops when a metric stops improving; can restore the best weights
:class:`ModelCheckpoint`       saves the network (``network.save``) every epoch or on improvement
:class:`CSVLogger`             writes one CSV row of logs per epoch
:class:`LearningRateScheduler` sets the optimiser's ``eta`` from ``fn(epoch, eta)`` each epoch
============================== ==================================================================

The command line's progress bar is a callback too (:mod:`deltaprop.cli.progress`).
"""

from __future__ import annotations

import csv
import math
import numbers
import os

import numpy as np

from ..core.checks import check_non_negative, is_count
from ..errors import DeltapropError

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "CallbackTypeError",
    "EarlyStopping",
    "EpochLog",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "epoch_summary",
]

_SHOWN = ("cost", "val_cost", "val_accuracy")


def epoch_summary(epoch: int, epochs: int, logs: dict) -> str:
    """One line for the end of an epoch (the hooks' 0-based ``epoch``, printed from 1): the line the
    command line prints and ``Network.fit(verbose=1)`` prints.

    >>> epoch_summary(2, 30, {"cost": 0.04123, "val_accuracy": 0.95111, "grad_norm[0]": 1.0})
    'epoch  3/30  cost 0.04123  val_accuracy 0.9511'
    """
    parts = [f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}"]
    for key in _SHOWN:
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}" if key.endswith("accuracy") else f"{key} {logs[key]:.4g}")
    return "  ".join(parts)


class Callback:
    """Base class: every hook does nothing."""

    network = None

    def set_network(self, network) -> None:
        self.network = network

    def on_train_begin(self, logs=None): ...

    def on_train_end(self, logs=None): ...

    def on_epoch_begin(self, epoch: int, logs=None): ...

    def on_epoch_end(self, epoch: int, logs=None): ...

    def on_batch_end(self, batch: int, logs=None): ...


class CallbackTypeError(DeltapropError, TypeError):
    """``callbacks=`` is not a list of :class:`Callback` instances (a DeltapropError, and a TypeError
    as it always was)."""


class CallbackList(Callback):
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks=None, network=None):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            raise CallbackTypeError(f"callbacks must be a list of Callback instances, got one {type(callbacks).__name__}: "
                                    f"pass callbacks=[{type(callbacks).__name__}(...)]")
        elif isinstance(callbacks, (str, bytes, dict)) or not hasattr(callbacks, "__iter__"):
            raise CallbackTypeError(f"callbacks must be a list of deltaprop Callback instances, got {type(callbacks).__name__}")
        self.callbacks = list(callbacks)
        for i, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                raise CallbackTypeError(f"callbacks must be deltaprop.train.callbacks.Callback instances; callbacks[{i}] "
                                        f"is of type {type(callback).__name__}")
        for callback in self.callbacks:
            callback.set_network(network)

    def on_train_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_end(self, batch, logs=None):
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)


class History(Callback):
    """What :meth:`Network.fit` returns: ``history`` maps each metric to its per-epoch list.

    >>> h = History(); h.on_epoch_end(0, {"cost": 0.5}); h.history
    {'cost': [0.5]}
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, metrics={list(self.history)})"


class EpochLog(Callback):
    """Print :func:`epoch_summary` after every epoch (to ``file``, default standard output at the time)."""

    def __init__(self, epochs: int, file=None):
        self.epochs, self.file = epochs, file

    def on_epoch_end(self, epoch, logs=None):
        import sys

        print(epoch_summary(epoch, self.epochs, logs or {}), file=self.file or sys.stdout, flush=True)


# -- watching a metric -------------------------------------------------------------------------


class _Monitor:
    """Tracks the best value of one metric: lower is better, except for accuracies (``mode="auto"``)."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        if not isinstance(monitor, str) or not monitor:
            raise DeltapropError(f"monitor={monitor!r} must name a metric of fit's logs, e.g. 'val_cost' or 'cost'")
        if mode not in ("auto", "min", "max"):
            raise DeltapropError(f"mode={mode!r} must be 'auto', 'min' or 'max'")
        self.monitor = monitor
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.min_delta = check_non_negative(min_delta, "min_delta")
        self.best = math.inf if self.mode == "min" else -math.inf

    def current(self, logs) -> float:
        """Return the monitored value from ``logs``; a clear error if fit did not log it."""
        logs = logs or {}
        if self.monitor not in logs:
            hint = " (pass validation_data to fit to get val_* metrics)" if self.monitor.startswith("val_") else ""
            raise DeltapropError(f"monitor={self.monitor!r} is not among the logged metrics {sorted(logs)}{hint}")
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        """True, and remember ``value`` as the best, if it beats the best by more than ``min_delta``."""
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    An epoch *improves* when the metric beats the best so far by more than ``min_delta`` (lower
    is better; higher for metrics containing ``"acc"``, or set ``mode``). After ``patience``
    epochs in a row without improvement (at least one), ``network.stop_training`` is set.

    With ``restore_best_weights=True`` the network ends training (stopped early or not) with the
    weights of its best epoch. (Keras restores only when it stops early; deltaprop also restores
    when the epochs run out, so the network is always the best one seen.)

    Attributes after training: ``best`` (the best value), ``best_epoch``, ``stopped_epoch`` (the
    epoch after which training stopped, or ``None``) and ``wait``.

    >>> stop = EarlyStopping(monitor="val_cost", patience=3, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_cost", patience: int = 0, min_delta: float = 0.0,
                 restore_best_weights: bool = False, mode: str = "auto"):
        if not is_count(patience):
            raise DeltapropError(f"patience={patience!r} must be an integer >= 0 (epochs without improvement)")
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor, self.mode, self.min_delta = monitor, self._monitor.mode, self._monitor.min_delta
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, logs=None):
        self._monitor = _Monitor(self.monitor, self.mode, self.min_delta)
        self.best, self.best_epoch, self.stopped_epoch, self.wait = self._monitor.best, None, None, 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._monitor.current(logs)
        if self._monitor.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.network.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:  # Keras' rule: patience=0 stops at the first epoch that fails to improve
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.network.set_weights(self.best_weights)

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, min_delta={self.min_delta}, "
                f"restore_best_weights={self.restore_best_weights})")


class ModelCheckpoint(Callback):
    """Save the network with ``network.save(path)`` at the end of epochs.

    ``path`` may hold ``str.format`` fields filled from the epoch (counted from 1, as Keras
    does) and the logs, e.g. ``"model-{epoch:02d}-{val_cost:.3f}.npz"``. With
    ``save_best_only=True``, the network is saved only when ``monitor`` improves on the best
    value so far (by more than ``min_delta``); otherwise after every epoch. ``saved`` lists
    ``(epoch, path)`` of every file written.
    """

    def __init__(self, path, monitor: str = "val_cost", save_best_only: bool = False, mode: str = "auto",
                 min_delta: float = 0.0):
        if not isinstance(path, (str, os.PathLike)):
            raise DeltapropError(f"path={path!r} must be a file path (str or os.PathLike)")
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.mode, self.min_delta = self._monitor.mode, self._monitor.min_delta
        self.saved: list[tuple[int, str]] = []

    def on_train_begin(self, logs=None):
        self._monitor = _Monitor(self.monitor, self.mode, self.min_delta)
        self.best = self._monitor.best

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            if not self._monitor.improved(self._monitor.current(logs)):
                return
            self.best = self._monitor.best
        path = self._format(epoch, logs or {})
        self.network.save(path)
        self.saved.append((epoch, path))

    def _format(self, epoch, logs):
        try:
            return self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as error:
            raise DeltapropError(
                f"path={self.path!r} has a field that the logs cannot fill ({error}); "
                f"available: epoch, {', '.join(sorted(logs))}"
            ) from None


class CSVLogger(Callback):
    """Write one row per epoch to the CSV file ``path``: ``epoch`` then the logged metrics.

    Epochs are counted from 1 in the file, as in the command line's ``history.csv`` and the printed
    epoch lines (the hooks receive Keras' 0-based index; the first row is epoch 1).

    The header is written at the first epoch, columns in sorted order (as Keras does). With
    ``append=True`` an existing file gets new rows (and no second header). Each row is flushed
    as it is written, so a crashed run keeps its log. Floats are written with full precision.
    """

    def __init__(self, path, separator: str = ",", append: bool = False):
        if not isinstance(path, (str, os.PathLike)):
            raise DeltapropError(f"path={path!r} must be a file path (str or os.PathLike)")
        if not isinstance(separator, str) or len(separator) != 1:
            raise DeltapropError(f"separator={separator!r} must be a single character")
        self.path, self.separator, self.append = os.fspath(path), separator, bool(append)
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        has_rows = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        # Open for the whole run (closed in on_train_end), not per row: a context manager cannot span hooks.
        self._file = open(self.path, "a" if self.append else "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._keys, self._header_done = None, has_rows

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._header_done:
                self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch + 1, *(self._cell(logs.get(key, "")) for key in self._keys)])
        self._file.flush()

    @staticmethod
    def _cell(value):
        return repr(float(value)) if isinstance(value, (float, np.floating)) else value

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch: ``eta = fn(epoch, eta)``.

    ``fn`` receives the epoch (from 0) and the current ``eta`` and returns the new one, e.g.
    ``lambda epoch, eta: eta * 0.5 if epoch and epoch % 10 == 0 else eta``. The optimiser is
    the one given here, or else ``network.optimizer`` (the optimiser ``fit`` is using). Plain
    SGD reads ``eta`` at every step, so the change takes effect at once. ``etas`` records the
    rate of every epoch.
    """

    def __init__(self, fn, optimizer=None):
        if not callable(fn):
            raise DeltapropError(f"fn={fn!r} must be callable as fn(epoch, eta) -> new eta")
        self.fn, self.optimizer = fn, optimizer
        self.etas: list[float] = []

    def _optimizer(self):
        optimizer = self.optimizer if self.optimizer is not None else getattr(self.network, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "eta"):
            raise DeltapropError(
                "LearningRateScheduler found no optimiser with an eta: pass the optimiser, "
                "LearningRateScheduler(fn, optimizer=opt), and fit(..., optimizer=opt)"
            )
        return optimizer

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self._optimizer()
        eta = self.fn(epoch, optimizer.eta)
        if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not math.isfinite(eta) or eta <= 0:
            raise DeltapropError(
                f"the schedule returned eta={eta!r} at epoch {epoch}; it must return a positive number"
            )
        optimizer.eta = float(eta)
        self.etas.append(float(eta))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["eta"] = self._optimizer().eta
