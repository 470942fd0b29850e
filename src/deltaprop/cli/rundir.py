"""The run directory: the ``--out DIR`` of ``deltaprop train`` and everything written into it.

:class:`RunDirectory` checks ``--out`` before any work is done, holds the
:class:`~deltaprop.files.lock.DirectoryLock` on it while the run lasts (a second run on the same
directory is refused), decides where checkpoints go, and writes the results: ``model.npz`` (with
how it was trained), ``history.csv`` and the PNGs. It also words what the user reads when training
stops early: Ctrl-C (:meth:`RunDirectory.interrupted` saves the model so far and says how to
continue) or divergence (:meth:`RunDirectory.diverged`: nothing is written). Every file is written
atomically, so a failed run never leaves a half-written file or destroys an earlier one.
"""

from __future__ import annotations

import os
import sys

from ..errors import DeltapropError
from .options import EXIT_INTERRUPTED

__all__ = ["CHECKPOINT_NAME", "DEFAULT_OUT", "RunDirectory", "check_out"]

DEFAULT_OUT = os.path.join("runs", "latest")
CHECKPOINT_NAME = "checkpoint.npz"
"""Where Ctrl-C saves the run's state when no ``--checkpoint`` is given."""


def check_out(directory) -> str:
    """Refuse an ``--out`` that is a file, before any work is done."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise DeltapropError(f"--out {directory} exists and is not a directory")
    return directory


class RunDirectory:
    """The ``--out`` directory of one training run; a context manager that holds its lock.

    ``path`` is checked at once (:func:`check_out`); entering takes the lock, which is released
    (and the directory removed again if the lock created it and nothing was written) on exit.

    ``writes=False`` is the directory as the ranks of a data-parallel run other than rank 0 see
    it: they take no lock, write nothing and print nothing (rank 0 does all of that).
    """

    def __init__(self, path, writes=True):
        from ..files.lock import DirectoryLock

        self.path = check_out(path)
        self.checkpoint, self.every = None, None
        self.writes = writes
        self._lock = DirectoryLock(self.path) if writes else None

    def __enter__(self):
        if self._lock is not None:
            self._lock.acquire()  # a second run on the same --out is refused here, before any work
        return self

    def __exit__(self, *exc_info) -> None:
        if self._lock is not None:
            self._lock.release()

    def plan_checkpoints(self, checkpoint=None, resume=None, every=None):
        """Where fit writes the checkpoint, and how often: ``(path, "epoch" | k | None)``.

        ``--checkpoint`` or ``--resume`` (which continues writing to the file it read) is written
        every epoch unless ``--checkpoint-every`` says otherwise; without either, the file is
        ``DIR/checkpoint.npz`` and written only on Ctrl-C (or every ``--checkpoint-every`` batches).
        """
        self.checkpoint = checkpoint or resume or os.path.join(self.path, CHECKPOINT_NAME)
        self.every = every or ("epoch" if checkpoint or resume else None)
        return self.checkpoint, self.every

    def write(self, net, history, data, config, accuracy, **extra) -> list:
        """Write model.npz (with how it was trained) and, if an epoch finished, history.csv; return the paths."""
        from ..files.history import save_history
        from ..files.model import save

        if not self.writes:
            return []
        os.makedirs(self.path, exist_ok=True)
        meta = {"data": data.name, "task": data.task, "n_classes": data.n_classes, "epochs": len(history.epoch),
                "batch_size": config["batch_size"], "eta": config["eta"], "lmbda": config["lmbda"],
                "seed": config["seed"], "init": config["init"], "test_accuracy": accuracy, **extra}
        written = [os.path.join(self.path, "model.npz")]
        save(net, written[0], metadata=meta)
        if history.epoch:
            written.append(os.path.join(self.path, "history.csv"))
            save_history(history, written[1])
        return written

    def finish(self, net, history, data, config, accuracy) -> list:
        """Everything a finished run leaves: the model, the history, the PNGs and the checkpoint, if kept."""
        from .plots import plot_history

        if not self.writes:
            return []
        written = self.write(net, history, data, config, accuracy)
        written += plot_history(history, self.path, title=f"{config['sizes']} on {data.name}")
        if self.every:
            written.append(self.checkpoint)
        return written

    def interrupted(self, stop, net, data, config) -> int:
        """Ctrl-C: fit finished its batch and saved the checkpoint; save the model so far and say where.

        ``stop`` is the :class:`~deltaprop.train.run.TrainingInterrupted` fit raised; the message
        is worded from its fields.
        """
        if not self.writes:
            return EXIT_INTERRUPTED
        written = self.write(net, stop.history, data, config, None,
                             interrupted_at={"epoch": stop.epoch, "batch": stop.batch})
        saved = f"wrote {stop.checkpoint} and the model so far" if stop.checkpoint else "wrote the model so far"
        resume = (f"; continue with: deltaprop train --resume {stop.checkpoint} --out {self.path}"
                  if stop.checkpoint else "")
        print(f"deltaprop train: interrupted at epoch {stop.epoch + 1}, after {stop.batch} of its batches; "
              f"{saved}, {', '.join(written)}{resume}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED

    def diverged(self, error) -> DeltapropError:
        """The one-line error for a :class:`~deltaprop.errors.DivergenceError`, worded from its fields."""
        kept = (f"; checkpoint {self.checkpoint} holds the last one saved"
                if self.every and os.path.exists(self.checkpoint) else "")
        advice = "try a smaller --eta" + (f" (it is {error.eta:g})" if error.eta is not None else "")
        if not error.clipping:
            advice += " or --max-grad-norm"
        return DeltapropError(f"training diverged {error.where}: {error.what}; nothing was written{kept}; {advice}")
