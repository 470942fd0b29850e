"""Networks written by hand as JSON: the weights of a worked example or a homework, checked field by field.

The format (one object; ``b`` is one number shared by the layer's units or one number per unit)::

    {"cost": "quadratic",
     "layers": [{"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35},
                {"activation": "sigmoid", "W": [[0.40, 0.45], [0.50, 0.55]], "b": [0.60, 0.60]}]}

``W`` of a layer has one row per unit of that layer and one column per unit of the layer before,
as in the notes (``W[j][k]`` joins unit ``k`` of the previous layer to unit ``j``); the first
layer's columns are the inputs. ``cost`` and ``activation`` take the names of
``deltaprop.COSTS`` and ``deltaprop.ACTIVATIONS``; an optional ``"description"`` string is ignored.

The file is untrusted input: everything is checked before a network is built, and every problem
is a :class:`~deltaprop.errors.ModelFileError` naming the file and the field
(``layers[1].W[0][2]``). Sizes are bounded: at most :data:`MAX_BYTES` of text and
:data:`MAX_PARAMETERS` numbers. The format is for networks small enough to write and read by hand,
and ``deltaprop explain`` prints every weight and checks each by two forward passes (its work grows
like the square of the number of weights); larger networks belong in a model file
(``net.save``), whose binary arrays are read with their sizes checked.
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import NamedTuple

import numpy as np

from ..core.activations import ACTIVATIONS
from ..core.costs import COSTS
from ..core.layers import Dense
from ..core.network import Network
from ..errors import DeltapropError, ModelFileError

__all__ = ["MAX_BYTES", "MAX_PARAMETERS", "WeightsFile", "read_weights", "read_weights_file", "read_weights_json",
           "weights_dict", "weights_to_json", "write_weights_json"]

MAX_PARAMETERS = 100_000
"""The most weights and biases a JSON weights file may hold (see the module docstring for why)."""

MAX_BYTES = 16 * 2**20
"""The largest JSON weights file read (16 MiB: 100,000 numbers at full precision take about 2.5 MB)."""

_TOP_KEYS = ("cost", "layers", "description")
_LAYER_KEYS = ("activation", "W", "b")


class WeightsFile(NamedTuple):
    """A JSON weights file as read: the network, and which layers share one bias among their units."""

    network: Network
    shared_bias: tuple


def read_weights(path) -> Network:
    """Read a JSON weights file (see the module docstring) into a float64 :class:`~deltaprop.Network`.

    A bias given as one number is copied to every unit of its layer; use :func:`read_weights_file`
    to know which layers had one.
    """
    return read_weights_file(path).network


def read_weights_file(path) -> WeightsFile:
    """Read and check a JSON weights file: ``(network, shared_bias)``, one bool per layer."""
    path = os.fspath(path)
    document = _parse(path)
    fail = _failer(path)
    if not isinstance(document, dict):
        fail("the top level", f"must be an object {{\"cost\": ..., \"layers\": [...]}}, got {_kind(document)}")
    _known_keys(document, _TOP_KEYS, "the top level", fail)
    for key in ("cost", "layers"):
        if key not in document:
            fail(key, "is missing")
    cost = document["cost"]
    if not isinstance(cost, str) or cost not in COSTS:
        fail("cost", f"{_short(cost)} is not a known cost; use one of {', '.join(COSTS)}")
    if "description" in document and not isinstance(document["description"], str):
        fail("description", f"must be a string, got {_kind(document['description'])}")
    raw_layers = document["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        fail("layers", f"must be a non-empty list of layers, got {_short(raw_layers)}")

    layers, shared, n_parameters, n_prev = [], [], 0, None
    for i, raw in enumerate(raw_layers):
        where = f"layers[{i}]"
        if not isinstance(raw, dict):
            fail(where, f"must be an object {{\"activation\": ..., \"W\": ..., \"b\": ...}}, got {_kind(raw)}")
        _known_keys(raw, _LAYER_KEYS, where, fail)
        for key in _LAYER_KEYS:
            if key not in raw:
                fail(f"{where}.{key}", "is missing")
        activation = raw["activation"]
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            fail(f"{where}.activation", f"{_short(activation)} is not a known activation; use one of "
                                        f"{', '.join(ACTIVATIONS)}")
        W = _matrix(raw["W"], f"{where}.W", fail)
        n_out, n_in = W.shape
        if n_prev is not None and n_in != n_prev:
            fail(f"{where}.W", f"has {n_in} columns, but layers[{i - 1}] has {n_prev} units (one column per unit "
                               f"of the layer before)")
        n_parameters += W.size + n_out
        if n_parameters > MAX_PARAMETERS:
            fail(where, f"brings the network to more than {MAX_PARAMETERS:,} weights and biases, the most a JSON "
                        "weights file may hold; save a larger network as a model file (net.save)")
        b, one = _bias(raw["b"], n_out, f"{where}.b", fail)
        layers.append(Dense(n_in, n_out, activation, W=W, b=b))
        shared.append(one)
        n_prev = n_out
    try:
        net = Network(layers, cost=cost, dtype="float64")
    except DeltapropError as error:  # e.g. a cost that needs another output activation
        raise ModelFileError(f"weights file {path}: {error}") from None
    return WeightsFile(net, tuple(shared))


def weights_to_json(net: Network, shared_bias=None) -> dict:
    """The JSON document of ``net`` (what :func:`read_weights_file` reads back), as plain lists.

    ``shared_bias[i]`` writes ``layers[i]``'s bias as one number (its units' biases must be equal).
    """
    shared = [False] * len(net.layers) if shared_bias is None else list(shared_bias)
    layers = []
    for i, (layer, one) in enumerate(zip(net.layers, shared)):
        if one and not np.all(layer.b == layer.b[0]):
            raise DeltapropError(f"shared_bias[{i}] is true but layers[{i}].b holds different values")
        b = float(layer.b[0]) if one else [float(v) for v in layer.b]
        layers.append({"activation": layer.activation.name, "W": np.asarray(layer.W, float).tolist(), "b": b})
    return {"cost": net.cost_function.name, "layers": layers}


def read_weights_json(path, dtype="float64") -> Network:
    """The network of the weights file at ``path`` in ``dtype`` (what ``draw`` and ``explore`` read)."""
    return read_weights(path).copy(dtype=dtype)


def weights_dict(net: Network) -> dict:
    """``net`` in the weights-file form, a bias per unit (:func:`weights_to_json` without shared biases)."""
    return weights_to_json(net)


def write_weights_json(net: Network, path, shared_bias=None) -> None:
    """Write ``net`` as a weights file, atomically; :func:`read_weights_json` reads it back exactly."""
    import json
    import os

    from ..atomic import atomic_write
    from ..errors import NonFiniteError

    try:
        text = json.dumps(weights_to_json(net, shared_bias), allow_nan=False)
    except ValueError:
        raise NonFiniteError(f"{os.fspath(path)} not written: the network's weights hold NaN or infinity") from None
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


# -- parsing -------------------------------------------------------------------------------------------

def _failer(path):
    def fail(field, problem):
        raise ModelFileError(f"weights file {path}: {field} {problem}")

    return fail


def _refuse_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _parse(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"weights file {path}: does not exist") from None
    except OSError as error:
        raise ModelFileError(f"weights file {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"weights file {path}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise ModelFileError(f"weights file {path}: is not a regular file")
    size = info.st_size
    if size > MAX_BYTES:  # checked before anything is read
        raise ModelFileError(f"weights file {path}: is {size:,} bytes; a JSON weights file may have at most "
                             f"{MAX_BYTES:,} (save a larger network as a model file)")
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_BYTES + 1).decode("utf-8")
        # NaN and Infinity are not JSON, but Python's reader would accept them: refuse them here.
        return json.loads(text, parse_constant=_refuse_constant)
    except OSError as error:
        raise ModelFileError(f"weights file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ModelFileError(f"weights file {path}: is not UTF-8 text (a JSON weights file is expected)") from None
    except json.JSONDecodeError as error:
        raise ModelFileError(f"weights file {path}: is not valid JSON: {error.msg} at line {error.lineno}, "
                             f"column {error.colno}") from None
    except ValueError as error:
        raise ModelFileError(f"weights file {path}: {error}") from None
    except RecursionError:
        raise ModelFileError(f"weights file {path}: is nested too deeply to be a weights file") from None


def _known_keys(obj, known, where, fail):
    for key in obj:
        if key not in known:
            fail(where, f"has the unknown field {_short(key)}; the known fields are {', '.join(known)}")


def _number(value, where, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(where, f"must be a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        fail(where, f"{_short(value)} is not a finite number")
    return number


def _matrix(value, where, fail) -> np.ndarray:
    if not isinstance(value, list) or not value:
        fail(where, f"must be a non-empty list of rows (one row per unit of the layer), got {_short(value)}")
    if len(value) > MAX_PARAMETERS:
        fail(where, f"has {len(value):,} rows; a JSON weights file holds at most {MAX_PARAMETERS:,} numbers")
    n_in = None
    for j, row in enumerate(value):
        if not isinstance(row, list) or not row:
            fail(f"{where}[{j}]", f"must be a non-empty list of numbers (one per input), got {_short(row)}")
        if n_in is None:
            n_in = len(row)
            if len(value) * n_in > MAX_PARAMETERS:
                fail(where, f"would hold {len(value) * n_in:,} weights; a JSON weights file holds at most "
                            f"{MAX_PARAMETERS:,} numbers")
        elif len(row) != n_in:
            fail(f"{where}[{j}]", f"has {len(row)} numbers, but {where}[0] has {n_in}: every row needs one per input")
    return np.array([[_number(v, f"{where}[{j}][{k}]", fail) for k, v in enumerate(row)] for j, row in enumerate(value)],
                    dtype=np.float64)


def _bias(value, n_out, where, fail):
    """``(b as n_out numbers, shared)``: one number is shared by every unit of the layer."""
    if not isinstance(value, list):
        return np.full(n_out, _number(value, where, fail)), True
    if len(value) != n_out:
        fail(where, f"has {len(value)} numbers, but the layer has {n_out} units (W has {n_out} rows); give one "
                    "bias per unit, or one number for the whole layer")
    return np.array([_number(v, f"{where}[{j}]", fail) for j, v in enumerate(value)], dtype=np.float64), False


def _kind(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _short(value, limit: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
