"""The buffers of a batch: how the ``(m, n_l)`` arrays of BP1-BP4 are stored, and BLAS threads.

Arrays follow deltaprop's convention, rows are examples (``z``, ``a``, ``delta`` have shape
``(m, n_l)``). Their *memory* is chosen per layer for speed (:func:`by_columns`): a wide hidden
layer is stored column-major, as the transpose of a C-contiguous ``(n_l, m)`` array holding one
column per example (exactly the notes' column vectors), the other layers row-major. The matrix
products are written as in the notes, ``W a`` and ``W^T delta``, on the transposes; :func:`dot`
hands BLAS whichever orientation matches the storage. Results do not depend on the choice.

Speed (see ``benchmarks/``): at a batch of 10 a step of a small network is a few dozen NumPy
calls on tiny arrays, so it costs what the calls cost. Hence preallocated buffers, in-place
ufuncs, ``np.dot`` rather than the ``matmul`` gufunc (same product for 2-D arrays, a third of a
microsecond less per call), and BP3's sum over examples written as the product ``delta^T 1``.
With wide layers the products dominate: storage order and BLAS threads per product matter.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

__all__ = ["Workspace", "by_columns", "bp4_on_one_thread", "dot"]


def _batch_array(m: int, n: int, dtype, columns: bool) -> np.ndarray:
    """An uninitialised ``(m, n)`` array: stored as ``n`` rows of ``m`` (one column per example)
    if ``columns``, else as ``m`` rows of ``n`` (one row per example)."""
    return np.empty((n, m), dtype=dtype).T if columns else np.empty((m, n), dtype=dtype)


def dot(A, B, out):
    """``out = A @ B`` with ``np.dot``, whichever the storage order of ``out``."""
    if out.flags.c_contiguous:
        return np.dot(A, B, out=out)
    np.dot(B.T, A.T, out=out.T)  # (A B)^T = B^T A^T into the row-major transpose of out
    return out


class Workspace:
    """Preallocated buffers for a batch of ``m`` examples through ``layers``.

    Training reuses one workspace for every batch of the same size, so a step allocates nothing.
    ``columns[i]`` says how the ``(m, n_l)`` arrays of ``layers[i]`` are stored, one column per
    example or one row per example (see :func:`by_columns`).

    ``one_blas_thread``, if given, is a context-manager factory under which BLAS runs on one
    thread; the BP4 product of a layer for which :func:`bp4_on_one_thread` holds runs under it
    (the training loop passes one; the core itself never changes BLAS threads).

    ``backward=False`` allocates only what the forward pass needs (``x``, ``zs``, ``activations``);
    ``nabla=False`` leaves out ``nabla_w`` and ``nabla_b``, for a caller that passes its own
    buffers to :func:`~deltaprop.core.propagation.backward` (the training loop does).
    """

    def __init__(self, layers, m: int, dtype, columns=None, one_blas_thread=None, backward=True, nabla=True):
        self.m = m
        last = len(layers) - 1
        self.columns = list(columns) if columns is not None else [by_columns(layer, m, i == last) for i, layer in enumerate(layers)]
        self.bp4_threads = [one_blas_thread() if one_blas_thread is not None and bp4_on_one_thread(layer, m)
                            else nullcontext() for layer in layers]

        def per_layer():
            return [_batch_array(m, layer.n_out, dtype, c) for layer, c in zip(layers, self.columns)]

        self.x = np.empty((m, layers[0].n_in), dtype)  # the batch's inputs, gathered by fit
        self.zs = per_layer()
        self.activations = [None] + per_layer()
        if not backward:
            return
        self.y = np.empty((m, layers[-1].n_out), dtype)  # and its targets
        self.deltas = per_layer()
        # scratch[i] holds g'(z) of layers[i] during BP2, then the scaled delta for BP3/BP4.
        self.scratch = per_layer()
        self.ones = np.ones(m, dtype)  # sums over the batch as products: sum_x delta^x = delta^T 1
        if nabla:  # scale * sum_x dC_x/dW and dC_x/db, as backward() writes them
            self.nabla_w = [np.empty((layer.n_out, layer.n_in), dtype) for layer in layers]
            self.nabla_b = [np.empty(layer.n_out, dtype) for layer in layers]


def by_columns(layer, m: int, output: bool) -> bool:
    """True to store the ``(m, n_l)`` arrays of ``layer`` one column per example.

    Results do not depend on it, only speed. Measured with OpenBLAS on 2 cores (run
    ``benchmarks/layouts.py``): the output layer meets the targets, gathered one row per example,
    in BP1 and the cost, so it is stored by rows; a wide hidden layer runs its products faster by
    columns (the notes' ``W a``), a narrow one by rows.
    """
    if output:
        return False
    return layer.n_out >= 256 or layer.n_out * m >= 8192


def bp4_on_one_thread(layer, m: int) -> bool:
    """True if the BP4 product of ``layer`` runs faster on one BLAS thread than on several.

    BP4, ``delta^T a``, multiplies over the batch: with a small batch and a large ``W`` it is an
    outer product, which OpenBLAS spreads badly over threads (512 x 784 at a batch of 10: 69 us on
    one thread, 110 us on two).
    """
    return m <= 32 and layer.n_out * layer.n_in >= 1 << 17
