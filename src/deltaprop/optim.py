"""Optimisers: how a step turns the gradient from backpropagation into new weights.

:meth:`Network.fit` computes, for each batch of ``m`` examples, ``scale * sum_x`` of the
per-example gradients with ``scale = optimizer.gradient_scale / m`` and then calls
:meth:`Optimizer.step`. An optimiser that needs the plain mean gradient keeps
``gradient_scale = 1``; plain SGD folds its learning rate in, so its step is one subtraction.
"""

from __future__ import annotations

from .validation import check_positive

__all__ = ["Optimizer", "SGD"]


class Optimizer:
    """Base class. ``step`` receives the scaled gradients and updates the layers in place."""

    gradient_scale: float = 1.0

    def step(self, layers, nabla_w, nabla_b, l2: float = 0.0) -> None:
        """Update every ``layer.W`` and ``layer.b``; ``l2 = lmbda / n`` is the L2 strength."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Everything needed to resume: hyper-parameters and any state, as arrays or numbers."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


class SGD(Optimizer):
    """Plain mini-batch stochastic gradient descent, exactly as MATH.md states it.

    ``W^l <- W^l - eta/m sum_x delta^(x,l) a^(x,l-1)^T`` and ``b^l <- b^l - eta/m sum_x delta^(x,l)``;
    with L2, ``W <- (1 - eta lmbda/n) W - eta grad`` (Nielsen's network2).

    >>> SGD(eta=3.0).eta
    3.0
    """

    def __init__(self, eta: float = 0.1):
        self.eta = check_positive(eta, "eta")

    @property
    def gradient_scale(self) -> float:
        # The gradients arrive already multiplied by eta (and divided by m).
        return self.eta

    def step(self, layers, nabla_w, nabla_b, l2: float = 0.0) -> None:
        for layer, eta_nabla_w, eta_nabla_b in zip(layers, nabla_w, nabla_b):
            if l2:
                layer.W *= 1.0 - self.eta * l2  # weight decay (1 - eta lmbda/n) W
            layer.W -= eta_nabla_w  # W <- W - eta/m sum_x delta a^T
            layer.b -= eta_nabla_b  # b <- b - eta/m sum_x delta

    def state_dict(self) -> dict:
        return {"eta": self.eta}

    def load_state_dict(self, state: dict) -> None:
        self.eta = check_positive(state["eta"], "eta")

    def __repr__(self):
        return f"SGD(eta={self.eta})"
