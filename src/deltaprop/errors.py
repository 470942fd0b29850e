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
    """Training produced a NaN or infinite cost or gradient."""


def lookup(registry: dict, name, kind: str, argument: str):
    """Return ``registry[name]`` or raise :class:`UnknownNameError` listing the known names.

    >>> lookup({"a": 1}, "a", "activation", "activation")
    1
    """
    if isinstance(name, str) and name in registry:
        return registry[name]
    known = ", ".join(repr(k) for k in registry)
    raise UnknownNameError(f"{argument}={name!r} is not a known {kind}; choose one of {known}")
