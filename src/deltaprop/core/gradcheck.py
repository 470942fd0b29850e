"""Check backpropagation against finite differences (004): ``dC/dw ~ (C(w + h) - C(w - h)) / 2h``.

The check always runs in float64 on a copy of the network, so the user's network is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_positive
from .initializers import as_generator

__all__ = ["gradcheck", "GradcheckResult", "relative_error", "numerical_gradient"]


def relative_error(analytic, numeric) -> float:
    """``||analytic - numeric|| / (||analytic|| + ||numeric||)``, 0 when both are 0.

    A norm over the whole array, so a gradient entry that is 0 up to rounding cannot blow the
    ratio up on its own.
    """
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denominator == 0 else float(np.linalg.norm(analytic - numeric) / denominator)


def numerical_gradient(cost, param, index, h: float) -> np.ndarray:
    """Central differences of ``cost()`` with respect to ``param.flat[i]`` for each ``i`` in ``index``."""
    flat = param.reshape(-1)  # a view: perturbing it perturbs the parameter
    estimates = np.empty(len(index))
    for j, i in enumerate(index):
        saved = flat[i]
        flat[i] = saved + h
        c_plus = cost()
        flat[i] = saved - h
        c_minus = cost()
        flat[i] = saved
        estimates[j] = (c_plus - c_minus) / (2 * h)
    return estimates


@dataclass
class GradcheckResult:
    """Worst relative error per parameter array, keyed ``"W[i]"`` and ``"b[i]"`` for ``layers[i]``."""

    errors: dict
    tolerance: float

    @property
    def worst(self) -> float:
        return max(self.errors.values())

    @property
    def passed(self) -> bool:
        return self.worst <= self.tolerance

    def __bool__(self):
        return self.passed

    def __str__(self):
        lines = [f"{name:>8}  {err:.3e}" for name, err in self.errors.items()]
        verdict = "passed" if self.passed else "FAILED"
        return "\n".join(lines + [f"worst {self.worst:.3e} ({verdict}, tolerance {self.tolerance:.0e})"])


def gradcheck(net, X, Y, h: float = 1e-6, tolerance: float = 1e-6, max_entries=None, seed=0) -> GradcheckResult:
    """Compare ``net.backprop(X, Y)`` with central differences of ``net.cost(X, Y)`` in float64.

    Parameters
    ----------
    net : Network
        Not modified: the check runs on a float64 copy.
    X, Y : arrays
        A batch, as ``Network.cost`` takes it.
    h : float
        Finite-difference step.
    tolerance : float
        ``passed`` is true when every relative error is at most this.
    max_entries : int, optional
        Check at most this many randomly chosen entries per parameter array (all by default);
        each entry costs two forward passes.

    Examples
    --------
    >>> import numpy as np, deltaprop
    >>> net = deltaprop.Network([3, 4, 2], seed=0)
    >>> result = gradcheck(net, np.ones((5, 3)), np.zeros((5, 2)))
    >>> result.passed
    True
    """
    check_positive(h, "h")
    check_positive(tolerance, "tolerance")
    if max_entries is not None:
        max_entries = check_positive(max_entries, "max_entries", integer=True)
    net64 = net.copy(dtype=np.float64)
    x, y = net64._inputs(X), net64._targets(Y)
    gradient = net64.backprop(x, y)
    rng = as_generator(seed)

    def cost():
        return net64.cost_function.value(net64._feedforward(x), y)

    errors = {}
    for i, layer in enumerate(net64.layers):
        for name, param, analytic in (("W", layer.W, gradient.weights[i]), ("b", layer.b, gradient.biases[i])):
            index = np.arange(param.size)
            if max_entries is not None and param.size > max_entries:
                index = np.sort(rng.choice(param.size, max_entries, replace=False))
            numeric = numerical_gradient(cost, param, index, h)
            errors[f"{name}[{i}]"] = relative_error(analytic.reshape(-1)[index], numeric)
    return GradcheckResult(errors, tolerance)
