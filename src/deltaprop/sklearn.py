"""scikit-learn estimators backed by a deltaprop :class:`~deltaprop.Network`.

:class:`DeltapropClassifier` and :class:`DeltapropRegressor` follow scikit-learn's conventions:
``__init__`` only stores its arguments, every parameter is checked in ``fit`` (a bad one raises
a ``ValueError`` naming it), fitted attributes end in ``_``, and the estimators work in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. They pass scikit-learn's
``parametrize_with_checks`` (see the project's README for the expected failures).

The network is ``hidden_layer_sizes`` layers of ``activation`` between the inputs and an output
layer: softmax units with the log-likelihood cost (classifier default), sigmoid units with
``cost="cross_entropy"`` or ``"quadratic"`` (Nielsen's chapter 1), identity units for the
regressor. It is trained by :meth:`Network.fit` with the chosen optimiser, so everything deltaprop
learns is what backpropagation computes.

By default (``standardize=True``) the estimators standardise their inputs themselves: ``fit`` fits a
per-feature mean and scale on the examples it trains on (not early stopping's validation part) and
stores them in ``network_``, which applies them in ``predict``, ``score``, the saved model and the
ONNX export. ``standardize=False`` leaves the inputs as given, e.g. after a ``StandardScaler``.

The parameters take scikit-learn's ``MLPClassifier``/``MLPRegressor`` names (``hidden_layer_sizes``,
``activation``, ``solver``, ``alpha``, ``batch_size``, ``learning_rate_init``, ``max_iter``,
``shuffle``, ``random_state``, ``tol``, ``momentum``, ``early_stopping``, ``validation_fraction``,
``n_iter_no_change``), so code written for those estimators runs with these swapped in. The
names of deltaprop's own API stay as aliases: ``eta`` (``learning_rate_init``), ``epochs``
(``max_iter``), ``lmbda`` (``alpha``; the same penalty ``alpha/(2n) sum w^2``) and ``optimizer``
(``solver``). A name neither knows is Python's ``TypeError`` naming the estimator's own class.

>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> X, y = load_iris(return_X_y=True)
>>> classifier = DeltapropClassifier(hidden_layer_sizes=(10,), learning_rate_init=0.01, max_iter=50, random_state=0)
>>> model = make_pipeline(StandardScaler(), classifier)
>>> model.fit(X, y).score(X, y) > 0.9
True
"""

from __future__ import annotations

import copy
import numbers
import types

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .core.activations import ACTIVATIONS, get_activation
from .core.checks import as_dtype, check_non_negative, check_positive, is_count
from .core.costs import get_cost
from .core.network import Network
from .errors import DeltapropError, lookup
from .train.callbacks import EarlyStopping
from .train.optim import OPTIMIZERS, SGD, Optimizer, get_optimizer

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, X, y="no_validation", **options):
        return estimator._validate_data(X, y, **options)


__all__ = ["DeltapropClassifier", "DeltapropRegressor"]

_SEED_RANGE = np.iinfo(np.int32).max


_SKLEARN_DEFAULTS = {"solver": "adam", "learning_rate_init": 0.001, "max_iter": 200, "alpha": 0.0001}
_ALIASES = {"solver": "optimizer", "learning_rate_init": "eta", "max_iter": "epochs", "alpha": "lmbda"}


class _DeltapropEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, checks, building and training.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Neurons of each hidden layer; ``()`` gives no hidden layer.
    activation : str, default="relu"
        Activation of the hidden layers (any name of :data:`deltaprop.ACTIVATIONS`; scikit-learn's
        ``"logistic"`` is ``"sigmoid"``).
    solver : {"adam", "sgd"} or deltaprop.train.optim.Optimizer, default="adam"
        The optimiser; an instance is copied at each ``fit``, never modified.
    alpha : float, default=0.0001
        L2 penalty ``alpha/(2n) sum w^2`` (scikit-learn's, and Nielsen's lambda). Alias ``lmbda``.
    batch_size : int or "auto", default=32
        Examples per mini-batch (at most the training set); ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=0.001
        Learning rate of the named solver (ignored for an instance). Alias ``eta``.
    max_iter : int, default=200
        Passes over the training set (``partial_fit`` makes one). Alias ``epochs``.
    shuffle : bool, default=True
        Reshuffle the training set every epoch.
    standardize : bool, default=True
        Fit a per-feature mean and scale on the training part of X (after early stopping holds out
        its validation part) and store it in ``network_``, so predict, predict_proba, score, the
        saved model and the ONNX export apply it; False leaves inputs as given (e.g. after a
        StandardScaler in a Pipeline). ``partial_fit`` fits it on the first call's X only and keeps
        it unchanged afterwards: for a scaling of the whole stream, pass False and scale the inputs
        yourself (or put a scaler fitted on them in front).
    tol : float, default=1e-4
    momentum : float, default=0.0
        Momentum of ``solver="sgd"``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data; stop once its cost has not improved by
        ``tol`` for ``n_iter_no_change`` epochs, and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    output_activation : str, default="auto"
        Classifier: softmax for the log-likelihood cost, sigmoid otherwise. Regressor: identity.
    cost : str, default="auto"
        Classifier: ``"log_likelihood"``; regressor: ``"quadratic"`` (see :data:`deltaprop.COSTS`).
    init : str, default="auto"
        Weight initialiser (see :class:`deltaprop.Network`).
    optimizer, eta, epochs, lmbda : default=None
        deltaprop's names for ``solver``, ``learning_rate_init``, ``max_iter`` and ``alpha``; one
        given (not None) is used instead of the scikit-learn name, which must then be left at its default.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the network.

    Attributes
    ----------
    network_ : deltaprop.Network
        The trained network.
    optimizer_ : deltaprop.train.optim.Optimizer
        The optimiser and its state (``partial_fit`` continues from it).
    history_ : dict
        Per-epoch lists: ``cost``, and ``val_cost`` (``val_accuracy``) with early stopping.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.
    """

    _default_cost = ""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001, batch_size=32,
                 learning_rate_init=0.001, max_iter=200, shuffle=True, standardize=True, random_state=None, tol=1e-4,
                 momentum=0.0, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 output_activation="auto", cost="auto", init="auto", dtype="float64", optimizer=None, eta=None,
                 epochs=None, lmbda=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.standardize = standardize
        self.random_state = random_state
        self.tol = tol
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.output_activation = output_activation
        self.cost = cost
        self.init = init
        self.dtype = dtype
        self.optimizer = optimizer
        self.eta = eta
        self.epochs = epochs
        self.lmbda = lmbda

    def _setting(self, name: str):
        """The value of scikit-learn's parameter ``name``, or of its deltaprop alias when that is given."""
        alias = _ALIASES[name]
        value, aliased = getattr(self, name), getattr(self, alias)
        if aliased is None:
            return value
        default = _SKLEARN_DEFAULTS[name]
        if not (value is default or (type(value) is type(default) and value == default)) and value is not aliased:
            raise DeltapropError(f"{name}={value!r} and its alias {alias}={aliased!r} are both given; give one")
        return aliased

    def _activation(self) -> str:
        return "sigmoid" if self.activation == "logistic" else self.activation

    # -- parameters, checked in fit ----------------------------------------------------------------

    def _check_params(self):
        """Check every parameter, raising a ValueError that names the first bad one."""
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if is_count(sizes) else sizes
        if not isinstance(sizes, (tuple, list)) or not all(
            is_count(n, minimum=1) for n in sizes
        ):
            raise DeltapropError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} must be a tuple of positive integers, e.g. (100,)"
            )
        get_activation(self._activation())
        if self.output_activation != "auto":
            lookup(ACTIVATIONS, self.output_activation, "activation", "output_activation")
        if self.cost != "auto":
            get_cost(self.cost)
        solver, solver_name = self._setting("solver"), "optimizer" if self.optimizer is not None else "solver"
        eta, eta_name = self._setting("learning_rate_init"), "eta" if self.eta is not None else "learning_rate_init"
        if solver == "lbfgs":
            raise DeltapropError(f"{solver_name}='lbfgs' is not available: deltaprop learns by backpropagation with "
                                 f"mini-batch optimisers; use one of {sorted(OPTIMIZERS)}")
        check_positive(eta, eta_name)
        if not isinstance(solver, Optimizer):
            if not isinstance(solver, str) or solver not in OPTIMIZERS:
                raise DeltapropError(f"{solver_name}={solver!r} is not known; use one of {sorted(OPTIMIZERS)} "
                                     "or a deltaprop Optimizer instance")
            get_optimizer(solver, eta=eta)  # checks eta against the optimiser
        momentum = check_non_negative(self.momentum, "momentum")
        if momentum and (solver != "sgd" or momentum >= 1):
            raise DeltapropError(f"momentum={self.momentum!r} must be in [0, 1) and needs solver='sgd'")
        check_positive(self._setting("max_iter"), "epochs" if self.epochs is not None else "max_iter", integer=True)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_positive(self.batch_size, "batch_size", integer=True)
        check_non_negative(self._setting("alpha"), "lmbda" if self.lmbda is not None else "alpha")
        for name in ("early_stopping", "shuffle", "standardize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise DeltapropError(f"{name}={getattr(self, name)!r} must be True or False")
        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise DeltapropError(f"validation_fraction={fraction!r} must be a number in (0, 1)")
        check_positive(self.n_iter_no_change, "n_iter_no_change", integer=True)
        check_non_negative(self.tol, "tol")
        as_dtype(self.dtype)
        check_random_state(self.random_state)
        return tuple(int(n) for n in sizes)

    def _make_optimizer(self) -> Optimizer:
        solver, eta = self._setting("solver"), self._setting("learning_rate_init")
        if isinstance(solver, Optimizer):
            optimizer = copy.deepcopy(solver)
            optimizer.reset()
            return optimizer
        if solver == "sgd":
            return SGD(eta, momentum=self.momentum)
        return OPTIMIZERS[solver](eta=eta)

    # -- fitting ---------------------------------------------------------------------------------

    def _start(self, n_features: int, n_outputs: int):
        """Build a fresh network, optimiser and random generator (``fit``, first ``partial_fit``)."""
        sizes = self._check_params()
        seed_weights, seed_training = check_random_state(self.random_state).randint(_SEED_RANGE, size=2)
        cost = self._default_cost if self.cost == "auto" else self.cost
        output = self.output_activation
        if output == "auto":
            output = self._output_activation(get_cost(cost).name)
        self.network_ = Network([n_features, *sizes, n_outputs], activation=self._activation(), output_activation=output,
                                cost=cost, init=self.init, seed=int(seed_weights), dtype=self.dtype)
        self.optimizer_ = self._make_optimizer()
        self._rng = np.random.default_rng(int(seed_training))
        self.history_, self.n_iter_ = {}, 0

    def _train(self, X, targets, epochs: int, *, new_network: bool, stratify=None, early_stopping: bool = False):
        """Train ``network_`` for ``epochs`` on ``X``, ``targets``. On a ``new_network`` (``fit``, the first
        ``partial_fit``) the input standardisation is fitted first, on the examples trained on only: the
        validation part early stopping holds out is left out, and later ``partial_fit`` calls keep it."""
        validation, callbacks = None, []
        if early_stopping:
            from sklearn.model_selection import train_test_split

            split_seed = int(self._rng.integers(_SEED_RANGE))
            if stratify is not None:
                counts = np.unique(stratify, return_counts=True)[1]
                n_val = int(np.ceil(self.validation_fraction * len(X)))
                if counts.min() < 2 or min(n_val, len(X) - n_val) < len(counts):
                    stratify = None  # too few examples to put every class in both parts: a plain split
            try:
                X, X_val, targets, targets_val = train_test_split(
                    X, targets, test_size=self.validation_fraction, random_state=split_seed, stratify=stratify)
            except ValueError as error:
                raise DeltapropError(f"early_stopping cannot hold out validation_fraction={self.validation_fraction} "
                                     f"of {len(X)} examples: {error}") from None
            validation = (X_val, targets_val)
            callbacks.append(EarlyStopping("val_cost", patience=self.n_iter_no_change, min_delta=self.tol,
                                           restore_best_weights=True))
        if new_network and self.standardize:
            self.network_.standardize(X)
        batch_size = min(200, len(X)) if isinstance(self.batch_size, str) else min(int(self.batch_size), len(X))
        history = self.network_.fit(X, targets, epochs=epochs, batch_size=batch_size,
                                    lmbda=self._setting("alpha"), validation_data=validation, shuffle=bool(self.shuffle),
                                    seed=self._rng, callbacks=callbacks, optimizer=self.optimizer_)
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(values)
        self.n_iter_ += len(history.epoch)
        return self

    def _outputs(self, X):
        """Validated ``X`` (same features as in fit) through the network, as float64."""
        check_is_fitted(self, "network_")
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.network_.feedforward(X).astype(np.float64, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class DeltapropClassifier(ClassifierMixin, _DeltapropEstimator):
    __doc__ = ("A feedforward network classifier trained by backpropagation (deltaprop).\n\n"
               "    ``predict`` returns the class of the largest output; ``predict_proba`` the outputs\n"
               "    normalised to sum to 1 (the softmax outputs themselves by default).\n"
               + _DeltapropEstimator.__doc__.split("\n", 2)[2]
               + "    classes_ : ndarray\n        The class labels, in the order of the output units.\n")

    _default_cost = "log_likelihood"

    @staticmethod
    def _output_activation(cost: str) -> str:
        return "softmax" if cost == "log_likelihood" else "sigmoid"

    def _labels(self, y, classes=None):
        """Encode ``y`` as indices into ``classes_`` (set from ``y`` or ``classes`` when given)."""
        check_classification_targets(y)
        if classes is not None:
            self.classes_ = np.unique(classes)
        indices = np.searchsorted(self.classes_, y)
        unknown = (indices >= len(self.classes_)) | (self.classes_[np.minimum(indices, len(self.classes_) - 1)] != y)
        if np.any(unknown):
            labels = np.unique(y[unknown])[:5].tolist()
            raise DeltapropError(f"y holds labels {labels} not in classes_ {self.classes_.tolist()}")
        if len(self.classes_) < 2:
            raise DeltapropError(
                f"{type(self).__name__} needs at least 2 classes to learn; y holds 1 class ({self.classes_[0]!r})"
            )
        return indices

    def fit(self, X, y):
        """Train a new network on ``X`` (n_samples, n_features) and class labels ``y``; return self."""
        self._check_params()
        X, y = _validate_data(self, X, y, dtype=(np.float64, np.float32))
        labels = self._labels(y, classes=y)
        self._start(X.shape[1], len(self.classes_))
        return self._train(X, labels, int(self._setting("max_iter")), new_network=True, stratify=labels,
                           early_stopping=bool(self.early_stopping))

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on ``X``, ``y``; the first call needs ``classes`` (all the labels there will be).

        With ``standardize=True`` the first call fits the input standardisation on its ``X``; later calls keep it.
        """
        first = not hasattr(self, "network_")
        if first and classes is None:
            raise DeltapropError("classes must be passed on the first call to partial_fit (every label y may hold)")
        X, y = _validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32))
        if first:
            labels = self._labels(y, classes=classes)
            self._start(X.shape[1], len(self.classes_))
        else:
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise DeltapropError(
                    f"classes={list(classes)!r} differs from the first call's {self.classes_.tolist()}"
                )
            labels = self._labels(y)
        return self._train(X, labels, 1, new_network=first)

    def predict_proba(self, X):
        """Return the probability of each class, shape (n_samples, n_classes); rows sum to 1."""
        a = self._outputs(X)
        if self.network_.output_activation.name == "softmax":
            return a
        total = a.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, a / total, 1.0 / a.shape[1])  # sigmoid outputs, normalised

    def predict(self, X):
        """Return the class label of the largest output for each row of ``X``."""
        probabilities = self.predict_proba(X)  # first: it checks that the estimator is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]


def _own_init(cls):
    """Give ``cls`` its own copy of the shared ``__init__``, so Python's own TypeErrors (too many
    positional arguments) name the public class, not ``_DeltapropEstimator``."""
    shared = _DeltapropEstimator.__init__
    init = types.FunctionType(shared.__code__, shared.__globals__, shared.__name__, shared.__defaults__,
                              shared.__closure__)
    init.__kwdefaults__, init.__doc__ = dict(shared.__kwdefaults__), shared.__doc__
    init.__qualname__ = f"{cls.__name__}.__init__"
    cls.__init__ = init
    return cls


_own_init(DeltapropClassifier)


class DeltapropRegressor(RegressorMixin, _DeltapropEstimator):
    __doc__ = ("A feedforward network regressor trained by backpropagation (deltaprop).\n\n"
               "    Identity output units, one per target; ``y`` may be 1-D or (n_samples, n_targets).\n"
               + _DeltapropEstimator.__doc__.split("\n", 2)[2]
               + "    n_outputs_ : int\n        Number of targets.\n")

    _default_cost = "quadratic"

    @staticmethod
    def _output_activation(cost: str) -> str:
        return "identity"

    def _targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        return y[:, None] if y.ndim == 1 else y

    def fit(self, X, y):
        """Train a new network on ``X`` (n_samples, n_features) and targets ``y``; return self."""
        self._check_params()
        X, y = _validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True, y_numeric=True)
        targets = self._targets(y)
        self.n_outputs_, self._single_output = targets.shape[1], y.ndim == 1
        self._start(X.shape[1], self.n_outputs_)
        return self._train(X, targets, int(self._setting("max_iter")), new_network=True,
                           early_stopping=bool(self.early_stopping))

    def partial_fit(self, X, y):
        """Train one epoch on ``X``, ``y`` (a new network on the first call).

        With ``standardize=True`` the first call fits the input standardisation on its ``X``; later calls keep it.
        """
        first = not hasattr(self, "network_")
        X, y = _validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32), multi_output=True,
                              y_numeric=True)
        targets = self._targets(y)
        if first:
            self.n_outputs_, self._single_output = targets.shape[1], y.ndim == 1
            self._start(X.shape[1], self.n_outputs_)
        elif targets.shape[1] != self.n_outputs_:
            raise DeltapropError(
                f"y has {targets.shape[1]} targets but the first call to partial_fit had {self.n_outputs_}"
            )
        return self._train(X, targets, 1, new_network=first)

    def predict(self, X):
        """Return the network's outputs: shape (n_samples,) for a 1-D ``y`` in fit, else (n_samples, n_targets)."""
        a = self._outputs(X)
        return a[:, 0] if self._single_output else a

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


_own_init(DeltapropRegressor)
