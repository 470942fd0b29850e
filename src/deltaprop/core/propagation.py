"""The forward pass and the four equations of backpropagation, batched over examples.

For one example ``x`` and layers ``l = 2 .. L`` (layer 1 is the input, ``a^1 = x``)::

    z^l     = W^l a^(l-1) + b^l                        feedforward
    a^l     = g^l(z^l)
    delta^L = grad_a C (.) g'(z^L)                     (BP1)
    delta^l = ((W^(l+1))^T delta^(l+1)) (.) g'(z^l)    (BP2)
    dC/db^l = delta^l                                  (BP3)
    dC/dW^l = delta^l (a^(l-1))^T                      (BP4)

``delta^l = dC_x/dz^l`` is the error of layer ``l``; here it is an ``(m, n_l)`` array with one
row per example, and BP3 and BP4 are summed over the rows. This module is the one place where
BP1-BP4 are computed: :meth:`Network.backprop` and the training loop both call :func:`feedforward`
and :func:`backward` on a :class:`~deltaprop.core.workspace.Workspace`, which holds the buffers
and decides their storage order (see :mod:`deltaprop.core.workspace`).

Layer indices: ``layers[i]`` is the notes' layer ``l = i + 2``, so ``zs[i]``, ``deltas[i]``,
``nabla_w[i]`` and ``nabla_b[i]`` belong to layer ``i + 2``, while ``activations[i]`` is
``a^(i+1)``: ``activations[0]`` is the input batch and ``activations[i]`` feeds ``layers[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .workspace import Workspace, dot

__all__ = ["Gradient", "feedforward", "output_error", "backward"]


def feedforward(layers, x, ws: Workspace) -> np.ndarray:
    """Run ``x`` (``(m, n_in)``) through ``layers`` into ``ws``; return the output ``a^L``."""
    a = ws.activations[0] = x
    for layer, z, a_out in zip(layers, ws.zs, ws.activations[1:]):
        dot(layer.W, a.T, z.T)  # z^l = W^l a^(l-1) ...   (z.T: one column per example)
        z += layer.b  # ... + b^l
        a = layer.activation.forward(z, out=a_out)  # a^l = g^l(z^l)
    return a


def output_error(activation, cost, z, a, y, out=None, scratch=None, shortcut=True):
    """Return ``delta^L``, the error of the output layer (BP1).

    With ``shortcut`` and a pairing listed in ``cost.shortcut`` (sigmoid + cross-entropy,
    softmax + log-likelihood, identity + quadratic or squared error), ``delta^L = k (a - y)``.
    Otherwise BP1 in its general form: ``activation.backward`` applied to ``grad_a C_x``,
    which for softmax is the full Jacobian-vector product of 003, eq. 36.
    """
    k = cost.shortcut.get(activation.name) if shortcut else None
    if k is not None:
        out = np.subtract(a, y, out=out)  # (BP1) delta^L = a - y for this pairing
        if k != 1.0:
            out *= k
        return out
    grad_a = cost.grad_a(a, y, out=out)
    return activation.backward(z, a, grad_a, out=grad_a, scratch=scratch)  # (BP1)


def backward(layers, cost, y, ws: Workspace, scale: float, scaled_deltas: bool = False, into=None) -> None:
    """Fill ``ws.deltas``, and ``scale * sum_x`` of the gradients into ``into = (nabla_w, nabla_b)``.

    Call :func:`feedforward` on the same workspace first. ``into`` defaults to the workspace's
    own ``(ws.nabla_w, ws.nabla_b)``. ``scale = 1/m`` gives the gradient of the batch cost (the
    mean over examples); the training loop passes ``optimizer.gradient_scale / m`` (``eta/m`` for
    plain SGD, whose step is then a single subtraction) into buffers named for that.

    With ``scaled_deltas`` (the training loop), ``delta^L`` is multiplied by ``scale`` once and
    BP2, being linear in ``delta``, carries the factor down: ``ws.deltas`` then hold
    ``scale * delta^l`` and no layer needs a scaled copy. Otherwise ``ws.deltas`` hold the
    errors ``delta^l`` themselves, as :class:`Gradient` reports them.
    """
    nabla_w, nabla_b = into if into is not None else (ws.nabla_w, ws.nabla_b)
    last = len(layers) - 1
    delta = output_error(
        layers[last].activation, cost, ws.zs[last], ws.activations[last + 1], y,
        out=ws.deltas[last], scratch=ws.scratch[last],
    )  # (BP1)
    if scaled_deltas:
        delta *= scale
    for i in range(last, -1, -1):
        delta = ws.deltas[i]  # (m, n_l)
        if i > 0:
            delta_prev = ws.deltas[i - 1]
            dot(layers[i].W.T, delta.T, delta_prev.T)  # (W^l)^T delta^l ...
            layers[i - 1].activation.backward(
                ws.zs[i - 1], ws.activations[i], delta_prev, out=delta_prev, scratch=ws.scratch[i - 1]
            )  # (BP2) ... (.) g'(z^(l-1))
        scaled = delta if scaled_deltas else np.multiply(delta, scale, out=ws.scratch[i])
        # NOTE: the sum over examples as the product delta^T 1: BLAS reads each (contiguous) column
        # once, where np.sum(axis=0) would start one tiny reduction per neuron (5x slower at 512).
        dot(scaled.T, ws.ones, nabla_b[i])  # (BP3) dC/db^l = delta^l, summed over x
        with ws.bp4_threads[i]:
            dot(scaled.T, ws.activations[i], nabla_w[i])  # (BP4) dC/dW^l = delta^l a^(l-1)^T


@dataclass
class Gradient:
    """The gradient of the batch cost, with every intermediate quantity of the notes.

    ``weights[i]`` (``dC/dW``) and ``biases[i]`` (``dC/db``) are aligned with ``net.layers[i]``
    and are means over the batch (BP4, BP3). ``deltas[i]`` and ``zs[i]`` are the ``(m, n_l)``
    errors and weighted inputs of ``net.layers[i]``, one row per example; ``activations[0]`` is
    the input batch and ``activations[i + 1]`` the output of ``net.layers[i]``.
    """

    weights: list
    biases: list
    deltas: list
    zs: list
    activations: list

    def __iter__(self):
        """Iterate ``(dC/dW, dC/db)`` pairs, layer by layer."""
        return iter(zip(self.weights, self.biases))
