"""A plain, vectorized NumPy MLP trained by mini-batch SGD: the benchmarks' fair NumPy baseline.

What a competent engineer writes in an afternoon: rows are examples, float32 throughout,
one permutation per epoch, the textbook ``A @ W.T`` orientation, no preallocated buffers and no
tuning. It is deliberately independent of deltaprop (only NumPy is imported) so that the
benchmarks compare deltaprop with the obvious alternative, and so the equivalence test can use
it as an independent computation of the same SGD.

Hidden layers use ``hidden`` ("sigmoid" or "relu"); the output layer is sigmoid with the
quadratic cost (``delta^L = (a - y) a (1 - a)``) or softmax with the log-likelihood cost
(``delta^L = a - y``).
"""

import numpy as np


def init(sizes, rng, dtype=np.float32):
    """Return ``[(W, b), ...]``: ``W`` of shape ``(n_out, n_in)``, N(0, 1/n_in), ``b`` zero."""
    return [((rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype), np.zeros(n_out, dtype))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, x, hidden="sigmoid", output="sigmoid"):
    """Return the list of activations ``[x, a^2, ..., a^L]`` (rows are examples)."""
    activations = [x]
    for i, (W, b) in enumerate(params):
        z = activations[-1] @ W.T + b
        if i < len(params) - 1:
            a = _sigmoid(z) if hidden == "sigmoid" else np.maximum(z, 0)
        else:
            a = _sigmoid(z) if output == "sigmoid" else _softmax(z)
        activations.append(a)
    return activations


def sgd_step(params, x, y, eta, hidden="sigmoid", output="sigmoid"):
    """One SGD step on the batch ``(x, y)``; updates ``params`` in place."""
    activations = forward(params, x, hidden, output)
    a = activations[-1]
    delta = (a - y) * a * (1 - a) if output == "sigmoid" else a - y  # quadratic / log-likelihood
    scale = np.float32(eta / len(x))
    for i in range(len(params) - 1, -1, -1):
        W, b = params[i]
        nabla_w = delta.T @ activations[i]
        nabla_b = delta.sum(axis=0)
        if i > 0:
            a_prev = activations[i]
            g_prime = a_prev * (1 - a_prev) if hidden == "sigmoid" else a_prev > 0
            delta = (delta @ W) * g_prime
        W -= scale * nabla_w
        b -= scale * nabla_b


def train_epoch(params, X, Y, batch_size, eta, rng, hidden="sigmoid", output="sigmoid"):
    """One epoch: shuffle with ``rng.permutation``, then one step per batch, in order."""
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        index = order[start:start + batch_size]
        sgd_step(params, X[index], Y[index], eta, hidden, output)
