"""One example through BP1-BP4, every factor of the notes kept and checked by central differences.

For one input ``x`` and target ``y`` (layers ``l = 2 .. L``; ``layers[i]`` is layer ``l = i + 2``)::

    z^l     = W^l a^(l-1) + b^l,   a^l = g^l(z^l)                 feedforward
    dC/da^L = grad_a C                                            (the cost's derivative)
    dC/da^l = (W^(l+1))^T delta^(l+1)                             (002's third lemma)
    delta^l = dC/da^l (.) g'(z^l)                                 (BP1 for l = L, BP2 below it)
    dC/db^l = delta^l,   dC/dW^l = delta^l (a^(l-1))^T            (BP3, BP4)
    W^l <- W^l - eta dC/dW^l,   b^l <- b^l - eta dC/db^l          (one gradient step)

:func:`explain` returns every one of these, layer by layer, with an independent central-difference
estimate of each derivative: ``g'(z)`` from ``g(z +- h)``, ``dC/da`` and ``delta`` by shifting one
``a_j`` or ``z_j`` and running the forward pass on from there (the demon of 003), ``dC/db`` and
``dC/dW`` by shifting one parameter. Softmax is not elementwise: its ``g'`` is the Jacobian
``da_k/dz_j = a_k (1[j = k] - a_j)`` and BP1 takes its general form (003, eq. 36).

A bias may be *shared* by the units of a layer, as in the widely used 2-2-2 worked example (one
``b`` per layer): it is then one parameter added to every ``z_j``, so ``dC/db = sum_j delta_j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DeltapropError
from .checks import check_positive
from .gradcheck import numerical_gradient, relative_error

__all__ = ["Explanation", "LayerExplanation", "explain"]


@dataclass
class LayerExplanation:
    """The quantities of one layer for one example; vectors are 1-D arrays of length ``n_l``.

    The ``*_fd`` fields are central-difference estimates of the derivative beside them.
    """

    activation: str
    W: np.ndarray
    b: np.ndarray | float  # a float when the layer shares one bias
    z: np.ndarray
    a: np.ndarray
    g_prime: np.ndarray | None  # the diagonal of g'(z); None for softmax
    g_jacobian: np.ndarray | None  # softmax: da_k/dz_j, shape (n_l, n_l); None otherwise
    dC_da: np.ndarray
    delta: np.ndarray
    dC_db: np.ndarray | float
    dC_dW: np.ndarray
    g_prime_fd: np.ndarray
    dC_da_fd: np.ndarray
    delta_fd: np.ndarray
    dC_db_fd: np.ndarray | float
    dC_dW_fd: np.ndarray
    W_next: np.ndarray | None = None
    b_next: np.ndarray | float | None = None

    @property
    def shared_bias(self) -> bool:
        return np.ndim(self.b) == 0

    def errors(self) -> dict:
        """The relative error of each derivative against its estimate (``relative_error``)."""
        g = self.g_prime if self.g_jacobian is None else self.g_jacobian
        return {name: relative_error(np.asarray(exact, float), np.asarray(estimate, float))
                for name, exact, estimate in (("g'(z)", g, self.g_prime_fd), ("dC/da", self.dC_da, self.dC_da_fd),
                                              ("delta", self.delta, self.delta_fd), ("dC/db", self.dC_db, self.dC_db_fd),
                                              ("dC/dW", self.dC_dW, self.dC_dW_fd))}


@dataclass
class Explanation:
    """One example's forward pass, backward pass, checks and (with ``eta``) gradient step."""

    x: np.ndarray
    y: np.ndarray
    cost: float
    layers: list = field(default_factory=list)
    eta: float | None = None
    h: float = 1e-6

    @property
    def worst_error(self) -> float:
        return max(max(layer.errors().values()) for layer in self.layers)

    def to_dict(self) -> dict:
        """Plain lists and numbers, as ``deltaprop explain --json`` prints them.

        ``{"cost", "x", "y", "h", "eta", "layers": [{"activation", "W", "b", "z", "a", "g_prime"
        (or "g_jacobian" for softmax), "dC_da", "delta", "dC_db", "dC_dW", "W_next", "b_next"
        (with eta only), and the estimates "g_prime_fd" (or "g_jacobian_fd"), "dC_da_fd", "delta_fd",
        "dC_db_fd", "dC_dW_fd"}, ...]}``; a shared bias is a number in ``b``, ``dC_db``, ``b_next``.
        """
        layers = []
        for layer in self.layers:
            g_name = "g_prime" if layer.g_jacobian is None else "g_jacobian"
            entry = {"activation": layer.activation, "W": layer.W, "b": layer.b, "z": layer.z, "a": layer.a,
                     g_name: layer.g_prime if layer.g_jacobian is None else layer.g_jacobian,
                     "dC_da": layer.dC_da, "delta": layer.delta, "dC_db": layer.dC_db, "dC_dW": layer.dC_dW}
            if self.eta is not None:
                entry.update(W_next=layer.W_next, b_next=layer.b_next)
            entry.update({f"{g_name}_fd": layer.g_prime_fd, "dC_da_fd": layer.dC_da_fd, "delta_fd": layer.delta_fd,
                          "dC_db_fd": layer.dC_db_fd, "dC_dW_fd": layer.dC_dW_fd})
            layers.append({key: _plain(value) for key, value in entry.items()})
        return {"cost": self.cost, "x": _plain(self.x), "y": _plain(self.y), "h": self.h, "eta": self.eta,
                "layers": layers}


def _plain(value):
    """A NumPy array or number as nested lists of Python floats (a string stays as it is)."""
    if isinstance(value, str):
        return value
    array = np.asarray(value, dtype=float)
    return array.item() if array.ndim == 0 else array.tolist()


def explain(net, x, y, eta: float | None = None, h: float = 1e-6, shared_bias=None) -> Explanation:
    """Backpropagation on one example, every factor kept, each derivative next to its estimate.

    Parameters
    ----------
    net : Network
        Not modified: everything is computed in float64 on a copy.
    x, y : array_like
        One input ``(n_in,)`` and its target ``(n_L,)`` (or a class label).
    eta : float, optional
        With a learning rate, also the parameters after one gradient step.
    h : float
        The step of the central differences.
    shared_bias : list of bool, optional
        ``shared_bias[i]``: ``layers[i]`` has one bias for all its units (all entries of its ``b``
        must then be equal). Default: every unit has its own.

    Examples
    --------
    >>> import deltaprop
    >>> net = deltaprop.Network([deltaprop.Dense(1, 1, "sigmoid", W=[[1.0]], b=[0.0])], dtype="float64")
    >>> e = explain(net, [0.0], [1.0], eta=1.0)
    >>> float(e.cost), float(e.layers[0].delta[0])      # C = (0.5 - 1)^2 / 2; delta = (a - y) a (1 - a)
    (0.125, -0.125)
    """
    net = net.copy(dtype=np.float64)
    h = check_positive(h, "h")
    if eta is not None:
        eta = check_positive(eta, "eta")
    shared = [False] * len(net.layers) if shared_bias is None else [bool(s) for s in shared_bias]
    if len(shared) != len(net.layers):
        raise DeltapropError(f"shared_bias has {len(shared)} entries; the network has {len(net.layers)} layers")
    for i, (layer, s) in enumerate(zip(net.layers, shared)):
        if s and not np.all(layer.b == layer.b[0]):
            raise DeltapropError(f"shared_bias[{i}] is true but layers[{i}].b holds different values {layer.b.tolist()}")
    X = net._inputs(np.reshape(x, (1, -1)), "x")
    Y = net._targets(np.reshape(y, (1, -1)) if np.ndim(y) == 1 else np.reshape(y, (1,)), "y")
    gradient = net.backprop(X, Y)
    cost = net.cost_function.value(gradient.activations[-1], Y)
    explanation = Explanation(x=X[0], y=Y[0], cost=cost, eta=eta, h=h)
    probe = _Probe(net, X, Y, h)
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        g = layer.activation
        z, a = gradient.zs[i][0].copy(), gradient.activations[i + 1][0].copy()
        delta = gradient.deltas[i][0].copy()
        if i == last:
            dC_da = net.cost_function.grad_a(a[None, :], Y)[0]  # grad_a C
        else:
            dC_da = net.layers[i + 1].W.T @ gradient.deltas[i + 1][0]  # (W^(l+1))^T delta^(l+1)
        if g.elementwise:
            g_prime, g_jacobian = g.prime(z[None, :], a[None, :])[0], None
        else:
            g_prime, g_jacobian = None, _softmax_jacobian(a)
        dC_dW = gradient.weights[i].copy()  # delta a_prev^T (BP4)
        dC_db = float(delta.sum()) if shared[i] else delta.copy()  # (BP3); a shared bias feeds every z_j
        b = float(layer.b[0]) if shared[i] else layer.b.copy()
        step = LayerExplanation(
            activation=g.name, W=layer.W.copy(), b=b, z=z, a=a, g_prime=g_prime, g_jacobian=g_jacobian,
            dC_da=dC_da, delta=delta, dC_db=dC_db, dC_dW=dC_dW,
            g_prime_fd=probe.g_prime(i, z), dC_da_fd=probe.along_a(i, a), delta_fd=probe.along_z(i, z),
            dC_db_fd=probe.parameter(layer.b, shared[i]), dC_dW_fd=probe.parameter(layer.W, False),
        )
        if eta is not None:
            step.W_next = layer.W - eta * dC_dW  # W <- W - eta dC/dW
            step.b_next = b - eta * dC_db  # b <- b - eta dC/db
        explanation.layers.append(step)
    return explanation


def _softmax_jacobian(a):
    """``J[k, j] = da_k/dz_j = a_k (1[j = k] - a_j)``."""
    return np.diag(a) - np.outer(a, a)


class _Probe:
    """Central differences of the cost of one example, shifting one quantity and running on from there."""

    def __init__(self, net, X, Y, h):
        self.net, self.X, self.Y, self.h = net, X, Y, h

    def _cost_after(self, i, a):
        """The cost when ``layers[i]`` outputs ``a`` (``(1, n_l)``): the forward pass runs on from there."""
        for layer in self.net.layers[i + 1 :]:
            a = layer.activation.forward(a @ layer.W.T + layer.b)
        return self.net.cost_function.value(a, self.Y)

    def _central(self, fn, point):
        """``(fn(point + h e_j) - fn(point - h e_j)) / 2h`` for each entry ``j`` of the vector ``point``."""
        estimates = []
        for j in range(point.size):
            shift = np.zeros_like(point)
            shift[j] = self.h
            estimates.append((fn(point + shift) - fn(point - shift)) / (2 * self.h))
        return np.array(estimates)

    def g_prime(self, i, z):
        """The diagonal of ``g'(z)`` (elementwise) or the Jacobian ``J[k, j]`` (softmax)."""
        g = self.net.layers[i].activation
        columns = self._central(lambda zz: g.forward(zz[None, :])[0], z)  # row j: d a / d z_j
        return np.diag(columns).copy() if g.elementwise else columns.T

    def along_a(self, i, a):
        return self._central(lambda aa: self._cost_after(i, aa[None, :]), a)

    def along_z(self, i, z):
        g = self.net.layers[i].activation
        return self._central(lambda zz: self._cost_after(i, g.forward(zz[None, :])), z)

    def parameter(self, param, shared):
        """``dC/dparam`` entry by entry, or for a shared bias the one number ``dC/db`` (all entries together)."""
        net, X, Y = self.net, self.X, self.Y

        def cost():
            return net.cost_function.value(net._feedforward(X), Y)

        if not shared:
            return numerical_gradient(cost, param, np.arange(param.size), self.h).reshape(param.shape)
        saved = param.copy()
        param += self.h
        plus = cost()
        param[...] = saved - self.h
        minus = cost()
        param[...] = saved
        return (plus - minus) / (2 * self.h)
