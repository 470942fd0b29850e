"""Backpropagation one example at a time, in the notes' column-vector form.

This is the algorithm exactly as 003 and Nielsen's network.py state it: ``x`` and ``y`` are
column vectors of shapes ``(n_in, 1)`` and ``(n_L, 1)``, and a Python loop visits the layers.
It shares no code with :mod:`deltaprop.core.propagation` beyond the activation and cost functions,
which makes it an independent check of the batched form (the batched gradient must equal the
mean of these per-example gradients) and the slow baseline the benchmarks compare against.
"""

from __future__ import annotations

import numpy as np

__all__ = ["backprop_example", "sgd_epoch_per_example"]


def backprop_example(net, x, y):
    """Return ``(nabla_b, nabla_w)``, the gradient of ``C_x`` for one example.

    ``x`` is ``(n_in, 1)`` and ``y`` is ``(n_L, 1)``; ``nabla_b[i]`` is ``(n_l, 1)`` and
    ``nabla_w[i]`` is ``(n_l, n_(l-1))``, aligned with ``net.layers``.
    """
    # feedforward, remembering every z and a
    a = x
    activations = [x]  # a^1, a^2, ..., a^L
    zs = []  # z^2, ..., z^L
    for layer in net.layers:
        z = layer.W @ a + layer.b[:, None]  # z^l = W^l a^(l-1) + b^l
        zs.append(z)
        # activations work on rows (examples), so a column vector is passed as its transpose
        a = layer.activation.forward(z.T).T  # a^l = g^l(z^l)
        activations.append(a)

    nabla_b = [None] * len(net.layers)
    nabla_w = [None] * len(net.layers)
    g = net.layers[-1].activation
    grad_a = net.cost_function.grad_a(a.T, y.T)
    delta = g.backward(zs[-1].T, a.T, grad_a).T  # (BP1), general form
    for i in range(len(net.layers) - 1, -1, -1):
        nabla_b[i] = delta  # (BP3)
        nabla_w[i] = delta @ activations[i].T  # (BP4)
        if i > 0:
            g = net.layers[i - 1].activation
            delta = g.backward(zs[i - 1].T, activations[i].T, (net.layers[i].W.T @ delta).T).T  # (BP2)
    return nabla_b, nabla_w


def sgd_epoch_per_example(net, X, Y, batch_size: int, eta: float, rng=None) -> None:
    """One epoch of mini-batch SGD with a per-example loop inside each batch (network.py style).

    ``X`` is ``(n, n_in)`` and ``Y`` one-hot or target rows ``(n, n_L)``, both of the network's
    dtype. Kept as the slow reference of the benchmarks; use :meth:`Network.fit` to train.
    """
    order = np.arange(len(X)) if rng is None else rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        batch = order[start : start + batch_size]
        sum_b = [np.zeros_like(layer.b) for layer in net.layers]
        sum_w = [np.zeros_like(layer.W) for layer in net.layers]
        for k in batch:
            delta_b, delta_w = backprop_example(net, X[k][:, None], Y[k][:, None])
            for i in range(len(net.layers)):
                sum_b[i] += delta_b[i][:, 0]
                sum_w[i] += delta_w[i]
        m = len(batch)
        for layer, nb, nw in zip(net.layers, sum_b, sum_w):
            layer.W -= (eta / m) * nw  # W <- W - eta/m sum_x delta a^T
            layer.b -= (eta / m) * nb
