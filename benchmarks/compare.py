"""deltaprop side by side with PyTorch, scikit-learn, plain NumPy and the per-example form (issue 5).

    python benchmarks/compare.py            # the full run: about 10 minutes on 2 cores
    python benchmarks/compare.py --quick    # a smoke run on small data: well under a minute

Each (implementation, cell) runs in its own fresh subprocess (``worker.py``): the thread pools of
different libraries disturb each other on 2 cores. Every cell trains plain mini-batch SGD, one
epoch after another; an implementation's time is the median over ``--rounds`` subprocesses, which
alternate with the other implementations, of each one's median epoch (after a warm-up epoch).
Before each subprocess the harness waits for the machine to be quiet and at full speed (a fixed
probe workload, ``machine.speed_probe``), and re-runs a measurement during which other processes
used the CPU or after which the machine ran slow.

The benchmark subprocesses run without ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (both are
unset together, for them only): this machine sets them for old OpenBLAS builds, and they force a
current NumPy onto slower kernels. The kernel each library runs is recorded from threadpoolctl.

Results go to ``benchmarks/results/compare.json`` (everything measured) and ``compare.md``
(the tables); ``--quick`` writes ``compare-quick.*`` instead.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cells as cells_module  # noqa: E402
from machine import OPENBLAS_OVERRIDES, benchmark_env, speed_probe, wait_until_quiet  # noqa: E402
from worker import MARK  # noqa: E402

PEERS = ["deltaprop", "torch", "sklearn", "numpy", "per_example"]
TITLES = {
    "deltaprop": "deltaprop `Network.fit`",
    "torch": "PyTorch eager",
    "sklearn": "scikit-learn MLPClassifier",
    "numpy": "plain NumPy (reference_numpy.py)",
    "per_example": "per-example loop",
}
DISTURBED = 0.25  # cores used by other processes above which a measurement is repeated


class Pace:
    """The machine's speed, from ``speed_probe``: the best probe so far, and whether it is slow now."""

    SLOW = 1.25  # a probe this many times the best one: the machine is in a slow phase

    def __init__(self):
        self.best = min(speed_probe() for _ in range(5))

    def slow(self) -> float | None:
        """The probe now, relative to the best, if the machine is slow (None if it is not)."""
        probe = speed_probe()
        self.best = min(self.best, probe)
        return probe / self.best if probe > self.SLOW * self.best else None

    def wait(self, timeout, log):
        deadline = time.monotonic() + timeout
        ratio = self.slow()
        if ratio:
            log(f"  waiting: the machine runs {ratio:.2f}x slower than it can ...")
        while ratio and time.monotonic() < deadline:
            time.sleep(5)
            ratio = self.slow()


def run_worker(implementation, cell, args, env, log, pace=None) -> dict:
    """Run one worker subprocess (re-running it while others disturbed the machine); return its result."""
    epochs = args.per_example_epochs if implementation == "per_example" else args.epochs
    warmup = 0 if implementation in ("per_example", "gemm") else args.warmup
    command = [sys.executable, os.path.join(HERE, "worker.py"), implementation, cell.key,
               "--epochs", str(epochs), "--warmup", str(warmup)]
    if args.n is not None:
        command += ["--n", str(args.n_mnist if cell.data == "mnist" else args.n)]
    result = {}
    for attempt in range(args.retries + 1):
        if args.wait:
            wait_until_quiet(timeout=args.wait, log=log)
            if pace:
                pace.wait(args.wait, log)
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600, check=False)
        lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
        if not lines:
            return {"implementation": implementation, "cell": cell.key,
                    "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}
        result = json.loads(lines[-1][len(MARK):])
        slow_after = pace.slow() if pace else None
        if "skipped" in result or implementation == "gemm" or (result["other_load"] < DISTURBED and not slow_after):
            return result
        why = (f"other processes used {result['other_load']:.2f} cores" if result["other_load"] >= DISTURBED
               else f"the machine ran {slow_after:.2f}x slower than it can")
        log(f"  {implementation} on {cell.key}: {why}, measuring again")
    result["disturbed"] = True
    return result


def combine(runs: list[dict]) -> dict:
    """Combine the runs (fresh processes) of one implementation on one cell."""
    ok = [r for r in runs if "times" in r]
    if not ok:
        return runs[0] if runs else {"skipped": "not run"}
    out = {key: ok[0][key] for key in ("implementation", "cell", "n", "flops", "thread_pools")}
    # the median of each process's median epoch: one process caught in a slow phase cannot move it
    out.update(times=[r["times"] for r in ok], median=statistics.median(r["median"] for r in ok), rounds=[r["median"] for r in ok],
               peak_rss_mb=max(r["peak_rss_mb"] for r in ok), rss_data_mb=min(r["rss_data_mb"] for r in ok),
               other_load=max(r["other_load"] for r in ok), disturbed=any(r.get("disturbed") for r in ok))
    if "plan" in ok[0]:
        out["plan"] = ok[0]["plan"]
    return out


def measure(args, log) -> dict:
    env = benchmark_env()
    pace = Pace() if args.wait else None
    results = {}
    for key in args.cells:
        cell = cells_module.CELLS[key]
        log(f"{cell.label}")
        runs = {impl: [] for impl in args.implementations}
        for round_ in range(args.rounds):
            for impl in args.implementations:
                if impl == "per_example" and round_ > 0:
                    continue  # slow and steady: one run is enough
                runs[impl].append(run_worker(impl, cell, args, env, log, pace))
                last = runs[impl][-1]
                shown = f"{last['median']:.4f} s" if "median" in last else last.get("skipped", last.get("error"))
                log(f"  round {round_ + 1} {impl:12s} {shown}")
        results[key] = {impl: combine(r) for impl, r in runs.items()}
        results[key]["gemm"] = run_worker("gemm", cell, args, env, log, pace)
    return results


# -- the report ------------------------------------------------------------------------------------


def _seconds(entry, base=None) -> str:
    if "median" not in entry:
        return "skipped" if "skipped" in entry else "failed"
    text = f"{entry['median']:.3f} s" if entry["median"] >= 0.1 else f"{entry['median'] * 1000:.1f} ms"
    if base is not None:
        text += f" ({entry['median'] / base:.1f}x)"
    return text + (" *" if entry.get("disturbed") else "")


def acceptance(results) -> list[tuple[str, bool]]:
    def ratio(key, impl):
        entry, base = results[key].get(impl, {}), results[key]["deltaprop"]
        if "median" not in entry or "median" not in base:
            return None
        return entry["median"] / base["median"]

    synthetic = [k for k in results if cells_module.CELLS[k].data == "synthetic"]
    checks = []
    for impl, keys, floor, text in (
        ("torch", synthetic, 1.0, "deltaprop <= PyTorch eager in every synthetic cell"),
        ("numpy", synthetic, 1.0, "deltaprop <= plain NumPy reference in every synthetic cell"),
        ("per_example", list(results), 5.0, "deltaprop >= 5x faster than the per-example form in every cell"),
        ("sklearn", list(results), 1.5, "deltaprop >= 1.5x faster than scikit-learn MLPClassifier in every cell"),
    ):
        ratios = [ratio(k, impl) for k in keys]
        measured = [r for r in ratios if r is not None]
        if measured:
            checks.append((f"{text} (worst ratio {min(measured):.2f})", all(r >= floor for r in measured) and len(measured) == len(keys)))
    return checks


def machine_summary(results) -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    info["cores"] = os.cpu_count()
    kernels = {}
    for per_cell in results.values():
        for impl, entry in per_cell.items():
            for pool in entry.get("thread_pools", []) if isinstance(entry.get("thread_pools"), list) else []:
                if pool.get("user_api") == "blas":
                    kernels.setdefault(impl, f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')} kernels, {pool.get('num_threads')} threads)")
                elif pool.get("user_api") == "torch":
                    kernels["torch"] = f"MKL ({pool.get('cpu_capability')}, {pool.get('num_threads')} threads)"
    info["blas"] = kernels
    versions = {}
    for module in ("numpy", "torch", "sklearn", "threadpoolctl"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    info["versions"] = versions
    return info


def markdown(results, info, args) -> str:
    present = [impl for impl in PEERS if impl in args.implementations]
    lines = [f"# deltaprop vs PyTorch, scikit-learn and NumPy ({info['date']})", ""]
    lines += [f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}; "
              + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
              "BLAS: " + "; ".join(f"{k}: {v}" for k, v in info["blas"].items()) + ".", ""]
    n_synthetic = args.n or cells_module.N_SYNTHETIC
    lines += [f"One epoch of plain mini-batch SGD on n = {n_synthetic:,} synthetic MNIST-shaped float32 examples "
              f"(last row: the first {args.n_mnist or cells_module.N_MNIST:,} real MNIST digits, Nielsen's setting); "
              f"median over {args.rounds} fresh processes of each one's median of {args.epochs} epochs after a warm-up epoch "
              f"(per-example: {args.per_example_epochs} epochs, one process). In brackets: time / deltaprop's time.", ""]
    header = ["network, batch"] + [TITLES[i] for i in present] + ["deltaprop GFLOP/s", "NumPy GEMM floor", "deltaprop / floor"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, per_cell in results.items():
        cell = cells_module.CELLS[key]
        base = per_cell["deltaprop"].get("median") if "deltaprop" in per_cell else None
        row = [cell.label]
        for impl in present:
            row.append(_seconds(per_cell[impl], None if impl == "deltaprop" else base))
        gemm = per_cell.get("gemm", {})
        if base and "median" in gemm:
            row += [f"{per_cell['deltaprop']['flops'] / base / 1e9:.0f}",
                    f"{gemm['median'] * 1000:.1f} ms ({gemm['flops'] / gemm['median'] / 1e9:.0f} GFLOP/s)",
                    f"{base / gemm['median']:.1f}x"]
        else:
            row += ["", "", ""]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Peak resident memory (MB) of each benchmark process (the data alone: "
              + ", ".join(f"{results[k]['deltaprop'].get('rss_data_mb', 0):.0f}" for k in list(results)[:1]) + " MB):", ""]
    lines += ["| network, batch | " + " | ".join(TITLES[i] for i in present) + " |", "|---|" + "---|" * len(present)]
    for key, per_cell in results.items():
        row = [cells_module.CELLS[key].label] + [f"{per_cell[i]['peak_rss_mb']:.0f}" if "peak_rss_mb" in per_cell[i] else "-" for i in present]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Acceptance (issue 5)", ""]
    lines += [f"- [{'x' if ok else ' '}] {text}" for text, ok in acceptance(results)]
    skipped = {impl: entry["skipped"] for per_cell in results.values() for impl, entry in per_cell.items() if "skipped" in entry}
    lines += ["", "## Notes", ""]
    lines += [f"- {TITLES.get(impl, impl)} was skipped: {why}" for impl, why in skipped.items()]
    lines += [
        "- PyTorch: `nn.Sequential` of `nn.Linear` + activations, `torch.optim.SGD` (momentum 0), "
        "`zero_grad(set_to_none=True)`, `randperm` shuffling; softmax + log-likelihood is `F.cross_entropy` on the logits.",
        "- scikit-learn: `MLPClassifier(solver='sgd', momentum=0, alpha=0, learning_rate_init=eta)`, one `partial_fit` per "
        "epoch. Its output layer is always softmax with the log-loss, so in the sigmoid + quadratic cells it trains "
        "logistic hidden units under its own output and loss (same architecture and FLOPs, different cost).",
        "- NumPy GEMM floor: the epoch's matrix products alone (forward, BP2, BP4), each in the fastest of its 8 storage "
        "orders and 1 or 2 threads, timed in NumPy; `deltaprop / floor` shows how far deltaprop is from that limit.",
        "- Benchmark subprocesses run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (tests and CI keep them).",
        "- `*`: other processes used the CPU during every attempt of that measurement.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs: a smoke run")
    parser.add_argument("--cells", nargs="+", choices=list(cells_module.CELLS), default=list(cells_module.CELLS))
    parser.add_argument("--implementations", nargs="+", choices=PEERS, default=PEERS)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-example-epochs", type=int, default=2)
    parser.add_argument("--retries", type=int, default=2, help="re-runs of a measurement disturbed by other processes")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for a quiet machine (0: don't)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    args.n = args.n_mnist = None
    if args.quick:
        args.n, args.n_mnist = 2000, 1000
        args.epochs, args.rounds, args.per_example_epochs, args.retries = 2, 1, 1, 0
        args.wait = min(args.wait, 10.0)
    if "deltaprop" not in args.implementations:
        args.implementations.insert(0, "deltaprop")

    def log(message):
        print(message, flush=True)

    log("benchmark subprocesses run with " + " and ".join(OPENBLAS_OVERRIDES) + " unset")
    results = measure(args, log)
    info = machine_summary(results)
    info["date"] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "compare-quick" if args.quick else "compare")
    with open(stem + ".json", "w") as f:
        json.dump({"machine": info, "settings": {k: v for k, v in vars(args).items() if k != "out"}, "results": results}, f, indent=1)
    report = markdown(results, info, args)
    with open(stem + ".md", "w") as f:
        f.write(report)
    log("")
    log(report)
    log(f"wrote {stem}.json and {stem}.md")
    return 0 if all(ok for _, ok in acceptance(results)) else 1


if __name__ == "__main__":
    sys.exit(main())
