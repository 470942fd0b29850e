"""Memory over a long run: 300 epochs of a small network, with a checkpoint written every epoch.

    python benchmarks/memory_flat.py [--epochs 300] [--no-checkpoint]

Trains a [64, 30, 10] sigmoid network on scikit-learn's digits (1,797 examples, batches of 10:
180 steps per epoch, 54,000 in all) with validation data, and records after every epoch the
resident set size (``VmRSS`` from ``/proc/self/status``) and the bytes Python has allocated
(tracemalloc is *not* used: it would slow every allocation; ``sys.getallocatedblocks`` counts
Python objects instead). A leak of even one small array per step would add megabytes over the
run; the script prints the RSS at a few epochs, the least-squares slope over the last 90% of
the epochs, and the spread. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

import deltaprop
from deltaprop.train.callbacks import Callback


def rss_kib() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class MemoryLog(Callback):
    """RSS (KiB) and Python's allocated blocks after every epoch."""

    def __init__(self):
        self.rss, self.blocks = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.rss.append(rss_kib())
        self.blocks.append(sys.getallocatedblocks())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--no-checkpoint", action="store_true", help="do not write a checkpoint every epoch")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, y_train, X_test, y_test = X[:1500], y[:1500], X[1500:], y[1500:]
    net = deltaprop.Network([64, 30, 10], seed=0)
    log = MemoryLog()
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None if args.no_checkpoint else os.path.join(directory, "checkpoint.npz")
        history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=10, eta=3.0, seed=0,
                          validation_data=(X_test, y_test), callbacks=[log], checkpoint=checkpoint)
    rss = np.array(log.rss) / 1024.0
    blocks = np.array(log.blocks)
    print(f"{args.epochs} epochs of [64, 30, 10] on digits, batch 10, "
          f"{'a checkpoint every epoch' if checkpoint else 'no checkpoints'}; "
          f"final val_accuracy {history.history['val_accuracy'][-1]:.4f}")
    for epoch in sorted({1, 10, 30, 100, args.epochs // 2, args.epochs}):
        if epoch <= len(rss):
            print(f"  after epoch {epoch:>4}: RSS {rss[epoch - 1]:7.2f} MB, Python blocks {blocks[epoch - 1]}")
    tail = slice(len(rss) // 10, len(rss))
    epochs = np.arange(len(rss))[tail]
    slope = np.polyfit(epochs, rss[tail], 1)[0] * 1024  # KiB per epoch
    block_slope = np.polyfit(epochs, blocks[tail], 1)[0]
    print(f"  epochs {tail.start + 1}-{len(rss)}: RSS spread {rss[tail].max() - rss[tail].min():.2f} MB, "
          f"slope {slope:+.2f} KiB/epoch; Python blocks slope {block_slope:+.2f}/epoch")
    print(f"  (expected growth: the history keeps {len(history.history)} floats an epoch and this log 2 ints, "
          "each a block or two, plus list growth)")


if __name__ == "__main__":
    main()
