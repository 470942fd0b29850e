"""Everything around the SGD loop that keeps a run safe: its position, checkpoints, resume,
divergence and Ctrl-C. Each guard costs the loop a comparison per batch.

* **position**: :class:`Run` knows the epoch, the batch within it, the steps taken and the cost
  so far, which is what a :class:`~deltaprop.train.checkpoint.Checkpoint` records;
* **checkpoints**: :meth:`Run.save` hands the whole state to the store (:mod:`deltaprop.files.checkpoint`
  under :meth:`Network.fit`); :func:`resume_into` continues from one exactly;
* **interruption**: in the main thread, the first Ctrl-C (SIGINT) becomes a flag the loop reads
  between batches (:class:`DeferredInterrupt`): the batch in progress finishes, the checkpoint is
  written and :class:`TrainingInterrupted` is raised; a second one stops at once;
* **divergence**: a NaN or infinite batch cost (or gradient norm, with ``max_grad_norm``) stops
  training before the update it would cause, with :class:`~deltaprop.errors.DivergenceError`;
  the weights are then the last finite ones. A non-finite weight that leaves the cost finite
  (a saturated unit) is caught at the end of the epoch, where every weight is checked, and the
  weights go back to the last finite state kept (the start of the epoch or the last checkpoint).
  No file ever receives a NaN weight.
"""

from __future__ import annotations

import copy
import math
import os
import signal
import threading

import numpy as np

from ..core.checks import all_finite, is_count
from ..core.costs import sum_of_squares
from ..errors import DeltapropError, DivergenceError
from .checkpoint import Checkpoint, batches_per_epoch

__all__ = ["DeferredInterrupt", "Run", "TrainingInterrupted", "check_checkpoint_options", "clip_gradients",
           "resume_into", "weights_finite"]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :meth:`Network.fit` between two batches; the state is consistent and (optionally) saved.

    A ``KeyboardInterrupt``, so code that does not know it still stops. Fields: ``history`` (the
    epochs finished), ``epoch`` and ``batch`` (from 0: ``batch`` batches of ``epoch`` were done)
    and ``checkpoint`` (the path written, or None).
    """

    def __init__(self, history, epoch, batch, checkpoint=None):
        where = f"epoch {epoch + 1}, after batch {batch}"
        super().__init__(f"training interrupted at {where}" + (f"; checkpoint {checkpoint}" if checkpoint else ""))
        self.history, self.epoch, self.batch, self.checkpoint = history, epoch, batch, checkpoint


class DeferredInterrupt:
    """Turn interrupting signals into a flag that the training loop reads between batches.

    :meth:`Network.fit` enters one for SIGINT: the first Ctrl-C sets ``pending`` and the loop
    stops after its batch, the second raises ``KeyboardInterrupt`` at once, for a user who will
    not wait. A program can instead hold one over a longer stretch, for more signals and with
    more patience: the command line holds one for SIGINT, SIGTERM and SIGHUP from before the first
    batch to the last file written, with ``patient=True`` (the second signal only says that the
    run is being saved; the third aborts). While one is held, ``fit`` uses it rather than its own
    (:attr:`current`), so a signal that arrives after ``fit`` returned is still seen.

    A handler is installed only over the signal's default (a program that set its own keeps
    it), and only in the main thread. ``signum`` is the first signal received.
    """

    current = None
    """The DeferredInterrupt this process holds, if any."""

    def __init__(self, signals=(signal.SIGINT,), patient=False, notice=None):
        self.signals, self.patient, self.notice = tuple(signals), patient, notice
        self.pending, self.signum, self.received = False, None, 0
        self._previous, self._outer = {}, None

    def __enter__(self):
        if DeferredInterrupt.current is not None:  # held by the caller: share it
            self._outer = DeferredInterrupt.current
            return self._outer
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
                    self._previous[signum] = signal.signal(signum, self._handle)
        if self._previous:
            DeferredInterrupt.current = self
        return self

    def _handle(self, signum, frame):
        self.received += 1
        if self.received == 1:
            self.pending, self.signum = True, signum
            return
        if self.patient and self.received == 2:
            if self.notice:
                self.notice()
            return
        raise KeyboardInterrupt

    def __exit__(self, *exc_info):
        if self._outer is not None:
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        if DeferredInterrupt.current is self:
            DeferredInterrupt.current = None


def weights_finite(net) -> bool:
    return all(all_finite(layer.W) and all_finite(layer.b) for layer in net.layers)


def clip_gradients(scaled_w, scaled_b, max_norm: float, gradient_scale: float) -> float:
    """Scale the batch gradient so that its norm is at most ``max_norm``; return the norm.

    ``scaled_w`` and ``scaled_b`` hold ``gradient_scale`` times the mean gradient ``g`` (the
    training loop's buffers); the norm is ``||g||`` over every weight and bias (PyTorch's
    ``clip_grad_norm_``). A NaN or infinite norm is returned as it is, unclipped, for the caller
    to stop on.
    """
    arrays = (*scaled_w, *scaled_b)
    norm = math.sqrt(sum(sum_of_squares(g) for g in arrays)) / gradient_scale
    if not math.isfinite(norm):  # squares overflow for |g| > ~1e19 in float32: measure in float64
        norm = math.sqrt(sum(sum_of_squares(g.astype(np.float64)) for g in arrays)) / gradient_scale
    if max_norm < norm < math.inf:
        factor = max_norm / norm
        for g in arrays:
            g *= factor
    return norm


def check_checkpoint_options(checkpoint, checkpoint_every, store, check_directory=True):
    """``(path or None, "epoch" | k | None)``, or a DeltapropError naming the bad argument.

    ``check_directory=False`` leaves out the checks of the path's directory (a rank that does
    not write checkpoints).
    """
    if checkpoint_every not in (None, "epoch") and not is_count(checkpoint_every, minimum=1):
        raise DeltapropError(f"checkpoint_every={checkpoint_every!r} must be 'epoch', a positive number of batches, "
                             "or None (only when interrupted)")
    if checkpoint is None:
        return None, None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise DeltapropError(f"checkpoint={checkpoint!r} must be a file path (str or os.PathLike)")
    if store is None:
        raise DeltapropError("checkpoint= needs a checkpoint store: train with Network.fit, which writes checkpoint files")
    checkpoint = os.fspath(checkpoint)
    directory = os.path.dirname(os.path.abspath(checkpoint))
    if check_directory and not os.path.isdir(directory):
        raise DeltapropError(f"checkpoint={checkpoint!r}: the directory {directory} does not exist")
    if check_directory and os.path.isdir(checkpoint):
        raise DeltapropError(f"checkpoint={checkpoint!r} is a directory; give a file path such as run/checkpoint.npz")
    return checkpoint, checkpoint_every if checkpoint_every in (None, "epoch") else int(checkpoint_every)


def resume_into(net, state: Checkpoint, settings, optimizer):
    """Check that ``state`` continues this run; load its weights; return its optimizer."""
    theirs = state.network
    mine = (net.sizes, [layer.activation.name for layer in net.layers], net.cost_function.name, net.dtype)
    if (theirs.sizes, [layer.activation.name for layer in theirs.layers], theirs.cost_function.name,
            theirs.dtype) != mine:
        raise DeltapropError(f"resume: the checkpoint holds {theirs!r}, which is not the architecture of {net!r}")
    for name in ("n", "batch_size", "shuffle", "lmbda", "max_grad_norm"):
        if state.settings[name] != settings[name]:
            raise DeltapropError(f"resume: the checkpoint was written with {name}={state.settings[name]!r} but fit got "
                                 f"{name}={settings[name]!r}; resume with the settings of the interrupted run")
    net.set_weights([(layer.W, layer.b) for layer in theirs.layers])
    if optimizer is None:
        return state.optimizer
    optimizer.load_state_dict(state.optimizer.state_dict())  # checks the kind of optimizer
    return optimizer


class _FiniteState:
    """A copy of the weights and optimizer state known to be finite, to go back to on divergence."""

    def __init__(self, net, optimizer, where: str):
        self.weights = net.get_weights()
        self.optimizer = optimizer.state_dict()  # copies of its buffers
        self.where = where

    def restore(self, net, optimizer) -> None:
        net.set_weights(self.weights)  # in place: the optimizer's buffers stay matched to these arrays
        optimizer.load_state_dict(self.optimizer)


class Run:
    """The state of one training run between two batches: what a checkpoint records, and the guards.

    ``epoch`` and ``batch`` are the position (``batch`` batches of ``epoch`` done), ``step`` the
    optimiser steps taken in all, ``epoch_cost`` the sum of ``C_x`` over this epoch's batches so
    far; ``epoch_rng`` is the generator as it was before this epoch's permutation, and
    ``finite`` the last state known to be finite. With ``writes=False`` (every rank of a
    data-parallel run but rank 0), :meth:`save` does all but write the file.
    """

    def __init__(self, net, optimizer, rng, history, settings, position, checkpoint, checkpoint_every, metadata,
                 store=None, writes=True):
        self.net, self.optimizer, self.rng, self.history, self.settings = net, optimizer, rng, history, settings
        self.epoch, self.batch, self.step, self.epoch_cost = position
        self.checkpoint, self.checkpoint_every, self.metadata = checkpoint, checkpoint_every, metadata or {}
        self.store = store
        self.writes = writes  # False on the ranks of a data-parallel run other than rank 0
        self.every = checkpoint_every if isinstance(checkpoint_every, int) and checkpoint is not None else 0
        self.n_batches = batches_per_epoch(settings["n"], settings["batch_size"])
        self.epoch_rng = self.finite = None

    def start_epoch(self, epoch, shuffle):
        """Keep the generator and a finite copy of the state; return the epoch's permutation (or None)."""
        self.epoch = epoch
        self.epoch_rng = copy.deepcopy(self.rng)  # the generator before this epoch's permutation
        where = (f"the start of epoch {epoch + 1}" if self.batch == 0 else
                 f"epoch {epoch + 1}, batch {self.batch} (where training resumed)")
        self.finite = _FiniteState(self.net, self.optimizer, where)
        return self.rng.permutation(self.settings["n"]) if shuffle else None

    def save(self, at_epoch_end=False):
        """Write the checkpoint: mid-epoch at the current position, or at the start of the next epoch."""
        if not weights_finite(self.net):
            # mid-epoch, the damage was done by the batch just finished (batch self.batch - 1)
            self.diverge(None if at_epoch_end else self.batch - 1, "weight", None)
        if at_epoch_end:
            epoch, batch, rng, epoch_cost = self.epoch + 1, 0, self.rng, 0.0
        else:
            epoch, batch, rng, epoch_cost = self.epoch, self.batch, self.epoch_rng, self.epoch_cost
        if self.writes:
            self.store.save(self.checkpoint, Checkpoint(self.net, self.optimizer, rng, epoch, batch, self.step,
                                                        epoch_cost, self.history, self.settings, self.metadata))
        self.finite = _FiniteState(self.net, self.optimizer, f"the checkpoint at epoch {epoch + 1}, batch {batch}")

    def diverge(self, batch, quantity, value):
        """Leave the last finite weights in the network and raise DivergenceError (``batch``: None at the epoch end)."""
        net, optimizer = self.net, self.optimizer
        restored_to = None  # detected before the update that would have spoiled the weights
        if not weights_finite(net):
            self.finite.restore(net, optimizer)
            restored_to = self.finite.where
        raise DivergenceError(self.epoch, batch, self.n_batches, quantity, value, restored_to,
                              eta=getattr(optimizer, "eta", None), clipping=self.settings["max_grad_norm"] is not None)
