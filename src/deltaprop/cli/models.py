"""``deltaprop evaluate``, ``predict`` and ``export``: the subcommands that use a saved model.

Each loads ``MODEL`` with :func:`load_model`, which returns the network and the metadata
``train`` recorded with it (the data source it was trained on, among others). That metadata comes
from a file, perhaps a stranger's: every field used is checked like user input, and a data source
that names a path is read only when the user names it with ``--data`` (:func:`recorded_data_source`).

Outputs (``--output``, ``--png``, ``OUT``) are checked before any work (:func:`~deltaprop.cli.options.check_output`):
never one of the command's own inputs, never a link or a directory; ``-`` is standard output.
Inputs read whole must be regular files (a FIFO or ``/dev/zero`` would block or never end), and an
``.npy`` input's header is checked against the file's size before anything is allocated.
"""

from __future__ import annotations

import os
import stat

import numpy as np

from ..errors import DeltapropError
from .options import EXIT_OK, UsageError, check_output, data_help, short

__all__ = ["BUILTIN_SOURCES", "add_parser", "evaluate", "export", "load_model", "predict", "read_rows",
           "recorded_data_source"]

BUILTIN_SOURCES = ("digits", "mnist", "xor", "spirals", "sine")
"""Data sources a model file may name and ``evaluate`` use without ``--data``: none of them reads a path
the file chose (``mnist`` alone is the download cache)."""

_NPY_HEADER_LIMIT = 10_000  # NumPy's own bound on a header it parses "securely"


def add_parser(subparsers) -> None:
    evaluate_parser = subparsers.add_parser("evaluate", help="accuracy, cost and confusion matrix of a saved model",
                                            description="Evaluate a saved model on a data source's test set "
                                                        "(or --split).")
    evaluate_parser.add_argument("model", metavar="MODEL", help="a model file written by 'deltaprop train'")
    evaluate_parser.add_argument("--data", help=data_help("the data the model was trained on, if built in: a "
                                                          "path recorded in the model is used only when given here"))
    evaluate_parser.add_argument("--split", choices=["test", "train", "all"], default="test",
                                 help="which part (default test)")
    evaluate_parser.add_argument("--png", metavar="PATH", help="also draw the confusion matrix to this PNG file")
    evaluate_parser.add_argument("--download", action="store_true",
                                 help="download missing MNIST files (verified by SHA-256)")
    evaluate_parser.set_defaults(run=evaluate)

    predict_parser = subparsers.add_parser("predict", help="predictions of a saved model for rows of a CSV or .npy file",
                                           description="Print one prediction per input row: the class for a "
                                                       "classifier, the outputs otherwise. A CSV may have a header; "
                                                       "a 'label' column is ignored.")
    predict_parser.add_argument("model", metavar="MODEL", help="a model file written by 'deltaprop train'")
    predict_parser.add_argument("input", metavar="INPUT", help="a CSV file or a .npy array, one example per row")
    predict_parser.add_argument("--outputs", action="store_true", help="print the output activations a^L, not classes")
    predict_parser.add_argument("--output", metavar="PATH",
                                help="write the predictions to this CSV file instead (- for standard output)")
    predict_parser.set_defaults(run=predict)

    export_parser = subparsers.add_parser("export", help="write a saved model as ONNX or as a PyTorch-named "
                                                         "safetensors file",
                                          description="Convert MODEL to OUT: OUT.onnx (Gemm + activation operators, "
                                                      "needs the onnx extra) or OUT.safetensors (torch.nn.Sequential "
                                                      "names: 0.weight, 0.bias, ...).")
    export_parser.add_argument("model", metavar="MODEL", help="a model.npz written by 'deltaprop train'")
    export_parser.add_argument("out", metavar="OUT", help="the file to write: .onnx or .safetensors")
    export_parser.set_defaults(run=export)


def load_model(path):
    """``(network, extra)``: the model at ``path`` and the metadata ``train`` saved with it (``{}`` if none)."""
    from ..files.model import load, read_metadata

    return load(path), read_metadata(path).get("extra", {})


def recorded_data_source(extra, given, source) -> str:
    """The data source to evaluate on: ``--data`` if ``given``, else the one the model recorded, if safe.

    ``extra`` is the metadata a file recorded (``source`` says which file: ``"model m.npz"``,
    ``"checkpoint c.npz"``), checked here like user input. A recorded source is
    used only if it is one of :data:`BUILTIN_SOURCES`: a ``csv:PATH`` or ``mnist:DIR`` names a path
    chosen by whoever wrote the file, so it needs the user's consent, ``--data`` on the command line.
    """
    if given is not None:
        if not given:
            raise DeltapropError("--data is empty; use digits, mnist:DIR, csv:PATH[:LABEL_COLUMN], xor, spirals or sine")
        return given
    if not isinstance(extra, dict):
        raise DeltapropError(f"{source} records its training metadata as {type(extra).__name__} "
                             f"{short(extra, 40)}, not a JSON object (a damaged or foreign file?); pass --data")
    spec = extra.get("data")
    if spec is None or spec == "":
        raise DeltapropError(f"--data is needed: {source} does not record the data it was trained on")
    if not isinstance(spec, str):
        raise DeltapropError(f"{source} records a data source that is not a name: {short(spec, 40)} "
                             "(a damaged or foreign file?); pass --data")
    if spec in BUILTIN_SOURCES:
        return spec
    kind = spec.partition(":")[0]
    if kind in ("csv", "mnist", "npy"):
        raise DeltapropError(f"{source} was trained on data read from a path, {short(spec)}; deltaprop "
                             "reads a path recorded in a file only when you name it: pass --data explicitly")
    raise DeltapropError(f"{source} records an unknown data source {short(spec)} (a damaged or foreign "
                         "file?); pass --data")


def _data_path(spec):
    """The file a ``csv:PATH[:COLUMN]`` source reads, else None (checked against outputs and for being regular)."""
    from ..data.spec import parse_data_spec

    try:
        parsed = parse_data_spec(spec)
    except DeltapropError:
        return None  # load_dataset words the error
    return parsed.path if parsed.kind == "csv" else None


def _regular_input(path, what) -> None:
    """Refuse an input that exists but is not a regular file: reading a FIFO or a device whole never ends.

    A missing or unreadable file is left to the reader, whose message names it.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    _refuse_special(mode, path, what)


def _refuse_special(mode, path, what) -> None:
    if stat.S_ISDIR(mode):
        return  # the readers say "is a directory" in their own words
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) \
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        raise DeltapropError(f"{what} {path} is {kind}; deltaprop reads regular files only (copy the data to a file)")


def _count(n, noun) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_inputs(net, n_features, model_path, source) -> None:
    if n_features != net.sizes[0]:
        raise DeltapropError(f"model {model_path} takes {_count(net.sizes[0], 'input')}, but {source} has "
                             f"{_count(n_features, 'feature')} per example")


# -- evaluate ----------------------------------------------------------------------------------------

def _confusion_text(matrix) -> str:
    k = matrix.shape[0]
    width = max(len(str(matrix.max())), len(str(k - 1))) + 1
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * (width + 2) + "".join(f"{j:>{width}}" for j in range(k))]
    lines += [f"{i:>{width}} |" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix)]
    return "\n".join(lines)


def evaluate(args) -> int:
    from ..data import load_dataset

    data_path = _data_path(args.data) if args.data else None
    check_output(args.png, "--png", [("the model", args.model), ("the data file", data_path)], stdout=False)
    net, extra = load_model(args.model)
    spec = recorded_data_source(extra, args.data, f"model {args.model}")
    if data_path is not None:
        _regular_input(data_path, "CSV file")
    data = load_dataset(spec, dtype=net.dtype.name, download=args.download)
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


# -- predict -----------------------------------------------------------------------------------------

def _read_npy(path):
    """The array of a ``.npy`` file, its header checked against the file's size before anything is allocated."""
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise DeltapropError(f"cannot read input file {path}: {error.strerror or error}") from None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise DeltapropError(f"input file {path} is a directory")
        _refuse_special(status.st_mode, path, "input file")
        size = status.st_size
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle, max_header_size=_NPY_HEADER_LIMIT)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle, max_header_size=_NPY_HEADER_LIMIT)
            else:
                raise ValueError(f"format version {version[0]}.{version[1]} is not read here")
        except (ValueError, OSError, EOFError, SyntaxError, TypeError) as error:
            raise DeltapropError(f"input file {path} is not a numeric .npy array ({short(str(error), 100)[1:-1]})") from None
        if dtype.hasobject or dtype.kind not in "fiub" or dtype.shape or len(shape) not in (1, 2):
            raise DeltapropError(f"input file {path} is not a numeric .npy array: it holds a {len(shape)}-D array of "
                                 f"dtype {short(str(dtype), 40)}; expected numbers, one example per row")
        needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        available = size - handle.tell()
        if needed > available:
            raise DeltapropError(f"input file {path} declares a {'x'.join(map(str, shape))} array of {dtype} "
                                 f"({needed:,} bytes), but holds only {max(available, 0):,} bytes of data: it is "
                                 "truncated or its header lies")
        data = handle.read(needed)
    if len(data) != needed:
        raise DeltapropError(f"input file {path} changed while it was read; try again")
    rows = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return np.atleast_2d(rows.astype(dtype.newbyteorder("=")))


def read_rows(path):
    """Rows of a CSV (header optional; a ``label`` column is dropped) or of a ``.npy`` array.

    The file must be a regular file (a FIFO or a device would never end); a ``.npy`` header is
    checked against the file's size before anything is allocated.
    """
    if path.endswith(".npy"):
        return _read_npy(path)
    from ..data.csvfile import DEFAULT_LABEL, read_csv

    _regular_input(path, "input file")
    columns, rows = read_csv(path)
    if columns and DEFAULT_LABEL in columns:
        rows = np.delete(rows, columns.index(DEFAULT_LABEL), axis=1)
    return rows


def _first_bad_row(values) -> int:
    """Index of the first row of ``values`` that holds NaN or infinity (``values`` has at least one)."""
    return int(np.argmin(np.isfinite(values).all(axis=1)))


def _model_inputs(net, rows, model_path, input_path):
    """``rows`` in the model's dtype, every value finite *after* the cast (1e300 is infinite in float32)."""
    if rows.dtype.kind == "f" and not np.isfinite(rows).all():
        i = _first_bad_row(rows)
        bad = rows[i][~np.isfinite(rows[i])][0]
        raise DeltapropError(f"input file {input_path}, row {i + 1}: {bad} is not a finite number")
    with np.errstate(over="ignore", invalid="ignore"):
        cast = rows.astype(net.dtype)
    if not np.isfinite(cast).all():
        i = _first_bad_row(cast)
        bad = rows[i][~np.isfinite(cast[i])][0]
        raise DeltapropError(f"input file {input_path}, row {i + 1}: {bad:g} is too large for model {model_path}, "
                             f"which computes in {net.dtype.name} (largest {float(np.finfo(net.dtype).max):.3g})")
    return cast


def predict(args) -> int:
    check_output(args.output, "--output", [("the model", args.model), ("the input file", args.input)])
    net, _ = load_model(args.model)
    rows = read_rows(args.input)
    _check_inputs(net, rows.shape[1], args.model, f"input file {args.input}")
    rows = _model_inputs(net, rows, args.model, args.input)
    with np.errstate(over="ignore", invalid="ignore"):
        outputs = net.feedforward(rows)
    if not np.isfinite(outputs).all():
        i = _first_bad_row(outputs)
        raise DeltapropError(f"model {args.model} gives NaN or infinite outputs for row {i + 1} of input file "
                             f"{args.input} (in {net.dtype.name}): the inputs or the weights are too large; "
                             "nothing was written")
    if net.is_classifier and not args.outputs:
        from ..core.network import decide

        lines = [str(int(label)) for label in decide(outputs)]
    else:
        lines = [",".join(repr(float(v)) for v in row) for row in outputs]
    if args.output:
        from ..atomic import STDOUT, atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        if args.output != STDOUT:
            print(f"wrote {len(lines)} predictions to {args.output}")
    else:
        print("\n".join(lines))
    return EXIT_OK


# -- export ------------------------------------------------------------------------------------------

_EXPORT_EXTRAS = {".onnx": "onnx", ".safetensors": "safetensors"}
"""The package extra each export format needs."""


def export(args) -> int:
    suffix = os.path.splitext(args.out)[1].lower()
    if suffix not in _EXPORT_EXTRAS:
        raise UsageError(f"deltaprop export: error: OUT={args.out!r} must end in .onnx or .safetensors")
    check_output(args.out, "OUT", [("the model", args.model)])
    net, _ = load_model(args.model)
    try:
        if suffix == ".onnx":
            net.to_onnx(args.out)
        else:
            from ..state_dict import save_file

            save_file(net, args.out)
    except ImportError as error:
        extra = _EXPORT_EXTRAS[suffix]
        raise UsageError(f"deltaprop export: error: {error.name or extra} is not installed: "
                         f"pip install 'deltaprop[{extra}]'") from None
    print(f"wrote {args.out}")
    return EXIT_OK
