"""Memory of a 30-epoch MNIST-subset run: resident memory after every epoch must not grow.

    python benchmarks/memory.py [--epochs 30]

Trains Nielsen's setting ([784, 30, 10], sigmoid, quadratic, eta 3.0, batch 10) on the first
8,000 real MNIST digits with the last 2,000 as validation data, and prints the resident set size
(RSS) and the peak RSS of the process after every epoch. ``fit`` reuses one workspace per batch
size, so after the first epoch neither may grow; the script exits with status 1 if either grows
by more than ``--tolerance`` MB between epoch 2 and the last epoch.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import peak_rss_mb, reexec_for_benchmark, rss_mb  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--tolerance", type=float, default=1.0, help="MB of growth still accepted")
    parser.add_argument("--data", default=os.path.join(HERE, os.pardir, os.pardir, "shared", "data", "mnist"))
    args = parser.parse_args(argv)
    reexec_for_benchmark()

    import deltaprop
    from deltaprop.data import load_mnist

    X, labels = load_mnist(args.data, "test")
    net = deltaprop.Network([784, 30, 10], activation="sigmoid", cost="quadratic", init="standard_normal", seed=0)
    print(f"after loading the data: RSS {rss_mb():.1f} MB, peak {peak_rss_mb():.1f} MB")
    print(f"{'epoch':>5} {'RSS MB':>8} {'peak MB':>8} {'cost':>8} {'val acc':>8}")
    rss, peak = [], []

    class Report(deltaprop.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rss.append(rss_mb())
            peak.append(peak_rss_mb())
            print(f"{epoch + 1:5d} {rss[-1]:8.1f} {peak[-1]:8.1f} {logs['cost']:8.4f} {logs['val_accuracy']:8.4f}", flush=True)

    net.fit(X[:8000], labels[:8000], epochs=args.epochs, batch_size=10, eta=3.0, seed=0,
            validation_data=(X[8000:], labels[8000:]), callbacks=[Report()])
    first = 1 if len(rss) > 1 else 0  # epoch 1 allocates the workspaces; compare from epoch 2 on
    growth_rss, growth_peak = rss[-1] - rss[first], peak[-1] - peak[first]
    ok = growth_rss <= args.tolerance and growth_peak <= args.tolerance
    print(f"growth from epoch {first + 1} to {len(rss)}: RSS {growth_rss:+.2f} MB, peak {growth_peak:+.2f} MB "
          f"-> {'does not grow' if ok else 'GROWS'} (tolerance {args.tolerance} MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
