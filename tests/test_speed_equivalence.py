"""The fast training loop computes exactly the SGD of MATH.md (issue 5: speed without changing results).

The oracle of most tests here is an independent, deliberately plain implementation of the same
mini-batch SGD (``plain_sgd`` below: rows are examples, ``A @ W.T``, fresh arrays everywhere, no
workspace, no shortcut, no folded learning rate) driven by the same shuffling: one
``numpy.random.Generator.permutation`` per epoch from the same seed, batches in order. The
per-example form of :mod:`deltaprop.core.per_example` is a second oracle. No timing is asserted.
"""

import numpy as np
import pytest

import deltaprop
from deltaprop.core import propagation, workspace
from deltaprop.core.costs import COSTS
from deltaprop.core.per_example import sgd_epoch_per_example

# -- the oracle: SGD written out plainly ------------------------------------------------------------


def _g(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def _g_prime(name, z):
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    raise ValueError(name)


def _cost_sum(cost, a, y):
    """sum over the batch of C_x, from the definitions in MATH.md."""
    if cost == "quadratic":
        return 0.5 * np.sum((a - y) ** 2)
    if cost == "cross_entropy":
        return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))
    if cost == "log_likelihood":
        return -np.sum(y * np.log(a))
    raise ValueError(cost)


def _output_delta(cost, output, z, a, y):
    """dC_x/dz^L per row: general chain rule for the quadratic cost, a - y for the matched pairs."""
    if cost == "quadratic":
        return (a - y) * _g_prime(output, z)
    assert (cost, output) in (("cross_entropy", "sigmoid"), ("log_likelihood", "softmax"))
    return a - y


def plain_sgd(params, activations, cost, X, Y, epochs, batch_size, eta, seed, lmbda=0.0, shuffle=True):
    """Train ``params`` = [(W, b), ...] in place; return the per-epoch mean batch cost."""
    rng = np.random.default_rng(seed)
    n, history = len(X), []
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            x, y, m = X[index], Y[index], len(index)
            zs, acts = [], [x]
            for (W, b), g in zip(params, activations):
                zs.append(acts[-1] @ W.T + b)
                acts.append(_g(g, zs[-1]))
            total += _cost_sum(cost, acts[-1], y)
            delta = _output_delta(cost, activations[-1], zs[-1], acts[-1], y)
            grads = [None] * len(params)
            for i in range(len(params) - 1, -1, -1):
                grads[i] = (delta.T @ acts[i] / m, delta.sum(axis=0) / m)  # BP4, BP3: batch means
                if i > 0:
                    delta = (delta @ params[i][0]) * _g_prime(activations[i - 1], zs[i - 1])  # BP2
            for (W, b), (nabla_w, nabla_b) in zip(params, grads):
                W[...] = (1 - eta * lmbda / n) * W - eta * nabla_w
                b[...] = b - eta * nabla_b
        history.append(total / n)
    return history


CASES = [
    # sizes, hidden, output, cost
    ([6, 5, 3], "sigmoid", "sigmoid", "quadratic"),
    ([6, 7, 4, 3], "relu", "softmax", "log_likelihood"),
    ([6, 5, 3], "tanh", "sigmoid", "cross_entropy"),
    ([6, 8, 3], "relu", "sigmoid", "quadratic"),
]


def _problem(sizes, n=53, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    return X, Y


def _network(sizes, hidden, output, cost, dtype):
    return deltaprop.Network(sizes, activation=hidden, output_activation=output, cost=cost, seed=1, dtype=dtype)


def _params(net):
    return [(layer.W.astype(np.float64), layer.b.astype(np.float64)) for layer in net.layers]


@pytest.mark.parametrize("sizes, hidden, output, cost", CASES)
@pytest.mark.parametrize("batch_size", [10, 53, 1])
def test_fit_gives_the_weights_and_history_of_plain_sgd_in_float64(sizes, hidden, output, cost, batch_size):
    # Oracle: plain_sgd, an independent implementation of the same SGD with the same shuffling.
    # n = 53 with batch 10 ends each epoch on a batch of 3: two workspaces take turns.
    X, Y = _problem(sizes)
    net = _network(sizes, hidden, output, cost, "float64")
    params = _params(net)
    history = net.fit(X, Y, epochs=3, batch_size=batch_size, eta=0.3, seed=7)
    expected = plain_sgd(params, [hidden] * (len(sizes) - 2) + [output], cost, X, Y, 3, batch_size, 0.3, seed=7)
    for layer, (W, b) in zip(net.layers, params):
        np.testing.assert_allclose(layer.W, W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history.history["cost"], expected, rtol=1e-10)


def test_fit_matches_plain_sgd_without_shuffling_and_with_l2():
    # Oracle: plain_sgd; shuffle=False takes batches as slices of X (no gather), and lmbda > 0
    # adds Nielsen's weight decay W <- (1 - eta lmbda/n) W - eta grad.
    sizes, hidden, output, cost = CASES[1]
    X, Y = _problem(sizes)
    net = _network(sizes, hidden, output, cost, "float64")
    params = _params(net)
    history = net.fit(X, Y, epochs=2, batch_size=8, eta=0.2, lmbda=3.0, shuffle=False)
    expected = plain_sgd(params, [hidden, hidden, output], cost, X, Y, 2, 8, 0.2, seed=None, lmbda=3.0, shuffle=False)
    for layer, (W, b) in zip(net.layers, params):
        np.testing.assert_allclose(layer.W, W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history.history["cost"], expected, rtol=1e-10)


@pytest.mark.parametrize("sizes, hidden, output, cost", CASES[:2])
def test_float32_fit_stays_within_float32_rounding_of_plain_sgd(sizes, hidden, output, cost):
    # Oracle: plain_sgd in float64 from the same float32 initial weights; float32 training may
    # differ from it only by rounding (a few ulps per step, here a handful of steps).
    X, Y = _problem(sizes)
    net = _network(sizes, hidden, output, cost, "float32")
    params = _params(net)
    net.fit(X.astype(np.float32), Y, epochs=2, batch_size=10, eta=0.3, seed=5)
    plain_sgd(params, [hidden] * (len(sizes) - 2) + [output], cost, X.astype(np.float32).astype(np.float64), Y, 2, 10, 0.3, seed=5)
    for layer, (W, b) in zip(net.layers, params):
        assert layer.W.dtype == np.float32
        np.testing.assert_allclose(layer.W, W, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(layer.b, b, rtol=2e-5, atol=2e-6)


def test_fit_gives_the_weights_of_the_per_example_form():
    # Oracle: deltaprop.core.per_example, Nielsen's network.py loop (one column vector at a time),
    # which shares no propagation code with fit; same generator, so the same permutations.
    sizes, hidden, output, cost = CASES[0]
    X, Y = _problem(sizes)
    batched, looped = (_network(sizes, hidden, output, cost, "float64") for _ in range(2))
    batched.fit(X, Y, epochs=2, batch_size=10, eta=0.5, seed=11)
    rng = np.random.default_rng(11)
    for _ in range(2):
        sgd_epoch_per_example(looped, X, Y, batch_size=10, eta=0.5, rng=rng)
    for a, b in zip(batched.layers, looped.layers):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.b, b.b, rtol=1e-10, atol=1e-12)


def test_on_batch_end_reports_each_batch_mean_cost():
    # Oracle: the mean of C_x over each batch, recomputed by plain_sgd one batch at a time.
    sizes, hidden, output, cost = CASES[0]
    X, Y = _problem(sizes, n=25)
    net = _network(sizes, hidden, output, cost, "float64")
    params = _params(net)
    seen = []

    class Record(deltaprop.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs["cost"], logs["size"]))

    net.fit(X, Y, epochs=1, batch_size=10, eta=0.3, shuffle=False, callbacks=[Record()])
    assert [(b, s) for b, _, s in seen] == [(0, 10), (1, 10), (2, 5)]
    for (_, batch_cost, size), start in zip(seen, (0, 10, 20)):
        # the cost of this batch under the weights before its step: train plain_sgd up to it
        probe = [(W.copy(), b.copy()) for W, b in params]
        if start:
            plain_sgd(probe, [hidden, output], cost, X[:start], Y[:start], 1, 10, 0.3, seed=None, shuffle=False)
        x, y = X[start : start + size], Y[start : start + size]
        a = _g(output, _g(hidden, x @ probe[0][0].T + probe[0][1]) @ probe[1][0].T + probe[1][1])
        assert batch_cost == pytest.approx(_cost_sum(cost, a, y) / size, rel=1e-10)


def test_fit_from_a_memmap_and_from_float64_data_into_float32_matches(tmp_path):
    # Oracle: fit on the same numbers held as an in-memory float32 array.
    sizes, hidden, output, cost = CASES[0]
    X, Y = _problem(sizes)
    path = tmp_path / "X.npy"
    np.save(path, X.astype(np.float32))
    nets = [_network(sizes, hidden, output, cost, "float32") for _ in range(3)]
    nets[0].fit(X.astype(np.float32), Y, epochs=2, batch_size=10, eta=0.3, seed=2)
    nets[1].fit(np.load(path, mmap_mode="r", allow_pickle=False), Y, epochs=2, batch_size=10, eta=0.3, seed=2)
    nets[2].fit(X.astype(np.float32).astype(np.float64), Y, epochs=2, batch_size=10, eta=0.3, seed=2)
    for other in nets[1:]:
        for a, b in zip(nets[0].layers, other.layers):
            np.testing.assert_array_equal(a.W, b.W)
            np.testing.assert_array_equal(a.b, b.b)


# -- the pieces the loop is made of ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COSTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cost_total_is_m_times_the_batch_cost_in_any_storage_order(name, dtype):
    # Oracle: Cost.value, the mean of the per-example costs C_x.
    cost = COSTS[name]
    rng = np.random.default_rng(0)
    a = rng.uniform(0.05, 0.95, (7, 4)).astype(dtype)
    if name == "log_likelihood":
        a /= a.sum(axis=1, keepdims=True)
    y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 7)]
    expected = 7 * cost.value(a, y)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert cost.total(a, y) == pytest.approx(expected, rel=rtol)
    column_major = np.asfortranarray(a)
    scratch = np.empty((4, 7), dtype).T
    assert cost.total(column_major, y, scratch=scratch) == pytest.approx(expected, rel=rtol)


@pytest.mark.parametrize("columns", [(True, True, True), (False, False, False), (True, False, True), (False, True, False)])
def test_every_storage_order_of_the_workspace_gives_the_same_gradient(columns):
    # Oracle: the per-example backprop of deltaprop.core.per_example, averaged over the batch.
    net = deltaprop.Network([5, 6, 4, 3], activation="sigmoid", output_activation="softmax", cost="log_likelihood",
                            seed=0, dtype="float64")
    X, Y = _problem(net.sizes, n=9)
    ws = workspace.Workspace(net.layers, 9, net.dtype, columns=columns)
    propagation.feedforward(net.layers, X, ws)
    propagation.backward(net.layers, net.cost_function, Y, ws, scale=1 / 9)
    sums = [np.zeros_like(layer.W) for layer in net.layers]
    for x, y in zip(X, Y):
        _, nabla_w = net.backprop_example(x, y)
        for total, part in zip(sums, nabla_w):
            total += part / 9
    for got, expected in zip(ws.nabla_w, sums):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


def test_scaled_deltas_carry_the_scale_through_bp2():
    # Oracle: the unscaled pass; BP2 is linear in delta, so every delta and gradient scales.
    net = deltaprop.Network([5, 6, 4, 3], activation="relu", output_activation="sigmoid", cost="quadratic", seed=0,
                            dtype="float64")
    X, Y = _problem(net.sizes, n=6)
    plain, scaled = (workspace.Workspace(net.layers, 6, net.dtype) for _ in range(2))
    for ws, flag in ((plain, False), (scaled, True)):
        propagation.feedforward(net.layers, X, ws)
        propagation.backward(net.layers, net.cost_function, Y, ws, scale=0.25, scaled_deltas=flag)
    for d_plain, d_scaled in zip(plain.deltas, scaled.deltas):
        np.testing.assert_allclose(d_scaled, 0.25 * d_plain, rtol=1e-12)
    for g_plain, g_scaled in zip(plain.nabla_w + plain.nabla_b, scaled.nabla_w + scaled.nabla_b):
        np.testing.assert_allclose(g_scaled, g_plain, rtol=1e-12)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_buffers_in_place_and_fresh_agree(name, dtype):
    # Oracle: the closed forms in _g and _g_prime above, computed without any buffer.
    g = deltaprop.get_activation(name)
    z = np.random.default_rng(0).normal(0, 3, (4, 6)).astype(dtype)
    z[0, :3] = [0.0, -200.0, 200.0]
    tol = dict(rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-7 if dtype == np.float32 else 1e-15)
    np.testing.assert_allclose(g.forward(z), _g(name, z.astype(np.float64)), **tol)
    out = np.full_like(z, np.nan)
    assert g.forward(z, out=out) is out
    np.testing.assert_array_equal(out, g.forward(z))
    in_place = z.copy()
    np.testing.assert_array_equal(g.forward(in_place, out=in_place), g.forward(z))
    a = g.forward(z)
    assert g.forward(z).dtype == dtype and g.prime(z, a).dtype == dtype
    np.testing.assert_allclose(g.prime(z, a), _g_prime(name, z.astype(np.float64)), **tol)
