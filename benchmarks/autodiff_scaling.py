"""Measure 002's O(N) claims on deltaprop.autodiff: gradient vs finite differences, hvp, an MLP step.

Run:  python benchmarks/autodiff_scaling.py [--quick]

Prints three tables (no assertions; times are the best of several repeats, in milliseconds).

1. ``f: R^l -> R`` for l = 10 ... 10,000. ``f`` is a fixed circuit of 12 vectorised operations
   on the l-vector ``x`` (sin, exp, tanh, sigmoid, products, sums, a log): as a graph of Tensor
   operations its size does not change with l; as a circuit of scalar operations (002's N) it is
   about 12 l. Reverse mode visits the graph once backwards, so the gradient costs a small
   constant factor of one evaluation of ``f`` whatever l (column ``grad/f``). Up to l ~ 1,000 the
   fixed per-operation overhead outweighs the NumPy kernels and the gradient's time is flat; past
   that it grows with the kernels, i.e. with N, exactly as one evaluation of ``f`` does. Finite
   differences need 2 l evaluations of ``f`` (each cheap, in plain NumPy): their time grows
   linearly in l while an evaluation costs the same, and faster once it does not -- O(N l)
   against O(N); column ``FD/grad`` is the price of not using reverse mode.
2. The Hessian-vector product of the same ``f``, as the gradient of ``grad f(x) . v``: reverse mode
   applied twice, a small constant factor of one gradient. (Its recorded graph holds a few times
   more arrays than a gradient's, so as l grows it leaves the CPU's L2 cache sooner: the ratio
   peaks where one fits and the other no longer does, about l = 3,000 with a 1 MB L2.)
3. One training step (gradient and SGD update) of an MLP [784, 128, 10] (ReLU, softmax,
   log-likelihood) on a batch of 128: through the engine (``network_cost`` + ``backward``) and
   through ``Network.backprop`` (BP1-BP4 written by hand), in float32 and float64.
"""

from __future__ import annotations

import argparse
import sys
import timeit

import numpy as np

import deltaprop
from deltaprop.autodiff import Tensor, exp, grad, hvp, log, network_cost, sigmoid, sin, tanh


def f(x):
    """A fixed circuit of 12 vectorised operations; accepts a Tensor or a plain NumPy array."""
    return (sin(x) * x).sum() + log(exp(tanh(x)).sum()) + (sigmoid(x) * sigmoid(x)).sum()


def finite_differences(f, x, h=1e-6):
    """Central differences: 2 l evaluations of f (plain NumPy)."""
    g = np.empty_like(x)
    for i in range(x.size):
        saved = x[i]
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        x[i] = saved
        g[i] = (f_plus - f_minus) / (2 * h)
    return g


def best_ms(fn, min_time=0.2, repeat=5) -> float:
    """Best time of one call over ``repeat`` rounds, each long enough to be measured well."""
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    number = max(1, int(number * min_time / max(elapsed, 1e-9)))
    return 1e3 * min(timer.repeat(repeat=repeat, number=number)) / number


def scaling_row(l, rng, quick) -> str:
    x = rng.standard_normal(l)
    v = rng.standard_normal(l)
    t_numpy = best_ms(lambda: f(x))
    t_forward = best_ms(lambda: f(Tensor(x)))  # the same f, recording its graph
    t_grad = best_ms(lambda: grad(f)(x))
    t_hvp = best_ms(lambda: hvp(f, x, v))
    repeat = 1 if l >= 1000 or quick else 3
    t_fd = best_ms(lambda: finite_differences(f, x.copy()), min_time=0, repeat=repeat)
    gap = np.abs(grad(f)(x) - finite_differences(f, x.copy())).max()
    return (f"{l:>7} {t_numpy:>8.3f} {t_forward:>9.3f} {t_grad:>9.3f} {t_grad / t_forward:>7.1f} {t_fd:>11.1f} "
            f"{t_fd / t_grad:>8.0f} {t_hvp:>8.3f} {t_hvp / t_grad:>9.2f} {gap:>13.1e}")


def scaling_table(sizes, quick):
    rng = np.random.default_rng(0)
    print("1-2. f: R^l -> R, 12 vectorised operations (times in ms)")
    header = (f"{'l':>7} {'f NumPy':>8} {'f Tensor':>9} {'gradient':>9} {'grad/f':>7} {'fin. diff.':>11} "
              f"{'FD/grad':>8} {'hvp':>8} {'hvp/grad':>9} {'max|grad-FD|':>13}")
    print(header)
    print("-" * len(header))
    for l in sizes:
        print(scaling_row(l, rng, quick))
    print("grad/f: the gradient over one recorded evaluation of f (f Tensor); FD/grad: finite differences over the gradient")


def mlp_row(dtype, batch, rng, eta=0.01) -> str:
    net = deltaprop.Network([784, 128, 10], activation="relu", output_activation="softmax",
                            cost="log_likelihood", seed=0, dtype=dtype)
    X = rng.random((batch, 784)).astype(dtype)
    y = rng.integers(0, 10, batch)

    def backprop_step():
        gradient = net.backprop(X, y)
        for layer, nabla_w, nabla_b in zip(net.layers, gradient.weights, gradient.biases):
            layer.W -= eta * nabla_w
            layer.b -= eta * nabla_b

    def engine_step():
        graph = network_cost(net, X, y)
        graph.cost.backward()
        for p in graph.weights + graph.biases:
            p.data -= eta * p.grad  # the parameters wrap the layers' arrays

    graph = network_cost(net, X, y)
    graph.cost.backward()
    gap = max(np.abs(W.grad - dW).max() for W, dW in zip(graph.weights, net.backprop(X, y).weights))
    # alternate the two, three times, and keep each one's best: load from other processes hits both alike
    rounds = [(best_ms(backprop_step), best_ms(engine_step)) for _ in range(3)]
    t_bp, t_ad = min(r[0] for r in rounds), min(r[1] for r in rounds)
    return f"{dtype:>8} {t_bp:>17.3f} {t_ad:>8.3f} {t_ad / t_bp:>16.2f} {gap:>20.1e}"


def mlp_table(batch=128):
    print(f"\n3. One SGD step of an MLP [784, 128, 10] (relu, softmax, log_likelihood), batch {batch} (ms)")
    header = f"{'dtype':>8} {'Network.backprop':>17} {'engine':>8} {'engine/backprop':>16} {'max |dW difference|':>20}"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        print(mlp_row(dtype, batch, rng))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes, fewer repeats")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args(argv)
    sizes = [10, 100, 1000] if args.quick else [10, 30, 100, 300, 1000, 3000, 10000]
    print(f"deltaprop {deltaprop.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}, "
          f"BLAS threads: {args.threads}\n")
    with _blas_threads(args.threads):
        scaling_table(sizes, args.quick)
        mlp_table()


def _blas_threads(n):
    """Limit BLAS to ``n`` threads (threadpoolctl, optional): on a shared machine, threads that
    compete with other processes make matrix-product timings erratic."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        print("(threadpoolctl is not installed: BLAS uses its default number of threads)")
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


if __name__ == "__main__":
    main()
