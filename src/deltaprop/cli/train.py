"""``deltaprop train``: resolve the run's configuration, fit, print the final line.

A new run takes every option left unset from the preset of its data source (:data:`PRESETS`) or
from :data:`RUN_DEFAULTS`; ``--resume`` takes them from the configuration the checkpoint
recorded, and refuses an option given with another value. The options a checkpoint records
(:data:`RUN_OPTIONS`) default to None in argparse, so "given on the command line" is
``is not None``. The ``--out`` directory, its lock and its files are :mod:`deltaprop.cli.rundir`'s.

``mpiexec -n K deltaprop train --mpi ...`` runs the same command on K ranks, training
data-parallel (``fit(comm=...)``, :mod:`deltaprop.train.parallel`). Every rank loads the data
(a memmapped ``npy:`` source is then read only where each rank's shares lie); rank 0 alone holds
``--out``, prints and writes. A failure before training on any rank ends every rank with one
line from rank 0 and exit status 2; during training, fit aborts the job.
"""

from __future__ import annotations

import sys

from ..errors import DeltapropError, DivergenceError
from ..train.checkpoint import batches_per_epoch
from ..train.parallel import ranks_of
from ..train.run import TrainingInterrupted
from .options import (
    EXIT_OK,
    EXIT_USAGE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    data_help,
    network_options,
)
from .rundir import DEFAULT_OUT, RunDirectory

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
    train.add_argument("--mpi", action="store_true",
                       help="train data-parallel on the ranks of mpiexec: mpiexec -n K deltaprop train --mpi ... "
                            "(needs mpi4py: pip install 'deltaprop[mpi]'); rank 0 prints and writes")
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
    kind = "csv" if kind == "npy" else kind  # files of the user's: the same presets
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


def resumed_config(args, state) -> dict:
    """The configuration recorded in checkpoint ``args.resume``; an option given otherwise is refused."""
    config = state.extra.get("config") if isinstance(state.extra, dict) else None
    if not isinstance(config, dict) or any(key not in config for _, key in RUN_OPTIONS):
        raise DeltapropError(f"--resume {args.resume}: the checkpoint was not written by 'deltaprop train' (it does "
                             "not record the run's options); resume it from Python with fit(resume=...)")
    for option, key in RUN_OPTIONS:
        given = _given(args, option)
        if given is not None and given != config[key]:
            raise DeltapropError(f"{option} {given}: checkpoint {args.resume} continues a run with {option} "
                                 f"{config[key]}; a resumed run keeps its settings (leave {option} out)")
    return {**config, "epochs": args.epochs or config["epochs"]}


# -- the run -----------------------------------------------------------------------------------------

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

        probe = slice(0, min(500, len(X_train)))
        callbacks.append(Diagnostics(X_train[probe], y_train[probe], threshold=args.saturation_threshold))
    return callbacks


def _close_progress(callbacks) -> None:
    """End a progress bar that training left open (it stopped before on_train_end)."""
    from .progress import ProgressBar

    for callback in callbacks:
        if isinstance(callback, ProgressBar):
            callback.on_train_end()


def run(args) -> int:
    """``deltaprop train``: hold ``--out`` for the whole run (refused if another run holds it)."""
    ranks = None
    if args.mpi:
        from ..mpi import world

        ranks = ranks_of(world())  # None for a world of one (mpiexec -n 1): trained as usual
    if ranks is None:
        with RunDirectory(args.out) as out:
            return _train(args, out)
    out = RunDirectory(args.out, writes=ranks.rank == 0)
    try:
        return _train_on_ranks(args, out, ranks)
    except (DeltapropError, OSError):
        if ranks.rank != 0:
            return EXIT_USAGE  # rank 0 says what went wrong, once
        raise


def _train_on_ranks(args, out, ranks) -> int:
    """Every rank sets up (rank 0 takes the lock); any rank's failure stops every rank before training."""
    prepared = error = None
    entered = False
    try:
        out.__enter__()
        entered = True
        prepared = _prepare(args, out)
    except Exception as failure:  # noqa: BLE001 -- every rank hears of it, then each raises
        error = failure
    try:
        ranks.agree(error)  # collective: a rank that failed must not leave the others waiting in fit
        return _train(args, out, prepared, ranks)
    finally:
        if entered:
            out.__exit__(None, None, None)


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
        net = Network(config["sizes"], activation=config["activation"], output_activation=config["output_activation"],
                      cost=config["cost"], init=config["init"], seed=config["seed"], dtype=config["dtype"])
    if data.is_classification != net.is_classifier:
        raise DeltapropError(
            f"--output-activation {net.output_activation.name}: {data.name} is a "
            f"{data.task} task; use {'sigmoid or softmax' if data.is_classification else 'identity'}"
        )
    return net, data, config, state


def _ranks_line(ranks) -> str:
    """Collective: ``, data-parallel on K MPI ranks (pids ...)``, so that a launcher's report of a dead pid names a rank."""
    import os

    pids = [0] * ranks.size
    pids[ranks.rank] = os.getpid()
    pids = [int(pid) for pid in ranks.reduce(pids)]
    return f", data-parallel on {ranks.size} MPI ranks (pids {' '.join(map(str, pids))} for ranks 0 to {ranks.size - 1})"


def _prepare(args, out: RunDirectory):
    """Everything before training that can fail: the network, the data, the checkpoint plan, the callbacks."""
    net, data, config, state = _setup(args)
    checkpoint, every = out.plan_checkpoints(args.checkpoint, args.resume, args.checkpoint_every)
    callbacks = _callbacks(args, config["epochs"], config["batch_size"], data.X_train, data.y_train) if out.writes else []
    return net, data, config, state, checkpoint, every, callbacks


def _train(args, out: RunDirectory, prepared=None, ranks=None) -> int:
    net, data, config, state, checkpoint, every, callbacks = prepared or _prepare(args, out)
    on_ranks = _ranks_line(ranks) if ranks is not None else ""
    if not args.quiet and out.writes:
        resuming = f", resuming {args.resume} at epoch {state.epoch + 1}" if state is not None else ""
        print(f"training {config['sizes']} {config['activation']}/{net.output_activation.name}, cost {net.cost_function.name}, "
              f"eta {config['eta']}, batch {config['batch_size']}, {config['epochs']} epochs, on {data.name} "
              f"({len(data.X_train)} train, {len(data.X_test)} test examples){resuming}{on_ranks}", flush=True)
    try:
        history = net.fit(data.X_train, data.y_train, epochs=config["epochs"], batch_size=config["batch_size"],
                          eta=config["eta"], lmbda=config["lmbda"], seed=config["seed"],
                          validation_data=(data.X_test, data.y_test), callbacks=callbacks,
                          max_grad_norm=config["max_grad_norm"], checkpoint=checkpoint, checkpoint_every=every,
                          resume=state, checkpoint_metadata={"config": config},
                          comm=ranks.comm if ranks is not None else None)
    except TrainingInterrupted as stop:
        _close_progress(callbacks)
        return out.interrupted(stop, net, data, config)
    except DivergenceError as error:
        _close_progress(callbacks)
        if not out.writes:
            return EXIT_USAGE
        raise out.diverged(error) from None
    if not out.writes:
        return EXIT_OK

    if ranks is not None:  # the last epoch's validation scored the final weights, shared out over the ranks
        accuracy = history.history["val_accuracy"][-1] if data.is_classification else None
        test_cost = history.history["val_cost"][-1]
    else:
        accuracy = net.evaluate(data.X_test, data.y_test) if data.is_classification else None
        test_cost = None if data.is_classification else net.cost(data.X_test, data.y_test)
    if data.is_classification:
        final = (f"test accuracy: {accuracy:.4f} ({round(accuracy * len(data.X_test))}/{len(data.X_test)} "
                 f"test examples of {data.name})")
    else:
        final = f"test cost: {test_cost:.6g} ({len(data.X_test)} test examples of {data.name})"
    written = out.finish(net, history, data, config, accuracy)
    if not args.quiet:
        print("wrote " + ", ".join(written))
    print(final)
    return EXIT_OK
