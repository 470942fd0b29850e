"""Issue 13, items 1-3: the first run (standardised inputs stored in the model, presets, optimizers),
no silent failure (warnings, missing extras found first, --no-plots), validation that is not the test set.

Oracles: the arithmetic of standardisation done by hand in NumPy; onnxruntime for the exported graph;
the book's chapter-1 setting (sizes, cost, eta, batch) as the first line of the run states it; the
class counts of the data for stratification; the EarlyStopping history for the restored weights.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import deltaprop
from deltaprop.cli.train import health_warning, validation_split
from deltaprop.core.network import Network
from deltaprop.data import load_dataset


def run(*args, cwd, hide=None):
    """``python -m deltaprop ARGS`` in ``cwd``; ``hide``: a module made unimportable first."""
    code = "import sys, runpy\n"
    if hide:
        code += f"sys.modules[{hide!r}] = None\n"  # import raises ImportError, as when not installed
    code += "sys.argv = ['deltaprop'] + sys.argv[1:]\nrunpy.run_module('deltaprop', run_name='__main__')\n"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "PYTHONPATH": os.path.join(
                              os.path.dirname(__file__), "..", "src")})


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(60, 4)) * [1, 10, 100, 0.1] + [5, -3, 200, 1]).astype(np.float32)
    return X, (X[:, 0] > 5).astype(np.int64) + (X[:, 1] > -3)


# -- standardisation -----------------------------------------------------------------------------------

def test_standardize_is_stored_and_applied_by_predict_and_evaluate(blobs, tmp_path):
    X, y = blobs
    net = Network([4, 6, 3], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    plain = net.copy()
    net.standardize(X)
    mean, scale = X.astype(np.float64).mean(0), X.astype(np.float64).std(0)
    np.testing.assert_allclose(net.input_mean, mean, rtol=1e-5)
    np.testing.assert_allclose(net.input_scale, scale, rtol=1e-5)
    by_hand = ((X - mean) / scale).astype(np.float32)
    np.testing.assert_allclose(net.feedforward(X), plain.feedforward(by_hand), rtol=1e-4, atol=1e-6)
    assert np.array_equal(net.predict(X), plain.predict(by_hand))
    assert net.evaluate(X, y) == plain.evaluate(by_hand, y)
    assert net.cost(X, y) == pytest.approx(plain.cost(by_hand, y), rel=1e-5)
    net.save(tmp_path / "m.npz")
    loaded = deltaprop.load(tmp_path / "m.npz")
    assert np.array_equal(loaded.input_mean, net.input_mean) and np.array_equal(loaded.feedforward(X), net.feedforward(X))
    assert np.array_equal(net.copy().input_scale, net.input_scale)


def test_model_without_standardization_loads_as_identity(blobs, tmp_path):
    X, _ = blobs
    net = Network([4, 3, 2], seed=1)
    net.save(tmp_path / "m.npz")
    assert "input_standardization" not in deltaprop.files.model.read_metadata(tmp_path / "m.npz")
    assert deltaprop.load(tmp_path / "m.npz").input_mean is None


def test_onnx_export_applies_standardization(blobs):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, _ = blobs
    net = Network([4, 6, 3], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0).standardize(X)
    model = net.to_onnx()
    assert [node.op_type for node in model.graph.node][:3] == ["Sub", "Div", "Gemm"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X})[0], net.feedforward(X), rtol=1e-4, atol=1e-6)


# -- validation ---------------------------------------------------------------------------------------

def test_validation_split_is_stratified_seeded_and_from_the_training_set():
    data = load_dataset("digits")
    X_fit, y_fit, X_val, y_val = validation_split(data, 0.1, seed=0)
    assert len(X_fit) + len(X_val) == len(data.X_train)
    counts = np.bincount(data.y_train, minlength=10)
    assert np.array_equal(np.bincount(y_val, minlength=10), np.round(0.1 * counts).astype(int))
    test_rows = {row.tobytes() for row in data.X_test}
    train_rows = {row.tobytes() for row in data.X_train}
    assert all(row.tobytes() in train_rows for row in X_val)
    assert not any(row.tobytes() in test_rows and row.tobytes() not in train_rows for row in X_val)
    again = validation_split(data, 0.1, seed=0)
    assert np.array_equal(again[2], X_val)
    assert not np.array_equal(validation_split(data, 0.1, seed=1)[2], X_val)
    assert validation_split(data, 0.0, seed=0)[2] is None


def test_test_set_is_touched_once_at_the_end(monkeypatch, tmp_path):
    """The test rows never reach fit(): neither as training nor as validation data."""
    import deltaprop.cli.train as train

    seen = []
    real_fit = Network.fit

    def spy(self, X, Y, **kwargs):
        seen.append((np.asarray(X).copy(), kwargs.get("validation_data")))
        return real_fit(self, X, Y, **kwargs)

    monkeypatch.setattr(Network, "fit", spy)
    from deltaprop.cli.main import main

    assert main(["train", "--epochs", "2", "--no-plots", "--no-progress", "-q", "--out", str(tmp_path / "r")]) == 0
    data = load_dataset("digits")
    X_fit, (X_val, _) = seen[0]
    test_rows = {row.tobytes() for row in data.X_test}
    train_rows = {row.tobytes() for row in data.X_train}
    for X in (X_fit, X_val):
        assert all(row.tobytes() in train_rows for row in X)
    assert len(X_fit) + len(X_val) == len(data.X_train) and len(X_val) == len(validation_split(data, 0.1, 0)[2])
    assert train is not None and len(test_rows) > 0


def test_early_stopping_restores_the_best_weights(tmp_path):
    result = run("train", "--epochs", "40", "--early-stopping", "3", "--no-plots", "--no-progress", "--out", "r",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, *rows = (tmp_path / "r" / "history.csv").read_text().splitlines()
    columns = header.split(",")
    val_cost = [float(row.split(",")[columns.index("val_cost")]) for row in rows]
    assert len(rows) < 40  # stopped early
    best = int(np.argmin(val_cost))
    assert len(rows) == best + 1 + 3
    net = deltaprop.load(tmp_path / "r" / "model.npz")
    data = load_dataset("digits")
    _, _, X_val, y_val = validation_split(data, 0.1, seed=0)
    assert net.cost(X_val, y_val) == pytest.approx(val_cost[best], rel=1e-4)


def test_early_stopping_needs_a_validation_split(tmp_path):
    result = run("train", "--early-stopping", "3", "--validation-split", "0", "--no-plots", "--out", "r", cwd=tmp_path)
    assert result.returncode == 2 and "--validation-split" in result.stderr


# -- presets ------------------------------------------------------------------------------------------

def test_preset_nielsen_reproduces_the_books_setting(tmp_path):
    result = run("train", "--preset", "nielsen", "--epochs", "2", "--no-plots", "--no-progress", "--out", "r",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("training [64, 30, 10] sigmoid/sigmoid, cost quadratic, sgd eta 3, batch 10, 2 epochs, on digits")
    assert "held out" not in first and "standardised" not in first
    net = deltaprop.load(tmp_path / "r" / "model.npz")
    assert net.input_mean is None and net.sizes == [64, 30, 10]
    assert (tmp_path / "r" / "history.csv").read_text().splitlines()[0] == "epoch,cost"


def test_default_eta_follows_the_units_and_the_optimizer(tmp_path):
    result = run("train", "--preset", "nielsen", "--activation", "relu", "--output-activation", "softmax",
                 "--cost", "log_likelihood", "--epochs", "1", "--no-plots", "--no-progress", "--out", "r", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sgd eta 0.1," in result.stdout.splitlines()[0]
    result = run("train", "--optimizer", "momentum", "--epochs", "1", "--no-plots", "--no-progress", "--out", "r2",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "momentum eta 0.01," in result.stdout.splitlines()[0]


# -- no silent failure --------------------------------------------------------------------------------

def test_saturated_run_gets_one_warning_naming_cause_and_value(tmp_path):
    result = run("train", "--preset", "nielsen", "--eta", "1e6", "--epochs", "2", "--no-plots", "--no-progress",
                 "--out", "r", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert "chance" in warnings[0] and "saturated" in warnings[0] and "too large" in warnings[0]
    assert "--eta 3" in warnings[0]


def test_healthy_run_gets_no_warning(tmp_path):
    result = run("train", "--epochs", "3", "--no-plots", "--no-progress", "--out", "r", cwd=tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


def test_dead_relus_are_named():
    data = load_dataset("digits")
    net = Network([64, 16, 10], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    net.layers[0].b = np.full(16, -1e3, dtype=np.float32)  # every unit below zero for every input
    history = deltaprop.History()
    history.history = {"cost": [2.3, 2.3]}
    config = {"eta": 0.1, "optimizer": "sgd", "activation": "relu"}
    line = health_warning(net, history, data, config, data.X_train, accuracy=0.1)
    assert "dead" in line and "--eta 0.01" in line and "\n" not in line


def test_missing_pillow_is_found_before_training(tmp_path):
    result = run("train", "--epochs", "1", "--out", "r", cwd=tmp_path, hide="PIL")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Pillow" in lines[0] and 'pip install "deltaprop[cli]"' in lines[0], result.stderr
    assert "--no-plots" in lines[0] and not (tmp_path / "r").exists() and result.stdout == ""


def test_the_learning_curve_needs_no_matplotlib(tmp_path):
    # matplotlib costs a second to import: the default run draws its PNG with Pillow alone.
    result = run("train", "--epochs", "2", "--no-progress", "--out", "r", cwd=tmp_path, hide="matplotlib")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_plots_runs_without_pillow(tmp_path):
    result = run("train", "--epochs", "1", "--no-plots", "--no-progress", "--out", "r", cwd=tmp_path, hide="PIL")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "r")) == ["history.csv", "model.npz"]


def test_help_describes_the_presets_as_they_are(capsys):
    # The help text is built from PRESETS: what it says is what a run with no options does.
    from deltaprop.cli.main import main
    from deltaprop.cli.train import describe_preset

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert describe_preset("digits") in text and describe_preset("nielsen") in text
    assert "%%" not in text and "10% of the training set" in text
