"""Training progress on a terminal: one tqdm bar over every batch of every epoch, and a line per epoch.

The bar shows the epoch, the running cost of the epoch so far (the mean of its batch costs,
weighted by batch size) and, once an epoch ends, the test cost and accuracy. The line per epoch
(:func:`epoch_summary`) goes to standard output through ``tqdm.write``, which clears and redraws
the bar around it, so a log of the run remains when the bar is gone. :class:`EpochLog` prints the
same lines without a bar (``--no-progress``, or output that is not a terminal).

tqdm is imported here and only here, when training starts; the core never imports this module.
"""

from __future__ import annotations

import sys

from ..train.callbacks import (  # the one epoch line, shared with fit(verbose=1)
    _SHOWN,
    Callback,
    EpochLog,
    epoch_summary,
)

__all__ = ["EpochLog", "ProgressBar", "epoch_summary"]

class ProgressBar(Callback):
    """A tqdm bar over all the batches of a run, with the running cost and the last test accuracy.

    Parameters
    ----------
    epochs : int
        Epochs of the run (for the bar's total and the epoch counter).
    batches_per_epoch : int, optional
        ``ceil(n / batch_size)``; without it the bar counts batches with no total.
    file : file object, optional
        Where the bar is drawn (default standard error).
    disable : bool or None
        ``None`` (default) draws the bar only when ``file`` is a terminal.
    log_epochs : bool
        Also write one :func:`epoch_summary` line per epoch to standard output (default True).

    Examples
    --------
    >>> import io, numpy as np, deltaprop
    >>> X, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2
    >>> bar = ProgressBar(epochs=2, batches_per_epoch=2, file=io.StringIO(), disable=False, log_epochs=False)
    >>> _ = deltaprop.Network([3, 2], seed=0).fit(X, y, epochs=2, callbacks=[bar])
    >>> bar.bar.n
    4
    """

    def __init__(self, epochs: int, batches_per_epoch: int | None = None, file=None, disable=None,
                 log_epochs: bool = True):
        self.epochs, self.batches_per_epoch = epochs, batches_per_epoch
        self.file, self.disable, self.log_epochs = file, disable, log_epochs
        self.bar = None
        self._epoch, self._cost_sum, self._seen = 0, 0.0, 0
        self._tested = {}

    def on_train_begin(self, logs=None):
        from tqdm import tqdm  # the only module that needs tqdm

        total = None if self.batches_per_epoch is None else self.epochs * self.batches_per_epoch
        self.bar = tqdm(total=total, unit="batch", file=self.file or sys.stderr, disable=self.disable,
                        leave=False, dynamic_ncols=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._cost_sum, self._seen = epoch, 0.0, 0

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        size = int(logs.get("size", 1))
        self._cost_sum += float(logs.get("cost", 0.0)) * size
        self._seen += size
        self.bar.update(1)
        if batch % 20 == 0:  # formatting the text costs more than a small batch: not every time
            self._describe(self._cost_sum / max(self._seen, 1))

    def _describe(self, cost):
        postfix = {"epoch": f"{self._epoch + 1}/{self.epochs}", "cost": f"{cost:.4g}", **self._tested}
        self.bar.set_postfix(postfix, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._tested = {key: f"{logs[key]:.4g}" for key in _SHOWN[1:] if key in logs}
        self._describe(logs.get("cost", 0.0))
        if self.log_epochs:
            self.bar.write(epoch_summary(epoch, self.epochs, logs), file=sys.stdout)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
