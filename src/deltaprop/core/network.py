"""A feedforward network trained by backpropagation: ``z^l = W^l a^(l-1) + b^l``, ``a^l = g^l(z^l)``."""

from __future__ import annotations

import numpy as np

from ..errors import DeltapropError, ShapeError
from . import propagation
from .activations import get_activation
from .checks import as_dtype, as_inputs, as_targets, check_same_length, is_count
from .costs import get_cost
from .initializers import as_generator, check_init, initialize
from .layers import Dense
from .per_example import backprop_example
from .propagation import Gradient
from .workspace import Workspace

__all__ = ["Network", "decide"]

_CLASSIFIER_OUTPUTS = ("sigmoid", "softmax")


def decide(a) -> np.ndarray:
    """The class each row of outputs ``a`` (``(m, n_L)``) stands for: the largest output, or ``a > 0.5``
    for a single output unit. The one decision rule of every prediction, accuracy and label.

    >>> decide(np.array([[0.2, 0.7, 0.1], [0.9, 0.05, 0.05]])), decide(np.array([[0.7], [0.2]]))
    (array([1, 0]), array([1, 0]))
    """
    if a.shape[-1] == 1:
        return (a[..., 0] > 0.5).astype(np.int64)
    return np.argmax(a, axis=-1)


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
        One of :data:`deltaprop.core.costs.COSTS`: ``quadratic`` (default), ``squared_error``,
        ``cross_entropy`` (sigmoid or softmax outputs), ``log_likelihood`` (softmax or sigmoid).
    init : str
        Initialiser for layers without weights: ``"auto"`` (default: ``he`` for ReLU layers,
        ``xavier`` otherwise), ``standard_normal``, ``scaled_normal``, ``he`` or ``xavier``.
    seed : int or numpy.random.Generator, optional
        Source of the initial weights; global NumPy state is never used.
    dtype : {"float32", "float64"}
        Precision of the parameters and of every forward and backward pass (default float32).
    input_mean, input_scale : array of shape (n_in,), optional
        Input standardisation ``x -> (x - input_mean) / input_scale``, applied to every input the
        network is given (``feedforward``, ``predict``, ``evaluate``, ``cost``, ``backprop``,
        ``fit``), saved with the model and exported to ONNX. Default: none (the identity).
        :meth:`standardize` fits both on a training set.

    Examples
    --------
    >>> import numpy as np
    >>> net = Network([2, 3, 1], seed=0)
    >>> net.feedforward(np.zeros((4, 2))).shape
    (4, 1)
    """

    def __init__(self, layers, activation="sigmoid", output_activation=None, cost="quadratic",
                 init="auto", seed=None, dtype="float32", input_mean=None, input_scale=None):
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
                W, b = initialize(self.init, layer.n_out, layer.n_in, layer.activation, rng, self.dtype)
                layer._W = W if layer.W is None else layer.W
                layer._b = b if layer.b is None else layer.b
            layer._W = layer.W.astype(self.dtype, copy=False)
            layer._b = layer.b.astype(self.dtype, copy=False)
        self.stop_training = False  # set by a callback to end fit() after the current epoch
        self.input_mean, self.input_scale = None, None
        if input_mean is not None or input_scale is not None:
            self.set_standardization(input_mean, input_scale)

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
        if len(sizes) < 2 or not all(is_count(n, minimum=1) for n in sizes):
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

    def __repr__(self):
        layers = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{layers}], cost={self.cost_function.name!r}, dtype={self.dtype.name!r})"

    def summary(self, print_fn=print) -> str:
        """Print a table of the layers, as Keras' ``model.summary()`` does, and return its text.

        One row per layer: the notes' index ``l``, the shapes of ``W`` and ``b``, the activation,
        the output shape (``m`` examples by ``n_l`` units) and the parameter count
        ``n_l n_(l-1) + n_l``; then the total. Pass ``print_fn=None`` to get the text only.

        >>> text = Network([784, 30, 10], seed=0).summary(print_fn=None)
        >>> text.splitlines()[-3]
        'Total parameters: 23,860 (93.2 KiB as float32)'
        """
        header = ("layer", "W", "b", "activation", "output", "parameters")
        rows = [("1 (input)", "", "", "", f"(m, {self.sizes[0]})", "0")]
        for i, layer in enumerate(self.layers):
            count = layer.n_out * layer.n_in + layer.n_out
            rows.append((f"{i + 2} (layers[{i}])", f"({layer.n_out}, {layer.n_in})", f"({layer.n_out},)",
                         layer.activation.name, f"(m, {layer.n_out})", f"{count:,}"))
        widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]

        def line(row):
            cells = [cell.ljust(width) if c < len(row) - 1 else cell.rjust(width)
                     for c, (cell, width) in enumerate(zip(row, widths))]
            return "  ".join(cells).rstrip()

        rule = "-" * len(line(header))
        total = sum(layer.W.size + layer.b.size for layer in self.layers)
        kib = total * self.dtype.itemsize / 1024
        text = "\n".join([
            f"Network {self.sizes}: {len(self.layers)} layers of weights, cost {self.cost_function.name}",
            rule, line(header), rule, *map(line, rows), rule,
            f"Total parameters: {total:,} ({kib:,.1f} KiB as {self.dtype.name})",
            f"Trainable parameters: {total:,}",
            "W[j, k] joins unit k of layer l - 1 to unit j of layer l; m is the number of examples",
        ])
        if print_fn is not None:
            print_fn(text)
        return text

    def copy(self, dtype=None) -> "Network":
        """Return an independent copy, optionally with another dtype (e.g. float64 for checks)."""
        dtype = self.dtype if dtype is None else as_dtype(dtype)
        return Network([layer.astype(dtype) for layer in self.layers], cost=self.cost_function, dtype=dtype,
                       input_mean=self.input_mean, input_scale=self.input_scale)

    # -- inputs --------------------------------------------------------------------------------

    def _inputs(self, X, name="X", rows=None):
        x = as_inputs(X, self.sizes[0], self.dtype, name, rows)
        if self.input_mean is None:
            return x
        return (x - self.input_mean) / self.input_scale  # a fresh array: the caller's X is never changed

    # -- input standardisation -------------------------------------------------------------------

    def standardize(self, X) -> "Network":
        """Fit the input standardisation on training inputs ``X``: per-feature mean and standard
        deviation (a constant feature gets scale 1). Every later input is mapped to
        ``(x - mean) / scale`` before the first layer; returns the network.
        """
        self.input_mean, self.input_scale = None, None
        x = np.asarray(as_inputs(X, self.sizes[0], self.dtype, "X"), dtype=np.float64)
        scale = x.std(axis=0)
        scale[scale < 1e-8] = 1.0
        return self.set_standardization(x.mean(axis=0), scale)

    def set_standardization(self, input_mean, input_scale) -> "Network":
        """Set the input standardisation (both ``(n_in,)``, scale positive), or remove it with ``None, None``."""
        if input_mean is None and input_scale is None:
            self.input_mean, self.input_scale = None, None
            return self
        n_in = self.sizes[0]
        mean = np.asarray(input_mean if input_mean is not None else np.zeros(n_in), dtype=self.dtype).reshape(-1)
        scale = np.asarray(input_scale if input_scale is not None else np.ones(n_in), dtype=self.dtype).reshape(-1)
        if mean.shape != (n_in,) or scale.shape != (n_in,):
            raise ShapeError(f"input_mean and input_scale must have shape ({n_in},), got {mean.shape} and {scale.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise DeltapropError("input_mean must be finite and input_scale finite and positive")
        self.input_mean, self.input_scale = mean.copy(), scale.copy()
        return self

    def _targets(self, Y, name="Y"):
        sum_to_one = self.cost_function.name == "log_likelihood" and self.output_activation.name == "softmax"
        return as_targets(Y, self.sizes[-1], self.dtype, name, sum_to_one=sum_to_one)

    # -- weights -------------------------------------------------------------------------------

    def get_weights(self) -> list:
        """Copies of every layer's ``(W, b)``, to put back later with :meth:`set_weights`."""
        return [(layer.W.copy(), layer.b.copy()) for layer in self.layers]

    def set_weights(self, weights) -> None:
        """Copy ``[(W, b), ...]`` (from :meth:`get_weights`) into the layers' own arrays.

        In place: the arrays an optimiser or a graph holds stay the layers' arrays.
        """
        for layer, (W, b) in zip(self.layers, weights):
            np.copyto(layer.W, W)
            np.copyto(layer.b, b)

    # -- the network as a function -----------------------------------------------------------------

    def feedforward(self, X) -> np.ndarray:
        """Return the output activations ``a^L`` for inputs ``X`` of shape ``(m, n_in)``.

        A single example of shape ``(n_in,)`` gives an output of shape ``(n_L,)``.
        """
        single = np.ndim(X) == 1
        a = self._feedforward(self._inputs(np.atleast_2d(X) if single else X))
        return a[0] if single else a

    def _feedforward(self, x):
        # Fresh buffers, one row per example, each a^l computed in place of its z^l.
        ws = Workspace(self.layers, len(x), self.dtype, columns=[False] * len(self.layers), backward=False)
        ws.activations[1:] = ws.zs
        return propagation.feedforward(self.layers, x, ws)

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
        return decide(a) if self.is_classifier else a

    def predict_proba(self, X) -> np.ndarray:
        """Return class probabilities ``(m, n_classes)``, rows summing to 1, for a classifier.

        Softmax outputs are returned as they are; sigmoid outputs are normalised to sum to 1, and a
        single sigmoid unit ``a`` gives the two columns ``[1 - a, a]`` (classes 0 and 1, as
        :meth:`predict` decides them).
        """
        if not self.is_classifier:
            raise DeltapropError(
                f"predict_proba() needs a sigmoid or softmax output (this network's is {self.output_activation.name!r}); "
                "use predict() for the outputs"
            )
        single = np.ndim(X) == 1
        a = np.atleast_2d(self.feedforward(X))
        if a.shape[1] == 1:
            p = np.concatenate([1 - a, a], axis=1)
        elif self.output_activation.name == "softmax":
            p = a
        else:
            total = a.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.where(total > 0, a / total, np.asarray(1.0 / a.shape[1], dtype=a.dtype))
        return p[0] if single else p

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
        a = self._feedforward(x)  # x is standardised already: not through predict()
        return float(np.mean((decide(a) if self.is_classifier else a) == labels))

    def _labels(self, y):
        return decide(self._targets(y, "y"))  # (m, n_L): one-hot rows, or a column of 0/1

    # -- backpropagation -----------------------------------------------------------------------

    def backprop(self, X, Y) -> Gradient:
        """Return the gradient of the batch cost ``C(X, Y)`` computed by BP1-BP4.

        ``.weights[i]`` and ``.biases[i]`` are ``dC/dW`` and ``dC/db`` of ``self.layers[i]``, means
        over the batch; ``.deltas``, ``.zs`` and ``.activations`` keep the intermediate
        quantities (see :class:`~deltaprop.core.propagation.Gradient`). The arrays are fresh: later
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

        See :func:`deltaprop.core.per_example.backprop_example`: a loop over layers with ``x`` a
        column vector, as in Nielsen's network.py, kept for teaching and as an independent check.
        """
        x = self._inputs(np.reshape(x, (1, -1)), "x")
        y = self._targets(np.reshape(y, (1, -1)) if np.ndim(y) else np.reshape(y, (1,)), "y")
        return backprop_example(self, x[0][:, None], y[0][:, None])

    # -- learning ------------------------------------------------------------------------------

    def fit(self, X, Y, epochs=1, batch_size=10, eta=0.1, lmbda=0.0, validation_data=None,
            shuffle=True, seed=None, callbacks=None, optimizer=None, checkpoint=None, checkpoint_every="epoch",
            resume=None, max_grad_norm=None, checkpoint_metadata=None, verbose=0, validation_split=None, comm=None):
        """Train by mini-batch stochastic gradient descent; return a :class:`~deltaprop.History`.

        Each epoch shuffles the training set, cuts it into batches of ``batch_size`` and, for
        each batch, updates ``W^l <- W^l - eta/m sum_x delta^(x,l) a^(x,l-1)^T`` and
        ``b^l <- b^l - eta/m sum_x delta^(x,l)``. With ``lmbda > 0``, L2 regularisation as in
        Nielsen's network2: ``W <- (1 - eta lmbda/n) W - eta grad``, ``n = len(X)``.

        Parameters
        ----------
        X : array of shape (n, n_in)
            An ``np.load(path, mmap_mode="r")`` memmap is read batch by batch, never whole.
        Y : class labels of shape (n,) or targets of shape (n, n_L)
        epochs, batch_size : int
            With ``resume``, ``epochs`` is the total, epochs already done included.
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
        callbacks : list of deltaprop.Callback, optional
        optimizer : deltaprop.Optimizer, optional
            Default ``SGD(eta)``, plain SGD as above.
        checkpoint : str or os.PathLike, optional
            Write the state of the run there (weights, optimizer, random state, position, history;
            see :mod:`deltaprop.files.checkpoint`), atomically, as ``checkpoint_every`` says, at
            the end of training and on Ctrl-C.
        checkpoint_every : "epoch", int or None
            ``"epoch"`` (default); ``k``: after every ``k``-th batch (counted over the whole run, as
            Keras' ``save_freq``) and at the end; ``None``: only at an interruption.
        resume : str, os.PathLike or Checkpoint, optional
            Continue the run saved there, bit-identical to an uninterrupted run: its weights,
            optimizer (hyper-parameters included: ``eta`` and ``seed`` are then ignored), random
            state, position and history. ``X``, ``Y``, ``batch_size``, ``shuffle``, ``lmbda`` and
            ``max_grad_norm`` must be those of the interrupted run. The epoch in progress
            continues without a second ``on_epoch_begin``.
        max_grad_norm : float, optional
            Clip each batch's gradient (all weights and biases together) to this Euclidean norm.
        checkpoint_metadata : dict, optional
            JSON information stored in every checkpoint (``Checkpoint.extra``).
        verbose : int
            ``1``: print the command line's line after every epoch (``epoch  3/30  cost 0.04123
            val_accuracy 0.9511``, epochs counted from 1). ``0`` (default): silent.
        validation_split : float, optional
            Hold out this fraction of ``X``, ``Y`` (in (0, 1)) as ``validation_data``, stratified by
            class for a classifier (a fixed split of each class's last rows, as Keras takes the last
            rows), and train on the rest. Not with ``validation_data`` or ``resume``.
=======
        comm : mpi4py communicator, optional
            Train data-parallel over its K ranks (run the script with ``mpiexec -n K``; every rank
            calls ``fit`` with the same arguments): each batch of ``batch_size`` is shared out,
            each rank backpropagates its share, and one ``Allreduce`` per step sums the gradients,
            so the weights equal a single process's to float rounding. Rank 0's weights are the
            starting point; only rank 0 writes the checkpoint; validation is shared out and every
            rank returns the same history. Callbacks run on every rank with the same logs: give
            those that write files or print to rank 0 only. An exception on one rank during
            training ends the whole job (``comm.Abort``) with a message naming the rank. See
            :mod:`deltaprop.train.parallel`.

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
            When a cost, gradient norm or weight becomes NaN or infinite; the network keeps its last
            finite weights. The error carries ``epoch``, ``batch``, ``quantity``, ``value`` and ``eta``.
        TrainingInterrupted
            After Ctrl-C, once the current batch is done and the checkpoint written.
        """
        # Convenience method: the training loop and the checkpoint file format sit above the core.
        from ..files.checkpoint import STORE
        from ..train.loop import fit

        return fit(self, X, Y, epochs=epochs, batch_size=batch_size, eta=eta, lmbda=lmbda,
                   validation_data=validation_data, shuffle=shuffle, seed=seed, callbacks=callbacks,
                   optimizer=optimizer, checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                   max_grad_norm=max_grad_norm, checkpoint_metadata=checkpoint_metadata, store=STORE, verbose=verbose,
                   validation_split=validation_split, comm=comm)

    # -- files ---------------------------------------------------------------------------------

    def save(self, path, **options) -> None:
        """Save architecture, cost, dtype and weights to ``path``; see :func:`deltaprop.save`.

        The file never executes code when loaded: read it back with :func:`deltaprop.load`.
        """
        from ..files.model import save  # the saved-model layer sits above the core; imported on use

        save(self, path, **options)

    # -- pictures (see deltaprop.draw) ---------------------------------------------------------------

    def draw(self, path, x=None, y=None, color_by="a", **options) -> str:
        """Draw the network to ``path`` (``.png`` or ``.svg``); see :func:`deltaprop.draw.draw`.

        With one example ``x`` (and target ``y``) each unit shows its ``z``, ``a`` (and ``delta``);
        ``color_by`` is ``"a"`` or ``"delta"``. Needs matplotlib.
        """
        from ..draw import draw  # pictures sit above the core; matplotlib is imported only there

        return draw(self, path, x=x, y=y, color_by=color_by, **options)

    def _repr_svg_(self) -> str:
        """The diagram Jupyter shows for a network: plain SVG text, no matplotlib needed."""
        from ..draw import svg_diagram

        return svg_diagram(self)

    # -- other libraries' formats (see deltaprop.state_dict and deltaprop.onnx_export) ------------

    def state_dict(self) -> dict:
        """Weights under ``torch.nn.Sequential``'s names (``'0.weight'``, ``'0.bias'``, ``'2.weight'``, ...)."""
        from ..state_dict import state_dict

        return state_dict(self)

    def load_state_dict(self, state) -> None:
        """Copy weights from a state dict with ``torch.nn.Sequential``'s names; mismatches are listed."""
        from ..state_dict import load_state_dict

        load_state_dict(self, state)

    @classmethod
    def from_state_dict(cls, state, activation=None, output_activation=None, cost="quadratic", dtype=None):
        """Build a network from a ``torch.nn.Sequential``-style state dict; ``activation=`` is required
        (a state dict records none). See :func:`deltaprop.state_dict.from_state_dict`."""
        from ..state_dict import from_state_dict

        return from_state_dict(state, activation=activation, output_activation=output_activation, cost=cost, dtype=dtype)

    def to_onnx(self, path=None, **options):
        """Export to ONNX (``Gemm`` plus activation operators); needs the ``onnx`` extra."""
        from ..onnx_export import to_onnx

        return to_onnx(self, path, **options)
