"""Diagnostics of slow learning: per-layer gradient norms and saturated units, epoch by epoch.

003 and 004 explain why a weight learns slowly: ``dC/dw = a_in * delta_out`` is small when the
neuron it feeds is *saturated*, a sigmoid near 0 or 1 where ``sigma'(z) ~ 0``; in a deep sigmoid
network BP2 multiplies such small factors layer after layer and the early layers' gradients
vanish. :class:`Diagnostics` makes this visible during training.

Definitions (``layers[i]`` is the notes' layer ``l = i + 2``):

``grad_norm[i]``
    The Frobenius norm ``||dC/dW||`` of ``layers[i]``'s weight gradient (BP4) on a fixed probe
    batch, the mean over its examples as :meth:`Network.backprop` returns it.
``saturation[i]``
    For a sigmoid or tanh layer: the fraction of (example, unit) pairs of the probe batch whose
    derivative ``g'(z)`` is below ``threshold`` times the activation's largest derivative.
    With the default ``threshold = 0.1`` a sigmoid unit is saturated when ``sigma'(z) < 0.025``
    (``a < 0.026`` or ``a > 0.974``, ``|z| > 3.6``) and a tanh unit when ``tanh'(z) < 0.1``
    (``|a| > 0.949``, ``|z| > 1.8``): it learns at less than a tenth of its best speed. Other
    activations do not saturate this way and get no ``saturation`` entry.
"""

from __future__ import annotations

import numpy as np

from ..core.activations import ACTIVATIONS
from ..errors import DeltapropError
from .callbacks import Callback

__all__ = ["MAX_DERIVATIVE", "SATURATION_THRESHOLD", "Diagnostics", "measure"]

SATURATION_THRESHOLD = 0.1
"""Default: a unit is saturated when ``g'(z) < 0.1 * max g'``."""

MAX_DERIVATIVE = {g.name: g.max_prime for g in ACTIVATIONS.values() if g.max_prime is not None}
"""The largest value of ``g'`` for each activation that saturates (``Activation.max_prime``)."""


def measure(net, X, Y, threshold: float = SATURATION_THRESHOLD) -> dict:
    """Return ``{"grad_norm[i]": ..., "saturation[i]": ...}`` for ``net`` on the batch ``(X, Y)``.

    >>> import numpy as np, deltaprop
    >>> net = deltaprop.Network([2, 3, 1], seed=0)
    >>> sorted(measure(net, np.zeros((1, 2)), np.zeros((1, 1))))
    ['grad_norm[0]', 'grad_norm[1]', 'saturation[0]', 'saturation[1]']
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise DeltapropError(f"threshold={threshold!r} must be a number between 0 and 1 (a fraction of max g')")
    gradient = net.backprop(X, Y)
    logs = {}
    for i, layer in enumerate(net.layers):
        logs[f"grad_norm[{i}]"] = float(np.linalg.norm(gradient.weights[i]))  # ||dC/dW|| (BP4)
    for i, layer in enumerate(net.layers):
        g = layer.activation
        if g.max_prime is not None:
            z, a = gradient.zs[i], gradient.activations[i + 1]
            g_prime = g.prime(z, a)  # (m, n_l)
            logs[f"saturation[{i}]"] = float(np.mean(g_prime < threshold * g.max_prime))
    return logs


class Diagnostics(Callback):
    """Add gradient norms and saturation on a probe batch to each epoch's metrics.

    ``fit`` records them in its :class:`~deltaprop.History` (``history.history["grad_norm[0]"]``
    ...) after the callbacks run. See the module docstring for the definitions.

    Parameters
    ----------
    X_probe, Y_probe : arrays
        A fixed batch (a few hundred training examples is plenty), measured after each epoch.
    threshold : float
        A unit is saturated when ``g'(z) < threshold * max g'`` (default 0.1).

    Attributes
    ----------
    initial : dict
        The same measurements before the first step (the first epoch often moves a network
        out of saturation, so this is where the effect is clearest): epoch 0 of the picture.
        The history keeps one entry per epoch; ``save_history(history, path, initial=...)`` and
        ``history_table(history, initial)`` (:mod:`deltaprop.files.history`) put this point first,
        as ``deltaprop train --diagnostics`` does in ``history.csv`` and its plots. (A ``fit``
        that resumes a checkpoint measures it when it resumes; the command line keeps the first
        run's in the checkpoint instead.)

    Examples
    --------
    >>> import numpy as np, deltaprop
    >>> X, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 2
    >>> net = deltaprop.Network([4, 5, 2], seed=0)
    >>> history = net.fit(X, y, epochs=2, callbacks=[Diagnostics(X, y)])
    >>> len(history.history["saturation[0]"])
    2
    """

    def __init__(self, X_probe, Y_probe, threshold: float = SATURATION_THRESHOLD):
        self.X_probe, self.Y_probe = X_probe, Y_probe
        self.threshold = threshold
        self.initial: dict | None = None

    def on_train_begin(self, logs=None):
        # Measuring here also validates the probe batch against the network before any step.
        self.initial = measure(self.network, self.X_probe, self.Y_probe, self.threshold)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(measure(self.network, self.X_probe, self.Y_probe, self.threshold))
