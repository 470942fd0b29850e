"""Networks written by hand: a small JSON file of weights, read without trusting a byte of it.

The format, shared by ``deltaprop draw --weights``, ``deltaprop explore --weights`` and
``deltaprop explain --weights``::

    {"cost": "quadratic",
     "layers": [{"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35},
                {"activation": "sigmoid", "W": [[0.40, 0.45], [0.50, 0.55]], "b": [0.60, 0.60]}]}

``layers[i]`` is ``net.layers[i]``, the notes' layer ``l = i + 2``. ``W`` is a list of ``n_out``
rows of ``n_in`` numbers (``W[j][k]`` joins unit ``k`` of the previous layer to unit ``j``, as in
the notes); ``b`` is one number shared by every unit of the layer, or a list of ``n_out`` numbers.
Each layer's ``n_in`` must be the previous layer's ``n_out``.

:func:`read_weights_json` checks everything before it builds the network: the file is a regular
file of at most :data:`MAX_FILE_BYTES`; it is UTF-8 JSON without ``NaN`` or ``Infinity``; the keys
are exactly those above; the names are known activations and costs; every number is finite
(``1e999`` parses to infinity and is refused); the shapes agree; the sizes stay within
:data:`MAX_LAYERS` and :data:`MAX_UNITS`. Every failure is a :class:`~deltaprop.errors.ModelFileError`
naming the file and the place in it (``layers[1].W[0][2]``).

>>> import json, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "net.json")
>>> _ = open(path, "w").write(json.dumps({"cost": "quadratic", "layers": [
...     {"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35}]}))
>>> net = read_weights_json(path)
>>> net.sizes, net.layers[0].b.tolist()
([2, 2], [0.35, 0.35])
"""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np

from ..atomic import atomic_write
from ..core.activations import ACTIVATIONS
from ..core.costs import COSTS
from ..core.layers import Dense
from ..core.network import Network
from ..errors import DeltapropError, ModelFileError, NonFiniteError

__all__ = ["MAX_FILE_BYTES", "MAX_LAYERS", "MAX_UNITS", "network_from_weights", "read_weights_json",
           "weights_dict", "write_weights_json"]

MAX_FILE_BYTES = 64 << 20
"""Largest weights file read (64 MiB, about three million numbers): a hand-written network is
small; a larger one belongs in a model file (``Network.save``), which is binary and faster."""
MAX_LAYERS = 1_000
"""Most layers a weights file may declare."""
MAX_UNITS = 100_000
"""Most units in any one layer (input included)."""

_TOP_KEYS = ("cost", "layers")
_LAYER_KEYS = ("activation", "W", "b")


def _is_number(value) -> bool:
    # NOTE: bool is a subclass of int, and JSON true would otherwise read as the weight 1.
    return type(value) in (int, float)


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


class _Reader:
    """Check one parsed file, naming ``source`` and the place of each problem."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message):
        raise ModelFileError(f"weights file {self.source}: {message}")

    def keys(self, obj, allowed, where):
        if not isinstance(obj, dict):
            self.fail(f"{where} must be a JSON object with keys {', '.join(allowed)}, got {type(obj).__name__}")
        unknown = [key for key in obj if key not in allowed]
        if unknown:
            self.fail(f"{where} has unknown key {unknown[0]!r}; the keys are {', '.join(allowed)}")
        missing = [key for key in allowed if key not in obj]
        if missing:
            self.fail(f"{where} lacks {missing[0]!r}")

    def name(self, value, registry, kind, where):
        if not isinstance(value, str) or value not in registry:
            self.fail(f"{where} = {_short(value)} is not a known {kind}; choose one of {', '.join(registry)}")
        return value

    def numbers(self, row, n, where):
        """A list of exactly ``n`` finite numbers (``n=None``: any positive length)."""
        if not isinstance(row, list):
            self.fail(f"{where} must be a list of numbers, got {type(row).__name__}")
        if n is not None and len(row) != n:
            self.fail(f"{where} has {len(row)} numbers; {n} are needed")
        if not row:
            self.fail(f"{where} is empty")
        for k, value in enumerate(row):
            if not _is_number(value):
                self.fail(f"{where}[{k}] = {_short(value)} is not a number")
            if not _finite(value):
                self.fail(f"{where}[{k}] = {_short(value)} is not a finite number")
        return row

    def layer(self, obj, i, n_in):
        where = f"layers[{i}]"
        self.keys(obj, _LAYER_KEYS, where)
        activation = self.name(obj["activation"], ACTIVATIONS, "activation", f"{where}.activation")
        W = obj["W"]
        if not isinstance(W, list) or not W:
            self.fail(f"{where}.W must be a non-empty list of rows (one per unit of the layer)")
        if len(W) > MAX_UNITS:
            self.fail(f"{where}.W has {len(W)} rows; at most {MAX_UNITS} units per layer are read")
        if n_in is None:  # the first layer fixes the number of inputs
            n_in = len(W[0]) if isinstance(W[0], list) else None
            if n_in is not None and n_in > MAX_UNITS:
                self.fail(f"{where}.W[0] has {n_in} numbers; at most {MAX_UNITS} inputs are read")
        for j, row in enumerate(W):
            self.numbers(row, n_in, f"{where}.W[{j}]")
        n_out, b = len(W), obj["b"]
        if _is_number(b):
            if not _finite(b):
                self.fail(f"{where}.b = {_short(b)} is not a finite number")
            b = [b] * n_out  # one bias shared by every unit of the layer
        elif isinstance(b, list):
            if len(b) != n_out:
                self.fail(f"{where}.b has {len(b)} numbers but W has {n_out} rows; give one bias per unit "
                          "or a single number for the whole layer")
            self.numbers(b, n_out, f"{where}.b")
        else:
            self.fail(f"{where}.b must be a number or a list of {n_out} numbers, got {type(b).__name__}")
        return Dense(n_in, n_out, activation, W=np.array(W, dtype=np.float64), b=np.array(b, dtype=np.float64))


def _short(value, limit: int = 40) -> str:
    text = json.dumps(value) if isinstance(value, (str, list, dict, bool, type(None))) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def network_from_weights(obj, source: str = "<weights>", dtype="float64") -> Network:
    """Build a :class:`~deltaprop.Network` from an already parsed weights object (see the module docstring)."""
    reader = _Reader(source)
    reader.keys(obj, _TOP_KEYS, "the top level")
    cost = reader.name(obj["cost"], COSTS, "cost", "cost")
    layers = obj["layers"]
    if not isinstance(layers, list) or not layers:
        reader.fail("layers must be a non-empty list of {\"activation\", \"W\", \"b\"} objects")
    if len(layers) > MAX_LAYERS:
        reader.fail(f"has {len(layers)} layers; at most {MAX_LAYERS} are read")
    dense, n_in = [], None
    for i, layer in enumerate(layers):
        built = reader.layer(layer, i, n_in)
        dense.append(built)
        n_in = built.n_out
    try:
        return Network(dense, cost=cost, dtype=dtype)
    except DeltapropError as error:  # e.g. log_likelihood after a tanh output
        reader.fail(f"describes an invalid network: {error}")


def read_weights_json(path, dtype="float64") -> Network:
    """Read a weights file (see the module docstring) into a float64 (or ``dtype``) network.

    Raises
    ------
    ModelFileError
        If the file is missing, not a regular file, larger than :data:`MAX_FILE_BYTES`, not UTF-8
        JSON, or describes anything but a valid network; the message names the file and the place.
    """
    source = os.fspath(path)
    reader = _Reader(source)
    try:
        info = os.stat(source)
    except OSError as error:
        reader.fail(error.strerror or str(error))
    if not stat.S_ISREG(info.st_mode):
        reader.fail("is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        reader.fail(f"is {info.st_size} bytes; at most {MAX_FILE_BYTES} are read (save a large network with "
                    "Network.save instead)")
    try:
        with open(source, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        text = data.decode("utf-8")
    except OSError as error:
        reader.fail(error.strerror or str(error))
    except UnicodeDecodeError:
        reader.fail("is not UTF-8 text; a weights file is JSON, e.g. "
                    '{"cost": "quadratic", "layers": [{"activation": "sigmoid", "W": [[0.1, 0.2]], "b": 0.3}]}')
    if len(data) > MAX_FILE_BYTES:
        reader.fail(f"holds more than {MAX_FILE_BYTES} bytes")

    def refuse_constant(name):
        reader.fail(f"holds {name}, which is not a number JSON allows; weights must be finite")

    try:
        obj = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        reader.fail(f"is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}")
    except RecursionError:
        reader.fail("is nested too deeply to be a weights file")
    return network_from_weights(obj, source, dtype)


def weights_dict(net: Network) -> dict:
    """``{"cost": ..., "layers": [{"activation", "W", "b"}, ...]}``: ``net`` in the weights-file form.

    Numbers are Python floats (the float32 values of a float32 network, exactly).
    """
    return {
        "cost": net.cost_function.name,
        "layers": [{"activation": layer.activation.name, "W": layer.W.astype(np.float64).tolist(),
                    "b": layer.b.astype(np.float64).tolist()} for layer in net.layers],
    }


def write_weights_json(net: Network, path) -> None:
    """Write ``net`` as a weights file, atomically; :func:`read_weights_json` reads it back exactly."""
    try:
        text = json.dumps(weights_dict(net), allow_nan=False)
    except ValueError:
        raise NonFiniteError(f"{os.fspath(path)} not written: the network's weights hold NaN or infinity") from None
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
