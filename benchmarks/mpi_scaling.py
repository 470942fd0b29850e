"""Data-parallel training over MPI (``fit(comm=...)``): what this 2-core machine shows, and a cluster projection.

    python benchmarks/mpi_scaling.py [--quick] [--epochs 3] [--out benchmarks/results/mpi_scaling.md]

Needs mpi4py and mpiexec (``pip install "deltaprop[mpi]"``). For a [784, 512, 512, 10] ReLU /
softmax network (log-likelihood, plain SGD) on 20,000 synthetic MNIST-shaped float32 examples, at
global batches of 128 and 1024:

1. **Measured here.** Epoch time and examples/s for one process (2 BLAS threads, the whole
   machine; and 1 thread, one core) and for ``mpiexec -n 2`` (1 BLAS thread per rank), with the
   time per step each rank spends inside the gradient's ``Allreduce`` (waiting for the slower
   rank included). The fastest of the timed epochs, after one warm-up epoch, each setting in
   fresh processes, run again when other processes were busy meanwhile (the machine is shared).
2. **Allreduce here.** Latency and bandwidth of ``Allreduce`` between 2 ranks (MPICH, shared
   memory) at a few sizes and at the gradient's size, fitted to the ring model below.
3. **Projection.** The step time on K = 4 ... 64 ranks of a cluster: the measured compute time
   of one rank's share (``m / K`` examples, one core, measured here) plus a ring allreduce of the
   ``n`` bytes of the gradient, ``T = 2 (K - 1) / K * n / B + 2 (K - 1) * alpha``, with the
   stated ``alpha`` and ``B`` of two networks. deltaprop does not overlap communication with
   computation, so the two add.

What 2 cores can and cannot show is written under the tables. The Markdown is printed and saved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import OtherLoad, benchmark_env, blas_kernel, reexec_for_benchmark, wait_until_quiet  # noqa: E402

SIZES = [784, 512, 512, 10]
N = 20_000
BATCHES = (128, 1024)
NETWORKS = {  # name: (alpha in seconds, B in bytes per second), both at the link's nominal figures
    "25 Gb/s Ethernet (TCP)": (25e-6, 25e9 / 8),
    "100 Gb/s InfiniBand (EDR)": (2e-6, 100e9 / 8),
}
PROJECTED_K = (4, 8, 16, 32, 64)
GFLOPS = []  # the machine's speed before each measurement (a probe product)


# -- inside the processes ------------------------------------------------------------------------------

def _data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], n)


def _network():
    import deltaprop

    return deltaprop.Network(SIZES, activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)


class TimedComm:
    """A communicator that times the step's Allreduce (buffers of more than 1,000 numbers)."""

    def __init__(self, comm):
        self.comm, self.seconds, self.calls = comm, 0.0, 0

    def Get_rank(self):
        return self.comm.Get_rank()

    def Get_size(self):
        return self.comm.Get_size()

    def Bcast(self, buf, root=0):
        self.comm.Bcast(buf, root=root)

    def Abort(self, code=0):
        self.comm.Abort(code)

    def Allreduce(self, send, recv):
        start = time.perf_counter()
        self.comm.Allreduce(send, recv)
        if send.size > 1000:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def worker_fit(batch, epochs, mpi, report_dir):
    import deltaprop

    comm = None
    rank = 0
    if mpi:
        from mpi4py import MPI

        comm = TimedComm(MPI.COMM_WORLD)
        rank = comm.Get_rank()
    X, y = _data()
    net = _network()
    times, in_allreduce = [], []

    class Timer(deltaprop.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.reduced = time.perf_counter(), comm.seconds if comm else 0.0

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)
            in_allreduce.append((comm.seconds if comm else 0.0) - self.reduced)

    net.fit(X, y, epochs=epochs + 1, batch_size=batch, eta=0.01, seed=1, callbacks=[Timer()], comm=comm)
    steps = -(-N // batch)
    report = json.dumps({"rank": rank, "epoch": times[1:], "allreduce": in_allreduce[1:], "steps": steps,
                         "n_parameters": sum(p.size for layer in net.layers for p in (layer.W, layer.b))})
    Path(report_dir, f"rank{rank}.json").write_text(report)  # one file per rank: their stdout lines interleave


def worker_allreduce(sizes):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    results = {}
    for n in sizes:
        send, recv = np.ones(n, np.float32), np.empty(n, np.float32)
        repeat = max(20, min(2000, int(2e8 // max(n * 4, 1) // 50)))
        for _ in range(5):
            comm.Allreduce(send, recv)
        best = []
        for _ in range(5):
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(repeat):
                comm.Allreduce(send, recv)
            best.append((time.perf_counter() - start) / repeat)
        results[n] = min(best)  # the fastest of 5 timed loops
    if comm.Get_rank() == 0:
        print(json.dumps(results), flush=True)


def worker_compute(batches):
    """Seconds per SGD step of one process at each local batch size (one core: run with 1 BLAS thread)."""
    import deltaprop

    X, y = _data(4096)
    results = {}
    for b in batches:
        net = _network()
        steps = max(8, min(200, 4096 // b))
        n = steps * b
        if n > len(X):
            X, y = _data(n)
        timer = []

        class Timer(deltaprop.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.append((time.perf_counter() - self.start) / steps)

        net.fit(X[:n], y[:n], epochs=4, batch_size=b, eta=0.01, seed=1, callbacks=[Timer()])
        results[b] = min(timer[1:])
    print(json.dumps(results), flush=True)


# -- the driver --------------------------------------------------------------------------------------

def _mpiexec():
    import shutil

    found = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        sys.exit("mpi_scaling.py needs mpiexec and mpi4py: pip install 'deltaprop[mpi]'")
    return found


def _run(command, threads, loads, tries=3, quiet=0.3):
    """Run ``command`` on a quiet machine; its JSON reports. A run during which other processes kept
    more than ``quiet`` cores busy is repeated (at most ``tries`` runs); the least disturbed one counts."""
    import tempfile

    env = dict(benchmark_env(), OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent / "src"), os.environ.get("PYTHONPATH")])))
    best = None
    for _ in range(tries):
        wait_until_quiet(threshold=quiet, timeout=600, log=lambda text: print(text, file=sys.stderr))
        GFLOPS.append(_gemm_gflops())
        with tempfile.TemporaryDirectory() as reports:
            load = OtherLoad().start()
            done = subprocess.run([*command, "--reports", reports], env=env, capture_output=True, text=True,
                                  timeout=1800)
            other = load.stop()
            if done.returncode != 0:
                sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
            files = sorted(Path(reports).glob("rank*.json"))
            result = ([json.loads(path.read_text()) for path in files] if files else
                      [json.loads(line) for line in done.stdout.splitlines() if line.startswith(("{", "["))])
        if best is None or other < best[0]:
            best = (other, result)
        if other < quiet:
            break
        print(f"  disturbed (other processes used {other:.2f} cores): again", file=sys.stderr)
    loads.append(best[0])
    return best[1]


def _ring(k, n_bytes, alpha, bandwidth):
    return 2 * (k - 1) / k * n_bytes / bandwidth + 2 * (k - 1) * alpha


def _fmt_time(seconds):
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.3f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up epoch (default 3)")
    parser.add_argument("--quick", action="store_true", help="one timed epoch, for a smoke run")
    parser.add_argument("--out", default=str(HERE / "results" / "mpi_scaling.md"))
    parser.add_argument("--worker", choices=["fit", "allreduce", "compute"], help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    parser.add_argument("--reports", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "fit":
        return worker_fit(args.batch, args.epochs, args.mpi, args.reports)
    if args.worker == "allreduce":
        return worker_allreduce([int(s) for s in args.sizes.split(",")])
    if args.worker == "compute":
        return worker_compute([int(s) for s in args.sizes.split(",")])

    reexec_for_benchmark()
    epochs = 1 if args.quick else args.epochs
    mpiexec, me, loads = _mpiexec(), [sys.executable, str(Path(__file__).resolve())], []
    print(f"[784, 512, 512, 10] relu/softmax, {N:,} examples; BLAS: {blas_kernel()}", file=sys.stderr)

    # 1. epochs on this machine
    measured = {}
    for batch in BATCHES:
        for label, command, threads in (
            ("1 process, 2 BLAS threads", me, 2),
            ("1 process, 1 BLAS thread", me, 1),
            ("mpiexec -n 2, 1 BLAS thread each", [mpiexec, "-n", "2", *me, "--mpi"], 1),
        ):
            print(f"  batch {batch}: {label} ...", file=sys.stderr)
            reports = _run([*command, "--worker", "fit", "--batch", str(batch), "--epochs", str(epochs)], threads, loads)
            fastest = min(range(len(reports[0]["epoch"])), key=reports[0]["epoch"].__getitem__)
            epoch = reports[0]["epoch"][fastest]
            per_step = [r["allreduce"][fastest] / r["steps"] for r in reports]
            measured[(batch, label)] = (epoch, statistics.mean(per_step), reports[0]["steps"], reports[0]["n_parameters"])
    n_parameters = measured[(BATCHES[0], "1 process, 1 BLAS thread")][3]
    gradient_bytes = (n_parameters + 2) * 4

    # 2. Allreduce between 2 ranks here
    sizes = [2, 256, 16_384, 262_144, n_parameters + 2, 4_194_304]
    print("  Allreduce, 2 ranks ...", file=sys.stderr)
    reduced = {int(k): v for k, v in _run([mpiexec, "-n", "2", *me, "--worker", "allreduce", "--sizes",
                                            ",".join(map(str, sizes))], 1, loads)[0].items()}
    alpha_here = reduced[2] / 2  # ring model at K = 2: T = n/B + 2 alpha
    bandwidth_here = gradient_bytes / (reduced[n_parameters + 2] - 2 * alpha_here)  # at the gradient's size

    # 3. one rank's compute at each share, one core
    shares = sorted({max(1, batch // k) for batch in BATCHES for k in (1, *PROJECTED_K)})
    print("  compute per step at each share ...", file=sys.stderr)
    compute = {int(k): v for k, v in _run([*me, "--worker", "compute", "--sizes", ",".join(map(str, shares))], 1,
                                          loads)[0].items()}

    lines = [f"# Data-parallel training over MPI: [784, 512, 512, 10], {N:,} float32 examples", "",
             f"Machine: 2 cores (AMD EPYC, virtual, shared), MPICH {_mpich_version()}, {blas_kernel()}. "
             f"Other processes kept {max(loads):.2f} cores busy at worst during the measurements "
             f"(median {statistics.median(loads):.2f}); before each, a 512 x 784 x 128 float32 product ran at "
             f"{min(GFLOPS):.0f} to {max(GFLOPS):.0f} GFLOP/s (2 threads). Plain SGD, eta 0.01, "
             f"relu/softmax, log-likelihood; the fastest of {epochs} epoch(s) after a warm-up epoch, in the least "
             "disturbed of at most 3 runs.", "",
             "## Measured on this machine", "",
             "| global batch | processes | epoch | examples/s | Allreduce per step (share of the step) | speed-up vs 1 process, 1 thread | vs 1 process, 2 threads |",
             "|---|---|---|---|---|---|---|"]
    for batch in BATCHES:
        one_thread = measured[(batch, "1 process, 1 BLAS thread")][0]
        two_threads = measured[(batch, "1 process, 2 BLAS threads")][0]
        for label in ("1 process, 2 BLAS threads", "1 process, 1 BLAS thread", "mpiexec -n 2, 1 BLAS thread each"):
            epoch, allreduce, steps, _ = measured[(batch, label)]
            share = f"{allreduce * 1e3:.2f} ms ({allreduce * steps / epoch:.0%})" if "mpiexec" in label else "-"
            lines.append(f"| {batch} | {label} | {_fmt_time(epoch)} | {N / epoch:,.0f} | {share} | "
                         f"{one_thread / epoch:.2f}x | {two_threads / epoch:.2f}x |")
    lines += ["", "## Allreduce between 2 ranks here (shared memory), float32", "",
              "| numbers | bytes | time | bandwidth |", "|---|---|---|---|"]
    for n in sizes:
        note = " (the gradient and cost)" if n == n_parameters + 2 else ""
        lines.append(f"| {n:,}{note} | {4 * n:,} | {reduced[n] * 1e6:.1f} us | {4 * n / reduced[n] / 1e9:.2f} GB/s |")
    lines += ["", f"Fitted to the ring model at K = 2 (`T = n/B + 2 alpha`; alpha from the smallest message, B at "
              f"the gradient's size): alpha = {alpha_here * 1e6:.1f} us, B = {bandwidth_here / 1e9:.1f} GB/s.", "",
              "## Projection for a cluster", "",
              f"Step time on K ranks = one rank's compute at a share of `m/K` examples (measured here, one core) "
              f"+ a ring allreduce of the gradient (n = {gradient_bytes / 1e6:.2f} MB), "
              "`T = 2(K-1)/K * n/B + 2(K-1) * alpha`, not overlapped. Speed-up against one rank of one core "
              "training the whole batch. Links at their nominal figures: "
              + "; ".join(f"{name}: alpha = {alpha * 1e6:g} us, B = {bw / 1e9:g} GB/s" for name, (alpha, bw)
                          in NETWORKS.items()) + ".", ""]
    header = "| global batch | network | " + " | ".join(f"K = {k}" for k in PROJECTED_K) + " |"
    lines += [header, "|---|---|" + "---|" * len(PROJECTED_K)]
    for batch in BATCHES:
        alone = compute[batch]
        for name, (alpha, bandwidth) in NETWORKS.items():
            cells = []
            for k in PROJECTED_K:
                step = compute[max(1, batch // k)] + _ring(k, gradient_bytes, alpha, bandwidth)
                communication = _ring(k, gradient_bytes, alpha, bandwidth) / step
                cells.append(f"{alone / step:.1f}x ({communication:.0%} comm.)")
            lines.append(f"| {batch} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "One rank's compute per step here (one core): " + ", ".join(
        f"{b}: {_fmt_time(compute[b])}" for b in shares) + ".", "",
        "## What 2 cores can and cannot show", "",
        "- They show that the parallel path is correct (tests: the same weights as one process) and what it "
        "costs: the Allreduce, smaller products per rank and the per-step Python overhead paid on every rank. "
        "Two ranks of one thread are compared with one process of one thread (the same core count per "
        "worker) and with one process of two threads (the same machine).",
        "- They cannot show a cluster's speed-up: both ranks share the machine's two cores, memory bandwidth "
        "and caches, and one process already uses both cores through BLAS threads. K = 2 against one process "
        "of 2 threads only tells whether two processes or two BLAS threads use the same two cores better "
        "(two threads split a product of a small batch poorly; two ranks pay an Allreduce and the Python "
        "of each step twice), not how training scales out. The Allreduce here goes through shared memory, "
        "far faster and with less latency than "
        "a network; the projection replaces it by the ring model with stated link figures, which assumes one "
        "rank per node, links at nominal speed, no contention, no overlap of communication with computation, "
        "and one core of this VM per rank (a real node gives each rank many cores and faster BLAS).",
        "- The projection's lesson holds regardless: at a global batch of 128 the shares become tiny (2 "
        "examples at K = 64) and a step is dominated by the fixed cost of a step and by the 2.7 MB allreduce, "
        "so scaling stops early; larger global batches (1024) keep ranks busy for longer per byte sent."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)


def _gemm_gflops(repeat=30):
    """GFLOP/s of the network's largest product at batch 128, best of ``repeat``: how fast the machine is now."""
    A, B = np.full((512, 784), 0.5, np.float32), np.full((784, 128), 0.5, np.float32)
    C, best = np.empty((512, 128), np.float32), float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.dot(A, B, out=C)
        best = min(best, time.perf_counter() - start)
    return 2 * 512 * 784 * 128 / best / 1e9


def _mpich_version():
    done = subprocess.run([_mpiexec(), "--version"], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.strip().startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "(unknown version)"


if __name__ == "__main__":
    main()
