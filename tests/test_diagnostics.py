"""Diagnostics: per-layer gradient norms and saturated units, and the slow-learning effect they show."""

import numpy as np
import pytest

import deltaprop
from deltaprop import Dense, Network
from deltaprop.core.gradcheck import numerical_gradient
from deltaprop.data import load_digits
from deltaprop.train.diagnostics import MAX_DERIVATIVE, Diagnostics, measure


def _one_layer(activation, z):
    """A 1-input layer with W = z and b = 0: on the input x = 1 its weighted inputs are exactly z."""
    layer = Dense(1, len(z), activation)
    layer.W = np.array(z, dtype=np.float64)[:, None]
    layer.b = np.zeros(len(z))
    return Network([layer], dtype="float64")


def test_saturation_of_a_sigmoid_layer_by_hand():
    # Hand-worked: sigma'(z) = sigma(z)(1 - sigma(z)); threshold 0.1 * 0.25 = 0.025.
    # sigma'(0) = 0.25, sigma'(3) = 0.0452 -> not saturated; sigma'(5) = sigma'(-5) = 0.00665 -> saturated.
    net = _one_layer("sigmoid", [0.0, 3.0, 5.0, -5.0])
    logs = measure(net, [[1.0]], [[0.5, 0.5, 0.5, 0.5]])
    assert logs["saturation[0]"] == 0.5


def test_saturation_of_a_tanh_layer_by_hand():
    # Hand-worked: tanh'(z) = 1 - tanh(z)^2; tanh'(1) = 0.42, tanh'(2) = 0.0707 < 0.1, tanh'(4) = 0.0013 < 0.1.
    net = _one_layer("tanh", [1.0, 2.0, 4.0])
    assert measure(net, [[1.0]], [[0.0, 0.0, 0.0]])["saturation[0]"] == pytest.approx(2 / 3)
    # A stricter threshold 0.05 * 1: only tanh'(4) counts.
    assert measure(net, [[1.0]], [[0.0, 0.0, 0.0]], threshold=0.05)["saturation[0]"] == pytest.approx(1 / 3)


def test_layers_that_do_not_saturate_get_no_saturation_entry():
    net = Network([3, 4, 4, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    logs = measure(net, np.ones((2, 3)), [0, 1])
    assert sorted(logs) == ["grad_norm[0]", "grad_norm[1]", "grad_norm[2]"]
    assert set(MAX_DERIVATIVE) == {"sigmoid", "tanh"}


def test_gradient_norms_match_finite_differences():
    # Oracle: central differences of the batch cost, entry by entry, in float64.
    rng = np.random.default_rng(0)
    net = Network([3, 4, 2], activation="tanh", output_activation="sigmoid", seed=1, dtype="float64")
    X, Y = rng.standard_normal((5, 3)), rng.uniform(0.1, 0.9, (5, 2))
    logs = measure(net, X, Y)

    def cost():
        return net.cost(X, Y)

    for i, layer in enumerate(net.layers):
        numeric = numerical_gradient(cost, layer.W, np.arange(layer.W.size), 1e-6)
        assert logs[f"grad_norm[{i}]"] == pytest.approx(np.linalg.norm(numeric), rel=1e-6)


@pytest.mark.parametrize("threshold", [0, 1, -0.5, 2, "0.1", True])
def test_threshold_must_be_a_fraction(threshold):
    with pytest.raises(deltaprop.DeltapropError, match="threshold"):
        measure(Network([2, 2], seed=0), np.ones((1, 2)), np.ones((1, 2)), threshold=threshold)


def test_callback_records_every_epoch_in_the_history():
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 4)), np.arange(30) % 3
    net = Network([4, 5, 3], activation="tanh", output_activation="sigmoid", seed=0)
    diagnostics = Diagnostics(X[:10], y[:10])
    history = net.fit(X, y, epochs=3, batch_size=5, eta=0.5, seed=0, callbacks=[diagnostics])
    for key in ["grad_norm[0]", "grad_norm[1]", "saturation[0]", "saturation[1]"]:
        assert len(history.history[key]) == 3
        assert key in diagnostics.initial
    # Oracle: an independent measurement of the trained network gives the last recorded epoch.
    final = measure(net, X[:10], y[:10])
    for key, value in final.items():
        assert history.history[key][-1] == pytest.approx(value)


def test_a_probe_that_does_not_fit_the_network_fails_before_training():
    net = Network([4, 3], seed=0)
    W_before = net.layers[0].W.copy()
    with pytest.raises(deltaprop.ShapeError):
        net.fit(np.ones((6, 4)), np.zeros((6, 3)), callbacks=[Diagnostics(np.ones((2, 5)), np.zeros((2, 3)))])
    assert np.array_equal(net.layers[0].W, W_before)


# -- the slow-learning effect of 003/004, made visible ---------------------------------------------

SIZES = [64, 30, 30, 30, 30, 10]  # deep: four hidden layers


@pytest.fixture(scope="module")
def probe():
    X, y = load_digits()
    return X[:200], y[:200]


def _measure(probe, activation, init, seed):
    net = Network(SIZES, activation=activation, output_activation="sigmoid", init=init, seed=seed)
    return measure(net, *probe)


def _hidden_saturation(logs):
    return np.mean([logs[f"saturation[{i}]"] for i in range(len(SIZES) - 2)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_initial_weights_saturate_a_deep_sigmoid_network(probe, seed):
    # Oracle: the comparison itself. N(0, 1) weights on 30-64 inputs give |z| of several units, deep in
    # sigmoid's flat tails; N(0, 1/n_in) ("scaled") weights keep z near 0, where sigma' is largest.
    large = _hidden_saturation(_measure(probe, "sigmoid", "standard_normal", seed))
    scaled = _hidden_saturation(_measure(probe, "sigmoid", "scaled_normal", seed))
    xavier = _hidden_saturation(_measure(probe, "sigmoid", "xavier", seed))
    assert large > 0.2
    assert scaled < 0.05 and xavier < 0.05
    assert large > 4 * max(scaled, xavier, 0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_saturated_sigmoids_pass_smaller_gradients_to_the_first_layer_than_relu(probe, seed):
    # Oracle: the same architecture and initial weights with ReLU hidden units, whose g'(z) is 1 for
    # z > 0 instead of a sigma'(z) that saturation pushes towards 0; and ReLU with He's init.
    # (Measured, not asserted: the *scaled* sigmoid network has smaller raw gradients still, ~1e-3
    # against ~7e-2, because BP2 multiplies by its weights too, and those are sqrt(n_in) times
    # smaller. Its units are not saturated; its gradients vanish through small W, as 004 describes.)
    sigmoid_large = _measure(probe, "sigmoid", "standard_normal", seed)["grad_norm[0]"]
    relu_large = _measure(probe, "relu", "standard_normal", seed)["grad_norm[0]"]
    relu_he = _measure(probe, "relu", "he", seed)["grad_norm[0]"]
    assert sigmoid_large < relu_large / 2
    assert sigmoid_large < relu_he / 2


def test_in_a_deep_sigmoid_network_the_early_layers_learn_slowest(probe):
    # Oracle: BP2 multiplies by g'(z) <= 1/4 at every sigmoid layer, so ||dC/dW|| shrinks towards the
    # input (004's vanishing gradient), for either initialisation, on average over seeds.
    for init in ["standard_normal", "scaled_normal"]:
        norms = np.mean([[_measure(probe, "sigmoid", init, seed)[f"grad_norm[{i}]"] for i in range(len(SIZES) - 1)]
                         for seed in range(3)], axis=0)
        assert np.all(np.diff(norms) > 0), (init, norms)
