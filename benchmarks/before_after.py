"""One epoch of ``Network.fit`` in two source trees of deltaprop, A against B, in one run.

    python benchmarks/before_after.py OLD_SRC NEW_SRC [--rounds 5] [--n 8000]

For a change that must not change speed (the reorganisation of issue 10): each of the cells of
``compare.py`` (the six synthetic ones) trains in fresh subprocesses, A and B alternating, each
subprocess timing the epochs of one ``fit`` after a warm-up epoch. What is compared is CPU time per epoch
(``time.process_time``) with one BLAS thread, the best of each subprocess's epochs, then the median
over rounds: on a shared machine, wall time measures the neighbours as much as the code, while the
CPU time a process spends in its own epoch does not depend on how long it waited for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cells as cells_module  # noqa: E402

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import cells
import deltaprop
cell = cells.CELLS[sys.argv[2]]
n, epochs = int(sys.argv[3]), int(sys.argv[4])
X, _, y = cells.synthetic(n)  # one-hot rows, as compare.py trains on
net = deltaprop.Network(list(cell.sizes), activation=cell.hidden, output_activation=cell.output, cost=cell.cost,
                        seed=0)
times = []


class Timer(deltaprop.Callback):  # each epoch inside one fit, as a long run spends its time
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        times.append(time.process_time() - self.start)


net.fit(X, y, epochs=epochs + 1, batch_size=cell.batch_size, eta=cell.eta, seed=0, callbacks=[Timer()])
print(json.dumps({"best": min(times[1:]), "file": deltaprop.__file__}))
"""


def one(src, key, n, epochs):
    env = dict(os.environ, PYTHONPATH=src, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, HERE, key, str(n), str(epochs)], env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    assert result["file"].startswith(os.path.abspath(src)), (result["file"], src)
    return result["best"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the src/ directory of the tree before")
    parser.add_argument("b", help="the src/ directory of the tree after")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=8000, help="training examples per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cells", nargs="+", choices=cells_module.SYNTHETIC_CELLS, default=cells_module.SYNTHETIC_CELLS)
    args = parser.parse_args()
    a, b = os.path.abspath(args.a), os.path.abspath(args.b)
    rows = ["| cell | before (CPU s/epoch) | after | after / before |", "|---|---|---|---|"]
    for key in args.cells:
        times = {a: [], b: []}
        for round_ in range(args.rounds):
            for src in ((a, b) if round_ % 2 == 0 else (b, a)):
                times[src].append(one(src, key, args.n, args.epochs))
        before, after = statistics.median(times[a]), statistics.median(times[b])
        rows.append(f"| {cells_module.CELLS[key].label} | {before:.4f} | {after:.4f} | {after / before:.3f} |")
        print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
