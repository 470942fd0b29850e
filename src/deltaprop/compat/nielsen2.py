"""The ``network2.py`` of Nielsen's *Neural Networks and Deep Learning*, chapter 3, on deltaprop.

``import deltaprop.compat.nielsen2 as network2`` then use the book's calls::

    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
        training_data, 30, 10, 0.5, lmbda=5.0, evaluation_data=validation_data,
        monitor_evaluation_accuracy=True, monitor_training_cost=True)
    net.save("net.json"); net = network2.load("net.json")

The cost classes keep the book's ``fn(a, y)`` and ``delta(z, a, y)``; the network maps them to
deltaprop's ``cross_entropy`` and ``quadratic`` costs, and learning is
:meth:`deltaprop.Network.fit` with L2 regularisation ``W <- (1 - eta lmbda/n) W - eta grad``,
exactly network2's update. Files are the book's JSON (``sizes``, ``weights``, ``biases`` as
``(n, 1)`` columns, ``cost`` by class name), so networks move between the two; :func:`load`
reads JSON only and accepts only the two cost names above.
"""

from __future__ import annotations

import itertools
import json
import os
import reprlib

import numpy as np

from ..core.initializers import initialize
from ..errors import DeltapropError, ModelFileError
from ._book import BookNetwork, vectorized_result
from .nielsen import sigmoid, sigmoid_prime

__all__ = ["CrossEntropyCost", "Network", "QuadraticCost", "load", "sigmoid", "sigmoid_prime", "vectorized_result"]


class QuadraticCost:
    """``C_x = 1/2 ||a - y||^2``; deltaprop's ``"quadratic"``."""

    name = "quadratic"

    @staticmethod
    def fn(a, y):
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        return (a - y) * sigmoid_prime(z)  # (BP1) for sigmoid outputs


class CrossEntropyCost:
    """``C_x = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]``; deltaprop's ``"cross_entropy"``."""

    name = "cross_entropy"

    @staticmethod
    def fn(a, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        return a - y  # (BP1): sigma'(z) cancels for the cross-entropy


COSTS = {"QuadraticCost": QuadraticCost, "CrossEntropyCost": CrossEntropyCost}


def _check_cost(cost):
    if cost not in COSTS.values():
        raise DeltapropError(f"cost={cost!r} must be network2.CrossEntropyCost or network2.QuadraticCost")
    return cost


class Network(BookNetwork):
    """network2's ``Network(sizes, cost=CrossEntropyCost)``: sigmoid neurons, weights N(0, 1/n_in).

    ``seed`` and ``dtype`` as in :class:`deltaprop.compat.nielsen.Network`.

    >>> net = Network([2, 3, 2], seed=0)
    >>> net.cost is CrossEntropyCost, net.net.cost_function.name
    (True, 'cross_entropy')
    """

    _init = "scaled_normal"

    def __init__(self, sizes, cost=CrossEntropyCost, seed=None, dtype="float64"):
        self.cost = _check_cost(cost)
        super().__init__(sizes, seed=seed, dtype=dtype, cost=cost.name)

    def default_weight_initializer(self):
        """Draw weights from N(0, 1/n_in) and biases from N(0, 1) (network2's default)."""
        self._initialize("scaled_normal")

    def large_weight_initializer(self):
        """Draw weights and biases from N(0, 1) (chapter 1's initialisation)."""
        self._initialize("standard_normal")

    def _initialize(self, name):
        for layer in self.net.layers:
            layer.W, layer.b = initialize(name, layer.n_out, layer.n_in, layer.activation, self._rng, self.net.dtype)

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, evaluation_data=None,
            monitor_evaluation_cost=False, monitor_evaluation_accuracy=False,
            monitor_training_cost=False, monitor_training_accuracy=False):
        """Train by mini-batch SGD with L2 strength ``lmbda``; print and return the monitored values.

        Returns ``(evaluation_cost, evaluation_accuracy, training_cost, training_accuracy)``, four
        per-epoch lists, each empty unless its ``monitor_*`` flag is set. Accuracies are counts of
        correct examples, costs include the L2 term, as in the book.
        """
        X, Y = self._arrays(training_data, "training_data")
        evaluation = None
        if evaluation_data is not None and (monitor_evaluation_cost or monitor_evaluation_accuracy):
            evaluation = self._arrays(evaluation_data, "evaluation_data")
        evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = [], [], [], []
        for j in range(epochs):
            self._train_epoch(X, Y, mini_batch_size, eta, lmbda)
            print(f"Epoch {j} training complete")
            if monitor_training_cost:
                training_cost.append(self._total_cost(X, Y, lmbda))
                print(f"Cost on training data: {training_cost[-1]}")
            if monitor_training_accuracy:
                training_accuracy.append(self._correct(X, Y))
                print(f"Accuracy on training data: {training_accuracy[-1]} / {len(X)}")
            if monitor_evaluation_cost:
                evaluation_cost.append(self._total_cost(*self._required(evaluation), lmbda))
                print(f"Cost on evaluation data: {evaluation_cost[-1]}")
            if monitor_evaluation_accuracy:
                evaluation_accuracy.append(self._correct(*self._required(evaluation)))
                print(f"Accuracy on evaluation data: {evaluation_accuracy[-1]} / {len(evaluation[0])}")
            print()
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    @staticmethod
    def _required(evaluation):
        if evaluation is None:
            raise DeltapropError("monitor_evaluation_* needs evaluation_data (validation or test data)")
        return evaluation

    def accuracy(self, data, convert=False) -> int:
        """Return how many examples of ``data`` the network classifies right.

        ``convert`` is accepted for the book's calls; the labels' form (integers or one-hot
        vectors) is read from the data itself.
        """
        return self._correct(*self._arrays(data, "data"))

    def total_cost(self, data, lmbda, convert=False) -> float:
        """Return the mean cost over ``data`` plus the L2 term ``lmbda/(2 len(data)) sum ||w||^2``."""
        return self._total_cost(*self._arrays(data, "data"), lmbda)

    def _total_cost(self, X, Y, lmbda) -> float:
        cost = self.net.cost(X, Y)  # mean of C_x; integer labels become one-hot rows
        return cost + 0.5 * (lmbda / len(X)) * sum(float(np.sum(W * W)) for W in self.weights)

    def save(self, filename):
        """Save the network to ``filename`` in the book's JSON format."""
        data = {"sizes": self.sizes,
                "weights": [W.tolist() for W in self.weights],
                "biases": [b.tolist() for b in self.biases],
                "cost": self.cost.__name__}
        from ..atomic import atomic_write

        with atomic_write(filename, "w", encoding="utf-8") as f:
            json.dump(data, f)


MAX_FILE_BYTES = 256 << 20
"""Largest network2 JSON file :func:`load` reads (256 MiB).

Parsed JSON takes far more memory than its text: ``[0,0,...]`` spends 2 bytes of text and about 32
bytes of Python objects (a list slot and a float) per number, so a file is parsed only below this
size. The book's ``[784, 30, 10]`` network is about 0.5 MB; the limit holds about 12 million
weights at 20 characters each. ``load(filename, max_bytes=...)`` changes it."""


def _fail(filename, problem):
    raise ModelFileError(f"network2 file {filename}: {problem}")


def _is_number(value) -> bool:
    return type(value) in (int, float)  # not bool, not a string, not a list


def _matrix(filename, value, what, rows, columns):
    """Check that ``value`` is a list of ``rows`` lists of ``columns`` numbers (``columns=None``: a number
    or a one-number list each, as biases are written) *before* NumPy sees it; return the float64 array."""
    shape = (rows, columns if columns is not None else 1)
    name = "W" if columns is not None else "b"
    if not isinstance(value, list) or len(value) != rows:
        got = f"{len(value)} rows" if isinstance(value, list) else f"a {type(value).__name__}"
        _fail(filename, f"{what}: {name} must have shape {shape} (a list of {rows} rows), got {got}")
    for i, row in enumerate(value):
        if columns is None:
            if not (_is_number(row) or (isinstance(row, list) and len(row) == 1 and _is_number(row[0]))):
                _fail(filename, f"{what}: b must have shape {shape}; row {i} is not a number or a one-number list")
        elif not isinstance(row, list) or len(row) != columns:
            got = f"{len(row)} numbers" if isinstance(row, list) else f"a {type(row).__name__}"
            _fail(filename, f"{what}: W must have shape {shape}; row {i} holds {got}")
        elif not all(map(_is_number, row)):
            _fail(filename, f"{what}: row {i} holds something that is not a number")
    try:
        array = np.array(value, dtype=np.float64)
    except (OverflowError, ValueError, TypeError) as error:
        _fail(filename, f"{what} does not hold numbers: {error}")
    if not np.isfinite(array).all():
        _fail(filename, f"{what} holds NaN or infinity")
    return array.reshape(rows, -1)


def _arrays(filename, data, text_bytes):
    """Check the structure of the parsed file; return ``(sizes, weights, biases)`` as NumPy arrays."""
    sizes = data["sizes"]
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(type(n) is int and n >= 1 for n in sizes):
        _fail(filename, f"sizes must be a list of at least two positive integers, got {reprlib.repr(sizes)}")
    declared = sum(n_out * (n_in + 1) for n_in, n_out in itertools.pairwise(sizes))  # Python ints: never wraps
    if 2 * declared > text_bytes:  # each number takes a digit and a separator at least
        _fail(filename, f"sizes {reprlib.repr(sizes)} declare {declared:,} weights and biases, more than a file of "
              f"{text_bytes:,} bytes can hold")
    for key in ("weights", "biases"):
        if not isinstance(data[key], list) or len(data[key]) != len(sizes) - 1:
            _fail(filename, f"{key} must be a list of {len(sizes) - 1} arrays, one per layer after the input")
    weights = [_matrix(filename, w, f"weights[{i}]", n_out, n_in)
               for i, (w, n_in, n_out) in enumerate(zip(data["weights"], sizes, sizes[1:]))]
    biases = [_matrix(filename, b, f"biases[{i}]", n_out, None) for i, (b, n_out) in enumerate(zip(data["biases"], sizes[1:]))]
    return sizes, weights, biases


def load(filename, dtype="float64", max_bytes: int = MAX_FILE_BYTES) -> Network:
    """Load a network from the book's JSON file ``filename`` (JSON only: no code runs).

    Nothing the file declares is trusted with memory: it must be a regular file of at most
    ``max_bytes`` (:data:`MAX_FILE_BYTES`), and its ``sizes``, ``weights`` and ``biases`` are
    checked against each other, and against the file's length, before any array is made. Every
    problem is a :class:`~deltaprop.errors.ModelFileError` naming the file.
    """
    from ..data.regular import open_regular

    filename = os.fspath(filename)
    handle, size = open_regular(filename, "network2 file", error=ModelFileError, missing="it does not exist")
    with handle:
        if size > max_bytes:
            _fail(filename, f"is {size:,} bytes, larger than the {max_bytes:,} bytes a network2 file may have "
                  "(load(filename, max_bytes=...) raises the limit)")
        try:
            raw = handle.read(size + 1)  # never more than max_bytes + 1 (checked above); + 1: did it grow?
        except OSError as error:
            _fail(filename, f"cannot be read ({error.strerror or error})")
    if len(raw) > size:  # grew since it was measured
        _fail(filename, "changed while it was read")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(f"network2 file {filename} is not JSON: {error}") from None
    except RecursionError:
        raise ModelFileError(f"network2 file {filename} is not a network2 file: its JSON is nested too deeply") from None
    del raw
    if not isinstance(data, dict) or not {"sizes", "weights", "biases", "cost"} <= set(data):
        raise ModelFileError(f"network2 file {filename} must be a JSON object with sizes, weights, biases and cost")
    if not isinstance(data["cost"], str) or data["cost"] not in COSTS:
        _fail(filename, f"cost {reprlib.repr(data['cost'])} is not one of {sorted(COSTS)}")
    cost = COSTS[data["cost"]]
    sizes, weights, biases = _arrays(filename, data, size)
    del data
    try:
        net = Network(sizes, cost=cost, seed=0, dtype=dtype)
        for key, arrays in (("weights", weights), ("biases", biases)):
            for i, array in enumerate(arrays):
                with np.errstate(over="ignore"):
                    cast = array.astype(net.net.dtype)
                if not np.isfinite(cast).all():  # 1e300 is finite in float64, infinite in float32
                    _fail(filename, f"{key}[{i}] holds {np.max(np.abs(array)):.4g}, beyond the range of "
                          f"{net.net.dtype} (largest {np.finfo(net.net.dtype).max:.4g})")
                arrays[i] = cast
        net.weights, net.biases = weights, biases
    except ModelFileError:
        raise
    except (DeltapropError, ValueError, TypeError) as error:
        raise ModelFileError(f"network2 file {filename}: {error}") from None
    return net
