"""Small synthetic data sets, generated from a seed: xor, two spirals, a noisy sine.

Each returns ``(X, y)`` with ``X`` of shape ``(n, n_features)``; ``xor`` and ``spirals`` give
integer class labels ``(n,)``, ``sine`` gives regression targets ``(n, 1)``.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_non_negative, check_positive
from ..core.initializers import as_generator

__all__ = ["sine", "spirals", "xor"]


def xor(n: int = 400, noise: float = 0.0, seed=0, dtype=np.float32):
    """Points uniform in ``[-1, 1]^2``, labelled 1 where exactly one coordinate is positive.

    No single line separates the classes: a network needs a hidden layer.

    >>> X, y = xor(4, seed=0)
    >>> X.shape, y.dtype
    ((4, 2), dtype('int64'))
    """
    n, noise, rng = check_positive(n, "n", integer=True), check_non_negative(noise, "noise"), as_generator(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    X += noise * rng.standard_normal(X.shape)
    return X.astype(dtype), y


def spirals(n: int = 400, noise: float = 0.05, turns: float = 1.5, seed=0, dtype=np.float32):
    """Two interleaved spirals in the unit disc, ``n // 2`` points each (labels 0 and 1).

    Spiral ``k`` is ``r (cos(t + k pi), sin(t + k pi))`` with ``r = t / (2 pi turns)``.
    """
    n, noise, rng = check_positive(n, "n", integer=True), check_non_negative(noise, "noise"), as_generator(seed)
    turns = check_positive(turns, "turns")
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 2 * np.pi * turns  # sqrt: even density along the arm
    r = t / (2 * np.pi * turns)
    angle = t + np.pi * y
    X = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) + noise * rng.standard_normal((n, 2))
    return X.astype(dtype), y.astype(np.int64)


def sine(n: int = 400, noise: float = 0.1, seed=0, dtype=np.float32):
    """Regression: ``x`` uniform in ``[-pi, pi]``, target ``sin(x)`` plus Gaussian noise of std ``noise``."""
    n, noise, rng = check_positive(n, "n", integer=True), check_non_negative(noise, "noise"), as_generator(seed)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    y = np.sin(x) + noise * rng.standard_normal((n, 1))
    return x.astype(dtype), y.astype(dtype)
