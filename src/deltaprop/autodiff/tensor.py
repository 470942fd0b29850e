"""``Tensor``: a value in a differentiable circuit, with one small chain rule per operation.

Each operation computes its output from its inputs' ``.data``, then records, for each input, a
rule that turns ``g`` -- the gradient of the final result with respect to the operation's output
-- into the gradient with respect to that input (a vector-Jacobian product)::

    multiply:  out = x * y        rules:  g * y,  g * x

:meth:`Tensor.backward` (see :mod:`deltaprop.autodiff.engine`) visits the graph once, from the
result back, and sums the contributions of every path (004: "summing over all paths").

Every rule has the signature ``rule(g, ans, *inputs)``, as in HIPS autograd: ``ans`` is the
operation's output and ``inputs`` are its inputs. In an ordinary backward pass they are NumPy
arrays. With ``create_graph=True`` they are the Tensors themselves, so the same rule, written
with operations that accept either (``*``, ``@``, ``.sum``, :func:`cos`, ...), records the
gradient as a graph of its own, which can be differentiated again. Broadcasting is handled once,
in the engine: a rule may return a gradient of the broadcast shape, and the engine sums it back
to its input's shape.

>>> x = Tensor(-4.0)
>>> z = 2 * x + 2 + x
>>> q = z.relu() + z * x
>>> q.backward()
>>> float(x.grad)  # d(z x)/dx = 6x + 2 where z < 0
-22.0
"""

from __future__ import annotations

import numpy as np

from ..errors import DeltapropError, ShapeError

__all__ = ["Tensor", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "softmax"]


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
    grad : numpy.ndarray or None
        After :meth:`backward`, the gradient of the differentiated result with respect to this
        value, the same shape as ``data``. Gradients **accumulate**: a second ``backward()``
        adds to ``grad`` (as in PyTorch and micrograd); reset with :meth:`zero_grad` or
        ``t.grad = None``.

    Notes
    -----
    ``==`` compares identity, not values (Tensors are graph nodes and serve as dict keys); compare
    ``t.data`` for values. NumPy's own functions do not accept Tensors (``np.exp(t)`` raises
    ``TypeError``): use the methods or this module's functions, which accept arrays too.
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

    def detach(self) -> "Tensor":
        """A constant Tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data, requires_grad=False, label=self.label)

    # -- arithmetic: the operators delegate to the functions below ------------------------------

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return subtract(self, other)

    def __rsub__(self, other):
        return subtract(other, self)

    def __mul__(self, other):
        return multiply(self, other)

    def __rmul__(self, other):
        return multiply(other, self)

    def __truediv__(self, other):
        return divide(self, other)

    def __rtruediv__(self, other):
        return divide(other, self)

    def __pow__(self, other):
        return power(self, other)

    def __rpow__(self, other):
        return power(other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return _make(np.negative(self.data), (self,), (_negated,), "neg")

    def __getitem__(self, index):
        return take(self, index)

    # -- elementwise functions ------------------------------------------------------------------

    def exp(self):
        """``e^x``; its derivative is its output: ``g * ans``."""
        return _make(np.exp(self.data), (self,), (_exp_rule,), "exp")

    def log(self):
        """Natural logarithm. Like NumPy, ``log(0) = -inf`` and ``log(x < 0) = nan`` (with NumPy's warning)."""
        return _make(np.log(self.data), (self,), (_log_rule,), "log")

    def sin(self):
        return _make(np.sin(self.data), (self,), (_sin_rule,), "sin")

    def cos(self):
        return _make(np.cos(self.data), (self,), (_cos_rule,), "cos")

    def tanh(self):
        return _make(np.tanh(self.data), (self,), (_tanh_rule,), "tanh")

    def sigmoid(self):
        """``1 / (1 + e^(-x))``, computed as :mod:`deltaprop.activations` does."""
        return _make(_np_sigmoid(self.data), (self,), (_sigmoid_rule,), "sigmoid")

    def relu(self):
        """``max(x, 0)``; its derivative at 0 is taken as 0, as in :mod:`deltaprop.activations`."""
        return _make(np.maximum(self.data, 0.0), (self,), (_relu_rule,), "relu")

    def leaky_relu(self, slope=0.01):
        """``x`` where ``x > 0``, ``slope * x`` elsewhere (``0 < slope < 1``)."""
        slope = np.asarray(slope, self.dtype)
        out = np.maximum(self.data, self.data * slope)

        def leaky_relu_rule(g, ans, x):
            return g * np.where(_raw(x) > 0, np.ones((), slope.dtype), slope)

        return _make(out, (self,), (leaky_relu_rule,), "leaky_relu")

    def clip(self, low, high):
        """``x`` limited to ``[low, high]``; the gradient passes where ``low <= x <= high``."""
        out = np.clip(self.data, low, high)

        def clip_rule(g, ans, x):
            inside = (_raw(x) >= low) & (_raw(x) <= high)
            return g * inside

        return _make(out, (self,), (clip_rule,), "clip")

    # -- reductions and shapes -------------------------------------------------------------------

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (an int, a tuple of ints or None for all); the gradient is ``g`` copied back along it."""
        axes = _axes(axis, self.shape, "sum")
        shape = self.shape

        def sum_rule(g, ans, x):
            return _expand(g, shape, axes, keepdims)

        return _make(np.sum(self.data, axis=axes, keepdims=keepdims), (self,), (sum_rule,), "sum")

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis``; the gradient is ``g / count`` copied back along it."""
        axes = _axes(axis, self.shape, "mean")
        shape = self.shape
        count = self.size if axes is None else int(np.prod([shape[a] for a in axes]))

        def mean_rule(g, ans, x):
            return _expand(g * (1.0 / count), shape, axes, keepdims)

        return _make(np.mean(self.data, axis=axes, keepdims=keepdims), (self,), (mean_rule,), "mean")

    def reshape(self, *shape):
        """The same values in another shape (``-1`` infers one size); accepts ints or one tuple."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        try:
            out = self.data.reshape(shape)
        except (ValueError, TypeError):
            raise ShapeError(
                f"reshape: cannot give a Tensor of shape {self.shape} ({self.size} values) the shape {tuple(shape)}"
            ) from None

        def reshape_rule(g, ans, x):
            return g.reshape(x.shape)

        return _make(out, (self,), (reshape_rule,), "reshape")

    def transpose(self, *axes):
        """Permute the axes (reverse them by default); accepts ints or one tuple, like NumPy."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        axes = tuple(range(self.ndim))[::-1] if not axes else tuple(axes)
        try:
            out = self.data.transpose(axes)
        except (ValueError, TypeError):
            raise ShapeError(
                f"transpose: axes={axes} is not a permutation of the {self.ndim} axes of a Tensor of shape {self.shape}"
            ) from None
        inverse = tuple(int(i) for i in np.argsort(axes))

        def transpose_rule(g, ans, x):
            return g.transpose(inverse)

        return _make(out, (self,), (transpose_rule,), "transpose")

    @property
    def T(self):
        """The transpose (axes reversed)."""
        return self.transpose()

    def broadcast_to(self, shape):
        """This Tensor repeated to ``shape`` by NumPy's broadcasting rules."""
        return broadcast_to(self, shape)


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


def identity(x: Tensor, requires_grad=True) -> Tensor:
    """A new node equal to ``x`` whose gradient passes straight to ``x`` (the functional API's inputs)."""
    out = _make(x.data, (x,), (_passed,), "input")
    out.requires_grad = requires_grad
    return out


# -- binary operations ---------------------------------------------------------------------------

_HINTS = {
    "@": "the last axis of the left operand must equal the second-to-last axis (or only axis) of the right",
}


def _binary(op, compute, x, y, rule_x, rule_y) -> Tensor:
    x, y = _lift(x, y), _lift(y, x)
    try:
        out = compute(x.data, y.data)
    except ValueError:
        hint = _HINTS.get(op, "they must broadcast together (equal sizes, or 1, axis by axis from the right)")
        raise ShapeError(f"{op}: cannot combine shapes {x.shape} and {y.shape}; {hint}") from None
    return _make(out, (x, y), (rule_x, rule_y), op)


def _passed(g, ans, *inputs):
    return g


def _negated(g, ans, *inputs):
    return -g


def add(x, y):
    """``x + y``: the gradient passes unchanged to both."""
    return _binary("+", np.add, x, y, _passed, _passed)


def subtract(x, y):
    """``x - y``."""
    return _binary("-", np.subtract, x, y, _passed, _negated)


def multiply(x, y):
    """``x * y``: each input's gradient is ``g`` times the other input."""
    return _binary("*", np.multiply, x, y, _multiply_rule_x, _multiply_rule_y)


def _multiply_rule_x(g, ans, x, y):
    return g * y


def _multiply_rule_y(g, ans, x, y):
    return g * x


def divide(x, y):
    """``x / y``: ``d/dy = -x / y^2 = -ans / y``."""
    return _binary("/", np.divide, x, y, _divide_rule_x, _divide_rule_y)


def _divide_rule_x(g, ans, x, y):
    return g / y


def _divide_rule_y(g, ans, x, y):
    return -g * ans / y  # -x / y^2 = -(x / y) / y, from the output


def power(x, y):
    """``x ** y``, differentiable in both: ``d/dx = y x^(y-1)``, ``d/dy = x^y ln x``.

    NOTE: ``d/dy`` needs ``x > 0`` (``ln x``); it is nan elsewhere, as ``x^y`` itself is not
    differentiable in ``y`` there. A constant exponent (``x ** 2``) never computes it.
    """
    return _binary("**", np.power, x, y, _power_rule_x, _power_rule_y)


def _power_rule_x(g, ans, x, y):
    return g * y * x ** (y - 1)


def _power_rule_y(g, ans, x, y):
    return g * ans * log(x)  # x^y ln x, from the output


def matmul(x, y):
    """``x @ y`` with NumPy's rules (1-D operands, stacks of matrices)."""
    return _binary("@", np.matmul, x, y, _matmul_rule_x, _matmul_rule_y)


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


# -- elementwise rules (g: incoming gradient, ans: the output, x: the input) ------------------------


def _exp_rule(g, ans, x):
    return g * ans  # (e^x)' = e^x, the output itself


def _log_rule(g, ans, x):
    return g / x


def _sin_rule(g, ans, x):
    return g * cos(x)


def _cos_rule(g, ans, x):
    return -g * sin(x)  # NOTE: the minus sign: cos' = -sin


def _tanh_rule(g, ans, x):
    return g * (1 - ans * ans)  # tanh' = 1 - tanh^2, from the output


def _sigmoid_rule(g, ans, x):
    return g * ans * (1 - ans)  # sigma' = sigma (1 - sigma), from the output


def _relu_rule(g, ans, x):
    return g * (_raw(x) > 0)  # a constant 0/1 mask, also when differentiating twice


def _np_sigmoid(x):
    # e^(-x) overflows to inf for very negative x, and 1 / inf = 0 is the right limit.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


# -- shapes and indexing ---------------------------------------------------------------------------


def _axes(axis, shape, op):
    """``axis`` as a tuple of non-negative ints (or None for every axis)."""
    if axis is None:
        return None
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = len(shape)
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ShapeError(
                f"{op}: axis={axis!r} does not fit a Tensor of shape {shape}; use ints in [{-ndim}, {ndim}) or None"
            )
    return tuple(int(a) % ndim for a in items)


def _expand(g, shape, axes, keepdims):
    """Copy ``g``, the gradient of a reduction over ``axes``, back along those axes to ``shape``."""
    if not keepdims:
        kept = tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))
        g = g.reshape(kept)
    return broadcast_to(g, shape)


def broadcast_to(x, shape):
    """``x`` repeated to ``shape`` (NumPy broadcasting); for a Tensor, the engine sums ``g`` back."""
    if not isinstance(x, Tensor):
        return np.broadcast_to(x, shape)
    try:
        out = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast a Tensor of shape {x.shape} to {tuple(shape)}") from None
    return _make(out, (x,), (_passed,), "broadcast_to")


def _plain_index(index) -> bool:
    """True for ints, slices, None and Ellipsis: each entry is selected at most once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        i is None or i is Ellipsis or isinstance(i, slice) or (isinstance(i, (int, np.integer)) and not isinstance(i, bool))
        for i in items
    )


def _unwrap_index(index):
    if isinstance(index, tuple):
        return tuple(_raw(i) for i in index)
    return _raw(index)


def take(x: Tensor, index) -> Tensor:
    """``x[index]`` for ints, slices, integer or boolean arrays; the gradient scatters ``g`` back."""
    index = _unwrap_index(index)
    try:
        out = x.data[index]
    except IndexError as error:
        raise ShapeError(f"indexing: {error} (a Tensor of shape {x.shape})") from None
    shape = x.shape

    def take_rule(g, ans, x):
        return _scatter(g, index, shape)

    return _make(out, (x,), (take_rule,), "index")


def _scatter(g, index, shape):
    """Zeros of ``shape`` with ``g`` added at ``index``: the transpose of indexing."""
    if isinstance(g, Tensor):
        return _make(_scatter(g.data, index, shape), (g,), (lambda g2, ans, t: g2[index],), "scatter")
    out = np.zeros(shape, dtype=g.dtype)
    if _plain_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)  # NOTE: a repeated integer index must add up; out[index] += g would not
    return out


# -- functions that accept a Tensor (recorded) or an array (plain NumPy) -----------------------------


def exp(x):
    """``e^x``, elementwise."""
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def log(x):
    """Natural logarithm, elementwise (NumPy's ``-inf`` at 0 and ``nan`` below)."""
    return x.log() if isinstance(x, Tensor) else np.log(x)


def sin(x):
    """Sine, elementwise."""
    return x.sin() if isinstance(x, Tensor) else np.sin(x)


def cos(x):
    """Cosine, elementwise."""
    return x.cos() if isinstance(x, Tensor) else np.cos(x)


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    return x.tanh() if isinstance(x, Tensor) else np.tanh(x)


def sigmoid(x):
    """``1 / (1 + e^(-x))``, elementwise."""
    return x.sigmoid() if isinstance(x, Tensor) else _np_sigmoid(x)


def relu(x):
    """``max(x, 0)``, elementwise."""
    return x.relu() if isinstance(x, Tensor) else np.maximum(x, 0.0)


def softmax(x, axis=-1):
    """``e^(x_j) / sum_k e^(x_k)`` along ``axis``, composed from ``exp``, ``sum`` and ``/``.

    The maximum along ``axis`` is subtracted first, as a constant: softmax does not change when
    the same number is subtracted from every input, so the gradient is exact, and ``exp`` cannot
    overflow.
    """
    if not isinstance(x, Tensor):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    shift = np.max(x.data, axis=axis, keepdims=True)
    e = (x - shift).exp()
    return e / e.sum(axis=axis, keepdims=True)
