"""``Tensor``: a value in a differentiable circuit that remembers the operation that made it.

An operation (see :mod:`deltaprop.autodiff.ops`) computes its output from its inputs' ``.data``
and records, for each input, the local chain rule that carries a gradient back to it.
:meth:`Tensor.backward` (see :mod:`deltaprop.autodiff.engine`) visits the graph once, from the
result back, and sums the contributions of every path (004: "summing over all paths").

>>> x = Tensor(-4.0)
>>> z = 2 * x + 2 + x
>>> q = z.relu() + z * x
>>> q.backward()
>>> float(x.grad)  # d(z x)/dx = 6x + 2 where z < 0
-22.0
"""

from __future__ import annotations

import numpy as np

from ..errors import DeltapropError

__all__ = ["Tensor"]


class Tensor:
    """A scalar or NumPy array that remembers the operation that made it.

    Parameters
    ----------
    data : float, array_like or Tensor
        The value. Integers and booleans become float64; float32 arrays stay float32. An array
        is wrapped without a copy.
    requires_grad : bool
        Whether gradients flow to this value (default True). Numbers and arrays that meet a
        Tensor in an operation become constants (``requires_grad=False``).
    label : str, optional
        A name shown by :func:`~deltaprop.autodiff.to_dot`.

    Attributes
    ----------
    data : numpy.ndarray
        The value (0-d for a scalar).
    grad : numpy.ndarray, Tensor or None
        After :meth:`backward`, the gradient of the differentiated result with respect to this
        value, the same shape as ``data`` (a Tensor after ``backward(create_graph=True)``); every
        value of the graph gets one, as in micrograd.
        Gradients **accumulate**: a second ``backward()`` adds to ``grad`` (as in PyTorch and
        micrograd); reset with :meth:`zero_grad` or ``t.grad = None``. An input's (a leaf's)
        ``grad`` is its own array; the ``grad`` of a computed value may share memory with
        another's, so copy it before modifying it in place.

    Notes
    -----
    ``==`` compares identity, not values (Tensors are graph nodes and serve as dict keys); compare
    ``t.data`` for values. NumPy's own functions do not accept Tensors (``np.exp(t)`` raises
    ``TypeError``): use the methods, or :func:`deltaprop.autodiff.exp` and its siblings, which
    accept arrays too.
    """

    __slots__ = ("data", "grad", "requires_grad", "label", "_parents", "_rules", "_op")
    __array_ufunc__ = None  # `array (op) Tensor` defers to the Tensor's reflected operator

    def __init__(self, data, requires_grad=True, label=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _float_array(data)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.label = label
        self._parents = ()
        self._rules = ()
        self._op = ""

    # -- description ---------------------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def op(self) -> str:
        """The operation that made this value (``""`` for an input)."""
        return self._op

    @property
    def parents(self) -> tuple:
        """The Tensors this value was computed from."""
        return self._parents

    def item(self) -> float:
        """The value of a one-element Tensor as a Python float."""
        return self.data.item()

    def __float__(self):
        return float(self.data)

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        fields = [np.array2string(self.data, precision=4, threshold=8)]
        if self.grad is not None:
            grad = self.grad.data if isinstance(self.grad, Tensor) else self.grad
            fields.append("grad=" + np.array2string(np.asarray(grad), precision=4, threshold=8))
        if self._op:
            fields.append(f"op={self._op!r}")
        if self.label is not None:
            fields.append(f"label={self.label!r}")
        return f"Tensor({', '.join(fields)})"

    # -- differentiation -------------------------------------------------------------------------

    def backward(self, gradient=None, create_graph=False) -> None:
        """Fill ``.grad`` of every value this Tensor depends on, by reverse-mode differentiation.

        Parameters
        ----------
        gradient : array_like or Tensor, optional
            The seed ``d(result)/d(self)``, same shape as ``self``. Needed unless ``self`` holds
            a single number (the seed is then 1).
        create_graph : bool
            Build the gradients as Tensors with graphs of their own, so that they can be
            differentiated again (second derivatives, Hessian-vector products).

        Gradients add to any ``.grad`` already present (see the class notes).
        """
        from .engine import backpropagate, make_seed

        if not self.requires_grad:
            raise DeltapropError(
                "backward() called on a Tensor that depends on no Tensor with requires_grad=True; "
                "create the inputs with Tensor(value) (requires_grad defaults to True)"
            )
        seed = make_seed(self, gradient, create_graph, "backward()")
        backpropagate(self, seed, create_graph=create_graph, store=True)

    def zero_grad(self) -> None:
        """Set ``.grad`` to None on this Tensor and every Tensor of its graph."""
        from .engine import topological_order

        for node in topological_order(self, follow_constants=True):
            node.grad = None

    def detach(self) -> Tensor:
        """A constant Tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data, requires_grad=False, label=self.label)

    # -- operations: each delegates to deltaprop.autodiff.ops, where its rule lives ------------

    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.subtract(self, other)

    def __rsub__(self, other):
        return ops.subtract(other, self)

    def __mul__(self, other):
        return ops.multiply(self, other)

    def __rmul__(self, other):
        return ops.multiply(other, self)

    def __truediv__(self, other):
        return ops.divide(self, other)

    def __rtruediv__(self, other):
        return ops.divide(other, self)

    def __pow__(self, other):
        return ops.power(self, other)

    def __rpow__(self, other):
        return ops.power(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.negative(self)

    def __getitem__(self, index):
        """Ints, slices, integer or boolean arrays, as NumPy indexes."""
        return ops.take(self, index)

    def exp(self):
        return ops.exp(self)

    def log(self):
        """Natural logarithm; like NumPy, ``-inf`` at 0 and ``nan`` below (with NumPy's warning)."""
        return ops.log(self)

    def sin(self):
        return ops.sin(self)

    def cos(self):
        return ops.cos(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def leaky_relu(self, slope=0.01):
        return ops.leaky_relu(self, slope)

    def clip(self, low, high):
        return ops.clip(self, low, high)

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis``: an int, a tuple of ints, or None for every axis."""
        return ops.reduce_sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis``: an int, a tuple of ints, or None for every axis."""
        return ops.reduce_mean(self, axis, keepdims)

    def reshape(self, *shape):
        """The same values in another shape; accepts ints or one tuple, like NumPy."""
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        """Permute the axes (reverse them by default); accepts ints or one tuple, like NumPy."""
        return ops.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes)

    @property
    def T(self):
        """The transpose (axes reversed)."""
        return ops.transpose(self, ())

    def broadcast_to(self, shape):
        """This Tensor repeated to ``shape`` by NumPy's broadcasting rules."""
        return ops.broadcast_to(self, shape)


# -- building nodes ------------------------------------------------------------------------------


def _float_array(data) -> np.ndarray:
    array = np.asarray(data)
    if array.dtype.kind in "iub":
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise DeltapropError(f"a Tensor holds real numbers; got {data!r} of dtype {array.dtype}")
    return array


def _make(data, parents: tuple, rules: tuple, op: str) -> Tensor:
    """The output node of an operation: its value, its inputs, and one rule per input."""
    out = Tensor.__new__(Tensor)
    out.data = data if type(data) is np.ndarray else np.asarray(data)  # ufuncs give 0-d results as scalars
    out.grad = None
    out.label = None
    out.requires_grad = any(p.requires_grad for p in parents)
    out._parents = parents
    out._rules = rules
    out._op = op
    return out


def _lift(value, like: Tensor) -> Tensor:
    """``value`` as a Tensor; a number or array meeting ``like`` becomes a constant.

    A Python number takes ``like``'s float dtype, so ``2 * x`` keeps a float32 ``x`` float32.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)):
        return Tensor(np.asarray(value, like.data.dtype), requires_grad=False)
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        array = array.astype(like.data.dtype)
    return Tensor(array, requires_grad=False)


def _raw(value):
    """The array inside a Tensor, or the array itself (rules use it for masks)."""
    return value.data if isinstance(value, Tensor) else value


def graph_input(x: Tensor, requires_grad=True) -> Tensor:
    """A new node equal to ``x`` whose gradient passes straight to ``x`` (the functional API's inputs)."""
    out = _make(x.data, (x,), (passed,), "input")
    out.requires_grad = requires_grad
    return out


def passed(g, ans, *inputs):
    """The rule of an operation whose output equals its input: the gradient passes unchanged."""
    return g


from . import ops  # imported last: the operations build on Tensor, and Tensor's methods call them
