"""What the machine is doing besides the benchmark: CPU used by other processes, and peak memory.

Timings on a 2-core machine are meaningless while something else computes, so the harness waits
for a quiet machine before each measurement and records how busy the other processes were while
it ran (``OtherLoad``), re-running a measurement that was disturbed. Linux only (``/proc``).
"""

from __future__ import annotations

import os
import resource
import time

_HZ = os.sysconf("SC_CLK_TCK")


def _system_busy_jiffies() -> int:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal, minus idle


def _own_jiffies() -> int:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15])  # utime stime cutime cstime: this process and children


class OtherLoad:
    """Measures how many cores *other* processes kept busy between ``start()`` and ``stop()``."""

    def start(self):
        self._wall, self._busy, self._own = time.perf_counter(), _system_busy_jiffies(), _own_jiffies()
        return self

    def stop(self) -> float:
        wall = time.perf_counter() - self._wall
        others = (_system_busy_jiffies() - self._busy) - (_own_jiffies() - self._own)
        return max(others, 0) / _HZ / max(wall, 1e-9)


def other_load(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes over the next ``seconds``."""
    load = OtherLoad().start()
    time.sleep(seconds)
    return load.stop()


def wait_until_quiet(threshold: float = 0.15, timeout: float = 300.0, log=print) -> float:
    """Wait (at most ``timeout`` s) until other processes use less than ``threshold`` cores.

    Returns the last load measured; logs once if it has to wait.
    """
    deadline = time.monotonic() + timeout
    load = other_load(0.5)
    if load >= threshold:
        log(f"  waiting for a quiet machine (other processes use {load:.2f} cores) ...")
    while load >= threshold and time.monotonic() < deadline:
        load = other_load(2.0)
    return load


def rss_mb() -> float:
    """Resident set size of this process now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def benchmark_env() -> dict:
    """This environment without ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (unset together).

    The machine sets both for old OpenBLAS builds; they force a current NumPy onto slower kernels.
    Only benchmark processes drop them: tests and CI keep them.
    """
    env = dict(os.environ)
    for name in OPENBLAS_OVERRIDES:
        env.pop(name, None)
    return env


def reexec_for_benchmark() -> None:
    """Replace this process by itself without the OpenBLAS overrides (if any is set)."""
    import sys

    if any(name in os.environ for name in OPENBLAS_OVERRIDES):
        os.execve(sys.executable, [sys.executable] + sys.argv, benchmark_env())


def blas_kernel() -> str:
    """The BLAS NumPy runs here, e.g. ``openblas 0.3.31 (SkylakeX kernels, 2 threads)``."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to see it)"
    import numpy  # noqa: F401  (loads the BLAS)

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(f"{p['internal_api']} {p.get('version')} ({p.get('architecture')} kernels, {p['num_threads']} threads)" for p in pools)


def speed_probe(repeat: int = 3) -> float:
    """Seconds for a fixed small workload (BLAS products on all threads, then many tiny NumPy calls).

    Some phases of this virtual machine run everything up to twice slower, with no other process
    to show for it (a busy neighbour on the host). Comparing this probe with its best value tells
    whether the machine is in such a phase. Best of ``repeat``.
    """
    import numpy as np

    A = np.full((384, 384), 0.5, np.float32)
    C = np.empty_like(A)
    v = np.ones(300, np.float32)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(20):
            np.dot(A, A, out=C)
        for _ in range(3000):
            np.multiply(v, v, out=v)
        best = min(best, time.perf_counter() - start)
    return best


def epoch_timer():
    """A deltaprop callback that times each epoch inside one ``fit`` call, as a user trains."""
    import time

    import deltaprop

    class EpochTimer(deltaprop.Callback):
        def __init__(self):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()
