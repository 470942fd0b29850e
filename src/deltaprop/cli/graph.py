"""``deltaprop plot`` and ``deltaprop graph``: drawings of a run's history and of a computation graph.

``plot`` redraws the PNGs of a ``history.csv`` (:mod:`deltaprop.cli.plots` draws them);
``graph`` builds 002's toy circuit (or the cost of the published 2-2-2 example) with the autodiff
engine, runs reverse mode and prints its graph in Graphviz DOT, gradients included; ``--steps``
prints reverse mode visit by visit (:mod:`deltaprop.autodiff.steps`), and ``--output`` draws the
graph with matplotlib (:mod:`deltaprop.cli.graphdraw`) or writes the DOT text.
"""

from __future__ import annotations

import os

from ..errors import DeltapropError
from .options import EXIT_OK, check_output, floats
from .rundir import check_out

__all__ = ["PNG_NAMES", "add_parser", "graph", "plot"]

PNG_NAMES = ("learning_curve.png", "gradient_norms.png", "saturation.png")
"""The files ``plot`` may write into ``--out``."""


def add_parser(subparsers) -> None:
    plot_parser = subparsers.add_parser("plot", help="draw the PNGs of a history.csv",
                                        description="Draw learning_curve.png and, if recorded with --diagnostics, "
                                                    "gradient_norms.png and saturation.png.")
    plot_parser.add_argument("history", metavar="HISTORY", help="a history.csv written by 'deltaprop train'")
    plot_parser.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: beside HISTORY)")
    plot_parser.set_defaults(run=plot)

    graph_parser = subparsers.add_parser(
        "graph", help="002's toy circuit (or a small network's cost) as a graph: DOT, a drawing, or reverse mode "
                      "step by step",
        description="Build 002's toy circuit d = 2b, e = a + d, L = c e (or, with --network, the cost of the "
                    "published 2-2-2 sigmoid example), run reverse mode and print its graph in Graphviz DOT, "
                    "gradients included; --steps prints the forward values, each operation's local derivatives and "
                    "the backward pass visit by visit instead; --output draws it (.png, .svg, .pdf: matplotlib, no "
                    "Graphviz needed) or writes the DOT text (.dot).")
    graph_parser.add_argument("--values", type=floats, metavar="A,B,C",
                              help="the inputs a, b, c of the toy circuit (default 2,-3,10)")
    graph_parser.add_argument("--network", action="store_true",
                              help="the cost graph of the published 2-2-2 example (x = .05,.10, y = .01,.99) instead, "
                                   "its nodes labelled z, a and delta")
    graph_parser.add_argument("--steps", action="store_true",
                              help="print reverse mode step by step instead of the DOT text")
    graph_parser.add_argument("--output", metavar="PATH",
                              help="draw the graph to PATH.png, .svg or .pdf, or write its DOT text to PATH.dot (- for standard output)")
    graph_parser.set_defaults(run=graph)


def plot(args) -> int:
    from ..files.history import load_history
    from .plots import plot_history

    out = check_out(args.out or os.path.dirname(os.path.abspath(args.history)))
    for name in PNG_NAMES:  # before any work: no PNG may be the history itself, a link or a directory
        check_output(os.path.join(out, name), "--out", [("the history file", args.history)])
    history = load_history(args.history)
    os.makedirs(out, exist_ok=True)
    written = plot_history(history, out)
    print("wrote " + ", ".join(written))
    return EXIT_OK


def _toy_circuit(a, b, c, backward=True):
    """002's toy circuit ``d = 2b``, ``e = a + d``, ``L = c e``, differentiated by reverse mode."""
    from ..autodiff import Tensor

    a, b, c = Tensor(a, label="a"), Tensor(b, label="b"), Tensor(c, label="c")
    d = 2 * b
    d.label = "d"
    e = a + d
    e.label = "e"
    L = c * e
    L.label = "L"
    if backward:
        L.backward()  # dL/dc = e, dL/da = c, dL/db = 2c
    return L


PUBLISHED_2_2_2 = {"W": ([[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]), "b": (0.35, 0.60),
                   "x": [0.05, 0.10], "y": [0.01, 0.99]}
"""The widely used 2-2-2 worked example: sigmoid layers, one bias per layer, quadratic cost."""


def _network_cost(backward=True):
    """The cost graph of the published 2-2-2 example, one example; z and a labelled with the notes' layer l."""
    import numpy as np

    from ..autodiff import network_cost
    from ..core.layers import Dense
    from ..core.network import Network

    W, b = PUBLISHED_2_2_2["W"], PUBLISHED_2_2_2["b"]
    net = Network([Dense(2, 2, "sigmoid", W=W[i], b=[b[i], b[i]]) for i in range(2)], cost="quadratic",
                  dtype="float64")
    graph = network_cost(net, np.array([PUBLISHED_2_2_2["x"]]), np.array([PUBLISHED_2_2_2["y"]]))
    for i, (z, a) in enumerate(zip(graph.zs, graph.activations[1:])):
        z.label, a.label = f"z^{i + 2}", f"a^{i + 2}"
    if backward:
        graph.cost.backward()  # with one example, z.grad is delta = dC/dz itself
    return graph.cost


def _network_text(node):
    """A box of the network's graph: z with its delta, a with dC/da, the rest as to_dot writes them."""
    from ..autodiff.dot import _summary
    from .graphdraw import value_text

    label = node.label or ""
    if node.grad is not None and label.startswith("z^"):
        return f"{label} = {_summary(node.data)}\ndelta^{label[2:]} = dC/dz = {_summary(node.grad)}"
    if node.grad is not None and label.startswith("a^"):
        return f"{label} = {_summary(node.data)}\ndC/da^{label[2:]} = {_summary(node.grad)}"
    return value_text(node)


def graph(args) -> int:
    from ..autodiff import to_dot
    from ..autodiff.steps import reverse_mode_steps

    if args.network and args.values is not None:
        raise DeltapropError("--values sets the toy circuit's inputs; --network draws the 2-2-2 example instead")
    values = args.values if args.values is not None else [2.0, -3.0, 10.0]
    if len(values) != 3:
        raise DeltapropError(f"--values has {len(values)} numbers; 002's toy circuit takes three: a, b, c")
    check_output(args.output, "--output")
    suffix = os.path.splitext(args.output or "")[1].lower()
    if args.output and suffix in (".png", ".svg", ".pdf"):
        from .graphdraw import _matplotlib

        _matplotlib()  # without matplotlib: fail now (exit 2), before anything is printed
    root = _network_cost() if args.network else _toy_circuit(*values)
    if args.steps:
        fresh = _network_cost(backward=False) if args.network else _toy_circuit(*values, backward=False)
        title = ("the cost of the 2-2-2 example, C = 1/2 ||a^3 - y||^2" if args.network
                 else f"002's toy circuit L = c (a + 2b) at a = {values[0]:g}, b = {values[1]:g}, c = {values[2]:g}")
        print(title + "\n")
        print(reverse_mode_steps(fresh))
    if suffix in (".png", ".svg", ".pdf"):
        from .graphdraw import draw_graph

        title = "C = 1/2 ||a^3 - y||^2 of the 2-2-2 example" if args.network else "L = c (a + 2b)"
        draw_graph(root, args.output, text_of=_network_text if args.network else None, title=title)
        print(f"drew {args.output}")
    elif args.output:
        from ..atomic import STDOUT, atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write(to_dot(root))
        if args.output != STDOUT:
            print(f"wrote {args.output}")
    elif not args.steps:
        print(to_dot(root), end="")
    return EXIT_OK
