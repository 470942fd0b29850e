"""Reverse-mode automatic differentiation of any differentiable circuit (002, 004), in NumPy.

A :class:`Tensor` records the operation that made it; ``backward()`` then visits the graph once,
from the result back, applying one small chain rule per operation and summing over every path:
the gradient of ``f: R^l -> R`` costs a constant factor of one evaluation of ``f``, where finite
differences cost ``l`` evaluations. Applied twice, it gives Hessian-vector products at the same
price (:func:`hvp`).

>>> from deltaprop.autodiff import Tensor
>>> a, b, c = Tensor(2.0), Tensor(-3.0), Tensor(10.0)
>>> L = c * (a + 2 * b)          # 002's toy circuit: d = 2b, e = a + d, L = c e
>>> L.backward()
>>> float(a.grad), float(b.grad), float(c.grad)   # c, 2c, a + 2b
(10.0, 20.0, -4.0)

The functional API (:func:`grad`, :func:`value_and_grad`, :func:`vjp`, :func:`hvp`,
:func:`hessian`) differentiates Python functions by reverse mode, and :func:`jvp` by forward
mode (one tangent pushed forward beside the values); :func:`network_cost` builds a
:class:`~deltaprop.Network`'s cost as a graph, so its gradients can be compared with
``Network.backprop``; :func:`to_dot` draws a graph.
"""

# Tensor imports none of the other modules: ops attaches its operators and methods, and engine
# its backward() and zero_grad(). Importing them here (first) makes every Tensor complete.
from . import engine, ops  # noqa: F401
from .check import check_grads, numerical_grad
from .dot import to_dot
from .functional import grad, hessian, hvp, jvp, value_and_grad, vjp
from .network import NetworkGraph, network_cost
from .ops import cos, exp, log, relu, sigmoid, sin, softmax, tanh
from .tensor import Tensor

__all__ = [
    "NetworkGraph",
    "Tensor",
    "check_grads",
    "cos",
    "exp",
    "grad",
    "hessian",
    "hvp",
    "jvp",
    "log",
    "network_cost",
    "numerical_grad",
    "relu",
    "sigmoid",
    "sin",
    "softmax",
    "tanh",
    "to_dot",
    "value_and_grad",
    "vjp",
]
