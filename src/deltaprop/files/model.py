"""Saved models: one ``.npz`` archive that never executes code when it is read.

A model file is an archive (:mod:`deltaprop.files.archive`) holding

* ``metadata``: the format name and version, the layer sizes, each layer's activation, the
  cost, the dtype and any extra information the caller passes (the command line records how
  the model was trained);
* ``W0, b0, W1, b1, ...``: the weights ``(n_out, n_in)`` and biases ``(n_out,)`` of
  ``net.layers[0], net.layers[1], ...``, in the model's dtype;
* ``input_mean, input_scale`` (``(n_in,)``, the model's dtype), only when the metadata says
  ``"input_standardization": true``: the network's input standardisation. Files without them
  (every file of deltaprop 0.1.0) load with none, the identity. An older deltaprop refuses a file
  that has them (unexpected arrays) rather than predicting without them.

The metadata fixes every array's shape and dtype, so :func:`load` checks the whole file before
it reads an array (see :mod:`deltaprop.files.archive` for how). Training checkpoints
(:mod:`deltaprop.files.checkpoint`) are archives of the same kind with more arrays, built on the
helpers here (:func:`architecture`, :func:`weight_arrays`, :func:`weight_spec`, :func:`read_network`).

>>> import os, tempfile, numpy as np, deltaprop
>>> net = deltaprop.Network([2, 3, 1], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> save(net, path)
>>> bool(np.array_equal(load(path).feedforward(np.ones((1, 2))), net.feedforward(np.ones((1, 2)))))
True
"""

from __future__ import annotations

import itertools
import os

from ..core.activations import ACTIVATIONS
from ..core.checks import all_finite, is_count
from ..core.costs import COSTS
from ..core.layers import Dense
from ..core.network import Network
from ..errors import DeltapropError, NonFiniteError
from .archive import ArchiveReader, short, write_archive

__all__ = ["CHECKPOINT_FORMAT", "FORMAT", "FORMAT_VERSION", "load", "read_metadata", "save"]

FORMAT = "deltaprop-model"
FORMAT_VERSION = 1
"""Version of the file layout; :func:`load` refuses files written by a newer layout."""

CHECKPOINT_FORMAT = "deltaprop-checkpoint"
"""Format name of :mod:`deltaprop.files.checkpoint` files (named here so that each reader can point
the user to the other when handed the wrong kind of file)."""

_DTYPES = ("float32", "float64")


def architecture(net: Network) -> dict:
    """The metadata entries that describe ``net``: sizes, activations, cost and dtype."""
    return {
        "sizes": net.sizes,
        "activations": [layer.activation.name for layer in net.layers],
        "cost": net.cost_function.name,
        "dtype": net.dtype.name,
        **({"input_standardization": True} if net.input_mean is not None else {}),
    }


def weight_arrays(net: Network) -> dict:
    """``{"W0": W, "b0": b, ...}``: the arrays of ``net`` as archives store them."""
    arrays = {}
    for i, layer in enumerate(net.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    if net.input_mean is not None:
        arrays["input_mean"], arrays["input_scale"] = net.input_mean, net.input_scale
    return arrays


def check_finite_weights(net: Network, path) -> None:
    """Refuse to write a network with NaN or infinite parameters to ``path`` (a diverged run)."""
    for name, array in weight_arrays(net).items():
        if not all_finite(array):
            raise NonFiniteError(f"{os.fspath(path)} not written: {name} holds NaN or infinity "
                                 "(did training diverge? try a smaller eta)")


def weight_spec(reader: ArchiveReader, meta: dict) -> dict:
    """Check the architecture in ``meta``; return ``{"W0": ((n_out, n_in), dtype), ...}``."""
    sizes, activations = meta.get("sizes"), meta.get("activations")
    cost, dtype = meta.get("cost"), meta.get("dtype")
    if not (isinstance(sizes, list) and 2 <= len(sizes) <= len(reader.names)
            and all(is_count(n, minimum=1) for n in sizes)):
        reader.fail(f"has invalid layer sizes {short(sizes)}")
    if not (isinstance(activations, list) and len(activations) == len(sizes) - 1):
        reader.fail(f"lists activations {short(activations)} for {len(sizes) - 1} layers")
    for name in activations:
        if not isinstance(name, str) or name not in ACTIVATIONS:
            reader.fail(f"uses activation {short(name)}, unknown to this deltaprop (known: {', '.join(ACTIVATIONS)})")
    if not isinstance(cost, str) or cost not in COSTS:
        reader.fail(f"uses cost {short(cost)}, unknown to this deltaprop (known: {', '.join(COSTS)})")
    if dtype not in _DTYPES:
        reader.fail(f"has dtype {short(dtype)}; expected one of {', '.join(_DTYPES)}")
    spec = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        spec[f"W{i}"], spec[f"b{i}"] = ((n_out, n_in), dtype), ((n_out,), dtype)
    standardized = meta.get("input_standardization", False)
    if standardized not in (True, False):
        reader.fail(f"has an invalid input_standardization {short(standardized)}; expected true or false")
    if standardized:
        spec["input_mean"] = spec["input_scale"] = ((sizes[0],), dtype)
    return spec


def read_network(reader: ArchiveReader, meta: dict) -> Network:
    """Build the network from the archive's ``W0, b0, ...`` (checked by :func:`weight_spec`)."""
    spec, layers = weight_spec(reader, meta), []
    for i, activation in enumerate(meta["activations"]):
        W, b = reader.array(f"W{i}", *spec[f"W{i}"]), reader.array(f"b{i}", *spec[f"b{i}"])
        layer = Dense(W.shape[1], W.shape[0], activation)
        layer.W, layer.b = W, b  # the setters copy (the arrays read are read-only) and keep the file's dtype
        layers.append(layer)
    standardization = {}
    if "input_mean" in spec:
        standardization = {"input_mean": reader.array("input_mean", *spec["input_mean"]),
                           "input_scale": reader.array("input_scale", *spec["input_scale"])}
    try:
        return Network(layers, cost=meta["cost"], dtype=meta["dtype"], **standardization)
    except DeltapropError as error:  # e.g. a cost that does not accept the output activation
        reader.fail(f"describes an invalid network: {error}")


def save(net: Network, path, metadata=None) -> None:
    """Write ``net`` to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
        Written exactly as given (no suffix is appended); ``model.npz`` by convention.
    metadata : dict, optional
        Extra JSON-serialisable information stored with the model; :func:`read_metadata` returns
        it under ``"extra"``.

    Raises
    ------
    NonFiniteError
        If a weight or bias is NaN or infinite (a diverged run): such a model is never written.
    """
    if not isinstance(net, Network):
        raise DeltapropError(f"save() takes a deltaprop.Network, got {type(net).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise DeltapropError(f"metadata must be a dict of JSON values, got {type(metadata).__name__}")
    check_finite_weights(net, path)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **architecture(net), "extra": metadata or {}}
    write_archive(path, meta, weight_arrays(net))


_CHECKPOINT_HINT = ("is a training checkpoint, not a model: continue training with 'deltaprop train --resume' or "
                    "read it with deltaprop.load_checkpoint")


def _read_model(path) -> tuple[dict, Network]:
    with ArchiveReader(path, "model file") as reader:
        meta = reader.metadata(FORMAT, FORMAT_VERSION, hints={CHECKPOINT_FORMAT: _CHECKPOINT_HINT})
        reader.expect(weight_spec(reader, meta))
        return meta, read_network(reader, meta)


def read_metadata(path) -> dict:
    """Return the JSON metadata of the model file at ``path`` (validated like :func:`load`)."""
    return _read_model(path)[0]


def load(path) -> Network:
    """Read a model written by :func:`save` (or :meth:`Network.save`) and return the network.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, corrupted, holds pickled objects, is not a deltaprop
        model, was written by a newer format version, or its arrays disagree with its metadata.
    """
    return _read_model(path)[1]
