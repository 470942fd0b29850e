"""A :class:`~deltaprop.Network`'s batch cost as a Tensor graph: an independent witness of BP1-BP4.

The graph is built from the same weights, and from each activation's and cost's own formula as
Tensor operations (``Activation.tensor``, ``Cost.tensor``), but differentiated by the generic
engine from those operations' rules instead of by the four equations and ``g'``, so ``weights[i].grad`` can be
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

from ..core.checks import check_same_length
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
        a = layer.activation.tensor(z)  # a^l = g^l(z^l), as the activation itself writes it in operations
        zs.append(z)
        activations.append(a)
    cost = net.cost_function.tensor(a, Tensor(y, requires_grad=False, label="y")).mean()  # C = mean_x C_x
    cost.label = "C"
    return NetworkGraph(cost, weights, biases, zs, activations)
