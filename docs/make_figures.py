"""Draw the guide's figures into docs/images (or --out DIR): ``python docs/make_figures.py``.

Each figure is drawn from deltaprop's own numbers, with the same networks and settings as the
chapter that shows it; the chapters print those numbers and tests/test_docs.py checks them, and
runs this script into a temporary directory. The benchmark's plot, ``autodiff_scaling.png``, is
drawn by ``benchmarks/autodiff_scaling.py`` instead (it takes minutes).

    chain_sensitivity.png   chain-of-neurons.md   C0 against the last weight, with its tangent
    toy_circuit.png         circuits.md           the toy circuit's graph after reverse mode
    network_2_2_2.png       four-equations.md     the cost graph of the published 2-2-2 example
    demon.png               four-equations.md     the demon: the change of C against dz, and delta dz
    slowdown.png            four-equations.md     one neuron: quadratic cost against cross-entropy
    vanishing.png           tracking-and-sgd.md   gradient norms and saturation of a deep sigmoid net
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=IMAGES, help="directory for the PNGs (default docs/images)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for draw in FIGURES:
        print("drew", draw(args.out))
    return 0


FIGURES = [chain_sensitivity]

if __name__ == "__main__":
    sys.exit(main())
