"""Activation functions ``a = g(z)`` and their derivatives, in one registry keyed by name.

Arrays follow deltaprop's convention: rows are examples, so ``z`` and ``a`` have shape
``(m, n_l)`` and softmax normalises along ``axis=1``. Every method takes an optional ``out=``
buffer; the training loop passes preallocated buffers, so one step allocates nothing.

Elementwise activations give ``prime(z, a) = g'(z)``; BP1 and BP2 then multiply elementwise::

    delta = grad_a (.) g'(z)

Softmax is not elementwise: each output depends on every input of its row. BP1 then takes its
general form (003, eq. 36), a Jacobian-vector product ``delta_j = sum_k dC/da_k * da_k/dz_j``,
which :meth:`Activation.backward` computes for every activation.

>>> import numpy as np
>>> get_activation("sigmoid").forward(np.array([[0.0]]))
array([[0.5]])
"""

from __future__ import annotations

import numpy as np

from .errors import lookup

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]


def _buffer(like, out):
    return np.empty_like(like) if out is None else out


# NOTE: NumPy converts a Python float operand on every ufunc call, which costs about as much as
# the arithmetic on a batch of 10 examples; a 0-d array of the operand's own dtype is used as it
# is (and, unlike a float64 one, does not promote float32 arithmetic to float64).
_ONES = {np.dtype(t): np.array(1, t) for t in (np.float32, np.float64)}
for _one_array in _ONES.values():
    _one_array.flags.writeable = False


def _one(like):
    """The number 1 for arithmetic with the array ``like``."""
    return _ONES.get(like.dtype, 1.0)


class Activation:
    """An activation ``g``: ``forward`` gives ``g(z)``, ``prime`` gives ``g'(z)``.

    ``prime`` receives both ``z`` and ``a = g(z)``, because several derivatives are cheaper from
    the output the forward pass already computed (``sigma' = a (1 - a)``, ``tanh' = 1 - a^2``).
    """

    name: str = ""
    elementwise: bool = True

    def forward(self, z, out=None):
        """Return ``a = g(z)``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def prime(self, z, a, out=None):
        """Return ``g'(z)`` elementwise (only for elementwise activations)."""
        raise NotImplementedError(f"{type(self).__name__} must define prime()")

    def backward(self, z, a, grad_a, out=None, scratch=None):
        """Return ``dC/dz`` from ``dC/da``: ``grad_a (.) g'(z)`` for an elementwise ``g``.

        ``out`` may be ``grad_a`` itself (the product is then taken in place); ``scratch``, an
        optional buffer shaped like ``z``, receives ``g'(z)`` so nothing is allocated.
        """
        g_prime = self.prime(z, a, out=scratch)
        return np.multiply(grad_a, g_prime, out=out)

    def __repr__(self):
        return f"<activation {self.name}>"


# e^(-z) overflows to inf for very negative z, and 1 / (1 + inf) = 0 is the right limit of the
# sigmoid, so the overflow warning is silenced. (As a decorator, np.errstate costs half as much as
# a with-statement: it matters at a batch of 10.)
@np.errstate(over="ignore")
def _exp_of_minus(z, out):
    """Return ``e^(-z)`` computed into ``out``."""
    np.negative(z, out=out)
    return np.exp(out, out=out)


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z, out=None):
        # sigma(z) = 1 / (1 + e^(-z))
        out = _exp_of_minus(z, _buffer(z, out))
        np.add(out, _one(out), out=out)
        return np.reciprocal(out, out=out)

    def prime(self, z, a, out=None):
        # NOTE: sigma'(z) = sigma(z) (1 - sigma(z)) = a (1 - a), from the output: no exp needed.
        out = np.subtract(_one(a), a, out=out)
        out *= a
        return out


class Tanh(Activation):
    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=_buffer(z, out))

    def prime(self, z, a, out=None):
        # tanh'(z) = 1 - tanh(z)^2 = 1 - a^2
        out = _buffer(z, out)
        np.multiply(a, a, out=out)
        return np.subtract(_one(out), out, out=out)


class ReLU(Activation):
    name = "relu"

    def forward(self, z, out=None):
        if out is z:
            return np.maximum(z, 0.0, out=z)
        # NOTE: np.maximum against the scalar 0 takes a slow scalar loop (3x slower at 128 x 512
        # than against an array); zeroing the output buffer first is a memset.
        if out is None:
            out = np.zeros_like(z)
        else:
            out.fill(0)
        return np.maximum(z, out, out=out)

    def prime(self, z, a, out=None):
        # NOTE: relu'(0) is taken as 0 (the subgradient most libraries use).
        return np.greater(z, 0.0, out=_buffer(z, out))


class LeakyReLU(Activation):
    """``g(z) = z`` for ``z > 0``, ``slope * z`` otherwise (``slope = 0.01``)."""

    name = "leaky_relu"
    slope = 0.01

    def forward(self, z, out=None):
        # Written so that out may be z itself (feedforward computes a in place of z).
        out = _buffer(z, out)
        if out is not z:
            np.copyto(out, z)
        return np.multiply(out, self.slope, out=out, where=out < 0)

    def prime(self, z, a, out=None):
        out = _buffer(z, out)
        np.greater(z, 0.0, out=out)  # 1 where z > 0, else 0
        out *= 1.0 - self.slope
        out += self.slope  # 1 where z > 0, else slope
        return out


class Identity(Activation):
    name = "identity"

    def forward(self, z, out=None):
        if out is None:
            return z.copy()
        np.copyto(out, z)
        return out

    def prime(self, z, a, out=None):
        out = _buffer(z, out)
        out.fill(1.0)
        return out

    def backward(self, z, a, grad_a, out=None, scratch=None):
        # g'(z) = 1: dC/dz is dC/da itself, no product needed.
        if out is None:
            return grad_a.copy()
        if out is not grad_a:
            np.copyto(out, grad_a)
        return out


class Softmax(Activation):
    """``a_j = e^(z_j) / sum_k e^(z_k)`` along each row.

    Its Jacobian is ``da_k/dz_j = a_k (1[j = k] - a_j)``, so BP1 in its general form is::

        delta_j = sum_k dC/da_k a_k (1[j = k] - a_j) = a_j (dC/da_j - sum_k dC/da_k a_k)

    With the log-likelihood cost, ``dC/da_k = -y_k / a_k`` and this collapses to
    ``delta = a - y`` whenever each row of ``y`` sums to 1 (see :mod:`deltaprop.costs`).
    """

    name = "softmax"
    elementwise = False

    def forward(self, z, out=None):
        # Subtracting the row maximum leaves softmax unchanged and keeps exp from overflowing.
        out = _buffer(z, out)
        np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def prime(self, z, a, out=None):
        raise TypeError("softmax is not elementwise: use backward(z, a, grad_a), the general BP1")

    def backward(self, z, a, grad_a, out=None, scratch=None):
        # BP1, general form (003, eq. 36): delta = a (.) (grad_a - <grad_a, a>), row by row
        dot = np.einsum("ij,ij->i", grad_a, a)[:, None]  # (m, 1): sum_k dC/da_k a_k
        out = _buffer(z, out)
        np.subtract(grad_a, dot, out=out)
        out *= a
        return out


ACTIVATIONS: dict[str, Activation] = {
    g.name: g for g in (Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Identity(), Softmax())
}
"""Every activation by name; the API, the CLI, saved files and errors share this list."""


def get_activation(name, argument: str = "activation") -> Activation:
    """Return the activation called ``name`` (or ``name`` itself if it already is one).

    ``argument`` is the parameter name an error message should quote.
    """
    if isinstance(name, Activation):
        return name
    return lookup(ACTIVATIONS, name, "activation", argument)
