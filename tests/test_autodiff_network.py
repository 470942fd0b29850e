"""The engine as an independent witness of BP1-BP4: 002's lemmas, and every activation and cost."""

import numpy as np
import pytest

import deltaprop
from deltaprop import ACTIVATIONS, COSTS, Network
from deltaprop.autodiff import Tensor, network_cost
from deltaprop.errors import ShapeError, UnknownNameError

TOLERANCE = 1e-12


def test_002_two_layer_relu_network_follows_the_lemmas_for_one_example():
    # Oracle: 002's lemmas written out by hand in NumPy, for z = W1 x + b1, a = ReLU(z),
    # h = W2 a + b2, J = 1/2 (y - h)^2 in column-vector form:
    #   dJ/dh = h - y, dJ/dW2 = dJ/dh a^T, dJ/db2 = dJ/dh, dJ/da = W2^T dJ/dh,
    #   dJ/dz = dJ/da (.) ReLU'(z), dJ/dW1 = dJ/dz x^T, dJ/db1 = dJ/dz.
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 1)), np.array([[0.7]])
    W1_, b1_ = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    W2_, b2_ = rng.standard_normal((1, 4)), rng.standard_normal((1, 1))

    z_ = W1_ @ x + b1_
    a_ = np.maximum(z_, 0)
    h_ = W2_ @ a_ + b2_
    dJ_dh = h_ - y
    dJ_dW2, dJ_db2 = dJ_dh @ a_.T, dJ_dh
    dJ_da = W2_.T @ dJ_dh
    dJ_dz = dJ_da * (z_ > 0)
    dJ_dW1, dJ_db1 = dJ_dz @ x.T, dJ_dz

    W1, b1, W2, b2 = Tensor(W1_), Tensor(b1_), Tensor(W2_), Tensor(b2_)
    z = W1 @ x + b1
    a = z.relu()
    h = W2 @ a + b2
    J = 0.5 * (y - h) ** 2
    J.backward(np.ones((1, 1)))
    for engine, lemma in [(h.grad, dJ_dh), (W2.grad, dJ_dW2), (b2.grad, dJ_db2), (a.grad, dJ_da),
                          (z.grad, dJ_dz), (W1.grad, dJ_dW1), (b1.grad, dJ_db1)]:
        np.testing.assert_allclose(engine, lemma, rtol=0, atol=TOLERANCE)


def test_002_two_layer_relu_network_matches_backprop_and_the_lemmas_on_a_batch():
    # Oracles: the lemmas by hand (as above, one row per example, averaged over the batch: the
    # batch cost is the mean of J) and Network.backprop (BP1-BP4) on the same float64 weights.
    rng = np.random.default_rng(3)
    net = Network([3, 4, 1], activation="relu", output_activation="identity", cost="quadratic", seed=0, dtype="float64")
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    (W1, b1), (W2, b2) = [(layer.W, layer.b) for layer in net.layers]

    z = X @ W1.T + b1  # (m, 4)
    a = np.maximum(z, 0)
    h = a @ W2.T + b2  # (m, 1)
    dJ_dh = (h - Y) / len(X)  # the mean over the batch spreads 1/m over the examples
    dJ_dz = (dJ_dh @ W2) * (z > 0)  # dJ/da = W2^T dJ/dh, then (.) ReLU'(z)
    lemmas = [(dJ_dz.T @ X, dJ_dz.sum(axis=0)), (dJ_dh.T @ a, dJ_dh.sum(axis=0))]  # dJ/dW = dJ/dz u^T, dJ/db = dJ/dz

    graph = network_cost(net, X, Y)
    graph.cost.backward()
    bp = net.backprop(X, Y)
    for i, (dW, db) in enumerate(lemmas):
        for engine, reference in [(graph.weights[i].grad, dW), (graph.biases[i].grad, db),
                                  (graph.weights[i].grad, bp.weights[i]), (graph.biases[i].grad, bp.biases[i])]:
            np.testing.assert_allclose(engine, reference, rtol=0, atol=TOLERANCE)


def _pairs():
    """Every (output activation, cost) pair the core accepts."""
    for cost in COSTS.values():
        for output in ACTIVATIONS:
            if cost.outputs is None or output in cost.outputs:
                yield output, cost.name


@pytest.mark.parametrize("hidden", list(ACTIVATIONS))
@pytest.mark.parametrize("output, cost", list(_pairs()))
def test_engine_gradients_equal_backprop_for_every_activation_and_cost(hidden, output, cost):
    # Oracle: Network.backprop (BP1-BP4, including its shortcuts delta = a - y) on the same float64
    # weights; the engine knows nothing of them, only the forward formulas.
    rng = np.random.default_rng(4)
    net = Network([3, 5, 4, 2], activation=hidden, output_activation=output, cost=cost, seed=1, dtype="float64")
    m = 7
    X = rng.standard_normal((m, 3))
    Y = rng.integers(0, 2, m) if cost == "log_likelihood" else rng.uniform(0.05, 0.95, (m, 2))

    graph = network_cost(net, X, Y)
    graph.cost.backward()
    bp = net.backprop(X, Y)
    assert abs(graph.cost.item() - net.cost(X, Y)) < TOLERANCE
    for i in range(len(net.layers)):
        np.testing.assert_allclose(graph.weights[i].grad, bp.weights[i], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(graph.biases[i].grad, bp.biases[i], rtol=0, atol=TOLERANCE)
        # delta^l = dC_x/dz^l; the batch cost is a mean, so the engine's dC/dz is delta / m
        np.testing.assert_allclose(graph.zs[i].grad * m, bp.deltas[i], rtol=0, atol=TOLERANCE)


def test_parameters_wrap_the_layers_arrays_so_an_engine_step_trains_the_network():
    # Oracle: an independent computation: one SGD step through the engine equals W - eta * backprop.
    rng = np.random.default_rng(5)
    net = Network([3, 4, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=2, dtype="float64")
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    expected = [layer.W - 0.5 * dW for layer, dW in zip(net.layers, net.backprop(X, y).weights)]
    graph = network_cost(net, X, y)
    graph.cost.backward()
    for W in graph.weights:
        W.data -= 0.5 * W.grad
    for layer, W in zip(net.layers, expected):
        np.testing.assert_allclose(layer.W, W, rtol=0, atol=TOLERANCE)


def test_float32_network_gives_a_float32_graph():
    net = Network([3, 2], activation="sigmoid", seed=0)
    graph = network_cost(net, np.ones((2, 3)), np.zeros((2, 2)))
    graph.cost.backward()
    assert graph.cost.dtype == np.float32 and graph.weights[0].grad.dtype == np.float32


def test_inputs_are_validated_as_the_network_does():
    net = Network([3, 2], seed=0, dtype="float64")
    with pytest.raises(ShapeError, match="features"):
        network_cost(net, np.ones((2, 4)), np.zeros((2, 2)))
    with pytest.raises(ShapeError, match="examples"):
        network_cost(net, np.ones((2, 3)), np.zeros((3, 2)))


def test_an_activation_the_engine_does_not_know_is_named():
    class Cube(deltaprop.Activation):
        name = "cube"

        def forward(self, z, out=None):
            return np.power(z, 3, out=out)

        def prime(self, z, a, out=None):
            return np.multiply(3 * z, z, out=out)

    net = Network([deltaprop.Dense(2, 2, Cube())], dtype="float64", seed=0)
    with pytest.raises(UnknownNameError, match="cube"):
        network_cost(net, np.ones((1, 2)), np.zeros((1, 2)))


def test_saturated_outputs_are_clipped_as_the_costs_are():
    # Oracle: Network.cost, whose cross-entropy and log-likelihood clip a to [eps, 1 - eps]: a
    # sigmoid output that rounds to exactly 1 with target 0 costs -ln(eps) ~ 36, not infinity.
    for cost in ("cross_entropy", "log_likelihood"):
        net = Network([deltaprop.Dense(1, 2, "sigmoid", W=[[100.0], [-100.0]], b=[0.0, 0.0])], cost=cost, dtype="float64")
        X, Y = np.array([[1.0]]), np.array([[0.0, 1.0]])
        assert net.feedforward(X)[0, 0] == 1.0 and net.feedforward(X)[0, 1] < 1e-40  # saturated both ways
        graph = network_cost(net, X, Y)
        assert np.isfinite(graph.cost.item())
        assert abs(graph.cost.item() - net.cost(X, Y)) < TOLERANCE
