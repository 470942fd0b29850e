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

import json
import os

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


def load(filename, dtype="float64") -> Network:
    """Load a network from the book's JSON file ``filename`` (JSON only: no code runs)."""
    filename = os.fspath(filename)
    try:
        with open(filename, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ModelFileError(f"network2 file {filename} does not exist") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(f"network2 file {filename} is not JSON: {error}") from None
    if not isinstance(data, dict) or not {"sizes", "weights", "biases", "cost"} <= set(data):
        raise ModelFileError(f"network2 file {filename} must be a JSON object with sizes, weights, biases and cost")
    if data["cost"] not in COSTS:
        raise ModelFileError(f"network2 file {filename}: cost {data['cost']!r} is not one of {sorted(COSTS)}")
    try:
        net = Network(data["sizes"], cost=COSTS[data["cost"]], seed=0, dtype=dtype)
        net.weights = [np.array(w, dtype=float) for w in data["weights"]]
        net.biases = [np.array(b, dtype=float) for b in data["biases"]]
    except (DeltapropError, ValueError, TypeError) as error:
        raise ModelFileError(f"network2 file {filename}: {error}") from None
    return net
