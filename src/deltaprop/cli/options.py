"""What every subcommand of the command line shares: the parser, its value types, its option groups.

* :class:`Parser` reports a bad command line as a :class:`UsageError`, one line, instead of
  argparse's usage text and exit;
* :func:`number` makes the converters of numeric options (``POSITIVE_INT``, ``COUNT``,
  ``POSITIVE``, ``NON_NEGATIVE``, ``FRACTION`` are made by it); :func:`sizes` and :func:`floats`
  read comma-separated lists. Each converter's error names what it accepts; argparse adds the
  option's name in front (``argument --eta: '-3' is not a positive number``);
* :func:`network_options` and :func:`data_help` are the options and help shared by several
  subcommands;
* :func:`check_output` refuses, before any work is done, an output path that the command could not
  write safely: a link, a directory, or one of the command's own inputs;
* :func:`check_network_size` refuses, before anything is allocated, a network whose weights and
  buffers would need more memory than :func:`memory_limit` (4 GiB unless ``DELTAPROP_MAX_MEMORY``
  says otherwise); :func:`work_limit` is the matching bound on computation (``DELTAPROP_MAX_WORK``);
* the exit statuses, which the :mod:`deltaprop.cli.main` docstring describes.
"""

from __future__ import annotations

import argparse
import math
import os
import re

from ..core.activations import ACTIVATIONS
from ..core.costs import COSTS
from ..core.initializers import INIT_NAMES
from ..errors import DeltapropError

__all__ = ["COUNT", "DEFAULT_MAX_MEMORY", "DEFAULT_MAX_WORK", "EXIT_CHECK_FAILED", "EXIT_INTERRUPTED", "EXIT_OK",
           "EXIT_USAGE", "FRACTION", "MAX_COUNT", "MAX_SEED", "NON_NEGATIVE", "POSITIVE", "POSITIVE_INT", "Parser",
           "UsageError", "check_network_size", "check_output", "data_help", "floats", "memory_limit", "network_bytes",
           "network_options", "number", "show_bytes", "show_sizes", "sizes", "work_limit"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

MAX_COUNT = 10**9
"""Largest value of a count option (``--epochs``, ``--batch-size``, ``--examples``, ...): far beyond any
real run, small enough that no arithmetic on it overflows."""
MAX_SEED = 2**63 - 1
"""Largest ``--seed``."""


class UsageError(Exception):
    """A bad command line, reported as one line (argparse would print the whole usage)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are :class:`UsageError` (one line) rather than usage text and exit 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


# -- value types: each names what it accepts, argparse adds the option's name --------------------------

def _show(value) -> str:
    """``1,000,000,000`` for an integer, ``0.5`` for a float."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _describe(kind, minimum, maximum, strict) -> str:
    """``a positive integer``, ``a number >= 0``, ``a number between 0 and 1``, ``a positive integer up to 10``, ..."""
    noun = "an integer" if kind is int else "a number"
    if kind is float and minimum is not None and maximum is not None:
        return f"{noun} between {minimum:g} and {maximum:g}{'' if strict else ' inclusive'}"
    upper = "" if maximum is None else f" {'below' if strict else 'up to'} {_show(maximum)}"
    if (minimum == 0 and strict) or (kind is int and minimum == 1 and not strict):
        return f"a positive {noun.split()[-1]}{upper}"
    if minimum is not None:
        return f"{noun} {'>' if strict else '>='} {_show(minimum)}{upper.replace(' up to', ', up to')}"
    if maximum is not None:
        return f"{noun} {'<' if strict else '<='} {_show(maximum)}"
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
        except (ValueError, OverflowError):  # int('9' * 5000) exceeds the digit limit; float('1e999') is inf
            value = None
        if value is None or not within(value):
            raise argparse.ArgumentTypeError(f"{_cut(text)!r} is not {accepts}")
        return value

    convert.__name__ = accepts.split(" ", 1)[1].replace(" ", "_")
    return convert


POSITIVE_INT = number(int, minimum=1, maximum=MAX_COUNT)
COUNT = number(int, minimum=0, maximum=MAX_SEED)
POSITIVE = number(float, minimum=0, strict=True)
NON_NEGATIVE = number(float, minimum=0)
FRACTION = number(float, minimum=0, maximum=1, strict=True)


def sizes(text):
    """``"64,30,10"`` -> ``[64, 30, 10]``: at least two positive integers, each at most :data:`MAX_COUNT`.

    What the network would cost is checked later, by :func:`check_network_size`.
    """
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) < 2 or min(values) < 1 or max(values) > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{_cut(text)!r} must be at least two positive integers (each up to "
                                         f"{MAX_COUNT:,}) separated by commas, e.g. 64,30,10")
    return values


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: what a message shows of a value read from a file."""
    return _cut(repr(value), limit)


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


# -- outputs -----------------------------------------------------------------------------------------

def _same_file(a, b) -> bool:
    """True when ``a`` and ``b`` (links followed) are one file: the same device and inode."""
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except (OSError, ValueError):
        return False


def check_output(path, option: str, inputs=(), stdout: bool = True):
    """Refuse, before any work is done, an output ``path`` the command must not write; return ``path``.

    Refused, each with one line naming ``option``: an empty path; what
    :func:`deltaprop.atomic.output_kind` refuses (a link to a regular file, a directory, a block
    device, ...); ``-`` when ``stdout`` is false (standard output carries the command's report);
    and a path that is one of the command's own ``inputs``, given as ``(what, path)`` pairs
    (the same file, also through a link or a hard link), which the write would destroy.
    """
    from ..atomic import STDOUT, output_kind

    if path is None:
        return path
    if not path:
        raise DeltapropError(f"{option} is empty; give a file name")
    if path == STDOUT:
        if not stdout:
            raise DeltapropError(f"{option} {STDOUT}: standard output carries this command's report; give a file name")
        return path
    output_kind(path)
    for what, source in inputs:
        if source and _same_file(path, source):
            raise DeltapropError(f"{option} {path} is {what} {source}, which this command reads; writing it would "
                                 "destroy it: give another path")
    return path


# -- limits on memory and work: refuse, up front, what would exhaust the machine -------------------------

DEFAULT_MAX_MEMORY = 4 * 2**30
"""Memory a command may plan to use unless ``DELTAPROP_MAX_MEMORY`` says otherwise (4 GiB)."""
DEFAULT_MAX_WORK = 10**10
"""Multiply-adds a check (``gradcheck``, ``explain``) may plan unless ``DELTAPROP_MAX_WORK`` says otherwise:
about ten seconds to a minute."""

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_AMOUNT = re.compile(r"\s*((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def _limit(variable: str, default: int, units: bool) -> int:
    text = os.environ.get(variable)
    if text is None or not text.strip():
        return default
    match = _AMOUNT.fullmatch(text)
    value = float(match.group(1)) * _UNITS[match.group(2).lower()] if match and (units or not match.group(2)) else -1
    if not (math.isfinite(value) and value >= 1):
        accepted = "a size such as 8G, 512M or 8589934592 (bytes)" if units else "a number such as 1e11"
        raise DeltapropError(f"environment variable {variable}={_cut(text)!r} is not {accepted}")
    return int(value)


def memory_limit() -> int:
    """Bytes a command may plan to use: ``DELTAPROP_MAX_MEMORY`` (``8G``, ``512M``, bytes) or 4 GiB."""
    return _limit("DELTAPROP_MAX_MEMORY", DEFAULT_MAX_MEMORY, units=True)


def work_limit() -> int:
    """Multiply-adds a check may plan: ``DELTAPROP_MAX_WORK`` (e.g. ``1e11``) or :data:`DEFAULT_MAX_WORK`."""
    return _limit("DELTAPROP_MAX_WORK", DEFAULT_MAX_WORK, units=False)


def show_bytes(n) -> str:
    """``'4 GiB'``, ``'160 GiB'``, ``'512 MiB'``, ``'12 KiB'``, ``'100 bytes'``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def show_sizes(sizes) -> str:
    """``'64,30,10'``; a long list is cut: ``'5,5,5,...,5,3 (3,000 sizes)'``."""
    if len(sizes) <= 8:
        return ",".join(map(str, sizes))
    return ",".join(map(str, sizes[:3])) + ",...," + ",".join(map(str, sizes[-2:])) + f" ({len(sizes):,} sizes)"


_PARAMETER_COPIES = 6  # weights, gradient, two optimizer moments, the last finite state, one for saving
_BATCH_COPIES = 4  # z, a and delta of every layer, and a scratch buffer


def network_bytes(sizes, batch_size: int = 1, examples: int = 0, itemsize: int = 4) -> int:
    """Bytes a network of layer ``sizes`` needs to train: what :func:`check_network_size` checks.

    Its weights and biases several times over (the parameters, their gradient, an optimizer's
    state, the last finite copy kept against divergence, one more while saving), the buffers of
    one batch of ``batch_size`` examples (``z``, ``a`` and ``delta`` of every layer), and one
    forward pass over ``examples`` rows at once (an evaluation of a whole data set).

    >>> network_bytes([64, 30, 10], batch_size=10, examples=450)
    214880
    """
    parameters = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    width = sum(sizes)
    fed = 2 * examples * (width - sizes[0])  # z and a of every layer but the input, for every row at once
    return itemsize * (_PARAMETER_COPIES * parameters + _BATCH_COPIES * batch_size * width + fed)


def check_network_size(sizes, batch_size: int = 1, examples: int = 0, dtype="float32", option: str = "--layers",
                       limit_bytes=None, batch_option: str | None = "--batch-size") -> int:
    """Refuse a network too large for :func:`memory_limit` before anything is allocated; return its bytes.

    Parameters
    ----------
    sizes : list of int
        Layer sizes, the input first (as ``--layers`` gives them).
    batch_size : int
        Examples per training batch (or per checked batch).
    examples : int
        The most rows fed forward at once (a test set evaluated whole), 0 if none.
    dtype : str
        ``"float32"`` or ``"float64"``.
    option : str
        How the user gave ``sizes``, for the message.
    limit_bytes : int, optional
        The limit; by default :func:`memory_limit` (``DELTAPROP_MAX_MEMORY``, else 4 GiB).
    batch_option : str or None
        The option that sets ``batch_size``, for the advice (``--examples`` for gradcheck; None if
        the user cannot change it).

    >>> check_network_size([64, 30, 10], batch_size=10, examples=450)
    214880

    Raises
    ------
    DeltapropError
        One line naming the option, the estimate, the limit and how to raise it.
    """
    itemsize = 8 if str(dtype) == "float64" else 4
    needed = network_bytes(sizes, batch_size=batch_size, examples=examples, itemsize=itemsize)
    limit = memory_limit() if limit_bytes is None else int(limit_bytes)
    if needed > limit:
        parameters = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        examples_text = f"{batch_size:,} example{'' if batch_size == 1 else 's'}"
        smaller = "smaller layers" + (f" or a smaller {batch_option}" if batch_option else "")
        raise DeltapropError(
            f"{option} {show_sizes(sizes)}: the network would need about {show_bytes(needed)} ({parameters:,} weights "
            f"and biases in {dtype}, with their copies and the buffers of {examples_text} at a time), above the "
            f"limit of {show_bytes(limit)}; use {smaller}, or raise the limit with "
            f"DELTAPROP_MAX_MEMORY={math.ceil(needed / 2**30)}G")
    return needed
