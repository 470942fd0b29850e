"""Saved models: one ``.npz`` file that never executes code when it is read.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding

* ``metadata``: UTF-8 JSON bytes stored as a ``uint8`` array, with the format name and version,
  the layer sizes, each layer's activation, the cost, the dtype and any extra information the
  caller passes (the command line records how the model was trained);
* ``W0, b0, W1, b1, ...``: the weights ``(n_out, n_in)`` and biases ``(n_out,)`` of
  ``net.layers[0], net.layers[1], ...``, in the model's dtype.

Nothing is pickled: files are read with ``np.load(..., allow_pickle=False)``, and every array is
checked against the metadata (shape, dtype, finiteness) before a :class:`~deltaprop.Network` is
built. Any problem raises :class:`~deltaprop.errors.ModelFileError` naming the file.

Files are written atomically (:func:`atomic_write`): to a temporary file in the same directory,
then renamed over the target, so an interrupted or failed save never leaves a half-written file
or destroys the previous one.

>>> import os, tempfile, numpy as np, deltaprop
>>> net = deltaprop.Network([2, 3, 1], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> save(net, path)
>>> bool(np.array_equal(load(path).feedforward(np.ones((1, 2))), net.feedforward(np.ones((1, 2)))))
True
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import tempfile
import zipfile
import zlib

import numpy as np

from .activations import ACTIVATIONS
from .costs import COSTS
from .errors import DeltapropError, ModelFileError
from .layers import Dense
from .network import Network

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "atomic_write",
    "load",
    "load_history",
    "read_metadata",
    "save",
    "save_history",
]

FORMAT = "deltaprop-model"
FORMAT_VERSION = 1
"""Version of the file layout; :func:`load` refuses files written by a newer layout."""

_DTYPES = ("float32", "float64")


# -- writing files safely ---------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_options):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    If the body raises, the temporary file is removed and ``path`` is left exactly as it was
    (absent, or holding its previous content). The rename (``os.replace``) is atomic on POSIX
    and Windows because both names are in the same directory.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(target, "w") as handle:
    ...     _ = handle.write("hello")
    >>> open(target).read()
    'hello'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as error:  # name the file the caller asked for, not the temporary one
        raise type(error)(error.errno, error.strerror, path) from None
    try:
        with os.fdopen(fd, mode, **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- models -----------------------------------------------------------------------------------------

def _metadata(net: Network, extra) -> dict:
    if extra is not None and not isinstance(extra, dict):
        raise DeltapropError(f"metadata must be a dict of JSON values, got {type(extra).__name__}")
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sizes": net.sizes,
        "activations": [layer.activation.name for layer in net.layers],
        "cost": net.cost_function.name,
        "dtype": net.dtype.name,
        "extra": extra or {},
    }


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
    """
    if not isinstance(net, Network):
        raise DeltapropError(f"save() takes a deltaprop.Network, got {type(net).__name__}")
    try:
        header = json.dumps(_metadata(net, metadata), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise DeltapropError(f"metadata must hold JSON values only: {error}") from None
    arrays = {"metadata": np.frombuffer(header, dtype=np.uint8)}
    for i, layer in enumerate(net.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


def _fail(path, problem):
    raise ModelFileError(f"model file {path}: {problem}")


_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL = b"\x80"  # first byte of every pickle of protocol 2 or later


def _check_magic(path) -> None:
    """Refuse, from its first bytes, a file that is not a zip archive (an ``.npz``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        _fail(path, "does not exist")
    except IsADirectoryError:
        _fail(path, "is a directory, not a file")
    except OSError as error:
        _fail(path, f"cannot be read ({error.strerror or error})")
    if head.startswith(_ZIP_MAGIC):
        return
    if not head:
        _fail(path, "is empty")
    if head.startswith(_NPY_MAGIC):
        _fail(path, "is a single .npy array, not a deltaprop model (.npz archive)")
    if head.startswith(_PICKLE_PROTOCOL):
        _fail(path, "is a Python pickle, which deltaprop never loads (unpickling can run code)")
    _fail(path, f"is not a deltaprop model: expected an .npz (zip) archive, the file starts with {head[:4]!r}")


def _read_arrays(path) -> dict:
    """All arrays of the archive at ``path``, read without ever unpickling."""
    _check_magic(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error):
            _fail(path, "contains pickled Python objects, which deltaprop never loads (unpickling can run code)")
        _fail(path, f"is corrupted or not a deltaprop model ({error})")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as error:
        _fail(path, f"is corrupted ({type(error).__name__}: {error})")


def read_metadata(path) -> dict:
    """Return the JSON metadata of the model file at ``path`` (validated like :func:`load`)."""
    path = os.fspath(path)
    return _validated(path, _read_arrays(path))[0]


def _parse_metadata(path, arrays) -> dict:
    raw = arrays.get("metadata")
    if raw is None:
        _fail(path, "is an .npz archive without deltaprop metadata (a foreign file?)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        _fail(path, f"has metadata of dtype {raw.dtype} and shape {raw.shape}; expected UTF-8 bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(path, f"has unreadable metadata ({error})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"is not a deltaprop model (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _fail(path, f"has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        _fail(path, f"was written in format version {version}; this deltaprop reads versions up to {FORMAT_VERSION} (upgrade deltaprop)")
    return meta


def _validated(path, arrays):
    """Check the metadata and every array against it; return ``(metadata, [(W, b), ...])``."""
    meta = _parse_metadata(path, arrays)
    sizes, activations = meta.get("sizes"), meta.get("activations")
    cost, dtype = meta.get("cost"), meta.get("dtype")
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)):
        _fail(path, f"has invalid layer sizes {sizes!r}")
    if not (isinstance(activations, list) and len(activations) == len(sizes) - 1):
        _fail(path, f"lists activations {activations!r} for {len(sizes) - 1} layers")
    for name in activations:
        if name not in ACTIVATIONS:
            _fail(path, f"uses activation {name!r}, unknown to this deltaprop (known: {', '.join(ACTIVATIONS)})")
    if cost not in COSTS:
        _fail(path, f"uses cost {cost!r}, unknown to this deltaprop (known: {', '.join(COSTS)})")
    if dtype not in _DTYPES:
        _fail(path, f"has dtype {dtype!r}; expected one of {', '.join(_DTYPES)}")
    expected = {"metadata"} | {f"{p}{i}" for i in range(len(sizes) - 1) for p in "Wb"}
    if set(arrays) != expected:
        missing, unexpected = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        _fail(path, f"does not match its metadata (missing arrays {missing}, unexpected {unexpected})")
    params = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        for name, shape in ((f"W{i}", (n_out, n_in)), (f"b{i}", (n_out,))):
            array = arrays[name]
            if array.shape != shape:
                _fail(path, f"array {name} has shape {array.shape}; the metadata needs {shape}")
            if array.dtype != np.dtype(dtype):
                _fail(path, f"array {name} has dtype {array.dtype}; the metadata says {dtype}")
            if not np.isfinite(array).all():
                _fail(path, f"array {name} holds NaN or infinity")
        params.append((arrays[f"W{i}"], arrays[f"b{i}"]))
    return meta, params


def load(path) -> Network:
    """Read a model written by :func:`save` (or :meth:`Network.save`) and return the network.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, corrupted, holds pickled objects, is not a deltaprop
        model, was written by a newer format version, or its arrays disagree with its metadata.
    """
    path = os.fspath(path)
    meta, params = _validated(path, _read_arrays(path))
    layers = []
    for (W, b), activation in zip(params, meta["activations"]):
        layer = Dense(W.shape[1], W.shape[0], activation)
        layer.W, layer.b = W, b  # the setters copy and keep the file's dtype
        layers.append(layer)
    try:
        return Network(layers, cost=meta["cost"], dtype=meta["dtype"])
    except DeltapropError as error:  # e.g. a cost that does not accept the output activation
        _fail(path, f"describes an invalid network: {error}")


# -- training histories -----------------------------------------------------------------------------

def save_history(history, path) -> None:
    """Write a training history as CSV, one row per epoch, atomically.

    ``history`` is a :class:`~deltaprop.History` or a dict mapping metric names to per-epoch
    lists. The first column is ``epoch`` (counted from 1).
    """
    metrics = getattr(history, "history", history)
    if not isinstance(metrics, dict):
        raise DeltapropError(f"history must be a deltaprop.History or a dict of lists, got {type(history).__name__}")
    names = list(metrics)
    n = max((len(values) for values in metrics.values()), default=0)
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *names])
        for epoch in range(n):
            row = [metrics[name][epoch] if epoch < len(metrics[name]) else "" for name in names]
            writer.writerow([epoch + 1, *(repr(float(v)) if v != "" else "" for v in row)])


def load_history(path) -> dict:
    """Read a history CSV written by :func:`save_history`: ``{metric: [value per epoch]}``.

    Empty cells become NaN. The ``epoch`` column is returned too.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise DeltapropError(f"history file {path} is not a text CSV file") from None
    except OSError as error:
        raise DeltapropError(f"cannot read history file {path}: {error.strerror or error}") from None
    if not rows or not rows[0] or rows[0][0] != "epoch":
        raise DeltapropError(f"history file {path} does not start with a header row 'epoch,...' (written by deltaprop train?)")
    header, body = rows[0], [row for row in rows[1:] if row]
    history = {name: [] for name in header}
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DeltapropError(f"history file {path}, line {line}: {len(row)} cells, but the header has {len(header)}")
        for name, cell in zip(header, row):
            try:
                history[name].append(float(cell) if cell.strip() else math.nan)
            except ValueError:
                raise DeltapropError(f"history file {path}, line {line}, column {name!r}: {cell!r} is not a number") from None
    if not body:
        raise DeltapropError(f"history file {path} has no epochs")
    return history
