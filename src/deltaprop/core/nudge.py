"""The demon of 003: change one weighted input ``z_j`` by ``dz`` and watch the cost change by about ``delta_j dz``.

003 defines the error of neuron ``j`` as ``delta_j = dC/dz_j`` (eq. 35) through a thought experiment:
a demon sits at the neuron and adds ``dz`` to its weighted input, so that it outputs ``g(z_j + dz)``
instead of ``g(z_j)``; the change runs through the later layers and the cost changes by

    dC ~ delta_j dz        (exact as dz -> 0; the error of the approximation falls like dz^2)

:func:`nudge` plays the demon: it runs the forward pass again from that layer on with ``z_j``
shifted, and returns the cost change beside the prediction ``delta_j dz`` of backpropagation.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..errors import DeltapropError
from .checks import check_same_length, is_count

__all__ = ["Nudge", "nudge"]


class Nudge(NamedTuple):
    """What :func:`nudge` measures; unpacks as ``cost_change, predicted = nudge(...)``."""

    cost_change: float
    """``C(z_j + dz) - C(z_j)``, from a forward pass with the shifted ``z_j``."""
    predicted: float
    """``delta_j dz``, with ``delta_j = dC/dz_j`` from backpropagation (BP1, BP2)."""


def _index(value, size: int, argument: str, what: str) -> int:
    if not is_count(value, minimum=-size) or value >= size:
        raise DeltapropError(f"{argument}={value!r} must be an integer index of {what}: 0 to {size - 1} "
                             f"(or -{size} to -1 from the end)")
    return int(value) % size


def nudge(net, x, y, layer: int, unit: int, dz: float) -> Nudge:
    """Shift ``z_unit`` of ``net.layers[layer]`` by ``dz``; return ``(cost_change, predicted)``.

    Parameters
    ----------
    net : Network
        Not modified: the computation runs in float64 on a copy (a float32 difference of two
        nearby costs would be mostly rounding).
    x, y : arrays
        One example (``x`` of shape ``(n_in,)``, ``y`` a target row or a class label) or a batch
        (``(m, n_in)`` and targets, as :meth:`Network.cost` takes them). For a batch, ``z_unit``
        is shifted in every example, the cost is the batch mean, and ``predicted`` is
        ``dz`` times the mean of ``delta_unit`` over the examples.
    layer : int
        Index into ``net.layers`` (``layers[i]`` is the notes' layer ``l = i + 2``; ``-1`` is the output).
    unit : int
        The neuron ``j`` of that layer, ``0 <= j < n_l``.
    dz : float
        The demon's change of ``z_j``.

    Returns
    -------
    Nudge
        ``(cost_change, predicted)``: ``C(z_j + dz) - C`` and ``delta_j dz``. Their difference
        falls like ``dz^2``.

    Examples
    --------
    >>> import numpy as np, deltaprop
    >>> net = deltaprop.Network([2, 3, 2], seed=0, dtype="float64")
    >>> change, predicted = nudge(net, [0.05, 0.10], [0.01, 0.99], layer=1, unit=0, dz=0.01)
    >>> print(f"{change:.8f} {predicted:.8f}")   # they differ by O(dz^2)
    0.00143865 0.00143763
    """
    layer = _index(layer, len(net.layers), "layer", f"net.layers ({len(net.layers)} layers)")
    unit = _index(unit, net.layers[layer].n_out, "unit", f"layers[{layer}]'s {net.layers[layer].n_out} neurons")
    if isinstance(dz, bool) or not isinstance(dz, numbers.Real) or not np.isfinite(dz):
        raise DeltapropError(f"dz={dz!r} must be a finite number")
    net64 = net.copy(dtype=np.float64)
    if np.ndim(x) == 1:  # one example: a batch of one (a target row, or a class label)
        x, y = np.reshape(x, (1, -1)), np.reshape(y, (1, -1) if np.ndim(y) == 1 else (1,))
    X, Y = net64._inputs(x, "x"), net64._targets(y, "y")
    check_same_length(X, Y, "x", "y")
    gradient = net64.backprop(X, Y)
    cost = net64.cost_function
    before = cost.value(gradient.activations[-1], Y)

    z = np.array(gradient.zs[layer])  # (m, n_l), a copy
    z[:, unit] += dz  # the demon
    a = net64.layers[layer].activation.forward(z)  # a^l = g(z^l + dz e_j)
    for later in net64.layers[layer + 1 :]:
        a = later.activation.forward(a @ later.W.T + later.b)  # z = W a_prev + b, a = g(z), as before
    after = cost.value(a, Y)

    delta = float(np.mean(gradient.deltas[layer][:, unit]))  # dC/dz_j, averaged over the batch like C
    return Nudge(after - before, delta * float(dz))
