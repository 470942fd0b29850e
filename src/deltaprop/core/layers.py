"""The fully connected layer ``z = W a_prev + b``, ``a = g(z)``."""

from __future__ import annotations

import numpy as np

from ..errors import DeltapropError, NonFiniteError, ShapeError
from .activations import Activation, get_activation
from .checks import is_count

__all__ = ["Dense"]


def _positive_int(value, argument):
    if not is_count(value, minimum=1):
        raise DeltapropError(f"{argument}={value!r} must be a positive integer")
    return int(value)


class Dense:
    """A fully connected layer of ``n_out`` neurons fed by ``n_in`` inputs.

    ``W`` has shape ``(n_out, n_in)`` as in the notes: ``W[j, k]`` (``w_jk``) joins neuron ``k``
    of the previous layer to neuron ``j`` of this one. ``b`` has shape ``(n_out,)``. Both are
    plain, writable NumPy arrays. Left as ``None``, they are drawn by the network's initialiser
    when the layer joins a :class:`~deltaprop.Network`.

    >>> layer = Dense(3, 2, "relu", W=[[1, 0, -1], [0, 1, 0]], b=[0, 0])
    >>> layer.W.shape, layer.activation.name
    ((2, 3), 'relu')
    """

    def __init__(self, n_in: int, n_out: int, activation="sigmoid", W=None, b=None):
        self.n_in = _positive_int(n_in, "n_in")
        self.n_out = _positive_int(n_out, "n_out")
        self.activation: Activation = get_activation(activation)
        self._W = self._b = None
        if W is not None:
            self.W = W
        if b is not None:
            self.b = b

    def _checked(self, value, shape, name):
        """A copy of ``value`` as a float array of ``shape``, in this layer's dtype once it has one."""
        array = np.array(value, copy=True)
        if array.dtype.kind not in "fiu":
            raise DeltapropError(f"{name} must hold numbers, got dtype {array.dtype}")
        if array.shape != shape:
            raise ShapeError(f"{name} must have shape {shape} for Dense({self.n_in}, {self.n_out}), got {array.shape}")
        if not np.isfinite(array).all():
            raise NonFiniteError(f"{name} holds NaN or infinity")
        current = self._W if self._W is not None else self._b
        return array.astype(current.dtype if current is not None else np.result_type(array.dtype, np.float32))

    @property
    def W(self) -> np.ndarray:
        """Weights, shape ``(n_out, n_in)``; assigning checks the shape and keeps the dtype."""
        return self._W

    @W.setter
    def W(self, value):
        # NOTE: `layer.W -= step` assigns the same, already updated array back: keep it, no copy.
        if value is not self._W:
            self._W = self._checked(value, (self.n_out, self.n_in), "W")

    @property
    def b(self) -> np.ndarray:
        """Biases, shape ``(n_out,)``; assigning checks the shape and keeps the dtype."""
        return self._b

    @b.setter
    def b(self, value):
        if value is not self._b:
            self._b = self._checked(value, (self.n_out,), "b")

    def astype(self, dtype):
        """Return a copy of this layer whose parameters have ``dtype``."""
        copy = Dense(self.n_in, self.n_out, self.activation)
        copy._W = None if self._W is None else self._W.astype(dtype, copy=True)
        copy._b = None if self._b is None else self._b.astype(dtype, copy=True)
        return copy

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, {self.activation.name!r})"
