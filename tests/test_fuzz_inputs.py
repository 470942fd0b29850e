"""Untrusted data files: damaged and crafted IDX files, gzip bombs, network2 JSON and CSV variants.

Oracle, for every variant: loading raises the loader's one error type (DataError, ModelFileError
for network2 files) with a one-line message naming the file, exactly when an independent reader
written here from the format's definition (struct, gzip, json, csv) says the file is invalid, and
otherwise returns what that reader reads. Never another exception, never a warning, never more than
2 s (hypothesis' deadline) and never an allocation beyond a small multiple of the file (tracemalloc)
whatever its header declares. The gzip bombs and the command-line cases run in subprocesses whose
peak RSS (``os.wait4``) may exceed a trivial run's by at most 200 MB.
"""

import contextlib
import csv
import gzip
import io
import itertools
import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deltaprop import DataError, ModelFileError
from deltaprop.compat import nielsen2
from deltaprop.data import load_csv, read_idx, write_idx
from deltaprop.data.csvfile import MAX_CLASSES
from deltaprop.data.idx import MAX_DIMENSIONS, MAX_ELEMENTS

FUZZ = settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
EXTRA_RSS = 200 << 20
SECONDS = 2.0

_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(type_code, shape, payload=b""):
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


from test_edges_data import gzip_of_zeros  # the one bomb builder, beside its own test
from test_fuzz_files import damaged  # the one damage strategy of the fuzz tests


@contextlib.contextmanager
def bounded(path, budget):
    """Check the block allocates at most ``budget`` bytes (tracemalloc's peak) and warns nothing."""
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= budget, f"peak {peak} bytes for {path} ({os.path.getsize(path)} bytes)"


def _one_line_naming(error, path):
    message = str(error)
    assert str(path) in message and "\n" not in message and len(message) > len(str(path)) + 5, message


# -- IDX: an independent reader, from the format's definition ---------------------------------------------

def reference_idx(blob):
    """The array an IDX file (gzip or raw) holds, or None if it is invalid or declares what deltaprop
    refuses (no value, more than MAX_DIMENSIONS dimensions or MAX_ELEMENTS values)."""
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error):
            return None
    if len(blob) < 4 or blob[0] or blob[1] or blob[2] not in _TYPES or not 1 <= blob[3] <= MAX_DIMENSIONS:
        return None
    ndim = blob[3]
    if len(blob) < 4 + 4 * ndim:
        return None
    shape = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    count, dtype = math.prod(shape), np.dtype(_TYPES[blob[2]])
    if count == 0 or count > MAX_ELEMENTS or len(blob) - 4 - 4 * ndim != count * dtype.itemsize:
        return None
    return np.frombuffer(blob, dtype, offset=4 + 4 * ndim).reshape(shape)


def check_idx(path, blob):
    path.write_bytes(blob)
    expected = reference_idx(blob)
    budget = (2 << 20) + 4 * len(blob) + (2 * 1032 * len(blob) if blob[:2] == b"\x1f\x8b" else 0)
    try:
        with bounded(path, budget):
            result = read_idx(path)
    except DataError as error:
        _one_line_naming(error, path)
        assert expected is None, f"refused a valid file: {error}"
        return
    assert expected is not None, f"read an invalid file as {result.shape} {result.dtype}"
    assert result.dtype == expected.dtype.newbyteorder("=") and np.array_equal(result, expected, equal_nan=True)


SEEDS = {
    "u1": np.arange(60, dtype=np.uint8).reshape(3, 4, 5),
    "i2": np.array([-300, 0, 7, 32767, -32768, 1], dtype=np.int16),
    "f8": np.array([[1.5, -2.0, np.pi], [0.0, 1e300, -1e-300]]),
    "i4": np.arange(16, dtype=np.int32).reshape(2, 2, 2, 2) - 8,
}


@pytest.fixture(scope="module")
def idx_seeds(tmp_path_factory):
    directory = tmp_path_factory.mktemp("idx")
    seeds = {}
    for name, array in SEEDS.items():
        for suffix in ("", ".gz"):
            write_idx(directory / f"{name}{suffix}", array)
            seeds[name + suffix] = (directory / f"{name}{suffix}").read_bytes()
    return seeds


def test_damaged_idx_files(idx_seeds, tmp_path):
    @FUZZ
    @given(data=st.data())
    def run(data):
        name = data.draw(st.sampled_from(sorted(idx_seeds)))
        check_idx(tmp_path / "damaged", data.draw(damaged(idx_seeds[name])))

    run()


SIZES = st.one_of(st.integers(0, 6), st.sampled_from([2**16, 2**31, 2**32 - 1, 10000, 60000, 28]),
                  st.integers(0, 2**32 - 1))


@st.composite
def crafted_idx(draw):
    """A header with any type, dimension count and sizes; data of the declared length, or not; gzip or not."""
    if draw(st.booleans()):  # nearly valid: a known type, 1 to 4 small sizes, the right dimension count
        code = draw(st.sampled_from(sorted(_TYPES)))
        shape = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4))
        ndim = len(shape)
    else:  # anything
        code = draw(st.one_of(st.sampled_from(sorted(_TYPES)), st.integers(0, 255)))
        shape = draw(st.lists(SIZES, min_size=0, max_size=draw(st.sampled_from([4, 6, 255]))))
        ndim = draw(st.one_of(st.just(len(shape)), st.integers(0, 255)))
    head = bytes([0, 0, code, ndim]) + struct.pack(f">{len(shape)}I", *shape)
    declared = math.prod(shape) * np.dtype(_TYPES.get(code, "u1")).itemsize
    if declared <= 4096 and draw(st.booleans()):
        payload = draw(st.binary(min_size=declared, max_size=declared))
    else:
        payload = draw(st.binary(max_size=300))
    blob = head + payload
    return gzip.compress(blob, mtime=0) if draw(st.booleans()) else blob


def test_crafted_idx_headers(tmp_path):
    @FUZZ
    @given(blob=crafted_idx())
    def run(blob):
        check_idx(tmp_path / "crafted", blob)

    run()


# -- network2 JSON ------------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children,
                                                                                      max_size=3), max_leaves=12)


def _is_number(value):
    return type(value) in (int, float)


def reference_network2(text):
    """``(sizes, weights, biases)`` as float64 arrays from network2 JSON, or None if it is not a network2 file."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not {"sizes", "weights", "biases", "cost"} <= set(data):
        return None
    if data["cost"] not in ("QuadraticCost", "CrossEntropyCost") if isinstance(data["cost"], str) else True:
        return None
    sizes = data["sizes"]
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n >= 1 for n in sizes)):
        return None
    pairs = list(itertools.pairwise(sizes))
    if not (isinstance(data["weights"], list) and isinstance(data["biases"], list)
            and len(data["weights"]) == len(data["biases"]) == len(pairs)):
        return None
    weights, biases = [], []
    for (n_in, n_out), W, b in zip(pairs, data["weights"], data["biases"]):
        if not (isinstance(W, list) and len(W) == n_out
                and all(isinstance(row, list) and len(row) == n_in and all(map(_is_number, row)) for row in W)):
            return None
        if not (isinstance(b, list) and len(b) == n_out and all(
                _is_number(v) or (isinstance(v, list) and len(v) == 1 and _is_number(v[0])) for v in b)):
            return None
        try:
            W, b = np.array(W, dtype=float).reshape(n_out, n_in), np.array(b, dtype=float).reshape(n_out, 1)
        except OverflowError:
            return None
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            return None
        weights.append(W)
        biases.append(b)
    return sizes, weights, biases


@pytest.fixture(scope="module")
def network2_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("n2") / "net.json"
    nielsen2.Network([3, 4, 2], seed=0).save(path)
    return path.read_text()


@st.composite
def network2_variant(draw, text):
    kind = draw(st.sampled_from(["number", "replace", "sizes", "damage", "nest"]))
    if kind == "damage":
        return draw(damaged(text.encode())).decode("utf-8", "replace")
    data = json.loads(text)
    if kind == "number":  # one weight or bias replaced by another number (1e300 and 10**400 included)
        key = draw(st.sampled_from(["weights", "biases"]))
        layer = data[key][draw(st.integers(0, 1))]
        row = layer[draw(st.integers(0, len(layer) - 1))]
        row[draw(st.integers(0, len(row) - 1))] = draw(st.one_of(st.floats(-1e308, 1e308), st.integers(-10, 10),
                                                                 st.sampled_from([10**400, 1e300, -0.0])))
        return json.dumps(data)
    if kind == "replace":
        key = draw(st.sampled_from(["sizes", "weights", "biases", "cost"]))
        data[key] = draw(JSON)
    elif kind == "sizes":  # sizes that lie, up to huge products
        data["sizes"] = draw(st.lists(st.one_of(st.integers(-2, 5), st.integers(1, 2**40)), max_size=5))
    else:  # a weight replaced by deep nesting, or by a row of another length
        depth = draw(st.integers(1, 5000))
        data["weights"][0][0] = draw(st.sampled_from([json.loads("[" * min(depth, 50) + "]" * min(depth, 50)),
                                                      [0.5] * draw(st.integers(0, 6)), "0.5", None, True]))
        if depth > 900:
            return json.dumps(data).replace('"cost"', '"deep": ' + "[" * depth + "]" * depth + ', "cost"')
    return json.dumps(data)


def test_network2_json_variants(network2_text, tmp_path):
    path = tmp_path / "variant.json"

    @FUZZ
    @given(data=st.data())
    def run(data):
        text = data.draw(network2_variant(network2_text))
        path.write_text(text, encoding="utf-8")
        expected = reference_network2(text)
        try:
            with bounded(path, (2 << 20) + 64 * len(text.encode())):
                net = nielsen2.load(path)
        except ModelFileError as error:
            _one_line_naming(error, path)
            assert expected is None, f"refused a valid file: {error}"
            return
        assert expected is not None, "read an invalid file"
        sizes, weights, biases = expected
        assert net.sizes == sizes
        for a, b in zip(net.weights + net.biases, weights + biases):
            assert np.array_equal(a, b)

    run()


# -- CSV ----------------------------------------------------------------------------------------------------

CELLS = st.one_of(st.sampled_from(["0", "1", "2", "7", "9999", "10000", "1000000000", "-1", "0.5", "1e39", "-1e39",
                                   "1e400", "3.4e38", "nan", "inf", "", "x", " 3 ", "1e-50", "12345678901234567890"]),
                  st.integers(-3, 40).map(str), st.floats(-1e6, 1e6, allow_nan=False).map(repr))
HEADERS = st.sampled_from([["a", "b", "label"], ["label", "x"], ["a", "b"], ["a", "label", "label"], ["label"],
                           ["a", "b", "c", "label"]])


def reference_csv(text):
    """``(X, y)`` as load_csv should return them (float32 features; int labels or a float32 column), or None."""
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text, newline=""))]
    rows = [row for row in rows if any(row)]
    if len(rows) < 2:
        return None
    header, body = rows[0], rows[1:]
    if any(_float(cell) is not None for cell in header) or header.count("label") != 1 or len(header) < 2:
        return None
    if any(len(row) != len(header) for row in body):
        return None
    values = np.array([[_float(cell) for cell in row] for row in body], dtype=object)
    if any(v is None or not math.isfinite(v) for v in values.ravel()):
        return None
    values = values.astype(np.float64)
    with np.errstate(over="ignore"):
        cast = values.astype(np.float32)
    if not np.isfinite(cast).all():
        return None
    j = header.index("label")
    X, y = np.delete(cast, j, axis=1), values[:, j]
    if np.all(y >= 0) and np.all(y == np.round(y)):  # classes, if few and dense
        top, distinct = int(y.max()), len(np.unique(y))
        if top >= MAX_CLASSES or top + 1 > max(10, 2 * distinct):
            return None
        return X, y.astype(np.int64)
    return X, cast[:, j : j + 1]


def _float(cell):
    try:
        return float(cell)
    except ValueError:
        return None


CLEAN_CELLS = st.one_of(st.integers(0, 9).map(str), st.floats(-100, 100, allow_nan=False).map(repr))


@st.composite
def csv_text(draw):
    clean = draw(st.booleans())  # mostly good numbers, one suspicious cell at most
    header = ["a", "b", "label"] if clean else draw(HEADERS)
    n = draw(st.integers(0, 8))
    rows = []
    for _ in range(n):
        width = len(header) if clean or draw(st.integers(0, 9)) else draw(st.integers(1, 5))  # ragged now and then
        rows.append([draw(CLEAN_CELLS if clean else CELLS) for _ in range(width)])
    if clean and rows and draw(st.booleans()):
        rows[draw(st.integers(0, n - 1))][draw(st.integers(0, 2))] = draw(CELLS)
    return "\n".join(",".join(row) for row in [header, *rows]) + "\n"


def test_csv_variants(tmp_path):
    path = tmp_path / "variant.csv"

    @FUZZ
    @given(text=csv_text())
    def run(text):
        path.write_text(text)
        expected = reference_csv(text)
        try:
            with bounded(path, (2 << 20) + 200 * len(text)):
                X, y, _ = load_csv(path)
        except DataError as error:
            _one_line_naming(error, path)
            assert expected is None, f"refused a valid file: {error}"
            return
        assert expected is not None, f"read an invalid file: y={y.ravel().tolist()}"
        assert X.dtype == np.float32 and np.array_equal(X, expected[0])
        assert y.dtype == expected[1].dtype and np.array_equal(y, expected[1])

    run()


# -- gzip bombs and huge declared shapes, in subprocesses: peak RSS and time ---------------------------------

CASE_SCRIPT = textwrap.dedent("""
    import sys, time
    kind, path = sys.argv[1], sys.argv[2]
    import numpy as np
    import deltaprop
    from deltaprop.compat import nielsen2
    from deltaprop.data import load_csv, load_mnist, read_idx
    loader = {"idx": read_idx, "mnist": load_mnist, "csv": load_csv, "network2": nielsen2.load,
              "nothing": lambda path: None}[kind]
    started = time.perf_counter()
    try:
        loader(path)
        outcome = "loaded"
    except deltaprop.DeltapropError as error:
        outcome = type(error).__name__ + ": " + str(error)
    print(f"{time.perf_counter() - started:.3f}")
    print(outcome)
""")


def run_case(kind, path):
    """``(seconds, outcome, peak RSS in bytes)`` of one loader call in a fresh process.

    The child is reaped with ``os.wait4``, which gives its own peak RSS.
    """
    process = subprocess.Popen([sys.executable, "-c", CASE_SCRIPT, kind, str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        out = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, (kind, path, out)
    seconds, outcome = out.splitlines()
    return float(seconds), outcome, usage.ru_maxrss * 1024


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """``{name: (loader kind, path, words of the error)}``: small files that claim or inflate to a lot."""
    d = tmp_path_factory.mktemp("bombs")
    cases = {}

    def mnist_dir(name, images, labels=None):
        directory = d / name
        directory.mkdir()
        (directory / "t10k-images-idx3-ubyte.gz").write_bytes(images)
        if labels is None:
            write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
        else:
            (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(labels)
        return directory

    ten_images = idx_bytes(0x08, (10, 28, 28))
    cases["10 images declared, 200 MB of zeros"] = ("mnist", mnist_dir("bomb", gzip_of_zeros(ten_images, 200)),
                                                    "longer than its header says")
    cases["4 GB-style bomb: zeros from the first byte"] = ("mnist", mnist_dir("zeros", gzip_of_zeros(b"", 200)),
                                                           "bad magic number 00000000")
    cases["labels bomb"] = ("mnist", mnist_dir("labels", gzip.compress(idx_bytes(0x08, (10, 28, 28), bytes(7840))),
                                               gzip_of_zeros(idx_bytes(0x08, (10,)), 200)), "longer than its header")
    # as many images as an MNIST file may have (78 MB of pixels, really in the stream), then more
    many = idx_bytes(0x08, (100_000, 28, 28))
    cases["100,000 images declared, 200 MB of zeros"] = (
        "mnist", mnist_dir("many", gzip_of_zeros(many, 200), gzip.compress(idx_bytes(0x08, (100_000,), bytes(100_000)))),
        "t10k-images-idx3-ubyte.gz is longer than its header says")
    cases["101,000 images declared"] = (
        "mnist", mnist_dir("toomany", gzip_of_zeros(idx_bytes(0x08, (101_000, 28, 28)), 100),
                           gzip.compress(idx_bytes(0x08, (101_000,), bytes(101_000)))), "at most 100,000 are read")
    cases["2**31 values declared, 200 MB of zeros"] = ("idx", d / "declared.gz", "more than a gzip file of")
    (d / "declared.gz").write_bytes(gzip_of_zeros(idx_bytes(0x08, (2**31,)), 200))
    cases["100 MB declared, 200 MB of zeros"] = ("idx", d / "hundred.gz", "longer than its header says")
    (d / "hundred.gz").write_bytes(gzip_of_zeros(idx_bytes(0x08, (100 << 20,)), 200))
    cases["product wraps to zero"] = ("idx", d / "wraps", "values; at most")
    (d / "wraps").write_bytes(idx_bytes(0x0E, (65536, 65536, 65536, 65536)))
    cases["network2 sizes [25000, 25000, 1]"] = ("network2", d / "net.json", "625,050,001 weights")
    (d / "net.json").write_text('{"sizes": [25000, 25000, 1], "weights": [[[0]], [[0]]], "biases": [[0], [0]], '
                                '"cost": "QuadraticCost"}')
    cases["network2 100,000-deep"] = ("network2", d / "deep.json", "nested too deeply")
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    cases["CSV label 1000000000"] = ("csv", d / "huge.csv", "at most 10,000")
    (d / "huge.csv").write_text("a,label\n" + "".join(f"{i},{i % 3}\n" for i in range(1000)) + "1,1000000000\n")
    return cases


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs wait4 (POSIX)")
def test_bombs_and_huge_declarations_stay_within_time_and_memory(bombs):
    _, _, baseline = run_case("nothing", "-")
    for name, (kind, path, words) in bombs.items():
        assert os.path.getsize(path) < 1 << 20, name  # all small on disk
        seconds, outcome, peak = run_case(kind, path)
        assert outcome.split(":")[0] in ("DataError", "ModelFileError") and str(path) in outcome, (name, outcome)
        assert words in outcome, (name, outcome)
        assert seconds < SECONDS, (name, seconds)
        assert peak - baseline < EXTRA_RSS, (name, (peak - baseline) >> 20)


# -- the command line: one line, exit status 2 ---------------------------------------------------------------

def _cli(*args, cwd):
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=60, check=False)
    return result, time.perf_counter() - started


@pytest.mark.slow
def test_the_command_line_refuses_hostile_data_in_one_line(tmp_path, bombs):
    directory = tmp_path / "corrupt"
    directory.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, 7840, dtype=np.uint8).tobytes()
    blob = gzip.compress(idx_bytes(0x08, (10, 28, 28), pixels))
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(blob[:10] + bytes([blob[10] ^ 0xFF]) + blob[11:])
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(0x08, (0, 28, 28)))
    write_idx(empty / "t10k-labels-idx1-ubyte", np.zeros(0, np.uint8))
    (tmp_path / "cell.csv").write_text("a,b,label\n1,2,0\n3,1e39,1\n4,5,1\n")
    cases = [
        (["--data", f"mnist:{bombs['10 images declared, 200 MB of zeros'][1]}"], "longer than its header says"),
        (["--data", f"mnist:{directory}"], "is not a valid gzip file"),
        (["--data", f"mnist:{empty}"], "holds no data"),
        (["--data", f"csv:{bombs['CSV label 1000000000'][1]}"], "label 1000000000 is too large for a class"),
        (["--data", "csv:cell.csv"], "line 3, column 'b': 1e+39 overflows float32"),
        (["--data", "csv:/dev/zero"], "not a regular file"),
    ]
    if hasattr(os, "mkfifo"):
        fifo_dir = tmp_path / "fifo"
        fifo_dir.mkdir()
        os.mkfifo(fifo_dir / "t10k-images-idx3-ubyte.gz")
        write_idx(fifo_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
        cases.append((["--data", f"mnist:{fifo_dir}"], "not a regular file"))
    for args, words in cases:
        result, seconds = _cli("train", *args, "--epochs", "1", "--out", "out", "-q", cwd=tmp_path)
        assert result.returncode == 2, (args, result.returncode, result.stderr[-2000:])
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert words in lines[0], (args, lines[0])
        assert seconds < 20, (args, seconds)  # the interpreter's start included; the loaders' own time is above
