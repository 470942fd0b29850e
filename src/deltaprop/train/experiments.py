"""Small experiments of the notes, run with deltaprop's own training loop.

:func:`one_neuron` is Nielsen's learning-slowdown experiment (chapter 3 of *Neural Networks and
Deep Learning*): one sigmoid neuron, one input ``x = 1``, target ``y = 0``, started badly at
``w = b = 2`` (output ``sigma(4) = 0.98``, saturated) and trained by gradient descent with
``eta = 0.15``. Under the quadratic cost ``dC/dw = (a - y) sigma'(z) x`` carries the factor
``sigma'(z) ~ 0.018``, so for the first hundred epochs the neuron barely moves (003: a saturated
output neuron learns slowly); under cross-entropy ``sigma'(z)`` cancels (``delta = a - y``) and it
learns fastest exactly when it is most wrong.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_positive
from ..core.layers import Dense
from ..core.network import Network
from ..errors import DeltapropError
from .callbacks import Callback
from .loop import fit

__all__ = ["one_neuron", "one_neuron_history"]


def one_neuron_history(cost: str, w: float = 2.0, b: float = 2.0, eta: float = 0.15, epochs: int = 300,
                       x: float = 1.0, y: float = 0.0) -> dict:
    """Train one sigmoid neuron on one example; return ``{"cost", "a", "w", "b"}``, each ``epochs + 1`` values.

    Entry ``k`` of each list is the state after ``k`` epochs (``k = 0``: before any training); an
    epoch is one gradient step on the one example, ``w <- w - eta dC/dw``, ``b <- b - eta dC/db``.
    """
    if cost not in ("quadratic", "cross_entropy"):
        raise DeltapropError(f"cost={cost!r}: the one-neuron experiment compares 'quadratic' and 'cross_entropy'")
    epochs = check_positive(epochs, "epochs", integer=True)
    for name, value in (("w", w), ("b", b), ("x", x), ("y", y)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise DeltapropError(f"{name}={value!r} must be a finite number")
    eta = check_positive(eta, "eta")
    net = Network([Dense(1, 1, "sigmoid", W=[[w]], b=[b])], cost=cost, dtype="float64")
    X, Y = np.array([[float(x)]]), np.array([[float(y)]])
    recorder = _Recorder(X, Y)
    recorder.set_network(net)
    recorder.snapshot()  # epoch 0: before any training
    fit(net, X, Y, epochs=epochs, batch_size=1, eta=eta, shuffle=False, callbacks=[recorder])
    return recorder.record


class _Recorder(Callback):
    """Records the neuron's cost, output, weight and bias at the end of every epoch."""

    def __init__(self, X, Y):
        self.X, self.Y = X, Y
        self.record = {"cost": [], "a": [], "w": [], "b": []}

    def snapshot(self):
        net = self.network
        a = net.feedforward(self.X)
        self.record["cost"].append(net.cost_function.value(a, self.Y))
        self.record["a"].append(float(a[0, 0]))
        self.record["w"].append(float(net.layers[0].W[0, 0]))
        self.record["b"].append(float(net.layers[0].b[0]))

    def on_epoch_end(self, epoch, logs=None):
        self.snapshot()


def one_neuron(cost: str, w: float = 2.0, b: float = 2.0, eta: float = 0.15, epochs: int = 300) -> list:
    """The cost of Nielsen's one-neuron experiment after 0, 1, ..., ``epochs`` epochs (``epochs + 1`` numbers).

    ``cost`` is ``"quadratic"`` (``C = (a - y)^2 / 2``) or ``"cross_entropy"``; the neuron has input
    1 and target 0. See :func:`one_neuron_history` for its output, weight and bias as well.

    >>> quadratic, cross_entropy = one_neuron("quadratic"), one_neuron("cross_entropy")
    >>> round(quadratic[0], 4), round(quadratic[30], 4)          # 30 epochs: hardly moved
    (0.4822, 0.479)
    >>> round(cross_entropy[0], 4), round(cross_entropy[30], 4)  # 30 epochs: most of the way
    (4.0181, 0.2285)
    """
    return one_neuron_history(cost, w=w, b=b, eta=eta, epochs=epochs)["cost"]
