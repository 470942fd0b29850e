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
interrupts (``train`` first finishes its batch and saves a checkpoint and the model so far),
wherever the interrupt comes, even while the subcommands' modules import.
Outputs are written to temporary files and renamed into place, so a failed run never leaves a
half-written file or destroys an earlier one; only regular files are replaced (keeping their
mode), a FIFO or a device is written to, ``-`` is standard output, and an output that is one of
the command's inputs is refused (:func:`deltaprop.atomic.atomic_write`,
:func:`deltaprop.cli.options.check_output`); ``train`` holds a lock on its ``--out`` directory.
Whatever is printed, a file name the terminal's encoding cannot show included, is printed (with
a backslash escape), never a UnicodeEncodeError.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import DeltapropError
from .options import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Parser, UsageError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

SUBCOMMANDS = ("train", "models", "explain", "graph", "draw", "explore")
"""The modules whose ``add_parser(subparsers)`` registers the subcommands, in the order of --help.

They are imported by :func:`build_parser`, inside :func:`main`'s error handling, so that even a
Ctrl-C while they import ends in one line and status 130."""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from .. import __version__

    parser = Parser(prog="deltaprop", description="Neural networks that learn by backpropagation (BP1-BP4).",
                    epilog="Run 'deltaprop COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__package__}.{name}").add_parser(subparsers)
    return parser


def _os_error_message(error: OSError) -> str:
    if error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def _safe_streams() -> list:
    """Make standard output and error print any text, whatever their encoding; return how to undo it.

    A path that is not valid in the locale's encoding (``bad\\xff`` arrives as ``bad\\udcff``) would
    otherwise raise UnicodeEncodeError in the middle of a command that has done its work (after
    ``train`` wrote its files, say); it is printed with a backslash escape instead.
    """
    undo = []
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        errors = getattr(stream, "errors", None)
        if reconfigure is None or errors in (None, "backslashreplace", "surrogateescape"):
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError, TypeError):  # a closed or unusual stream: leave it be
            continue
        undo.append((reconfigure, errors))
    return undo


def _say(message: str) -> None:
    """Print one line on standard error, whatever it holds and whatever state standard error is in."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):  # closed or missing: nothing more can be said
        pass


def main(argv=None) -> int:
    """Run the command line; return the exit status (see the module docstring)."""
    undo = _safe_streams()
    try:
        return _run(argv)
    finally:
        for reconfigure, errors in undo:
            try:
                reconfigure(errors=errors)
            except (ValueError, OSError, TypeError):
                pass


def _run(argv) -> int:
    args = None
    try:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            return args.run(args)
        except UsageError as error:
            _say(str(error))
        except DeltapropError as error:
            _say(f"deltaprop {getattr(args, 'command', '')}: error: {error}")
        except BrokenPipeError:  # e.g. `deltaprop explain | head`: stop quietly, as other tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_CHECK_FAILED
        except OSError as error:
            _say(f"deltaprop {getattr(args, 'command', '')}: error: {_os_error_message(error)}")
        return EXIT_USAGE
    except KeyboardInterrupt:  # wherever it came: imports, argparse, the command, or one of the handlers above
        _say("deltaprop: interrupted")
        return EXIT_INTERRUPTED
