"""``deltaprop plot`` and ``deltaprop graph``: drawings of a run's history and of a computation graph.

``plot`` redraws the PNGs of a ``history.csv`` (:mod:`deltaprop.cli.plots` draws them);
``graph`` builds 002's toy circuit with the autodiff engine, runs reverse mode and prints (or
writes) its graph in Graphviz DOT, gradients included.
"""

from __future__ import annotations

import os
import sys

from ..errors import DeltapropError
from .options import EXIT_OK, floats
from .rundir import check_out

__all__ = ["add_parser", "graph", "plot"]


def add_parser(subparsers) -> None:
    plot_parser = subparsers.add_parser("plot", help="draw the PNGs of a history.csv",
                                        description="Draw learning_curve.png and, if recorded with --diagnostics, "
                                                    "gradient_norms.png and saturation.png.")
    plot_parser.add_argument("history", metavar="HISTORY", help="a history.csv written by 'deltaprop train'")
    plot_parser.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: beside HISTORY)")
    plot_parser.set_defaults(run=plot)

    graph_parser = subparsers.add_parser("graph", help="draw the autodiff graph of 002's toy circuit as DOT",
                                         description="Build 002's toy circuit d = 2b, e = a + d, L = c e, run reverse "
                                                     "mode and print (or write) its graph in Graphviz DOT, gradients "
                                                     "included.")
    graph_parser.add_argument("--values", type=floats, default=[2.0, -3.0, 10.0], metavar="A,B,C",
                              help="the inputs a, b, c (default 2,-3,10)")
    graph_parser.add_argument("--output", metavar="PATH",
                              help="write the graph to PATH: .dot (the DOT text) or .svg/.png/.pdf (needs Graphviz's dot)")
    graph_parser.set_defaults(run=graph)


def plot(args) -> int:
    from ..files.history import load_history
    from .plots import plot_history

    history = load_history(args.history)
    out = check_out(args.out or os.path.dirname(os.path.abspath(args.history)))
    os.makedirs(out, exist_ok=True)
    written = plot_history(history, out)
    print("wrote " + ", ".join(written))
    return EXIT_OK


def _toy_circuit(a, b, c):
    """002's toy circuit ``d = 2b``, ``e = a + d``, ``L = c e``, differentiated by reverse mode."""
    from ..autodiff import Tensor

    a, b, c = Tensor(a, label="a"), Tensor(b, label="b"), Tensor(c, label="c")
    d = 2 * b
    d.label = "d"
    e = a + d
    e.label = "e"
    L = c * e
    L.label = "L"
    L.backward()  # dL/dc = e, dL/da = c, dL/db = 2c
    return L


def graph(args) -> int:
    import warnings

    from ..autodiff import to_dot

    if len(args.values) != 3:
        raise DeltapropError(f"--values has {len(args.values)} numbers; 002's toy circuit takes three: a, b, c")
    L = _toy_circuit(*args.values)
    suffix = os.path.splitext(args.output or "")[1].lower()
    if suffix in (".svg", ".png", ".pdf"):
        with warnings.catch_warnings(record=True) as caught:  # no Graphviz: to_dot writes .dot and says so
            warnings.simplefilter("always")
            to_dot(L, filename=args.output, format=suffix[1:])
        for warning in caught:
            print(f"deltaprop graph: note: {warning.message}", file=sys.stderr)
        if not caught:
            print(f"drew {args.output}")
    elif args.output:
        from ..atomic import atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write(to_dot(L))
        print(f"wrote {args.output}")
    else:
        print(to_dot(L), end="")
    return EXIT_OK
