"""A :class:`~deltaprop.Network`'s batch cost as a Tensor graph: an independent witness of BP1-BP4.

The graph is built from the same weights, activations and cost formulas as the network, but
differentiated by the generic engine instead of the four equations, so ``weights[i].grad`` can be
compared with ``net.backprop(X, Y).weights[i]``.

>>> import numpy as np, deltaprop
>>> net = deltaprop.Network([2, 3, 1], activation="tanh", seed=0, dtype="float64")
>>> X, Y = np.array([[0.5, -1.0]]), np.array([[0.25]])
>>> graph = network_cost(net, X, Y)
>>> graph.cost.backward()
>>> bool(np.allclose(graph.weights[0].grad, net.backprop(X, Y).weights[0]))
True
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import lookup
from ..validation import check_same_length
from .ops import softmax
from .tensor import Tensor

__all__ = ["network_cost", "NetworkGraph"]


class NetworkGraph(NamedTuple):
    """The pieces of a network's cost graph; lists are aligned with ``net.layers``."""

    cost: Tensor
    """The batch cost ``C``, the mean of ``C_x`` over the examples (one number)."""
    weights: list
    """``W`` of each layer, wrapping the layer's own array (no copy)."""
    biases: list
    """``b`` of each layer, wrapping the layer's own array (no copy)."""
    zs: list
    """Weighted inputs ``z`` of each layer, ``(m, n_l)``; after ``backward``, ``zs[i].grad = deltas[i] / m``."""
    activations: list
    """``activations[0]`` is the input batch, ``activations[i + 1]`` the output of ``layers[i]``."""


# Each activation g of deltaprop.activations, as Tensor operations (keyed by the same names).
_ACTIVATIONS = {
    "sigmoid": lambda z, g: z.sigmoid(),
    "tanh": lambda z, g: z.tanh(),
    "relu": lambda z, g: z.relu(),
    "leaky_relu": lambda z, g: z.leaky_relu(g.slope),
    "identity": lambda z, g: z,
    "softmax": lambda z, g: softmax(z, axis=1),
}


def _clip_probability(a: Tensor) -> Tensor:
    eps = float(np.finfo(a.dtype).eps)
    return a.clip(eps, 1.0 - eps)  # as deltaprop.costs does, so that ln a stays finite


def _quadratic(a, y):
    d = a - y
    return 0.5 * (d * d).sum(axis=1)  # 1/2 ||a - y||^2


def _squared_error(a, y):
    d = a - y
    return (d * d).sum(axis=1)  # sum_j (a_j - y_j)^2


def _cross_entropy(a, y):
    p = _clip_probability(a)
    return -(y * p.log() + (1 - y) * (1 - p).log()).sum(axis=1)


def _log_likelihood(a, y):
    return -(y * _clip_probability(a).log()).sum(axis=1)


# C_x of each cost of deltaprop.costs, one entry per example (keyed by the same names).
_COSTS = {
    "quadratic": _quadratic,
    "squared_error": _squared_error,
    "cross_entropy": _cross_entropy,
    "log_likelihood": _log_likelihood,
}


def network_cost(net, X, Y) -> NetworkGraph:
    """Build ``net``'s batch cost on ``(X, Y)`` as a Tensor graph.

    Parameters
    ----------
    net : deltaprop.Network
    X : array of shape (m, n_in)
    Y : class labels of shape (m,) or targets of shape (m, n_L)
        Checked and converted exactly as :meth:`Network.backprop` does (one-hot rows for labels).

    Returns
    -------
    NetworkGraph
        ``cost`` and the parameter Tensors; call ``graph.cost.backward()`` and read
        ``graph.weights[i].grad``, ``graph.biases[i].grad``. The parameters wrap the layers' own
        arrays, so updating ``weights[i].data`` in place updates the network.
    """
    x, y = net._inputs(X), net._targets(Y)
    check_same_length(x, y)
    weights = [Tensor(layer.W, label=f"W[{i}]") for i, layer in enumerate(net.layers)]
    biases = [Tensor(layer.b, label=f"b[{i}]") for i, layer in enumerate(net.layers)]
    a = Tensor(x, requires_grad=False, label="x")
    zs, activations = [], [a]
    for layer, W, b in zip(net.layers, weights, biases):
        z = a @ W.T + b  # z^l = W^l a^(l-1) + b^l, one row per example: (m, n_l)
        g = lookup(_ACTIVATIONS, layer.activation.name, "activation", "activation")
        a = g(z, layer.activation)  # a^l = g^l(z^l)
        zs.append(z)
        activations.append(a)
    per_example = lookup(_COSTS, net.cost_function.name, "cost", "cost")
    cost = per_example(a, Tensor(y, requires_grad=False, label="y")).mean()  # C = mean_x C_x
    cost.label = "C"
    return NetworkGraph(cost, weights, biases, zs, activations)
