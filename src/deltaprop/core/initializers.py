"""Weight initialisers, in one registry keyed by name.

Each takes ``(n_out, n_in, rng, dtype)`` and returns ``(W, b)`` with ``W`` of shape
``(n_out, n_in)`` and ``b`` of shape ``(n_out,)``. Randomness comes only from the
``numpy.random.Generator`` passed in, never from NumPy's global state.

=============== ================================ ==========================================
name            W                                b
=============== ================================ ==========================================
standard_normal N(0, 1)                          N(0, 1)   (Nielsen's network.py)
scaled_normal   N(0, 1/n_in)                     N(0, 1)   (Nielsen's network2.py)
he              N(0, 2/n_in)                     0         (for ReLU)
xavier          N(0, 2/(n_in + n_out))           0         (Glorot, for sigmoid/tanh)
=============== ================================ ==========================================

``"auto"`` (the default of :class:`~deltaprop.Network`) picks each activation's own family,
``Activation.init``: ``he`` for the ReLU family, ``xavier`` otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DeltapropError, lookup
from .checks import is_count

__all__ = ["INITIALIZERS", "initialize", "as_generator"]


def _standard_normal(n_out, n_in, rng, dtype):
    b = rng.standard_normal(n_out)
    W = rng.standard_normal((n_out, n_in))
    return W.astype(dtype), b.astype(dtype)


def _normal_weights(std):
    def init(n_out, n_in, rng, dtype):
        W = rng.standard_normal((n_out, n_in)) * std(n_out, n_in)
        return W.astype(dtype), np.zeros(n_out, dtype)

    return init


def _scaled_normal(n_out, n_in, rng, dtype):
    b = rng.standard_normal(n_out)
    W = rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)
    return W.astype(dtype), b.astype(dtype)


INITIALIZERS = {
    "standard_normal": _standard_normal,
    "scaled_normal": _scaled_normal,
    "he": _normal_weights(lambda n_out, n_in: math.sqrt(2.0 / n_in)),
    "xavier": _normal_weights(lambda n_out, n_in: math.sqrt(2.0 / (n_in + n_out))),
}
"""Every initialiser by name (``"auto"`` is resolved per layer by :func:`initialize`)."""

INIT_NAMES = ("auto", *INITIALIZERS)


def as_generator(seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from ``None``, an integer seed or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or is_count(seed):
        return np.random.default_rng(seed)
    raise DeltapropError(f"seed={seed!r} must be None, a non-negative integer or a numpy.random.Generator")


def check_init(init) -> str:
    """Return ``init`` if it names an initialiser or ``"auto"``; raise otherwise."""
    if init == "auto":
        return init
    lookup(INITIALIZERS, init, "initialiser", "init")
    return init


def initialize(init: str, n_out: int, n_in: int, activation, rng, dtype):
    """Return ``(W, b)`` for one layer drawn by the initialiser ``init`` (``"auto"``: ``activation.init``)."""
    if init == "auto":
        init = activation.init
    return lookup(INITIALIZERS, init, "initialiser", "init")(n_out, n_in, rng, np.dtype(dtype))
