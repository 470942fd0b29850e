"""Draw the guide's figures into docs/images (or --out DIR): ``python docs/make_figures.py``.

Each figure is drawn from deltaprop's own numbers, with the same networks and settings as the
chapter that shows it; the chapters print those numbers and tests/test_docs.py checks them, and
runs this script into a temporary directory. The benchmark's plot, ``autodiff_scaling.png``, is
drawn by ``benchmarks/autodiff_scaling.py`` instead (it takes minutes).

    learning_curve.png      getting-started.md    what `deltaprop train` with no options draws
    chain_sensitivity.png   chain-of-neurons.md   C0 against the last weight, with its tangent
    toy_circuit.png         circuits.md           the toy circuit's graph after reverse mode
    network_2_2_2.png       four-equations.md     the cost graph of the published 2-2-2 example
    demon.png               four-equations.md     the demon: the change of C against dz, and delta dz
    slowdown.png            four-equations.md     one neuron: quadratic cost against cross-entropy
    vanishing.png           tracking-and-sgd.md   gradient norms and saturation of a deep sigmoid net
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import deltaprop
from deltaprop import Dense, Network

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")


def _figure(width=6.4, height=4.0, ncols=1):
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols)
    return figure, axes


def _save(figure, out, name):
    path = os.path.join(out, name)
    figure.savefig(path, dpi=100)
    return path


def chain_sensitivity(out):
    """chain-of-neurons.md: C0 = (a(L) - y)^2 as a function of w(L) alone, and its tangent."""
    w, b = [0.6, -1.1, 1.4], [0.1, 0.5, -0.3]
    net = Network([Dense(1, 1, "sigmoid", W=[[w[i]]], b=[b[i]]) for i in range(3)], cost="squared_error",
                  dtype="float64")
    x, y = np.array([[0.8]]), np.array([[1.0]])
    slope = net.backprop(x, y).weights[2].item()
    c0 = net.cost(x, y)
    grid = np.linspace(-3.0, 6.0, 181)
    costs = []
    for value in grid:
        net.layers[2].W[0, 0] = value
        costs.append(net.cost(x, y))
    figure, ax = _figure()
    ax.plot(grid, costs, label="C0 as a function of w(L)")
    near = np.linspace(w[2] - 1.5, w[2] + 1.5, 2)
    ax.plot(near, c0 + slope * (near - w[2]), "--", label=f"tangent, slope dC0/dw(L) = {slope:.4f}")
    ax.plot([w[2]], [c0], "o", color="black")
    ax.set_xlabel("w(L)")
    ax.set_ylabel("C0 = (a(L) - y)^2")
    ax.set_title("The sensitivity of the cost to the last weight")
    ax.legend()
    return _save(figure, out, "chain_sensitivity.png")


def _published():
    """The published 2-2-2 example of four-equations.md: its network, input and target."""
    net = Network([Dense(2, 2, "sigmoid", W=[[0.15, 0.20], [0.25, 0.30]], b=[0.35, 0.35]),
                   Dense(2, 2, "sigmoid", W=[[0.40, 0.45], [0.50, 0.55]], b=[0.60, 0.60])],
                  cost="quadratic", dtype="float64")
    return net, np.array([0.05, 0.10]), np.array([0.01, 0.99])


def demon(out):
    """four-equations.md: the demon's change of C against dz, and the tangent delta dz, for two neurons."""
    net, x, y = _published()
    dzs = np.linspace(-4.0, 4.0, 161)
    figure, axes = _figure(width=9.6, height=4.0, ncols=2)
    for ax, (layer, unit, what) in zip(axes, ((1, 0, "output neuron 0 of layer 3"), (0, 0, "hidden neuron 0 of layer 2"))):
        changes = [deltaprop.nudge(net, x, y, layer, unit, dz).cost_change for dz in dzs]
        delta = deltaprop.nudge(net, x, y, layer, unit, 1.0).predicted
        ax.plot(dzs, changes, label="change of C, by the forward pass")
        ax.plot(dzs, delta * dzs, "--", label=f"tangent: delta dz, delta = {delta:.4f}")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_xlabel("dz, the demon's change of z")
        ax.set_title(what)
        ax.set_ylim(-0.3, 0.3)
        ax.legend(loc="upper left")
    axes[0].set_ylabel("change of the cost C")
    return _save(figure, out, "demon.png")


def slowdown(out):
    """four-equations.md: Nielsen's one neuron (w = b = 2, x = 1, y = 0, eta = 0.15), two costs."""
    runs = {cost: deltaprop.experiments.one_neuron_history(cost) for cost in ("quadratic", "cross_entropy")}
    figure, axes = _figure(width=9.6, height=4.0, ncols=2)
    for cost, record in runs.items():
        axes[0].plot(record["a"], label=cost.replace("_", "-"))
        axes[1].plot(np.array(record["cost"]) / record["cost"][0], label=cost.replace("_", "-"))
    axes[0].set_ylabel("the neuron's output a (target 0)")
    axes[1].set_ylabel("cost / cost at epoch 0")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    figure.suptitle("One saturated sigmoid neuron: the quadratic cost learns slowly, cross-entropy does not")
    return _save(figure, out, "slowdown.png")


def vanishing(out, epochs=30):
    """tracking-and-sgd.md: ||dC/dW|| and saturation per layer of a deep sigmoid network, epoch 0 first."""
    from deltaprop.data import load_dataset
    from deltaprop.train.diagnostics import Diagnostics

    digits = load_dataset("digits", dtype=np.float64)
    net = Network([64, 30, 30, 30, 10], init="standard_normal", seed=0)
    probe = Diagnostics(digits.X_train[:300], digits.y_train[:300])
    history = net.fit(digits.X_train, digits.y_train, epochs=epochs, batch_size=10, eta=3.0, seed=0,
                      callbacks=[probe])
    figure, axes = _figure(width=9.6, height=4.0, ncols=2)
    epochs_axis = np.arange(epochs + 1)
    for i in range(len(net.layers)):
        for ax, key in zip(axes, (f"grad_norm[{i}]", f"saturation[{i}]")):
            ax.plot(epochs_axis, [probe.initial[key]] + list(history.history[key]), marker=".",
                    label=f"layer {i + 2}" + (" (output)" if i == len(net.layers) - 1 else ""))
    axes[0].set_yscale("log")
    axes[0].set_ylabel("||dC/dW|| on a probe batch of 300")
    axes[1].set_ylabel("fraction of saturated units")
    for ax in axes:
        ax.set_xlabel("epoch (0: before training)")
        ax.legend()
    figure.suptitle("[64, 30, 30, 30, 10] sigmoid network, standard-normal weights, digits, eta 3.0")
    return _save(figure, out, "vanishing.png")


def _graph(out, name, *options):
    """A drawing by ``deltaprop graph``, as the chapters show the command."""
    from deltaprop.cli import main as cli

    path = os.path.join(out, name)
    with contextlib.redirect_stdout(io.StringIO()):  # its "drew PATH": main() says it once
        status = cli(["graph", *options, "--output", path])
    if status:
        raise SystemExit(f"deltaprop graph {' '.join(options)} failed with status {status}")
    return path


def toy_circuit(out):
    """circuits.md: the toy circuit L = c (a + 2b) after reverse mode."""
    return _graph(out, "toy_circuit.png")


def network_2_2_2(out):
    """four-equations.md: the cost graph of the published 2-2-2 example, z with delta and a with dC/da."""
    return _graph(out, "network_2_2_2.png", "--network")


def learning_curve(out):
    """getting-started.md: the learning curve of ``deltaprop train`` with no options, as the command draws it."""
    import tempfile

    from deltaprop.cli import main as cli

    with tempfile.TemporaryDirectory() as run, contextlib.redirect_stdout(io.StringIO()):
        status = cli(["train", "--no-progress", "--quiet", "--out", run])
        if status:
            raise SystemExit(f"deltaprop train failed with status {status}")
        path = os.path.join(out, "learning_curve.png")
        with open(os.path.join(run, "learning_curve.png"), "rb") as drawn, open(path, "wb") as copy:
            copy.write(drawn.read())
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=IMAGES, help="directory for the PNGs (default docs/images)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for draw in FIGURES:
        print("drew", draw(args.out))
    return 0


FIGURES = [learning_curve, chain_sensitivity, toy_circuit, network_2_2_2, demon, slowdown, vanishing]

if __name__ == "__main__":
    sys.exit(main())
