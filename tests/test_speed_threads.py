"""BP4 of a wide layer at a small batch runs on one BLAS thread: same numbers, threads restored,
and nothing breaks without the optional threadpoolctl (the ``speed`` extra)."""

import sys

import numpy as np
import pytest

import deltaprop
from deltaprop.core import workspace
from deltaprop.train import blas


def _wide_problem():
    # 512 x 256 = 131,072 weights at a batch of 4: the size workspace.bp4_on_one_thread picks
    rng = np.random.default_rng(0)
    return rng.random((12, 256)), rng.integers(0, 3, 12)


def _train():
    net = deltaprop.Network([256, 512, 3], activation="relu", output_activation="softmax", cost="log_likelihood",
                            seed=0, dtype="float64")
    X, y = _wide_problem()
    net.fit(X, y, epochs=2, batch_size=4, eta=0.1, seed=0)
    return net


def test_the_rule_picks_wide_layers_at_small_batches_only():
    # Oracle: the thresholds stated in bp4_on_one_thread's docstring (batch <= 32, >= 2^17 weights).
    wide, narrow = deltaprop.Dense(256, 512), deltaprop.Dense(784, 30)
    assert workspace.bp4_on_one_thread(wide, 10)
    assert not workspace.bp4_on_one_thread(wide, 128)
    assert not workspace.bp4_on_one_thread(narrow, 10)


def test_one_thread_bp4_gives_the_same_weights_without_threadpoolctl(monkeypatch):
    # Oracle: the same training with threadpoolctl absent (import fails, so the context is a no-op);
    # one BLAS thread or two may only change the rounding of the products.
    pytest.importorskip("threadpoolctl")
    with_threads = _train()
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # `import threadpoolctl` now raises ImportError
    monkeypatch.setattr(blas.OneBlasThread, "controllers", None)
    without = _train()
    assert blas.OneBlasThread.controllers == []
    for a, b in zip(with_threads.layers, without.layers):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.b, b.b, rtol=1e-12, atol=1e-14)


def test_blas_threads_are_restored_after_training():
    # Oracle: threadpoolctl's own report of the BLAS thread counts before and after.
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def counts():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # two threads, whatever earlier tests left
        before = counts()
        _train()
        assert counts() == before
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # a user's own limit is left alone
        _train()
        assert set(counts()) == {1}
