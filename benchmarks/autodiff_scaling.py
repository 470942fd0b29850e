"""Measure 002's claims on deltaprop.autodiff: reverse mode O(N), forward mode and finite differences O(N l), hvp O(N).

Run:  python benchmarks/autodiff_scaling.py [--quick] [--no-torch] [--no-mlp]

Writes ``benchmarks/results/autodiff_scaling.md`` (the table) and ``docs/images/autodiff_scaling.png``
(log-log plot), and prints both tables. No assertions: the last lines say whether the acceptance
criteria held at every l.

The circuit. ``f(x) = sum(tanh(M x)^2)`` for ``x`` in ``R^l``, with a fixed ``M`` of shape ``(64, l)``
*created inside f* as ``Tensor(M)`` (so it requires a gradient by default, and the engine must
find out that nobody asked for ``dC/dM``). Counted in scalar operations (002's N), the circuit has
``N = 64 l`` multiplications and ``64 (l - 1)`` additions for ``M x``, then 64 tanh, 64 squares and
63 additions: ``N ~ 128 l``, growing linearly with l. (A square ``M`` of ``(l, l)`` would make N grow
like ``l^2`` and need 800 MB at l = 10,000; a fixed 64 rows keep the circuit a realistic layer and
N proportional to l, which is what the O(N) against O(N l) comparison needs.)

For l = 10 ... 10,000 it measures, each as a multiple of one evaluation of ``f`` in plain NumPy:

* the gradient by reverse mode (``grad``): O(N + l), a constant multiple of one evaluation;
* the same gradient by l forward passes (``jvp`` with each basis vector e_i): O(N l). Above
  ``--max-passes`` (default 300) passes, that many are timed and the time is scaled by
  l / passes (the passes are identical in cost); the table marks such entries with ``*``;
* finite differences (2 l evaluations of f in plain NumPy, central): O(N l); likewise capped at
  ``--max-fd`` (default 1,000) entries and extrapolated, marked ``*``;
* the Hessian-vector product (``hvp``, reverse mode applied twice): O(N + l); also with the
  spelling ``Tensor(M, requires_grad=False)``, which must cost the same;
* beside them PyTorch on the same function, float64, one thread: ``torch.autograd.grad`` for the
  gradient and ``torch.autograd.functional.hvp`` for the Hessian-vector product (and, for
  reference, ``torch.func.jvp(torch.func.grad(f))``, forward-over-reverse).

Times are the best of many interleaved rounds (the machine is shared; the minimum is the least
disturbed), NumPy and PyTorch both on one BLAS thread.

Acceptance (issue 15): with the constant created inside f, hvp <= 4x a gradient, and gradient and
hvp <= torch.autograd's time, at every l.

The last table is one SGD step of an MLP [784, 128, 10] through the engine and through
``Network.backprop``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import deltaprop
from deltaprop.autodiff import Tensor, grad, hvp, jvp, network_cost

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "benchmarks" / "results" / "autodiff_scaling.md"
PLOT = ROOT / "docs" / "images" / "autodiff_scaling.png"
ROWS = 64  # M is (64, l)


def circuit(M):
    """``f(x) = sum(tanh(M x)^2)``, with M made inside f as it would be written naively."""

    def f(x):
        return ((Tensor(M) @ x).tanh() ** 2).sum()

    def f_constant(x):
        return ((Tensor(M, requires_grad=False) @ x).tanh() ** 2).sum()

    def f_numpy(x):
        return float((np.tanh(M @ x) ** 2).sum())

    return f, f_constant, f_numpy


def best_times(fns: dict, rounds: int, min_round: float = 0.002) -> dict:
    """The best time of one call of each function, in seconds, over ``rounds`` interleaved rounds.

    Rounds are short (about ``min_round`` seconds, shorter than a scheduler's time slice) and many:
    on a shared machine the least disturbed of them measures the code, not its neighbours.
    """
    inner = {}
    for name, fn in fns.items():  # calls per round: enough for ~min_round seconds
        fn()
        start = time.perf_counter()
        fn()
        inner[name] = max(1, int(min_round / max(time.perf_counter() - start, 1e-7)))
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / inner[name])
    return best


def forward_mode_gradient(f, x, entries):
    """The gradient entries ``entries`` by one forward pass (jvp) per basis vector."""
    out, e = np.empty(len(entries)), np.zeros_like(x)
    for j, i in enumerate(entries):
        e[i] = 1.0
        out[j] = jvp(f, x, e)[1]
        e[i] = 0.0
    return out


def finite_differences(f, x, entries, h=1e-6):
    """Central differences of the plain NumPy f for the entries ``entries``: 2 evaluations each."""
    x = x.copy()
    out = np.empty(len(entries))
    for j, i in enumerate(entries):
        saved = x[i]
        x[i] = saved + h
        plus = f(x)
        x[i] = saved - h
        minus = f(x)
        x[i] = saved
        out[j] = (plus - minus) / (2 * h)
    return out


def timed(fn, budget=0.5, most=15):
    """``(best time, result)`` of ``fn()``: repeated while the repeats fit in ``budget`` seconds (at most ``most``)."""
    start = time.perf_counter()
    result = fn()
    best = time.perf_counter() - start
    for _ in range(min(most - 1, int(budget / max(best, 1e-9)))):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def torch_functions(M, x, v):
    import torch

    Mt, xt, vt = torch.tensor(M), torch.tensor(x), torch.tensor(v)

    def f(x):
        return (torch.tanh(Mt @ x) ** 2).sum()

    def gradient():
        xx = xt.detach().requires_grad_(True)
        return torch.autograd.grad(f(xx), xx)[0]

    grad_f = torch.func.grad(f)
    return {
        "torch_eval": lambda: f(xt),
        "torch_grad": gradient,
        "torch_hvp": lambda: torch.autograd.functional.hvp(f, xt, vt)[1],
        "torch_func_hvp": lambda: torch.func.jvp(grad_f, (xt,), (vt,))[1],
    }


def measure(l, args, rng):
    M = rng.standard_normal((ROWS, l)) / np.sqrt(l)
    x, v = rng.standard_normal(l), rng.standard_normal(l)
    f, f_constant, f_numpy = circuit(M)
    fns = {
        "eval": lambda: f_numpy(x),
        "grad": lambda: grad(f)(x),
        "grad_const": lambda: grad(f_constant)(x),
        "hvp": lambda: hvp(f, x, v),
        "hvp_const": lambda: hvp(f_constant, x, v),
        "jvp": lambda: jvp(f, x, v),
    }
    torch_fns = torch_functions(M, x, v) if args.torch else {}
    times = best_times({**fns, **torch_fns}, rounds=args.rounds)

    g = grad(f)(x)
    passes = min(l, args.max_passes)
    entries = np.sort(rng.choice(l, passes, replace=False)) if passes < l else np.arange(l)
    t_fwd, forward = timed(lambda: forward_mode_gradient(f, x, entries))
    times["forward"] = t_fwd * l / passes
    fd_entries_n = min(l, args.max_fd)
    fd_entries = np.sort(rng.choice(l, fd_entries_n, replace=False)) if fd_entries_n < l else np.arange(l)
    t_fd, fd = timed(lambda: finite_differences(f_numpy, x, fd_entries))
    times["fd"] = t_fd * l / fd_entries_n
    checks = {
        "forward_vs_reverse": float(np.abs(forward - g[entries]).max()),
        "fd_vs_reverse": float(np.abs(fd - g[fd_entries]).max()),
    }
    if args.torch:
        checks["hvp_vs_torch"] = float(np.abs(hvp(f, x, v) - torch_fns["torch_hvp"]().numpy()).max())
    return {"l": l, "N": 2 * ROWS * l + 3 * ROWS - 1, "times": times, "checks": checks,
            "forward_extrapolated": passes < l, "fd_extrapolated": fd_entries_n < l}


def _ms(seconds):
    return f"{seconds * 1e3:.3f}" if seconds < 1 else f"{seconds * 1e3:,.0f}"


def table(rows, with_torch):
    header = ["l", "N", "f (NumPy), ms", "gradient (reverse)", "gradient by l forward passes", "finite differences",
              "hvp", "hvp, M marked constant", "hvp / gradient"]
    if with_torch:
        header += ["torch f, ms", "torch.autograd.grad", "torch hvp (functional.hvp)", "torch.func jvp(grad)",
                   "gradient / torch's", "hvp / torch's"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        t, e = r["times"], r["times"]["eval"]

        def x(name, mark=""):
            return f"{t[name] / e:,.1f}x ({_ms(t[name])} ms){mark}"

        cells = [f"{r['l']:,}", f"{r['N']:,}", _ms(e), x("grad"), x("forward", "*" if r["forward_extrapolated"] else ""),
                 x("fd", "*" if r["fd_extrapolated"] else ""), x("hvp"), x("hvp_const"), f"{t['hvp'] / t['grad']:.2f}"]
        if with_torch:
            cells += [_ms(t["torch_eval"]), x("torch_grad"), x("torch_hvp"), x("torch_func_hvp"),
                      f"{t['grad'] / t['torch_grad']:.2f}", f"{t['hvp'] / t['torch_hvp']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(rows, with_torch):
    out = []
    ok = all(r["times"]["hvp"] <= 4 * r["times"]["grad"] for r in rows)
    worst = max(r["times"]["hvp"] / r["times"]["grad"] for r in rows)
    out.append(f"- hvp <= 4x a gradient at every l: {'yes' if ok else 'NO'} (largest ratio {worst:.2f})")
    if with_torch:
        for name, ours, theirs in (("gradient", "grad", "torch_grad"), ("hvp", "hvp", "torch_hvp")):
            ok = all(r["times"][ours] <= r["times"][theirs] for r in rows)
            worst = max(r["times"][ours] / r["times"][theirs] for r in rows)
            out.append(f"- {name} <= torch.autograd's time at every l: {'yes' if ok else 'NO'} (largest ratio {worst:.2f})")
    return "\n".join(out)


def plot(rows, with_torch, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ls = np.array([r["l"] for r in rows], dtype=float)
    series = [("f, one evaluation (NumPy)", "eval", "k", "-"), ("gradient, reverse mode", "grad", "C0", "-"),
              ("gradient, l forward passes (jvp)", "forward", "C1", "-"), ("finite differences", "fd", "C2", "-"),
              ("hvp (reverse mode twice)", "hvp", "C3", "-")]
    if with_torch:
        series += [("torch.autograd.grad", "torch_grad", "C0", "--"),
                   ("torch.autograd.functional.hvp", "torch_hvp", "C3", "--")]
    figure = Figure(figsize=(11, 4.4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    absolute, relative = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for label, key, color, style in series:
        seconds = np.array([r["times"][key] for r in rows])
        absolute.loglog(ls, seconds, style, color=color, marker="o", markersize=3, label=label)
        if key != "eval":
            evals = np.array([r["times"]["eval"] for r in rows])
            relative.loglog(ls, seconds / evals, style, color=color, marker="o", markersize=3, label=label)
    absolute.set(xlabel="l (inputs; the circuit has N ~ 128 l operations)", ylabel="seconds", title="time")
    relative.set(xlabel="l", ylabel="multiples of one evaluation of f", title="cost in evaluations of f")
    for ax in (absolute, relative):
        ax.grid(True, which="both", alpha=0.3)
    absolute.legend(fontsize="small")
    figure.suptitle("f(x) = sum(tanh(M x)^2), M (64, l) created inside f: reverse mode O(N), forward mode and "
                    "finite differences O(N l)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


# -- an MLP step: the engine against the hand-written BP1-BP4 ------------------------------------------

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
    t = best_times({"backprop": backprop_step, "engine": engine_step}, rounds=30)
    return (f"| {dtype} | {t['backprop'] * 1e3:.3f} | {t['engine'] * 1e3:.3f} | {t['engine'] / t['backprop']:.2f} "
            f"| {gap:.1e} |")


def mlp_table(batch=128) -> str:
    rng = np.random.default_rng(0)
    lines = [f"One SGD step of an MLP [784, 128, 10] (relu, softmax, log_likelihood), batch {batch}, in ms:", "",
             "| dtype | Network.backprop | engine | engine / backprop | max dW difference |", "|---|---|---|---|---|"]
    lines += [mlp_row(dtype, batch, rng) for dtype in ("float32", "float64")]
    return "\n".join(lines)


def machine() -> str:
    import platform

    parts = [f"deltaprop {deltaprop.__version__}", f"NumPy {np.__version__}", f"Python {sys.version.split()[0]}"]
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__}")
    except ImportError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return ", ".join(parts) + f"; {cpu}, {os.cpu_count()} cores (shared); one BLAS thread"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="l = 10, 100, 1000 and fewer rounds")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="leave PyTorch out")
    parser.add_argument("--no-mlp", dest="mlp", action="store_false", help="leave the MLP table out")
    parser.add_argument("--rounds", type=int, default=100, help="interleaved rounds per l (default 100)")
    parser.add_argument("--max-passes", type=int, default=300, help="forward passes timed before extrapolating")
    parser.add_argument("--max-fd", type=int, default=1000, help="finite-difference entries timed before extrapolating")
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only; write no files")
    args = parser.parse_args(argv)
    if args.torch:
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            print("(PyTorch is not installed: its columns are left out)")
            args.torch = False
    sizes = [10, 100, 1000] if args.quick else [10, 30, 100, 300, 1000, 3000, 10000]
    if args.quick:
        args.rounds = min(args.rounds, 20)
    rng = np.random.default_rng(0)
    with _blas_threads(1):
        # warm-up, discarded: the first calls of a process (imports, caches, PyTorch's lazy set-up)
        # would otherwise be charged to the first l
        measure(sizes[0], argparse.Namespace(**{**vars(args), "rounds": 5}), np.random.default_rng(1))
        rows = []
        for l in sizes:
            rows.append(measure(l, args, rng))
            r = rows[-1]
            print(f"l = {l:>6,}: grad {r['times']['grad'] * 1e3:.3f} ms, hvp {r['times']['hvp'] * 1e3:.3f} ms, "
                  f"checks {r['checks']}", flush=True)
        mlp = mlp_table() if args.mlp else ""
    text = "\n\n".join(filter(None, [
        "# autodiff scaling: reverse mode, forward mode, finite differences, hvp", machine(),
        "f(x) = sum(tanh(M x)^2), M of shape (64, l) created inside f as `Tensor(M)`; N ~ 128 l scalar operations. "
        "Each entry: time as a multiple of one evaluation of f in plain NumPy (absolute time in brackets). "
        "`*`: extrapolated from the first passes or entries (identical in cost), see the script's docstring.",
        table(rows, args.torch), "Acceptance (issue 15):\n\n" + verdicts(rows, args.torch),
        "Checks: largest |gradient by forward mode - reverse mode| "
        f"{max(r['checks']['forward_vs_reverse'] for r in rows):.1e}, |finite differences - reverse mode| "
        f"{max(r['checks']['fd_vs_reverse'] for r in rows):.1e}"
        + (f", |hvp - torch's hvp| {max(r['checks']['hvp_vs_torch'] for r in rows):.1e}" if args.torch else "") + ".",
        mlp]))
    print("\n" + text)
    if args.write:
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        TABLE.write_text(text + "\n")
        plot(rows, args.torch, PLOT)
        print(f"\nwrote {TABLE.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


def _blas_threads(n):
    """Limit BLAS to ``n`` threads (threadpoolctl, optional)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        print("(threadpoolctl is not installed: BLAS uses its default number of threads)")
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


if __name__ == "__main__":
    main()
