"""Activation functions ``a = g(z)`` and their derivatives, in one registry keyed by name.

An activation is one entry here, and one entry carries everything the rest of deltaprop asks of
it: its forward ``g``, its derivative ``g'`` (and, through :meth:`Activation.backward`, its BP1
form), the same function as operations of the autodiff engine (:meth:`Activation.tensor`), its
ONNX operator, its ``torch.nn`` module, its saturation rule and its default initialiser. The
training loop, ``gradcheck``, the command line, diagnostics, the ONNX export, the PyTorch state
dicts and the autodiff engine all read the registry; none keeps a table of its own.

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

from ..errors import UnknownNameError, lookup

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
    init: str = "xavier"
    """Initialiser family under ``init="auto"``: ``"he"`` for the ReLU family, ``"xavier"`` otherwise."""
    max_prime: float | None = None
    """The largest value of ``g'``, for activations that saturate (sigmoid, tanh): a unit is
    saturated when ``g'(z) < threshold * max_prime``. None: it does not saturate that way."""
    onnx: tuple = None
    """The ONNX operator and its attributes, ``("LeakyRelu", {"alpha": 0.01})``; ``()``: no node is
    needed (the identity); None: ONNX has no equivalent."""
    torch: tuple = None
    """The ``torch.nn`` module's class name and keyword arguments, ``("Softmax", {"dim": 1})``;
    ``()``: no module (the identity); None: PyTorch has no equivalent."""

    def forward(self, z, out=None):
        """Return ``a = g(z)``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def prime(self, z, a, out=None):
        """Return ``g'(z)`` elementwise (only for elementwise activations)."""
        raise NotImplementedError(f"{type(self).__name__} must define prime()")

    def tensor(self, z):
        """``g(z)`` built from the autodiff engine's operations on the Tensor ``z`` (its methods)."""
        raise UnknownNameError(f"activation {self.name!r} has no formula in Tensor operations, so the autodiff "
                               f"engine does not know it; define {type(self).__name__}.tensor(z)")

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
    max_prime = 0.25  # sigma'(0)
    onnx = ("Sigmoid", {})
    torch = ("Sigmoid", {})

    def tensor(self, z):
        return z.sigmoid()

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
    max_prime = 1.0  # tanh'(0)
    onnx = ("Tanh", {})
    torch = ("Tanh", {})

    def tensor(self, z):
        return z.tanh()

    def forward(self, z, out=None):
        return np.tanh(z, out=_buffer(z, out))

    def prime(self, z, a, out=None):
        # tanh'(z) = 1 - tanh(z)^2 = 1 - a^2
        out = _buffer(z, out)
        np.multiply(a, a, out=out)
        return np.subtract(_one(out), out, out=out)


class ReLU(Activation):
    name = "relu"
    init = "he"
    onnx = ("Relu", {})
    torch = ("ReLU", {})

    def tensor(self, z):
        return z.relu()

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
    init = "he"
    onnx = ("LeakyRelu", {"alpha": 0.01})
    torch = ("LeakyReLU", {"negative_slope": 0.01})  # PyTorch's default slope is also 0.01

    def tensor(self, z):
        return z.leaky_relu(self.slope)

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
    onnx = ()  # the Gemm output is the layer's output
    torch = ()  # the Linear is followed directly by the next one

    def tensor(self, z):
        return z

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
    ``delta = a - y`` whenever each row of ``y`` sums to 1 (see :mod:`deltaprop.core.costs`).
    """

    name = "softmax"
    elementwise = False
    onnx = ("Softmax", {"axis": 1})  # rows are examples in both
    torch = ("Softmax", {"dim": 1})

    def tensor(self, z):
        return z.softmax(axis=1)

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


class Softplus(Activation):
    """``g(z) = ln(1 + e^z)``, a smooth ReLU; its derivative is the sigmoid, ``g'(z) = sigma(z)``."""

    name = "softplus"
    init = "he"  # a ReLU-like unit: zero-mean inputs halve the signal's variance, as ReLU does
    onnx = ("Softplus", {})
    torch = ("Softplus", {})

    def forward(self, z, out=None):
        # NOTE: ln(1 + e^z) = max(z, 0) + ln(1 + e^(-|z|)): e^(-|z|) <= 1 never overflows, and
        # log1p keeps the small tail exact where ln(1 + e^z) would round 1 + tiny to 1.
        out = _buffer(z, out)
        relu = np.maximum(z, 0.0)
        np.abs(z, out=out)
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        out += relu
        return out

    def prime(self, z, a, out=None):
        return ACTIVATIONS["sigmoid"].forward(z, out=out)  # d/dz ln(1 + e^z) = e^z / (1 + e^z) = sigma(z)

    def tensor(self, z):
        # As forward: relu(z) + ln(1 + e^(-|z|)), with -|z| written as z - 2 relu(z).
        r = z.relu()
        return r + (1 + (z - 2 * r).exp()).log()


ACTIVATIONS: dict[str, Activation] = {
    g.name: g for g in (Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Identity(), Softmax(), Softplus())
}
"""Every activation by name; the API, the CLI, saved files and errors share this list."""


def get_activation(name, argument: str = "activation") -> Activation:
    """Return the activation called ``name`` (or ``name`` itself if it already is one).

    ``argument`` is the parameter name an error message should quote.
    """
    if isinstance(name, Activation):
        return name
    return lookup(ACTIVATIONS, name, "activation", argument)
