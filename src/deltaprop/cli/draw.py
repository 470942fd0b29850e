"""``deltaprop draw``: a picture of a network, its weights, and one example's z, a and delta.

``deltaprop draw (MODEL | --weights FILE) [--input X --target Y] [--color-by a|delta] --out net.png|net.svg``
draws with :func:`deltaprop.draw.draw`. This module also holds what ``draw`` and ``explore`` share:
the network's source (a model file or a weights JSON file, see :mod:`deltaprop.files.weights_json`)
and the example (``--input``, ``--target``).
"""

from __future__ import annotations

from ..errors import DeltapropError
from .options import EXIT_OK, UsageError, floats

__all__ = ["add_example_options", "add_parser", "add_source_options", "draw", "network_from_source"]


def add_source_options(parser, required_help: str) -> None:
    """``MODEL`` (optional positional) and ``--weights FILE``."""
    parser.add_argument("model", metavar="MODEL", nargs="?", help=f"a model file written by 'deltaprop train' ({required_help})")
    parser.add_argument("--weights", metavar="FILE",
                        help='a JSON file of weights: {"cost": "quadratic", "layers": [{"activation": "sigmoid", '
                             '"W": [[...], ...], "b": [...] or a number}, ...]}')


def add_example_options(parser) -> None:
    parser.add_argument("--input", type=floats, metavar="X,X,...", help="one example's input, e.g. 0.05,0.10")
    parser.add_argument("--target", type=floats, metavar="Y,Y,...", help="its target, e.g. 0.01,0.99 (shows delta)")


def network_from_source(args, command: str):
    """The network of ``MODEL`` or ``--weights`` (None if neither is given), in float64."""
    if args.model is not None and args.weights is not None:
        raise UsageError(f"deltaprop {command}: error: give MODEL or --weights, not both")
    if args.weights is not None:
        from ..files.weights_json import read_weights_json

        return read_weights_json(args.weights)
    if args.model is not None:
        from ..files.model import load

        return load(args.model).copy("float64")
    return None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "draw", help="draw a network: units coloured by a or delta, weights by sign and size",
        description="Draw a network to a PNG or SVG file (by the suffix of --out): units coloured by their "
                    "activation a or their error delta, weights red (w > 0) or blue (w < 0) with width |w|, z, a and "
                    "delta written beside the units of small layers; a large network also gets its first-layer "
                    "weights as image tiles and per-layer histograms.")
    add_source_options(parser, "or --weights")
    add_example_options(parser)
    parser.add_argument("--color-by", choices=["a", "delta"], default="a",
                        help="colour units by activation a (default) or by delta = dC/dz (needs --input and --target)")
    parser.add_argument("--out", default="net.png", metavar="PATH", help="the picture: .png or .svg (default net.png)")
    parser.set_defaults(run=draw)


def draw(args) -> int:
    from ..draw import draw as draw_network

    if not args.out.lower().endswith((".png", ".svg")):
        raise UsageError(f"deltaprop draw: error: --out {args.out!r} must end in .png or .svg")
    net = network_from_source(args, "draw")
    if net is None:
        raise UsageError("deltaprop draw: error: give a MODEL file or --weights FILE (see deltaprop draw --help)")
    if args.target is not None and args.input is None:
        raise DeltapropError("--target needs --input: delta is computed for one example")
    if args.color_by == "delta" and args.target is None:
        raise DeltapropError("--color-by delta needs --input and --target: delta = dC/dz depends on the cost")
    for name, values, n, what in (("--input", args.input, net.sizes[0], "inputs"),
                                  ("--target", args.target, net.sizes[-1], "outputs")):
        if values is not None and len(values) != n:
            raise DeltapropError(f"{name} has {len(values)} values, but the network has {n} {what}")
    try:
        path = draw_network(net, args.out, x=args.input, y=args.target, color_by=args.color_by)
    except ImportError as error:
        raise UsageError(f"deltaprop draw: error: {error.name or 'matplotlib'} is not installed: "
                         "pip install 'deltaprop[cli]'") from None
    print(f"wrote {path}")
    return EXIT_OK
