"""The ``deltaprop`` command: train, evaluate, predict, export, explain, gradcheck, plot, graph, draw, explore.

``deltaprop train`` with no arguments trains a [64, 30, 10] sigmoid network on scikit-learn's
digits and writes ``model.npz``, ``history.csv`` and ``learning_curve.png`` into ``runs/latest``.
Run ``deltaprop SUBCOMMAND --help`` for the options of each subcommand.

This module builds the parser from the subcommand modules (:mod:`~deltaprop.cli.train`,
:mod:`~deltaprop.cli.models`, :mod:`~deltaprop.cli.explain`, :mod:`~deltaprop.cli.graph`,
:mod:`~deltaprop.cli.draw`, :mod:`~deltaprop.cli.explore`; each
registers its parsers with ``set_defaults(run=...)``) and turns what they raise into exit statuses.

Exit status: 0 on success, 1 when ``gradcheck`` finds an error above its tolerance, 2 on any
user error (bad option, missing or malformed file, another run holding ``--out``) and when
training diverges, reported as one line on standard error with no traceback, 130 when Ctrl-C
interrupts (``train`` first finishes its batch and saves a checkpoint and the model so far).
Outputs are written to temporary files and renamed into place, so a failed run never leaves a
half-written file or destroys an earlier one; ``train`` holds a lock on its ``--out`` directory.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import DeltapropError
from . import draw, explain, explore, graph, models, train
from .options import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Parser, UsageError

__all__ = ["build_parser", "main"]

SUBCOMMANDS = (train, models, explain, graph, draw, explore)
"""The modules whose ``add_parser(subparsers)`` registers the subcommands, in the order of --help."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="deltaprop", description="Neural networks that learn by backpropagation (BP1-BP4).",
                    epilog="Run 'deltaprop COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def _os_error_message(error: OSError) -> str:
    if error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def main(argv=None) -> int:
    """Run the command line; return the exit status (see the module docstring)."""
    parser, args = build_parser(), None
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except UsageError as error:
        print(error, file=sys.stderr)
    except DeltapropError as error:
        print(f"deltaprop {getattr(args, 'command', '')}: error: {error}", file=sys.stderr)
    except BrokenPipeError:  # e.g. `deltaprop explain | head`: stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CHECK_FAILED
    except OSError as error:
        print(f"deltaprop {getattr(args, 'command', '')}: error: {_os_error_message(error)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("deltaprop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE
