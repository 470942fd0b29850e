"""The ranks of a data-parallel run: how :func:`deltaprop.train.loop.fit` uses an MPI communicator.

``fit(..., comm=MPI.COMM_WORLD)`` runs the same loop on every rank. Each global batch of ``m``
examples is cut into ``K`` consecutive shares (:meth:`Ranks.share`: sizes differ by at most one);
each rank runs feedforward and BP1-BP4 on its share with ``scale = gradient_scale / m``, so that
the *sum* over the ranks is the scaled batch gradient one process would compute. Each step puts
the scaled gradient sums, the batch's cost sum and an interrupt flag in one contiguous buffer
(:class:`FlatBuffers`) and combines them with one ``comm.Allreduce(send, recv)`` (MPI's default
operation, ``SUM``, on NumPy buffers: no pickling). Every rank then takes the same optimiser step
from the same sums, so every rank holds the same weights and optimiser state.

Only methods of the communicator the caller passed in are used (``Get_rank``, ``Get_size``,
``Allreduce``, ``Bcast``, ``Abort``): nothing here imports mpi4py, and anything with these
methods works (the tests use a communicator of threads).

Everything that decides the flow of the loop is computed from reduced values, identical on every
rank, so that the ranks always take the same branch: divergence (the reduced cost and gradient),
Ctrl-C (the interrupt flags of the step), stopping early and the end-of-epoch consistency check
(:meth:`Ranks.end_of_epoch`). What can go wrong on one rank alone is handled so that no rank hangs:

* before the first step, every rank checks its arguments and its part of the data; the failures
  are exchanged (:meth:`Ranks.agree`) and every rank raises the same :class:`DeltapropError`;
  the arguments that must be equal on every rank are compared (:meth:`Ranks.check_same`);
* during training, an exception on one rank (a failed write, a bug, a second Ctrl-C) cannot be
  shared with ranks already waiting in the next ``Allreduce``: :meth:`Ranks.abort` prints it,
  naming the rank, and calls ``comm.Abort``, which ends every rank of the job.
"""

from __future__ import annotations

import sys
import traceback
import zlib

import numpy as np

from ..errors import DeltapropError, DivergenceError

__all__ = ["FlatBuffers", "Ranks", "RanksDisagree", "ranks_of"]

MESSAGE_BYTES = 1024
"""The longest error message one rank sends the others before training (UTF-8, cut there)."""

_METHODS = ("Get_rank", "Get_size", "Allreduce", "Bcast", "Abort")


class RanksDisagree(DeltapropError):
    """The ranks were found to hold different arguments, data or weights; raised on every rank."""


def ranks_of(comm):
    """``Ranks(comm)`` for a communicator of two or more processes; None for None or a single process."""
    if comm is None:
        return None
    missing = [name for name in _METHODS if not callable(getattr(comm, name, None))]
    if missing:
        raise DeltapropError(f"comm={comm!r} is not an MPI communicator (it lacks {', '.join(missing)}); "
                             "pass mpi4py's MPI.COMM_WORLD or another mpi4py communicator")
    ranks = Ranks(comm)
    return ranks if ranks.size > 1 else None


def _crc(*values) -> int:
    """A 31-bit checksum of ``values``: arrays by their bytes, anything else by its ``repr``."""
    crc = 0
    for value in values:
        if isinstance(value, np.ndarray):
            crc = zlib.crc32(np.ascontiguousarray(value).view(np.uint8).reshape(-1), crc)
            crc = zlib.crc32(repr((value.shape, value.dtype.str)).encode(), crc)
        else:
            crc = zlib.crc32(repr(value).encode(), crc)
    return crc & 0x7FFFFFFF


class Ranks:
    """The communicator of a data-parallel run, and the few collective operations training needs."""

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = int(comm.Get_rank()), int(comm.Get_size())

    def __repr__(self):
        return f"Ranks(rank={self.rank}, size={self.size})"

    # -- the shares ------------------------------------------------------------------------------

    def share(self, m: int) -> tuple[int, int]:
        """``(lo, hi)``: this rank's rows ``lo:hi`` of a batch of ``m``; the first ``m % K`` ranks take one more.

        A batch of 10 on 3 ranks: rows 0:4, 4:7 and 7:10. A rank's share may be empty (``m < K``).
        """
        quotient, remainder = divmod(m, self.size)
        lo = self.rank * quotient + min(self.rank, remainder)
        return lo, lo + quotient + (self.rank < remainder)

    # -- before training: agree on failures, on the arguments, on the starting point ---------------

    def agree(self, error) -> None:
        """Collective: if any rank's ``error`` is not None, raise on every rank; otherwise return.

        The lowest failing rank sends its message to the others. A failing rank raises its own
        error; the others raise a :class:`DeltapropError` that names the rank and quotes it.
        """
        flags = np.zeros(self.size, np.int64)
        flags[self.rank] = error is not None
        failed = np.empty_like(flags)
        self.comm.Allreduce(flags, failed)
        if not failed.any():
            return
        first = int(np.flatnonzero(failed)[0])
        message = np.zeros(MESSAGE_BYTES, np.uint8)
        if self.rank == first:
            text = str(error) if isinstance(error, DeltapropError) else f"{type(error).__name__}: {error}"
            encoded = text.encode("utf-8", "replace")[:MESSAGE_BYTES]
            message[: len(encoded)] = np.frombuffer(encoded, np.uint8)
        self.comm.Bcast(message, root=first)
        if error is not None:
            raise error
        text = message.tobytes().rstrip(b"\0").decode("utf-8", "replace")
        raise DeltapropError(f"rank {first} of {self.size}: {text}")

    def check_same(self, fields: dict) -> None:
        """Collective: raise :class:`RanksDisagree` on every rank unless every rank passed equal ``fields``.

        ``fields`` maps a name to a tuple of values that must agree; they are compared by checksum
        with rank 0's, and the first rank whose values differ is reported with the names of the fields.
        """
        names = list(fields)
        mine = np.array([_crc(*fields[name]) for name in names], np.int64)
        theirs = mine.copy()
        self.comm.Bcast(theirs, root=0)
        differ = [name for name, a, b in zip(names, mine, theirs) if a != b]
        try:
            self.agree(RanksDisagree(f"its {', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'} from "
                                     "rank 0's: every rank must call fit with the same network, arguments and data")
                       if differ else None)
        except RanksDisagree as error:
            raise RanksDisagree(f"rank {self.rank} of {self.size}: {error}") from None
        except DeltapropError as error:  # another rank's report
            raise RanksDisagree(str(error)) from None

    def common_entropy(self) -> int:
        """Collective: fresh entropy drawn on rank 0, the same integer on every rank (for ``seed=None``)."""
        words = np.zeros(4, np.uint64)
        if self.rank == 0:
            words[:] = np.random.SeedSequence().generate_state(4, np.uint64)
        self.comm.Bcast(words, root=0)
        return int(sum(int(word) << (64 * i) for i, word in enumerate(words)))

    def broadcast_weights(self, net, buffers: "FlatBuffers") -> None:
        """Collective: every rank starts from rank 0's weights (a network built with ``seed=None`` included)."""
        flat = buffers.recv
        if self.rank == 0:
            for W, b, layer in zip(buffers.recv_w, buffers.recv_b, net.layers):
                W[...], b[...] = layer.W, layer.b
        self.comm.Bcast(flat, root=0)
        if self.rank != 0:
            net.set_weights(list(zip(buffers.recv_w, buffers.recv_b)))

    # -- during training -------------------------------------------------------------------------

    def end_of_epoch(self, net, optimizer, stop_training: bool, interrupted: bool) -> tuple[bool, bool]:
        """Collective, once an epoch: ``(stop, interrupted)`` if any rank says so; raise if the ranks drifted apart.

        Every rank contributes a checksum ``c`` of its weights and optimiser state; the ranks hold
        the same state exactly when ``K sum c^2 == (sum c)^2`` (Cauchy-Schwarz), a test every rank
        evaluates on the same reduced integers. (A difference is missed with probability 2^-16 per
        epoch.) They differ if a callback that changes training ran on some ranks only, or if the
        MPI library's sums were not the same on every rank.
        """
        state = optimizer.state_dict()
        c = _crc(*(p for layer in net.layers for p in (layer.W, layer.b)), *(state[key] for key in sorted(state))) & 0xFFFF
        mine = np.array([stop_training, interrupted, c, c * c], np.int64)
        total = np.empty_like(mine)
        self.comm.Allreduce(mine, total)
        if self.size * int(total[3]) != int(total[2]) ** 2:
            raise RanksDisagree(
                "the ranks hold different weights or optimiser settings at the end of this epoch: a callback that "
                "changes training (LearningRateScheduler, EarlyStopping, ...) must be given to every rank")
        return bool(total[0]), bool(total[1])

    def reduce(self, values) -> np.ndarray:
        """Collective: the element-wise sum over the ranks of ``values`` (float64)."""
        mine = np.asarray(values, np.float64)
        total = np.empty_like(mine)
        self.comm.Allreduce(mine, total)
        return total

    def abort(self, error: BaseException) -> None:
        """Print ``error``, naming this rank, and end every rank of the job with ``comm.Abort``.

        For an exception raised on one rank during training: the other ranks may already wait in
        the next collective, which would never complete. The exit status is 2 for a
        :class:`DeltapropError`, 130 for Ctrl-C and 1 otherwise.
        """
        where = f"deltaprop: rank {self.rank} of {self.size}"
        if isinstance(error, KeyboardInterrupt):
            print(f"{where}: interrupted; stopping every rank (MPI_Abort)", file=sys.stderr, flush=True)
            code = 130
        elif isinstance(error, DeltapropError):
            print(f"{where}: error: {error}; stopping every rank (MPI_Abort)", file=sys.stderr, flush=True)
            code = 2
        else:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            print(f"{where} failed; stopping every rank (MPI_Abort):\n{text}", file=sys.stderr, end="", flush=True)
            code = 1
        self.comm.Abort(code)


COLLECTIVE_ERRORS = (DivergenceError, RanksDisagree)
"""Errors the training loop raises on every rank at the same point (with TrainingInterrupted): no abort."""


class FlatBuffers:
    """The two contiguous buffers of a step: what this rank sends, and the sums it receives.

    Layout (``P`` parameters): ``[nabla W_0, nabla b_0, nabla W_1, ..., cost sum, interrupt flag]``,
    in the network's dtype; ``send_w[i]``, ``send_b[i]``, ``recv_w[i]``, ``recv_b[i]`` are
    views, shaped as ``layers[i].W`` and ``.b``, that backpropagation writes into and the
    optimiser reads from.
    """

    def __init__(self, layers, dtype):
        sizes = [p.size for layer in layers for p in (layer.W, layer.b)]
        self.n_parameters = sum(sizes)
        self.send = np.zeros(self.n_parameters + 2, dtype)
        self.recv = np.zeros_like(self.send)
        self.send_w, self.send_b = self._views(self.send, layers)
        self.recv_w, self.recv_b = self._views(self.recv, layers)

    @staticmethod
    def _views(flat, layers):
        ws, bs, at = [], [], 0
        for layer in layers:
            ws.append(flat[at : at + layer.W.size].reshape(layer.W.shape))
            at += layer.W.size
            bs.append(flat[at : at + layer.b.size])
            at += layer.b.size
        return ws, bs
