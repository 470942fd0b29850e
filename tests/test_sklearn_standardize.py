"""The scikit-learn estimators' input standardisation (issue 13): fitted on the training part only,
stored in ``network_``, and applied by predict, the saved model and the ONNX export."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

import deltaprop
from deltaprop import DeltapropError
from deltaprop.data import load_dataset
from deltaprop.sklearn import DeltapropClassifier, DeltapropRegressor


def _mean_and_std(X):
    """Oracle: the textbook per-feature mean and (population) standard deviation, 1 for a constant feature."""
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0)
    return X.mean(axis=0), np.where(std < 1e-8, 1.0, std)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = X * [1.0, 10.0, 100.0, 1000.0] + [0.0, -50.0, 300.0, 7.0]  # unequal scales and offsets
    return np.hstack([X, np.full((len(X), 1), 3.0)]), y  # and a constant feature


@pytest.fixture(scope="module")
def badly_scaled_digits():
    data = load_dataset("digits")  # inputs in [0, 1]
    return data.X_train * 1000 + 5000, data.y_train, data.X_test * 1000 + 5000, data.y_test


# -- (a) fitted on the training part -------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [DeltapropClassifier, DeltapropRegressor])
def test_fit_stores_the_mean_and_std_of_x(iris, Estimator):
    X, y = iris
    model = Estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    mean, scale = _mean_and_std(X)
    np.testing.assert_allclose(model.network_.input_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(model.network_.input_scale, scale, rtol=1e-12)
    assert model.network_.input_scale[-1] == 1.0  # the constant feature is left unscaled


def test_with_early_stopping_only_the_training_part_is_used():
    # Oracle: the first 20 columns are one-hot row numbers, so input_mean[:20] reads off which rows the
    # standardisation saw (1/n_seen each, 0 for the others), without repeating the split's logic.
    # The rows it did not see must be early stopping's validation part: the restored best weights
    # give them the smallest val_cost of the history.
    rng = np.random.default_rng(1)
    n = 20
    X = np.hstack([np.eye(n), rng.normal(size=(n, 3)) * [1.0, 50.0, 0.01] + [5.0, -100.0, 2.0]])
    X[:3, -1] += 40.0  # a few large values pull the full-X mean away from any 18-row mean
    y = np.arange(n) % 2
    model = DeltapropClassifier(hidden_layer_sizes=(4,), max_iter=5, early_stopping=True, validation_fraction=0.1,
                                tol=0.0, n_iter_no_change=100, random_state=0).fit(X, y)
    net = model.network_
    seen = net.input_mean[:n] > 0
    assert seen.sum() == n - 2  # test_size=0.1 of 20 rows holds out 2
    np.testing.assert_allclose(net.input_mean[:n][seen], 1 / (n - 2), rtol=1e-12)
    np.testing.assert_array_equal(net.input_mean[:n][~seen], 0.0)
    mean, scale = _mean_and_std(X[seen])
    np.testing.assert_allclose(net.input_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(net.input_scale, scale, rtol=1e-12)
    assert not np.allclose(net.input_mean[n:], X[:, n:].mean(axis=0), rtol=1e-3)  # not the mean of all X
    assert net.cost(X[~seen], y[~seen]) == pytest.approx(min(model.history_["val_cost"]), rel=1e-9)


# -- (b) applied by predict ----------------------------------------------------------------------


def test_predictions_are_the_networks_and_equal_training_on_prestandardised_inputs(iris):
    # Oracle: two independent computations, the estimator's own scaling and X standardised by hand
    # before an estimator that leaves its inputs alone; the same seeds must give the same model.
    X, y = iris
    params = {"hidden_layer_sizes": (8,), "max_iter": 20, "learning_rate_init": 0.01, "random_state": 0}
    scaled = DeltapropClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(scaled.predict_proba(X), scaled.network_.feedforward(X))
    mean, scale = _mean_and_std(X)
    by_hand = DeltapropClassifier(**params, standardize=False).fit((X - mean) / scale, y)
    assert by_hand.network_.input_mean is None and by_hand.network_.input_scale is None
    np.testing.assert_allclose(scaled.predict_proba(X), by_hand.predict_proba((X - mean) / scale), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(scaled.predict(X), by_hand.predict((X - mean) / scale))
    assert scaled.score(X, y) > 0.9  # measured 0.973: it learned, so the agreement is not between two blanks


def test_regressor_predictions_equal_training_on_prestandardised_inputs():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(150, 2)) * [1.0, 1000.0] + [0.0, 1e4]
    y = np.sin(X[:, 0]) + (X[:, 1] - 1e4) / 1000
    params = {"hidden_layer_sizes": (10,), "activation": "tanh", "max_iter": 30, "learning_rate_init": 0.01,
              "random_state": 0}
    scaled = DeltapropRegressor(**params).fit(X, y)
    np.testing.assert_array_equal(scaled.predict(X), scaled.network_.feedforward(X)[:, 0])
    mean, scale = _mean_and_std(X)
    by_hand = DeltapropRegressor(**params, standardize=False).fit((X - mean) / scale, y)
    np.testing.assert_allclose(scaled.predict(X), by_hand.predict((X - mean) / scale), rtol=0, atol=1e-6)
    assert scaled.score(X, y) > 0.9  # measured R^2 0.981


def test_refitting_with_standardize_false_drops_the_old_scaling(iris):
    X, y = iris
    model = DeltapropClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X, y)
    assert model.network_.input_mean is not None
    model.set_params(standardize=False).fit(X, y)
    assert model.network_.input_mean is None and model.network_.input_scale is None


# -- (c) what it is for: badly scaled inputs -----------------------------------------------------


def test_badly_scaled_inputs_learn_only_when_standardised(badly_scaled_digits):
    # Measured (random_state 0, 1, 2): 0.971-0.976 test accuracy standardised, 0.100-0.102 (chance)
    # without: inputs near 5000 saturate the first layer from the first step.
    X_train, y_train, X_test, y_test = badly_scaled_digits
    params = {"hidden_layer_sizes": (30,), "max_iter": 30, "learning_rate_init": 0.01, "random_state": 0}
    standardised = DeltapropClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    as_given = DeltapropClassifier(**params, standardize=False).fit(X_train, y_train).score(X_test, y_test)
    assert standardised >= 0.95
    assert as_given <= 0.5


# -- (d), (e) the ONNX export and the saved model carry it -------------------------------------


def test_onnx_export_of_the_fitted_network_applies_it(badly_scaled_digits):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from deltaprop.onnx_export import to_onnx

    X_train, y_train, X_test, _ = badly_scaled_digits
    model = DeltapropClassifier(hidden_layer_sizes=(16,), max_iter=3, learning_rate_init=0.01,
                                random_state=0).fit(X_train, y_train)
    graph = to_onnx(model.network_)
    onnx.checker.check_model(graph, full_check=True)
    assert [node.op_type for node in graph.graph.node][:2] == ["Sub", "Div"]
    # Oracle: onnxruntime, an independent implementation of the ONNX operators.
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities = session.run(["output"], {"input": X_test.astype(np.float32)})[0]
    np.testing.assert_allclose(probabilities, model.predict_proba(X_test), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(model.classes_[np.argmax(probabilities, axis=1)], model.predict(X_test))


def test_the_saved_model_applies_it(iris, tmp_path):
    X, y = iris
    model = DeltapropClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    path = tmp_path / "model.npz"
    deltaprop.save(model.network_, path)
    assert deltaprop.files.model.read_metadata(path)["input_standardization"] is True
    loaded = deltaprop.load(path)
    np.testing.assert_array_equal(loaded.input_mean, model.network_.input_mean)
    np.testing.assert_array_equal(loaded.input_scale, model.network_.input_scale)
    np.testing.assert_array_equal(loaded.feedforward(X), model.predict_proba(X))


# -- (f) partial_fit -----------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [DeltapropClassifier, DeltapropRegressor])
def test_partial_fit_fits_on_the_first_call_and_keeps_it(iris, Estimator):
    X, y = iris
    order = np.random.default_rng(0).permutation(len(X))
    first, second = order[:50], order[50:]
    extra = {"classes": [0, 1, 2]} if Estimator is DeltapropClassifier else {}
    model = Estimator(hidden_layer_sizes=(4,), random_state=0).partial_fit(X[first], y[first], **extra)
    mean, scale = _mean_and_std(X[first])
    np.testing.assert_allclose(model.network_.input_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(model.network_.input_scale, scale, rtol=1e-12)
    weights = model.network_.layers[0].W.copy()
    model.partial_fit(X[second] * 3 + 100, y[second])  # other data, another scale: still the first call's
    assert not np.array_equal(model.network_.layers[0].W, weights)  # it did train
    np.testing.assert_allclose(model.network_.input_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(model.network_.input_scale, scale, rtol=1e-12)
    plain = Estimator(hidden_layer_sizes=(4,), standardize=False, random_state=0).partial_fit(X, y, **extra)
    assert plain.network_.input_mean is None


# -- (g) a bad value is named --------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [DeltapropClassifier, DeltapropRegressor])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_standardize_must_be_a_bool(Estimator, value):
    estimator = Estimator(standardize=value)  # __init__ only stores
    assert estimator.get_params()["standardize"] == value
    with pytest.raises(DeltapropError, match=r"standardize=.* must be True or False"):
        estimator.fit(np.random.default_rng(0).random((10, 3)), np.arange(10) % 2)
    assert Estimator(hidden_layer_sizes=(2,), max_iter=1, standardize=np.True_).fit(
        np.random.default_rng(0).random((10, 3)), np.arange(10) % 2).network_.input_mean is not None
