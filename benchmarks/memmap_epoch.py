"""One epoch of training from a 2 GB float32 memmap, with the process's memory while it runs.

    python benchmarks/memmap_epoch.py [--gigabytes 2] [--batch-size 100] [--keep]

Writes a ``.npy`` of random float32 inputs (784 features per row, like MNIST) into the system's
temporary directory in 64 MB chunks, opens it with ``np.load(path, mmap_mode="r")`` and trains a
[784, 30, 10] network on it for one shuffled epoch. A thread samples ``/proc/self/status`` every
20 ms; the script prints

* ``VmHWM``: peak resident set size, everything counted;
* the peak of ``RssAnon``: memory the process itself allocated (NumPy arrays, buffers), which is
  what copying the array would have grown to 2 GB;
* the peak of ``RssFile``: pages of files mapped into the process and resident in the page
  cache. Pages of the memmap that training (or the finiteness check of ``fit``) has read stay
  counted here while the machine has memory to spare. ``fit`` reads a whole-file memmap with
  positioned reads (``deltaprop.core.rows``), so almost none are. The last line shows the RSS once
  they are unmapped (``madvise(MADV_DONTNEED)``).

The file is deleted at the end unless ``--keep``. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import mmap
import os
import tempfile
import threading
import time

import numpy as np

import deltaprop

FEATURES, CLASSES = 784, 10


def status_kib(*fields) -> dict:
    """Current values (KiB) of ``fields`` of /proc/self/status."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in fields:
                values[key] = int(rest.split()[0])
    return values


class Sampler(threading.Thread):
    """Records the peak of RssAnon and RssFile every ``interval`` seconds until stopped."""

    def __init__(self, interval=0.02):
        super().__init__(daemon=True)
        self.interval, self.peak, self._done = interval, {"RssAnon": 0, "RssFile": 0}, threading.Event()

    def run(self):
        while not self._done.is_set():
            for key, value in status_kib("RssAnon", "RssFile").items():
                self.peak[key] = max(self.peak[key], value)
            time.sleep(self.interval)

    def stop(self):
        self._done.set()
        self.join()


def write_inputs(path, gigabytes: float, seed: int = 0) -> int:
    """Write ``gigabytes`` of uniform float32 rows to the .npy ``path`` in chunks; return the row count.

    Plain writes, not a writable memmap: the file's pages never enter this process, so VmHWM,
    the peak over the process's whole life, measures training alone.
    """
    n = int(gigabytes * 2**30) // (FEATURES * 4)
    rng = np.random.default_rng(seed)
    chunk = (64 << 20) // (FEATURES * 4)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (n, FEATURES)})
        for start in range(0, n, chunk):
            rng.random((min(chunk, n - start), FEATURES), dtype=np.float32).tofile(handle)
    return n


def mb(kib: int) -> str:
    return f"{kib / 1024:8.1f} MB"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the .npy file")
    args = parser.parse_args(argv)

    path = os.path.join(tempfile.gettempdir(), f"deltaprop_memmap_{os.getpid()}.npy")
    try:
        start = time.perf_counter()
        n = write_inputs(path, args.gigabytes)
        size = os.path.getsize(path)
        print(f"wrote {path}: {n} x {FEATURES} float32 = {size / 2**30:.2f} GiB in {time.perf_counter() - start:.1f} s")
        labels = np.random.default_rng(1).integers(0, CLASSES, n)
        net = deltaprop.Network([FEATURES, 30, CLASSES], seed=0)
        before = status_kib("VmRSS", "RssAnon", "RssFile")

        X = np.load(path, mmap_mode="r")
        sampler = Sampler()
        sampler.start()
        start = time.perf_counter()
        history = net.fit(X, labels, epochs=1, batch_size=args.batch_size, eta=0.5, seed=0)
        seconds = time.perf_counter() - start
        sampler.stop()
        after = status_kib("VmHWM", "VmRSS", "RssAnon", "RssFile")
        assert isinstance(X, np.memmap)

        print(f"one epoch, {-(-n // args.batch_size)} batches of {args.batch_size}: {seconds:.1f} s, "
              f"cost {history.history['cost'][0]:.4f}")
        print(f"array on disk                       {mb(size // 1024)}")
        print(f"RSS before training                 {mb(before['VmRSS'])}  (anonymous {mb(before['RssAnon'])})")
        print(f"peak RSS (VmHWM), everything        {mb(after['VmHWM'])}")
        print(f"peak anonymous memory (RssAnon)     {mb(sampler.peak['RssAnon'])}  <- what a copy would grow")
        print(f"peak mapped file pages (RssFile)    {mb(sampler.peak['RssFile'])}  (page cache, reclaimable)")
        print(f"anonymous growth during training    {mb(sampler.peak['RssAnon'] - before['RssAnon'])}"
              f"  = {100 * (sampler.peak['RssAnon'] - before['RssAnon']) * 1024 / size:.1f}% of the array")
        X._mmap.madvise(mmap.MADV_DONTNEED)  # unmap the file's pages (they stay in the page cache)
        print(f"RSS once the mapped pages are let go {mb(status_kib('VmRSS')['VmRSS'])}  (madvise DONTNEED: "
              "the file pages were cache, not memory of the process)")
    finally:
        if not args.keep and os.path.exists(path):
            os.unlink(path)
            print(f"deleted {path}")


if __name__ == "__main__":
    main()
