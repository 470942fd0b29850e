"""``deltaprop explore``: write the explorer page, one self-contained HTML file (see :mod:`deltaprop.explore`).

``deltaprop explore [MODEL | --weights FILE | --data xor|spirals] [--input X --target Y] --out page.html``.
The network comes from MODEL or ``--weights``; otherwise it is built from ``--layers`` and the
network options (with ``--data``, from the preset ``deltaprop train`` uses for that data set), in
float64 and seeded by ``--seed``. ``--data`` names a 2-D classification data set (``xor``,
``spirals``, or a ``csv:`` file with two feature columns) whose training split the page trains on.
"""

from __future__ import annotations

from ..errors import DeltapropError
from .draw import add_example_options, add_source_options, network_from_source
from .options import EXIT_OK, POSITIVE, POSITIVE_INT, UsageError, network_options

__all__ = ["add_parser", "explore"]

DEFAULT_LAYERS = [2, 3, 2]
"""The network without a model, weights or data: the one ``deltaprop explain`` shows."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "explore", help="write an HTML page that steps through backpropagation and trains in the browser",
        description="Write one self-contained HTML page (no network access, opens from disk): the network diagram "
                    "with buttons that step forward and backward through BP1-BP4, sliders that nudge a weight or a "
                    "z_j and compare the change in cost with backpropagation's prediction, and, with --data, "
                    "mini-batch SGD in the browser with the cost curve and the decision boundary.")
    add_source_options(parser, "optional")
    parser.add_argument("--data", metavar="SPEC",
                        help="a 2-D classification data set to train on in the page: xor, spirals, or csv:PATH with "
                             "two feature columns")
    network_options(parser, sizes_default=None, sizes_help="layer sizes when no MODEL or --weights is given (default "
                    "2,3,2; with --data, the train preset, e.g. 2,8,2 for xor)")
    add_example_options(parser)
    parser.add_argument("--eta", type=POSITIVE, help="the page's initial learning rate (default: the train preset)")
    parser.add_argument("--batch-size", type=POSITIVE_INT, default=10, help="the page's initial batch size (default 10)")
    parser.add_argument("--out", default="explore.html", metavar="PATH", help="the page (default explore.html)")
    parser.set_defaults(run=explore)


def _built_network(args, data):
    """The network of --layers and the network options; with data, unset options take its train preset."""
    from ..core.network import Network
    from .train import PRESETS

    hidden, activation, output_activation, cost, eta = [10], "sigmoid", "sigmoid", "quadratic", 0.5
    sizes = DEFAULT_LAYERS
    if data is not None:
        hidden, activation, output_activation, cost, eta, _ = PRESETS.get(data.name.partition(":")[0], PRESETS["csv"])
        sizes = [data.n_features, *hidden, data.n_outputs]  # as deltaprop train builds it
    sizes = args.layers or sizes
    activation = args.activation or activation
    output_activation = args.output_activation or (output_activation if data is not None else activation)
    net = Network(sizes, activation=activation, output_activation=output_activation, cost=args.cost or cost,
                  init=args.init, seed=args.seed, dtype="float64")
    return net, eta


def explore(args) -> int:
    from ..explore import write_explore_page

    if not args.out.lower().endswith((".html", ".htm")):
        raise UsageError(f"deltaprop explore: error: --out {args.out!r} must end in .html")
    net = network_from_source(args, "explore")
    data = None
    if args.data is not None:
        from ..data import load_dataset

        data = load_dataset(args.data, dtype="float64")
        if not data.is_classification or data.n_features != 2:
            raise DeltapropError(f"--data {args.data}: the page trains on 2-D classification data (xor, spirals, or a "
                                 f"CSV with two feature columns); this has {data.n_features} features"
                                 f"{'' if data.is_classification else ' and real-valued targets'}")
    if net is None:
        net, eta = _built_network(args, data)
    else:
        given = [option for option, value in (("--layers", args.layers), ("--activation", args.activation),
                                              ("--output-activation", args.output_activation), ("--cost", args.cost))
                 if value is not None]
        if given:
            raise UsageError(f"deltaprop explore: error: {given[0]} builds a new network; it cannot change MODEL or "
                             "--weights")
        eta = 0.5
    if args.target is not None and args.input is None:
        raise DeltapropError("--target needs --input: the page shows one example")
    training = None if data is None else (data.name, data.X_train, data.y_train)
    path = write_explore_page(args.out, net, x=args.input, y=args.target, data=training,
                              eta=args.eta or eta, batch_size=args.batch_size, seed=args.seed, init=args.init)
    print(f"wrote {path}: open it in a browser (it needs no network)")
    return EXIT_OK
