"""BP1-BP4 against independent computations: finite differences and the per-example form."""

import zlib

import numpy as np
import pytest

import deltaprop
from deltaprop.core.activations import ACTIVATIONS, get_activation
from deltaprop.core.costs import COSTS, get_cost
from deltaprop.core.propagation import output_error
from tests.conftest import random_problem


def valid_pairs():
    """Every (output activation, cost) pair the network accepts."""
    for cost in COSTS.values():
        for output in ACTIVATIONS:
            if cost.outputs is None or output in cost.outputs:
                yield output, cost.name


PAIRS = list(valid_pairs())
CASES = [(hidden, output, cost) for hidden in ACTIVATIONS for output, cost in PAIRS]


def random_network(hidden, output, cost, seed, depth=None):
    rng = np.random.default_rng(seed)
    depth = depth if depth is not None else int(rng.integers(2, 5))  # 2-4 layers, input included
    sizes = [int(n) for n in rng.integers(2, 6, depth)]
    net = deltaprop.Network(sizes, activation=hidden, output_activation=output, cost=cost,
                            init="scaled_normal", seed=seed, dtype="float64")
    # scaled_normal draws non-zero biases: with zero biases, a layer fed only by dead ReLUs has
    # z = 0 exactly, on the kink, where finite differences and relu'(0) = 0 rightly disagree.
    X, Y = random_problem(sizes, cost, rng, m=6)
    return net, X, Y


def test_every_activation_and_cost_appears():
    assert {o for o, _ in PAIRS} == set(ACTIVATIONS)
    assert {c for _, c in PAIRS} == set(COSTS)
    assert len(CASES) == len(ACTIVATIONS) * len(PAIRS)


@pytest.mark.parametrize("hidden,output,cost", CASES)
def test_backprop_matches_finite_differences(hidden, output, cost):
    # Oracle: central differences of the batch cost in float64 (004).
    seed = zlib.crc32(f"{hidden}-{output}-{cost}".encode())
    net, X, Y = random_network(hidden, output, cost, seed)
    result = deltaprop.gradcheck(net, X, Y)
    assert result.worst < 1e-6, f"{net}\n{result}"


@pytest.mark.parametrize("output,cost", PAIRS)
def test_batched_gradient_is_the_mean_of_per_example_gradients(output, cost):
    # Oracle: the per-example column-vector loop (network.py style), averaged over the batch.
    net, X, Y = random_network("tanh", output, cost, seed=7, depth=4)
    batched = net.backprop(X, Y)
    per_example = [net.backprop_example(x, y) for x, y in zip(X, Y)]
    for i in range(len(net.layers)):
        mean_w = np.mean([nabla_w[i] for _, nabla_w in per_example], axis=0)
        mean_b = np.mean([nabla_b[i][:, 0] for nabla_b, _ in per_example], axis=0)
        np.testing.assert_allclose(batched.weights[i], mean_w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(batched.biases[i], mean_b, rtol=1e-12, atol=1e-12)


def test_backprop_exposes_the_notes_quantities():
    # Oracle: recompute z, a and delta of the last layer directly from their definitions.
    net, X, Y = random_network("sigmoid", "sigmoid", "quadratic", seed=3, depth=3)
    grad = net.backprop(X, Y)
    m = len(X)
    assert [d.shape for d in grad.deltas] == [(m, n) for n in net.sizes[1:]]
    np.testing.assert_allclose(grad.activations[0], X)
    z_last = grad.activations[-2] @ net.layers[-1].W.T + net.layers[-1].b  # z^L = W^L a^(L-1) + b^L
    np.testing.assert_allclose(grad.zs[-1], z_last, rtol=1e-12)
    a_last = 1 / (1 + np.exp(-z_last))
    np.testing.assert_allclose(grad.activations[-1], a_last, rtol=1e-12)
    np.testing.assert_allclose(grad.deltas[-1], (a_last - Y) * a_last * (1 - a_last), rtol=1e-10)  # BP1
    np.testing.assert_allclose(grad.weights[-1], grad.deltas[-1].T @ grad.activations[-2] / m, rtol=1e-12)  # BP4


def test_backprop_results_are_not_overwritten_by_later_calls():
    net, X, Y = random_network("relu", "softmax", "log_likelihood", seed=4, depth=3)
    first = net.backprop(X, Y)
    saved = [w.copy() for w in first.weights]
    net.backprop(X[::-1] * 2, Y[::-1])
    for w, s in zip(first.weights, saved):
        np.testing.assert_array_equal(w, s)


@pytest.mark.parametrize("shortcut_pair", [("softmax", "log_likelihood"), ("sigmoid", "cross_entropy"),
                                           ("identity", "quadratic"), ("identity", "squared_error")])
def test_bp1_general_form_equals_the_shortcut(shortcut_pair):
    # Oracle: BP1 in full (Jacobian-vector product, 003 eq. 36) against delta^L = k (a - y).
    activation, cost = get_activation(shortcut_pair[0]), get_cost(shortcut_pair[1])
    rng = np.random.default_rng(5)
    z = rng.standard_normal((8, 4))
    a = activation.forward(z)
    y = np.eye(4)[rng.integers(0, 4, 8)]
    general = output_error(activation, cost, z, a, y, shortcut=False)
    short = output_error(activation, cost, z, a, y, shortcut=True)
    np.testing.assert_allclose(general, short, rtol=1e-9, atol=1e-12)


def test_float32_network_stays_float32_through_backprop():
    net = deltaprop.Network([4, 5, 3], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    grad = net.backprop(np.ones((2, 4)), np.array([0, 2]))
    arrays = grad.weights + grad.biases + grad.deltas + grad.zs + grad.activations
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


def test_float32_gradient_agrees_with_float64():
    # Oracle: the same network in float64; float32 rounding only.
    net32 = deltaprop.Network([6, 8, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=2)
    net64 = net32.copy(dtype="float64")
    X, Y = random_problem(net32.sizes, "log_likelihood", np.random.default_rng(0), m=10)
    for g32, g64 in zip(net32.backprop(X, Y).weights, net64.backprop(X, Y).weights):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6)


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    # The check must be able to fail: corrupt the sigmoid derivative and expect a large error.
    from deltaprop.core.activations import Sigmoid

    net, X, Y = random_network("sigmoid", "sigmoid", "quadratic", seed=1, depth=3)
    monkeypatch.setattr(Sigmoid, "prime", lambda self, z, a, out=None: np.multiply(a, 1.1 - a, out=out))
    result = deltaprop.gradcheck(net, X, Y)
    assert not result.passed and result.worst > 1e-3
