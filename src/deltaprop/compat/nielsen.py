"""The ``network.py`` of Nielsen's *Neural Networks and Deep Learning*, chapter 1, on deltaprop.

The book's session runs unchanged::

    >>> import deltaprop.compat.nielsen as network
    >>> net = network.Network([784, 30, 10])
    >>> net.SGD(training_data, 30, 10, 3.0, test_data=test_data)    # doctest: +SKIP
    Epoch 0: 9129 / 10000
    ...

``training_data`` is a list or zip of ``(x, y)`` tuples, ``x`` of shape ``(784, 1)`` and ``y`` a
one-hot ``(10, 1)`` vector; ``test_data`` has integer labels for ``y`` (the format of the book's
``mnist_loader.load_data_wrapper``). The network is a deltaprop :class:`~deltaprop.Network`
(sigmoid layers, quadratic cost, weights and biases drawn from N(0, 1) like the book's): this
module converts the data and delegates, and ``net.net`` is the deltaprop network itself.

Differences from the book: ``SGD`` does not shuffle your list in place (deltaprop shuffles an index),
and data in a format it does not understand is refused with a message showing the expected one.
"""

from __future__ import annotations

import numpy as np

from ..core.activations import get_activation
from ._book import BookNetwork

__all__ = ["Network", "sigmoid", "sigmoid_prime"]


class Network(BookNetwork):
    """The book's ``Network(sizes)``: sigmoid neurons, quadratic cost, N(0, 1) initial weights.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, the input first, e.g. ``[784, 30, 10]``.
    seed : int, optional
        Seeds the initial weights and the shuffling; by default drawn from NumPy's global random
        state (``np.random.seed`` makes a run repeatable, as in the book).
    dtype : {"float64", "float32"}
        Precision of the network (the book computes in float64).

    >>> net = Network([2, 3, 1], seed=0)
    >>> net.feedforward(np.zeros((2, 1))).shape
    (1, 1)
    """

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        """Train by mini-batch stochastic gradient descent; with ``test_data``, print
        ``Epoch j: n / N`` after each epoch (``n`` test images right out of ``N``), else
        ``Epoch j complete``.
        """
        X, Y = self._arrays(training_data, "training_data")
        empty = isinstance(test_data, (list, tuple)) and not test_data  # the book's `if test_data:`
        test = self._arrays(test_data, "test_data") if test_data is not None and not empty else None
        for j in range(epochs):
            self._train_epoch(X, Y, mini_batch_size, eta)
            if test is not None:
                print(f"Epoch {j}: {self._correct(*test)} / {len(test[0])}")
            else:
                print(f"Epoch {j} complete")

    def evaluate(self, test_data) -> int:
        """Return how many of ``test_data``'s inputs the network classifies right (argmax of the output)."""
        return self._correct(*self._arrays(test_data, "test_data"))

    def cost_derivative(self, output_activations, y):
        """Return ``dC_x/da`` for the quadratic cost: ``a - y``."""
        return output_activations - y


def sigmoid(z):
    """The sigmoid function (deltaprop's, which never overflows)."""
    z = np.asarray(z, dtype=float)
    return get_activation("sigmoid").forward(z)


def sigmoid_prime(z):
    """Derivative of the sigmoid function: ``sigma(z) (1 - sigma(z))``."""
    a = sigmoid(z)
    return a * (1 - a)
