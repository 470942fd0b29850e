"""``deltaprop plot`` and ``deltaprop graph``: drawings of a run's history and of a computation graph.

``plot`` redraws the PNGs of a ``history.csv`` (:mod:`deltaprop.cli.plots` draws them);
``graph`` builds 002's toy circuit with the autodiff engine, runs reverse mode and prints (or
writes) its graph in Graphviz DOT, gradients included.
"""

from __future__ import annotations

import os
import sys

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

    graph_parser = subparsers.add_parser("graph", help="draw the autodiff graph of 002's toy circuit as DOT",
                                         description="Build 002's toy circuit d = 2b, e = a + d, L = c e, run reverse "
                                                     "mode and print (or write) its graph in Graphviz DOT, gradients "
                                                     "included.")
    graph_parser.add_argument("--values", type=floats, default=[2.0, -3.0, 10.0], metavar="A,B,C",
                              help="the inputs a, b, c (default 2,-3,10)")
    graph_parser.add_argument("--output", metavar="PATH",
                              help="write the graph to PATH: .dot (the DOT text) or .svg/.png/.pdf (needs Graphviz's dot); "
                                   "- for standard output")
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


def _draw(text, path, fmt) -> None:
    """Draw the DOT ``text`` as ``fmt`` into ``path`` with Graphviz (atomically); without it, write ``.dot``.

    Done here rather than by :func:`~deltaprop.autodiff.to_dot`'s ``filename`` so that the drawing
    goes through :func:`~deltaprop.atomic.atomic_write` like every other output (never through a
    link, never over a device, keeping the mode of the file replaced).
    """
    import shutil

    from ..atomic import atomic_write

    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None and shutil.which("dot") is not None:
        drawing = graphviz.Source(text).pipe(format=fmt)
        with atomic_write(path, "wb") as handle:
            handle.write(drawing)
        print(f"drew {path}")
        return
    dot_path = os.path.splitext(path)[0] + ".dot"
    check_output(dot_path, "--output")
    with atomic_write(dot_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    missing = "the graphviz Python package" if graphviz is None else "Graphviz's `dot` program"
    print(f"deltaprop graph: note: {missing} is not installed, so the graph was not drawn; its DOT text is in "
          f"{dot_path}. Install Graphviz (e.g. `apt install graphviz` and `pip install graphviz`) and run "
          f"`dot -T{fmt} {dot_path} -o {path}`", file=sys.stderr)


def graph(args) -> int:
    from ..autodiff import to_dot

    if len(args.values) != 3:
        raise DeltapropError(f"--values has {len(args.values)} numbers; 002's toy circuit takes three: a, b, c")
    check_output(args.output, "--output")
    L = _toy_circuit(*args.values)
    text = to_dot(L)
    suffix = os.path.splitext(args.output or "")[1].lower()
    if suffix in (".svg", ".png", ".pdf"):
        _draw(text, args.output, suffix[1:])
    elif args.output:
        from ..atomic import STDOUT, atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        if args.output != STDOUT:
            print(f"wrote {args.output}")
    else:
        print(text, end="")
    return EXIT_OK
