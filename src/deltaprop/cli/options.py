"""What every subcommand of the command line shares: the parser, its value types, its option groups.

* :class:`Parser` reports a bad command line as a :class:`UsageError`, one line, instead of
  argparse's usage text and exit;
* :func:`number` makes the converters of numeric options (``POSITIVE_INT``, ``COUNT``,
  ``POSITIVE``, ``NON_NEGATIVE``, ``FRACTION`` are made by it); :func:`sizes` and :func:`floats`
  read comma-separated lists. Each converter's error names what it accepts; argparse adds the
  option's name in front (``argument --eta: '-3' is not a positive number``);
* :func:`network_options` and :func:`data_help` are the options and help shared by several
  subcommands;
* the exit statuses, which the :mod:`deltaprop.cli.main` docstring describes.
"""

from __future__ import annotations

import argparse
import math

from ..core.activations import ACTIVATIONS
from ..core.costs import COSTS
from ..core.initializers import INIT_NAMES

__all__ = ["COUNT", "EXIT_CHECK_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "FRACTION", "NON_NEGATIVE",
           "POSITIVE", "POSITIVE_INT", "Parser", "UsageError", "data_help", "floats", "network_options", "number",
           "sizes"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad command line, reported as one line (argparse would print the whole usage)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are :class:`UsageError` (one line) rather than usage text and exit 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


# -- value types: each names what it accepts, argparse adds the option's name --------------------------

def _describe(kind, minimum, maximum, strict) -> str:
    """``a positive integer``, ``a number >= 0``, ``a number between 0 and 1``, ..."""
    noun = "an integer" if kind is int else "a number"
    if minimum is not None and maximum is not None:
        return f"{noun} between {minimum:g} and {maximum:g}{'' if strict else ' inclusive'}"
    if minimum == 0 and strict:
        return f"a positive {noun.split()[-1]}"
    if minimum is not None:
        return f"{noun} {'>' if strict else '>='} {minimum:g}"
    if maximum is not None:
        return f"{noun} {'<' if strict else '<='} {maximum:g}"
    return noun if kind is int else "a finite number"


def number(kind=float, minimum=None, maximum=None, strict=False):
    """A converter of option text to a ``kind`` (int or float) within the bounds, finite.

    ``minimum`` and ``maximum`` are included, or excluded when ``strict``; either may be None.
    A value out of range or not a number raises ``argparse.ArgumentTypeError`` saying what is
    accepted: ``number(int, minimum=0, strict=True)`` refuses ``'0'`` as "not a positive integer".
    """
    if kind not in (int, float):
        raise TypeError(f"kind={kind!r} must be int or float")
    accepts = _describe(kind, minimum, maximum, strict)

    def within(value) -> bool:
        if not math.isfinite(value):
            return False
        if minimum is not None and (value <= minimum if strict else value < minimum):
            return False
        return maximum is None or (value < maximum if strict else value <= maximum)

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not within(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {accepts}")
        return value

    convert.__name__ = accepts.split(" ", 1)[1].replace(" ", "_")
    return convert


POSITIVE_INT = number(int, minimum=0, strict=True)
COUNT = number(int, minimum=0)
POSITIVE = number(float, minimum=0, strict=True)
NON_NEGATIVE = number(float, minimum=0)
FRACTION = number(float, minimum=0, maximum=1, strict=True)


def sizes(text):
    """``"64,30,10"`` -> ``[64, 30, 10]``: at least two positive integers."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least two positive integers separated by commas, e.g. 64,30,10")
    return values


def floats(text):
    """``"0.05,0.10"`` -> ``[0.05, 0.1]``: finite numbers."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(value) for value in values):
        raise argparse.ArgumentTypeError(f"{text!r} must be finite numbers separated by commas, e.g. 0.05,0.10")
    return values


# -- options shared by several subcommands -----------------------------------------------------------

def network_options(parser, sizes_default=None, sizes_help="layer sizes, input first", init_default="auto",
                    seed_default=0):
    """--layers, --activation, --output-activation, --cost, --init, --seed.

    ``train`` passes None for the defaults of the options a checkpoint records, so that "given on
    the command line" is ``is not None``; the help states the default a new run resolves them to.
    """
    parser.add_argument("--layers", type=sizes, default=sizes_default, metavar="N,N,...", help=sizes_help)
    parser.add_argument("--activation", choices=list(ACTIVATIONS), help="activation of the hidden layers")
    parser.add_argument("--output-activation", choices=list(ACTIVATIONS), help="activation of the output layer")
    parser.add_argument("--cost", choices=list(COSTS), help="cost function")
    parser.add_argument("--init", choices=list(INIT_NAMES), default=init_default,
                        help="weight initialiser (default auto: he for ReLU layers, xavier otherwise)")
    parser.add_argument("--seed", type=COUNT, default=seed_default, help="seed of the weights and the shuffling (default 0)")


def data_help(default) -> str:
    return (f"data source: digits, mnist:DIR, csv:PATH[:LABEL_COLUMN], npy:X.npy,y.npy[,X_test.npy,y_test.npy] "
            f"(memmapped; without test files the last 25%% of rows test), xor, spirals or sine (default {default}); "
            "mnist alone reads the download cache")
