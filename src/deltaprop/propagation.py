"""The forward pass and the four equations of backpropagation, batched over examples.

This module is the one place where BP1-BP4 are computed: :meth:`Network.backprop` and the
training loop both call :func:`feedforward` and :func:`backward` on a :class:`Workspace`.

Arrays follow deltaprop's convention, rows are examples (``z``, ``a``, ``delta`` have shape
``(m, n_l)``). Their *memory* is chosen per layer for speed (:func:`by_columns`): a wide hidden
layer is stored column-major, as the transpose of a C-contiguous ``(n_l, m)`` array holding one
column per example (exactly the notes' column vectors), the other layers row-major. The matrix
products are written as in the notes, ``W a`` and ``W^T delta``, on the transposes; :func:`_dot`
hands BLAS whichever orientation matches the storage. Results do not depend on the choice.

Speed (see ``benchmarks/``): at a batch of 10 a step of a small network is a few dozen NumPy
calls on tiny arrays, so it costs what the calls cost. Hence preallocated buffers, in-place
ufuncs, ``np.dot`` rather than the ``matmul`` gufunc (same product for 2-D arrays, a third of a
microsecond less per call), and BP3's sum over examples written as the product ``delta^T 1``.
With wide layers the products dominate: storage order and BLAS threads per product matter.

``delta`` is defined once, here: ``delta^l = dC_x/dz^l``, the error of layer ``l``, an
``(m, n_l)`` array with one row per example.

Layer indices: ``layers[i]`` is the notes' layer ``l = i + 2`` (layer 1 is the input), so
``zs[i]``, ``deltas[i]``, ``nabla_w[i]`` and ``nabla_b[i]`` belong to layer ``i + 2``, while
``activations[i]`` is ``a^(i+1)``: ``activations[0]`` is the input batch and ``activations[i]``
feeds ``layers[i]``.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

__all__ = ["Workspace", "Gradient", "feedforward", "output_error", "backward"]


def _batch_array(m: int, n: int, dtype, columns: bool) -> np.ndarray:
    """An uninitialised ``(m, n)`` array: stored as ``n`` rows of ``m`` (one column per example)
    if ``columns``, else as ``m`` rows of ``n`` (one row per example)."""
    return np.empty((n, m), dtype=dtype).T if columns else np.empty((m, n), dtype=dtype)


def _dot(A, B, out):
    """``out = A @ B`` with ``np.dot``, whichever the storage order of ``out``."""
    if out.flags.c_contiguous:
        return np.dot(A, B, out=out)
    np.dot(B.T, A.T, out=out.T)  # (A B)^T = B^T A^T into the row-major transpose of out
    return out


class Workspace:
    """Preallocated buffers for a batch of ``m`` examples through ``layers``.

    Training reuses one workspace for every batch of the same size, so a step allocates nothing.
    ``columns[i]`` says how the ``(m, n_l)`` arrays of ``layers[i]`` are stored, one column per
    example or one row per example (see :func:`by_columns`); ``bp4_threads[i]`` is the context in
    which the BP4 product of ``layers[i]`` runs (one BLAS thread, see :func:`bp4_on_one_thread`).
    """

    def __init__(self, layers, m: int, dtype, columns=None):
        self.m = m
        last = len(layers) - 1
        self.columns = list(columns) if columns is not None else [by_columns(layer, m, i == last) for i, layer in enumerate(layers)]
        self.bp4_threads = [_OneBlasThread() if bp4_on_one_thread(layer, m) else nullcontext() for layer in layers]

        def per_layer():
            return [_batch_array(m, layer.n_out, dtype, c) for layer, c in zip(layers, self.columns)]

        self.x = np.empty((m, layers[0].n_in), dtype)  # the batch's inputs, gathered by fit
        self.y = np.empty((m, layers[-1].n_out), dtype)  # and its targets
        self.zs = per_layer()
        self.activations = [None] + per_layer()
        self.deltas = per_layer()
        # scratch[i] holds g'(z) of layers[i] during BP2, then the scaled delta for BP3/BP4.
        self.scratch = per_layer()
        self.nabla_w = [np.empty((layer.n_out, layer.n_in), dtype) for layer in layers]
        self.nabla_b = [np.empty(layer.n_out, dtype) for layer in layers]
        self.ones = np.ones(m, dtype)  # sums over the batch as products: sum_x delta^x = delta^T 1


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
    one thread, 110 us on two). Needs threadpoolctl (``pip install deltaprop[speed]``).
    """
    return m <= 32 and layer.n_out * layer.n_in >= 1 << 17


class _OneBlasThread:
    """Context manager: BLAS on one thread inside, as before outside (a no-op without threadpoolctl)."""

    controllers = None  # threadpoolctl's controllers of the BLAS libraries, found on first use

    def __enter__(self):
        if _OneBlasThread.controllers is None:
            try:
                from threadpoolctl import ThreadpoolController  # optional: deltaprop[speed]

                _OneBlasThread.controllers = ThreadpoolController().select(user_api="blas").lib_controllers
            except Exception:  # not installed, or unable to drive this BLAS: run as is
                _OneBlasThread.controllers = []
        self.saved = [(c, c.get_num_threads()) for c in _OneBlasThread.controllers]
        for controller, threads in self.saved:
            if threads != 1:
                controller.set_num_threads(1)
        return self

    def __exit__(self, *exc_info):
        for controller, threads in self.saved:
            if threads != 1:
                controller.set_num_threads(threads)


def feedforward(layers, x, ws: Workspace) -> np.ndarray:
    """Run ``x`` (``(m, n_in)``) through ``layers`` into ``ws``; return the output ``a^L``."""
    a = ws.activations[0] = x
    for layer, z, a_out in zip(layers, ws.zs, ws.activations[1:]):
        _dot(layer.W, a.T, z.T)  # z^l = W^l a^(l-1) ...   (z.T: one column per example)
        z += layer.b  # ... + b^l
        a = layer.activation.forward(z, out=a_out)  # a^l = g^l(z^l)
    return a


def output_error(activation, cost, z, a, y, out=None, scratch=None, shortcut=True):
    """Return ``delta^L``, the error of the output layer (BP1).

    With ``shortcut`` and a pairing listed in ``cost.shortcut`` (sigmoid + cross-entropy,
    softmax + log-likelihood, identity + quadratic or squared error), ``delta^L = k (a - y)``.
    Otherwise BP1 in its general form: ``activation.backward`` applied to ``grad_a C_x``,
    which for softmax is the full Jacobian-vector product of 003, eq. 36.
    """
    k = cost.shortcut.get(activation.name) if shortcut else None
    if k is not None:
        out = np.subtract(a, y, out=out)  # (BP1) delta^L = a - y for this pairing
        if k != 1.0:
            out *= k
        return out
    grad_a = cost.grad_a(a, y, out=out)
    return activation.backward(z, a, grad_a, out=grad_a, scratch=scratch)  # (BP1)


def backward(layers, cost, y, ws: Workspace, scale: float, scaled_deltas: bool = False) -> None:
    """Fill ``ws.deltas`` and ``scale * sum_x`` of the gradients into ``ws.nabla_w``, ``ws.nabla_b``.

    Call :func:`feedforward` on the same workspace first. ``scale = 1/m`` gives the gradient of
    the batch cost (the mean over examples); plain SGD passes ``eta/m`` so that its update is a
    single subtraction, ``W <- W - eta/m sum_x delta^(x,l) a^(x,l-1)^T``.

    With ``scaled_deltas`` (the training loop), ``delta^L`` is multiplied by ``scale`` once and
    BP2, being linear in ``delta``, carries the factor down: ``ws.deltas`` then hold
    ``scale * delta^l`` and no layer needs a scaled copy. Otherwise ``ws.deltas`` hold the
    errors ``delta^l`` themselves, as :class:`Gradient` reports them.
    """
    last = len(layers) - 1
    delta = output_error(
        layers[last].activation, cost, ws.zs[last], ws.activations[last + 1], y,
        out=ws.deltas[last], scratch=ws.scratch[last],
    )  # (BP1)
    if scaled_deltas:
        delta *= scale
    for i in range(last, -1, -1):
        delta = ws.deltas[i]  # (m, n_l)
        if i > 0:
            delta_prev = ws.deltas[i - 1]
            _dot(layers[i].W.T, delta.T, delta_prev.T)  # (W^l)^T delta^l ...
            layers[i - 1].activation.backward(
                ws.zs[i - 1], ws.activations[i], delta_prev, out=delta_prev, scratch=ws.scratch[i - 1]
            )  # (BP2) ... (.) g'(z^(l-1))
        scaled = delta if scaled_deltas else np.multiply(delta, scale, out=ws.scratch[i])
        # NOTE: the sum over examples as the product delta^T 1: BLAS reads each (contiguous) column
        # once, where np.sum(axis=0) would start one tiny reduction per neuron (5x slower at 512).
        _dot(scaled.T, ws.ones, ws.nabla_b[i])  # (BP3) dC/db^l = delta^l, summed over x
        with ws.bp4_threads[i]:
            _dot(scaled.T, ws.activations[i], ws.nabla_w[i])  # (BP4) dC/dW^l = delta^l a^(l-1)^T


@dataclass
class Gradient:
    """The gradient of the batch cost, with every intermediate quantity of the notes.

    ``weights[i]`` (``dC/dW``) and ``biases[i]`` (``dC/db``) are aligned with ``net.layers[i]``
    and are means over the batch (BP4, BP3). ``deltas[i]`` and ``zs[i]`` are the ``(m, n_l)``
    errors and weighted inputs of ``net.layers[i]``, one row per example; ``activations[0]`` is
    the input batch and ``activations[i + 1]`` the output of ``net.layers[i]``.
    """

    weights: list
    biases: list
    deltas: list
    zs: list
    activations: list

    def __iter__(self):
        """Iterate ``(dC/dW, dC/db)`` pairs, layer by layer."""
        return iter(zip(self.weights, self.biases))
