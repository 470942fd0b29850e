"""The run directory: the ``--out DIR`` of ``deltaprop train`` and everything written into it.

:class:`RunDirectory` checks ``--out`` before any work is done, holds the
:class:`~deltaprop.files.lock.DirectoryLock` on it while the run lasts (a second run on the same
directory is refused), decides where checkpoints go, and writes the results. A run's outputs are
one commit, all of one run:

* every file (``model.npz`` with how it was trained, ``history.csv``, the PNGs) is first written
  into a staging directory inside ``DIR``; only when all of them are written are they renamed
  into place, and the outputs an earlier run left that this one does not write are removed. A
  failure while writing (a full disk, a file-size limit, a third Ctrl-C) leaves the earlier run
  whole, and the message names the file that failed;
* a file is renamed only over a regular file (or nothing), keeping that file's mode;
* a new run does not start over a checkpoint it would overwrite (it could be resumed) unless
  ``--overwrite`` is given;
* leftovers of a killed run (temporaries, staging directories of processes that are gone) are
  removed when the next run starts.

It also words what the user reads when training stops early: a signal (:meth:`RunDirectory.interrupted`
saves the model so far and says how to continue) or divergence (:meth:`RunDirectory.diverged`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import sys
import tempfile

from ..atomic import pid_alive, remove_stale_temporaries
from ..errors import DeltapropError

__all__ = ["CHECKPOINT_NAME", "DEFAULT_OUT", "OUTPUTS", "RunDirectory", "check_out"]

DEFAULT_OUT = os.path.join("runs", "latest")
CHECKPOINT_NAME = "checkpoint.npz"
"""Where a signal saves the run's state when no ``--checkpoint`` is given."""
OUTPUTS = ("model.npz", "history.csv", "learning_curve.png", "gradient_norms.png", "saturation.png")
"""Every file a run writes into ``DIR`` (besides its checkpoint)."""
_STAGING = re.compile(r"\.staging\.(\d+)\.[A-Za-z0-9_]+")


def check_out(directory) -> str:
    """Refuse an ``--out`` that is empty or a file, before any work is done."""
    if not directory:
        raise DeltapropError("--out is empty; give a directory such as runs/latest")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise DeltapropError(f"--out {directory} exists and is not a directory")
    return directory


def _same_path(a, b) -> bool:
    """One file, or (for files not written yet) one absolute path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def signal_name(signum) -> str:
    return signal.Signals(signum).name if signum else "a signal"


class RunDirectory:
    """The ``--out`` directory of one training run; a context manager that holds its lock.

    ``path`` is checked at once (:func:`check_out`); entering takes the lock and clears what dead
    runs left behind; the lock is released (and the directory removed again if the lock created
    it and nothing was written) on exit.

    ``writes=False`` is the directory as the ranks of a data-parallel run other than rank 0 see
    it: they take no lock, write nothing and print nothing (rank 0 does all of that).
    """

    def __init__(self, path, writes=True):
        from ..files.lock import DirectoryLock

        self.path = check_out(path)
        self.checkpoint, self.every = None, None
        self.writes = writes
        self._lock = DirectoryLock(self.path) if writes else None
        self._checkpoint_lock = None

    def __enter__(self):
        if self._lock is not None:
            self._lock.acquire()  # a second run on the same --out is refused here, before any work
            self._remove_leftovers()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._checkpoint_lock is not None:
            self._checkpoint_lock.release()
        if self._lock is not None:
            self._lock.release()

    def _remove_leftovers(self) -> None:
        """Temporaries and staging directories of runs whose process is gone."""
        for name in (*OUTPUTS, CHECKPOINT_NAME):
            remove_stale_temporaries(os.path.join(self.path, name))
        with contextlib.suppress(OSError):
            for name in os.listdir(self.path):
                match = _STAGING.fullmatch(name)
                if match and not pid_alive(int(match.group(1))):
                    shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)

    # -- checkpoints --------------------------------------------------------------------------------

    def plan_checkpoints(self, checkpoint=None, resume=None, every=None, overwrite=False):
        """Where fit writes the checkpoint, and how often: ``(path, "epoch" | k | None)``.

        ``--checkpoint`` or ``--resume`` (which continues writing to the file it read) is written
        every epoch unless ``--checkpoint-every`` says otherwise; without either, the file is
        ``DIR/checkpoint.npz`` and written only on a signal (or every ``--checkpoint-every``
        batches). A new run refuses to start over an existing checkpoint unless ``overwrite``;
        a checkpoint path that is one of the run's outputs is refused; a checkpoint outside
        ``DIR`` is locked too, so two runs never write one checkpoint.
        """
        for option, value in (("--checkpoint", checkpoint), ("--resume", resume)):
            if value is not None and not value:
                raise DeltapropError(f"{option} is empty; give a file path such as {os.path.join(self.path, CHECKPOINT_NAME)}")
        path = checkpoint or resume or os.path.join(self.path, CHECKPOINT_NAME)
        for name in OUTPUTS:
            if _same_path(path, os.path.join(self.path, name)):
                raise DeltapropError(f"--checkpoint {path} is the run's own {name}; give another path, e.g. "
                                     f"{os.path.join(self.path, CHECKPOINT_NAME)}")
        if os.path.isdir(path):
            raise DeltapropError(f"--checkpoint {path} is a directory; give a file path such as run/checkpoint.npz")
        if not resume and os.path.lexists(path) and not overwrite:
            raise DeltapropError(f"{path} holds the checkpoint of an earlier run, which could be continued: continue "
                                 f"it with --resume {path}, or start a new run over it with --overwrite")
        directory = os.path.dirname(os.path.abspath(path))
        if self.writes and not _same_path(directory, self.path) and os.path.isdir(directory):
            from ..files.lock import DirectoryLock

            self._checkpoint_lock = DirectoryLock(directory, option="--checkpoint").acquire()
        self.checkpoint = path
        self.every = every or ("epoch" if checkpoint or resume else None)
        return self.checkpoint, self.every

    # -- the outputs, as one commit ---------------------------------------------------------------

    def write(self, net, history, data, config, accuracy, plots=True, initial=None, **extra) -> list:
        """Write the model (with how it was trained), the history and the PNGs, all or none; return the paths.

        Everything is written into a staging directory first, then renamed into place; the
        outputs of an earlier run that this one does not write are removed. ``initial`` (the
        diagnostics before any training) becomes epoch 0 of the history and its plots.
        """
        from ..files.history import history_table, save_history
        from ..files.model import save

        if not self.writes:
            return []
        meta = {"data": data.name, "task": data.task, "n_classes": data.n_classes, "epochs": len(history.epoch),
                "batch_size": config["batch_size"], "eta": config["eta"], "lmbda": config["lmbda"],
                "seed": config["seed"], "init": config["init"], "optimizer": config.get("optimizer") or "sgd",
                "validation_split": config.get("validation_split", 0.0), "test_accuracy": accuracy, **extra}
        os.makedirs(self.path, exist_ok=True)
        staging = tempfile.mkdtemp(dir=self.path, prefix=f".staging.{os.getpid()}.")
        try:
            staged = [self._staged(staging, "model.npz", lambda path: save(net, path, metadata=meta))]
            if history.epoch:
                staged.append(self._staged(staging, "history.csv",
                                           lambda path: save_history(history, path, initial=initial)))
                if plots:
                    table = history_table(history, initial)
                    staged += [os.path.basename(p) for p in self._plotted(staging, table, config, data)]
            return self._commit(staging, staged)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _staged(self, staging, name, write) -> str:
        try:
            write(os.path.join(staging, name))
        except OSError as error:  # name the file the user will look for, not the staging copy
            raise DeltapropError(f"could not write {os.path.join(self.path, name)}: "
                                 f"{error.strerror or error}; the earlier files in {self.path} are unchanged") from None
        return name

    def _plotted(self, staging, history, config, data) -> list:
        from .plots import plot_history

        try:
            return plot_history(history, staging, title=f"{config['sizes']} on {data.name}")
        except OSError as error:
            name = os.path.basename(error.filename or "") or "the PNGs"
            raise DeltapropError(f"could not write {os.path.join(self.path, name)}: "
                                 f"{error.strerror or error}; the earlier files in {self.path} are unchanged") from None

    def _commit(self, staging, staged) -> list:
        """Rename the staged files into place (over regular files only, keeping their mode)."""
        targets = [os.path.join(self.path, name) for name in staged]
        for target in targets:  # check every target before the first rename
            with contextlib.suppress(FileNotFoundError):
                status = os.lstat(target)
                if not stat.S_ISREG(status.st_mode):
                    raise DeltapropError(f"{target} exists and is not a regular file (a link, a directory, a "
                                         "device?); deltaprop replaces only regular files: move it away")
        for name, target in zip(staged, targets):
            source = os.path.join(staging, name)
            with contextlib.suppress(FileNotFoundError):
                os.chmod(source, stat.S_IMODE(os.lstat(target).st_mode))
            os.replace(source, target)
        for name in OUTPUTS:  # a run's outputs are all of one run
            if name not in staged:
                path = os.path.join(self.path, name)
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISREG(os.lstat(path).st_mode):
                        os.unlink(path)
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return targets

    def finish(self, net, history, data, config, accuracy, initial=None, plots=True) -> list:
        """Everything a finished run leaves: the model, the history, the PNGs (unless ``plots`` is false,
        ``--no-plots``) and the checkpoint, if kept. ``initial``: the diagnostics before training (epoch 0)."""
        if not self.writes:
            return []
        written = self.write(net, history, data, config, accuracy, initial=initial, plots=plots)
        if self.every:
            written.append(self.checkpoint)
        return written

    # -- stopping early ---------------------------------------------------------------------------

    def interrupted(self, stop, net, data, config, signum, initial=None) -> int:
        """A signal: fit finished its batch and saved the checkpoint; save the model so far and say where.

        ``stop`` is the :class:`~deltaprop.train.run.TrainingInterrupted` fit raised; the message
        is worded from its fields. Returns the exit status, 128 + the signal's number.
        """
        if not self.writes:
            return 128 + (signum or signal.SIGINT)
        written = self.write(net, stop.history, data, config, None, plots=False, initial=initial,  # quick
                             interrupted_at={"epoch": stop.epoch, "batch": stop.batch})
        saved = f"wrote {stop.checkpoint} and the model so far" if stop.checkpoint else "wrote the model so far"
        resume = (f"; continue with: deltaprop train --resume {stop.checkpoint} --out {self.path}"
                  if stop.checkpoint else "")
        print(f"deltaprop train: interrupted at epoch {stop.epoch + 1} by {signal_name(signum)}, after {stop.batch} of "
              f"its batches; {saved}, {', '.join(written)}{resume}", file=sys.stderr, flush=True)
        return 128 + (signum or signal.SIGINT)

    def diverged(self, error) -> DeltapropError:
        """The one-line error for a :class:`~deltaprop.errors.DivergenceError`, worded from its fields."""
        kept = (f"; checkpoint {self.checkpoint} holds the last one saved"
                if self.every and os.path.exists(self.checkpoint) else "")
        advice = "try a smaller --eta" + (f" (it is {error.eta:g})" if error.eta is not None else "")
        if not error.clipping:
            advice += " or --max-grad-norm"
        return DeltapropError(f"training diverged {error.where}: {error.what}; nothing was written{kept}; {advice}")
