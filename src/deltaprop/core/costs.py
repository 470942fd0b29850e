"""Cost functions, in one registry keyed by name.

Each cost knows the cost of one example ``C_x``, and deltaprop always reports the batch cost
``C``, the mean of ``C_x`` over the ``m`` rows of a batch. ``grad_a(a, y)`` is the per-example
gradient ``grad_a C_x`` (one row per example), which BP1 turns into ``delta^L``.

============== ====================================== ==========================
name           C_x                                    grad_a C_x
============== ====================================== ==========================
quadratic      1/2 ||a - y||^2            (003, 004)   a - y
squared_error  ||a - y||^2                (000, 001)   2 (a - y)
cross_entropy  -sum y ln a + (1-y) ln(1-a)    (002)   (a - y) / (a (1 - a))
log_likelihood -sum y ln a              (softmax)     -y / a
============== ====================================== ==========================

Shortcuts for BP1. For some pairs of output activation and cost, ``delta^L = grad_a C (.) g'(z)``
simplifies to ``k (a - y)``, which is cheaper and never divides by a saturated ``a``:

* ``sigmoid`` + ``cross_entropy``: ``(a-y)/(a(1-a)) * a(1-a) = a - y``;
* ``softmax`` + ``log_likelihood``: ``a_j (-y_j/a_j + sum_k y_k) = a_j - y_j`` *provided each row
  of y sums to 1* (one-hot labels or probability vectors);
* ``identity`` + ``quadratic``: ``a - y``; ``identity`` + ``squared_error``: ``2 (a - y)``.

``Cost.shortcut`` maps output-activation names to that ``k``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnknownNameError, lookup

__all__ = ["Cost", "COSTS", "get_cost", "sum_of_squares"]


class Cost:
    """A cost: ``value(a, y)`` is the batch mean of ``C_x``; ``grad_a(a, y)`` is ``grad_a C_x``."""

    name: str = ""
    shortcut: dict[str, float] = {}
    outputs: tuple[str, ...] | None = None
    """Output activations this cost is defined for (``None``: any)."""

    def per_example(self, a, y):
        """Return ``C_x`` for each row, shape ``(m,)``."""
        raise NotImplementedError(f"{type(self).__name__} must define per_example()")

    def value(self, a, y) -> float:
        """Return the batch cost ``C = mean_x C_x``."""
        return float(np.mean(self.per_example(a, y)))

    def total(self, a, y, scratch=None) -> float:
        """Return ``sum_x C_x`` over the batch; ``scratch`` (shaped like ``a``) may be overwritten.

        The training loop reports each batch's cost through this; subclasses override it with a
        form that reuses ``scratch`` and makes as few passes over the batch as possible.
        """
        return float(np.sum(self.per_example(a, y)))

    def grad_a(self, a, y, out=None):
        """Return ``grad_a C_x`` for each row, shape ``(m, n_L)``."""
        raise NotImplementedError(f"{type(self).__name__} must define grad_a()")

    def tensor(self, a, y):
        """``C_x`` for each row, built from the autodiff engine's operations on the Tensors ``a`` and ``y``."""
        raise UnknownNameError(f"cost {self.name!r} has no formula in Tensor operations, so the autodiff engine "
                               f"does not know it; define {type(self).__name__}.tensor(a, y)")

    def __repr__(self):
        return f"<cost {self.name}>"


def sum_of_squares(d) -> float:
    """``sum(d**2)`` as one BLAS dot over the memory of ``d``, in whatever order it is stored.

    ``ravel("K")`` makes no copy of a C- or F-contiguous array: the cheapest sum of squares NumPy offers.
    """
    flat = d.ravel("K")
    return float(np.dot(flat, flat))


class Quadratic(Cost):
    name = "quadratic"
    shortcut = {"identity": 1.0}

    def per_example(self, a, y):
        d = a - y
        return 0.5 * np.einsum("ij,ij->i", d, d)  # 1/2 ||a - y||^2

    def total(self, a, y, scratch=None):
        return 0.5 * sum_of_squares(np.subtract(a, y, out=scratch))

    def grad_a(self, a, y, out=None):
        return np.subtract(a, y, out=out)

    def tensor(self, a, y):
        d = a - y
        return 0.5 * (d * d).sum(axis=1)


class SquaredError(Cost):
    name = "squared_error"
    shortcut = {"identity": 2.0}

    def per_example(self, a, y):
        d = a - y
        return np.einsum("ij,ij->i", d, d)  # sum_j (a_j - y_j)^2

    def total(self, a, y, scratch=None):
        return sum_of_squares(np.subtract(a, y, out=scratch))

    def grad_a(self, a, y, out=None):
        out = np.subtract(a, y, out=out)
        out *= 2.0
        return out

    def tensor(self, a, y):
        d = a - y
        return (d * d).sum(axis=1)


def _eps(a) -> float:
    return float(np.finfo(a.dtype).eps) if a.dtype.kind == "f" else 1e-15


def _clip_probability(a):
    # Keep ln a and ln(1 - a) finite for a saturated output (a == 0 or 1 in floating point).
    eps = _eps(a)
    return np.clip(a, eps, 1.0 - eps)


class CrossEntropy(Cost):
    name = "cross_entropy"
    shortcut = {"sigmoid": 1.0}
    outputs = ("sigmoid", "softmax")

    def per_example(self, a, y):
        p = _clip_probability(a)
        return -np.sum(y * np.log(p) + (1.0 - y) * np.log1p(-p), axis=1)

    def grad_a(self, a, y, out=None):
        p = _clip_probability(a)
        return np.divide(a - y, p * (1.0 - p), out=out)

    def tensor(self, a, y):
        p = a.clip(_eps(a), 1.0 - _eps(a))
        return -(y * p.log() + (1 - y) * (1 - p).log()).sum(axis=1)


class LogLikelihood(Cost):
    """``C_x = -sum_j y_j ln a_j``: with one-hot ``y``, minus the log-probability of the label."""

    name = "log_likelihood"
    # NOTE: the softmax shortcut delta = a - y needs each row of y to sum to 1; deltaprop's
    # targets are one-hot rows, and Network validates that (see validation.as_targets).
    shortcut = {"softmax": 1.0}
    outputs = ("softmax", "sigmoid")

    def per_example(self, a, y):
        return -np.sum(y * np.log(_clip_probability(a)), axis=1)

    def total(self, a, y, scratch=None):
        eps = np.finfo(a.dtype).eps
        log_a = np.log(np.clip(a, eps, 1.0 - eps, out=scratch), out=scratch)  # as _clip_probability
        return -float(np.einsum("ij,ij->", y, log_a))  # -sum_x sum_j y_j ln a_j

    def grad_a(self, a, y, out=None):
        out = np.divide(y, _clip_probability(a), out=out)
        return np.negative(out, out=out)

    def tensor(self, a, y):
        return -(y * a.clip(_eps(a), 1.0 - _eps(a)).log()).sum(axis=1)


COSTS: dict[str, Cost] = {c.name: c for c in (Quadratic(), SquaredError(), CrossEntropy(), LogLikelihood())}
"""Every cost by name; the API, the CLI, saved files and errors share this list."""


def get_cost(name) -> Cost:
    """Return the cost called ``name`` (or ``name`` itself if it already is one)."""
    if isinstance(name, Cost):
        return name
    return lookup(COSTS, name, "cost", "cost")
