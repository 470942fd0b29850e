"""Mini-batch stochastic gradient descent over epochs (003, 004): the loop behind ``Network.fit``.

Everything the user passes is validated once, before the first parameter changes; the loop
itself reuses one :class:`~deltaprop.propagation.Workspace` per batch size and allocates nothing
per step beyond what NumPy's reductions need.

A long run is protected without slowing the step (each guard costs a comparison per batch):

* **checkpoints** (``checkpoint=path``): the whole state of the run, written atomically every
  epoch or every ``checkpoint_every`` batches, at the end, and when interrupted;
  ``resume=path`` continues from one exactly (see :mod:`deltaprop.checkpoint`);
* **interruption**: in the main thread, the first Ctrl-C (SIGINT) lets the batch in progress
  finish, writes the checkpoint and raises :class:`TrainingInterrupted`; a second one stops at
  once;
* **divergence**: a NaN or infinite batch cost (or gradient norm, with ``max_grad_norm``) stops
  training before the update it would cause, with :class:`~deltaprop.errors.DivergenceError`;
  the weights are then the last finite ones. A non-finite weight that leaves the cost finite
  (a saturated unit) is caught at the end of the epoch, where every weight is checked, and the
  weights go back to the last finite state kept (the start of the epoch or the last checkpoint).
  No file ever receives a NaN weight;
* **data larger than memory**: an ``np.memmap`` is read batch by batch (only the rows of each
  batch), never copied whole.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import os
import signal
import threading

import numpy as np

from . import propagation
from .callbacks import Callback, CallbackList, History
from .errors import DeltapropError, DivergenceError, NonFiniteError
from .filerows import RowReader, open_rows
from .initializers import as_generator
from .optim import SGD, Optimizer
from .validation import all_finite, check_non_negative, check_positive, check_same_length

__all__ = ["TrainingInterrupted", "batches", "fit"]

class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`fit` between two batches; the state is consistent and (optionally) saved.

    A ``KeyboardInterrupt``, so code that does not know it still stops. Attributes: ``history``
    (the epochs finished), ``epoch`` and ``batch`` (from 0: ``batch`` batches of ``epoch`` were
    done) and ``checkpoint`` (the path written, or None).
    """

    def __init__(self, history, epoch, batch, checkpoint=None):
        where = f"epoch {epoch + 1}, after batch {batch}"
        super().__init__(f"training interrupted at {where}" + (f"; checkpoint {checkpoint}" if checkpoint else ""))
        self.history, self.epoch, self.batch, self.checkpoint = history, epoch, batch, checkpoint


def batches(n: int, batch_size: int, order=None, first: int = 0):
    """Yield ``(start, stop, index)`` from batch ``first`` on: ``index`` selects rows ``order[start:stop]``.

    ``index`` is a slice when ``order`` is None (no shuffling).
    """
    for start in range(first * batch_size, n, batch_size):
        stop = min(start + batch_size, n)
        yield start, stop, (slice(start, stop) if order is None else order[start:stop])


def _gather(source, index, buffer):
    """Rows ``source[index]`` into ``buffer`` (no copy for a slice of the right dtype)."""
    if type(source) is RowReader:  # a memmapped file: positioned reads, nothing mapped in
        return source.read(index, buffer)
    same_dtype = source.dtype == buffer.dtype
    if type(index) is slice and same_dtype:
        return source[index]
    if same_dtype and type(source) is np.ndarray:  # not a memmap
        # NOTE: mode="clip" lets take write straight into buffer; the default mode="raise" first
        # gathers into a temporary (3x slower for a batch of 10). The indices come from a
        # permutation of range(n), so nothing is ever clipped.
        return source.take(index, axis=0, out=buffer, mode="clip")
    buffer[...] = source[index]  # converts dtype, or reads only these rows of a memmap
    return buffer


def _overrides_on_batch_end(callbacks) -> bool:
    """True if some callback defines ``on_batch_end`` (otherwise the loop skips the per-step call)."""
    return any(type(c).on_batch_end is not Callback.on_batch_end for c in callbacks.callbacks)


def _check_validation_data(net, validation_data):
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise DeltapropError("validation_data must be a pair (X_val, Y_val)")
    x_val, y_val = net._inputs(validation_data[0], "validation X"), net._targets(validation_data[1], "validation Y")
    check_same_length(x_val, y_val, "validation X", "validation Y")
    return x_val, y_val


def score(net, x, y) -> dict:
    """Cost (and accuracy for a classifier) of already-validated ``x``, ``y``."""
    a = net._feedforward(x)
    logs = {"cost": net.cost_function.value(a, y)}
    if net.is_classifier:
        if a.shape[1] == 1:
            logs["accuracy"] = float(np.mean((a[:, 0] > 0.5) == (y[:, 0] > 0.5)))
        else:
            logs["accuracy"] = float(np.mean(np.argmax(a, axis=1) == np.argmax(y, axis=1)))
    return logs


# -- guards: interruption, divergence, gradient clipping -----------------------------------------------

class _DeferredInterrupt:
    """In the main thread, turn the first SIGINT into a flag that the loop reads between batches.

    Installed only over Python's default handler (a program that set its own keeps it). The
    second SIGINT raises ``KeyboardInterrupt`` at once, for a user who will not wait.
    """

    def __init__(self):
        self.pending = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _FiniteState:
    """A copy of the weights and optimizer state known to be finite, to go back to on divergence."""

    def __init__(self, net, optimizer, where: str):
        self.weights = [(layer.W.copy(), layer.b.copy()) for layer in net.layers]
        self.optimizer = optimizer.state_dict()  # copies of its buffers
        self.where = where

    def restore(self, net, optimizer) -> None:
        for layer, (W, b) in zip(net.layers, self.weights):
            np.copyto(layer.W, W)  # in place: the optimizer's buffers stay matched to these arrays
            np.copyto(layer.b, b)
        optimizer.load_state_dict(self.optimizer)


def _weights_finite(net) -> bool:
    return all(all_finite(layer.W) and all_finite(layer.b) for layer in net.layers)


def _sum_of_squares(array) -> float:
    flat = array.ravel("K")  # no copy for a C- or F-contiguous array
    return float(np.dot(flat, flat))


def _clip_gradients(ws, max_norm: float, gradient_scale: float) -> float:
    """Scale the batch gradient in ``ws`` so that its norm is at most ``max_norm``; return the norm.

    ``ws.nabla_*`` hold ``gradient_scale`` times the mean gradient ``g``; the norm is ``||g||``
    over every weight and bias (PyTorch's ``clip_grad_norm_``). A NaN or infinite norm is
    returned as it is, unclipped, for the caller to stop on.
    """
    squares = sum(_sum_of_squares(g) for g in ws.nabla_w) + sum(_sum_of_squares(g) for g in ws.nabla_b)
    norm = math.sqrt(squares) / gradient_scale
    if not math.isfinite(norm):  # squares overflow for |g| > ~1e19 in float32: measure in float64
        norm = math.sqrt(sum(_sum_of_squares(g.astype(np.float64)) for g in (*ws.nabla_w, *ws.nabla_b)))
        norm /= gradient_scale
    if max_norm < norm < math.inf:
        factor = max_norm / norm
        for g in (*ws.nabla_w, *ws.nabla_b):
            g *= factor
    return norm


# -- checkpoints ----------------------------------------------------------------------------------------

def _check_checkpoint_options(checkpoint, checkpoint_every):
    """``(path or None, "epoch" | k | None)``, or a DeltapropError naming the bad argument."""
    if checkpoint_every is not None and checkpoint_every != "epoch" and (
            isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, numbers.Integral)
            or checkpoint_every < 1):
        raise DeltapropError(f"checkpoint_every={checkpoint_every!r} must be 'epoch', a positive number of batches, "
                             "or None (only when interrupted)")
    if checkpoint is None:
        return None, None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise DeltapropError(f"checkpoint={checkpoint!r} must be a file path (str or os.PathLike)")
    checkpoint = os.fspath(checkpoint)
    directory = os.path.dirname(os.path.abspath(checkpoint))
    if not os.path.isdir(directory):
        raise DeltapropError(f"checkpoint={checkpoint!r}: the directory {directory} does not exist")
    if os.path.isdir(checkpoint):
        raise DeltapropError(f"checkpoint={checkpoint!r} is a directory; give a file path such as run/checkpoint.npz")
    return checkpoint, checkpoint_every if checkpoint_every in (None, "epoch") else int(checkpoint_every)


def _load_resume(resume):
    from .checkpoint import Checkpoint, load_checkpoint  # files sit above the core: imported on use

    return resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)


def _resume_into(net, state, settings, optimizer):
    """Check that ``state`` (a Checkpoint) continues this run; load its weights; return its optimizer."""
    theirs = state.network
    mine = (net.sizes, [layer.activation.name for layer in net.layers], net.cost_function.name, net.dtype)
    if (theirs.sizes, [layer.activation.name for layer in theirs.layers], theirs.cost_function.name,
            theirs.dtype) != mine:
        raise DeltapropError(f"resume: the checkpoint holds {theirs!r}, which is not the architecture of {net!r}")
    for name in ("n", "batch_size", "shuffle", "lmbda", "max_grad_norm"):
        if state.settings[name] != settings[name]:
            raise DeltapropError(f"resume: the checkpoint was written with {name}={state.settings[name]!r} but fit got "
                                 f"{name}={settings[name]!r}; resume with the settings of the interrupted run")
    for layer, source in zip(net.layers, theirs.layers):
        np.copyto(layer.W, source.W)
        np.copyto(layer.b, source.b)
    if optimizer is None:
        return state.optimizer
    optimizer.load_state_dict(state.optimizer.state_dict())  # checks the kind of optimizer
    return optimizer


# -- the loop -------------------------------------------------------------------------------------------

class _Run:
    """The state of one training run between two batches: what a checkpoint records, and the guards.

    ``epoch`` and ``batch`` are the position (``batch`` batches of ``epoch`` done), ``step`` the
    optimiser steps taken in all, ``epoch_cost`` the sum of ``C_x`` over this epoch's batches so
    far; ``epoch_rng`` is the generator as it was before this epoch's permutation, and
    ``finite`` the last state known to be finite.
    """

    def __init__(self, net, optimizer, rng, history, settings, position, checkpoint, checkpoint_every, metadata):
        self.net, self.optimizer, self.rng, self.history, self.settings = net, optimizer, rng, history, settings
        self.epoch, self.batch, self.step, self.epoch_cost = position
        self.checkpoint, self.checkpoint_every, self.metadata = checkpoint, checkpoint_every, metadata or {}
        self.every = checkpoint_every if isinstance(checkpoint_every, int) and checkpoint is not None else 0
        self.n_batches = -(-settings["n"] // settings["batch_size"])
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
        from .checkpoint import Checkpoint, save_checkpoint  # files sit above the core: imported on use

        if not _weights_finite(self.net):
            # mid-epoch, the damage was done by the batch just finished (batch self.batch - 1)
            self.diverge(None if at_epoch_end else self.batch - 1, "a weight is NaN or infinite")
        if at_epoch_end:
            epoch, batch, rng, epoch_cost = self.epoch + 1, 0, self.rng, 0.0
        else:
            epoch, batch, rng, epoch_cost = self.epoch, self.batch, self.epoch_rng, self.epoch_cost
        save_checkpoint(self.checkpoint, Checkpoint(self.net, self.optimizer, rng, epoch, batch, self.step, epoch_cost,
                                                    self.history, self.settings, self.metadata))
        self.finite = _FiniteState(self.net, self.optimizer, f"the checkpoint at epoch {epoch + 1}, batch {batch}")

    def diverge(self, batch, what):
        """Leave the last finite weights in the network and raise DivergenceError.

        ``batch`` is None when the damage was found at the end of the epoch. The error carries
        ``epoch`` and ``batch`` (from 0), ``where``, ``what`` and ``restored`` (phrases of the
        message) and ``eta``, for callers that word their own advice (the command line does).
        """
        net, optimizer = self.net, self.optimizer
        if _weights_finite(net):  # detected before the update that would have spoiled them
            restored = "the weights are those from before this batch, the last finite ones"
        else:
            self.finite.restore(net, optimizer)
            restored = f"the weights were restored to {self.finite.where}, the last finite state"
        where = (f"at epoch {self.epoch + 1}, batch {batch + 1} of {self.n_batches}" if batch is not None else
                 f"during epoch {self.epoch + 1} (found when the weights were checked)")
        eta = getattr(optimizer, "eta", None)
        advice = f"try a smaller eta (it is {eta:g})" if eta is not None else "try a smaller learning rate"
        if self.settings["max_grad_norm"] is None:
            advice += " or clip gradients with max_grad_norm"
        error = DivergenceError(f"training diverged {where}: {what}; {restored}; {advice}")
        error.epoch, error.batch, error.eta = self.epoch, batch, eta
        error.where, error.what, error.restored = where, what, restored
        raise error


def fit(net, X, Y, epochs=1, batch_size=10, eta=0.1, lmbda=0.0, validation_data=None,
        shuffle=True, seed=None, callbacks=None, optimizer=None, checkpoint=None, checkpoint_every="epoch",
        resume=None, max_grad_norm=None, checkpoint_metadata=None) -> History:
    """Train ``net`` by mini-batch SGD; see :meth:`deltaprop.Network.fit`.

    Parameters beyond :meth:`Network.fit`'s
    ---------------------------------------
    checkpoint : str or os.PathLike, optional
        Write the state of the run there (:mod:`deltaprop.checkpoint`), atomically, at the end of
        every epoch (or as ``checkpoint_every`` says), at the end of training and on Ctrl-C.
    checkpoint_every : "epoch", int or None
        ``"epoch"`` (default); ``k``: after every ``k``-th batch (counted over the whole run, as
        Keras' ``save_freq``) and at the end; ``None``: only at an interruption.
    resume : str, os.PathLike or Checkpoint, optional
        Continue the run saved there: its weights, optimizer (hyper-parameters included: ``eta``
        and ``seed`` are then ignored), random state, position and history. ``X``, ``Y``,
        ``batch_size``, ``shuffle``, ``lmbda`` and ``max_grad_norm`` must be those of the
        interrupted run; ``epochs`` is the total, epochs done before included. The epoch in
        progress continues without a second ``on_epoch_begin``.
    max_grad_norm : float, optional
        Clip each batch's gradient (all weights and biases together) to this Euclidean norm.
    checkpoint_metadata : dict, optional
        JSON information stored in every checkpoint (``Checkpoint.extra``).

    Raises
    ------
    DivergenceError
        If a cost, a gradient norm or a weight becomes NaN or infinite; the network is left with
        its last finite weights (see the module docstring).
    TrainingInterrupted
        After a Ctrl-C, once the batch in progress is done and the checkpoint written.
    """
    # -- the boundary: validate everything before any parameter is touched ------------------------
    epochs = check_positive(epochs, "epochs", integer=True)
    batch_size = check_positive(batch_size, "batch_size", integer=True)
    if optimizer is None:
        check_positive(eta, "eta")
    elif not isinstance(optimizer, Optimizer):
        raise DeltapropError(f"optimizer must be a deltaprop.optim.Optimizer, got {type(optimizer).__name__}")
    lmbda = check_non_negative(lmbda, "lmbda")
    if max_grad_norm is not None:
        max_grad_norm = check_positive(max_grad_norm, "max_grad_norm")
    checkpoint, checkpoint_every = _check_checkpoint_options(checkpoint, checkpoint_every)
    if checkpoint_metadata is not None and not isinstance(checkpoint_metadata, dict):
        raise DeltapropError(f"checkpoint_metadata must be a dict of JSON values, got {type(checkpoint_metadata).__name__}")
    x, y = net._inputs(X), net._targets(Y)
    check_same_length(x, y)
    validation = _check_validation_data(net, validation_data)
    if not _weights_finite(net):
        raise NonFiniteError("the network's weights hold NaN or infinity before training; rebuild or reload it")
    n = len(x)
    settings = {"n": n, "batch_size": batch_size, "shuffle": bool(shuffle), "lmbda": lmbda, "epochs": epochs,
                "max_grad_norm": max_grad_norm}
    if resume is not None:
        state = _load_resume(resume)
        optimizer = _resume_into(net, state, settings, optimizer)
        run = _Run(net, optimizer, state.rng, state.history, settings,
                   (state.epoch, state.batch, state.step, state.epoch_cost), checkpoint, checkpoint_every,
                   checkpoint_metadata)
    else:
        optimizer = optimizer if optimizer is not None else SGD(eta)
        run = _Run(net, optimizer, as_generator(seed), History(), settings, (0, 0, 0, 0.0), checkpoint,
                   checkpoint_every, checkpoint_metadata)
    callbacks = CallbackList(callbacks, net)
    if checkpoint is not None:
        from .io import remove_stale_temporaries  # a killed run's half-written temporaries

        remove_stale_temporaries(checkpoint)

    # -- the loop ------------------------------------------------------------------------------
    net.stop_training = False
    net.optimizer = optimizer  # callbacks (LearningRateScheduler, checkpoints) reach it here
    # NOTE: overflow warnings are silenced: the loop detects every NaN and infinity itself and
    # stops with a message that says where and what to do, which the warnings would only precede.
    rows = open_rows(x) if x.dtype == net.dtype else None  # a memmap: read batches without mapping them in
    with _DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            (rows or contextlib.nullcontext()):
        callbacks.on_train_begin()
        for epoch in range(run.epoch, epochs):
            if run.batch == 0:
                callbacks.on_epoch_begin(epoch)
            order = run.start_epoch(epoch, shuffle)
            _run_batches(run, rows or x, y, order, callbacks, interrupt)
            _end_epoch(run, validation, callbacks, interrupt, last=epoch == epochs - 1)
            if net.stop_training:
                break
        callbacks.on_train_end()
    return run.history


def _run_batches(run, x, y, order, callbacks, interrupt) -> None:
    """The batches of ``run.epoch`` from ``run.batch`` on: one SGD step each, guarded in O(1)."""
    net, optimizer = run.net, run.optimizer
    layers, cost, n, lmbda = net.layers, net.cost_function, run.settings["n"], run.settings["lmbda"]
    max_grad_norm, every = run.settings["max_grad_norm"], run.every
    batch_hooks = _overrides_on_batch_end(callbacks)
    next_save = (run.step // every + 1) * every if every else -1  # one comparison per step: anything due?
    for batch, (start, stop, index) in enumerate(batches(n, run.settings["batch_size"], order, run.batch), run.batch):
        m = stop - start
        ws = net._workspace(m)  # the same buffers for every batch of m examples
        xb, yb = _gather(x, index, ws.x), _gather(y, index, ws.y)
        a = propagation.feedforward(layers, xb, ws)
        batch_total = cost.total(a, yb, scratch=ws.scratch[-1])  # sum_x C_x; scratch is free until BP1
        if not math.isfinite(batch_total):  # checked before the update it would cause
            run.diverge(batch, f"the batch cost is {batch_total}")
        propagation.backward(layers, cost, yb, ws, scale=optimizer.gradient_scale / m, scaled_deltas=True)
        if max_grad_norm is not None:
            norm = _clip_gradients(ws, max_grad_norm, optimizer.gradient_scale)
            if not math.isfinite(norm):
                run.diverge(batch, f"the gradient norm is {norm}")
        optimizer.step(layers, ws.nabla_w, ws.nabla_b, l2=lmbda / n)
        run.step, run.batch, run.epoch_cost = run.step + 1, batch + 1, run.epoch_cost + batch_total
        if batch_hooks:
            callbacks.on_batch_end(batch, {"cost": batch_total / m, "size": m})
        if run.step == next_save or interrupt.pending:
            if run.step == next_save or run.checkpoint is not None:
                run.save()
            if interrupt.pending:
                raise TrainingInterrupted(run.history, run.epoch, run.batch, run.checkpoint)
            next_save += every


def _end_epoch(run, validation, callbacks, interrupt, last) -> None:
    """Check every weight once, score, call the callbacks, record the history, checkpoint."""
    net = run.net
    if not _weights_finite(net):
        run.diverge(None, "a weight is NaN or infinite")
    logs = {"cost": run.epoch_cost / run.settings["n"]}
    if validation is not None:
        logs.update({f"val_{key}": value for key, value in score(net, *validation).items()})
    callbacks.on_epoch_end(run.epoch, logs)  # callbacks may add metrics to logs ...
    run.history.on_epoch_end(run.epoch, logs)  # ... which the history then records
    if run.checkpoint is not None and (run.checkpoint_every == "epoch" or interrupt.pending
                                       or (run.every and (last or net.stop_training))):
        run.save(at_epoch_end=True)
    run.epoch, run.batch, run.epoch_cost = run.epoch + 1, 0, 0.0
    if interrupt.pending:
        raise TrainingInterrupted(run.history, run.epoch, 0, run.checkpoint)

