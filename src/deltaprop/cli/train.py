"""``deltaprop train``: resolve the run's configuration, fit, print the final line.

A new run takes every option left unset from the preset of its data source (:data:`PRESETS`) or
from :data:`RUN_DEFAULTS`; ``--resume`` takes them from the configuration the checkpoint
recorded, and refuses an option given with another value. The options a checkpoint records
(:data:`RUN_OPTIONS`) default to None in argparse, so "given on the command line" is
``is not None``. The ``--out`` directory, its lock and its files are :mod:`deltaprop.cli.rundir`'s.
"""

from __future__ import annotations

import math
import signal
import sys

from ..errors import DeltapropError, DivergenceError
from ..train.checkpoint import batches_per_epoch
from ..train.run import DeferredInterrupt, TrainingInterrupted
from .models import recorded_data_source
from .options import (
    EXIT_OK,
    FRACTION,
    MAX_COUNT,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    check_network_size,
    data_help,
    network_options,
    short,
)
from .rundir import DEFAULT_OUT, RunDirectory, signal_name

__all__ = ["PRESETS", "RUN_DEFAULTS", "RUN_OPTIONS", "add_parser", "run"]

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

RUN_DEFAULTS = {"data": "digits", "init": "auto", "seed": 0, "lmbda": 0.0, "batch_size": 10, "dtype": "float32",
                "max_grad_norm": None}
"""Defaults of a new run for the recorded options that do not depend on the data source."""

RUN_OPTIONS = [("--data", "data"), ("--layers", "sizes"), ("--activation", "activation"),
               ("--output-activation", "output_activation"), ("--cost", "cost"), ("--init", "init"),
               ("--seed", "seed"), ("--eta", "eta"), ("--lmbda", "lmbda"), ("--batch-size", "batch_size"),
               ("--dtype", "dtype"), ("--max-grad-norm", "max_grad_norm")]
"""Options of a run that a checkpoint records, as (option, key of the resolved configuration)."""




def add_parser(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a network and save it, its history and its learning curve",
        description="Train a network by mini-batch SGD. With no options: [64, 30, 10] sigmoid, quadratic cost, "
                    "eta 3.0, batch 10, 30 epochs on scikit-learn's digits. Unset options take defaults that "
                    "suit the chosen --data.")
    network_options(train, sizes_help="layer sizes, input first; must match the data (default: one hidden layer, "
                                      "e.g. 64,30,10 for digits)", init_default=None, seed_default=None)
    train.add_argument("--data", help=data_help(RUN_DEFAULTS["data"]))
    train.add_argument("--epochs", type=POSITIVE_INT, help="passes over the training set")
    train.add_argument("--batch-size", type=POSITIVE_INT,
                       help=f"examples per mini-batch (default {RUN_DEFAULTS['batch_size']})")
    train.add_argument("--eta", type=POSITIVE, help="learning rate")
    train.add_argument("--lmbda", type=NON_NEGATIVE, help=f"L2 regularisation strength (default {RUN_DEFAULTS['lmbda']:g})")
    train.add_argument("--dtype", choices=["float32", "float64"], help=f"precision (default {RUN_DEFAULTS['dtype']})")
    train.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                       help=f"directory for model.npz, history.csv and the PNGs (default {DEFAULT_OUT})")
    train.add_argument("--diagnostics", action="store_true",
                       help="record per-layer gradient norms and saturated units each epoch, and plot them")
    train.add_argument("--saturation-threshold", type=FRACTION, default=0.1, metavar="F",
                       help="a sigmoid/tanh unit is saturated when g'(z) < F * max g' (default 0.1)")
    train.add_argument("--download", action="store_true", help="download missing MNIST files (verified by SHA-256)")
    train.add_argument("--mirror", default=None, metavar="URL", help="where --download fetches MNIST from")
    train.add_argument("--max-grad-norm", type=POSITIVE, metavar="F",
                       help="clip each batch's gradient (all weights and biases) to this Euclidean norm")
    train.add_argument("--checkpoint", metavar="PATH",
                       help="save the whole state of the run (weights, optimizer, random state, position, history) to "
                            "PATH every epoch and at the end; without it, Ctrl-C saves one to DIR/checkpoint.npz")
    train.add_argument("--checkpoint-every", type=POSITIVE_INT, metavar="N",
                       help="checkpoint every N batches instead of every epoch")
    train.add_argument("--resume", metavar="PATH",
                       help="continue the run saved in checkpoint PATH, with its settings (--epochs may raise the total)")
    train.add_argument("--overwrite", action="store_true",
                       help="start a new run even where the checkpoint it would write already holds an earlier run")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    train.set_defaults(run=run)


# -- the configuration -------------------------------------------------------------------------------

def _given(args, option):
    """The value of ``option`` on the command line, or None."""
    return getattr(args, option[2:].replace("-", "_"))


def _or_default(args, option, key):
    value = _given(args, option)
    return RUN_DEFAULTS[key] if value is None else value


def _load_data(spec, dtype, args):
    from ..data import load_dataset
    from ..data.mnist import MNIST_MIRROR

    return load_dataset(spec, dtype=dtype, download=args.download, mirror=args.mirror or MNIST_MIRROR)


def _resolve_network(args, data) -> dict:
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
        "batch_size": _or_default(args, "--batch-size", "batch_size"),
    }


def new_config(args, data) -> dict:
    """The configuration of a new run on ``data``: the options given, else the preset, else RUN_DEFAULTS."""
    config = _resolve_network(args, data)
    config.update({key: _or_default(args, option, key) for option, key in RUN_OPTIONS if key not in config})
    return config


def _check_recorded(config, source) -> dict:
    """The run configuration a file recorded, each field checked as the option would be (the file may lie)."""
    from ..core.activations import ACTIVATIONS
    from ..core.checks import is_count
    from ..core.costs import COSTS
    from ..core.initializers import INIT_NAMES

    def number(value, low, strict=False):
        return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and (value > low if strict else value >= low))

    checks = {
        "data": lambda v: isinstance(v, str) and 0 < len(v) < 4096,
        "sizes": lambda v: isinstance(v, list) and 2 <= len(v) <= 1000 and all(is_count(n, 1) and n <= 10**7 for n in v),
        "activation": lambda v: v in ACTIVATIONS, "output_activation": lambda v: v in ACTIVATIONS,
        "cost": lambda v: v in COSTS, "init": lambda v: v in INIT_NAMES, "dtype": lambda v: v in ("float32", "float64"),
        "seed": lambda v: is_count(v) and v < 2**63, "eta": lambda v: number(v, 0, strict=True),
        "lmbda": lambda v: number(v, 0), "batch_size": lambda v: is_count(v, 1) and v <= MAX_COUNT,
        "epochs": lambda v: is_count(v, 1) and v <= MAX_COUNT,
        "max_grad_norm": lambda v: v is None or number(v, 0, strict=True),
    }
    for key, valid in checks.items():
        if not valid(config.get(key)):
            raise DeltapropError(f"{source} records an invalid {key} {short(config.get(key), 40)} in its run "
                                 "configuration (a damaged or foreign file?)")
    return config


def resumed_config(args, state) -> dict:
    """The configuration recorded in checkpoint ``args.resume``; an option given otherwise is refused."""
    config = state.extra.get("config") if isinstance(state.extra, dict) else None
    if not isinstance(config, dict) or any(key not in config for _, key in RUN_OPTIONS):
        raise DeltapropError(f"--resume {args.resume}: the checkpoint was not written by 'deltaprop train' (it does "
                             "not record the run's options); resume it from Python with fit(resume=...)")
    config = _check_recorded(dict(config), f"checkpoint {args.resume}")
    for option, key in RUN_OPTIONS:
        given = _given(args, option)
        if given is not None and given != config[key]:
            raise DeltapropError(f"{option} {given}: checkpoint {args.resume} continues a run with {option} "
                                 f"{config[key]}; a resumed run keeps its settings (leave {option} out)")
    recorded_data_source({"data": config["data"]}, args.data, f"checkpoint {args.resume}")  # a path needs consent
    return {**config, "epochs": args.epochs or config["epochs"]}


# -- the run -----------------------------------------------------------------------------------------

def _probe(X_train, y_train):
    """The fixed batch the diagnostics measure: the first 500 training examples."""
    probe = slice(0, min(500, len(X_train)))
    return X_train[probe], y_train[probe]


def _initial_diagnostics(args, net, state, X_train, y_train):
    """The diagnostics before any training (epoch 0), or None without --diagnostics.

    Measured now for a new run; a resumed run reads them from its checkpoint, which records them.
    """
    if not args.diagnostics:
        return None
    if state is not None:
        initial = state.extra.get("initial") if isinstance(state.extra, dict) else None
        return initial if isinstance(initial, dict) else None
    from ..train.diagnostics import measure

    return measure(net, *_probe(X_train, y_train), threshold=args.saturation_threshold)


def _callbacks(args, epochs, batch_size, X_train, y_train) -> list:
    """The bar (or the epoch lines), then the diagnostics, which add to the logs History records."""
    from .progress import EpochLog, ProgressBar

    callbacks = []
    if args.quiet:
        pass
    elif not args.no_progress and sys.stderr.isatty():
        callbacks.append(ProgressBar(epochs, batches_per_epoch=batches_per_epoch(len(X_train), batch_size),
                                     file=sys.stderr))
    else:
        callbacks.append(EpochLog(epochs))
    if args.diagnostics:
        from ..train.diagnostics import Diagnostics

        callbacks.append(Diagnostics(*_probe(X_train, y_train), threshold=args.saturation_threshold))
    return callbacks


def _close_progress(callbacks) -> None:
    """End a progress bar that training left open (it stopped before on_train_end)."""
    from .progress import ProgressBar

    for callback in callbacks:
        if isinstance(callback, ProgressBar):
            callback.on_train_end()


def _saving_notice():
    print("deltaprop train: saving the run, please wait (another Ctrl-C aborts; the earlier files stay as they were)",
          file=sys.stderr, flush=True)


def run(args) -> int:
    """``deltaprop train``: hold ``--out`` for the whole run (refused if another run holds it).

    SIGINT, SIGTERM and SIGHUP are deferred from here to the last file written: the first one
    lets the batch in progress finish, then the checkpoint and the model so far are saved (or,
    after the last epoch, everything), and the exit status is 128 + the signal's number; a
    second one says the run is being saved; a third aborts, leaving the earlier files intact.
    """
    with DeferredInterrupt((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), patient=True,
                           notice=_saving_notice) as guard, RunDirectory(args.out) as out:
        return _train(args, out, guard)


def _setup(args):
    """``(network, data, configuration, checkpoint state or None)`` of a new or a resumed run."""
    if args.resume:
        from ..files.checkpoint import load_checkpoint

        state = load_checkpoint(args.resume)
        config = resumed_config(args, state)
        data = _load_data(config["data"], config["dtype"], args)
        net = state.network
        if net.sizes[0] != data.n_features:
            raise DeltapropError(f"--resume {args.resume}: the network takes {net.sizes[0]} inputs, but {data.name} "
                                 f"has {data.n_features} features")
    else:
        from ..core.network import Network

        state = None
        data = _load_data(_or_default(args, "--data", "data"), _or_default(args, "--dtype", "dtype"), args)
        config = new_config(args, data)
        check_network_size(config["sizes"], batch_size=config["batch_size"],
                           examples=max(len(data.X_train), len(data.X_test)), dtype=config["dtype"])
        net = Network(config["sizes"], activation=config["activation"], output_activation=config["output_activation"],
                      cost=config["cost"], init=config["init"], seed=config["seed"], dtype=config["dtype"])
    if data.is_classification != net.is_classifier:
        raise DeltapropError(
            f"--output-activation {net.output_activation.name}: {data.name} is a "
            f"{data.task} task; use {'sigmoid or softmax' if data.is_classification else 'identity'}"
        )
    return net, data, config, state


def _train(args, out: RunDirectory, guard) -> int:
    if args.resume is not None and not args.resume:
        raise DeltapropError("--resume is empty; give the checkpoint to continue, e.g. runs/latest/checkpoint.npz")
    checkpoint, every = out.plan_checkpoints(args.checkpoint, args.resume, args.checkpoint_every, args.overwrite)
    net, data, config, state = _setup(args)
    if guard.pending:
        print(f"deltaprop train: interrupted by {signal_name(guard.signum)} before training started; nothing was "
              "written", file=sys.stderr)
        return 128 + guard.signum
    if not args.quiet:
        resuming = f", resuming {args.resume} at epoch {state.epoch + 1}" if state is not None else ""
        print(f"training {config['sizes']} {config['activation']}/{net.output_activation.name}, cost {net.cost_function.name}, "
              f"eta {config['eta']}, batch {config['batch_size']}, {config['epochs']} epochs, on {data.name} "
              f"({len(data.X_train)} train, {len(data.X_test)} test examples){resuming}", flush=True)
    callbacks = _callbacks(args, config["epochs"], config["batch_size"], data.X_train, data.y_train)
    initial = _initial_diagnostics(args, net, state, data.X_train, data.y_train)
    metadata = {"config": config} if initial is None else {"config": config, "initial": initial}
    try:
        history = net.fit(data.X_train, data.y_train, epochs=config["epochs"], batch_size=config["batch_size"],
                          eta=config["eta"], lmbda=config["lmbda"], seed=config["seed"],
                          validation_data=(data.X_test, data.y_test), callbacks=callbacks,
                          max_grad_norm=config["max_grad_norm"], checkpoint=checkpoint, checkpoint_every=every,
                          resume=state, checkpoint_metadata=metadata)
    except TrainingInterrupted as stop:
        _close_progress(callbacks)
        return out.interrupted(stop, net, data, config, guard.signum, initial=initial)
    except DivergenceError as error:
        _close_progress(callbacks)
        raise out.diverged(error) from None

    if data.is_classification:
        accuracy = net.evaluate(data.X_test, data.y_test)
        final = (f"test accuracy: {accuracy:.4f} ({round(accuracy * len(data.X_test))}/{len(data.X_test)} "
                 f"test examples of {data.name})")
    else:
        accuracy = None
        final = f"test cost: {net.cost(data.X_test, data.y_test):.6g} ({len(data.X_test)} test examples of {data.name})"
    written = out.finish(net, history, data, config, accuracy, initial=initial)
    if not args.quiet:
        print("wrote " + ", ".join(written))
    print(final)
    if guard.pending:  # the signal came after the last batch: the run is complete and saved
        print(f"deltaprop train: interrupted by {signal_name(guard.signum)} after training finished; every output "
              "was written", file=sys.stderr)
        return 128 + guard.signum
    return EXIT_OK
