"""Optimisers: how a step turns the gradient from backpropagation into new weights.

:meth:`Network.fit` computes, for each batch of ``m`` examples, ``scale * sum_x`` of the
per-example gradients with ``scale = optimizer.gradient_scale / m`` and then calls
:meth:`Optimizer.step`. An optimiser that needs the plain mean gradient keeps
``gradient_scale = 1``; plain SGD folds its learning rate in, so its step is one subtraction.

=============================== ============== ==============================================================
optimiser                       gradient_scale update, with ``g = dC/dW`` the batch mean (``+ l2 W`` with L2)
=============================== ============== ==============================================================
``SGD(eta)``                    ``eta``        ``W <- W - eta g`` (MATH.md; L2 as weight decay, network2)
``SGD(eta, mu)``                ``eta``        ``v <- mu v + eta g``, ``W <- W - v`` (Nielsen ch. 3)
``SGD(eta, mu, nesterov=True)`` ``eta``        ``v <- mu v + eta g``, ``W <- W - (mu v + eta g)``
``Adam(eta, ...)``              ``1``          Kingma & Ba (2015), Algorithm 1 (see :class:`Adam`)
=============================== ============== ==============================================================

Momentum keeps the velocity in the folded form of Nielsen's chapter 3 and of Sutskever et al.
(2013): ``v`` already includes ``eta``. With a constant ``eta`` this is exactly PyTorch's
``SGD(momentum=mu)`` (whose buffer is ``v / eta``); when a schedule changes ``eta``, the new rate
applies to new gradients only, while the velocity built so far keeps its old scale.

Every optimiser's state is plain NumPy: :meth:`Optimizer.state_dict` returns a flat dict of
numbers and arrays (``"velocity_w.0"``, ``"m_w.0"``, ...; ``.0`` is ``net.layers[0]``) that a
checkpoint can store, and :func:`optimizer_from_state` rebuilds the optimiser from it.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.checks import check_non_negative, check_positive, is_count
from ..errors import DeltapropError, ShapeError, lookup

__all__ = ["OPTIMIZERS", "SGD", "Adam", "Optimizer", "get_optimizer", "optimizer_from_state"]


def _check_fraction(value, name: str) -> float:
    """Return ``value`` if it lies in ``[0, 1)`` (a decay rate such as ``momentum`` or ``beta1``)."""
    value = check_non_negative(value, name)
    if value >= 1.0:
        raise DeltapropError(f"{name}={value!r} must be in [0, 1)")
    return value


def _as_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DeltapropError(f"{name}={value!r} must be True or False")
    return bool(value)


class Optimizer:
    """Base class. ``step`` receives the scaled gradients and updates the layers in place.

    Subclasses keep per-parameter state in lists of arrays, one per layer, created on the first
    step (so the optimiser needs no network at construction) and named ``<slot>_w.<i>`` /
    ``<slot>_b.<i>`` in :meth:`state_dict`.
    """

    name: str = ""
    gradient_scale: float = 1.0
    _slots: tuple[str, ...] = ()
    """Names of the per-parameter state buffers (e.g. ``("velocity",)``)."""

    def step(self, layers, nabla_w, nabla_b, l2: float = 0.0) -> None:
        """Update every ``layer.W`` and ``layer.b``; ``l2 = lmbda / n`` is the L2 strength."""
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    # -- state -------------------------------------------------------------------------------

    def _hyperparameters(self) -> dict:
        return {}

    def _buffers(self, layers) -> dict:
        """Return ``{slot: (list of W-shaped arrays, list of b-shaped arrays)}``, made on first use."""
        buffers = self.__dict__.setdefault("_state", {})
        if self.__dict__.get("_layers") is layers:  # the same list as last step: already checked
            return buffers
        for slot in self._slots:
            if slot not in buffers:
                ws = [np.zeros_like(layer.W) for layer in layers]
                bs = [np.zeros_like(layer.b) for layer in layers]
                buffers[slot] = (ws, bs)
            else:
                self._check_buffers(slot, buffers[slot], layers)
                ws, bs = buffers[slot]
                buffers[slot] = (
                    [w.astype(layer.W.dtype, copy=False) for w, layer in zip(ws, layers)],
                    [b.astype(layer.b.dtype, copy=False) for b, layer in zip(bs, layers)],
                )
        self._layers = layers
        return buffers

    @staticmethod
    def _check_buffers(slot, buffers, layers):
        for kind, arrays, name in (("w", buffers[0], "W"), ("b", buffers[1], "b")):
            shapes, expected = [a.shape for a in arrays], [getattr(layer, name).shape for layer in layers]
            if shapes != expected:
                raise ShapeError(
                    f"optimizer state {slot}_{kind} has shapes {shapes} but the network's parameters have {expected}; "
                    "load the state of an optimiser that trained this architecture"
                )

    def state_dict(self) -> dict:
        """Hyper-parameters and state as a flat dict of numbers, strings and NumPy arrays (copies).

        >>> SGD(eta=0.5, momentum=0.9).state_dict()
        {'name': 'sgd', 'eta': 0.5, 'momentum': 0.9, 'nesterov': False}
        """
        state = {"name": self.name, **self._hyperparameters()}
        for slot, (ws, bs) in self.__dict__.get("_state", {}).items():
            for i, (w, b) in enumerate(zip(ws, bs)):
                state[f"{slot}_w.{i}"] = w.copy()
                state[f"{slot}_b.{i}"] = b.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (hyper-parameters and buffers)."""
        if not isinstance(state, dict):
            raise DeltapropError(f"state must be a dict from Optimizer.state_dict(), got {type(state).__name__}")
        if state.get("name", self.name) != self.name:
            raise DeltapropError(f"state is for optimizer {state['name']!r}, not {self.name!r}")
        hyper = self._hyperparameters()
        known = {"name", *hyper}
        slot_keys = [key for key in state if key not in known]
        self.__init__(**{key: state.get(key, value) for key, value in hyper.items()})  # validates them
        self.reset_buffers()
        self._load_buffers(state, slot_keys)

    def _load_buffers(self, state, keys):
        counts = {}
        for key in keys:
            slot_kind, _, index = key.rpartition(".")
            slot, _, kind = slot_kind.rpartition("_")
            if slot not in self._slots or kind not in ("w", "b") or not index.isdigit():
                expected = ", ".join(f"{s}_w.<i>, {s}_b.<i>" for s in self._slots) or "no buffers"
                raise DeltapropError(f"unexpected key {key!r} in {self.name} optimizer state; expected {expected}")
            counts[slot] = max(counts.get(slot, 0), int(index) + 1)
        state_buffers = {}
        for slot in self._slots:
            if slot not in counts:
                continue
            try:
                ws = [np.array(state[f"{slot}_w.{i}"], copy=True) for i in range(counts[slot])]
                bs = [np.array(state[f"{slot}_b.{i}"], copy=True) for i in range(counts[slot])]
            except KeyError as missing:
                raise DeltapropError(f"{self.name} optimizer state lacks {missing.args[0]!r}") from None
            state_buffers[slot] = (ws, bs)
        if state_buffers:
            self._state = state_buffers

    def reset_buffers(self) -> None:
        """Forget the per-parameter buffers (velocities, moments); the next step starts them at 0."""
        for name in ("_state", "_layers", "_scratch", "_scratch_for"):
            self.__dict__.pop(name, None)

    def reset(self) -> None:
        """Forget all state (buffers and, for Adam, the step count): as freshly constructed."""
        self.reset_buffers()


class SGD(Optimizer):
    """Mini-batch stochastic gradient descent, plain or with (Nesterov) momentum.

    Plain (``momentum=0``), exactly as MATH.md states it:
    ``W^l <- W^l - eta/m sum_x delta^(x,l) a^(x,l-1)^T`` and ``b^l <- b^l - eta/m sum_x delta^(x,l)``;
    with L2, ``W <- (1 - eta lmbda/n) W - eta grad`` (Nielsen's network2). The gradients arrive
    already multiplied by ``eta`` (``gradient_scale = eta``), so the step is one subtraction.

    With ``momentum = mu > 0`` (Nielsen, chapter 3): ``v <- mu v + eta grad``, ``W <- W - v``;
    with ``nesterov=True`` the step looks ahead along the velocity: ``W <- W - (mu v + eta grad)``
    (the form PyTorch and Keras use, evaluated at the current weights). L2 then enters the
    gradient: ``grad + (lmbda/n) W``.

    >>> SGD(eta=3.0).eta
    3.0
    """

    name = "sgd"

    def __init__(self, eta: float = 0.1, momentum: float = 0.0, nesterov: bool = False):
        self.eta = check_positive(eta, "eta")
        self.momentum = _check_fraction(momentum, "momentum")
        self.nesterov = _as_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0.0:
            raise DeltapropError("nesterov=True needs momentum > 0, e.g. SGD(eta, momentum=0.9, nesterov=True)")
        self._slots = ("velocity",) if self.momentum else ()

    @property
    def gradient_scale(self) -> float:
        # The gradients arrive already multiplied by eta (and divided by m).
        return self.eta

    def step(self, layers, nabla_w, nabla_b, l2: float = 0.0) -> None:
        if not self.momentum:
            for layer, eta_nabla_w, eta_nabla_b in zip(layers, nabla_w, nabla_b):
                # NOTE: local names, not `layer.W -= ...`, which would re-run the checking setter.
                W, b = layer.W, layer.b
                if l2:
                    W *= 1.0 - self.eta * l2  # weight decay (1 - eta lmbda/n) W
                W -= eta_nabla_w  # W <- W - eta/m sum_x delta a^T
                b -= eta_nabla_b  # b <- b - eta/m sum_x delta
            return
        velocity_w, velocity_b = self._buffers(layers)["velocity"]
        for i, layer in enumerate(layers):
            eta_nabla_w = nabla_w[i]
            if l2:
                eta_nabla_w += (self.eta * l2) * layer.W  # eta (grad + lmbda/n W); nabla_w is fit's scratch
            self._momentum_update(layer.W, velocity_w[i], eta_nabla_w)
            self._momentum_update(layer.b, velocity_b[i], nabla_b[i])

    def _momentum_update(self, param, v, eta_grad):
        v *= self.momentum
        v += eta_grad  # v <- mu v + eta grad
        if self.nesterov:
            param -= eta_grad
            param -= self.momentum * v  # W <- W - (eta grad + mu v)
        else:
            param -= v  # W <- W - v

    def _hyperparameters(self) -> dict:
        return {"eta": self.eta, "momentum": self.momentum, "nesterov": self.nesterov}

    def __repr__(self):
        if not self.momentum:
            return f"SGD(eta={self.eta})"
        return f"SGD(eta={self.eta}, momentum={self.momentum}, nesterov={self.nesterov})"


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015, Algorithm 1), from the mean gradient ``g`` (``gradient_scale = 1``).

    For every parameter, at step ``t = 1, 2, ...``::

        m <- beta1 m + (1 - beta1) g              (first moment)
        v <- beta2 v + (1 - beta2) g^2            (second moment, elementwise)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        W <- W - eta m_hat / (sqrt(v_hat) + eps)

    With L2 (``lmbda > 0`` in ``fit``), ``g = grad + (lmbda/n) W`` (coupled L2, as PyTorch's
    ``weight_decay``). The state is ``t`` and the moments ``m_w.<i>``, ``m_b.<i>``, ``v_w.<i>``,
    ``v_b.<i>``.

    >>> Adam().eta
    0.001
    """

    name = "adam"
    gradient_scale = 1.0
    _slots = ("m", "v")

    def __init__(self, eta: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, t: int = 0):
        self.eta = check_positive(eta, "eta")
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.eps = check_positive(eps, "eps")
        if not is_count(t):
            raise DeltapropError(f"t={t!r} (steps taken) must be an integer >= 0")
        self.t = int(t)

    def step(self, layers, nabla_w, nabla_b, l2: float = 0.0) -> None:
        buffers = self._buffers(layers)
        (m_w, m_b), (v_w, v_b) = buffers["m"], buffers["v"]
        if self.__dict__.get("_scratch_for") is not layers:
            self._scratch = [np.empty_like(p) for layer in layers for p in (layer.W, layer.b)]
            self._scratch_for = layers
        self.t += 1
        # Fold both bias corrections into the step size (Kingma & Ba, end of section 2): identical
        # to m_hat / (sqrt(v_hat) + eps) with eps scaled by sqrt(1 - beta2^t).
        correction1, correction2 = 1.0 - self.beta1**self.t, 1.0 - self.beta2**self.t
        step_size = self.eta * math.sqrt(correction2) / correction1
        eps_hat = self.eps * math.sqrt(correction2)
        for i, layer in enumerate(layers):
            g_w = nabla_w[i]
            if l2:
                g_w += l2 * layer.W  # g = grad + lmbda/n W (nabla_w is fit's scratch)
            self._update(layer.W, m_w[i], v_w[i], g_w, self._scratch[2 * i], step_size, eps_hat)
            self._update(layer.b, m_b[i], v_b[i], nabla_b[i], self._scratch[2 * i + 1], step_size, eps_hat)

    def _update(self, param, m, v, g, scratch, step_size, eps_hat):
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=scratch)
        m += scratch  # m <- beta1 m + (1 - beta1) g
        v *= self.beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - self.beta2
        v += scratch  # v <- beta2 v + (1 - beta2) g^2
        np.sqrt(v, out=scratch)
        scratch += eps_hat
        np.divide(m, scratch, out=scratch)
        scratch *= step_size
        param -= scratch  # W <- W - eta m_hat / (sqrt(v_hat) + eps)

    def _hyperparameters(self) -> dict:
        return {"eta": self.eta, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, "t": self.t}

    def reset(self) -> None:
        super().reset()
        self.t = 0

    def __repr__(self):
        return f"Adam(eta={self.eta}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"


OPTIMIZERS: dict[str, type] = {"sgd": SGD, "adam": Adam}
"""Every optimiser class by name (the scikit-learn estimators and saved states use these names)."""


def get_optimizer(optimizer, **hyperparameters) -> Optimizer:
    """Return an optimiser from a name (``"sgd"``, ``"adam"``) and hyper-parameters, or the instance itself.

    >>> get_optimizer("adam", eta=0.01)
    Adam(eta=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    return lookup(OPTIMIZERS, optimizer, "optimizer", "optimizer")(**hyperparameters)


def optimizer_from_state(state: dict) -> Optimizer:
    """Rebuild the optimiser that :meth:`Optimizer.state_dict` described, buffers included."""
    if not isinstance(state, dict) or "name" not in state:
        raise DeltapropError("state must be a dict from Optimizer.state_dict(), with a 'name' entry")
    optimizer = lookup(OPTIMIZERS, state["name"], "optimizer", "state['name']")()
    optimizer.load_state_dict(state)
    return optimizer
