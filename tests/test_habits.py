"""Issue 13: the habits of deltaprop's users, and the packaging that a first run depends on."""

import io
import re
import subprocess
import sys
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import tomllib

import deltaprop
from deltaprop import CSVLogger, DeltapropError, Network
from deltaprop.compat import mnist_loader
from deltaprop.data import load_digits, write_idx

ROOT = Path(__file__).resolve().parents[1]


# -- packaging ---------------------------------------------------------------------------------


def test_digits_are_bundled_and_read_without_scikit_learn():
    # Oracle: scikit-learn's own copy, compared array for array; and a subprocess that blocks sklearn.
    from sklearn.datasets import load_digits as sklearn_digits

    X, y = load_digits()
    X_ref, y_ref = sklearn_digits(return_X_y=True)
    np.testing.assert_array_equal(X, (X_ref / 16.0).astype(np.float32))
    np.testing.assert_array_equal(y, y_ref)
    code = ("import sys; sys.modules['sklearn'] = None; from deltaprop.data import load_dataset; "
            "d = load_dataset('digits'); print(len(d.X_train), len(d.X_test), 'sklearn' in sys.modules and "
            "sys.modules['sklearn'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1347", "450", "False"]  # the split of before: results unchanged


def test_pyproject_packaging():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "version" not in project and project["dynamic"] == ["version"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "deltaprop.__version__"}
    extras = project["optional-dependencies"]
    assert not any(dep.startswith("scikit-learn") for dep in extras["cli"])  # [cli] needs only these two
    assert {"all", "torch", "docs", "mpi", "test"} <= set(extras)
    assert {"py.typed", "data/digits.npz"} <= set(meta["tool"]["setuptools"]["package-data"]["deltaprop"])
    assert (ROOT / "src" / "deltaprop" / "py.typed").exists()
    assert re.fullmatch(r"\d+\.\d+\.\d+", deltaprop.__version__)
    with zipfile.ZipFile(ROOT / "src" / "deltaprop" / "data" / "digits.npz") as archive:
        assert sorted(archive.namelist()) == ["images.npy", "labels.npy"]


# -- the scikit-learn estimators speak scikit-learn ----------------------------------------------


def test_mlpclassifier_code_runs_with_deltaprop_swapped_in():
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from deltaprop.sklearn import DeltapropClassifier

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = {"hidden_layer_sizes": (10,), "activation": "relu", "solver": "adam", "alpha": 1e-4, "batch_size": 16,
              "learning_rate_init": 0.01, "max_iter": 60, "random_state": 0, "early_stopping": False,
              "validation_fraction": 0.1, "shuffle": True, "tol": 1e-4, "n_iter_no_change": 10}
    assert set(params) <= set(MLPClassifier().get_params())  # every name is scikit-learn's
    model = DeltapropClassifier(**params).fit(X, y)
    assert model.score(X, y) > 0.9 and model.n_iter_ == 60
    # the old names are aliases: the same run
    old = DeltapropClassifier(hidden_layer_sizes=(10,), optimizer="adam", lmbda=1e-4, batch_size=16, eta=0.01,
                              epochs=60, random_state=0).fit(X, y)
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))
    with pytest.raises(DeltapropError, match="both given"):
        DeltapropClassifier(eta=0.1, learning_rate_init=0.2).fit(X, y)
    with pytest.raises(TypeError, match=r"DeltapropClassifier\.__init__\(\) got an unexpected keyword argument 'beta_1'"):
        DeltapropClassifier(beta_1=0.9)


def test_regressor_error_names_the_public_class():
    from deltaprop.sklearn import DeltapropRegressor

    with pytest.raises(TypeError, match=r"^DeltapropRegressor\.__init__\(\)"):
        DeltapropRegressor(epochz=3)


# -- Network ------------------------------------------------------------------------------------


def test_from_state_dict_requires_the_activation():
    net = Network([3, 4, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    with pytest.raises(DeltapropError, match="activation= is required"):
        Network.from_state_dict(net.state_dict())
    back = Network.from_state_dict(net.state_dict(), activation="relu", output_activation="softmax")
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_allclose(back.feedforward(x), net.feedforward(x))


def test_predict_proba():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    softmax = Network([3, 4, 3], output_activation="softmax", cost="log_likelihood", seed=0)
    np.testing.assert_array_equal(softmax.predict_proba(x), softmax.feedforward(x))
    sigmoid = Network([3, 4, 3], seed=0)
    a = sigmoid.feedforward(x)
    np.testing.assert_allclose(sigmoid.predict_proba(x), a / a.sum(axis=1, keepdims=True), rtol=1e-6)
    one = Network([3, 2, 1], seed=0)
    a = one.feedforward(x)
    np.testing.assert_allclose(one.predict_proba(x), np.hstack([1 - a, a]))
    assert np.array_equal(np.argmax(one.predict_proba(x), axis=1), one.predict(x).ravel())
    with pytest.raises(DeltapropError, match="predict_proba"):
        Network([3, 1], output_activation="identity").predict_proba(x)


def test_fit_verbose_prints_the_cli_epoch_lines_counted_from_one():
    X, y = load_digits()
    net = Network([64, 10, 10], seed=0)
    out = io.StringIO()
    with redirect_stdout(out):
        history = net.fit(X[:200], y[:200], epochs=3, eta=1.0, verbose=1, validation_data=(X[200:300], y[200:300]))
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert lines[0] == deltaprop.train.callbacks.epoch_summary(0, 3, {k: v[0] for k, v in history.history.items()})
    with redirect_stdout(io.StringIO()) as quiet:
        net.fit(X[:50], y[:50], epochs=1)
    assert quiet.getvalue() == ""


def test_fit_validation_split_is_stratified_and_fixed():
    X, y = load_digits()
    net = Network([64, 10, 10], seed=0)
    history = net.fit(X, y, epochs=1, eta=1.0, validation_split=0.1, seed=0)
    assert "val_accuracy" in history.history
    from deltaprop.train.loop import split_validation

    X_train, _, (X_val, y_val) = split_validation(net, X, y, 0.1)
    assert len(X_val) + len(X_train) == len(X) and 170 <= len(X_val) <= 190
    counts, val_counts = np.bincount(y), np.bincount(y_val)
    np.testing.assert_array_equal(val_counts, np.round(0.1 * counts).astype(int))  # every class, in proportion
    with pytest.raises(DeltapropError, match="not both"):
        net.fit(X, y, validation_split=0.1, validation_data=(X, y))
    with pytest.raises(DeltapropError, match="validation_split"):
        net.fit(X, y, validation_split=1.5)


def test_csv_logger_counts_epochs_from_one(tmp_path):
    X, y = load_digits()
    Network([64, 10], seed=0).fit(X[:100], y[:100], epochs=2, callbacks=[CSVLogger(tmp_path / "log.csv")])
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "1", "2"]


# -- the book's mnist_loader --------------------------------------------------------------------


def _mnist_dir(path, n_train, n_test):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        if n:
            write_idx(path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            write_idx(path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return path


def test_mnist_loader_book_split(tmp_path):
    directory = _mnist_dir(tmp_path, 10_020, 30)
    training, validation, test = mnist_loader.load_data(directory)
    assert [len(part[0]) for part in (training, validation, test)] == [20, 10_000, 30]  # the last 10,000 validate
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper(directory)
    x, y = training_data[3]
    assert x.shape == (784, 1) and y.shape == (10, 1) and int(np.argmax(y)) == 3 and y.sum() == 1
    x, label = test_data[7]
    assert x.shape == (784, 1) and label == 7 and isinstance(label, int)
    assert len(validation_data) == 10_000 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_mnist_loader_with_only_the_test_files(tmp_path, monkeypatch):
    directory = _mnist_dir(tmp_path, 0, 10_000)
    monkeypatch.setenv("DELTAPROP_MNIST", str(directory))
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()  # found through the variable
    assert (len(training_data), len(validation_data), len(test_data)) == (8000, 0, 2000)  # as mnist_split
    import deltaprop.compat.nielsen as network

    net = network.Network([784, 3, 10], seed=0)
    net.SGD(training_data[:100], 1, 10, 3.0)  # the book's format, accepted as it is
