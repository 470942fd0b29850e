"""Which storage order of the batch arrays makes a training step fastest, layer by layer.

    python benchmarks/layouts.py [--rounds 10]

For every cell of ``cells.py`` and every assignment of "one column per example" (C) or "one row
per example" (R) to its layers, times one SGD step of the real code (``feedforward``, the cost,
``backward``, the optimizer's step) on cached batches, interleaving the orders and keeping each
one's best of ``--rounds``. The rule in ``deltaprop.core.propagation.by_columns`` was read off these
figures; ``rule`` marks its choice. Writes ``benchmarks/results/layouts.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from machine import OtherLoad, blas_kernel, reexec_for_benchmark  # noqa: E402


def time_orders(cell, rounds):
    import cells
    import numpy as np

    import deltaprop
    from deltaprop.core import propagation, workspace
    from deltaprop.train.loop import _gather

    X, _, Y = cells.synthetic(4000)
    net = deltaprop.Network(list(cell.sizes), activation=cell.hidden, output_activation=cell.output, cost=cell.cost, seed=0)
    layers, cost, optimizer, m = net.layers, net.cost_function, deltaprop.SGD(1e-6), cell.batch_size
    rng = np.random.default_rng(0)
    batches = [rng.permutation(len(X))[:m] for _ in range(64)]

    count = [0]

    def step_with(ws):
        index = batches[count[0] % 64]
        count[0] += 1
        xb, yb = _gather(X, index, ws.x), _gather(Y, index, ws.y)
        a = propagation.feedforward(layers, xb, ws)
        cost.total(a, yb, scratch=ws.scratch[-1])
        propagation.backward(layers, cost, yb, ws, scale=optimizer.gradient_scale / m, scaled_deltas=True)
        optimizer.step(layers, ws.nabla_w, ws.nabla_b)

    steps = {}
    for columns in itertools.product([True, False], repeat=len(layers)):
        ws = workspace.Workspace(layers, m, net.dtype, columns=columns)
        steps["".join("C" if c else "R" for c in columns)] = (lambda ws=ws: step_with(ws))
    rule = "".join("C" if c else "R" for c in workspace.Workspace(layers, m, net.dtype).columns)
    macs = m * sum(i * o for i, o in zip(cell.sizes[:-1], cell.sizes[1:]))
    repeat = min(400, max(20, int(2e8 / macs)))
    best = dict.fromkeys(steps, float("inf"))
    load = OtherLoad().start()
    for _ in range(rounds):
        for name, step in steps.items():
            step()
            start = time.perf_counter()
            for _ in range(repeat):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / repeat)
    return best, rule, load.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "layouts.md"))
    args = parser.parse_args(argv)
    reexec_for_benchmark()
    import cells

    lines = ["# Storage order of the batch arrays, per layer: time of one SGD step", "",
             f"BLAS: {blas_kernel()}. C: one column per example, R: one row per example, listed from the first "
             "layer to the output layer; best of the interleaved rounds; **bold**: the fastest, `rule`: "
             "deltaprop's choice (`propagation.by_columns`).", ""]
    for key in cells.SYNTHETIC_CELLS:
        cell = cells.CELLS[key]
        best, rule, load = time_orders(cell, args.rounds)
        fastest = min(best, key=best.get)
        shown = []
        for name, seconds in best.items():
            text = f"{name} {seconds * 1e6:.1f} us"
            text = f"**{text}**" if name == fastest else text
            shown.append(text + (" `rule`" if name == rule else ""))
        lines.append(f"- {cell.label}: " + ", ".join(shown) + f" (other processes: {load:.2f} cores)")
        print(lines[-1], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
