"""The ``deltaprop`` command: train, evaluate, predict, explain, gradcheck, plot.

``deltaprop train`` with no arguments trains a [64, 30, 10] sigmoid network on scikit-learn's
digits and writes ``model.npz``, ``history.csv`` and ``learning_curve.png`` into ``runs/latest``.
Run ``deltaprop SUBCOMMAND --help`` for the options of each subcommand.

Exit status: 0 on success, 1 when ``gradcheck`` finds an error above its tolerance, 2 on any
user error (bad option, missing or malformed file, another run holding ``--out``) and when
training diverges, reported as one line on standard error with no traceback, 130 when Ctrl-C
interrupts (``train`` first finishes its batch and saves a checkpoint and the model so far).
Outputs are written to temporary files and renamed into place, so a failed run never leaves a
half-written file or destroys an earlier one; ``train`` holds a lock on its ``--out`` directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

import numpy as np

from . import __version__
from .activations import ACTIVATIONS
from .costs import COSTS
from .errors import DeltapropError, DivergenceError
from .initializers import INIT_NAMES

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_OUT = os.path.join("runs", "latest")


class UsageError(Exception):
    """A bad command line, reported as one line (argparse would print the whole usage)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


# -- option types: each names what it accepts, argparse adds the option's name -----------------------

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return value


def _fraction(text):
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1")
    return value


def _sizes(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least two positive integers separated by commas, e.g. 64,30,10")
    return sizes


def _floats(text):
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = [float("nan")]
    if not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"{text!r} must be finite numbers separated by commas, e.g. 0.05,0.10")
    return values


def _fmt(values) -> str:
    """``[0.05, 0.1]``: a vector (or nested rows of a matrix) with 6 significant digits."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return f"{array:.6g}"
    return "[" + ", ".join(_fmt(row) for row in array) + "]"


# -- the parser --------------------------------------------------------------------------------------

def _network_options(parser, sizes_default=None, sizes_help="layer sizes, input first"):
    parser.add_argument("--layers", type=_sizes, default=sizes_default, metavar="N,N,...", help=sizes_help)
    parser.add_argument("--activation", choices=list(ACTIVATIONS), help="activation of the hidden layers")
    parser.add_argument("--output-activation", choices=list(ACTIVATIONS), help="activation of the output layer")
    parser.add_argument("--cost", choices=list(COSTS), help="cost function")
    parser.add_argument("--init", choices=list(INIT_NAMES), default="auto",
                        help="weight initialiser (default auto: he for ReLU layers, xavier otherwise)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the weights and the shuffling (default 0)")


def _data_help(default):
    return (f"data source: digits, mnist:DIR, csv:PATH[:LABEL_COLUMN], xor, spirals or sine (default {default}); "
            "mnist alone reads the download cache")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deltaprop", description="Neural networks that learn by backpropagation (BP1-BP4).",
                     epilog="Run 'deltaprop COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a network and save it, its history and its learning curve",
                           description="Train a network by mini-batch SGD. With no options: [64, 30, 10] sigmoid, "
                                       "quadratic cost, eta 3.0, batch 10, 30 epochs on scikit-learn's digits. "
                                       "Unset options take defaults that suit the chosen --data.")
    _network_options(train, sizes_help="layer sizes, input first; must match the data (default: one hidden layer, "
                                       "e.g. 64,30,10 for digits)")
    train.add_argument("--data", default="digits", help=_data_help("digits"))
    train.add_argument("--epochs", type=_positive_int, help="passes over the training set")
    train.add_argument("--batch-size", type=_positive_int, help="examples per mini-batch (default 10)")
    train.add_argument("--eta", type=_positive_float, help="learning rate")
    train.add_argument("--lmbda", type=_non_negative_float, default=0.0, help="L2 regularisation strength (default 0)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="precision (default float32)")
    train.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                       help=f"directory for model.npz, history.csv and the PNGs (default {DEFAULT_OUT})")
    train.add_argument("--diagnostics", action="store_true",
                       help="record per-layer gradient norms and saturated units each epoch, and plot them")
    train.add_argument("--saturation-threshold", type=_fraction, default=0.1, metavar="F",
                       help="a sigmoid/tanh unit is saturated when g'(z) < F * max g' (default 0.1)")
    train.add_argument("--download", action="store_true", help="download missing MNIST files (verified by SHA-256)")
    train.add_argument("--mirror", default=None, metavar="URL", help="where --download fetches MNIST from")
    train.add_argument("--max-grad-norm", type=_positive_float, metavar="F",
                       help="clip each batch's gradient (all weights and biases) to this Euclidean norm")
    train.add_argument("--checkpoint", metavar="PATH",
                       help="save the whole state of the run (weights, optimizer, random state, position, history) to "
                            "PATH every epoch and at the end; without it, Ctrl-C saves one to DIR/checkpoint.npz")
    train.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                       help="checkpoint every N batches instead of every epoch")
    train.add_argument("--resume", metavar="PATH",
                       help="continue the run saved in checkpoint PATH, with its settings (--epochs may raise the total)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    train.set_defaults(run=_train)

    evaluate = sub.add_parser("evaluate", help="accuracy, cost and confusion matrix of a saved model",
                              description="Evaluate a saved model on a data source's test set (or --split).")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by 'deltaprop train'")
    evaluate.add_argument("--data", help=_data_help("the data the model was trained on"))
    evaluate.add_argument("--split", choices=["test", "train", "all"], default="test", help="which part (default test)")
    evaluate.add_argument("--png", metavar="PATH", help="also draw the confusion matrix to this PNG file")
    evaluate.add_argument("--download", action="store_true", help="download missing MNIST files (verified by SHA-256)")
    evaluate.set_defaults(run=_evaluate)

    predict = sub.add_parser("predict", help="predictions of a saved model for rows of a CSV or .npy file",
                             description="Print one prediction per input row: the class for a classifier, the "
                                         "outputs otherwise. A CSV may have a header; a 'label' column is ignored.")
    predict.add_argument("model", metavar="MODEL", help="a model file written by 'deltaprop train'")
    predict.add_argument("input", metavar="INPUT", help="a CSV file or a .npy array, one example per row")
    predict.add_argument("--outputs", action="store_true", help="print the output activations a^L, not classes")
    predict.add_argument("--output", metavar="PATH", help="write the predictions to this CSV file instead")
    predict.set_defaults(run=_predict)

    explain = sub.add_parser("explain", help="backpropagation on one example, step by step, checked numerically",
                             description="Build a tiny seeded network and show, layer by layer, z, a, delta and "
                                         "the gradients (BP1-BP4) next to finite-difference estimates.")
    _network_options(explain, sizes_default=[2, 3, 2])
    explain.add_argument("--x", type=_floats, metavar="X,X,...", help="the input (default 0.05,0.10 for 2 inputs)")
    explain.add_argument("--y", type=_floats, metavar="Y,Y,...", help="the target (default 0.01,0.99 for 2 outputs)")
    explain.add_argument("--h", type=_positive_float, default=1e-6, help="finite-difference step (default 1e-6)")
    explain.set_defaults(run=_explain)

    gradcheck = sub.add_parser("gradcheck", help="compare backpropagation with finite differences",
                               description="Check BP1-BP4 against central differences in float64 on a random "
                                           "batch; exit status 1 if an error exceeds --tolerance.")
    _network_options(gradcheck, sizes_default=[4, 5, 3])
    gradcheck.add_argument("--examples", type=_positive_int, default=8, help="batch size (default 8)")
    gradcheck.add_argument("--h", type=_positive_float, default=1e-6, help="finite-difference step (default 1e-6)")
    gradcheck.add_argument("--tolerance", type=_positive_float, default=1e-6,
                           help="largest accepted relative error (default 1e-6)")
    gradcheck.add_argument("--max-entries", type=_positive_int, help="check at most this many entries per array")
    gradcheck.set_defaults(run=_gradcheck)

    plot = sub.add_parser("plot", help="draw the PNGs of a history.csv",
                          description="Draw learning_curve.png and, if recorded with --diagnostics, "
                                      "gradient_norms.png and saturation.png.")
    plot.add_argument("history", metavar="HISTORY", help="a history.csv written by 'deltaprop train'")
    plot.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: beside HISTORY)")
    plot.set_defaults(run=_plot)

    export = sub.add_parser("export", help="write a saved model as ONNX or as a PyTorch-named safetensors file",
                            description="Convert MODEL to OUT: OUT.onnx (Gemm + activation operators, needs the onnx "
                                        "extra) or OUT.safetensors (torch.nn.Sequential names: 0.weight, 0.bias, ...).")
    export.add_argument("model", metavar="MODEL", help="a model.npz written by 'deltaprop train'")
    export.add_argument("out", metavar="OUT", help="the file to write: .onnx or .safetensors")
    export.set_defaults(run=_export)

    _add_graph(sub)
    return parser


def _add_graph(sub) -> None:
    """``deltaprop graph``, when the autodiff engine (issue 3) is installed (imported only when run)."""
    if importlib.util.find_spec("deltaprop.autodiff") is None:
        return
    graph = sub.add_parser("graph", help="draw the autodiff graph of 002's toy circuit as DOT",
                           description="Build 002's toy circuit d = 2b, e = a + d, L = c e, run reverse mode and "
                                       "print (or write) its graph in Graphviz DOT, gradients included.")
    graph.add_argument("--values", type=_floats, default=[2.0, -3.0, 10.0], metavar="A,B,C",
                       help="the inputs a, b, c (default 2,-3,10)")
    graph.add_argument("--output", metavar="PATH",
                       help="write the graph to PATH: .dot (the DOT text) or .svg/.png/.pdf (needs Graphviz's dot)")
    graph.set_defaults(run=_graph)


# -- train -------------------------------------------------------------------------------------------

PRESETS = {
    # hidden sizes, hidden activation, output activation, cost, eta, epochs
    "digits": ([30], "sigmoid", "sigmoid", "quadratic", 3.0, 30),
    "mnist": ([30], "sigmoid", "sigmoid", "quadratic", 3.0, 10),
    "xor": ([8], "tanh", "sigmoid", "quadratic", 1.0, 100),
    "spirals": ([32, 32], "relu", "softmax", "log_likelihood", 0.1, 300),
    "sine": ([20], "tanh", "identity", "quadratic", 0.05, 200),
    "csv": ([30], "sigmoid", "sigmoid", "quadratic", 1.0, 30),
    "csv-regression": ([30], "tanh", "identity", "quadratic", 0.05, 100),
}
"""Defaults of ``train`` per data source, used for every option left unset."""


def _load_data(spec, dtype, download=False, mirror=None):
    from .data import load_dataset
    from .data.mnist import MNIST_MIRROR

    return load_dataset(spec, dtype=dtype, download=download, mirror=mirror or MNIST_MIRROR)


def _resolve_network(args, data):
    """Fill the unset options of ``train`` from the preset of the data source; check --layers."""
    kind = data.name.partition(":")[0]
    preset = PRESETS["csv-regression" if kind == "csv" and not data.is_classification else kind]
    hidden, activation, output_activation, cost, eta, epochs = preset
    sizes = args.layers or [data.n_features, *hidden, data.n_outputs]
    if sizes[0] != data.n_features:
        raise DeltapropError(f"--layers {','.join(map(str, sizes))}: the first size must be {data.n_features}, "
                             f"the number of features of {data.name}")
    binary_unit = data.is_classification and data.n_classes == 2 and sizes[-1] == 1  # one sigmoid: a > 0.5
    if sizes[-1] != data.n_outputs and not binary_unit:
        what = "classes" if data.is_classification else "regression targets"
        raise DeltapropError(f"--layers {','.join(map(str, sizes))}: the last size must be {data.n_outputs}, "
                             f"the number of {what} of {data.name}")
    if not data.is_classification and args.output_activation is None:
        output_activation = "identity"
    return {
        "sizes": sizes,
        "activation": args.activation or activation,
        "output_activation": args.output_activation or output_activation,
        "cost": args.cost or cost,
        "eta": args.eta or eta,
        "epochs": args.epochs or epochs,
        "batch_size": args.batch_size or 10,
    }


def _callbacks(args, epochs, batch_size, X_train, y_train):
    """The bar (or the epoch lines), then the diagnostics, which add to the logs History records."""
    from .progress import EpochLog, ProgressBar

    callbacks = []
    if args.quiet:
        pass
    elif not args.no_progress and sys.stderr.isatty():
        callbacks.append(ProgressBar(epochs, batches_per_epoch=-(-len(X_train) // batch_size), file=sys.stderr))
    else:
        callbacks.append(EpochLog(epochs))
    if args.diagnostics:
        from .diagnostics import Diagnostics

        probe = slice(0, min(500, len(X_train)))
        callbacks.append(Diagnostics(X_train[probe], y_train[probe], threshold=args.saturation_threshold))
    return callbacks


def _check_out(directory) -> str:
    """Refuse an ``--out`` that is a file, before any work is done."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise DeltapropError(f"--out {directory} exists and is not a directory")
    return directory


# Options of a run that a checkpoint records, as (option, key of the resolved configuration).
_RUN_OPTIONS = [("--data", "data"), ("--layers", "sizes"), ("--activation", "activation"),
                ("--output-activation", "output_activation"), ("--cost", "cost"), ("--init", "init"),
                ("--seed", "seed"), ("--eta", "eta"), ("--lmbda", "lmbda"), ("--batch-size", "batch_size"),
                ("--dtype", "dtype"), ("--max-grad-norm", "max_grad_norm")]


def _dest(option: str) -> str:
    return option[2:].replace("-", "_")


def _resumed_config(args, state) -> dict:
    """The configuration recorded in checkpoint ``args.resume``; an option given otherwise is refused."""
    config = state.extra.get("config") if isinstance(state.extra, dict) else None
    if not isinstance(config, dict) or any(key not in config for _, key in _RUN_OPTIONS):
        raise DeltapropError(f"--resume {args.resume}: the checkpoint was not written by 'deltaprop train' (it does "
                             "not record the run's options); resume it from Python with fit(resume=...)")
    defaults = build_parser().parse_args(["train"])
    for option, key in _RUN_OPTIONS:
        given = getattr(args, _dest(option))
        if given is not None and given != getattr(defaults, _dest(option)) and given != config[key]:
            raise DeltapropError(f"{option} {given}: checkpoint {args.resume} continues a run with {option} "
                                 f"{config[key]}; a resumed run keeps its settings (leave {option} out)")
    return {**config, "epochs": args.epochs or config["epochs"]}


def _new_config(args, data) -> dict:
    config = _resolve_network(args, data)
    config.update(data=args.data, init=args.init, seed=args.seed, lmbda=args.lmbda, dtype=args.dtype,
                  max_grad_norm=args.max_grad_norm)
    return config


def _train(args) -> int:
    from .lock import DirectoryLock

    _check_out(args.out)
    with DirectoryLock(args.out):  # a second run on the same --out is refused here, before any work
        return _train_locked(args)


def _train_locked(args) -> int:
    from .network import Network
    from .training import TrainingInterrupted

    state = None
    if args.resume:
        from .checkpoint import load_checkpoint

        state = load_checkpoint(args.resume)
        config = _resumed_config(args, state)
        data = _load_data(config["data"], config["dtype"], args.download, args.mirror)
        net = state.network
        if net.sizes[0] != data.n_features:
            raise DeltapropError(f"--resume {args.resume}: the network takes {net.sizes[0]} inputs, but {data.name} "
                                 f"has {data.n_features} features")
    else:
        data = _load_data(args.data, args.dtype, args.download, args.mirror)
        config = _new_config(args, data)
        net = Network(config["sizes"], activation=config["activation"], output_activation=config["output_activation"],
                      cost=config["cost"], init=args.init, seed=args.seed, dtype=args.dtype)
    if data.is_classification != net.is_classifier:
        raise DeltapropError(
            f"--output-activation {net.output_activation.name}: {data.name} is a "
            f"{data.task} task; use {'sigmoid or softmax' if data.is_classification else 'identity'}"
        )
    out = args.out
    checkpoint = args.checkpoint or args.resume or os.path.join(out, "checkpoint.npz")
    every = args.checkpoint_every or ("epoch" if args.checkpoint or args.resume else None)
    if not args.quiet:
        resuming = f", resuming {args.resume} at epoch {state.epoch + 1}" if state is not None else ""
        print(f"training {config['sizes']} {config['activation']}/{net.output_activation.name}, cost {net.cost_function.name}, "
              f"eta {config['eta']}, batch {config['batch_size']}, {config['epochs']} epochs, on {data.name} "
              f"({len(data.X_train)} train, {len(data.X_test)} test examples){resuming}", flush=True)
    callbacks = _callbacks(args, config["epochs"], config["batch_size"], data.X_train, data.y_train)
    try:
        history = net.fit(data.X_train, data.y_train, epochs=config["epochs"], batch_size=config["batch_size"],
                          eta=config["eta"], lmbda=config["lmbda"], seed=config["seed"],
                          validation_data=(data.X_test, data.y_test), callbacks=callbacks,
                          max_grad_norm=config["max_grad_norm"], checkpoint=checkpoint, checkpoint_every=every,
                          resume=state, checkpoint_metadata={"config": config})
    except TrainingInterrupted as stop:
        return _interrupted(stop, net, data, config, out, callbacks)
    except DivergenceError as error:
        _close_progress(callbacks)
        kept = f"; checkpoint {checkpoint} holds the last one saved" if every and os.path.exists(checkpoint) else ""
        raise DeltapropError(f"training diverged {error.where}: {error.what}; nothing was written{kept}; "
                             f"try a smaller --eta (it is {error.eta:g})"
                             f"{'' if config['max_grad_norm'] else ' or --max-grad-norm'}") from None

    if data.is_classification:
        accuracy = net.evaluate(data.X_test, data.y_test)
        final = (f"test accuracy: {accuracy:.4f} ({round(accuracy * len(data.X_test))}/{len(data.X_test)} "
                 f"test examples of {data.name})")
    else:
        accuracy = None
        final = f"test cost: {net.cost(data.X_test, data.y_test):.6g} ({len(data.X_test)} test examples of {data.name})"

    written = _write_run(net, history, data, config, out, accuracy)
    from .plots import plot_history

    written += plot_history(history, out, title=f"{config['sizes']} on {data.name}")
    if every:
        written.append(checkpoint)
    if not args.quiet:
        print("wrote " + ", ".join(written))
    print(final)
    return EXIT_OK


def _write_run(net, history, data, config, out, accuracy, **extra) -> list:
    """Write model.npz (with how it was trained) and, if an epoch finished, history.csv; return the paths."""
    from . import io

    os.makedirs(out, exist_ok=True)
    meta = {"data": data.name, "task": data.task, "n_classes": data.n_classes, "epochs": len(history.epoch),
            "batch_size": config["batch_size"], "eta": config["eta"], "lmbda": config["lmbda"],
            "seed": config["seed"], "init": config["init"], "test_accuracy": accuracy, **extra}
    written = [os.path.join(out, "model.npz")]
    io.save(net, written[0], metadata=meta)
    if history.epoch:
        written.append(os.path.join(out, "history.csv"))
        io.save_history(history, written[1])
    return written


def _close_progress(callbacks) -> None:
    """End a progress bar that training left open (it stopped before on_train_end)."""
    from .progress import ProgressBar

    for callback in callbacks:
        if isinstance(callback, ProgressBar):
            callback.on_train_end()


def _interrupted(stop, net, data, config, out, callbacks) -> int:
    """Ctrl-C: fit finished its batch and saved the checkpoint; save the model so far and say where."""
    _close_progress(callbacks)
    written = _write_run(net, stop.history, data, config, out, None, interrupted_at={"epoch": stop.epoch,
                                                                                     "batch": stop.batch})
    print(f"deltaprop train: interrupted at epoch {stop.epoch + 1}, after {stop.batch} of its batches; "
          f"wrote {stop.checkpoint} and the model so far, {', '.join(written)}; continue with: "
          f"deltaprop train --resume {stop.checkpoint} --out {out}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


# -- evaluate and predict ----------------------------------------------------------------------------

def _load_model(path):
    from .io import load, read_metadata

    return load(path), read_metadata(path).get("extra", {})


def _count(n, noun) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_inputs(net, n_features, model_path, source):
    if n_features != net.sizes[0]:
        raise DeltapropError(f"model {model_path} takes {_count(net.sizes[0], 'input')}, but {source} has "
                             f"{_count(n_features, 'feature')} per example")


def _confusion_text(matrix) -> str:
    k = matrix.shape[0]
    width = max(len(str(matrix.max())), len(str(k - 1))) + 1
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * (width + 2) + "".join(f"{j:>{width}}" for j in range(k))]
    lines += [f"{i:>{width}} |" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix)]
    return "\n".join(lines)


def _evaluate(args) -> int:
    net, extra = _load_model(args.model)
    spec = args.data or extra.get("data")
    if not spec:
        raise DeltapropError(f"--data is needed: model {args.model} does not record the data it was trained on")
    data = _load_data(spec, net.dtype.name, args.download)
    X, y = data.part(args.split)
    _check_inputs(net, X.shape[1], args.model, data.name)
    print(f"model {args.model}: {net.sizes}, cost {net.cost_function.name}; data {data.name} ({args.split}, {len(X)} examples)")
    if data.is_classification:
        if not net.is_classifier:
            raise DeltapropError(f"model {args.model} is a regression model (output {net.output_activation.name}); "
                                 f"{data.name} is a classification task")
        if data.n_classes > max(net.sizes[-1], 2):
            raise DeltapropError(f"model {args.model} has {net.sizes[-1]} outputs, but {data.name} has "
                                 f"{data.n_classes} classes")
        from .plots import confusion_matrix

        predictions = net.predict(X)
        matrix = confusion_matrix(y, predictions, max(net.sizes[-1], 2))
        print(f"cost: {net.cost(X, y):.6g}")
        print(_confusion_text(matrix))
        if args.png:
            from .plots import plot_confusion_matrix

            plot_confusion_matrix(matrix, args.png, title=f"{data.name} ({args.split})")
            print(f"wrote {args.png}")
        print(f"accuracy: {np.mean(predictions == y):.4f} ({int(np.sum(predictions == y))}/{len(X)})")
    else:
        if net.sizes[-1] != data.n_outputs:
            raise DeltapropError(f"model {args.model} has {net.sizes[-1]} outputs, but {data.name} has "
                                 f"{data.n_outputs} targets")
        if args.png:
            raise DeltapropError("--png draws a confusion matrix, which needs a classification task")
        a = net.feedforward(X)
        print(f"root mean squared error: {float(np.sqrt(np.mean((a - y) ** 2))):.6g}")
        print(f"cost: {net.cost(X, y):.6g}")
    return EXIT_OK


def _read_rows(path):
    """Rows of a CSV (header optional; a ``label`` column is dropped) or of a ``.npy`` array."""
    if path.endswith(".npy"):
        try:
            rows = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise DeltapropError(f"input file {path} is not a numeric .npy array ({error})") from None
        if rows.dtype.kind not in "fiub" or rows.ndim not in (1, 2):
            raise DeltapropError(f"input file {path} holds a {rows.ndim}-D array of dtype {rows.dtype}; "
                                 f"expected numbers, one example per row")
        return np.atleast_2d(rows)
    from .data.csvfile import DEFAULT_LABEL, read_csv

    columns, rows = read_csv(path)
    if columns and DEFAULT_LABEL in columns:
        rows = np.delete(rows, columns.index(DEFAULT_LABEL), axis=1)
    return rows


def _predict(args) -> int:
    net, _ = _load_model(args.model)
    rows = _read_rows(args.input)
    _check_inputs(net, rows.shape[1], args.model, f"input file {args.input}")
    if not np.isfinite(rows).all():
        raise DeltapropError(f"input file {args.input} holds NaN or infinity")
    if net.is_classifier and not args.outputs:
        lines = [str(int(label)) for label in net.predict(rows)]
    else:
        lines = [",".join(repr(float(v)) for v in row) for row in net.feedforward(rows)]
    if args.output:
        from .io import atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {args.output}")
    else:
        print("\n".join(lines))
    return EXIT_OK


# -- explain and gradcheck ---------------------------------------------------------------------------

def _small_network(args, sizes):
    from .network import Network

    activation = args.activation or "sigmoid"
    return Network(sizes, activation=activation, output_activation=args.output_activation or activation,
                   cost=args.cost or "quadratic", init=args.init, seed=args.seed, dtype="float64")


def _example(args, net):
    n_in, n_out = net.sizes[0], net.sizes[-1]
    rng = np.random.default_rng(args.seed)
    x = args.x if args.x is not None else ([0.05, 0.10] if n_in == 2 else np.round(rng.uniform(0, 1, n_in), 2))
    if args.y is not None:
        y = args.y
    elif n_out == 2:
        y = [0.01, 0.99]
    else:
        y = np.eye(n_out)[n_out - 1]  # one-hot: valid for every cost, softmax + log-likelihood included
    for name, values, n, what in (("--x", x, n_in, "inputs"), ("--y", y, n_out, "outputs")):
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


def _explain(args) -> int:
    from .gradcheck import numerical_gradient, relative_error

    net = _small_network(args, args.layers)
    x, y = _example(args, net)
    X, Y = x[None, :], y[None, :]
    gradient = net.backprop(X, Y)
    cost = net.cost(X, Y)
    print(f"network {net.sizes}: {net.layers[0].activation.name} hidden, {net.output_activation.name} output, "
          f"cost {net.cost_function.name}, init {args.init}, seed {args.seed} (float64)")
    print(f"x = {_fmt(x)}    y = {_fmt(y)}    layers[i] is layer l = i + 2; layer 1 is the input\n")

    print("forward pass")
    print(f"  layer 1: a = x = {_fmt(x)}")
    for i, layer in enumerate(net.layers):
        print(f"  layer {i + 2}: W = {_fmt(layer.W)}    b = {_fmt(layer.b)}")
        print(f"  {'':7}  z = W a_prev + b = {_fmt(gradient.zs[i][0])}")
        print(f"  {'':7}  a = {layer.activation.name}(z) = {_fmt(gradient.activations[i + 1][0])}")
    print(f"  cost C = {cost:.10g}\n")

    print("backward pass: delta = dC/dz")
    last = len(net.layers) - 1
    for i in range(last, -1, -1):
        label = _output_error_label(net) if i == last else "delta = (W_next^T delta_next) (.) g'(z)      (BP2)"
        print(f"  layer {i + 2}: {label}")
        print(f"  {'':7}  delta = {_fmt(gradient.deltas[i][0])}")
    print()

    def cost_fn():
        return net.cost_function.value(net._feedforward(X), Y)

    print(f"gradients next to finite differences (C(w + h) - C(w - h)) / 2h, h = {args.h:g}")
    worst = 0.0
    for i, layer in enumerate(net.layers):
        for name, param, analytic, equation, formula in (
            ("b", layer.b, gradient.biases[i], "BP3", "dC/db = delta"),
            ("W", layer.W, gradient.weights[i], "BP4", "dC/dW = delta a_prev^T"),
        ):
            numeric = numerical_gradient(cost_fn, param, np.arange(param.size), args.h).reshape(param.shape)
            error = relative_error(analytic, numeric)
            worst = max(worst, error)
            print(f"  layer {i + 2}: {formula}      ({equation})    relative error {error:.2e}")
            for index in np.ndindex(param.shape):
                where = f"{name}[{', '.join(map(str, index))}]"
                print(f"    {where:<10} backprop {analytic[index]: .10f}    finite difference {numeric[index]: .10f}")
    print(f"\nworst relative error {worst:.2e}")
    return EXIT_OK


def _gradcheck(args) -> int:
    from .gradcheck import gradcheck

    net = _small_network(args, args.layers)
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.examples, net.sizes[0]))
    n_out = net.sizes[-1]
    if net.is_classifier:
        Y = rng.integers(0, max(n_out, 2), args.examples)
    else:
        Y = rng.standard_normal((args.examples, n_out))
    result = gradcheck(net, X, Y, h=args.h, tolerance=args.tolerance, max_entries=args.max_entries, seed=args.seed)
    print(f"network {net.sizes}: {net.layers[0].activation.name} hidden, {net.output_activation.name} output, "
          f"cost {net.cost_function.name}, {args.examples} random examples, float64, h = {args.h:g}")
    print("worst relative error ||backprop - finite difference|| / (||backprop|| + ||finite difference||)")
    for i in range(len(net.layers)):
        w, b = result.errors[f"W[{i}]"], result.errors[f"b[{i}]"]
        print(f"  layer {i + 2} (layers[{i}]):  dC/dW {w:.2e}   dC/db {b:.2e}   worst {max(w, b):.2e}")
    verdict = "passed" if result.passed else "FAILED"
    print(f"worst {result.worst:.2e}: {verdict} (tolerance {args.tolerance:g})")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED


# -- plot and graph ----------------------------------------------------------------------------------

def _plot(args) -> int:
    from .io import load_history
    from .plots import plot_history

    history = load_history(args.history)
    out = _check_out(args.out or os.path.dirname(os.path.abspath(args.history)))
    os.makedirs(out, exist_ok=True)
    written = plot_history(history, out)
    print("wrote " + ", ".join(written))
    return EXIT_OK


def _toy_circuit(a, b, c):
    """002's toy circuit ``d = 2b``, ``e = a + d``, ``L = c e``, differentiated by reverse mode."""
    from .autodiff import Tensor

    a, b, c = Tensor(a, label="a"), Tensor(b, label="b"), Tensor(c, label="c")
    d = 2 * b
    d.label = "d"
    e = a + d
    e.label = "e"
    L = c * e
    L.label = "L"
    L.backward()  # dL/dc = e, dL/da = c, dL/db = 2c
    return L


def _graph(args) -> int:
    import warnings

    from .autodiff import to_dot

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
        from .io import atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write(to_dot(L))
        print(f"wrote {args.output}")
    else:
        print(to_dot(L), end="")
    return EXIT_OK


# -- export ------------------------------------------------------------------------------------------

_EXPORT_EXTRAS = {".onnx": "onnx", ".safetensors": "safetensors"}


def _export(args) -> int:
    suffix = os.path.splitext(args.out)[1].lower()
    if suffix not in _EXPORT_EXTRAS:
        raise UsageError(f"deltaprop export: error: OUT={args.out!r} must end in .onnx or .safetensors")
    net, _ = _load_model(args.model)
    try:
        if suffix == ".onnx":
            net.to_onnx(args.out)
        else:
            from .state_dict import save_file

            save_file(net, args.out)
    except ImportError as error:
        extra = _EXPORT_EXTRAS[suffix]
        raise UsageError(f"deltaprop export: error: {error.name or extra} is not installed: "
                         f"pip install 'deltaprop[{extra}]'") from None
    print(f"wrote {args.out}")
    return EXIT_OK


# -- entry point -------------------------------------------------------------------------------------

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
