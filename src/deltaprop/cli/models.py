"""``deltaprop evaluate``, ``predict`` and ``export``: the subcommands that use a saved model.

Each loads ``MODEL`` with :func:`load_model`, which returns the network and the metadata
``train`` recorded with it (the data source it was trained on, among others).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DeltapropError
from .options import EXIT_OK, UsageError, data_help

__all__ = ["add_parser", "evaluate", "export", "load_model", "predict"]


def add_parser(subparsers) -> None:
    evaluate_parser = subparsers.add_parser("evaluate", help="accuracy, cost and confusion matrix of a saved model",
                                            description="Evaluate a saved model on a data source's test set "
                                                        "(or --split).")
    evaluate_parser.add_argument("model", metavar="MODEL", help="a model file written by 'deltaprop train'")
    evaluate_parser.add_argument("--data", help=data_help("the data the model was trained on"))
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
    predict_parser.add_argument("--output", metavar="PATH", help="write the predictions to this CSV file instead")
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

    net, extra = load_model(args.model)
    spec = args.data or extra.get("data")
    if not spec:
        raise DeltapropError(f"--data is needed: model {args.model} does not record the data it was trained on")
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
    from ..data.csvfile import DEFAULT_LABEL, read_csv

    columns, rows = read_csv(path)
    if columns and DEFAULT_LABEL in columns:
        rows = np.delete(rows, columns.index(DEFAULT_LABEL), axis=1)
    return rows


def predict(args) -> int:
    net, _ = load_model(args.model)
    rows = _read_rows(args.input)
    _check_inputs(net, rows.shape[1], args.model, f"input file {args.input}")
    if not np.isfinite(rows).all():
        raise DeltapropError(f"input file {args.input} holds NaN or infinity")
    if net.is_classifier and not args.outputs:
        lines = [str(int(label)) for label in net.predict(rows)]
    else:
        lines = [",".join(repr(float(v)) for v in row) for row in net.feedforward(rows)]
    if args.output:
        from ..atomic import atomic_write

        with atomic_write(args.output, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
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
