"""Mini-batch stochastic gradient descent over epochs (003, 004): the loop behind ``Network.fit``.

Everything the user passes is validated once, before the first parameter changes; the loop
itself reuses one :class:`~deltaprop.propagation.Workspace` per batch size and allocates nothing
per step beyond what NumPy's reductions need.
"""

from __future__ import annotations

import numpy as np

from . import propagation
from .callbacks import Callback, CallbackList, History
from .errors import DeltapropError
from .initializers import as_generator
from .optim import SGD, Optimizer
from .validation import check_non_negative, check_positive, check_same_length

__all__ = ["fit", "batches"]


def batches(n: int, batch_size: int, order=None):
    """Yield ``(start, stop, index)``: ``index`` selects rows ``order[start:stop]`` (a slice if unshuffled)."""
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield start, stop, (slice(start, stop) if order is None else order[start:stop])


def _gather(source, index, buffer):
    """Rows ``source[index]`` into ``buffer`` (no copy for a slice of the right dtype)."""
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


def fit(net, X, Y, epochs=1, batch_size=10, eta=0.1, lmbda=0.0, validation_data=None,
        shuffle=True, seed=None, callbacks=None, optimizer=None) -> History:
    """Train ``net`` by mini-batch SGD; see :meth:`deltaprop.Network.fit`."""
    # -- the boundary: validate everything before any parameter is touched ------------------------
    epochs = check_positive(epochs, "epochs", integer=True)
    batch_size = check_positive(batch_size, "batch_size", integer=True)
    if optimizer is None:
        optimizer = SGD(check_positive(eta, "eta"))
    elif not isinstance(optimizer, Optimizer):
        raise DeltapropError(f"optimizer must be a deltaprop.optim.Optimizer, got {type(optimizer).__name__}")
    lmbda = check_non_negative(lmbda, "lmbda")
    x, y = net._inputs(X), net._targets(Y)
    check_same_length(x, y)
    validation = _check_validation_data(net, validation_data)
    rng = as_generator(seed)
    history = History()
    callbacks = CallbackList(callbacks, net)

    # -- the loop ------------------------------------------------------------------------------
    n, layers, cost = len(x), net.layers, net.cost_function
    batch_hooks = _overrides_on_batch_end(callbacks)
    net.stop_training = False
    net.optimizer = optimizer  # callbacks (LearningRateScheduler, checkpoints) reach it here
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        order = rng.permutation(n) if shuffle else None
        total_cost = 0.0
        for batch, (start, stop, index) in enumerate(batches(n, batch_size, order)):
            m = stop - start
            ws = net._workspace(m)  # the same buffers for every batch of m examples
            xb, yb = _gather(x, index, ws.x), _gather(y, index, ws.y)
            a = propagation.feedforward(layers, xb, ws)
            batch_total = cost.total(a, yb, scratch=ws.scratch[-1])  # sum_x C_x; scratch is free until BP1
            total_cost += batch_total
            propagation.backward(layers, cost, yb, ws, scale=optimizer.gradient_scale / m, scaled_deltas=True)
            optimizer.step(layers, ws.nabla_w, ws.nabla_b, l2=lmbda / n)
            if batch_hooks:
                callbacks.on_batch_end(batch, {"cost": batch_total / m, "size": m})
        logs = {"cost": total_cost / n}
        if validation is not None:
            logs.update({f"val_{key}": value for key, value in score(net, *validation).items()})
        callbacks.on_epoch_end(epoch, logs)  # callbacks may add metrics to logs ...
        history.on_epoch_end(epoch, logs)  # ... which the history then records
        if net.stop_training:
            break
    callbacks.on_train_end()
    return history
