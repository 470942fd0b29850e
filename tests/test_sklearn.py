"""scikit-learn estimators: sklearn's own estimator checks, pipelines, grid search, bad parameters."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from deltaprop.sklearn import DeltapropClassifier, DeltapropRegressor
from deltaprop.train.optim import Adam

# Expected failures: none. Every check of parametrize_with_checks passes for these estimators.
# (scikit-learn itself skips check_array_api_input unless SCIPY_ARRAY_API=1, and the
# *_data_not_an_array checks when pandas is not installed.)
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

# Small networks and few epochs keep the ~55 checks per estimator fast; they still pass sklearn's
# accuracy (> 0.83) and R^2 (> 0.5) floors.
ESTIMATORS = [
    DeltapropClassifier(hidden_layer_sizes=(10,), epochs=50, eta=0.01),
    DeltapropRegressor(hidden_layer_sizes=(10,), epochs=50, eta=0.01),
    DeltapropClassifier(hidden_layer_sizes=(8,), activation="sigmoid", cost="quadratic", optimizer="sgd",
                        eta=3.0, epochs=30, early_stopping=True),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    # Oracle: scikit-learn's own estimator checks.
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_pipeline_grid_search_and_cross_validation(iris):
    # Oracle: held-out accuracy measured by scikit-learn's own cross-validation on iris.
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), DeltapropClassifier(hidden_layer_sizes=(10,), epochs=40, random_state=0))
    search = GridSearchCV(pipeline, {"deltapropclassifier__eta": [0.001, 0.01]}, cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"deltapropclassifier__eta": 0.01}  # 40 epochs at 0.001 is too slow to learn
    scores = cross_val_score(search.best_estimator_, X, y, cv=3)
    assert scores.mean() > 0.85


def test_classifier_probabilities_are_the_network_outputs(iris):
    X, y = iris
    softmax = DeltapropClassifier(hidden_layer_sizes=(5,), epochs=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(softmax.predict_proba(X), softmax.network_.feedforward(X))
    sigmoid = DeltapropClassifier(hidden_layer_sizes=(5,), cost="cross_entropy", epochs=5, random_state=0).fit(X, y)
    a = sigmoid.network_.feedforward(X)
    assert sigmoid.network_.output_activation.name == "sigmoid"
    np.testing.assert_allclose(sigmoid.predict_proba(X), a / a.sum(axis=1, keepdims=True))  # by definition
    np.testing.assert_array_equal(sigmoid.predict(X), np.argmax(a, axis=1))


def test_string_labels_and_classes_order(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = DeltapropClassifier(hidden_layer_sizes=(5,), epochs=30, eta=0.01, random_state=0).fit(X, names)
    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert set(model.predict(X)) <= set(names)


def test_partial_fit_epochs_equal_one_fit_with_as_many_epochs(iris):
    # Oracle: fit(epochs=3) draws the same seeds and shuffles from the same generator, and the
    # optimiser's state carries over between partial_fit calls, so the weights are identical.
    X, y = iris
    whole = DeltapropClassifier(hidden_layer_sizes=(6,), epochs=3, random_state=0).fit(X, y)
    pieces = DeltapropClassifier(hidden_layer_sizes=(6,), epochs=3, random_state=0)
    for _ in range(3):
        pieces.partial_fit(X, y, classes=[0, 1, 2])
    assert pieces.n_iter_ == whole.n_iter_ == 3
    for a, b in zip(whole.network_.layers, pieces.network_.layers):
        np.testing.assert_array_equal(a.W, b.W)
    with pytest.raises(ValueError, match="classes must be passed"):
        DeltapropClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes_"):
        pieces.partial_fit(X[:2], [0, 7])


def test_regressor_learns_a_smooth_function_and_multiple_targets():
    # Oracle: the closed-form targets sin(x) and cos(x); R^2 by scikit-learn's score.
    x = np.linspace(-3, 3, 200)[:, None]
    Y = np.hstack([np.sin(x), np.cos(x)])
    model = DeltapropRegressor(hidden_layer_sizes=(20,), activation="tanh", eta=0.01, epochs=200, random_state=0)
    assert model.fit(x, Y).score(x, Y) > 0.95
    assert model.predict(x).shape == (200, 2)
    assert model.fit(x, Y[:, 0]).predict(x).shape == (200,)


def test_early_stopping_stops_before_the_last_epoch():
    X, y = load_digits(return_X_y=True)
    model = DeltapropClassifier(hidden_layer_sizes=(30,), epochs=500, eta=0.01, early_stopping=True,
                                n_iter_no_change=3, random_state=0).fit(X[:300] / 16, y[:300])
    assert model.n_iter_ < 500
    assert len(model.history_["val_cost"]) == model.n_iter_


def test_an_optimizer_instance_is_copied_not_modified(iris):
    X, y = iris
    adam = Adam(eta=0.01)
    model = DeltapropClassifier(hidden_layer_sizes=(4,), optimizer=adam, epochs=2, random_state=0).fit(X, y)
    assert adam.t == 0 and adam.state_dict() == {"name": "adam", "eta": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "t": 0}
    assert model.optimizer_ is not adam and model.optimizer_.t > 0


def test_predicting_before_fitting_raises_not_fitted():
    with pytest.raises(NotFittedError):
        DeltapropClassifier().predict(np.ones((2, 3)))
    with pytest.raises(NotFittedError):
        DeltapropRegressor().predict(np.ones((2, 3)))


@pytest.mark.parametrize("parameter, value", [
    ("hidden_layer_sizes", (10, 0)),
    ("hidden_layer_sizes", "big"),
    ("activation", "swish"),
    ("output_activation", "cube"),
    ("cost", "hinge"),
    ("optimizer", "rmsprop"),
    ("eta", -1.0),
    ("momentum", 0.5),  # needs optimizer="sgd"
    ("epochs", 0),
    ("epochs", 2.5),
    ("batch_size", 0),
    ("lmbda", -0.1),
    ("early_stopping", "yes"),
    ("validation_fraction", 1.0),
    ("n_iter_no_change", 0),
    ("tol", -1.0),
    ("shuffle", None),
    ("random_state", "seed"),
    ("dtype", "float16"),
])
@pytest.mark.parametrize("Estimator", [DeltapropClassifier, DeltapropRegressor])
def test_bad_parameters_raise_in_fit_naming_them(Estimator, parameter, value):
    estimator = Estimator(**{parameter: value})  # __init__ only stores
    assert estimator.get_params()[parameter] == value
    with pytest.raises(ValueError, match=parameter if parameter != "random_state" else "seed"):
        estimator.fit(np.random.default_rng(0).random((10, 3)), np.arange(10) % 2)
