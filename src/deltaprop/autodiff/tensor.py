"""``Tensor``: a value in a differentiable circuit that remembers the operation that made it.

An operation (see :mod:`deltaprop.autodiff.ops`) computes its output from its inputs' ``.data``
and records, for each input, the local chain rule that carries a gradient back to it.
:meth:`Tensor.backward` (see :mod:`deltaprop.autodiff.engine`) visits the graph once, from the
result back, and sums the contributions of every path (004: "summing over all paths").

This module is the core and imports nothing else of the engine: as with HIPS autograd's
``defvjp``, :mod:`~deltaprop.autodiff.ops` attaches the operations to Tensor as its operators
and methods, and :mod:`~deltaprop.autodiff.engine` attaches ``backward`` and ``zero_grad``.
Importing :mod:`deltaprop.autodiff` loads both.

>>> x = Tensor(-4.0)
>>> z = 2 * x + 2 + x
>>> q = z.relu() + z * x
>>> q.backward()
>>> float(x.grad)  # d(z x)/dx = 6x + 2 where z < 0
-22.0
"""

from __future__ import annotations

import contextlib

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

    def detach(self) -> Tensor:
        """A constant Tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data, requires_grad=False, label=self.label)

    # -- operations and differentiation -------------------------------------------------------
    #
    # This module imports none of the others, as HIPS autograd's core type does not: the
    # operators and methods that build graphs (``+``, ``*``, ``@``, ``[]``, ``exp``, ``relu``,
    # ``softmax``, ``sum``, ``reshape``, ``T``, ...) are defined, with their rules and docstrings,
    # in deltaprop.autodiff.ops, which attaches them to Tensor; ``backward`` and ``zero_grad`` are
    # defined in deltaprop.autodiff.engine, which attaches them. Importing deltaprop.autodiff
    # (which importing this module already does) loads both.


# -- building nodes ------------------------------------------------------------------------------


def _float_array(data) -> np.ndarray:
    array = np.asarray(data)
    if array.dtype.kind in "iub":
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise DeltapropError(f"a Tensor holds real numbers; got {data!r} of dtype {array.dtype}")
    return array


class _ForwardMode:
    """The tangents of the running :func:`~deltaprop.autodiff.jvp` (``{Tensor: array}``), or None."""

    tangents = None


@contextlib.contextmanager
def forward_mode(tangents: dict):
    """A context under which every new operation's output gets its tangent in ``tangents`` (not thread-safe).

    ``tangents`` starts with the inputs' tangents. Each jvp keeps its own dict, dropped when it
    returns: a Tensor made during one jvp carries nothing into the next, and a value without an
    entry (a constant, or a value of an enclosing jvp) has a zero tangent.
    """
    saved = _ForwardMode.tangents
    _ForwardMode.tangents = tangents
    try:
        yield tangents
    finally:
        _ForwardMode.tangents = saved


def _make(data, parents: tuple, rules: tuple, op: str, tangent_rules: tuple = None) -> Tensor:
    """The output node of an operation: its value, its inputs, and two rules per input.

    ``rules`` (reverse mode) carry the gradient of the output back to each input; ``tangent_rules``
    (forward mode) carry each input's tangent forward to the output. Outside forward mode the
    tangent rules are kept nowhere and cost nothing.
    """
    out = Tensor.__new__(Tensor)
    out.data = data if type(data) is np.ndarray else np.asarray(data)  # ufuncs give 0-d results as scalars
    out.grad = None
    out.label = None
    out.requires_grad = False
    for p in parents:  # a plain loop: cheaper than any() over a generator for one or two inputs
        if p.requires_grad:
            out.requires_grad = True
            break
    out._parents = parents
    out._rules = rules
    out._op = op
    tangents = _ForwardMode.tangents
    if tangents is not None:
        tangent = _push_tangents(out, tangent_rules, tangents)
        if tangent is not None:
            tangents[out] = tangent
    return out


def _push_tangents(out: Tensor, tangent_rules, tangents: dict):
    """The tangent of ``out``: the sum over its inputs with a tangent of ``J_input t_input`` (forward mode).

    The mirror of the backward pass's sum over paths; broadcasting is undone the other way round:
    a contribution of an input's (smaller) shape is broadcast to the output's.
    """
    total = None
    for i, parent in enumerate(out._parents):
        t = tangents.get(parent)
        if t is None:
            continue  # a constant: its tangent is zero
        if tangent_rules is None:
            raise DeltapropError(f"operation {out._op!r} has no tangent rule, so forward mode (jvp) cannot pass through it")
        contribution = tangent_rules[i](t, out.data, *(p.data for p in out._parents))
        if contribution.shape != out.data.shape:
            contribution = np.broadcast_to(contribution, out.data.shape)
        total = contribution if total is None else total + contribution
    return total


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
    out = _make(x.data, (x,), (passed,), "input", (passed,))
    out.requires_grad = requires_grad
    return out


def passed(g, ans, *inputs):
    """The rule of an operation whose output equals its input: the gradient (or tangent) passes unchanged."""
    return g

