"""Issue 11, items 9-13 on the library side: bounded memory for small hostile inputs, clean errors for
plain mistakes, no value that overflows the network's dtype taken silently, bounded downloads, and
memmaps read with positioned reads whatever their dtype.

Oracles: the IDX format's definition (headers built by hand with struct), the JSON and CSV texts
written here, NumPy's own casts (float32 rounding), the in-memory fit of the same data, and local
HTTP servers on 127.0.0.1 that misbehave on purpose (no test contacts the internet).
"""

import contextlib
import gzip
import hashlib
import http.server
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zlib
from fractions import Fraction
from typing import ClassVar

import numpy as np
import pytest

import deltaprop
from deltaprop import DataError, DeltapropError, ModelFileError, NonFiniteError
from deltaprop.compat import nielsen2
from deltaprop.data import fetch, load_csv, load_dataset, load_mnist, read_idx, write_idx
from deltaprop.data.csvfile import MAX_CLASSES
from deltaprop.data.download import _CheckedRedirects
from deltaprop.data.idx import MAX_ELEMENTS, read_idx_header
from deltaprop.data.mnist import MNIST_MAX_IMAGES, MNIST_SIZES, download_mnist
from deltaprop.train.callbacks import Callback, EarlyStopping

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")


def idx_bytes(type_code, shape, payload=b"", ndim=None):
    """An IDX file from the format's definition: magic 00 00 type ndim, big-endian uint32 sizes, data."""
    ndim = len(shape) if ndim is None else ndim
    return bytes([0, 0, type_code, ndim]) + struct.pack(f">{len(shape)}I", *shape) + payload


def gzip_of_zeros(head: bytes, megabytes: int) -> bytes:
    """``head`` then ``megabytes`` MiB of zero bytes as one gzip stream (about 1 kB per MiB), built fast:
    after a full flush every MiB of zeros deflates to the same bytes, so they are repeated, and the
    gzip trailer (CRC-32, length) is computed here."""
    if megabytes == 0:
        return gzip.compress(head, mtime=0)
    compressor, zeros = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(1 << 20)  # raw deflate
    first = compressor.compress(head) + compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = first + again * (megabytes - 1) + compressor.flush()
    crc = zlib.crc32(head)
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (len(head) + (megabytes << 20)) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + trailer


def test_the_bomb_builder_builds_what_it_says():
    assert gzip.decompress(gzip_of_zeros(b"head", 3)) == b"head" + bytes(3 << 20)


@contextlib.contextmanager
def peak_allocation():
    """Yields a list that receives tracemalloc's peak (bytes) of the block (NumPy reports its arrays)."""
    result = []
    tracemalloc.start()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


@contextlib.contextmanager
def within(seconds):
    """Fail (instead of hanging) if the block takes longer than ``seconds``: a FIFO must not block."""
    def expired(*_):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- item 9 and 10: IDX headers are checked before any data are read ----------------------------------

IDX_HEADERS = {
    # name: (file content, words of the message)
    "zero rows": (idx_bytes(0x08, (0, 28, 28)), ["holds no data", "(0, 28, 28)"]),
    "zero rows with data after": (idx_bytes(0x08, (0, 4), bytes(16)), ["truncated or corrupted", "(0, 4)"]),
    "255 dimensions": (idx_bytes(0x08, (1,) * 255), ["255 dimensions", "at most 4"]),
    "5 dimensions": (idx_bytes(0x08, (1, 1, 1, 1, 1), b"\x07"), ["5 dimensions"]),
    "product wraps to 0 in 64 bits": (idx_bytes(0x08, (65536,) * 4), ["18,446,744,073,709,551,616 values", "at most"]),
    "product wraps to 0 in 32 bits": (idx_bytes(0x08, (65536, 65536), bytes(8)), ["4,294,967,296 values"]),
    "huge rows, tiny file": (idx_bytes(0x0E, (2**32 - 1, 2**32 - 1)), ["values", "at most 2,147,483,648"]),
    "declared larger than the file": (idx_bytes(0x08, (1000, 1000), bytes(10)), ["truncated", "1000000 data bytes"]),
    "header cut short": (idx_bytes(0x08, (3, 3))[:9], ["truncated", "header needs 12 bytes"]),
    "no IDX type": (b"\x00\x00\x01\x02" + bytes(8), ["bad magic number 00000102"]),
    "ndim 0": (b"\x00\x00\x08\x00", ["bad magic number 00000800"]),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", IDX_HEADERS)
def test_idx_header_edge_cases_are_data_errors(tmp_path, case, compress):
    content, words = IDX_HEADERS[case]
    path = tmp_path / ("edge-idx.gz" if compress else "edge-idx")
    path.write_bytes(gzip.compress(content) if compress else content)
    with peak_allocation() as peak, pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert peak[0] < 4 << 20  # nothing the header claims was allocated


def test_idx_header_is_read_without_the_data(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    write_idx(path, np.zeros((7, 3, 2), np.uint8))
    assert read_idx_header(path) == (np.dtype(np.uint8), (7, 3, 2))
    assert MAX_ELEMENTS == 2**31


def test_write_idx_refuses_what_read_idx_would_refuse(tmp_path):
    with pytest.raises(DataError, match="1 to 4 dimensions"):
        write_idx(tmp_path / "five", np.zeros((1, 1, 1, 1, 1), np.uint8))


def test_a_corrupt_deflate_stream_is_a_data_error(tmp_path):
    # Oracle: Python's gzip module says the damaged stream is corrupt deflate data (zlib.error, which
    # escaped as a traceback before the fix; most flips give BadGzipFile, which was caught).
    pixels = np.random.default_rng(0).integers(0, 256, 7840, dtype=np.uint8).tobytes()
    blob = gzip.compress(idx_bytes(0x08, (10, 28, 28), pixels))
    for at in range(10, len(blob) - 8):  # after the 10-byte gzip header: the deflate stream
        damaged = blob[:at] + bytes([blob[at] ^ 0xFF]) + blob[at + 1 :]
        try:
            gzip.decompress(damaged)
        except zlib.error:
            break
        except (OSError, EOFError):  # BadGzipFile: a damaged header or CRC, not what this test is about
            continue
    else:
        pytest.fail("no flip gave zlib.error")
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damaged)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is not a valid gzip file"):
        read_idx(path)


def test_a_gzip_whose_content_is_shorter_than_declared(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (10, 28, 28), bytes(700))))
    with pytest.raises(DataError, match=r"short.gz is truncated: shape \(10, 28, 28\) needs 7840 data bytes, the file has 700"):
        read_idx(path)


def test_a_gzip_that_claims_more_than_it_could_inflate_to(tmp_path):
    path = tmp_path / "claims.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (2**31 - 1,), bytes(100))))
    with peak_allocation() as peak, pytest.raises(DataError, match="more than a gzip file of"):
        read_idx(path)
    assert peak[0] < 4 << 20


def test_a_gzip_bomb_is_cut_off_at_the_declared_size(tmp_path):
    # 200 MiB of zeros after a header declaring 10 images: ~200 kB on disk. Before the fix the whole
    # stream was inflated into memory first (8.5 GB RSS for the 4 GB bomb).
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip_of_zeros(idx_bytes(0x08, (10, 28, 28)), 200))
    assert path.stat().st_size < 400_000
    started = time.perf_counter()
    with peak_allocation() as peak, pytest.raises(DataError, match="longer than its header says"):
        read_idx(path)
    assert peak[0] < 8 << 20 and time.perf_counter() - started < 2


def test_an_mnist_directory_with_a_bomb_or_an_oversized_header(tmp_path):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip_of_zeros(idx_bytes(0x08, (10, 28, 28)), 50))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is longer than its header says"):
        load_mnist(tmp_path)
    # labels and images that agree, but declare more images than any MNIST file has: refused from the header
    n = MNIST_MAX_IMAGES + 1
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip_of_zeros(idx_bytes(0x08, (n,)), 0))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip_of_zeros(idx_bytes(0x08, (n, 28, 28)), 0))
    with peak_allocation() as peak, pytest.raises(DataError, match=f"t10k-labels-idx1-ubyte.gz: .*{n:,} values; at most"):
        load_mnist(tmp_path)
    assert peak[0] < 4 << 20


@needs_fifo
def test_special_files_given_as_data_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "t10k-images-idx3-ubyte.gz"
    os.mkfifo(fifo)  # open() of a FIFO for reading waits for a writer: before the fix, forever
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    with within(5):
        for call in (lambda: read_idx(fifo), lambda: load_mnist(tmp_path), lambda: load_csv(fifo),
                     lambda: load_dataset(f"csv:{fifo}")):
            with pytest.raises(DataError, match="not a regular file"):
                call()
        with pytest.raises(ModelFileError, match="network2 file .*not a regular file"):
            nielsen2.load(fifo)
        with pytest.raises(DataError, match="/dev/zero: it is not a regular file"):
            load_csv("/dev/zero")
        with pytest.raises(DataError, match="is a directory"):
            read_idx(tmp_path)


# -- item 9 and 10: network2 JSON is checked before arrays are made -----------------------------------

def _json(tmp_path, text, name="net.json"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


NIELSEN2_FILES = {
    # name: (JSON text, words of the message)
    "sizes far beyond the file": ('{"sizes": [25000, 25000, 1], "weights": [[[0]]], "biases": [[[0]]], "cost": '
                                  '"QuadraticCost", "padding": "' + "x" * 60 + '"}', ["625,050,001 weights", "bytes"]),
    "cost a list": ('{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": ["x"]}', ["cost ['x']"]),
    "cost a dict": ('{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": {"a": 1}}', ["is not one of"]),
    "100,000-deep JSON": ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    "deep sizes": ('{"sizes": ' + "[" * 3000 + "]" * 3000 + ', "weights": [], "biases": [], "cost": "QuadraticCost"}',
                   ["nested too deeply"]),
    "sizes not integers": ('{"sizes": [2, "1"], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
                           ["sizes must be a list of at least two positive integers"]),
    "sizes with 0": ('{"sizes": [2, 0], "weights": [[]], "biases": [[]], "cost": "QuadraticCost"}', ["positive"]),
    "sizes a bool": ('{"sizes": [true, 1], "weights": [[[1]]], "biases": [[[0]]], "cost": "QuadraticCost"}', ["sizes"]),
    "one layer too few": ('{"sizes": [2, 3, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
                          ["weights must be a list of 2 arrays"]),
    "ragged row": ('{"sizes": [2, 2], "weights": [[[1, 2], [3]]], "biases": [[[0], [0]]], "cost": "QuadraticCost"}',
                   ["W must have shape (2, 2); row 1 holds 1 numbers"]),
    "string weight": ('{"sizes": [2, 1], "weights": [[["1", 2]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
                      ["not a number"]),
    "bool weight": ('{"sizes": [2, 1], "weights": [[[true, 2]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
                    ["not a number"]),
    "NaN weight": ('{"sizes": [2, 1], "weights": [[[NaN, 2]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
                   ["NaN or infinity"]),
    "400-digit weight": ('{"sizes": [2, 1], "weights": [[[1' + "0" * 400 + ', 2]]], "biases": [[[0]]], '
                         '"cost": "QuadraticCost"}', ["does not hold numbers"]),
    "bias a string": ('{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [["0"]], "cost": "QuadraticCost"}',
                      ["b must have shape (1, 1)"]),
    "not an object": ("[1, 2, 3]", ["must be a JSON object"]),
}


@pytest.mark.parametrize("case", NIELSEN2_FILES)
def test_network2_files_are_checked_before_arrays_are_made(tmp_path, case):
    text, words = NIELSEN2_FILES[case]
    path = _json(tmp_path, text)
    with peak_allocation() as peak, pytest.raises(ModelFileError) as caught:
        nielsen2.load(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert peak[0] < 16 * len(text) + (4 << 20)  # before the fix: 9.8 GB for the first case


def test_network2_values_beyond_float32_are_refused_in_float32(tmp_path):
    path = _json(tmp_path, '{"sizes": [2, 1], "weights": [[[1e300, 2]]], "biases": [[[0]]], "cost": "QuadraticCost"}')
    assert nielsen2.load(path).weights[0][0, 0] == 1e300  # float64 holds it
    with pytest.raises(ModelFileError, match=r"weights\[0\] holds 1e\+300, beyond the range of float32"):
        nielsen2.load(path, dtype="float32")


def test_network2_file_size_limit(tmp_path):
    net = nielsen2.Network([3, 2], seed=0)
    path = tmp_path / "net.json"
    net.save(path)
    assert nielsen2.load(path, max_bytes=path.stat().st_size).sizes == [3, 2]
    with pytest.raises(ModelFileError, match="larger than the 100 bytes"):
        nielsen2.load(path, max_bytes=100)


def test_network2_biases_as_plain_numbers_or_columns_load_alike(tmp_path):
    a = nielsen2.load(_json(tmp_path, '{"sizes": [1, 2], "weights": [[[1], [2]]], "biases": [[[0.5], [1.5]]], '
                                      '"cost": "CrossEntropyCost"}', "a.json"))
    b = nielsen2.load(_json(tmp_path, '{"sizes": [1, 2], "weights": [[[1], [2]]], "biases": [[0.5, 1.5]], '
                                      '"cost": "CrossEntropyCost"}', "b.json"))
    assert a.biases[0].tolist() == b.biases[0].tolist() == [[0.5], [1.5]]


# -- item 9 and 11: CSV labels and cells --------------------------------------------------------------

def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_huge_csv_label_is_refused_naming_the_limit(tmp_path):
    # before: a network with 1,000,000,001 outputs
    path = _csv(tmp_path, "a,b,label\n1,2,0\n3,1,1000000000\n2,2,1\n")
    with pytest.raises(DataError, match=r"data.csv, line 3, column 'label': label 1000000000 is too large for a "
                                        r"class: labels are classes 0 to 9,999 \(at most 10,000\)"):
        load_csv(path)
    with pytest.raises(DataError, match="at most 10,000"):
        load_dataset(f"csv:{path}")
    _, y, _ = load_csv(path, task="regression")
    assert y.ravel().tolist() == [0, 1e9, 1] and y.dtype == np.float32


def test_class_labels_must_be_few_and_dense(tmp_path):
    assert MAX_CLASSES == 10_000
    years = _csv(tmp_path, "x,label\n" + "".join(f"{i},{1990 + i}\n" for i in range(31)), "years.csv")
    with pytest.raises(DataError, match=r"31 distinct whole numbers up to 2,020, too sparse to be classes"):
        load_csv(years)
    # dense: every class 0..9998 occurs once except a few; 10 or fewer outputs need not be dense
    dense = _csv(tmp_path, "x,label\n" + "".join(f"{i},{i}\n" for i in range(0, 9999, 2)) + "0,9998\n", "dense.csv")
    assert load_csv(dense)[1].max() == 9998
    small = _csv(tmp_path, "x,label\n1,0\n2,7\n", "small.csv")
    assert load_csv(small)[1].tolist() == [0, 7]
    assert load_dataset(f"csv:{small}").n_classes == 8
    fractional = _csv(tmp_path, "x,label\n1,0.5\n2,7\n", "fractional.csv")
    assert load_csv(fractional)[1].shape == (2, 1)  # regression, as before
    with pytest.raises(DataError, match=r"line 2, column 'label': label 0.5 is not a class number"):
        load_csv(fractional, task="classification")
    with pytest.raises(DataError, match="task='clustering' must be"):
        load_csv(small, task="clustering")


@pytest.mark.parametrize("column, cell", [("b", "1e39"), ("label", "-1e39")])
def test_a_csv_cell_beyond_float32_is_named(tmp_path, column, cell):
    # before: a RuntimeWarning, then "X holds NaN or infinity" from fit, naming no cell
    text = "a,b,label\n1,2,0.5\n3,4,1.5\n"
    text = text.replace("4", cell) if column == "b" else text.replace("1.5", cell)
    path = _csv(tmp_path, text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        with pytest.raises(DataError, match=rf"data.csv, line 3, column '{column}': {re.escape(f'{float(cell):g}')} overflows "
                                            r"float32 \(its largest finite value is 3.403e\+38\)"):
            load_csv(path)
        X, y, _ = load_csv(path, dtype=np.float64)  # finite in float64
    assert float(cell) in (X[1, 1], y[1, 0])


# -- item 10: plain mistakes in fit's arguments are DeltapropErrors -----------------------------------

X4 = np.random.default_rng(0).standard_normal((12, 4))
LABELS = np.arange(12) % 3


class Recorder(Callback):
    pass


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(epochs=10**30), DeltapropError, ["epochs=", "at most 1,000,000,000"]),
    (dict(batch_size=10**30), DeltapropError, ["batch_size=", "at most 1,000,000,000"]),
    (dict(epochs=np.int64(2**62)), DeltapropError, ["epochs=", "at most"]),
    (dict(eta=10**400), DeltapropError, ["eta=", "positive number"]),
    (dict(eta=float("inf")), DeltapropError, ["eta=inf"]),
    (dict(lmbda=10**400), DeltapropError, ["lmbda=", ">= 0"]),
    (dict(max_grad_norm=10**400), DeltapropError, ["max_grad_norm="]),
    (dict(callbacks=5), TypeError, ["callbacks must be a list", "int"]),
    (dict(callbacks=[5]), TypeError, ["callbacks[0] is of type int"]),
    (dict(callbacks="abc"), TypeError, ["callbacks must be a list"]),
    (dict(callbacks=Recorder()), TypeError, ["callbacks=[Recorder(...)]"]),
    (dict(callbacks=[Recorder(), None]), TypeError, ["callbacks[1] is of type NoneType"]),
])
def test_fit_refuses_plain_mistakes_with_a_deltaprop_error(kwargs, error, words):
    net = deltaprop.Network([4, 5, 3], seed=0)
    before = [(layer.W.copy(), layer.b.copy()) for layer in net.layers]
    with pytest.raises(DeltapropError) as caught:  # before: OverflowError, TypeError, MemoryError
        net.fit(X4, LABELS, **kwargs)
    assert isinstance(caught.value, error) and isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))
    assert len(str(caught.value)) < 200
    for layer, (W, b) in zip(net.layers, before):
        assert np.array_equal(layer.W, W) and np.array_equal(layer.b, b)


def test_a_fraction_eta_is_the_float_it_stands_for():
    a, b = deltaprop.Network([4, 5, 3], seed=0), deltaprop.Network([4, 5, 3], seed=0)
    a.fit(X4, LABELS, epochs=2, eta=Fraction(1, 10), lmbda=Fraction(1, 100), seed=1)
    b.fit(X4, LABELS, epochs=2, eta=0.1, lmbda=0.01, seed=1)
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W, lb.W)


def test_a_callback_list_still_works():
    net = deltaprop.Network([4, 5, 3], seed=0)
    history = net.fit(X4, LABELS, epochs=3, callbacks=(EarlyStopping("cost", patience=5),))
    assert len(history.epoch) == 3


# -- item 11: values beyond the network's dtype are refused after the cast ----------------------------

def test_load_state_dict_refuses_values_beyond_float32():
    net = deltaprop.Network([3, 4, 2], seed=0)
    before = [(layer.W.copy(), layer.b.copy()) for layer in net.layers]
    state = {key: value.astype(np.float64) for key, value in net.state_dict().items()}
    state["2.bias"][1] = 1e300  # finite in float64: before the fix, loaded as inf
    with pytest.raises(NonFiniteError, match=r"state dict entry '2.bias' holds 1e\+300, beyond the range of float32"):
        net.load_state_dict(state)
    for layer, (W, b) in zip(net.layers, before):  # nothing was loaded, not even the entries before it
        assert np.array_equal(layer.W, W) and np.array_equal(layer.b, b)
    with pytest.raises(NonFiniteError, match="beyond the range of float32"):
        deltaprop.Network.from_state_dict(state, activation="sigmoid", dtype="float32")
    assert deltaprop.Network.from_state_dict(state, activation="sigmoid").layers[1].b[1] == 1e300  # float64 holds it
    net64 = deltaprop.Network([3, 4, 2], seed=0, dtype="float64")
    net64.load_state_dict(state)
    assert net64.layers[1].b[1] == 1e300


@pytest.mark.parametrize("method", ["fit", "predict", "evaluate", "cost"])
def test_inputs_beyond_float32_are_named_without_a_warning(method):
    X = np.zeros((5, 3))
    X[3, 2] = 1e39
    net = deltaprop.Network([3, 2], seed=0)
    args = (X,) if method == "predict" else (X, np.arange(5) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NonFiniteError, match=r"X holds a value that overflows float32: X\[3, 2\] is 1e\+39"):
            getattr(net, method)(*args)
        with pytest.raises(NonFiniteError, match=r"X holds NaN or infinity \(X\[1, 0\] is nan\)"):
            getattr(net, method)(np.where(np.arange(15).reshape(5, 3) == 3, np.nan, 0.0), *args[1:])
        with pytest.raises(NonFiniteError, match=r"Y holds a value that overflows float32: Y\[4, 1\]"):
            net.fit(np.zeros((5, 3)), np.where(np.arange(10).reshape(5, 2) == 9, 1e39, 0.5))
        with pytest.raises(DeltapropError, match=r"class label 1e\+300 \(at index 2\)"):
            net.fit(np.zeros((5, 3)), np.array([0, 1, 1e300, 0, 1]))
    assert np.isfinite(deltaprop.Network([3, 2], seed=0, dtype="float64").predict(X)).all()


# -- item 12: downloads are bounded in time, size and where they may be redirected -------------------

class _Misbehaving(http.server.BaseHTTPRequestHandler):
    """Serves ``files``; ``/slow/NAME`` trickles it, ``/stall/NAME`` stops after the headers,
    ``/endless`` streams zeros, ``/announce`` announces a huge length, ``/redirect?TARGET`` redirects."""

    files: ClassVar[dict] = {}
    sent: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def _send(self, body, length=None, pace=None):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            if pace is None:
                self.wfile.write(body)
                type(self).sent.append(len(body))
                return
            for i in range(0, len(body), 16):
                self.wfile.write(body[i : i + 16])
                self.wfile.flush()
                time.sleep(pace)
        except OSError:  # the client gave up: that is the point
            pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/slow/"):
            self._send(self.files[path[6:]], pace=0.05)
        elif path.startswith("/stall/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.files[path[7:]])))
            self.end_headers()
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(3)
        elif path == "/endless":
            self.send_response(200)
            self.end_headers()  # no length: streams until the client hangs up
            sent = 0
            try:
                while sent < 500 << 20:
                    self.wfile.write(bytes(1 << 16))
                    sent += 1 << 16
            except OSError:
                pass
            type(self).sent.append(sent)
        elif path == "/slowheaders":  # a byte of the headers every 0.1 s, each read well within the timeout
            try:
                self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                for _ in range(200):
                    self.wfile.write(b"X-Slow: 1\r\n"[:1])
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            self.close_connection = True
        elif path == "/announce":
            self._send(b"tiny", length=500 << 20)
        elif path[1:] in self.files:
            self._send(self.files[path[1:]])
        else:
            self.send_error(404)


@pytest.fixture
def mirror():
    """A misbehaving HTTP server on 127.0.0.1; yields ``(base_url, handler class)``."""
    handler = type("Handler", (_Misbehaving,), {"files": {}, "sent": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_a_slow_mirror_is_cut_off_at_the_deadline(tmp_path, mirror):
    base, handler = mirror
    handler.files["t.gz"] = bytes(range(256)) * 40  # 10 kB at 320 bytes a second: half a minute
    target = tmp_path / "cache" / "t.gz"
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"cannot download .*/slow/t.gz: it took longer than 0.5 s"):
        fetch(base + "slow/t.gz", target, _sha(handler.files["t.gz"]), timeout=5, deadline=0.5)
    assert time.perf_counter() - started < 2
    assert os.listdir(target.parent) == []  # no temporary left behind


def test_a_mirror_trickling_its_headers_is_cut_off_at_the_deadline(tmp_path, mirror):
    base, _ = mirror
    target = tmp_path / "cache" / "t.gz"
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"slowheaders: it took longer than 0.5 s"):
        fetch(base + "slowheaders", target, "0" * 64, timeout=5, deadline=0.5)
    assert time.perf_counter() - started < 2 and os.listdir(target.parent) == []


def test_a_stalled_mirror_times_out_per_read(tmp_path, mirror):
    base, handler = mirror
    handler.files["t.gz"] = bytes(1000)
    target = tmp_path / "cache" / "t.gz"
    with pytest.raises(DataError, match=r"stall/t.gz: no data for 0.3 s"):
        fetch(base + "stall/t.gz", target, _sha(bytes(1000)), timeout=0.3)
    assert os.listdir(target.parent) == []


def test_a_download_is_cut_off_at_the_known_size(tmp_path, mirror):
    base, handler = mirror
    target = tmp_path / "cache" / "t.gz"
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"sent more than the 100,000 bytes expected"):
        fetch(base + "endless", target, "0" * 64, size=100_000)
    assert time.perf_counter() - started < 5 and os.listdir(target.parent) == []
    with pytest.raises(DataError, match=r"announces 524,288,000 bytes, more than the 4,542"):
        fetch(base + "announce", target, "0" * 64, size=4542)
    # download_mnist knows the size of each MNIST file
    assert MNIST_SIZES["t10k-labels-idx1-ubyte.gz"] == 4542
    handler.files["t10k-labels-idx1-ubyte.gz"] = big = bytes(5000)
    with pytest.raises(DataError, match="more than the 4,542"):
        download_mnist(tmp_path / "cache", base_url=base, checksums={"t10k-labels-idx1-ubyte.gz": _sha(big)})
    assert os.listdir(tmp_path / "cache") == []


def test_redirects_go_to_https_or_to_the_same_host_only(tmp_path, mirror):
    base, handler = mirror
    handler.files["t.gz"] = data = b"the data"
    target = tmp_path / "cache" / "t.gz"
    port = base.rsplit(":", 1)[1].rstrip("/")
    for location in ["ftp://127.0.0.1/t.gz", "file:///etc/passwd", f"http://localhost:{port}/t.gz",
                     "gopher://127.0.0.1/t.gz"]:
        with pytest.raises(DataError, match="redirects to .*, which is refused"):
            fetch(base + "redirect?" + location, target, _sha(data))
    fetch(base + "redirect?" + base + "t.gz", target, _sha(data))  # http on the host the URL named
    assert target.read_bytes() == data
    # https anywhere is followed (checked on the handler: no TLS server here)
    import urllib.request

    checker = _CheckedRedirects(base + "x")
    request = urllib.request.Request(base + "x")
    assert checker.redirect_request(request, None, 302, "Found", {}, "https://example.org/t.gz").full_url == \
        "https://example.org/t.gz"


def test_a_download_clears_temporaries_of_dead_downloads(tmp_path, mirror):
    base, handler = mirror
    handler.files["t.gz"] = data = b"abc"
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / ".t.gz.999999999.abcdefgh.tmp"  # no such PID
    stale.write_bytes(b"half")
    fetch(base + "t.gz", cache / "t.gz", _sha(data))
    assert sorted(os.listdir(cache)) == ["t.gz"]


# -- item 13: memmaps of any dtype are read by position, a shrinking file is a DataError --------------

@pytest.fixture
def stored64(tmp_path):
    A = np.random.default_rng(0).standard_normal((600, 7))
    path = tmp_path / "x64.npy"
    np.save(path, A)
    return A, path


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_float64_memmap_trains_a_float32_network_as_its_cast_would(stored64, shuffle):
    # Oracle: the same fit on the in-memory float32 cast (each batch is cast exactly as the whole would be).
    A, path = stored64
    y = np.random.default_rng(1).integers(0, 3, len(A))
    in_memory, mapped = deltaprop.Network([7, 5, 3], seed=0), deltaprop.Network([7, 5, 3], seed=0)
    h1 = in_memory.fit(A.astype(np.float32), y, epochs=2, batch_size=32, seed=1, shuffle=shuffle,
                       validation_data=(A.astype(np.float32), y))
    h2 = mapped.fit(np.load(path, mmap_mode="r"), y, epochs=2, batch_size=32, seed=1, shuffle=shuffle,
                    validation_data=(np.load(path, mmap_mode="r"), y))
    for a, b in zip(in_memory.layers, mapped.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
    assert h1.history == h2.history


def test_a_uint8_memmap_and_memmapped_targets(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (300, 6), dtype=np.uint8)
    targets = np.random.default_rng(3).random((300, 2)).astype(np.float32)
    np.save(tmp_path / "u8.npy", images)
    np.save(tmp_path / "t.npy", targets)
    a, b = deltaprop.Network([6, 4, 2], seed=0), deltaprop.Network([6, 4, 2], seed=0)
    a.fit(images.astype(np.float32), targets, epochs=1, batch_size=16, seed=0)
    b.fit(np.load(tmp_path / "u8.npy", mmap_mode="r"), np.load(tmp_path / "t.npy", mmap_mode="r"), epochs=1,
          batch_size=16, seed=0)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)


def test_a_float64_memmap_beyond_float32_is_named(tmp_path):
    A = np.zeros((400, 3))
    A[321, 1] = -1e39
    np.save(tmp_path / "big.npy", A)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NonFiniteError, match=r"overflows float32: X\[321, 1\] is -1e\+39"):
            deltaprop.Network([3, 2]).fit(np.load(tmp_path / "big.npy", mmap_mode="r"), np.zeros(400, int))


TRUNCATE_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import deltaprop
    from deltaprop.train.callbacks import Callback

    path, dtype = sys.argv[1], sys.argv[2]
    np.save(path, np.random.default_rng(0).standard_normal((4000, 16)).astype(dtype))

    class Truncate(Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 20:
                os.truncate(path, 4096)  # the rows still to come are gone

    net = deltaprop.Network([16, 8, 2], seed=0)
    try:
        net.fit(np.load(path, mmap_mode="r"), np.arange(4000) % 2, epochs=2, batch_size=10, callbacks=[Truncate()])
    except deltaprop.DataError as error:
        print("DataError:", error)
    print("alive")
""")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_file_truncated_while_training_is_a_data_error_not_sigbus(tmp_path, dtype):
    # In a subprocess: before the fix the float64 case died of SIGBUS (reading the truncated mapping).
    path = tmp_path / "shrinking.npy"
    result = subprocess.run([sys.executable, "-c", TRUNCATE_SCRIPT, str(path), dtype], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    first, alive = result.stdout.splitlines()
    assert first.startswith(f"DataError: {path} shrank while training read it: it now has 4,096 bytes") and alive == "alive"


def test_a_file_already_shorter_than_its_memmap_is_refused(stored64):
    _, path = stored64
    x = np.load(path, mmap_mode="r")
    os.truncate(path, 2000)
    with pytest.raises(DataError, match=r"x64.npy is shorter \(2,000 bytes\) than its array of shape \(600, 7\)"):
        deltaprop.Network([7, 3]).fit(x, np.zeros(600, int))
    del x


def test_a_memmap_of_a_deleted_file_is_read_through_its_mapping(stored64):
    # the name is gone, the mapping is not: training reads it as any array (the oracle: the in-memory cast)
    A, path = stored64
    x = np.load(path, mmap_mode="r")
    os.unlink(path)
    y = np.arange(len(A)) % 3
    a, b = deltaprop.Network([7, 3], seed=0), deltaprop.Network([7, 3], seed=0)
    a.fit(A.astype(np.float32), y, epochs=1, seed=0)
    b.fit(x, y, epochs=1, seed=0)
    np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
