"""What both of the book's networks share: its data format and its view of the weights.

Nielsen's ``mnist_loader.load_data_wrapper`` gives lists (Python 2) or zips (Python 3) of
``(x, y)`` tuples: ``x`` a column vector of shape ``(784, 1)``; ``y`` a one-hot column vector of
shape ``(10, 1)`` in the training data and an integer label in the validation and test data.
:func:`as_arrays` turns either into deltaprop's rows-are-examples arrays.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import is_count
from ..core.network import Network, decide
from ..errors import DataError, DeltapropError, ShapeError

__all__ = ["BookNetwork", "as_arrays", "vectorized_result"]


def _expected(name, n_in, n_out) -> str:
    return (f"{name} must be a list (or zip) of (x, y) tuples as Nielsen's mnist_loader gives: x a column "
            f"vector of shape ({n_in}, 1), y a column vector of shape ({n_out}, 1) or an integer label")


def _is_label(y) -> bool:
    return is_count(y, minimum=-np.inf) or (
        isinstance(y, np.ndarray) and y.ndim == 0 and y.dtype.kind in "iu")


def as_arrays(data, name: str, n_in: int, n_out: int):
    """Return ``(X, Y)`` from the book's format: ``X`` ``(n, n_in)``; ``Y`` one-hot rows ``(n, n_out)``
    or integer labels ``(n,)``, as the data holds them.

    >>> x = np.zeros((3, 1)); y = np.array([[0.0], [1.0]])
    >>> [a.shape for a in as_arrays([(x, y), (x, y)], "training_data", 3, 2)]
    [(2, 3), (2, 2)]
    """
    expected = _expected(name, n_in, n_out)
    if data is None or isinstance(data, (str, bytes, dict, np.ndarray)) or not hasattr(data, "__iter__"):
        raise DataError(f"{expected}; got {type(data).__name__}")
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(part, np.ndarray) and part.ndim for part in data):
        raise DataError(f"{expected}; got a pair of arrays (inputs, labels), the format of mnist_loader.load_data(): "
                        "use load_data_wrapper()'s format, e.g. list(zip(columns, labels))")
    pairs = data if isinstance(data, list) else list(data)
    if not pairs:
        raise DataError(f"{expected}; got no examples (a zip can be read only once: keep it as list(zip(...)))")
    xs, ys = [], []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise DataError(f"{expected}; item {k} is a {type(pair).__name__}, not an (x, y) tuple")
        x, y = np.asarray(pair[0]), pair[1]
        if x.shape not in ((n_in, 1), (n_in,)) or x.dtype.kind not in "fiub":
            raise DataError(f"{expected}; item {k} has x of shape {x.shape} and dtype {x.dtype}")
        if not _is_label(y):
            y = np.asarray(y)
            if y.shape not in ((n_out, 1), (n_out,)) or y.dtype.kind not in "fiub":
                raise DataError(f"{expected}; item {k} has y of shape {y.shape}")
        xs.append(x.reshape(-1))
        ys.append(y)
    labels = [_is_label(y) for y in ys]
    if any(labels) and not all(labels):
        raise DataError(f"{expected}; {name} mixes integer labels and vectors (item {labels.index(not labels[0])})")
    Y = np.array([int(y) for y in ys]) if labels[0] else np.stack([y.reshape(-1) for y in ys])
    return np.stack(xs), Y


def vectorized_result(j, n: int = 10) -> np.ndarray:
    """Return the ``(n, 1)`` unit vector with 1.0 at position ``j`` (the book's one-hot digit)."""
    e = np.zeros((n, 1))
    e[j] = 1.0
    return e


class BookNetwork:
    """A sigmoid :class:`~deltaprop.Network` behind the book's attributes (``sizes``, ``weights``, ``biases``).

    ``weights[i]`` is ``net.layers[i].W`` itself (shape ``(n_out, n_in)``, as in the book) and
    ``biases[i]`` a ``(n_out, 1)`` column view of ``net.layers[i].b``: changing them in place
    changes the network; assigning new lists copies them in (shapes checked).

    ``seed=None`` takes the seed from NumPy's global random state, as the book's
    ``np.random.randn`` does, so ``np.random.seed(n)`` before building makes a run repeatable.
    """

    _cost = "quadratic"
    _init = "standard_normal"

    def __init__(self, sizes, seed=None, dtype="float64", cost=None):
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
            raise DeltapropError(f"sizes={sizes!r} must be a list of layer sizes, e.g. [784, 30, 10]")
        self.num_layers = len(sizes)
        self.sizes = list(sizes)
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))  # the book's global state
        self._rng = np.random.default_rng(seed)
        self.net = Network(self.sizes, activation="sigmoid", cost=cost or self._cost, init=self._init,
                           seed=self._rng, dtype=dtype)

    # -- the book's view of the parameters ---------------------------------------------------------

    @property
    def weights(self) -> list:
        return [layer.W for layer in self.net.layers]

    @weights.setter
    def weights(self, values):
        values = self._per_layer(values, "weights")
        for layer, W in zip(self.net.layers, values):
            layer.W = W  # Dense checks the shape (n_out, n_in)

    @property
    def biases(self) -> list:
        return [layer.b[:, None] for layer in self.net.layers]

    @biases.setter
    def biases(self, values):
        values = self._per_layer(values, "biases")
        for i, (layer, b) in enumerate(zip(self.net.layers, values)):
            b = np.asarray(b)
            if b.shape not in ((layer.n_out, 1), (layer.n_out,)):
                raise ShapeError(f"biases[{i}] must have shape ({layer.n_out}, 1), got {b.shape}")
            layer.b = b.reshape(-1)

    def _per_layer(self, values, name):
        values = list(values)
        if len(values) != len(self.net.layers):
            raise ShapeError(
                f"{name} must hold {len(self.net.layers)} arrays, one per layer after the input, got {len(values)}"
            )
        return values

    # -- the network as a function -------------------------------------------------------------------

    def feedforward(self, a):
        """Return the output for input ``a``: a column ``(n_in, 1)`` gives ``(n_out, 1)``.

        ``a`` may also be ``(n_in,)`` (gives ``(n_out,)``) or ``(n_in, k)``, k examples as columns.
        """
        a = np.asarray(a)
        if a.ndim == 1:
            return self.net.feedforward(a)
        return self.net.feedforward(a.T).T  # columns are examples in the book, rows in deltaprop

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of ``C_x`` as the book's lists of arrays."""
        return self.net.backprop_example(x, y)

    def _arrays(self, data, name):
        return as_arrays(data, name, self.sizes[0], self.sizes[-1])

    def _correct(self, X, Y) -> int:
        """How many rows of ``X`` the network classifies right (``Y`` labels or one-hot rows)."""
        labels = Y if Y.ndim == 1 else decide(Y)
        return int(np.sum(decide(self.net.feedforward(X)) == labels))

    def _train_epoch(self, X, Y, mini_batch_size, eta, lmbda=0.0):
        """One epoch of :meth:`deltaprop.Network.fit`: shuffle, mini-batches, the SGD step."""
        self.net.fit(X, Y, epochs=1, batch_size=mini_batch_size, eta=eta, lmbda=lmbda, seed=self._rng)

    def update_mini_batch(self, mini_batch, eta, lmbda=0.0, n=None):
        """One gradient-descent step on ``mini_batch`` (the book's list of ``(x, y)`` tuples)."""
        X, Y = self._arrays(mini_batch, "mini_batch")
        n = len(X) if n is None else n
        # fit's L2 term is lmbda / len(X); the book's is lmbda / n over the whole training set
        self.net.fit(X, Y, epochs=1, batch_size=len(X), eta=eta, lmbda=lmbda * len(X) / n, shuffle=False)
