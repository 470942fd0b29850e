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

import math
import signal
import sys

from ..errors import DeltapropError, DivergenceError
from ..train.checkpoint import batches_per_epoch
from ..train.parallel import ranks_of
from ..train.run import DeferredInterrupt, TrainingInterrupted
from .models import recorded_data_source
from .options import (
    EXIT_OK,
    EXIT_USAGE,
    FRACTION,
    MAX_COUNT,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    check_network_size,
    number,
    data_help,
    network_options,
    short,
)
from .rundir import DEFAULT_OUT, RunDirectory, signal_name

__all__ = ["PRESETS", "RUN_DEFAULTS", "RUN_OPTIONS", "add_parser", "run"]

PRESETS = {
    # hidden sizes, hidden activation, output activation, cost, eta, epochs
    "digits": ([512], "relu", "softmax", "log_likelihood", 2e-3, 25),
    "nielsen": ([30], "sigmoid", "sigmoid", "quadratic", 3.0, 30),
    "mnist": ([30], "sigmoid", "sigmoid", "quadratic", 3.0, 10),
    "xor": ([8], "tanh", "sigmoid", "quadratic", 1.0, 100),
    "spirals": ([32, 32], "relu", "softmax", "log_likelihood", 0.1, 300),
    "sine": ([20], "tanh", "identity", "quadratic", 0.05, 200),
    "csv": ([30], "sigmoid", "sigmoid", "quadratic", 1.0, 30),
    "csv-regression": ([30], "tanh", "identity", "quadratic", 0.05, 100),
}
"""Defaults of ``train`` per data source, used for every option left unset. ``digits`` was chosen by
measurement (benchmarks/first_run.py): with standardised inputs and Adam it beats scikit-learn's
``MLPClassifier()`` in accuracy (97.96% against 96.93% over seeds 0-4) and in time; batch 64 and 25
epochs learn as well as batch 32 and 30 (98.00%) in 40% of the steps. ``nielsen`` is the book's
chapter-1 setting (``--preset nielsen``)."""

PRESET_TRAINING = {
    # optimizer, batch size, standardise the inputs, validation split
    "digits": ("adam", 64, True, 0.1),
    "nielsen": ("sgd", 10, False, 0.0),
}
"""How each preset trains; a preset not listed: plain SGD, batch 10, raw inputs, --validation-split 0.1."""
_TRAINING_DEFAULT = ("sgd", 10, False, 0.1)

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def default_eta(activation: str, output_activation: str, cost: str, optimizer: str) -> float:
    """A learning rate that suits the activation, the cost and the optimizer (used when --eta is unset
    and the preset's own does not apply): Adam 1e-3; SGD 3.0 for sigmoid units with the quadratic
    cost (the book's), 0.5 for sigmoid units with a cross-entropy cost, 0.1 for ReLU-like and tanh
    units (0.01 with an unbounded identity output); momentum and Nesterov a tenth of SGD's."""
    if optimizer == "adam":
        return 1e-3
    if activation == "sigmoid":
        eta = 3.0 if cost == "quadratic" else 0.5
    else:
        eta = 0.01 if output_activation == "identity" else 0.1
    return eta / 10 if optimizer in ("momentum", "nesterov") else eta


def make_optimizer(name: str, eta: float):
    from ..train.optim import SGD, Adam

    if name == "adam":
        return Adam(eta)
    return SGD(eta, momentum=0.0 if name == "sgd" else 0.9, nesterov=name == "nesterov")

RUN_DEFAULTS = {"data": "digits", "init": "auto", "seed": 0, "lmbda": 0.0, "batch_size": 10, "dtype": "float32",
                "max_grad_norm": None}
"""Defaults of a new run for the recorded options that do not depend on the data source."""

RUN_OPTIONS = [("--data", "data"), ("--layers", "sizes"), ("--activation", "activation"),
               ("--output-activation", "output_activation"), ("--cost", "cost"), ("--init", "init"),
               ("--seed", "seed"), ("--eta", "eta"), ("--lmbda", "lmbda"), ("--batch-size", "batch_size"),
               ("--dtype", "dtype"), ("--max-grad-norm", "max_grad_norm")]
"""Options of a run that a checkpoint records, as (option, key of the resolved configuration)."""




def describe_preset(kind: str, n_in: int = 64, n_out: int = 10) -> str:
    """The preset ``kind`` in words, read from :data:`PRESETS` (the help text cannot go stale).

    >>> describe_preset("nielsen")
    '[64, 30, 10] sigmoid/sigmoid, quadratic cost, SGD eta 3, batch 10, 30 epochs, raw inputs'
    """
    hidden, activation, output_activation, cost, eta, epochs = PRESETS[kind]
    optimizer, batch_size, standardize, split = PRESET_TRAINING.get(kind, _TRAINING_DEFAULT)
    words = (f"{[n_in, *hidden, n_out]} {activation}/{output_activation}, {cost.replace('_', '-')} cost, "
             f"{'Adam' if optimizer == 'adam' else optimizer.upper()} eta {eta:g}, batch {batch_size}, {epochs} epochs, "
             f"{'standardised' if standardize else 'raw'} inputs")
    return words + (f", {split:.0%} of the training set held out for validation" if split else "")


def add_parser(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a network and save it, its history and its learning curve",
        description=(f"Train a network by backpropagation. With no options, on scikit-learn's handwritten digits: "
                     f"{describe_preset('digits')}. --preset nielsen: the book's chapter-1 setting, "
                     f"{describe_preset('nielsen')}. Unset options take defaults that suit the chosen --data."))
    network_options(train, sizes_help="layer sizes, input first; must match the data (default: the preset's, "
                                      f"{','.join(map(str, [64, *PRESETS['digits'][0], 10]))} for digits)",
                    init_default=None, seed_default=None)
    train.add_argument("--data", help=data_help(RUN_DEFAULTS["data"]))
    train.add_argument("--preset", choices=["default", "nielsen"], default="default",
                       help="default: the measured setting of each data source; nielsen: the book's chapter-1 setting "
                            "([N, 30, 10] sigmoid, quadratic cost, SGD eta 3.0, batch 10, raw inputs, no validation split)")
    train.add_argument("--optimizer", choices=OPTIMIZERS,
                       help="sgd, momentum (0.9), nesterov (0.9) or adam (default: the preset's; adam for digits)")
    train.add_argument("--validation-split", type=number(float, minimum=0, maximum=1, strict=False), metavar="F",
                       help="fraction of the training set held out (stratified, seeded) for the per-epoch val_* "
                            "metrics; the test set is used once, at the end (default 0.1; 0 with --preset nielsen)")
    train.add_argument("--early-stopping", type=POSITIVE_INT, metavar="N",
                       help="stop when val_cost has not improved for N epochs, and keep the best epoch's weights")
    train.add_argument("--no-plots", action="store_true", help="do not draw the PNGs (no Pillow needed)")
    train.add_argument("--epochs", type=POSITIVE_INT, help="passes over the training set")
    train.add_argument("--batch-size", type=POSITIVE_INT,
                       help=f"examples per mini-batch (default: the preset's, {PRESET_TRAINING['digits'][1]} for digits, "
                            f"{_TRAINING_DEFAULT[1]} otherwise)")
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
    if getattr(args, "preset", "default") == "nielsen" and data.is_classification:
        kind = "nielsen"
    kind = "csv-regression" if kind == "csv" and not data.is_classification else kind
    hidden, activation, output_activation, cost, eta, epochs = PRESETS[kind]
    optimizer, batch_size, standardize, validation_split = PRESET_TRAINING.get(kind, _TRAINING_DEFAULT)
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
    chosen = (args.activation or activation, args.output_activation or output_activation, args.cost or cost,
              args.optimizer or optimizer)
    if args.eta is None and chosen != (activation, output_activation, cost, optimizer):
        eta = default_eta(*chosen)  # the preset's eta is for the preset's units, cost and optimizer
    return {
        "sizes": sizes,
        "activation": chosen[0],
        "output_activation": chosen[1],
        "cost": chosen[2],
        "eta": args.eta or eta,
        "epochs": args.epochs or epochs,
        "batch_size": args.batch_size or batch_size,
        "optimizer": chosen[3],
        "standardize": standardize,
        "validation_split": validation_split if args.validation_split is None else args.validation_split,
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
    # runs recorded before 0.2 had no validation split, no optimizer choice and raw inputs
    defaults = {"optimizer": None, "standardize": False, "validation_split": 0.0}
    return {**defaults, **config, "epochs": args.epochs or config["epochs"]}


def validation_split(data, fraction: float, seed):
    """``(X_fit, y_fit, X_val, y_val)``: ``fraction`` of the training set held out, seeded by ``seed``.

    Stratified for classification: each class gives ``round(fraction * count)`` of its rows (at least
    one row in all). The test set is not touched. ``fraction == 0``: no validation set (None, None).
    """
    import numpy as np

    X, y = data.X_train, data.y_train
    if not fraction:
        return X, y, None, None
    rng = np.random.default_rng([int(seed), 13])
    if data.is_classification:
        held = np.concatenate([members[: round(fraction * len(members))]
                               for members in (rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y))])
    else:
        held = rng.permutation(len(X))[: round(fraction * len(X))]
    if len(held) == 0:
        held = rng.permutation(len(X))[:1]
    if len(held) >= len(X):
        raise DeltapropError(f"--validation-split {fraction:g} leaves no training examples of the {len(X)}; use a "
                             "smaller fraction, e.g. 0.1")
    is_val = np.zeros(len(X), dtype=bool)
    is_val[held] = True
    return X[~is_val], y[~is_val], X[is_val], y[is_val]


def missing_extras(args) -> str | None:
    """The one line saying which optional package the run would need but cannot import, or None."""
    import importlib

    needs = []  # (module, its package, what needs it, the option that does without)
    if not args.no_plots:
        needs.append(("PIL", "Pillow", "the learning-curve PNGs", "--no-plots"))
    if not args.quiet and not args.no_progress and sys.stderr.isatty():
        needs.append(("tqdm", "tqdm", "the progress bar", "--no-progress"))
    for module, package, what, option in needs:
        try:
            importlib.import_module(module)
        except ImportError:
            return (f"deltaprop train: error: {package} is not installed ({what} need it): pip install "
                    f'"deltaprop[cli]", or run without them with {option}; nothing was trained')
    return None


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

    With ``--mpi``, every rank of ``mpiexec`` runs this; rank 0 alone takes the lock, prints and writes.
    """
    missing = missing_extras(args)
    if missing:  # found before any work: not after training, as a traceback
        print(missing, file=sys.stderr)
        return EXIT_USAGE
    ranks = None
    if getattr(args, "mpi", False):
        from ..mpi import world

        ranks = ranks_of(world())  # None for a world of one (mpiexec -n 1): trained as usual
    with DeferredInterrupt((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), patient=True,
                           notice=_saving_notice) as guard:
        if ranks is None:
            with RunDirectory(args.out) as out:
                return _train(args, out, guard)
        out = RunDirectory(args.out, writes=ranks.rank == 0)
        try:
            return _train_on_ranks(args, out, ranks, guard)
        except (DeltapropError, OSError):
            if ranks.rank != 0:
                return EXIT_USAGE  # rank 0 says what went wrong, once
            raise


def _train_on_ranks(args, out, ranks, guard) -> int:
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
        return _train(args, out, guard, prepared, ranks)
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
        check_network_size(config["sizes"], batch_size=config["batch_size"],
                           examples=max(len(data.X_train), len(data.X_test)), dtype=config["dtype"])
        if args.cost is None and data.is_classification and config["output_activation"] not in ("sigmoid", "softmax"):
            raise DeltapropError(f"--output-activation {config['output_activation']}: {data.name} is a "
                                 f"{data.task} task; use sigmoid or softmax")
        net = Network(config["sizes"], activation=config["activation"], output_activation=config["output_activation"],
                      cost=config["cost"], init=config["init"], seed=config["seed"], dtype=config["dtype"])
        if config["standardize"]:  # fitted on the examples trained on; stored in the model
            net.standardize(validation_split(data, config["validation_split"], config["seed"])[0])
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


def _prepare(args, out: RunDirectory) -> dict:
    """Everything before training that can fail: the checkpoint plan, the network, the data, the callbacks."""
    if args.resume is not None and not args.resume:
        raise DeltapropError("--resume is empty; give the checkpoint to continue, e.g. runs/latest/checkpoint.npz")
    checkpoint, every = out.plan_checkpoints(args.checkpoint, args.resume, args.checkpoint_every, args.overwrite)
    net, data, config, state = _setup(args)
    X_fit, y_fit, X_val, y_val = validation_split(data, config["validation_split"], config["seed"])
    # progress bars and diagnostics are rank 0's; early stopping decides (and restores) on every rank alike
    callbacks = _callbacks(args, config["epochs"], config["batch_size"], X_fit, y_fit) if out.writes else []
    initial = _initial_diagnostics(args, net, state, X_fit, y_fit) if out.writes else None
    if args.early_stopping:
        if X_val is None:
            raise DeltapropError(f"--early-stopping {args.early_stopping} watches the validation cost; give a "
                                 "--validation-split, e.g. 0.1")
        from ..train.callbacks import EarlyStopping

        callbacks.append(EarlyStopping(monitor="val_cost", patience=args.early_stopping, restore_best_weights=True))
    optimizer = make_optimizer(config["optimizer"], config["eta"]) if state is None and config["optimizer"] else None
    return dict(net=net, data=data, config=config, state=state, checkpoint=checkpoint, every=every, X_fit=X_fit,
                y_fit=y_fit, X_val=X_val, y_val=y_val, callbacks=callbacks, initial=initial, optimizer=optimizer)


def _train(args, out: RunDirectory, guard, prepared=None, ranks=None) -> int:
    p = prepared or _prepare(args, out)
    net, data, config, state = p["net"], p["data"], p["config"], p["state"]
    X_fit, y_fit, X_val, y_val, callbacks, initial = p["X_fit"], p["y_fit"], p["X_val"], p["y_val"], p["callbacks"], \
        p["initial"]
    if ranks is None and guard.pending:
        print(f"deltaprop train: interrupted by {signal_name(guard.signum)} before training started; nothing was "
              "written", file=sys.stderr)
        return 128 + guard.signum
    on_ranks = _ranks_line(ranks) if ranks is not None else ""
    if not args.quiet and out.writes:
        resuming = f", resuming {args.resume} at epoch {state.epoch + 1}" if state is not None else ""
        held = f", {len(X_val)} of them held out for validation" if X_val is not None else ""
        inputs = ", standardised inputs" if net.input_mean is not None else ""
        print(f"training {config['sizes']} {config['activation']}/{net.output_activation.name}, cost {net.cost_function.name}, "
              f"{config['optimizer'] or 'sgd'} eta {config['eta']:g}, batch {config['batch_size']}, {config['epochs']} "
              f"epochs{inputs}, on {data.name} ({len(data.X_train)} train{held}, {len(data.X_test)} test examples)"
              f"{resuming}{on_ranks}", flush=True)
    metadata = {"config": config} if initial is None else {"config": config, "initial": initial}
    try:  # the test set is not seen until training is over
        history = net.fit(X_fit, y_fit, epochs=config["epochs"], batch_size=config["batch_size"],
                          eta=config["eta"], lmbda=config["lmbda"], seed=config["seed"], optimizer=p["optimizer"],
                          validation_data=None if X_val is None else (X_val, y_val), callbacks=callbacks,
                          max_grad_norm=config["max_grad_norm"], checkpoint=p["checkpoint"],
                          checkpoint_every=p["every"], resume=state, checkpoint_metadata=metadata,
                          comm=ranks.comm if ranks is not None else None)
    except TrainingInterrupted as stop:
        _close_progress(callbacks)
        return out.interrupted(stop, net, data, config, guard.signum, initial=initial)
    except DivergenceError as error:
        _close_progress(callbacks)
        if not out.writes:
            return EXIT_USAGE
        raise out.diverged(error) from None
    if not out.writes:
        return EXIT_OK

    # rank 0 alone (every rank holds the same weights): the test set, not seen until training is over
    accuracy = net.evaluate(data.X_test, data.y_test) if data.is_classification else None
    test_cost = None if data.is_classification else net.cost(data.X_test, data.y_test)
    if data.is_classification:
        final = (f"test accuracy: {accuracy:.4f} ({round(accuracy * len(data.X_test))}/{len(data.X_test)} "
                 f"test examples of {data.name})")
    else:
        final = f"test cost: {test_cost:.6g} ({len(data.X_test)} test examples of {data.name})"
    warning = health_warning(net, history, data, config, X_fit, accuracy)
    written = out.finish(net, history, data, config, accuracy, initial=initial, plots=not args.no_plots)
    if not args.quiet:
        print("wrote " + ", ".join(written))
    print(final)
    if warning:
        print(warning, file=sys.stderr)
    if guard.pending:  # the signal came after the last batch: the run is complete and saved
        print(f"deltaprop train: interrupted by {signal_name(guard.signum)} after training finished; every output "
              "was written", file=sys.stderr)
        return 128 + guard.signum
    return EXIT_OK


# -- no silent failure -------------------------------------------------------------------------------

def _unit_states(net, X_probe) -> list:
    """``(layer index, activation, fraction saturated or dead)`` of each hidden layer on ``X_probe``.

    A sigmoid/tanh layer: the fraction of (unit, example) pairs with ``g'(z) < 0.1 max g'``; a
    ReLU layer: the fraction of units that output 0 on every example (dead).
    """
    import numpy as np

    states = []
    with np.errstate(over="ignore", invalid="ignore"):
        a = net._inputs(X_probe)
        for i, layer in enumerate(net.layers):
            z = a @ layer.W.T + layer.b
            a = layer.activation.forward(z)
            name = layer.activation.name
            if i == len(net.layers) - 1 and name not in ("sigmoid", "tanh"):
                break
            if name in ("sigmoid", "tanh"):
                states.append((i, name, float(np.mean(layer.activation.prime(z, a) < 0.1 * layer.activation.max_prime))))
            elif name == "relu":
                states.append((i, name, float(np.mean(np.all(a <= 0, axis=0)))))
    return states


def health_warning(net, history, data, config, X_train, accuracy) -> str | None:
    """One warning line when the run learned nothing (cost flat, accuracy at chance) or its units are all
    saturated or dead, naming the likely cause and a value to try; None for a healthy run."""
    import numpy as np

    costs = [c for c in history.history.get("cost", []) if np.isfinite(c)]
    flat = len(costs) >= 2 and abs(costs[0] - costs[-1]) <= 1e-3 * max(abs(costs[0]), 1e-12)
    chance = None
    if accuracy is not None and data.n_classes:
        chance = float(np.max(np.bincount(np.asarray(data.y_test, dtype=np.int64)))) / len(data.y_test)
    at_chance = chance is not None and accuracy <= max(chance, 1.0 / data.n_classes) + 0.02
    states = _unit_states(net, X_train[: min(500, len(X_train))])
    stuck = [(i, name, f) for i, name, f in states if f >= 0.99]  # all of a layer (the book's digits run learns with 91% saturated)
    if not (flat or at_chance or stuck):
        return None
    eta, optimizer = config["eta"], config.get("optimizer") or "sgd"
    units = (config["activation"], net.output_activation.name, net.cost_function.name)
    suggested = default_eta(*units, optimizer)
    symptom = ", ".join(filter(None, [
        f"accuracy {accuracy:.1%} is chance level" if at_chance else "",
        "the cost did not move" if flat else "",
        *(f"layer {i} ({name}) is {f:.0%} {'dead' if name == 'relu' else 'saturated'}" for i, name, f in stuck),
    ]))
    if eta > 10 * suggested:
        cause, advice = (f"eta {eta:g} is too large for {units[0]}/{units[1]} units with the {units[2]} cost",
                         f"--eta {suggested:g}")
    elif any(name == "relu" for _, name, _ in stuck):
        cause, advice = "dead ReLUs (a step too large pushed them below zero for every input)", \
                        f"--eta {eta / 10:g} or --activation leaky_relu"
    elif stuck:
        cause, advice = ("saturated sigmoid units learn slowly with the quadratic cost" if units[2] == "quadratic"
                         else "saturated units (large weighted inputs)"), \
                        "--activation relu --output-activation softmax --cost log_likelihood --optimizer adam"
    else:
        cause, advice = "the learning rate or the epochs may be too small", f"--eta {eta * 10:g} or more --epochs"
    return f"deltaprop train: warning: the network did not learn ({symptom}): {cause}; try {advice}"
