"""The benchmark cells of issue 5 and the data they train on (shared by every benchmark script).

A cell is a network, a cost and a batch size. Six cells train on ``n`` synthetic MNIST-shaped
float32 examples (uniform pixels in [0, 1), uniform labels: the same arrays for every
implementation, since only time is measured); one more trains on the first 8,000 real MNIST digits
in Nielsen's setting ([784, 30, 10], sigmoid, quadratic, eta 3.0, batch 10, standard_normal init).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

N_SYNTHETIC = 20_000
N_MNIST = 8_000
MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "shared", "data", "mnist")


@dataclass(frozen=True)
class Cell:
    key: str
    sizes: tuple  # layer sizes, input first
    hidden: str  # activation of the hidden layers: "sigmoid" or "relu"
    output: str  # "sigmoid" (with the quadratic cost) or "softmax" (with the log-likelihood)
    batch_size: int
    eta: float
    data: str = "synthetic"  # or "mnist"
    init: str = "auto"  # deltaprop's initialiser (timing does not depend on it)

    @property
    def cost(self) -> str:
        return "quadratic" if self.output == "sigmoid" else "log_likelihood"

    @property
    def label(self) -> str:
        net = f"[{','.join(map(str, self.sizes))}] {self.hidden}, {self.cost}"
        return f"{net}, batch {self.batch_size}" + (" (real MNIST, 8,000)" if self.data == "mnist" else "")

    def flops(self, n: int) -> int:
        """Floating-point operations of the matrix products in one epoch of ``n`` examples.

        Per example and layer ``n_in -> n_out``: ``2 n_in n_out`` for ``z = W a`` (forward), as
        many for ``delta a^T`` (BP4) and, except in the first layer, for ``W^T delta`` (BP2).
        """
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        per_example = sum(2 * 2 * i * o for i, o in pairs) + sum(2 * i * o for i, o in pairs[1:])
        return per_example * n


_SIGMOID = dict(hidden="sigmoid", output="sigmoid", eta=0.1)
_RELU = dict(hidden="relu", output="softmax", eta=0.01)
CELLS = {
    cell.key: cell
    for cell in (
        Cell("30-b10", (784, 30, 10), batch_size=10, **_SIGMOID),
        Cell("30-b128", (784, 30, 10), batch_size=128, **_SIGMOID),
        Cell("100-b10", (784, 100, 10), batch_size=10, **_SIGMOID),
        Cell("100-b128", (784, 100, 10), batch_size=128, **_SIGMOID),
        Cell("512x2-b10", (784, 512, 512, 10), batch_size=10, **_RELU),
        Cell("512x2-b128", (784, 512, 512, 10), batch_size=128, **_RELU),
        Cell("mnist-nielsen", (784, 30, 10), "sigmoid", "sigmoid", 10, 3.0, data="mnist", init="standard_normal"),
    )
}
SYNTHETIC_CELLS = [key for key, cell in CELLS.items() if cell.data == "synthetic"]


def synthetic(n: int = N_SYNTHETIC, seed: int = 0):
    """Return ``(X, labels, Y)``: ``(n, 784)`` float32 pixels, int labels, one-hot float32 rows."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784), dtype=np.float32)
    labels = rng.integers(0, 10, n)
    return X, labels, np.eye(10, dtype=np.float32)[labels]


def mnist_subset(n: int = N_MNIST, directory: str = MNIST_DIR):
    """Return the first ``n`` real MNIST test digits as ``(X, labels, Y)`` (float32 in [0, 1])."""
    from deltaprop.data import load_mnist

    X, labels = load_mnist(directory, "test")
    X, labels = np.ascontiguousarray(X[:n], dtype=np.float32), labels[:n]
    return X, labels, np.eye(10, dtype=np.float32)[labels]


def data_for(cell: Cell, n: int):
    return mnist_subset(n) if cell.data == "mnist" else synthetic(n)
