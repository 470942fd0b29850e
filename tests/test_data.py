"""Data sources (deltaprop.data): IDX and MNIST, CSV, .npy memmaps, digits, synthetic sets, the --data spec, downloads."""

import functools
import gzip
import hashlib
import http.server
import os
import re
import struct
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from conftest import MNIST_DIR, needs_mnist

import deltaprop
from deltaprop import DataError
from deltaprop.data import (
    DataSpec,
    download_mnist,
    load_csv,
    load_dataset,
    load_digits,
    load_mnist,
    mnist_split,
    parse_data_spec,
    read_csv,
    read_idx,
    sine,
    spirals,
    train_test_split,
    write_idx,
    xor,
)

# -- IDX ---------------------------------------------------------------------------------------------

def _idx_bytes(type_code, shape, payload):
    """An IDX file built by hand from the format's definition (independent of write_idx)."""
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_read_idx_on_a_hand_built_file(tmp_path):
    # Oracle: the bytes written by hand: 2x3 uint8 values 0..5 in row-major order.
    path = tmp_path / "x.idx"
    path.write_bytes(_idx_bytes(0x08, (2, 3), bytes(range(6))))
    assert read_idx(path).tolist() == [[0, 1, 2], [3, 4, 5]]
    gz = tmp_path / "x.idx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert read_idx(gz).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_read_idx_big_endian_floats(tmp_path):
    path = tmp_path / "f.idx"
    path.write_bytes(_idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -2.0)))
    assert read_idx(path).tolist() == [1.5, -2.0]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_idx_read_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "bad magic number"),
        (b"\x08\x03\x00\x00" + b"\x00" * 20, "bad magic number 08030000"),
        (b"\x00\x00\x07\x01" + b"\x00" * 20, "bad magic number"),  # 0x07 is no IDX type
        (b"\x00\x00\x08\x03\x00\x00", "header needs 16 bytes"),
        (_idx_bytes(0x08, (2, 3), bytes(5)), "truncated"),  # one byte short
        (_idx_bytes(0x08, (2, 3), bytes(7)), "padded"),
        (b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
    ],
)
def test_corrupted_idx_files(tmp_path, content, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_truncated_gzip_idx(tmp_path):
    raw = gzip.compress(_idx_bytes(0x08, (100, 10), bytes(1000)))
    path = tmp_path / "t.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="t.gz"):
        read_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "nothing")


# -- MNIST -------------------------------------------------------------------------------------------

def _fake_mnist(directory, n=10, seed=0, train=False, gz=True):
    """A small MNIST-shaped directory; returns the images (n, 28, 28) and labels written."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    for prefix in ["t10k"] + (["train"] if train else []):
        write_idx(Path(directory) / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(Path(directory) / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_on_synthetic_files(tmp_path, gz):
    images, labels = _fake_mnist(tmp_path, gz=gz)
    X, y = load_mnist(tmp_path)
    assert X.shape == (10, 784) and X.dtype == np.float32 and y.dtype == np.int64
    # Oracle: the pixels written, scaled by 1/255.
    np.testing.assert_allclose(X, images.reshape(10, -1) / 255.0, rtol=1e-6)
    assert y.tolist() == labels.tolist()


def test_mnist_split_uses_training_files_when_present(tmp_path):
    _fake_mnist(tmp_path, n=12, train=True)
    X_train, _, X_test, _ = mnist_split(tmp_path)
    assert len(X_train) == 12 and len(X_test) == 12


def test_mnist_with_mismatched_files(tmp_path):
    _fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="disagree"):
        load_mnist(tmp_path)


def test_mnist_with_a_corrupted_file(tmp_path):
    _fake_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 40))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is truncated"):
        load_mnist(tmp_path)


def test_mnist_missing_directory_and_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


@needs_mnist
def test_real_mnist_test_set():
    X, y = load_mnist(MNIST_DIR)
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # Oracle: the published first labels of t10k, and the class counts of the test set.
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # Oracle: the raw bytes of the file, read here with gzip alone (16-byte header, then pixels).
    with gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz") as handle:
        raw = handle.read(16 + 784)
    assert struct.unpack(">4I", raw[:16]) == (0x0803, 10000, 28, 28)
    first = np.frombuffer(raw[16:], dtype=np.uint8)
    np.testing.assert_array_equal(np.round(X[0] * 255).astype(np.uint8), first)
    assert X[0, :28].tolist() == [0.0] * 28  # the top row of the first image is blank
    assert first[202:206].tolist() == [84, 185, 159, 151]  # the first stroke of the "7", row 7


@needs_mnist
def test_real_mnist_split():
    X_train, y_train, X_test, _ = mnist_split(MNIST_DIR)
    assert X_train.shape == (8000, 784) and X_test.shape == (2000, 784)
    assert y_train[0] == 7


# -- downloads, from a local server only -------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list] = []  # paths asked for; each test's server gets a subclass with its own list

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields ``(base_url, www, requests)``."""
    www = tmp_path / "www"
    www.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_download_verifies_and_keeps_good_files(tmp_path, server):
    base_url, www, requests = server
    _, labels = _fake_mnist(www, n=7)
    checksums = {name: _sha256(www / name) for name in os.listdir(www)}
    cache = tmp_path / "cache"
    assert download_mnist(cache, base_url=base_url, checksums=checksums) == str(cache)
    assert sorted(os.listdir(cache)) == sorted(checksums)
    _, y = load_mnist(cache)
    assert y.tolist() == labels.tolist()
    # A second call finds the files verified in the cache and downloads nothing.
    count = len(requests)
    download_mnist(cache, base_url=base_url, checksums=checksums)
    assert len(requests) == count == 2


def test_download_with_a_checksum_mismatch_leaves_no_file(tmp_path, server):
    base_url, www, _ = server
    _fake_mnist(www)
    checksums = {"t10k-images-idx3-ubyte.gz": "0" * 64}
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch.*t10k-images-idx3-ubyte.gz"):
        download_mnist(cache, base_url=base_url, checksums=checksums)
    assert os.listdir(cache) == []  # neither the file nor a temporary one


def test_download_replaces_a_cached_file_with_a_wrong_checksum(tmp_path, server):
    base_url, www, _ = server
    _fake_mnist(www)
    name = "t10k-labels-idx1-ubyte.gz"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / name).write_bytes(b"stale")
    download_mnist(cache, base_url=base_url, checksums={name: _sha256(www / name)})
    assert (cache / name).read_bytes() == (www / name).read_bytes()


def test_download_of_a_missing_file(tmp_path, server):
    base_url, _, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download_mnist(tmp_path / "cache", base_url=base_url, checksums={"nothing.gz": "0" * 64})
    assert os.listdir(tmp_path / "cache") == []


def test_download_refuses_other_schemes(tmp_path):
    with pytest.raises(DataError, match="only http"):
        download_mnist(tmp_path, base_url="file:///etc/", checksums={"passwd": "0" * 64})


def test_load_dataset_downloads_into_the_mnist_directory(tmp_path, server, monkeypatch):
    base_url, www, _ = server
    _fake_mnist(www, n=8)
    checksums = {name: _sha256(www / name) for name in os.listdir(www)}
    monkeypatch.setattr("deltaprop.data.mnist.MNIST_SHA256", checksums)
    data = load_dataset(f"mnist:{tmp_path / 'cache'}", download=True, mirror=base_url)
    assert data.n_features == 784 and len(data.X_train) + len(data.X_test) == 8


# -- CSV ---------------------------------------------------------------------------------------------

def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_csv_classification(tmp_path):
    path = _csv(tmp_path, "a, b ,label\n1,2,0\n\n3,4.5,2\n")
    X, y, names = load_csv(path)
    assert X.tolist() == [[1, 2], [3, 4.5]] and y.tolist() == [0, 2] and names == ["a", "b"]
    assert X.dtype == np.float32 and y.dtype == np.int64


def test_load_csv_named_label_and_regression(tmp_path):
    path = _csv(tmp_path, "target,x\n0.5,1\n-1.25,2\n")
    X, y, _ = load_csv(path, label="target")
    assert X.tolist() == [[1], [2]] and y.tolist() == [[0.5], [-1.25]]


def test_read_csv_without_header(tmp_path):
    columns, values = read_csv(_csv(tmp_path, "1,2\n3,4\n"))
    assert columns is None and values.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b,label\n1,2,0\n3,x,1\n", r"line 3, column 'b': 'x' is not a finite number"),
        ("a,b,label\n1,2,0\n3,,1\n", r"line 3, column 'b': '\(empty\)' is not a finite number"),
        ("a,b,label\n1,2,0\n3,nan,1\n", r"line 3, column 'b': 'nan'"),
        ("a,b,label\n1,2,0\n3,1\n", r"line 3: 2 cells, but the header has 3 \(ragged rows\)"),
        ("a,b,label\n1,2,0,7\n", r"line 2: 4 cells"),
        ("a,b,c\n1,2,0\n", r"no label column 'label'; its columns are a, b, c"),
        ("1,2,0\n3,4,1\n", r"no header row"),
        ("a,b,label\n", r"header but no rows"),
        ("", r"is empty"),
        ("label\n1\n2\n", r"no feature columns"),
    ],
)
def test_malformed_csv_files(tmp_path, text, message):
    path = _csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as caught:
        load_csv(path)
    assert str(path) in str(caught.value)


def test_missing_and_binary_csv(tmp_path):
    with pytest.raises(DataError, match="cannot read CSV file"):
        load_csv(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataError, match="not UTF-8"):
        load_csv(tmp_path / "bin.csv")


# -- digits and synthetic sets ----------------------------------------------------------------------

def test_digits_match_scikit_learn():
    # Oracle: scikit-learn's own loader (deltaprop reads the bundled file without importing it).
    from sklearn.datasets import load_digits as sklearn_digits

    X, y = load_digits()
    X_ref, y_ref = sklearn_digits(return_X_y=True)
    assert X.shape == (1797, 64) and X.dtype == np.float32
    np.testing.assert_array_equal(X, (X_ref / 16.0).astype(np.float32))
    np.testing.assert_array_equal(y, y_ref)


def test_xor_labels_follow_the_signs():
    X, y = xor(200, seed=3)
    assert X.shape == (200, 2) and set(y.tolist()) == {0, 1}
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(int))  # closed form: xor of signs


def test_spirals_follow_their_closed_form():
    X, y = spirals(300, noise=0.0, turns=1.5, seed=1)
    assert np.bincount(y).tolist() == [150, 150]
    # Closed form without noise: a point at radius r of arm k has angle 2 pi turns r + k pi (mod 2 pi).
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.all(r <= 1 + 1e-6)
    expected = 2 * np.pi * 1.5 * r + np.pi * y
    wrapped = np.angle(np.exp(1j * (np.arctan2(X[:, 1], X[:, 0]) - expected)))
    np.testing.assert_allclose(wrapped, 0, atol=1e-4)


def test_sine_is_noisy_sin():
    X, y = sine(2000, noise=0.1, seed=0)
    assert X.shape == (2000, 1) and y.shape == (2000, 1)
    residual = y[:, 0] - np.sin(X[:, 0])
    assert abs(residual.std() - 0.1) < 0.01 and abs(residual.mean()) < 0.01  # closed form: N(0, 0.1^2) noise


def test_synthetic_sets_are_reproducible_and_seeded():
    assert np.array_equal(spirals(seed=5)[0], spirals(seed=5)[0])
    assert not np.array_equal(spirals(seed=5)[0], spirals(seed=6)[0])


# -- the --data spec and splits --------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, spec",
    [
        ("digits", DataSpec("digits")),
        ("mnist", DataSpec("mnist")),
        ("mnist:/data/mnist", DataSpec("mnist", "/data/mnist")),
        ("csv:a.csv", DataSpec("csv", "a.csv", "label")),
        ("csv:dir/a.csv:species", DataSpec("csv", "dir/a.csv", "species")),
        ("npy:X.npy,y.npy", DataSpec("npy", "X.npy,y.npy")),
        ("npy:a/X.npy,a/y.npy,b/X.npy,b/y.npy", DataSpec("npy", "a/X.npy,a/y.npy,b/X.npy,b/y.npy")),
        ("xor", DataSpec("xor")),
        ("spirals", DataSpec("spirals")),
        ("sine", DataSpec("sine")),
    ],
)
def test_parse_data_spec(text, spec):
    assert parse_data_spec(text) == spec


def test_a_csv_path_with_a_colon_that_exists(tmp_path):
    path = tmp_path / "a:b.csv"
    path.write_text("x,label\n1,0\n")
    assert parse_data_spec(f"csv:{path}") == DataSpec("csv", str(path), "label")


@pytest.mark.parametrize("text, message", [("bogus", "not known"), ("", "not valid"), ("csv", "needs a file"),
                                           ("xor:3", "takes no argument"), ("npy:X.npy", "needs two files"),
                                           ("npy:X.npy,,y.npy", "needs two files"), ("npy", "needs two files")])
def test_bad_data_specs(text, message):
    with pytest.raises(DataError, match=message):
        parse_data_spec(text)


def test_stratified_split_keeps_class_proportions_and_is_fixed():
    y = np.repeat(np.arange(4), 40)
    X = np.arange(160)[:, None]
    X_train, _, X_test, y_test = train_test_split(X, y)
    assert np.bincount(y_test).tolist() == [10, 10, 10, 10]  # 25% of each class of 40
    assert sorted(np.concatenate([X_train, X_test])[:, 0].tolist()) == list(range(160))
    assert np.array_equal(train_test_split(X, y)[2], X_test)


@pytest.mark.parametrize("spec, task, features, outputs, n", [
    ("digits", "classification", 64, 10, 1797),
    ("xor", "classification", 2, 2, 400),
    ("spirals", "classification", 2, 2, 400),
    ("sine", "regression", 1, 1, 400),
])
def test_load_dataset(spec, task, features, outputs, n):
    data = load_dataset(spec)
    assert (data.task, data.n_features, data.n_outputs) == (task, features, outputs)
    assert len(data.X_train) + len(data.X_test) == n
    assert abs(len(data.X_test) - n / 4) <= outputs / 2  # a quarter, rounded class by class
    assert len(data.part("all")[0]) == n


def test_load_dataset_csv_keeps_one_test_row_when_tiny(tmp_path):
    path = _csv(tmp_path, "a,label\n1,0\n2,1\n3,1\n")
    data = load_dataset(f"csv:{path}")
    assert len(data.X_test) == 1 and len(data.X_train) == 2 and data.n_classes == 2


def test_load_dataset_csv_with_one_class(tmp_path):
    path = _csv(tmp_path, "a,label\n1,0\n2,0\n")
    with pytest.raises(DataError, match="single class"):
        load_dataset(f"csv:{path}")


# -- npy: memmapped files --------------------------------------------------------------------------

@pytest.fixture
def npy_files(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)).astype(np.float32), rng.integers(0, 3, 40)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, X, y


def test_npy_inputs_stay_on_disk_and_the_last_quarter_tests(npy_files):
    # Oracle: the arrays saved; the inputs are memmaps read by position (core.rows), labels in memory.
    from deltaprop.core.rows import open_rows

    d, X, y = npy_files
    data = load_dataset(f"npy:{d / 'X.npy'},{d / 'y.npy'}")
    assert (data.task, data.n_classes, data.n_features) == ("classification", 3, 5)
    np.testing.assert_array_equal(data.X_train, X[:30])
    np.testing.assert_array_equal(data.X_test, X[30:])
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_test]), y)
    assert isinstance(data.X_train, np.memmap) and isinstance(data.X_test, np.memmap)
    for part in (data.X_train, data.X_test):
        with open_rows(part) as rows:
            np.testing.assert_array_equal(rows.read(slice(0, 3), np.empty((3, 5), np.float32)), part[:3])


def test_npy_with_a_test_set_and_regression_targets(npy_files):
    d, X, _ = npy_files
    np.save(d / "t.npy", X[:, :2].astype(np.float64))
    np.save(d / "Xt.npy", X[:7])
    np.save(d / "tt.npy", X[:7, :2].astype(np.float64))
    data = load_dataset(f"npy:{d / 'X.npy'},{d / 't.npy'},{d / 'Xt.npy'},{d / 'tt.npy'}", dtype=np.float32)
    assert (data.task, data.n_outputs, len(data.X_train), len(data.X_test)) == ("regression", 2, 40, 7)
    assert data.y_train.dtype == np.float32


def test_npy_data_train_from_the_command_line_as_from_memory(npy_files):
    # Oracle: fit on the in-memory arrays with the same settings.
    from deltaprop.cli import main

    d, X, y = npy_files
    out = d / "run"
    assert main(["train", "--data", f"npy:{d / 'X.npy'},{d / 'y.npy'}", "--layers", "5,4,3", "--epochs", "2",
                 "--validation-split", "0",  # the oracle trains on every training row, as the CLI then does
                 "--out", str(out), "-q", "--no-progress"]) == 0
    net = deltaprop.Network([5, 4, 3], seed=0)
    net.fit(X[:30], y[:30], epochs=2, batch_size=10, eta=1.0, seed=0)
    trained = deltaprop.load(out / "model.npz")
    for a, b in zip(trained.layers, net.layers):
        np.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("make, message", [
    (lambda d, X, y: np.save(d / "X.npy", X.astype(np.float64)), "holds float64 but training runs in float32"),
    (lambda d, X, y: np.save(d / "X.npy", (X * 100).astype(np.int32)), "it must hold floats"),
    (lambda d, X, y: np.save(d / "X.npy", X[:, 0]), "must hold a 2-D array"),
    (lambda d, X, y: np.save(d / "y.npy", y[:-1]), "has shape (39,), but"),
    (lambda d, X, y: np.save(d / "y.npy", -y), "negative class label"),
    (lambda d, X, y: np.save(d / "y.npy", y.astype(str)), "use integers for class labels"),
    (lambda d, X, y: np.save(d / "y.npy", np.zeros_like(y)), "single class"),
    (lambda d, X, y: (d / "X.npy").write_bytes(b"not an array"), "is not a readable .npy array"),
    (lambda d, X, y: np.save(d / "y.npy", np.array([{}] * 40, dtype=object), allow_pickle=True),
     "is not a readable .npy array"),
    (lambda d, X, y: (d / "y.npy").unlink(), "does not exist"),
])
def test_bad_npy_files_name_the_file(npy_files, make, message):
    d, X, y = npy_files
    make(d, X, y)
    with pytest.raises(DataError, match=re.escape(message)):
        load_dataset(f"npy:{d / 'X.npy'},{d / 'y.npy'}")
