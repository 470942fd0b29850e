"""Derivatives of Python functions, with the names users know from JAX and HIPS autograd.

``f`` is any function of Tensors built from the operations of :mod:`deltaprop.autodiff.ops`.
Called with arrays or numbers, these functions return arrays. Called with Tensors -- from inside
another derivative -- they return Tensors whose graphs stay connected, so derivatives compose:
:func:`hvp` is literally ``grad`` of ``grad(f)(x) . v``, and :func:`hessian` applies ``vjp`` to
``grad(f)``, as in HIPS autograd.

>>> import numpy as np
>>> f = lambda x: (x ** 3).sum()
>>> grad(f)(np.array([1.0, 2.0]))        # 3 x^2
array([ 3., 12.])
>>> hvp(f, np.array([1.0, 2.0]), np.array([1.0, 0.0]))  # diag(6 x) v
array([6., 0.])

:func:`jvp` is forward mode, the other way round: each operation pushes a tangent forward
beside its value, so one pass gives ``J v`` for one direction ``v``.
"""

from __future__ import annotations

import functools

import numpy as np

from ..core.checks import is_count
from ..errors import DeltapropError, ShapeError
from .engine import backpropagate, make_seed
from .tensor import Tensor, _float_array, forward_mode, graph_input

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "hvp", "hessian"]


def _argnums(argnums, n_args: int) -> tuple:
    if type(argnums) is int and 0 <= argnums < n_args:  # the usual case, without the general checks
        return (argnums,)
    items = argnums if isinstance(argnums, tuple) else (argnums,)
    for i in items:
        if not is_count(i, minimum=-n_args) or i >= n_args:
            raise DeltapropError(
                f"argnums={argnums!r} does not name arguments of a call with {n_args} positional argument(s); "
                f"use an int or a tuple of ints in [0, {n_args})"
            )
    return tuple(int(i) % n_args for i in items)


_depth = 0  # how many functional calls are evaluating their ``f`` right now (not thread-safe)


def _trace(f, args, kwargs, argnums):
    """Call ``f`` with the differentiated arguments replaced by fresh graph inputs.

    An array or number becomes a new leaf Tensor; a Tensor (a nested call) gets a new node
    whose gradient flows on into it, so the caller's graph stays connected. The call is
    *nested* -- its gradients are recorded as graphs and returned as Tensors -- when an argument
    is a Tensor or when it runs inside another derivative's ``f``: there ``f`` may close over
    the outer derivative's inputs (``grad(lambda x: x * y)`` with ``y`` an outer Tensor).
    """
    global _depth
    inputs = [graph_input(args[i]) if isinstance(args[i], Tensor) else Tensor(args[i]) for i in argnums]
    call_args = list(args)
    for i, x in zip(argnums, inputs):
        call_args[i] = x
    nested = _depth > 0 or any(isinstance(args[i], Tensor) for i in argnums)
    _depth += 1
    try:
        ans = f(*call_args, **kwargs)
    finally:
        _depth -= 1
    if not isinstance(ans, Tensor):  # f ignored its inputs and returned a constant
        ans = Tensor(ans, requires_grad=False)
    return inputs, ans, nested


def _pullback(ans: Tensor, inputs, g, nested: bool, caller: str) -> tuple:
    """The gradients of ``<g, ans>`` with respect to ``inputs``; zeros for inputs ``ans`` ignores."""
    create_graph = nested or isinstance(g, Tensor)
    seed = make_seed(ans, g, create_graph, caller)
    found = backpropagate(ans, seed, create_graph=create_graph, store=False, targets=inputs) if ans.requires_grad else {}
    grads = []
    for x in inputs:
        gx = found.get(x)
        if gx is None:
            zeros = np.zeros(x.shape, x.dtype)
            gx = Tensor(zeros, requires_grad=False) if create_graph else zeros
        grads.append(gx if create_graph else _unpacked(gx))
    return tuple(grads)


def _unpacked(array):
    """A 0-d array as a NumPy scalar (a float), any other array as it is."""
    return array[()] if array.ndim == 0 else array


def _value(ans: Tensor, nested: bool):
    return ans if nested else _unpacked(ans.data)


def vjp(f, *args):
    """Return ``(f(*args), pullback)``: ``pullback(g)`` gives ``g^T J`` for each argument.

    ``J`` is the Jacobian of ``f`` with respect to each argument; ``pullback(g)`` returns a tuple
    with one gradient per argument, each shaped like it, and may be called many times (each call
    is one backward pass over the recorded graph).

    >>> value, pullback = vjp(lambda x: x * x, np.array([1.0, 2.0, 3.0]))
    >>> pullback(np.array([1.0, 0.0, 1.0]))[0]  # J = diag(2 x)
    array([2., 0., 6.])
    """
    inputs, ans, nested = _trace(f, args, {}, tuple(range(len(args))))

    def pullback(g):
        return _pullback(ans, inputs, g, nested, "vjp's pullback")

    return _value(ans, nested), pullback


def value_and_grad(f, argnums=0):
    """Return a function computing ``(f(*args), gradient)``; ``f`` must return one number.

    ``argnums`` (an int or a tuple of ints) picks the differentiated positional arguments; with
    a tuple the gradient is a tuple too.
    """

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        return _value_and_grad(f, argnums, args, kwargs)

    return value_and_grad_f


def _value_and_grad(f, argnums, args, kwargs):
    """``value_and_grad(f, argnums)(*args, **kwargs)``, without building the wrapper (hvp calls it directly)."""
    nums = _argnums(argnums, len(args))
    inputs, ans, nested = _trace(f, args, kwargs, nums)
    if ans.size != 1:
        raise ShapeError(
            f"grad only applies to functions returning one number; {getattr(f, '__name__', 'f')} "
            f"returned shape {ans.shape}. Reduce it (e.g. .sum()) or use vjp for a vector-valued function"
        )
    grads = _pullback(ans, inputs, None, nested, "grad")
    return _value(ans, nested), grads if isinstance(argnums, tuple) else grads[0]


def grad(f, argnums=0):
    """Return a function computing the gradient of ``f``, a function returning one number.

    >>> grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (np.float64(4.0), np.float64(3.0))
    """
    value_and_grad_f = value_and_grad(f, argnums)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        return value_and_grad_f(*args, **kwargs)[1]

    return grad_f


def jvp(f, x, v):
    """Return ``(f(x), J v)``: the value of ``f`` and its directional derivative along ``v``, by forward mode.

    One evaluation of ``f`` carries, beside every value, its tangent -- its derivative along ``v``
    -- computed at once by each operation's tangent rule (:mod:`deltaprop.autodiff.ops`) from its
    inputs' tangents; nothing is recorded for later and no backward pass runs. It costs a small
    constant factor of one evaluation, for one direction: the full gradient of ``f: R^l -> R``
    needs ``l`` such passes (one per basis vector), where reverse mode (:func:`grad`) needs one.
    That is why backpropagation is reverse mode.

    Parameters
    ----------
    f : function
        Takes Tensors and returns a Tensor (of any shape). Tensors that ``f`` makes itself are
        constants for forward mode: their tangent is zero.
    x : array_like, or a tuple of them for a function of several arguments
    v : array_like shaped like ``x`` (a tuple shaped like the tuple ``x``)
        The direction, or tangent.

    Returns
    -------
    value, tangent : numpy.ndarray
        ``f(x)`` and ``J v``, both shaped like ``f(x)`` (NumPy scalars for a one-number ``f``).

    >>> value, tangent = jvp(lambda x: (x * x).sum(), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    >>> float(value), float(tangent)       # f = x1^2 + x2^2; J v = 2 x . v
    (5.0, 2.0)
    """
    several = isinstance(x, (tuple, list))
    xs, vs = (tuple(x), v) if several else ((x,), (v,))
    if not isinstance(vs, (tuple, list)) or len(vs) != len(xs):
        raise DeltapropError(f"jvp: x is a tuple of {len(xs)} arguments, so v must be a tuple of {len(xs)} tangents")
    inputs, tangents = [], {}
    for i, (xi, vi) in enumerate(zip(xs, vs)):
        primal = Tensor(xi.data if isinstance(xi, Tensor) else xi, requires_grad=False)
        tangent = np.asarray(vi.data if isinstance(vi, Tensor) else vi, dtype=primal.dtype)
        if tangent.shape != primal.shape:
            where = f"v[{i}]" if several else "v"
            raise ShapeError(f"jvp: {where} has shape {tangent.shape} but x{f'[{i}]' if several else ''} has shape "
                             f"{primal.shape}; a tangent is shaped like its input")
        tangents[primal] = tangent
        inputs.append(primal)
    with forward_mode(tangents):
        ans = f(*inputs)
    if not isinstance(ans, Tensor):  # f ignored its inputs and returned a constant
        ans = Tensor(ans, requires_grad=False)
    tangent = tangents.get(ans)
    if tangent is None:
        tangent = np.zeros(ans.shape, ans.dtype)
    return _unpacked(ans.data), _unpacked(np.asarray(tangent))


def hvp(f, x, v):
    """Return the Hessian-vector product ``H v`` of ``f`` at ``x``, in O(N) like one gradient.

    ``H v`` is the gradient of the number ``grad f(x) . v`` (002: reverse mode applied twice),
    so the Hessian itself is never formed.

    Parameters
    ----------
    f : function
        Takes a Tensor shaped like ``x`` and returns a one-number Tensor.
    x, v : array_like of the same shape
    """
    x = x if isinstance(x, Tensor) else _float_array(x)
    v = np.asarray(v, dtype=x.dtype)
    if v.shape != x.shape:
        raise ShapeError(f"hvp: v has shape {v.shape} but x has shape {x.shape}; they must match")

    def grad_dot_v(x):  # a circuit of size O(N): the forward pass and its recorded backward pass
        return (_value_and_grad(f, 0, (x,), {})[1] * v).sum()  # grad(f)(x) . v

    return _value_and_grad(grad_dot_v, 0, (x,), {})[1]  # grad(grad_dot_v)(x)


def hessian(f, x):
    """Return the Hessian of ``f`` at ``x``, shape ``x.shape + x.shape``, for small ``x``.

    The gradient of ``f`` is recorded as a graph once (``vjp`` of ``grad(f)``); row ``i`` is
    then one backward pass over it with the seed ``e_i``: ``e_i^T H = (H e_i)^T``, a
    Hessian-vector product. Cost: ``x.size`` Hessian-vector products.
    """
    x = _float_array(x)
    _, pullback = vjp(grad(f), x)
    rows = np.empty((x.size, x.size), x.dtype)
    basis = np.zeros(x.size, x.dtype)
    for i in range(x.size):
        basis[i] = 1.0
        rows[i] = np.reshape(pullback(basis.reshape(x.shape))[0], -1)
        basis[i] = 0.0
    return rows.reshape(x.shape + x.shape)
