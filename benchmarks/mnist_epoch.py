"""One epoch of Nielsen's MNIST setting, batched (``Network.fit``) vs the per-example form.

    python benchmarks/mnist_epoch.py [--epochs 3]

[784, 30, 10], sigmoid, quadratic cost, eta 3.0, batch 10, standard_normal init, trained on the
first 8,000 real MNIST digits of ``../shared/data/mnist`` (from the repository root). Each form
trains its own network from the same seed; the time of one epoch is the median of ``--epochs``
epochs (after a warm-up epoch for the batched form). Prints both times and their ratio, and the
test accuracy on the last 2,000 digits after those epochs, as a sanity check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import blas_kernel, epoch_timer, reexec_for_benchmark  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default=os.path.join(HERE, os.pardir, os.pardir, "shared", "data", "mnist"))
    args = parser.parse_args(argv)
    reexec_for_benchmark()  # without the OpenBLAS overrides of this machine (see machine.py)

    import numpy as np

    import deltaprop
    from deltaprop.core.per_example import sgd_epoch_per_example
    from deltaprop.data import load_mnist

    X, labels = load_mnist(args.data, "test")
    X_train, y_train, X_test, y_test = X[:8000], labels[:8000], X[8000:], labels[8000:]
    Y_train = np.eye(10, dtype=np.float32)[y_train]

    def network():
        return deltaprop.Network([784, 30, 10], activation="sigmoid", cost="quadratic", init="standard_normal", seed=0)

    batched, timer = network(), epoch_timer()
    batched.fit(X_train, Y_train, epochs=1 + args.epochs, batch_size=10, eta=3.0, seed=0, callbacks=[timer])
    t_batched = statistics.median(timer.times[1:])

    per_example, rng, times = network(), np.random.default_rng(0), []
    for _ in range(args.epochs):
        start = time.perf_counter()
        sgd_epoch_per_example(per_example, X_train, Y_train, batch_size=10, eta=3.0, rng=rng)
        times.append(time.perf_counter() - start)
    t_per_example = statistics.median(times)

    print("Nielsen's MNIST setting: [784, 30, 10] sigmoid, quadratic, eta 3.0, batch 10, 8,000 training digits")
    print(f"BLAS: {blas_kernel()}")
    print(f"batched     (Network.fit)            {t_batched:8.4f} s per epoch  (median of {args.epochs})")
    print(f"per-example (sgd_epoch_per_example)  {t_per_example:8.4f} s per epoch  (median of {args.epochs})")
    print(f"ratio per-example / batched          {t_per_example / t_batched:8.1f}x")
    print(f"test accuracy on the last 2,000 digits after {1 + args.epochs} / {args.epochs} epochs: "
          f"batched {batched.evaluate(X_test, y_test):.4f}, per-example {per_example.evaluate(X_test, y_test):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
