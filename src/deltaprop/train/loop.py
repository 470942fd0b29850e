"""Mini-batch stochastic gradient descent over epochs (003, 004): the loop behind :meth:`Network.fit`.

Read :func:`fit` as Nielsen's ``SGD``: for each epoch, shuffle, cut into mini-batches, and for each
batch run feedforward and BP1-BP4 (:mod:`deltaprop.core.propagation`) and let the optimiser take
its step. Everything the user passes is validated once, before the first parameter changes; the
loop reuses one :class:`~deltaprop.core.workspace.Workspace` per batch size and allocates nothing
per step beyond what NumPy's reductions need. What keeps a long run safe (checkpoints, resume,
divergence, Ctrl-C) is in :mod:`deltaprop.train.run`; a memmapped training set is read batch by
batch with positioned reads (:mod:`deltaprop.core.rows`), never copied whole.

With ``comm=`` an MPI communicator of K > 1 processes, the same loop runs data-parallel
(:func:`_run_shares`): each rank backpropagates its share of every batch and one ``Allreduce``
sums the shares, as :mod:`deltaprop.train.parallel` describes. Without it, nothing of that runs.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from ..atomic import remove_stale_temporaries
from ..core import propagation
from ..core.checks import check_non_negative, check_positive, check_same_length
from ..core.initializers import as_generator
from ..core.network import decide
from ..core.rows import RowReader, in_memory, open_rows
from ..core.workspace import Workspace
from ..errors import DeltapropError, NonFiniteError
from .blas import OneBlasThread
from .callbacks import Callback, CallbackList, EpochLog, History
from .checkpoint import Checkpoint
from .optim import SGD, Optimizer
from .parallel import COLLECTIVE_ERRORS, FlatBuffers, ranks_of
from .run import (
    DeferredInterrupt,
    Run,
    TrainingInterrupted,
    check_checkpoint_options,
    clip_gradients,
    resume_into,
    weights_finite,
)

__all__ = ["TrainingInterrupted", "batches", "fit", "score", "split_validation"]


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


def _opened(files: contextlib.ExitStack, array):
    """A :class:`RowReader` over ``array`` closed with ``files`` if it is a whole-file memmap, else None."""
    rows = open_rows(array)
    return files.enter_context(rows) if rows is not None else None


def _overrides_on_batch_end(callbacks) -> bool:
    """True if some callback defines ``on_batch_end`` (otherwise the loop skips the per-step call)."""
    return any(type(c).on_batch_end is not Callback.on_batch_end for c in callbacks.callbacks)


def _my_rows(ranks, X):
    """The rows of ``X`` this rank checks for NaN (all of them, None, in one process)."""
    return None if ranks is None else slice(*ranks.share(len(X)))


def _check_validation_data(net, validation_data, ranks=None):
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise DeltapropError("validation_data must be a pair (X_val, Y_val)")
    x_val = net._inputs(validation_data[0], "validation X", rows=_my_rows(ranks, validation_data[0]))
    y_val = net._targets(validation_data[1], "validation Y")
    check_same_length(x_val, y_val, "validation X", "validation Y")
    # scored every epoch as a whole: a whole-file memmap is read once with positioned reads (never
    # through its mapping, which SIGBUS-kills the process if the file is truncated meanwhile)
    x_val, y_val = in_memory(x_val), in_memory(y_val)
    if x_val.dtype != net.dtype:
        x_val = x_val.astype(net.dtype)  # finite in net.dtype: as_inputs checked it
    return x_val, y_val


def split_validation(net, X, Y, fraction):
    """Return ``(X_train, Y_train, (X_val, Y_val))``: ``fraction`` of the rows held out for validation.

    For a classifier the split is stratified: each class gives its last ``round(fraction * count)``
    rows (in the order given), so the validation set keeps the class proportions; otherwise (or when
    no class is large enough to give a row) the last ``round(fraction * n)`` rows. Fixed, not random:
    the same data always give the same split. The rows are copied into memory.
    """
    import numbers

    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise DeltapropError(f"validation_split={fraction!r} must be a number in (0, 1), e.g. 0.1")
    X, Y = np.asarray(X), np.asarray(Y)
    targets = net._targets(Y)
    n = len(targets)
    check_same_length(X, targets)
    held = np.zeros(n, dtype=bool)
    if net.is_classifier:
        labels = decide(targets)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            k = round(fraction * len(members))
            if k:
                held[members[len(members) - k:]] = True
    if not held.any():
        held[n - max(1, round(fraction * n)):] = True
    if held.all():
        raise DeltapropError(f"validation_split={fraction} of {n} examples leaves none to train on")
    return X[~held], Y[~held], (X[held], Y[held])


def score(net, x, y, ranks=None) -> dict:
    """Cost (and accuracy for a classifier) of already-validated ``x``, ``y``.

    With ``ranks``, each rank scores its share of the rows, in blocks, and the sums are reduced:
    the same logs on every rank, computed once.
    """
    if ranks is not None:
        return _score_shared(net, x, y, ranks)
    a = net._feedforward(x)
    logs = {"cost": net.cost_function.value(a, y)}
    if net.is_classifier:
        logs["accuracy"] = float(np.mean(decide(a) == decide(y)))
    return logs


def _score_shared(net, x, y, ranks, block=4096) -> dict:
    lo, hi = ranks.share(len(x))
    total = correct = 0.0
    reader = open_rows(x) if x.dtype == net.dtype else None
    with reader or contextlib.nullcontext():
        buffer = np.empty((min(block, max(1, hi - lo)), x.shape[1]), net.dtype) if reader is not None else None
        for start in range(lo, hi, block):
            stop = min(start + block, hi)
            xb = reader.read(slice(start, stop), buffer[: stop - start]) if reader is not None else x[start:stop]
            a = net._feedforward(np.asarray(xb, net.dtype))
            total += net.cost_function.total(a, y[start:stop])
            if net.is_classifier:
                correct += float(np.count_nonzero(decide(a) == decide(y[start:stop])))
    total, correct = ranks.reduce([total, correct])
    logs = {"cost": float(total) / len(x)}
    if net.is_classifier:
        logs["accuracy"] = float(correct) / len(x)
    return logs


class _Workspaces(dict):
    """One workspace per batch size, made on first use: every batch of ``m`` examples reuses its buffers.

    The step's gradients go to buffers of their own, named for what they hold:
    ``optimizer.gradient_scale`` times ``nabla`` (for plain SGD, ``eta`` times it: the whole step).
    """

    def __init__(self, net, gradients=True):
        super().__init__()
        self.net = net
        if gradients:  # a data-parallel run has its own (deltaprop.train.parallel.FlatBuffers)
            self.scaled_nabla_w = [np.empty_like(layer.W) for layer in net.layers]
            self.scaled_nabla_b = [np.empty_like(layer.b) for layer in net.layers]

    def __missing__(self, m):
        ws = self[m] = Workspace(self.net.layers, m, self.net.dtype, one_blas_thread=OneBlasThread, nabla=False)
        return ws


def fit(net, X, Y, epochs=1, batch_size=10, eta=0.1, lmbda=0.0, validation_data=None, shuffle=True, seed=None,
        callbacks=None, optimizer=None, checkpoint=None, checkpoint_every="epoch", resume=None, max_grad_norm=None,
        checkpoint_metadata=None, store=None, verbose=0, validation_split=None, comm=None) -> History:
    """Train ``net`` by mini-batch SGD: the parameters are :meth:`deltaprop.Network.fit`'s.

    ``store`` reads and writes checkpoints (``save(path, checkpoint)``, ``load(path)``);
    :meth:`Network.fit` passes :data:`deltaprop.files.checkpoint.STORE`. ``comm``, an MPI
    communicator of K > 1 processes, makes the run data-parallel (:mod:`deltaprop.train.parallel`).
    """
    arguments = dict(epochs=epochs, batch_size=batch_size, eta=eta, lmbda=lmbda, validation_data=validation_data,
                     shuffle=shuffle, seed=seed, callbacks=callbacks, optimizer=optimizer, checkpoint=checkpoint,
                     checkpoint_every=checkpoint_every, resume=resume, max_grad_norm=max_grad_norm,
                     checkpoint_metadata=checkpoint_metadata, store=store, verbose=verbose,
                     validation_split=validation_split)
    ranks = ranks_of(comm)
    if ranks is None:
        return _train(_prepare(net, X, Y, **arguments))
    entropy = ranks.common_entropy()  # collective, so called on every rank whatever its seed
    if seed is None and resume is None:
        arguments["seed"] = entropy  # every rank must draw the same permutations
    plan = error = None
    try:
        plan = _prepare(net, X, Y, ranks=ranks, **arguments)
    except Exception as failure:  # noqa: BLE001 -- shared with every rank, then raised on each
        error = failure
    ranks.agree(error)
    ranks.check_same(_must_agree(plan))
    return _train(plan, ranks)


def _prepare(net, X, Y, epochs, batch_size, eta, lmbda, validation_data, shuffle, seed, callbacks, optimizer,
             checkpoint, checkpoint_every, resume, max_grad_norm, checkpoint_metadata, store, verbose=0,
             validation_split=None, ranks=None):
    """Validate everything before any parameter is touched; return the run, its data and its callbacks.

    With ``ranks``, this rank checks only its share of the rows for NaN, and only rank 0 checks
    the checkpoint's directory and clears its stale temporaries: only rank 0 writes.
    """
    writes = ranks is None or ranks.rank == 0
    epochs = check_positive(epochs, "epochs", integer=True)
    batch_size = check_positive(batch_size, "batch_size", integer=True)
    if optimizer is None:
        check_positive(eta, "eta")
    elif not isinstance(optimizer, Optimizer):
        raise DeltapropError(f"optimizer must be a deltaprop.Optimizer, got {type(optimizer).__name__}")
    lmbda = check_non_negative(lmbda, "lmbda")
    if max_grad_norm is not None:
        max_grad_norm = check_positive(max_grad_norm, "max_grad_norm")
    # only rank 0 writes: the checkpoint's directory is rank 0's to check (it may exist on its machine only)
    checkpoint, checkpoint_every = check_checkpoint_options(checkpoint, checkpoint_every, store, writes)
    callbacks = CallbackList(callbacks, net)
    if checkpoint_metadata is not None and not isinstance(checkpoint_metadata, dict):
        raise DeltapropError(f"checkpoint_metadata must be a dict of JSON values, got {type(checkpoint_metadata).__name__}")
    if verbose not in (0, 1, False, True):
        raise DeltapropError(f"verbose={verbose!r} must be 0 (silent) or 1 (one line per epoch)")
    if verbose and writes:  # one line per epoch, from rank 0 only in a data-parallel run
        callbacks.callbacks.append(EpochLog(epochs))
    if validation_split is not None:
        if validation_data is not None:
            raise DeltapropError("give validation_data or validation_split, not both")
        X, Y, validation_data = split_validation(net, X, Y, validation_split)
    x, y = net._inputs(X, rows=_my_rows(ranks, X)), net._targets(Y)
    check_same_length(x, y)
    validation = _check_validation_data(net, validation_data, ranks)
    if not weights_finite(net):
        raise NonFiniteError("the network's weights hold NaN or infinity before training; rebuild or reload it")
    n = len(x)
    settings = {"n": n, "batch_size": batch_size, "shuffle": bool(shuffle), "lmbda": lmbda, "epochs": epochs,
                "max_grad_norm": max_grad_norm}
    if resume is not None:
        if not isinstance(resume, Checkpoint) and store is None:
            raise DeltapropError("resume= a path needs a checkpoint store: train with Network.fit")
        state = resume if isinstance(resume, Checkpoint) else store.load(resume)
        optimizer = resume_into(net, state, settings, optimizer)
        run = Run(net, optimizer, state.rng, state.history, settings, (state.epoch, state.batch, state.step,
                  state.epoch_cost), checkpoint, checkpoint_every, checkpoint_metadata, store, writes)
    else:
        optimizer = optimizer if optimizer is not None else SGD(eta)
        run = Run(net, optimizer, as_generator(seed), History(), settings, (0, 0, 0, 0.0), checkpoint,
                  checkpoint_every, checkpoint_metadata, store, writes)
    if checkpoint is not None and writes:
        remove_stale_temporaries(checkpoint)  # a killed run's half-written temporaries
    return _Plan(run, x, y, validation, callbacks, epochs, shuffle)


class _Plan:
    """What :func:`_prepare` checked and built: the run, its data and callbacks, its length."""

    def __init__(self, run, x, y, validation, callbacks, epochs, shuffle):
        self.run, self.x, self.y, self.validation, self.callbacks = run, x, y, validation, callbacks
        self.epochs, self.shuffle = epochs, shuffle


def _ends(array) -> tuple:
    """Shape, dtype and the first and last rows: enough to tell two data sets apart cheaply."""
    return array.shape, array.dtype.str, np.array(array[0]), np.array(array[-1])


def _must_agree(plan) -> dict:
    """What every rank of a data-parallel run must have equal, by name (compared by checksum)."""
    if plan is None:
        return {}
    run = plan.run
    net, optimizer = run.net, run.optimizer
    state = optimizer.state_dict()
    fields = {"network": (net.sizes, [layer.activation.name for layer in net.layers], net.cost_function.name,
                          net.dtype.str)}
    fields.update({name: (value,) for name, value in sorted(run.settings.items())})
    fields["optimizer"] = (sorted(state), *(state[key] for key in sorted(state)))
    fields["seed"] = (run.rng.bit_generator.state,)
    fields["resume position"] = (run.epoch, run.batch, run.step, run.epoch_cost, run.history.history)
    fields["checkpoint_every"] = (run.checkpoint is None, run.checkpoint_every)
    fields["X"], fields["Y"] = _ends(plan.x), _ends(plan.y)
    fields["validation_data"] = () if plan.validation is None else (*_ends(plan.validation[0]),
                                                                    *_ends(plan.validation[1]))
    return fields


def _train(plan, ranks=None) -> History:
    """The loop: epochs of batches, one SGD step each; data-parallel with ``ranks``."""
    run, callbacks, net = plan.run, plan.callbacks, plan.run.net
    net.stop_training = False
    net.optimizer = run.optimizer  # callbacks (LearningRateScheduler, checkpoints) reach it here
    if ranks is not None:
        flat = FlatBuffers(net.layers, net.dtype)
        ranks.broadcast_weights(net, flat)  # one starting point, rank 0's
    workspaces = _Workspaces(net, gradients=ranks is None)
    # NOTE: overflow warnings are silenced: the loop detects every NaN and infinity itself and
    # stops with a message that says where and what to do, which the warnings would only precede.
    # A memmap of a file (of any dtype; converted batch by batch) is read with positioned reads, never
    # through its mapping: its pages stay out of the process, and a truncated file is a DataError.
    try:
        with DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                contextlib.ExitStack() as files:
            rows, y_rows = _opened(files, plan.x), _opened(files, plan.y)
            callbacks.on_train_begin()
            for epoch in range(run.epoch, plan.epochs):
                if run.batch == 0:
                    callbacks.on_epoch_begin(epoch)
                order = run.start_epoch(epoch, plan.shuffle)
                if ranks is None:
                    _run_batches(run, workspaces, rows or plan.x, y_rows or plan.y, order, callbacks, interrupt)
                else:
                    _run_shares(run, ranks, flat, workspaces, rows or plan.x, y_rows or plan.y, order, callbacks,
                                interrupt)
                _end_epoch(run, plan.validation, callbacks, interrupt, last=epoch == plan.epochs - 1, ranks=ranks)
                if net.stop_training:
                    break
            callbacks.on_train_end()
    except (*COLLECTIVE_ERRORS, TrainingInterrupted):
        raise  # raised by every rank at the same point
    except BaseException as error:
        if ranks is None:
            raise
        ranks.abort(error)  # one rank alone: the others would wait for it for ever
        raise
    return run.history


def _run_batches(run, workspaces, x, y, order, callbacks, interrupt) -> None:
    """The batches of ``run.epoch`` from ``run.batch`` on: one SGD step each, guarded in O(1)."""
    net, optimizer = run.net, run.optimizer
    layers, cost, n, l2 = net.layers, net.cost_function, run.settings["n"], run.settings["lmbda"] / run.settings["n"]
    scaled_nabla = scaled_nabla_w, scaled_nabla_b = workspaces.scaled_nabla_w, workspaces.scaled_nabla_b
    max_grad_norm, every = run.settings["max_grad_norm"], run.every
    batch_hooks = _overrides_on_batch_end(callbacks)
    next_save = (run.step // every + 1) * every if every else -1  # one comparison per step: anything due?
    for batch, (start, stop, index) in enumerate(batches(n, run.settings["batch_size"], order, run.batch), run.batch):
        m = stop - start
        ws = workspaces[m]
        xb, yb = _gather(x, index, ws.x), _gather(y, index, ws.y)
        a = propagation.feedforward(layers, xb, ws)
        batch_total = cost.total(a, yb, scratch=ws.scratch[-1])  # sum_x C_x; scratch is free until BP1
        if not math.isfinite(batch_total):  # checked before the update it would cause
            run.diverge(batch, "cost", batch_total)
        # BP1-BP4, the sums over the batch scaled by gradient_scale / m (eta / m for plain SGD)
        propagation.backward(layers, cost, yb, ws, scale=optimizer.gradient_scale / m, scaled_deltas=True,
                             into=scaled_nabla)
        _step(run, batch, m, batch_total, scaled_nabla_w, scaled_nabla_b, l2, max_grad_norm, callbacks, batch_hooks)
        if run.step == next_save or interrupt.pending:
            next_save = _save_or_stop(run, next_save, interrupt.pending)


def _run_shares(run, ranks, flat, workspaces, x, y, order, callbacks, interrupt) -> None:
    """:func:`_run_batches` on K ranks: each backpropagates its share of every batch; one Allreduce sums them.

    A batch of ``m`` is cut into K shares (:meth:`~deltaprop.train.parallel.Ranks.share`); each
    rank's BP3/BP4 sums are scaled by ``gradient_scale / m``, ``m`` the *global* batch size, so the
    sum over ranks is what :func:`_run_batches` computes for the whole batch. The step's one
    contiguous buffer carries the gradient sums, the batch's cost sum and this rank's Ctrl-C flag;
    every decision after it (divergence, clipping, the step, stopping) reads only the sums.
    """
    net, optimizer = run.net, run.optimizer
    layers, cost, n, l2 = net.layers, net.cost_function, run.settings["n"], run.settings["lmbda"] / run.settings["n"]
    send, recv, into = flat.send, flat.recv, (flat.send_w, flat.send_b)
    summed_w, summed_b = flat.recv_w, flat.recv_b
    allreduce, share = ranks.comm.Allreduce, ranks.share
    max_grad_norm, every = run.settings["max_grad_norm"], run.every
    batch_hooks = _overrides_on_batch_end(callbacks)
    next_save = (run.step // every + 1) * every if every else -1
    for batch, (start, stop, _) in enumerate(batches(n, run.settings["batch_size"], order, run.batch), run.batch):
        m = stop - start
        lo, hi = share(m)
        if hi > lo:
            ws = workspaces[hi - lo]
            mine = slice(start + lo, start + hi) if order is None else order[start + lo : start + hi]
            xb, yb = _gather(x, mine, ws.x), _gather(y, mine, ws.y)
            a = propagation.feedforward(layers, xb, ws)
            send[-2] = cost.total(a, yb, scratch=ws.scratch[-1])  # this share's sum_x C_x
            # BP1-BP4 on the share, scaled by gradient_scale / m with the whole batch's m
            propagation.backward(layers, cost, yb, ws, scale=optimizer.gradient_scale / m, scaled_deltas=True,
                                 into=into)
        else:  # fewer examples than ranks: this rank adds nothing
            send[:-1] = 0
        send[-1] = interrupt.pending
        allreduce(send, recv)  # the sums over every rank: gradients, cost, Ctrl-C flags
        batch_total = float(recv[-2])
        if not math.isfinite(batch_total):  # checked before the update it would cause
            run.diverge(batch, "cost", batch_total)
        _step(run, batch, m, batch_total, summed_w, summed_b, l2, max_grad_norm, callbacks, batch_hooks)
        interrupted = recv[-1] > 0  # Ctrl-C on any rank: every rank stops after this same step
        if run.step == next_save or interrupted:
            next_save = _save_or_stop(run, next_save, interrupted)


def _step(run, batch, m, batch_total, nabla_w, nabla_b, l2, max_grad_norm, callbacks, batch_hooks) -> None:
    """What follows a batch's (scaled) gradient, alone or summed over ranks: clip it (a non-finite norm
    ends the run), take the optimiser's step, count it, and tell the callbacks that want each batch."""
    if max_grad_norm is not None:
        norm = clip_gradients(nabla_w, nabla_b, max_grad_norm, run.optimizer.gradient_scale)
        if not math.isfinite(norm):
            run.diverge(batch, "gradient norm", norm)
    run.optimizer.step(run.net.layers, nabla_w, nabla_b, l2=l2)
    run.step, run.batch, run.epoch_cost = run.step + 1, batch + 1, run.epoch_cost + batch_total
    if batch_hooks:
        callbacks.on_batch_end(batch, {"cost": batch_total / m, "size": m})


def _save_or_stop(run, next_save: int, interrupted: bool) -> int:
    """A checkpoint is due (``run.step == next_save``) or Ctrl-C came: save, stop if interrupted; the next due step."""
    if run.step == next_save or run.checkpoint is not None:
        run.save()
    if interrupted:
        raise TrainingInterrupted(run.history, run.epoch, run.batch, run.checkpoint)
    return next_save + run.every


def _end_epoch(run, validation, callbacks, interrupt, last, ranks=None) -> None:
    """Check every weight once, score, call the callbacks, record the history, checkpoint.

    With ``ranks``, validation is shared out, and whether to stop (a callback's ``stop_training``,
    Ctrl-C) is decided from every rank's say, in one small Allreduce that also checks that the
    ranks still hold the same state.
    """
    net = run.net
    if not weights_finite(net):
        run.diverge(None, "weight", None)
    logs = {"cost": run.epoch_cost / run.settings["n"]}
    if validation is not None:
        logs.update({f"val_{key}": value for key, value in score(net, *validation, ranks=ranks).items()})
    callbacks.on_epoch_end(run.epoch, logs)  # callbacks may add metrics to logs ...
    run.history.on_epoch_end(run.epoch, logs)  # ... which the history then records
    interrupted = interrupt.pending
    if ranks is not None:
        net.stop_training, interrupted = ranks.end_of_epoch(net, run.optimizer, net.stop_training, interrupted)
    if run.checkpoint is not None and (run.checkpoint_every == "epoch" or interrupted
                                       or (run.every and (last or net.stop_training))):
        run.save(at_epoch_end=True)
    run.epoch, run.batch, run.epoch_cost = run.epoch + 1, 0, 0.0
    if interrupted:
        raise TrainingInterrupted(run.history, run.epoch, 0, run.checkpoint)
