"""``deltaprop explain`` and ``deltaprop gradcheck``: backpropagation on one example, checked.

``explain`` prints one example's forward and backward pass layer by layer, labelled with the
equations BP1-BP4, every derivative next to its central-difference estimate (computed by
:func:`deltaprop.core.explain.explain`), on a tiny seeded network, a JSON weights file
(:mod:`deltaprop.files.weights_json`) or a saved model; ``--json`` prints the same as one object.
``gradcheck`` compares every gradient of a random batch with central differences and exits with
status 1 when an error exceeds ``--tolerance``. Both compute in float64.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import DeltapropError
from .options import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    POSITIVE,
    POSITIVE_INT,
    check_network_size,
    floats,
    network_options,
    show_sizes,
    work_limit,
)

__all__ = ["add_parser", "check_work", "explain", "finite_difference_work", "gradcheck"]

_FORWARD_OVERHEAD = 50_000
"""Multiply-adds a forward pass costs besides its products (its buffers and NumPy calls; measured: ~50 us)."""
_LAYER_OVERHEAD = 25_000
"""The same per layer (~25 us of NumPy calls, which is what makes a 3,000-layer check slow)."""


def add_parser(subparsers) -> None:
    explain_parser = subparsers.add_parser(
        "explain", help="backpropagation on one example, step by step, checked numerically",
        description="Show, layer by layer, z, a, g'(z), dC/da, delta and the gradients (BP1-BP4) of one example, each "
                    "derivative next to its central-difference estimate, and with --eta the updated W and b. The "
                    "network is a tiny seeded one (--layers ...), your own (--weights FILE.json) or a saved model "
                    "(--model FILE.npz).")
    source = explain_parser.add_mutually_exclusive_group()
    source.add_argument("--weights", metavar="FILE", help="a JSON weights file: {\"cost\": \"quadratic\", \"layers\": "
                                                          "[{\"activation\": \"sigmoid\", \"W\": [[...], ...], \"b\": "
                                                          "[...] or one number}, ...]}")
    source.add_argument("--model", metavar="FILE", help="a model file written by 'deltaprop train' or net.save")
    network_options(explain_parser, sizes_default=None,
                    sizes_help="layer sizes of a tiny seeded network, input first (default 2,3,2)")
    explain_parser.add_argument("--input", type=floats, metavar="X,X,...",
                                help="the input (default 0.05,0.10 for 2 inputs); --x is the same")
    explain_parser.add_argument("--x", type=floats, metavar="X,X,...", help=argparse.SUPPRESS)
    explain_parser.add_argument("--target", type=floats, metavar="Y,Y,...",
                                help="the target (default 0.01,0.99 for 2 outputs); --y is the same")
    explain_parser.add_argument("--y", type=floats, metavar="Y,Y,...", help=argparse.SUPPRESS)
    explain_parser.add_argument("--eta", type=POSITIVE, help="also show W and b after one gradient step with this "
                                                             "learning rate")
    explain_parser.add_argument("--json", action="store_true", help="print everything as one JSON object")
    explain_parser.add_argument("--h", type=POSITIVE, default=1e-6, help="finite-difference step (default 1e-6)")
    explain_parser.set_defaults(run=explain)

    gradcheck_parser = subparsers.add_parser(
        "gradcheck", help="compare backpropagation with finite differences",
        description="Check BP1-BP4 against central differences in float64 on a random batch; exit status 1 if an "
                    "error exceeds --tolerance.")
    network_options(gradcheck_parser, sizes_default=[4, 5, 3])
    gradcheck_parser.add_argument("--examples", type=POSITIVE_INT, default=8, help="batch size (default 8)")
    gradcheck_parser.add_argument("--h", type=POSITIVE, default=1e-6, help="finite-difference step (default 1e-6)")
    gradcheck_parser.add_argument("--tolerance", type=POSITIVE, default=1e-6,
                                  help="largest accepted relative error (default 1e-6)")
    gradcheck_parser.add_argument("--max-entries", type=POSITIVE_INT, help="check at most this many entries per array")
    gradcheck_parser.set_defaults(run=gradcheck)


def finite_difference_work(sizes, examples: int, max_entries=None) -> tuple[int, int]:
    """``(entries, multiply-adds)`` of checking the gradient of a network of ``sizes`` by central differences.

    Each checked entry (every weight and bias, or at most ``max_entries`` per array) costs two
    forward passes over ``examples`` rows; a forward pass costs its products plus a fixed
    overhead per pass and per layer.

    >>> finite_difference_work([4, 5, 3], 8)
    (43, 8624080)
    """
    arrays = [size for n_in, n_out in zip(sizes[:-1], sizes[1:]) for size in (n_in * n_out, n_out)]
    entries = sum(arrays) if max_entries is None else sum(min(size, max_entries) for size in arrays)
    products = sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    forward = examples * products + _LAYER_OVERHEAD * (len(sizes) - 1) + _FORWARD_OVERHEAD
    return entries, 2 * entries * forward


def _largest_max_entries(sizes, examples, limit):
    """The largest ``--max-entries`` whose check fits in ``limit`` multiply-adds, or None if even 1 does not."""
    low, high = 0, max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    while low < high:
        middle = (low + high + 1) // 2
        if finite_difference_work(sizes, examples, middle)[1] <= limit:
            low = middle
        else:
            high = middle - 1
    return low or None


def check_work(sizes, examples: int, max_entries=None, command: str = "gradcheck") -> int:
    """Refuse a finite-difference check that would take more than :func:`~deltaprop.cli.options.work_limit`.

    Checks the memory first (:func:`~deltaprop.cli.options.check_network_size`, float64), then
    the time; returns the estimated multiply-adds. Raises DeltapropError with one line that
    names the estimate, the limit and how to get under it.
    """
    check_network_size(sizes, batch_size=examples, dtype="float64", option="--layers",
                       batch_option="--examples" if command == "gradcheck" else None)
    entries, work = finite_difference_work(sizes, examples, max_entries)
    limit = work_limit()
    if work <= limit:
        return work
    advice = []
    if command == "gradcheck":
        fitting = _largest_max_entries(sizes, examples, limit)
        if fitting is not None and (max_entries is None or fitting < max_entries):
            advice.append(f"check fewer entries with --max-entries {fitting}")
        advice.append("use fewer --examples or smaller layers" if examples > 1 else "use smaller layers")
    else:
        advice.append("use smaller layers (explain shows every weight; gradcheck --max-entries samples them)")
    raise DeltapropError(
        f"{command} --layers {show_sizes(sizes)}: checking {entries:,} weights and biases by finite differences "
        f"(two forward passes each, {examples:,} example{'s' if examples != 1 else ''}) takes about {work:.2g} "
        f"multiply-adds, above the limit of {limit:.2g}; {', or '.join(advice)}, or raise the limit with "
        f"DELTAPROP_MAX_WORK={float(f'{work * 1.01:.2g}'):.2g}")


def _fmt(values) -> str:
    """``[0.05, 0.1]``: a vector (or nested rows of a matrix) with 6 significant digits."""
    array = np.asarray(values, dtype=float) + 0.0  # + 0.0 turns -0 into 0
    if array.ndim == 0:
        return f"{array:.6g}"
    return "[" + ", ".join(_fmt(row) for row in array) + "]"


def _small_network(args):
    """The network of --layers in float64; unset options: sigmoid throughout, quadratic cost."""
    from ..core.network import Network

    activation = args.activation or "sigmoid"
    return Network(args.layers or [2, 3, 2], activation=activation,
                   output_activation=args.output_activation or activation, cost=args.cost or "quadratic",
                   init=args.init, seed=args.seed, dtype="float64")


def _network(args):
    """``(network, shared_bias or None, a description of where it came from)``."""
    given = args.weights or args.model
    if given:
        option = "--weights" if args.weights else "--model"
        for name in ("layers", "activation", "output_activation", "cost"):
            if getattr(args, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise DeltapropError(f"{flag} describes a seeded random network; {option} {given} brings its own "
                                     f"(leave {flag} out)")
    if args.weights:
        from ..files.weights_json import read_weights_file

        net, shared = read_weights_file(args.weights)
        return net, list(shared), f"from {args.weights}"
    if args.model:
        from ..files.model import load

        return load(args.model).copy(dtype="float64"), None, f"from {args.model}"
    check_work(args.layers or [2, 3, 2], 1, command="explain")  # before a network of that size is built
    return _small_network(args), None, f"init {args.init}, seed {args.seed}"


def _one_of(args, long, short):
    """The value of --input or its alias --x (one of them, never both): ``(value, the spelling used)``."""
    a, b = getattr(args, long), getattr(args, short)
    if a is not None and b is not None:
        raise DeltapropError(f"--{long} and --{short} are the same option; give it once")
    return (a, f"--{long}") if a is not None else (b, f"--{short}")


def _example(args, net):
    n_in, n_out = net.sizes[0], net.sizes[-1]
    rng = np.random.default_rng(args.seed)
    (x, x_flag), (y, y_flag) = _one_of(args, "input", "x"), _one_of(args, "target", "y")
    if x is None:
        x = [0.05, 0.10] if n_in == 2 else np.round(rng.uniform(0, 1, n_in), 2)
    if y is None:
        # one-hot: valid for every cost, softmax + log-likelihood included
        y = [0.01, 0.99] if n_out == 2 else np.eye(n_out)[n_out - 1]
    for name, values, n, what in ((x_flag, x, n_in, "inputs"), (y_flag, y, n_out, "outputs")):
        if len(values) != n:
            raise DeltapropError(f"{name} has {len(values)} values, but the network has {n} {what}")
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _output_error_label(net) -> str:
    g, cost = net.output_activation, net.cost_function
    k = cost.shortcut.get(g.name)
    if k is not None:
        return f"delta = {'' if k == 1 else f'{k:g} '}(a - y), the {g.name} + {cost.name} shortcut      (BP1)"
    if not g.elementwise:
        return "delta_j = sum_k dC/da_k da_k/dz_j, general form      (BP1)"
    return "delta = grad_a C (.) g'(z)      (BP1)"


def explain(args) -> int:
    from ..core.explain import explain as walk_through

    net, shared, origin = _network(args)
    check_work(net.sizes, 1, command="explain")
    x, y = _example(args, net)
    result = walk_through(net, x, y, eta=args.eta, h=args.h, shared_bias=shared)
    if args.json:
        print(json.dumps(result.to_dict()))
        return EXIT_OK
    _print_explanation(net, result, origin)
    return EXIT_OK


def _vector_line(name, exact, estimate, width=30) -> str:
    """``name = exact`` and, below it, ``~ estimate (central difference)``."""
    return f"{'':11}{name:<{width}} = {_fmt(exact)}\n{'':11}{'':<{width}} ~ {_fmt(estimate)}  (central difference)"


def _print_explanation(net, result, origin) -> None:
    print(f"network {net.sizes}: {net.layers[0].activation.name} hidden, {net.output_activation.name} output, "
          f"cost {net.cost_function.name}, {origin} (float64)")
    print(f"x = {_fmt(result.x)}    y = {_fmt(result.y)}    layers[i] is layer l = i + 2; layer 1 is the input\n")

    print("forward pass")
    print(f"  layer 1: a = x = {_fmt(result.x)}")
    for i, step in enumerate(result.layers):
        bias = f"{_fmt(step.b)} (one bias shared by the layer's units)" if step.shared_bias else _fmt(step.b)
        print(f"  layer {i + 2}: W = {_fmt(step.W)}    b = {bias}")
        print(f"  {'':7}  z = W a_prev + b = {_fmt(step.z)}")
        print(f"  {'':7}  a = {step.activation}(z) = {_fmt(step.a)}")
    print(f"  cost C = {result.cost:.10g}\n")

    print(f"backward pass: delta = dC/dz; under each derivative its central difference (f(v + h) - f(v - h)) / 2h, "
          f"h = {result.h:g}")
    last = len(result.layers) - 1
    for i in range(last, -1, -1):
        step = result.layers[i]
        if i == last:
            label = _output_error_label(net)
            source = "dC/da = grad_a C"
        else:
            label = "delta = (W_next^T delta_next) (.) g'(z)      (BP2)"
            source = "dC/da = W_next^T delta_next"
        print(f"  layer {i + 2}: {label}")
        print(_vector_line(source, step.dC_da, step.dC_da_fd))
        if step.g_jacobian is None:
            print(_vector_line("g'(z)", step.g_prime, step.g_prime_fd))
        else:
            print(_vector_line("g'(z): J[k, j] = da_k/dz_j", step.g_jacobian, step.g_prime_fd))
        print(_vector_line("delta", step.delta, step.delta_fd))
    print()

    print(f"gradients next to finite differences (C(w + h) - C(w - h)) / 2h, h = {result.h:g}")
    for i, step in enumerate(result.layers):
        errors = step.errors()
        bias_formula = "dC/db = sum_j delta_j (one shared b)" if step.shared_bias else "dC/db = delta"
        for name, exact, estimate, equation, formula, error in (
            ("b", step.dC_db, step.dC_db_fd, "BP3", bias_formula, errors["dC/db"]),
            ("W", step.dC_dW, step.dC_dW_fd, "BP4", "dC/dW = delta a_prev^T", errors["dC/dW"]),
        ):
            print(f"  layer {i + 2}: {formula}      ({equation})    relative error {error:.2e}")
            exact, estimate = np.asarray(exact), np.asarray(estimate)
            for index in np.ndindex(exact.shape):
                where = f"{name}[{', '.join(map(str, index))}]" if index else f"{name} (shared)"
                print(f"    {where:<10} backprop {exact[index]: .10f}    finite difference {estimate[index]: .10f}")
    if result.eta is not None:
        print(f"\none gradient step, eta = {result.eta:g}: W <- W - eta dC/dW, b <- b - eta dC/db")
        for i, step in enumerate(result.layers):
            print(f"  layer {i + 2}: W = {_fmt(step.W_next)}    b = {_fmt(step.b_next)}")
    print(f"\nworst relative error {result.worst_error:.2e}")


def gradcheck(args) -> int:
    from ..core.gradcheck import gradcheck as check

    check_work(args.layers, args.examples, args.max_entries, command="gradcheck")
    net = _small_network(args)
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.examples, net.sizes[0]))
    n_out = net.sizes[-1]
    if net.is_classifier:
        Y = rng.integers(0, max(n_out, 2), args.examples)
    else:
        Y = rng.standard_normal((args.examples, n_out))
    result = check(net, X, Y, h=args.h, tolerance=args.tolerance, max_entries=args.max_entries, seed=args.seed)
    print(f"network {net.sizes}: {net.layers[0].activation.name} hidden, {net.output_activation.name} output, "
          f"cost {net.cost_function.name}, {args.examples} random examples, float64, h = {args.h:g}")
    print("worst relative error ||backprop - finite difference|| / (||backprop|| + ||finite difference||)")
    for i in range(len(net.layers)):
        w, b = result.errors[f"W[{i}]"], result.errors[f"b[{i}]"]
        print(f"  layer {i + 2} (layers[{i}]):  dC/dW {w:.2e}   dC/db {b:.2e}   worst {max(w, b):.2e}")
    verdict = "passed" if result.passed else "FAILED"
    print(f"worst {result.worst:.2e}: {verdict} (tolerance {args.tolerance:g})")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED
