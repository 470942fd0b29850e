"""Every operation of the engine: its output, then its local chain rules, two per input.

A rule (reverse mode) turns ``g`` -- the gradient of the final result with respect to the
operation's output -- into the gradient with respect to one input (a vector-Jacobian product,
``g^T J``). A tangent rule (forward mode, :func:`~deltaprop.autodiff.jvp`) turns ``t``, the
tangent of one input, into its share of the output's tangent (a Jacobian-vector product, ``J t``)::

    multiply:  out = x * y        rules:  g * y,  g * x        tangent rules:  t * y,  t * x
    matmul:    out = x @ y        rules:  g @ y^T,  x^T @ g    tangent rules:  t @ y,  x @ t

For an elementwise operation the Jacobian is diagonal, ``J^T = J``, so one formula serves as both
rules (it is registered twice); linear operations on shapes (sum, reshape, transpose, indexing)
have a tangent rule that is the operation itself applied to ``t``.

Every rule has the signature ``rule(g, ans, *inputs)`` (``rule(t, ans, *inputs)``), as in HIPS
autograd: ``ans`` is the operation's output and ``inputs`` are its inputs. Both kinds are handed
to :func:`~deltaprop.autodiff.tensor._make` with the output, which records the first and, in
forward mode, applies the second at once. In an ordinary backward pass, and always in forward
mode, they are NumPy arrays. With ``create_graph=True`` they are the Tensors themselves, so the
same rule, written with operations that accept either (``*``, ``@``, ``.sum``, :func:`cos`, ...),
records the gradient as a graph of its own, which can be differentiated again. Broadcasting is
handled once, in the engine: a rule may return a gradient of the broadcast shape, and the engine
sums it back to its input's shape (forward mode broadcasts a tangent to the output's shape).

The public functions here (``exp``, ``log``, ..., ``softmax``) accept a Tensor (the operation is
recorded) or an array (plain NumPy), so one formula serves both.

This module also gives :class:`~deltaprop.autodiff.Tensor` its operators and methods (``x + y``,
``x @ y``, ``x[i]``, ``x.relu()``, ``x.sum()``, ...): Tensor imports no operation, and the end of
this module attaches them, as HIPS autograd's ``defvjp`` attaches rules to a core type.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.checks import is_count
from ..errors import ShapeError
from .tensor import Tensor, _lift, _make, _raw, passed

__all__ = ["exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "softmax"]


# -- arithmetic ------------------------------------------------------------------------------------

_HINTS = {
    "@": "the last axis of the left operand must equal the second-to-last axis (or only axis) of the right",
}


def _binary(op, compute, x, y, rules, tangent_rules) -> Tensor:
    """``compute(x, y)``, recorded with its two rules per input."""
    x, y = _lift(x, y), _lift(y, x)
    try:
        out = compute(x.data, y.data)
    except ValueError:
        hint = _HINTS.get(op, "they must broadcast together (equal sizes, or 1, axis by axis from the right)")
        raise ShapeError(f"{op}: cannot combine shapes {x.shape} and {y.shape}; {hint}") from None
    return _make(out, (x, y), rules, op, tangent_rules)


def _negated(g, ans, *inputs):
    return -g


def add(x, y):
    """``x + y``: the gradient passes unchanged to both."""
    return _binary("+", np.add, x, y, (passed, passed), (passed, passed))


def subtract(x, y):
    """``x - y``."""
    return _binary("-", np.subtract, x, y, (passed, _negated), (passed, _negated))


def negative(x: Tensor):
    """``-x``."""
    return _make(np.negative(x.data), (x,), (_negated,), "neg", (_negated,))


def multiply(x, y):
    """``x * y``: each input's gradient is ``g`` times the other input."""
    rules = (_multiply_rule_x, _multiply_rule_y)
    return _binary("*", np.multiply, x, y, rules, rules)  # elementwise: one formula for both modes


def _multiply_rule_x(g, ans, x, y):
    return g * y


def _multiply_rule_y(g, ans, x, y):
    return g * x


def divide(x, y):
    """``x / y``."""
    rules = (_divide_rule_x, _divide_rule_y)
    return _binary("/", np.divide, x, y, rules, rules)


def _divide_rule_x(g, ans, x, y):
    return g / y


def _divide_rule_y(g, ans, x, y):
    return -g * ans / y  # -x / y^2 = -(x / y) / y, from the output


def power(x, y):
    """``x ** y``, differentiable in both: ``d/dx = y x^(y-1)``, ``d/dy = x^y ln x``.

    NOTE: ``d/dy`` needs ``x > 0`` (``ln x``); it is nan elsewhere, where ``x^y`` is not
    differentiable in ``y``. A constant exponent (``x ** 2``) never computes it.
    """
    rules = (_power_rule_x, _power_rule_y)
    return _binary("**", np.power, x, y, rules, rules)


def _power_rule_x(g, ans, x, y):
    return g * y * x ** (y - 1)


def _power_rule_y(g, ans, x, y):
    return g * ans * log(x)  # x^y ln x, from the output


def matmul(x, y):
    """``x @ y`` with NumPy's rules (1-D operands, stacks of matrices)."""
    return _binary("@", np.matmul, x, y, (_matmul_rule_x, _matmul_rule_y), (_matmul_tangent_x, _matmul_tangent_y))


def _matmul_tangent_x(t, ans, x, y):
    return t @ y  # x @ y is linear in x: its tangent is the same product with x's tangent


def _matmul_tangent_y(t, ans, x, y):
    return x @ t


def _swap_last(v):
    """Transpose of the last two axes (``v.T`` for a matrix)."""
    if v.ndim == 2:
        return v.T
    return v.transpose(tuple(range(v.ndim - 2)) + (v.ndim - 1, v.ndim - 2))


def _column(v):
    """``v`` with a trailing axis of length 1: vectors become column matrices."""
    return v.reshape(v.shape + (1,))


def _matmul_rule_x(g, ans, x, y):
    # z = x @ y  =>  dx = g @ y^T, with NumPy's 1-D promotions undone; the engine sums any
    # broadcast batch axes back to x's shape.
    if y.ndim == 1:  # (..., k) @ (k,) -> (...): dx = g (outer) y
        return _column(g) * y
    if x.ndim == 1:  # (k,) @ (..., k, m) -> (..., m): dx = y g
        return (y @ _column(g)).reshape(y.shape[:-1])
    return g @ _swap_last(y)


def _matmul_rule_y(g, ans, x, y):
    # z = x @ y  =>  dy = x^T @ g
    if x.ndim == 1 and y.ndim == 1:  # dot product
        return g * x
    if x.ndim == 1:  # (k,) @ (..., k, m) -> (..., m): dy = x (outer) g
        return _column(x) * g.reshape(g.shape[:-1] + (1, g.shape[-1]))
    if y.ndim == 1:  # (..., n, k) @ (k,) -> (..., n): dy = x^T g
        return (_swap_last(x) @ _column(g)).reshape(g.shape[:-1] + (x.shape[-1],))
    return _swap_last(x) @ g


# -- elementwise functions: a Tensor records the operation, an array is plain NumPy -----------------


def exp(x):
    """``e^x``, elementwise."""
    if not isinstance(x, Tensor):
        return np.exp(x)
    return _make(np.exp(x.data), (x,), (_exp_rule,), "exp", (_exp_rule,))


def _exp_rule(g, ans, x):
    return g * ans  # (e^x)' = e^x, the output itself


def log(x):
    """Natural logarithm, elementwise. Like NumPy: ``log 0 = -inf``, ``log(x < 0) = nan`` (with NumPy's warning)."""
    if not isinstance(x, Tensor):
        return np.log(x)
    return _make(np.log(x.data), (x,), (_log_rule,), "log", (_log_rule,))


def _log_rule(g, ans, x):
    return g / x


def sin(x):
    """Sine, elementwise."""
    if not isinstance(x, Tensor):
        return np.sin(x)
    return _make(np.sin(x.data), (x,), (_sin_rule,), "sin", (_sin_rule,))


def _sin_rule(g, ans, x):
    return g * cos(x)


def cos(x):
    """Cosine, elementwise."""
    if not isinstance(x, Tensor):
        return np.cos(x)
    return _make(np.cos(x.data), (x,), (_cos_rule,), "cos", (_cos_rule,))


def _cos_rule(g, ans, x):
    return -g * sin(x)  # NOTE: the minus sign: cos' = -sin


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    if not isinstance(x, Tensor):
        return np.tanh(x)
    return _make(np.tanh(x.data), (x,), (_tanh_rule,), "tanh", (_tanh_rule,))


def _tanh_rule(g, ans, x):
    return g * (1 - ans * ans)  # tanh' = 1 - tanh^2, from the output


def _np_sigmoid(x):
    # As deltaprop.core.activations computes it. e^(-x) overflows to inf for very negative x, and
    # 1 / inf = 0 is the right limit.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def sigmoid(x):
    """``1 / (1 + e^(-x))``, elementwise."""
    if not isinstance(x, Tensor):
        return _np_sigmoid(x)
    return _make(_np_sigmoid(x.data), (x,), (_sigmoid_rule,), "sigmoid", (_sigmoid_rule,))


def _sigmoid_rule(g, ans, x):
    return g * ans * (1 - ans)  # sigma' = sigma (1 - sigma), from the output


def relu(x):
    """``max(x, 0)``, elementwise; its derivative at 0 is taken as 0, as in :mod:`deltaprop.core.activations`."""
    if not isinstance(x, Tensor):
        return np.maximum(x, 0.0)
    return _make(np.maximum(x.data, 0.0), (x,), (_relu_rule,), "relu", (_relu_rule,))


def _relu_rule(g, ans, x):
    return g * (_raw(x) > 0)  # a constant 0/1 mask, also when differentiating twice


def leaky_relu(x: Tensor, slope=0.01):
    """``x`` where ``x > 0``, ``slope * x`` elsewhere (``0 < slope < 1``)."""
    slope = np.asarray(slope, x.dtype)

    def leaky_relu_rule(g, ans, x):
        return g * np.where(_raw(x) > 0, np.ones((), slope.dtype), slope)

    return _make(np.maximum(x.data, x.data * slope), (x,), (leaky_relu_rule,), "leaky_relu", (leaky_relu_rule,))


def clip(x: Tensor, low, high):
    """``x`` limited to ``[low, high]``; the gradient passes where ``low <= x <= high``."""

    def clip_rule(g, ans, x):
        return g * ((_raw(x) >= low) & (_raw(x) <= high))

    return _make(np.clip(x.data, low, high), (x,), (clip_rule,), "clip", (clip_rule,))


def softmax(x, axis=-1):
    """``e^(x_j) / sum_k e^(x_k)`` along ``axis``, composed from ``exp``, ``sum`` and ``/``.

    The maximum along ``axis`` is subtracted first, as a constant: softmax does not change when
    the same number is subtracted from every input, so the gradient stays exact, and ``exp``
    cannot overflow.
    """
    shift = np.max(_raw(x), axis=axis, keepdims=True)
    e = exp(x - shift)
    return e / e.sum(axis=axis, keepdims=True)


# -- reductions ------------------------------------------------------------------------------------


def _axes(axis, shape, op):
    """``axis`` as a tuple of non-negative ints (or None for every axis)."""
    if axis is None:
        return None
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = len(shape)
    for a in items:
        if not is_count(a, minimum=-ndim) or a >= ndim:
            raise ShapeError(
                f"{op}: axis={axis!r} does not fit a Tensor of shape {shape}; use ints in [{-ndim}, {ndim}) or None"
            )
    return tuple(int(a) % ndim for a in items)


_SMALL = 1 << 16  # entries: below this, writing an array out is cheaper than NumPy's broadcast_to view


def _expand(g, shape, axes, keepdims):
    """Copy ``g``, the gradient of a reduction over ``axes``, back along those axes to ``shape``."""
    if not keepdims:
        kept = tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))
        g = g.reshape(kept)
    if type(g) is np.ndarray and math.prod(shape) <= _SMALL:
        # NOTE: np.broadcast_to costs ~7 us of Python-level checks, a gradient's whole budget at
        # small sizes; filling a fresh array of a few thousand entries costs well under 1 us.
        out = np.empty(shape, g.dtype)
        out[...] = g
        return out
    return broadcast_to(g, shape)


def reduce_sum(x: Tensor, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple of ints, or None for every axis); the gradient is ``g`` copied back along it."""
    axes, shape = _axes(axis, x.shape, "sum"), x.shape

    def sum_rule(g, ans, x):
        return _expand(g, shape, axes, keepdims)

    def sum_tangent(t, ans, x):
        return np.sum(t, axis=axes, keepdims=keepdims)  # linear: the sum of the tangents

    # the array's own method: the same sum as np.sum without its Python-level dispatch (~2 us)
    return _make(x.data.sum(axis=axes, keepdims=keepdims), (x,), (sum_rule,), "sum", (sum_tangent,))


def reduce_mean(x: Tensor, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple of ints, or None for every axis); the gradient is ``g / count`` copied back along it."""
    axes, shape = _axes(axis, x.shape, "mean"), x.shape
    count = x.size if axes is None else int(np.prod([shape[a] for a in axes]))

    def mean_rule(g, ans, x):
        return _expand(g * (1.0 / count), shape, axes, keepdims)

    def mean_tangent(t, ans, x):
        return np.mean(t, axis=axes, keepdims=keepdims)

    return _make(x.data.mean(axis=axes, keepdims=keepdims), (x,), (mean_rule,), "mean", (mean_tangent,))


# -- shapes and indexing ---------------------------------------------------------------------------


def reshape(x: Tensor, shape):
    """The same values in another shape (``-1`` infers one size)."""
    try:
        out = x.data.reshape(shape)
    except (ValueError, TypeError):
        raise ShapeError(f"reshape: cannot give a Tensor of shape {x.shape} ({x.size} values) the shape {tuple(shape)}") from None

    def reshape_rule(g, ans, x):
        return g.reshape(x.shape)

    def reshape_tangent(t, ans, x):
        return t.reshape(ans.shape)

    return _make(out, (x,), (reshape_rule,), "reshape", (reshape_tangent,))


def transpose(x: Tensor, axes):
    """Permute the axes (reverse them when ``axes`` is empty)."""
    axes = tuple(range(x.ndim))[::-1] if not axes else tuple(axes)
    try:
        out = x.data.transpose(axes)
    except (ValueError, TypeError):
        raise ShapeError(f"transpose: axes={axes} is not a permutation of the {x.ndim} axes of a Tensor of shape {x.shape}") from None
    inverse = tuple(int(i) for i in np.argsort(axes))

    def transpose_rule(g, ans, x):
        return g.transpose(inverse)

    def transpose_tangent(t, ans, x):
        return t.transpose(axes)

    return _make(out, (x,), (transpose_rule,), "transpose", (transpose_tangent,))


def broadcast_to(x, shape):
    """``x`` repeated to ``shape`` (NumPy broadcasting); for a Tensor, the engine sums ``g`` back."""
    if not isinstance(x, Tensor):
        return np.broadcast_to(x, shape)
    try:
        out = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast a Tensor of shape {x.shape} to {tuple(shape)}") from None
    return _make(out, (x,), (passed,), "broadcast_to", (passed,))  # forward mode broadcasts the tangent itself


def _plain_index(index) -> bool:
    """True for ints, slices, None and Ellipsis: each entry is selected at most once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        i is None or i is Ellipsis or isinstance(i, slice) or is_count(i, minimum=-np.inf)
        for i in items
    )


def take(x: Tensor, index):
    """``x[index]`` for ints, slices, integer or boolean arrays; the gradient scatters ``g`` back."""
    index = tuple(_raw(i) for i in index) if isinstance(index, tuple) else _raw(index)
    try:
        out = x.data[index]
    except IndexError as error:
        raise ShapeError(f"indexing: {error} (a Tensor of shape {x.shape})") from None
    shape = x.shape

    def take_rule(g, ans, x):
        return _scatter(g, index, shape)

    def take_tangent(t, ans, x):
        return t[index]

    return _make(out, (x,), (take_rule,), "index", (take_tangent,))


def _scatter(g, index, shape):
    """Zeros of ``shape`` with ``g`` added at ``index``: the transpose of indexing."""
    if isinstance(g, Tensor):
        return _make(_scatter(g.data, index, shape), (g,), (lambda g2, ans, t: g2[index],), "scatter",
                     (lambda t, ans, g: _scatter(t, index, shape),))
    out = np.zeros(shape, dtype=g.dtype)
    if _plain_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)  # NOTE: a repeated integer index must add up; out[index] += g would not
    return out


# -- Tensor's operators and methods ------------------------------------------------------------------
# Tensor (deltaprop.autodiff.tensor) imports nothing of this module; the operations attach
# themselves here. A function whose signature already reads as a method (its Tensor first) is
# attached as it is; the reflected operators and the methods that take their arguments as NumPy's
# do are small adapters.


def _reflected(name, op, symbol):
    """The reflected operator ``other (symbol) self``, for a number or array on the left."""

    def method(self, other):
        return op(other, self)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``other {symbol} self``, for a number or array on the left (see :func:`{op.__name__}`)."
    return method


def _getitem(self, index):
    """``self[index]``: ints, slices, integer or boolean arrays, as NumPy indexes (see :func:`take`)."""
    return take(self, index)


def _shape_argument(args):
    """NumPy's two spellings, ``f(2, 3)`` and ``f((2, 3))``, as one tuple."""
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _reshape_method(self, *shape):
    """The same values in another shape; accepts ints or one tuple, like NumPy (``-1`` infers one size)."""
    return reshape(self, _shape_argument(shape))


def _transpose_method(self, *axes):
    """Permute the axes (reverse them by default); accepts ints or one tuple, like NumPy."""
    return transpose(self, _shape_argument(axes))


def _transposed(self):
    """The transpose (axes reversed)."""
    return transpose(self, ())


def _attach() -> None:
    """Make the operations of this module Tensor's operators and methods."""
    methods = {
        "__add__": add,
        "__sub__": subtract,
        "__mul__": multiply,
        "__truediv__": divide,
        "__pow__": power,
        "__matmul__": matmul,
        "__neg__": negative,
        "__getitem__": _getitem,
        "exp": exp,
        "log": log,
        "sin": sin,
        "cos": cos,
        "tanh": tanh,
        "sigmoid": sigmoid,
        "relu": relu,
        "leaky_relu": leaky_relu,
        "softmax": softmax,
        "clip": clip,
        "sum": reduce_sum,
        "mean": reduce_mean,
        "reshape": _reshape_method,
        "transpose": _transpose_method,
        "T": property(_transposed),
        "broadcast_to": broadcast_to,
    }
    for name, op, symbol in (
        ("__radd__", add, "+"),
        ("__rsub__", subtract, "-"),
        ("__rmul__", multiply, "*"),
        ("__rtruediv__", divide, "/"),
        ("__rpow__", power, "**"),
        ("__rmatmul__", matmul, "@"),
    ):
        methods[name] = _reflected(name, op, symbol)
    for name, method in methods.items():
        setattr(Tensor, name, method)


_attach()
