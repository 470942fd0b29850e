"""End-to-end tests of the ``deltaprop`` command, run as a subprocess (``python -m deltaprop``).

Every subcommand, and every kind of bad input the command-line issue lists: each must give exit
status 2, one line on stderr naming the file or option and the problem, no traceback, and leave
what is already on disk untouched.
"""

import gzip
import hashlib
import importlib.util
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deltaprop.data import write_idx

pytestmark = pytest.mark.slow



def run(*args, cwd):
    """Run ``python -m deltaprop ARGS`` in ``cwd``; return the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def assert_png_has_content(path):
    from matplotlib.image import imread

    pixels = imread(path)
    grey = pixels[..., :3].mean(axis=2)
    assert pixels.shape[0] > 100 and grey.std() > 0.05, path  # not a blank canvas


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``deltaprop train`` with no arguments, once: the issue's first command."""
    cwd = tmp_path_factory.mktemp("train")
    result = run("train", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd, result


# -- train -------------------------------------------------------------------------------------------

def test_train_with_no_arguments(trained):
    cwd, result = trained
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"test accuracy: (0\.\d+) \((\d+)/450 test examples of digits\)", last)
    assert match, last
    assert float(match.group(1)) >= 0.95
    out = cwd / "runs" / "latest"
    assert sorted(os.listdir(out)) == ["history.csv", "learning_curve.png", "model.npz"]
    assert_png_has_content(out / "learning_curve.png")
    header, *rows = (out / "history.csv").read_text().splitlines()
    from deltaprop.cli.train import PRESETS

    assert header == "epoch,cost,val_cost,val_accuracy" and len(rows) == PRESETS["digits"][5]  # the preset's epochs
    assert "Traceback" not in result.stderr


def test_train_with_diagnostics_and_options(tmp_path):
    result = run("train", "--preset", "nielsen", "--layers", "64,20,20,10", "--activation", "tanh", "--init", "standard_normal",
                 "--epochs", "2", "--batch-size", "20", "--eta", "0.5", "--lmbda", "0.1", "--seed", "3",
                 "--dtype", "float64", "--diagnostics", "--out", "run", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stdout
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    # the book's preset: two tanh hidden layers and the sigmoid output: all three saturate, all three have gradients
    assert {f"{kind}[{i}]" for kind in ("grad_norm", "saturation") for i in range(3)} <= set(header)
    for name in ["learning_curve.png", "gradient_norms.png", "saturation.png"]:
        assert_png_has_content(tmp_path / "run" / name)
    from deltaprop.files.model import load, read_metadata

    net = load(tmp_path / "run" / "model.npz")
    assert net.sizes == [64, 20, 20, 10] and net.dtype == np.float64
    assert read_metadata(tmp_path / "run" / "model.npz")["extra"]["data"] == "digits"


def test_train_regression_on_sine_reports_cost(tmp_path):
    result = run("train", "--data", "sine", "--epochs", "20", "--out", "sine", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test cost: ")
    evaluation = run("evaluate", "sine/model.npz", cwd=tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr
    assert "root mean squared error" in evaluation.stdout and "accuracy" not in evaluation.stdout


def test_train_on_a_csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    y = (X[:, 0] > 0.5).astype(int)
    rows = "\n".join(f"{a},{b},{c},{label}" for (a, b, c), label in zip(X, y))
    (tmp_path / "d.csv").write_text("f1,f2,f3,cls\n" + rows + "\n")
    result = run("train", "--data", "csv:d.csv:cls", "--epochs", "3", "--out", "csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test examples of csv:d.csv:cls" in result.stdout.splitlines()[-1]


def test_train_on_mnist(tmp_path, mnist_dir):
    result = run("train", "--data", f"mnist:{mnist_dir}", "--epochs", "1", "--out", "m", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "/2000 test examples of mnist:" in result.stdout.splitlines()[-1]
    assert "[784, 30, 10]" in result.stdout.splitlines()[0]


# -- evaluate, predict, plot -------------------------------------------------------------------------

def test_evaluate_reproduces_the_training_accuracy(trained, tmp_path):
    cwd, result = trained
    accuracy = result.stdout.strip().splitlines()[-1].split()[2]
    evaluation = run("evaluate", cwd / "runs/latest/model.npz", "--png", tmp_path / "cm.png", cwd=tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr
    out = evaluation.stdout
    assert f"accuracy: {accuracy}" in out  # the data source and split are read from the model file
    matrix = [line for line in out.splitlines() if re.match(r"^\s*\d \|", line)]
    assert len(matrix) == 10 and sum(int(v) for line in matrix for v in line.split("|")[1].split()) == 450
    assert_png_has_content(tmp_path / "cm.png")


def test_evaluate_on_another_split(trained):
    cwd, _ = trained
    evaluation = run("evaluate", "runs/latest/model.npz", "--data", "digits", "--split", "all", cwd=cwd)
    assert evaluation.returncode == 0, evaluation.stderr
    assert "/1797)" in evaluation.stdout


def test_predict_csv_and_npy_rows(trained, tmp_path):
    from deltaprop.data import load_digits
    from deltaprop.files.model import load

    cwd, _ = trained
    model = cwd / "runs/latest/model.npz"
    X, _ = load_digits()
    rows = X[:7]
    np.save(tmp_path / "rows.npy", rows)
    header = ",".join(f"p{i}" for i in range(64)) + ",label"
    np.savetxt(tmp_path / "rows.csv", np.column_stack([rows, np.zeros(7)]), delimiter=",", header=header,
               comments="", fmt="%.10g")
    expected = load(model).predict(rows).tolist()  # oracle: the library on the same file, in-process
    for name in ["rows.npy", "rows.csv"]:
        result = run("predict", model, name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert [int(line) for line in result.stdout.split()] == expected
    outputs = run("predict", model, "rows.npy", "--outputs", cwd=tmp_path)
    assert len(outputs.stdout.splitlines()[0].split(",")) == 10
    written = run("predict", model, "rows.npy", "--output", "p.csv", cwd=tmp_path)
    assert written.returncode == 0 and [int(v) for v in (tmp_path / "p.csv").read_text().split()] == expected


def test_plot_draws_the_history(trained, tmp_path):
    cwd, _ = trained
    result = run("plot", cwd / "runs/latest/history.csv", "--out", tmp_path / "pngs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path / "pngs") == ["learning_curve.png"]
    assert_png_has_content(tmp_path / "pngs" / "learning_curve.png")


# -- explain, gradcheck, graph ---------------------------------------------------------------------

def test_explain_labels_every_equation_and_agrees_with_finite_differences(tmp_path):
    result = run("explain", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in ["(BP1)", "(BP2)", "(BP3)", "(BP4)", "z = W a_prev + b", "a = sigmoid(z)", "delta = "]:
        assert label in out
    assert out.count("finite difference ") == 3 + 6 + 2 + 6  # every b and W entry of a [2, 3, 2] network
    worst = float(out.strip().splitlines()[-1].split()[-1])
    assert worst < 1e-6


def test_explain_with_options(tmp_path):
    result = run("explain", "--layers", "3,4,3", "--activation", "tanh", "--output-activation", "softmax",
                 "--cost", "log_likelihood", "--x", "0.1,0.2,0.3", "--y", "0,1,0", "--seed", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "softmax + log_likelihood shortcut" in result.stdout
    assert "x = [0.1, 0.2, 0.3]" in result.stdout


def test_gradcheck_passes_and_fails_by_tolerance(tmp_path):
    passed = run("gradcheck", "--layers", "4,6,5,3", "--activation", "tanh", cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert "passed" in passed.stdout and passed.stdout.count("layers[") == 3
    failed = run("gradcheck", "--tolerance", "1e-300", cwd=tmp_path)
    assert failed.returncode == 1 and "FAILED" in failed.stdout
    assert failed.stderr == ""


@pytest.mark.skipif(importlib.util.find_spec("deltaprop.autodiff") is None, reason="autodiff engine not built yet")
def test_graph_prints_the_toy_circuit(tmp_path):
    result = run("graph", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph")
    # Oracle: 002's toy with a=2, b=-3, c=10: L = c(a + 2b) = -40; dL/da = c = 10, dL/db = 2c = 20, dL/dc = -4.
    for text in ["data -40", "grad 10", "grad 20", "grad -4"]:
        assert text in result.stdout
    written = run("graph", "--output", "toy.dot", cwd=tmp_path)
    assert written.returncode == 0 and (tmp_path / "toy.dot").read_text() == result.stdout


@pytest.mark.parametrize("command", ["", "train", "evaluate", "predict", "explain", "gradcheck", "plot", "graph"])
def test_every_subcommand_has_help(tmp_path, command):
    if command == "graph" and importlib.util.find_spec("deltaprop.autodiff") is None:
        pytest.skip("autodiff engine not built yet")
    result = run(*([command] if command else []), "--help", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: deltaprop")


def test_version(tmp_path):
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("deltaprop ")


# -- bad input -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, trained):
    """A directory of broken inputs, beside a good model (``good.npz``) and an earlier run's outputs."""
    d = tmp_path_factory.mktemp("bad")
    (d / "good.npz").write_bytes((trained[0] / "runs/latest/model.npz").read_bytes())
    (d / "nonnumeric.csv").write_text("a,b,label\n1,2,0\n3,x,1\n")
    (d / "ragged.csv").write_text("a,b,label\n1,2,0\n3,1\n")
    (d / "nolabel.csv").write_text("a,b,c\n1,2,0\n3,4,1\n")
    (d / "three.csv").write_text("a,b,c\n1,2,3\n")
    (d / "a_directory.csv").mkdir()
    header = b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (10, 28, 28))
    for name, images in {"badmagic": b"\x12\x34\x08\x03" + bytes(100), "truncated": header + bytes(500)}.items():
        (d / name).mkdir()
        (d / name / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
        write_idx(d / name / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    (d / "pickle.npz").write_bytes(pickle.dumps({"W": [1, 2, 3]}))
    (d / "truncated.npz").write_bytes((d / "good.npz").read_bytes()[:300])
    with open(d / "foreign.npz", "wb") as handle:
        np.savez(handle, weights=np.ones(3))
    (d / "text.npz").write_text("not a model at all")
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "bad_history.csv").write_text("cost\n0.5\n")
    (d / "out").mkdir()
    (d / "out" / "model.npz").write_bytes(b"an earlier model")
    (d / "predictions.csv").write_text("earlier predictions\n")
    return d


BAD_INPUTS = [
    # (arguments, fragment the one stderr line must contain)
    (["train", "--data", "csv:missing.csv"], "cannot read CSV file missing.csv: No such file"),
    (["train", "--data", "csv:a_directory.csv"], "cannot read CSV file a_directory.csv"),
    (["train", "--data", "csv:nonnumeric.csv"], "nonnumeric.csv, line 3, column 'b': 'x' is not a finite number"),
    (["train", "--data", "csv:ragged.csv"], "ragged.csv, line 3: 2 cells, but the header has 3"),
    (["train", "--data", "csv:nolabel.csv"], "nolabel.csv has no label column 'label'"),
    (["train", "--data", "csv:nolabel.csv:target"], "nolabel.csv has no label column 'target'"),
    (["train", "--data", "mnist:badmagic"], "t10k-images-idx3-ubyte.gz is not an IDX file: bad magic number 12340803"),
    (["train", "--data", "mnist:truncated"], "t10k-images-idx3-ubyte.gz is truncated"),
    (["train", "--data", "mnist:nowhere"], "MNIST directory nowhere does not exist"),
    (["train", "--data", "imagenet"], "data source 'imagenet' is not known"),
    (["train", "--epochs", "0"], "argument --epochs: '0' is not a positive integer"),
    (["train", "--epochs", "ten"], "argument --epochs: 'ten' is not a positive integer"),
    (["train", "--batch-size", "0"], "argument --batch-size: '0' is not a positive integer"),
    (["train", "--eta", "-3"], "argument --eta: '-3' is not a positive number"),
    (["train", "--eta", "inf"], "argument --eta: 'inf' is not a positive number"),
    (["train", "--lmbda", "-0.5"], "argument --lmbda: '-0.5' is not a number >= 0"),
    (["train", "--seed", "-1"], "argument --seed: '-1' is not an integer >= 0"),
    (["train", "--layers", "64,0,10"], "argument --layers: '64,0,10' must be at least two positive integers"),
    (["train", "--layers", "64,30,7"], "--layers 64,30,7: the last size must be 10"),
    (["train", "--layers", "60,30,10"], "--layers 60,30,10: the first size must be 64"),
    (["train", "--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
    (["train", "--cost", "hinge"], "argument --cost: invalid choice: 'hinge'"),
    (["train", "--init", "zeros"], "argument --init: invalid choice: 'zeros'"),
    (["train", "--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (["train", "--saturation-threshold", "1.5"], "argument --saturation-threshold: '1.5' is not a number between 0 and 1"),
    (["train", "--cost", "cross_entropy", "--output-activation", "identity"], "cost='cross_entropy' needs output_activation"),
    (["train", "--output-activation", "identity"], "--output-activation identity: digits is a classification task"),
    (["train", "--out", "out/model.npz"], "--out out/model.npz exists and is not a directory"),
    (["train", "--unknown-option"], "unrecognized arguments: --unknown-option"),
    (["evaluate", "missing.npz"], "model file missing.npz: does not exist"),
    (["evaluate", "a_directory.csv"], "model file a_directory.csv: is a directory"),
    (["evaluate", "pickle.npz"], "model file pickle.npz: is a Python pickle"),
    (["evaluate", "truncated.npz"], "model file truncated.npz: is corrupted"),
    (["evaluate", "foreign.npz"], "model file foreign.npz: is an .npz archive without deltaprop metadata"),
    (["evaluate", "text.npz"], "model file text.npz: is not a deltaprop model"),
    (["evaluate", "good.npz", "--data", "xor"], "model good.npz takes 64 inputs, but xor has 2 features per example"),
    (["evaluate", "good.npz", "--data", "csv:ragged.csv"], "ragged.csv, line 3"),
    (["evaluate", "good.npz", "--png", "no/such/dir/cm.png"], "no/such/dir/cm.png: No such file or directory"),
    (["evaluate", "good.npz", "--split", "middle"], "argument --split: invalid choice: 'middle'"),
    (["predict", "good.npz", "three.csv"], "model good.npz takes 64 inputs, but input file three.csv has 3 features"),
    (["predict", "good.npz", "nonnumeric.csv"], "nonnumeric.csv, line 3, column 'b'"),
    (["predict", "good.npz", "missing.csv"], "cannot read CSV file missing.csv"),
    (["predict", "good.npz", "objects.npy"], "input file objects.npy is not a numeric .npy array"),
    (["predict", "good.npz", "ragged.csv", "--output", "predictions.csv"], "ragged.csv, line 3"),
    (["predict", "pickle.npz", "three.csv"], "model file pickle.npz: is a Python pickle"),
    (["explain", "--x", "1,2,3"], "--x has 3 values, but the network has 2 inputs"),
    (["explain", "--y", "1,nan"], "argument --y: '1,nan' must be finite numbers"),
    (["explain", "--h", "0"], "argument --h: '0' is not a positive number"),
    (["gradcheck", "--tolerance", "0"], "argument --tolerance: '0' is not a positive number"),
    (["gradcheck", "--examples", "-2"], "argument --examples: '-2' is not a positive integer"),
    (["plot", "missing.csv"], "cannot read history file missing.csv"),
    (["plot", "bad_history.csv"], "history file bad_history.csv does not start with a header row"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(a) or "(none)" for a, _ in BAD_INPUTS])
def test_bad_input_gives_one_line_exit_2_and_leaves_files_alone(bad_files, args, message):
    before = {name: digest(bad_files / name) for name in ["good.npz", "out/model.npz", "predictions.csv"]}
    listing = sorted(os.listdir(bad_files))
    result = run(*args, cwd=bad_files)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deltaprop")
    assert message in lines[0]
    assert {name: digest(bad_files / name) for name in before} == before  # nothing overwritten ...
    assert sorted(os.listdir(bad_files)) == listing  # ... and nothing left behind
    assert sorted(os.listdir(bad_files / "out")) == ["model.npz"]
