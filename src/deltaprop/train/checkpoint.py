"""What a checkpoint holds: the state of a training run between two batches.

The training loop (:mod:`deltaprop.train.loop`) builds a :class:`Checkpoint` and hands it to a
*store*, an object with ``save(path, checkpoint)`` and ``load(path)``; the file format lives above,
in :mod:`deltaprop.files.checkpoint`, whose ``STORE`` :meth:`Network.fit` passes in. This module is
the one part of ``train`` that ``files`` reads: the types a checkpoint file holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.network import Network
from .callbacks import History
from .optim import Optimizer, optimizer_from_state

__all__ = ["Checkpoint", "History", "Optimizer", "batches_per_epoch", "optimizer_from_state"]


def batches_per_epoch(n: int, batch_size: int) -> int:
    """How many batches an epoch of ``n`` examples has: the last one may be partial."""
    return -(-n // batch_size)


@dataclass
class Checkpoint:
    """The state of a training run between two batches.

    Attributes
    ----------
    network : Network
    optimizer : Optimizer
        With its hyper-parameters and buffers (velocities, moments, Adam's step count).
    rng : numpy.random.Generator
        The shuffling generator as it was at the start of epoch ``epoch``, before its permutation
        was drawn: a resumed run draws the same permutation and skips the batches already done.
    epoch, batch, step : int
        Epoch in progress and batches of it done (both from 0; ``batch == 0`` at an epoch
        boundary), optimiser steps taken in all.
    epoch_cost : float
        ``sum_x C_x`` over the batches of epoch ``epoch`` done so far.
    history : History
        The epochs finished so far.
    settings : dict
        ``n`` (training examples), ``batch_size``, ``shuffle``, ``lmbda``, ``epochs`` and
        ``max_grad_norm``: what a resumed run must agree with.
    extra : dict
        JSON information for the caller (the command line records its options here).
    """

    network: Network
    optimizer: Optimizer
    rng: np.random.Generator
    epoch: int
    batch: int
    step: int
    epoch_cost: float
    history: History
    settings: dict
    extra: dict = field(default_factory=dict)
