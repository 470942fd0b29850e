"""Building networks, initialisers, dtypes, predictions."""

import numpy as np
import pytest

import deltaprop
from deltaprop import Dense, Network


def test_sizes_form_and_layers_form_build_the_same_network():
    a = Network([4, 5, 3], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    b = Network([Dense(4, 5, "relu"), Dense(5, 3, "softmax")], cost="log_likelihood", seed=0)
    assert a.sizes == b.sizes == [4, 5, 3]
    assert [l.activation.name for l in a.layers] == [l.activation.name for l in b.layers] == ["relu", "softmax"]
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)


def test_weight_shapes_follow_the_notes():
    net = Network([784, 30, 10], seed=0)
    assert [l.W.shape for l in net.layers] == [(30, 784), (10, 30)]  # W^l is (n_l, n_(l-1))
    assert [l.b.shape for l in net.layers] == [(30,), (10,)]


def test_feedforward_is_the_formula():
    # Oracle: a^l = g(W^l a^(l-1) + b^l) written out for a [3, 2, 1] network with chosen weights.
    layers = [Dense(3, 2, "relu", W=[[1, -1, 0], [0.5, 0.5, 0.5]], b=[0, -1]), Dense(2, 1, "identity", W=[[2, 3]], b=[1])]
    net = Network(layers, dtype="float64")
    # x = (1, 2, 3): z^2 = (1 - 2, 0.5 * 6 - 1) = (-1, 2); a^2 = (0, 2); a^3 = 2*0 + 3*2 + 1 = 7
    assert net.feedforward([1.0, 2.0, 3.0]) == pytest.approx([7.0])


def test_layer_weights_are_writable_arrays():
    net = Network([2, 2, 1], seed=0, dtype="float64")
    net.layers[0].W[...] = 0.0
    net.layers[0].b = [1.0, -1.0]
    assert net.layers[0].b.dtype == np.float64
    np.testing.assert_allclose(net.feedforward(np.zeros((1, 2))), net.feedforward(np.ones((1, 2))))


INIT_STD = {  # expected standard deviation of W for n_in = 400, n_out = 100 (closed forms)
    "standard_normal": 1.0,
    "scaled_normal": 1 / np.sqrt(400),
    "he": np.sqrt(2 / 400),
    "xavier": np.sqrt(2 / 500),
}


@pytest.mark.parametrize("init", INIT_STD)
def test_initialisers_draw_the_documented_spread(init):
    W = Network([400, 100], init=init, seed=0, dtype="float64").layers[0].W
    assert W.std() == pytest.approx(INIT_STD[init], rel=0.03)
    assert abs(W.mean()) < 0.03 * INIT_STD[init] * 10


def test_auto_init_uses_he_for_relu_and_xavier_otherwise():
    relu = Network([400, 100, 10], activation="relu", seed=0).layers[0].W
    sigmoid = Network([400, 100, 10], activation="sigmoid", seed=0).layers[0].W
    assert relu.std() == pytest.approx(np.sqrt(2 / 400), rel=0.03)
    assert sigmoid.std() == pytest.approx(np.sqrt(2 / 500), rel=0.03)


def test_seeding_never_touches_global_state():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    Network([10, 10], seed=0)
    Network([10, 10], seed=np.random.default_rng(5))
    assert np.random.random() == expected


def test_dtype_float32_by_default_and_float64_on_request():
    assert Network([3, 2]).layers[0].W.dtype == np.float32
    net = Network([3, 2], dtype="float64")
    assert net.layers[0].W.dtype == np.float64
    assert net.feedforward(np.ones((2, 3), dtype=np.float32)).dtype == np.float64


def test_predict_gives_labels_for_classifiers_and_outputs_for_regressors():
    X = np.random.default_rng(0).standard_normal((7, 4))
    softmax = Network([4, 3], activation="softmax", seed=0)
    np.testing.assert_array_equal(softmax.predict(X), softmax.feedforward(X).argmax(axis=1))
    single = Network([4, 1], activation="sigmoid", seed=0)
    np.testing.assert_array_equal(single.predict(X), (single.feedforward(X)[:, 0] > 0.5).astype(int))
    regressor = Network([4, 1], activation="identity", seed=0)
    np.testing.assert_array_equal(regressor.predict(X), regressor.feedforward(X))


def test_evaluate_counts_correct_predictions():
    # Oracle: a network whose output is its input (identity weights), so predictions are argmax(X).
    net = Network([Dense(3, 3, "softmax", W=np.eye(3), b=np.zeros(3))], dtype="float64")
    X = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 5], [5, 0, 0]], dtype=float)
    assert net.evaluate(X, [0, 1, 2, 2]) == 0.75
    assert net.evaluate(X, np.eye(3)[[0, 1, 2, 2]]) == 0.75


def test_copy_is_independent():
    net = Network([3, 2], seed=0)
    twin = net.copy()
    twin.layers[0].W += 1
    assert not np.array_equal(net.layers[0].W, twin.layers[0].W)
    assert net.copy(dtype="float64").layers[0].W.dtype == np.float64


def test_repr_names_layers_and_cost():
    assert repr(Network([2, 3, 1], seed=0)) == (
        "Network([Dense(2, 3, 'sigmoid'), Dense(3, 1, 'sigmoid')], cost='quadratic', dtype='float32')"
    )


def test_public_api_is_exported():
    for name in deltaprop.__all__:
        assert hasattr(deltaprop, name), name


def test_in_place_updates_keep_the_same_weight_array():
    # `layer.W -= step` must update the array in place, not copy it through the checking setter.
    layer = Network([3, 2], seed=0).layers[0]
    W = layer.W
    layer.W -= 1.0
    assert layer.W is W


def test_state_dict_methods_round_trip():
    # Oracle: the network rebuilt from its own state dict computes the same outputs.
    net = Network([4, 5, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0)
    twin = Network.from_state_dict(net.state_dict(), activation="tanh", output_activation="softmax", cost="log_likelihood")
    X = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(twin.feedforward(X), net.feedforward(X))
    assert sorted(net.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
