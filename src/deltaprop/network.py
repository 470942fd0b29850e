"""A feedforward network trained by backpropagation: ``z^l = W^l a^(l-1) + b^l``, ``a^l = g^l(z^l)``."""

from __future__ import annotations

import numpy as np

from . import propagation, training
from .activations import get_activation
from .costs import get_cost
from .errors import DeltapropError, ShapeError
from .initializers import as_generator, check_init, initialize
from .layers import Dense
from .per_example import backprop_example
from .propagation import Gradient, Workspace
from .validation import as_dtype, as_inputs, as_targets, check_same_length

__all__ = ["Network"]

_CLASSIFIER_OUTPUTS = ("sigmoid", "softmax")


class Network:
    """A feedforward network of :class:`~deltaprop.Dense` layers and a cost.

    Build it Nielsen-style from layer sizes (the first is the input)::

        Network([784, 30, 10], activation="sigmoid", cost="quadratic", seed=0)
        Network([64, 100, 10], activation="relu", output_activation="softmax", cost="log_likelihood")

    or from a list of layers::

        Network([Dense(784, 100, "relu"), Dense(100, 10, "softmax")], cost="log_likelihood")

    Parameters
    ----------
    layers : list of int, or list of Dense
        Layer sizes ``[n_1, ..., n_L]`` (``n_1`` inputs), or the layers themselves.
    activation : str
        Activation of every layer when built from sizes (default ``"sigmoid"``).
    output_activation : str, optional
        Activation of the last layer when built from sizes (default: ``activation``).
    cost : str
        One of :data:`deltaprop.costs.COSTS`: ``quadratic`` (default), ``squared_error``,
        ``cross_entropy`` (sigmoid or softmax outputs), ``log_likelihood`` (softmax or sigmoid).
    init : str
        Initialiser for layers without weights: ``"auto"`` (default: ``he`` for ReLU layers,
        ``xavier`` otherwise), ``standard_normal``, ``scaled_normal``, ``he`` or ``xavier``.
    seed : int or numpy.random.Generator, optional
        Source of the initial weights; global NumPy state is never used.
    dtype : {"float32", "float64"}
        Precision of the parameters and of every forward and backward pass (default float32).

    Examples
    --------
    >>> import numpy as np
    >>> net = Network([2, 3, 1], seed=0)
    >>> net.feedforward(np.zeros((4, 2))).shape
    (4, 1)
    """

    def __init__(self, layers, activation="sigmoid", output_activation=None, cost="quadratic",
                 init="auto", seed=None, dtype="float32"):
        self.dtype = as_dtype(dtype)
        self.cost_function = get_cost(cost)
        self.init = check_init(init)
        self.layers: list[Dense] = self._build(layers, activation, output_activation)
        outputs = self.cost_function.outputs
        if outputs is not None and self.output_activation.name not in outputs:
            raise DeltapropError(
                f"cost={self.cost_function.name!r} needs output_activation in {outputs}, got {self.output_activation.name!r}"
            )
        rng = as_generator(seed)
        for layer in self.layers:
            if layer.W is None or layer.b is None:
                W, b = initialize(self.init, layer.n_out, layer.n_in, layer.activation.name, rng, self.dtype)
                layer._W = W if layer.W is None else layer.W
                layer._b = b if layer.b is None else layer.b
            layer._W = layer.W.astype(self.dtype, copy=False)
            layer._b = layer.b.astype(self.dtype, copy=False)
        self._workspaces: dict[int, Workspace] = {}
        self.stop_training = False  # set by a callback to end fit() after the current epoch

    @staticmethod
    def _build(layers, activation, output_activation):
        layers = list(layers) if not isinstance(layers, (str, bytes)) else layers
        if not isinstance(layers, list) or len(layers) == 0:
            raise DeltapropError(f"layers={layers!r} must be a non-empty list of sizes or of Dense layers")
        if all(isinstance(layer, Dense) for layer in layers):
            if activation != "sigmoid" or output_activation is not None:
                raise DeltapropError("activation and output_activation apply to sizes; Dense layers carry their own")
            for i in range(1, len(layers)):
                if layers[i].n_in != layers[i - 1].n_out:
                    raise ShapeError(
                        f"layers[{i}] takes {layers[i].n_in} inputs but layers[{i - 1}] gives {layers[i - 1].n_out} outputs"
                    )
            return layers
        sizes = layers
        if len(sizes) < 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in sizes):
            raise DeltapropError(f"layers={sizes!r} must list at least two positive integer sizes, e.g. [784, 30, 10]")
        get_activation(activation)
        last = activation if output_activation is None else get_activation(output_activation, "output_activation")
        return [
            Dense(n_in, n_out, last if i == len(sizes) - 2 else activation)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]

    # -- description ---------------------------------------------------------------------------

    @property
    def sizes(self) -> list[int]:
        """Layer sizes ``[n_1, ..., n_L]``, the input first."""
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def output_activation(self):
        return self.layers[-1].activation

    @property
    def is_classifier(self) -> bool:
        """True when the output activation is sigmoid or softmax: predictions are class labels."""
        return self.output_activation.name in _CLASSIFIER_OUTPUTS

    @property
    def n_parameters(self) -> int:
        return sum(layer.W.size + layer.b.size for layer in self.layers)

    def __repr__(self):
        layers = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{layers}], cost={self.cost_function.name!r}, dtype={self.dtype.name!r})"

    def copy(self, dtype=None) -> "Network":
        """Return an independent copy, optionally with another dtype (e.g. float64 for checks)."""
        dtype = self.dtype if dtype is None else as_dtype(dtype)
        return Network([layer.astype(dtype) for layer in self.layers], cost=self.cost_function, dtype=dtype)

    # -- inputs --------------------------------------------------------------------------------

    def _inputs(self, X, name="X"):
        return as_inputs(X, self.sizes[0], self.dtype, name)

    def _targets(self, Y, name="Y"):
        sum_to_one = self.cost_function.name == "log_likelihood" and self.output_activation.name == "softmax"
        return as_targets(Y, self.sizes[-1], self.dtype, name, sum_to_one=sum_to_one)

    def _workspace(self, m: int) -> Workspace:
        ws = self._workspaces.get(m)
        if ws is None or ws.zs[0].dtype != self.dtype:
            ws = self._workspaces[m] = Workspace(self.layers, m, self.dtype)
        return ws

    # -- the network as a function -----------------------------------------------------------------

    def feedforward(self, X) -> np.ndarray:
        """Return the output activations ``a^L`` for inputs ``X`` of shape ``(m, n_in)``.

        A single example of shape ``(n_in,)`` gives an output of shape ``(n_L,)``.
        """
        single = np.ndim(X) == 1
        a = self._feedforward(self._inputs(np.atleast_2d(X) if single else X))
        return a[0] if single else a

    def _feedforward(self, x):
        a = x
        for layer in self.layers:
            z = a @ layer.W.T + layer.b  # z^l = W^l a^(l-1) + b^l, one row per example
            a = layer.activation.forward(z, out=z)  # a^l = g^l(z^l)
        return a

    def cost(self, X, Y) -> float:
        """Return the batch cost ``C``: the mean of ``C_x`` over the rows of ``X`` and ``Y``."""
        x, y = self._inputs(X), self._targets(Y)
        check_same_length(x, y)
        return self.cost_function.value(self._feedforward(x), y)

    def predict(self, X) -> np.ndarray:
        """Return class labels for a classifier, the outputs ``a^L`` otherwise.

        A classifier (sigmoid or softmax output) predicts the index of the largest output, or
        ``a > 0.5`` for a single output unit.
        """
        a = self.feedforward(X)
        if not self.is_classifier:
            return a
        if a.shape[-1] == 1:
            return (a[..., 0] > 0.5).astype(np.int64)
        return np.argmax(a, axis=-1)

    def evaluate(self, X, y) -> float:
        """Return the classification accuracy on ``X``: the fraction of rows predicted right.

        ``y`` holds class labels ``(m,)`` or one-hot rows ``(m, n_L)``.
        """
        if not self.is_classifier:
            raise DeltapropError(
                f"evaluate() measures accuracy, which needs a sigmoid or softmax output (this network's is {self.output_activation.name!r}); use cost() instead"
            )
        x = self._inputs(X)
        labels = self._labels(y)
        check_same_length(x, labels, "X", "y")
        return float(np.mean(self.predict(x) == labels))

    def _labels(self, y):
        targets = self._targets(y, "y")  # (m, n_L): one-hot rows, or a column of 0/1
        if targets.shape[1] == 1:
            return (targets[:, 0] > 0.5).astype(np.int64)
        return np.argmax(targets, axis=1)

    # -- backpropagation -----------------------------------------------------------------------

    def backprop(self, X, Y) -> Gradient:
        """Return the gradient of the batch cost ``C(X, Y)`` computed by BP1-BP4.

        ``.weights[i]`` and ``.biases[i]`` are ``dC/dW`` and ``dC/db`` of ``self.layers[i]``, means
        over the batch; ``.deltas``, ``.zs`` and ``.activations`` keep the intermediate
        quantities (see :class:`~deltaprop.propagation.Gradient`). The arrays are fresh: later
        calls do not overwrite them.
        """
        x, y = self._inputs(X), self._targets(Y)
        check_same_length(x, y)
        ws = Workspace(self.layers, x.shape[0], self.dtype)
        propagation.feedforward(self.layers, x, ws)
        propagation.backward(self.layers, self.cost_function, y, ws, scale=1.0 / x.shape[0])
        return Gradient(ws.nabla_w, ws.nabla_b, ws.deltas, ws.zs, ws.activations)

    def backprop_example(self, x, y) -> tuple[list, list]:
        """Return ``(nabla_b, nabla_w)`` for one example, in the notes' column-vector form.

        See :func:`deltaprop.per_example.backprop_example`: a loop over layers with ``x`` a
        column vector, as in Nielsen's network.py, kept for teaching and as an independent check.
        """
        x = self._inputs(np.reshape(x, (1, -1)), "x")
        y = self._targets(np.reshape(y, (1, -1)) if np.ndim(y) else np.reshape(y, (1,)), "y")
        return backprop_example(self, x[0][:, None], y[0][:, None])

    # -- learning ------------------------------------------------------------------------------

    def fit(self, X, Y, epochs=1, batch_size=10, eta=0.1, lmbda=0.0, validation_data=None,
            shuffle=True, seed=None, callbacks=None, optimizer=None, **options):
        """Train by mini-batch stochastic gradient descent; return a :class:`~deltaprop.History`.

        Each epoch shuffles the training set, cuts it into batches of ``batch_size`` and, for
        each batch, updates ``W^l <- W^l - eta/m sum_x delta^(x,l) a^(x,l-1)^T`` and
        ``b^l <- b^l - eta/m sum_x delta^(x,l)``. With ``lmbda > 0``, L2 regularisation as in
        Nielsen's network2: ``W <- (1 - eta lmbda/n) W - eta grad``, ``n = len(X)``.

        Parameters
        ----------
        X : array of shape (n, n_in)
        Y : class labels of shape (n,) or targets of shape (n, n_L)
        epochs, batch_size : int
        eta : float
            Learning rate (ignored when ``optimizer`` is given).
        lmbda : float
            L2 regularisation strength (default 0).
        validation_data : (X_val, Y_val), optional
            Evaluated after every epoch into ``val_cost`` (and ``val_accuracy`` for classifiers).
        shuffle : bool
            Reshuffle the examples every epoch (default True).
        seed : int or numpy.random.Generator, optional
            Source of the shuffling.
        callbacks : list of deltaprop.callbacks.Callback, optional
        optimizer : deltaprop.optim.Optimizer, optional
            Default ``SGD(eta)``, plain SGD as above.
        checkpoint : path, optional
            Write the run's state there atomically (weights, optimizer, random state, position,
            history) every ``checkpoint_every`` (``"epoch"``, default; ``k`` batches; ``None``:
            only on Ctrl-C) and at the end; see :mod:`deltaprop.checkpoint`.
        resume : path or Checkpoint, optional
            Continue a checkpointed run; the result is bit-identical to an uninterrupted run.
            ``epochs`` is then the total, epochs already done included.
        max_grad_norm : float, optional
            Clip each batch's gradient (all weights and biases together) to this norm.

        Returns
        -------
        History
            ``history.history`` holds per-epoch lists: ``cost`` (mean batch cost over the epoch),
            ``val_cost`` and ``val_accuracy`` with validation data.

        Raises
        ------
        DeltapropError
            For bad input, before any parameter changes.
        DivergenceError
            When a cost, gradient or weight becomes NaN or infinite; the network keeps its last
            finite weights, and the message names the epoch and batch and suggests a smaller eta.
        TrainingInterrupted
            After Ctrl-C, once the current batch is done and the checkpoint written.
        """
        return training.fit(self, X, Y, epochs=epochs, batch_size=batch_size, eta=eta, lmbda=lmbda,
                   validation_data=validation_data, shuffle=shuffle, seed=seed,
                   callbacks=callbacks, optimizer=optimizer, **options)

    # -- files ---------------------------------------------------------------------------------

    def save(self, path, **options) -> None:
        """Save architecture, cost, dtype and weights to ``path``; see :func:`deltaprop.io.save`.

        The file never executes code when loaded: read it back with :func:`deltaprop.load`.
        """
        from .io import save  # the saved-model layer sits above the core; imported on use

        save(self, path, **options)

    # -- other libraries' formats (see deltaprop.state_dict and deltaprop.onnx_export) ------------

    def state_dict(self) -> dict:
        """Weights under ``torch.nn.Sequential``'s names (``'0.weight'``, ``'0.bias'``, ``'2.weight'``, ...)."""
        from .state_dict import state_dict

        return state_dict(self)

    def load_state_dict(self, state) -> None:
        """Copy weights from a state dict with ``torch.nn.Sequential``'s names; mismatches are listed."""
        from .state_dict import load_state_dict

        load_state_dict(self, state)

    @classmethod
    def from_state_dict(cls, state, activation="sigmoid", output_activation=None, cost="quadratic", dtype=None):
        """Build a network from a ``torch.nn.Sequential``-style state dict."""
        from .state_dict import from_state_dict

        return from_state_dict(state, activation=activation, output_activation=output_activation, cost=cost, dtype=dtype)

    def to_onnx(self, path=None, **options):
        """Export to ONNX (``Gemm`` plus activation operators); needs the ``onnx`` extra."""
        from .onnx_export import to_onnx

        return to_onnx(self, path, **options)
