"""Check the engine's gradients against central differences, as HIPS autograd's ``check_grads`` does.

004's check of every analytic gradient: ``df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h``, in
float64, for every entry ``i`` (so keep the inputs small).
"""

from __future__ import annotations

import numpy as np

from ..core.gradcheck import relative_error
from .functional import grad
from .tensor import Tensor

__all__ = ["numerical_grad", "check_grads"]


def _value(f, args) -> float:
    out = f(*(Tensor(a, requires_grad=False) for a in args))
    return float(out.data if isinstance(out, Tensor) else out)


def numerical_grad(f, *args, argnums=0, h=1e-6) -> np.ndarray:
    """Central differences of ``f`` (returning one number) with respect to ``args[argnums]``."""
    args = [np.array(a, dtype=np.float64) for a in args]  # copies: the entries are perturbed in place
    flat = args[argnums].reshape(-1)
    estimate = np.empty(flat.size)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        f_plus = _value(f, args)
        flat[i] = saved - h
        f_minus = _value(f, args)
        flat[i] = saved
        estimate[i] = (f_plus - f_minus) / (2 * h)
    return estimate.reshape(args[argnums].shape)


def check_grads(f, *args, h=1e-6) -> float:
    """Return the worst relative error between ``grad(f)`` and central differences, over all arguments.

    The relative error is ``||analytic - numeric|| / (||analytic|| + ||numeric||)`` for each
    argument (:func:`deltaprop.core.gradcheck.relative_error`); 1e-6 or less means they agree.

    >>> check_grads(lambda x, y: (x.sin() * y).sum(), np.array([0.5, 1.0]), np.array(2.0)) < 1e-8
    True
    """
    args = [np.asarray(a, dtype=np.float64) for a in args]
    analytic = grad(f, argnums=tuple(range(len(args))))(*args)
    return max(
        relative_error(np.asarray(analytic[i]), numerical_grad(f, *args, argnums=i, h=h)) for i in range(len(args))
    )
