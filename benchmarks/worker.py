"""Time one implementation on one cell, in this (fresh) process; print the result as one JSON line.

Run by ``compare.py``, one subprocess per (implementation, cell), so that the thread pools of
different libraries never share a process::

    python benchmarks/worker.py deltaprop 30-b10 --n 20000 --epochs 6 --warmup 1

Implementations: ``deltaprop`` (``Network.fit``), ``torch`` (a plain ``nn.Sequential`` +
``torch.optim.SGD`` loop), ``sklearn`` (``MLPClassifier``, solver sgd, momentum 0, one
``partial_fit`` per epoch), ``numpy`` (``reference_numpy.py``), ``per_example``
(``deltaprop.core.per_example.sgd_epoch_per_example``) and ``gemm`` (only the matrix products of
the cell, each in its fastest layout: the NumPy GEMM floor of an epoch).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import cells as cells_module
import numpy as np
from machine import OtherLoad, epoch_timer, peak_rss_mb, rss_mb

INSTALL = {"torch": "pip install torch==2.13.0", "sklearn": "pip install scikit-learn"}
MARK = "RESULT "


def time_epochs(run_epoch, epochs: int, warmup: int) -> list[float]:
    """Call ``run_epoch(e)`` ``warmup + epochs`` times; return the durations of the last ``epochs``."""
    times = []
    for e in range(warmup + epochs):
        start = time.perf_counter()
        run_epoch(e)
        times.append(time.perf_counter() - start)
    return times[warmup:]


# -- the implementations: each returns the list of measured epoch times ---------------------------


def run_deltaprop(cell, X, labels, Y, epochs, warmup):
    import deltaprop

    net = deltaprop.Network(list(cell.sizes), activation=cell.hidden, output_activation=cell.output,
                            cost=cell.cost, init=cell.init, seed=0)
    timer = epoch_timer()
    net.fit(X, Y, epochs=warmup + epochs, batch_size=cell.batch_size, eta=cell.eta, seed=0, callbacks=[timer])
    return timer.times[warmup:]


def run_per_example(cell, X, labels, Y, epochs, warmup):
    import deltaprop
    from deltaprop.core.per_example import sgd_epoch_per_example

    net = deltaprop.Network(list(cell.sizes), activation=cell.hidden, output_activation=cell.output,
                            cost=cell.cost, init=cell.init, seed=0)
    rng = np.random.default_rng(0)
    sgd_epoch_per_example(net, X[:50], Y[:50], cell.batch_size, cell.eta, rng)  # warm up, cheaply
    return time_epochs(lambda e: sgd_epoch_per_example(net, X, Y, cell.batch_size, cell.eta, rng), epochs, 0)


def run_numpy(cell, X, labels, Y, epochs, warmup):
    import reference_numpy

    rng = np.random.default_rng(0)
    params = reference_numpy.init(cell.sizes, rng)
    return time_epochs(
        lambda e: reference_numpy.train_epoch(params, X, Y, cell.batch_size, cell.eta, rng, cell.hidden, cell.output),
        epochs, warmup,
    )


def run_torch(cell, X, labels, Y, epochs, warmup):
    import torch
    from torch import nn

    torch.manual_seed(0)
    modules = []
    pairs = list(zip(cell.sizes[:-1], cell.sizes[1:]))
    for i, (n_in, n_out) in enumerate(pairs):
        modules.append(nn.Linear(n_in, n_out))
        if i < len(pairs) - 1:
            modules.append(nn.Sigmoid() if cell.hidden == "sigmoid" else nn.ReLU())
        elif cell.output == "sigmoid":
            modules.append(nn.Sigmoid())  # softmax is fused into the loss below
    model = nn.Sequential(*modules)
    optimizer = torch.optim.SGD(model.parameters(), lr=cell.eta)  # momentum 0
    Xt, Yt, Lt = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(labels)
    n, m = len(X), cell.batch_size

    def loss_of(out, index):
        if cell.output == "sigmoid":  # quadratic cost: mean over the batch of 1/2 ||a - y||^2
            return (out - Yt[index]).pow(2).sum() * (0.5 / len(index))
        return nn.functional.cross_entropy(out, Lt[index])  # softmax + log-likelihood

    def epoch(e):
        order = torch.randperm(n)
        for start in range(0, n, m):
            index = order[start : start + m]
            optimizer.zero_grad(set_to_none=True)
            loss_of(model(Xt[index]), index).backward()
            optimizer.step()

    return time_epochs(epoch, epochs, warmup)


def run_sklearn(cell, X, labels, Y, epochs, warmup):
    import warnings

    from sklearn.neural_network import MLPClassifier

    # NOTE: MLPClassifier always ends in softmax (or logistic for 2 classes) with the log-loss;
    # the sigmoid + quadratic cells therefore run sklearn with logistic hidden units and its own
    # output layer and loss. One partial_fit is one epoch (sklearn shuffles inside it).
    clf = MLPClassifier(hidden_layer_sizes=cell.sizes[1:-1], activation="logistic" if cell.hidden == "sigmoid" else "relu",
                        solver="sgd", learning_rate_init=cell.eta, momentum=0.0, nesterovs_momentum=False,
                        alpha=0.0, batch_size=cell.batch_size, shuffle=True, random_state=0)
    classes = np.arange(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return time_epochs(lambda e: clf.partial_fit(X, labels, classes=classes), epochs, warmup)


def run_gemm(cell, X, labels, Y, epochs, warmup):
    """The epoch's matrix products alone, each in the fastest of its layouts and thread counts."""
    plan = gemm_plan(cell)
    n, m = len(X), cell.batch_size
    steps = n / m
    per_step = sum(p["seconds"] for p in plan)
    run_gemm.plan = plan
    return [per_step * steps] * epochs


def _product_shapes(cell):
    """``(name, p, q, r)`` for each product ``(p x q) @ (q x r)`` of one SGD step."""
    m = cell.batch_size
    shapes = []
    for i, (n_in, n_out) in enumerate(zip(cell.sizes[:-1], cell.sizes[1:])):
        shapes.append((f"z^{i + 2} = W a ({n_out}x{n_in} @ {n_in}x{m})", n_out, n_in, m))
        if i > 0:
            shapes.append((f"BP2 W^T delta^{i + 2} ({n_in}x{n_out} @ {n_out}x{m})", n_in, n_out, m))
        shapes.append((f"BP4 delta^{i + 2} a^T ({n_out}x{m} @ {m}x{n_in})", n_out, m, n_in))
    return shapes


def _best_seconds(f, repeats=7, number=None):
    f()
    if number is None:
        start = time.perf_counter()
        f()
        number = max(3, int(2e-3 / max(time.perf_counter() - start, 1e-7)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            f()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def gemm_plan(cell):
    """For each product, time every storage order of its operands and result; keep the fastest."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    rng = np.random.default_rng(0)
    plan = []
    for name, p, q, r in _product_shapes(cell):
        best = None
        for left_order, right_order, out_order in itertools.product("CF", repeat=3):
            L = np.asarray(rng.random((p, q), dtype=np.float32), order=left_order)
            R = np.asarray(rng.random((q, r), dtype=np.float32), order=right_order)
            out = np.empty((p, r), np.float32, order=out_order)
            def product(L=L, R=R, out=out):  # as deltaprop's propagation._dot does it
                if out.flags.c_contiguous:
                    np.dot(L, R, out=out)
                else:
                    np.dot(R.T, L.T, out=out.T)

            for threads in (1, 2) if threadpool_limits else (None,):
                if threads is None:
                    seconds = _best_seconds(product)
                else:
                    with threadpool_limits(threads, user_api="blas"):
                        seconds = _best_seconds(product)
                if best is None or seconds < best["seconds"]:
                    best = {"product": name, "layout": left_order + right_order + "->" + out_order,
                            "threads": threads, "seconds": seconds, "gflops": 2 * p * q * r / seconds / 1e9}
        plan.append(best)
    return plan


IMPLEMENTATIONS = {
    "deltaprop": run_deltaprop,
    "torch": run_torch,
    "sklearn": run_sklearn,
    "numpy": run_numpy,
    "per_example": run_per_example,
    "gemm": run_gemm,
}


def thread_pools():
    """The BLAS/OpenMP libraries loaded in this process, with the kernel each runs."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl)"
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "prefix")
    pools = [{k: pool.get(k) for k in keys if pool.get(k) is not None} for pool in threadpool_info()]
    if "torch" in sys.modules:  # torch links MKL statically: threadpoolctl does not see it
        import torch

        pools.append({"user_api": "torch", "blas": "mkl" if torch.backends.mkl.is_available() else "?",
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(), "num_threads": torch.get_num_threads()})
    return pools


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("implementation", choices=sorted(IMPLEMENTATIONS))
    parser.add_argument("cell", choices=sorted(cells_module.CELLS))
    parser.add_argument("--n", type=int, default=None, help="examples (default: 20,000 synthetic, 8,000 MNIST)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    cell = cells_module.CELLS[args.cell]
    n = args.n or (cells_module.N_MNIST if cell.data == "mnist" else cells_module.N_SYNTHETIC)
    result = {"implementation": args.implementation, "cell": cell.key, "n": n, "epochs": args.epochs}
    X, labels, Y = cells_module.data_for(cell, n)
    result["rss_data_mb"] = rss_mb()
    load = OtherLoad().start()
    try:
        times = IMPLEMENTATIONS[args.implementation](cell, X, labels, Y, args.epochs, args.warmup)
    except ImportError as error:
        result["skipped"] = f"{error} (install with: {INSTALL.get(args.implementation, 'pip install ...')})"
    else:
        result.update(times=times, median=float(np.median(times)), flops=cell.flops(n))
        if args.implementation == "gemm":
            result["plan"] = run_gemm.plan
    result["other_load"] = load.stop()  # cores used by other processes meanwhile
    result["peak_rss_mb"] = peak_rss_mb()
    result["thread_pools"] = thread_pools()
    print(MARK + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
