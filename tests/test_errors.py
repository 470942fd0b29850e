"""Bad input: every case raises a DeltapropError (a ValueError) naming the problem, touching nothing."""

import numpy as np
import pytest

import deltaprop
from deltaprop import DeltapropError, Network, NonFiniteError, ShapeError, UnknownNameError

X = np.random.default_rng(0).standard_normal((6, 4))
Y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
LABELS = np.array([0, 1, 2, 0, 1, 2])


def net():
    return Network([4, 5, 3], seed=0)


def nan_at(array, index):
    array = np.array(array, dtype=float)
    array[index] = np.nan
    return array


FIT_CASES = {
    # name: (kwargs for fit, error type, words the message must contain)
    "X columns": (dict(X=X[:, :3], Y=Y), ShapeError, ["X", "3 features", "takes 4"]),
    "X 1-D": (dict(X=X[0], Y=Y), ShapeError, ["X must be 2-D", "(4,)"]),
    "Y columns": (dict(X=X, Y=Y[:, :2]), ShapeError, ["Y", "(6, 2)", "3 outputs"]),
    "lengths": (dict(X=X, Y=Y[:5]), ShapeError, ["6 examples", "Y has 5"]),
    "NaN in X": (dict(X=nan_at(X, (2, 1)), Y=Y), NonFiniteError, ["X", "NaN"]),
    "inf in Y": (dict(X=X, Y=np.where(Y == 1, np.inf, 0)), NonFiniteError, ["Y", "NaN or infinity"]),
    "empty batch": (dict(X=X[:0], Y=Y[:0]), ShapeError, ["X", "empty"]),
    "label out of range": (dict(X=X, Y=np.array([0, 1, 3, 0, 1, 2])), DeltapropError, ["label 3", "index 2", "0 to 2"]),
    "negative label": (dict(X=X, Y=np.array([0, -1, 2, 0, 1, 2])), DeltapropError, ["label -1"]),
    "fractional label": (dict(X=X, Y=np.array([0, 1.5, 2, 0, 1, 2])), DeltapropError, ["integer class labels"]),
    "text in X": (dict(X=np.full((6, 4), "a"), Y=Y), DeltapropError, ["X", "numbers", "dtype"]),
    "batch_size 0": (dict(X=X, Y=Y, batch_size=0), DeltapropError, ["batch_size=0", "positive integer"]),
    "batch_size 2.5": (dict(X=X, Y=Y, batch_size=2.5), DeltapropError, ["batch_size=2.5"]),
    "eta 0": (dict(X=X, Y=Y, eta=0.0), DeltapropError, ["eta=0.0", "positive"]),
    "eta negative": (dict(X=X, Y=Y, eta=-1), DeltapropError, ["eta=-1"]),
    "eta nan": (dict(X=X, Y=Y, eta=float("nan")), DeltapropError, ["eta=nan"]),
    "epochs 0": (dict(X=X, Y=Y, epochs=0), DeltapropError, ["epochs=0"]),
    "lmbda negative": (dict(X=X, Y=Y, lmbda=-0.1), DeltapropError, ["lmbda=-0.1", ">= 0"]),
    "bad seed": (dict(X=X, Y=Y, seed="x"), DeltapropError, ["seed='x'"]),
    "validation NaN": (dict(X=X, Y=Y, validation_data=(nan_at(X, (0, 0)), Y)), NonFiniteError, ["validation X"]),
    "validation not a pair": (dict(X=X, Y=Y, validation_data=X), DeltapropError, ["validation_data", "pair"]),
}


@pytest.mark.parametrize("case", FIT_CASES)
def test_fit_rejects_bad_input_before_touching_any_parameter(case):
    kwargs, error, words = FIT_CASES[case]
    network = net()
    before = [(l.W.copy(), l.b.copy()) for l in network.layers]
    with pytest.raises(error) as info:
        network.fit(**kwargs)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
    assert isinstance(info.value, ValueError)
    for layer, (W, b) in zip(network.layers, before):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)


@pytest.mark.parametrize("method", ["feedforward", "predict", "cost", "backprop", "evaluate"])
def test_every_entry_point_checks_the_input_width(method):
    network = net()
    args = (X[:, :2],) if method in ("feedforward", "predict") else (X[:, :2], LABELS)
    with pytest.raises(ShapeError, match="2 features .* takes 4"):
        getattr(network, method)(*args)


@pytest.mark.parametrize("method", ["cost", "backprop", "evaluate"])
def test_every_entry_point_checks_nan_and_lengths(method):
    with pytest.raises(NonFiniteError, match="NaN"):
        getattr(net(), method)(nan_at(X, (0, 0)), LABELS)
    with pytest.raises(ShapeError, match="6 examples .* 5"):
        getattr(net(), method)(X, LABELS[:5])


@pytest.mark.parametrize("kwargs,words", [
    (dict(activation="sigmod"), ["activation='sigmod'", "'sigmoid'"]),
    (dict(output_activation="softmx"), ["output_activation='softmx'", "'softmax'"]),
    (dict(cost="mse"), ["cost='mse'", "'quadratic'", "'log_likelihood'"]),
    (dict(init="glorot"), ["init='glorot'", "'xavier'"]),
])
def test_unknown_names_list_the_known_ones(kwargs, words):
    with pytest.raises(UnknownNameError) as info:
        Network([4, 3], **kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("kwargs,words", [
    (dict(layers=[4]), ["at least two"]),
    (dict(layers=[4, 0, 3]), ["positive integer"]),
    (dict(layers=[]), ["non-empty"]),
    (dict(layers=[4, 3], dtype="float16"), ["dtype='float16'", "float32", "float64"]),
    (dict(layers=[4, 3], activation="relu", cost="log_likelihood"), ["log_likelihood", "softmax", "'relu'"]),
    (dict(layers=[4, 3], activation="tanh", cost="cross_entropy"), ["cross_entropy", "sigmoid", "'tanh'"]),
])
def test_bad_architectures_are_named(kwargs, words):
    with pytest.raises(DeltapropError) as info:
        Network(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_dense_layers_that_do_not_chain_are_rejected():
    with pytest.raises(ShapeError, match=r"layers\[1\] takes 4 inputs but layers\[0\] gives 5"):
        Network([deltaprop.Dense(3, 5), deltaprop.Dense(4, 2)])


def test_assigning_a_mis_shaped_weight_matrix_is_rejected_and_keeps_the_old_one():
    network = net()
    W = network.layers[0].W.copy()
    with pytest.raises(ShapeError, match=r"W must have shape \(5, 4\).*got \(4, 5\)"):
        network.layers[0].W = np.zeros((4, 5))
    np.testing.assert_array_equal(network.layers[0].W, W)


def test_softmax_log_likelihood_needs_rows_that_sum_to_one():
    network = Network([4, 3], activation="softmax", cost="log_likelihood", seed=0)
    with pytest.raises(DeltapropError, match="sum to 1"):
        network.fit(X, Y * 2)


def test_evaluate_on_a_regressor_points_to_cost():
    with pytest.raises(DeltapropError, match="use cost"):
        Network([4, 1], activation="identity").evaluate(X, np.zeros(6))
