"""The exceptions deltaprop raises.

Every error deltaprop raises on purpose is a :class:`DeltapropError`, which is also a
``ValueError``, so ``except ValueError`` keeps working for code written against NumPy habits.
Messages name the argument, the offending value or shape, and what would be accepted.
"""

from __future__ import annotations

__all__ = [
    "DeltapropError",
    "ShapeError",
    "NonFiniteError",
    "UnknownNameError",
    "ModelFileError",
    "DataError",
    "DivergenceError",
]


class DeltapropError(ValueError):
    """Base class of every error deltaprop raises on purpose."""


class ShapeError(DeltapropError):
    """An array has the wrong number of dimensions or the wrong size along one of them."""


class NonFiniteError(DeltapropError):
    """An array holds NaN or infinity where only finite numbers make sense."""


class UnknownNameError(DeltapropError):
    """A name (activation, cost, initialiser, ...) is not in its registry."""


class ModelFileError(DeltapropError):
    """A saved model or checkpoint is missing, unreadable, corrupted or of a foreign format."""


class DataError(DeltapropError):
    """A data file or data source is missing, malformed or inconsistent."""


class DivergenceError(DeltapropError):
    """Training produced a NaN or infinite cost, gradient norm or weight.

    The fields say where and what, for callers that word their own message (the command line does):

    ``epoch``, ``batch``
        Where (both from 0); ``batch`` is None when the weight check at the end of the epoch
        found it. ``n_batches`` is the number of batches in an epoch.
    ``quantity``, ``value``
        What: ``"cost"`` (the batch cost), ``"gradient norm"`` or ``"weight"``, and its value
        (None for a weight).
    ``restored_to``
        None when the weights are those from before the batch (it was caught before the update),
        else the last finite state they were put back to (``"the start of epoch 2"``, ...).
    ``eta``, ``clipping``
        The learning rate (None if the optimiser has none) and whether gradients were clipped.
    """

    def __init__(self, epoch, batch, n_batches, quantity, value, restored_to=None, eta=None, clipping=False):
        self.epoch, self.batch, self.n_batches = epoch, batch, n_batches
        self.quantity, self.value, self.restored_to = quantity, value, restored_to
        self.eta, self.clipping = eta, clipping
        advice = f"try a smaller eta (it is {eta:g})" if eta is not None else "try a smaller learning rate"
        if not clipping:
            advice += " or clip gradients with max_grad_norm"
        super().__init__(f"training diverged {self.where}: {self.what}; {self.restored}; {advice}")

    @property
    def where(self) -> str:
        if self.batch is None:
            return f"during epoch {self.epoch + 1} (found when the weights were checked)"
        return f"at epoch {self.epoch + 1}, batch {self.batch + 1} of {self.n_batches}"

    @property
    def what(self) -> str:
        if self.quantity == "weight":
            return "a weight is NaN or infinite"
        return f"the batch {self.quantity} is {self.value}" if self.quantity == "cost" else \
            f"the {self.quantity} is {self.value}"

    @property
    def restored(self) -> str:
        if self.restored_to is None:
            return "the weights are those from before this batch, the last finite ones"
        return f"the weights were restored to {self.restored_to}, the last finite state"


def lookup(registry: dict, name, kind: str, argument: str):
    """Return ``registry[name]`` or raise :class:`UnknownNameError` listing the known names.

    >>> lookup({"a": 1}, "a", "activation", "activation")
    1
    """
    if isinstance(name, str) and name in registry:
        return registry[name]
    known = ", ".join(repr(k) for k in registry)
    raise UnknownNameError(f"{argument}={name!r} is not a known {kind}; choose one of {known}")
