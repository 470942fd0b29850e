"""Training checkpoints: everything a run needs to continue exactly where it stopped.

``fit(..., checkpoint=path)`` writes one and ``fit(..., resume=path)`` continues from it; a run
killed at any moment and resumed ends with the weights an uninterrupted run would have had, bit
for bit (same data, seed and thread count).

A checkpoint file holds a :class:`~deltaprop.train.checkpoint.Checkpoint`. It is an archive of the
same kind as a model file (:mod:`deltaprop.files.archive`: an uncompressed ``.npz`` with JSON
metadata, written atomically, read without trusting a byte and never unpickled), holding

===================== ===========================================================================
entry                 content
===================== ===========================================================================
``W0, b0, ...``       the weights and biases, as in a model file
``optimizer.<key>``   the optimiser's buffers, named as :meth:`Optimizer.state_dict` names them
                      (``velocity_w.0``, ``m_b.1``, ...)
``history.<j>``       the per-epoch values of the ``j``-th metric of the history (float64)
``history_epoch``     the epochs the history recorded (int64)
metadata              the architecture (as a model file), and ``position``, ``rng``,
                      ``optimizer`` (name and hyper-parameters), ``settings``, ``history`` (the
                      metric names) and ``extra``
===================== ===========================================================================

The position says where training stands: ``batch`` batches of epoch ``epoch`` are done (both
count from 0; ``batch == 0`` at an epoch boundary), ``step`` optimiser steps in all, and
``epoch_cost`` is the sum of ``C_x`` over the examples of the batches done in this epoch. The
random generator's state is the one from *before* the epoch's permutation was drawn, so a resumed
run draws the same permutation again and skips the batches already done.

>>> import os, tempfile, numpy as np, deltaprop
>>> X, y = np.random.default_rng(0).random((20, 2)), np.arange(20) % 2
>>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.npz")
>>> _ = deltaprop.Network([2, 3, 2], seed=0).fit(X, y, epochs=2, seed=1, checkpoint=path)
>>> state = load_checkpoint(path)
>>> state.epoch, state.batch, state.step, state.history.epoch
(2, 0, 4, [0, 1])
>>> resumed = deltaprop.Network([2, 3, 2]).fit(X, y, epochs=3, resume=path)  # one more epoch
>>> resumed.epoch
[0, 1, 2]
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..core.checks import all_finite, is_count
from ..errors import DeltapropError, NonFiniteError
from ..train.checkpoint import Checkpoint, History, Optimizer, batches_per_epoch, optimizer_from_state
from .archive import ArchiveReader, write_archive
from .model import (
    CHECKPOINT_FORMAT,
    FORMAT,
    architecture,
    check_finite_weights,
    read_network,
    weight_arrays,
    weight_spec,
)

__all__ = ["FORMAT_VERSION", "STORE", "load_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1
"""Version of the checkpoint layout; :func:`load_checkpoint` refuses files of a newer one."""

# The bit generators whose state can be restored from JSON (NumPy's own).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_BUFFER_KEY = re.compile(r"[a-z][a-z0-9]*_([wb])\.(\d+)")  # velocity_w.0, m_b.1, ...
_MODEL_HINT = ("is a model file, not a training checkpoint: it holds weights only, with no optimiser or position "
               "to resume from")


# -- writing -----------------------------------------------------------------------------------------

def _json_state(value):
    """A bit generator's state with its arrays as lists and NumPy integers as ints (JSON-ready)."""
    if isinstance(value, dict):
        return {key: _json_state(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def save_checkpoint(path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary file, flush, fsync, rename).

    Raises
    ------
    NonFiniteError
        If a weight or an optimiser buffer is NaN or infinite: a checkpoint never holds them.
    """
    net, optimizer = checkpoint.network, checkpoint.optimizer
    check_finite_weights(net, path)
    state = optimizer.state_dict()
    buffers = {key: value for key, value in state.items() if isinstance(value, np.ndarray)}
    for key, value in buffers.items():
        if not all_finite(value):
            raise NonFiniteError(f"{path} not written: optimizer buffer {key} holds NaN or infinity "
                                 "(did training diverge? try a smaller eta)")
    if not math.isfinite(checkpoint.epoch_cost):
        raise NonFiniteError(f"{path} not written: the epoch's cost so far is {checkpoint.epoch_cost}")
    metrics = list(checkpoint.history.history)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": FORMAT_VERSION,
        **architecture(net),
        "position": {"epoch": checkpoint.epoch, "batch": checkpoint.batch, "step": checkpoint.step,
                     "epoch_cost": float(checkpoint.epoch_cost)},
        "rng": _json_state(checkpoint.rng.bit_generator.state),
        "optimizer": {key: value for key, value in state.items() if key not in buffers},
        "optimizer_arrays": sorted(buffers),
        "settings": dict(checkpoint.settings),
        "history": [{"name": name, "length": len(checkpoint.history.history[name])} for name in metrics],
        "history_epochs": len(checkpoint.history.epoch),
        "extra": dict(checkpoint.extra),
    }
    arrays = weight_arrays(net)
    arrays.update({f"optimizer.{key}": value for key, value in buffers.items()})
    arrays.update({f"history.{j}": np.asarray(checkpoint.history.history[name], dtype=np.float64)
                   for j, name in enumerate(metrics)})
    arrays["history_epoch"] = np.asarray(checkpoint.history.epoch, dtype=np.int64)
    write_archive(path, meta, arrays)


# -- reading -----------------------------------------------------------------------------------------

def _count(reader, value, what, minimum=0) -> int:
    if not is_count(value, minimum):
        reader.fail(f"has an invalid {what} {value!r:.60} (expected an integer >= {minimum})")
    return value


def _number(reader, value, what, minimum=None) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or (minimum is not None and value < minimum)):
        reader.fail(f"has an invalid {what} {value!r:.60}")
    return float(value)


def _section(reader, meta, name) -> dict:
    value = meta.get(name)
    if not isinstance(value, dict):
        reader.fail(f"has no valid {name!r} section in its metadata")
    return value


def _settings(reader, meta) -> dict:
    raw = _section(reader, meta, "settings")
    settings = {
        "n": _count(reader, raw.get("n"), "number of examples n", 1),
        "batch_size": _count(reader, raw.get("batch_size"), "batch_size", 1),
        "epochs": _count(reader, raw.get("epochs"), "number of epochs", 1),
        "lmbda": _number(reader, raw.get("lmbda"), "lmbda", 0.0),
    }
    if not isinstance(raw.get("shuffle"), bool):
        reader.fail(f"has an invalid shuffle setting {raw.get('shuffle')!r:.60}")
    settings["shuffle"] = raw["shuffle"]
    clip = raw.get("max_grad_norm")
    settings["max_grad_norm"] = None if clip is None else _number(reader, clip, "max_grad_norm", 0.0)
    return settings


def _position(reader, meta, settings) -> dict:
    raw = _section(reader, meta, "position")
    n_batches = batches_per_epoch(settings["n"], settings["batch_size"])
    batch = _count(reader, raw.get("batch"), "batch position")
    if batch > n_batches:
        reader.fail(f"is at batch {batch} of an epoch that has only {n_batches} batches")
    return {"epoch": _count(reader, raw.get("epoch"), "epoch"), "batch": batch,
            "step": _count(reader, raw.get("step"), "step count"),
            "epoch_cost": _number(reader, raw.get("epoch_cost"), "epoch cost")}


def _rng(reader, meta) -> np.random.Generator:
    state = _section(reader, meta, "rng")
    name = state.get("bit_generator")
    if name not in _BIT_GENERATORS:
        reader.fail(f"has a random generator of unknown kind {name!r:.60} (known: {', '.join(_BIT_GENERATORS)})")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
        reader.fail(f"has an invalid {name} random-generator state ({type(error).__name__}: {error!s:.100})")
    return np.random.Generator(bit_generator)


def _optimizer_spec(reader, meta, spec) -> dict:
    """``{"optimizer.velocity_w.0": (shape, dtype), ...}``: buffers shaped like the weights they follow."""
    keys = meta.get("optimizer_arrays")
    if not isinstance(keys, list) or len(keys) > len(reader.names):
        reader.fail(f"has an invalid list of optimizer arrays {keys!r:.60}")
    buffers = {}
    for key in keys:
        match = _BUFFER_KEY.fullmatch(key) if isinstance(key, str) else None
        parameter = None if match is None else f"{'W' if match.group(1) == 'w' else 'b'}{match.group(2)}"
        if parameter not in spec:
            reader.fail(f"has an optimizer array {key!r:.60} that matches no layer")
        buffers[f"optimizer.{key}"] = spec[parameter]
    return buffers


def _history_spec(reader, meta) -> dict:
    metrics, epochs = meta.get("history"), meta.get("history_epochs")
    if not isinstance(metrics, list) or len(metrics) > len(reader.names):
        reader.fail(f"has an invalid history description {metrics!r:.60}")
    spec = {"history_epoch": ((_count(reader, epochs, "number of recorded epochs"),), np.int64)}
    for j, metric in enumerate(metrics):
        if not (isinstance(metric, dict) and isinstance(metric.get("name"), str)):
            reader.fail(f"has an invalid history entry {metric!r:.60}")
        spec[f"history.{j}"] = ((_count(reader, metric.get("length"), f"length of history {metric['name']!r}"),),
                                np.float64)
    return spec


def _optimizer(reader, meta, arrays) -> Optimizer:
    state = dict(_section(reader, meta, "optimizer"))
    state.update({name.removeprefix("optimizer."): np.array(value) for name, value in arrays.items()})
    try:
        return optimizer_from_state(state)
    except DeltapropError as error:
        reader.fail(f"has an invalid optimizer state: {error}")


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by ``fit(checkpoint=...)``).

    Everything is checked as :func:`deltaprop.files.model.load` checks a model, plus the position, the
    random generator's state, the optimiser's state and the history.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, corrupted, not a checkpoint, of a newer format
        version, or inconsistent in any way; the message names the file and the problem.
    """
    with ArchiveReader(path, "checkpoint") as reader:
        meta = reader.metadata(CHECKPOINT_FORMAT, FORMAT_VERSION, hints={FORMAT: _MODEL_HINT})
        weights = weight_spec(reader, meta)
        buffers, history = _optimizer_spec(reader, meta, weights), _history_spec(reader, meta)
        reader.expect({**weights, **buffers, **history})
        settings = _settings(reader, meta)
        position = _position(reader, meta, settings)
        rng = _rng(reader, meta)
        extra = meta.get("extra", {})
        if not isinstance(extra, dict):
            reader.fail(f"has invalid extra metadata {extra!r:.60}")
        network = read_network(reader, meta)
        optimizer = _optimizer(reader, meta, {name: reader.array(name, *buffers[name]) for name in buffers})
        recorded = History()
        recorded.epoch = reader.array("history_epoch", *history["history_epoch"]).tolist()
        for j, metric in enumerate(meta["history"]):
            values = reader.array(f"history.{j}", *history[f"history.{j}"], finite=False)
            recorded.history[metric["name"]] = [float(v) for v in values]
    return Checkpoint(network, optimizer, rng, position["epoch"], position["batch"], position["step"],
                      position["epoch_cost"], recorded, settings, extra)


class _NpzStore:
    """The checkpoint store :meth:`Network.fit` hands the training loop: these files."""

    @staticmethod
    def save(path, checkpoint: Checkpoint) -> None:
        save_checkpoint(path, checkpoint)

    @staticmethod
    def load(path) -> Checkpoint:
        return load_checkpoint(path)


STORE = _NpzStore()
