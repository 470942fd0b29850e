"""Untrusted files: thousands of damaged model files and checkpoints, and only ModelFileError comes out.

Oracle, for every variant: loading either raises ModelFileError whose message names the file,
or succeeds and returns exactly the weights of the intact file (a damage the format can shrug
off, e.g. a flipped bit in a zip timestamp); never another exception, never more than a second
(hypothesis' deadline), and never an allocation beyond a small multiple of the file's size
(tracemalloc's peak), whatever sizes the damaged headers declare.
"""

import io
import json
import os
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deltaprop
from deltaprop.errors import ModelFileError
from deltaprop.files.archive import MAX_METADATA_BYTES
from deltaprop.files.checkpoint import load_checkpoint, save_checkpoint
from deltaprop.files.model import read_metadata
from deltaprop.train.checkpoint import Checkpoint
from deltaprop.train.optim import SGD, Adam

FUZZ = settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
PEAK_FACTOR, PEAK_SLACK = 4, 512 * 1024  # a valid load peaks at ~3x the file (bytes, setter copy, dtype copy)


def _train_state(optimizer):
    net = deltaprop.Network([4, 5, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=3)
    X, y = np.random.default_rng(0).random((12, 4)), np.arange(12) % 3
    history = net.fit(X, y, epochs=2, batch_size=5, optimizer=optimizer, seed=1)
    settings_ = {"n": 12, "batch_size": 5, "epochs": 4, "lmbda": 0.0, "shuffle": True, "max_grad_norm": None}
    return Checkpoint(net, optimizer, np.random.default_rng(9), 2, 1, 5, 1.25, history, settings_, {"data": "x"})


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The intact files (bytes) and what loading them gives."""
    directory = tmp_path_factory.mktemp("originals")
    model_path, sgd_path, adam_path = directory / "model.npz", directory / "sgd.npz", directory / "adam.npz"
    state = _train_state(SGD(0.5, momentum=0.9))
    state.network.save(model_path, metadata={"data": "digits"})
    save_checkpoint(sgd_path, state)
    save_checkpoint(adam_path, _train_state(Adam(0.01)))
    return {
        "model": (model_path.read_bytes(), _weights(deltaprop.load(model_path))),
        "sgd": (sgd_path.read_bytes(), _weights(load_checkpoint(sgd_path).network)),
        "adam": (adam_path.read_bytes(), _weights(load_checkpoint(adam_path).network)),
    }


def _weights(net):
    return [(layer.W.copy(), layer.b.copy()) for layer in net.layers]


LOADERS = {
    "model": [deltaprop.load, read_metadata],
    "sgd": [load_checkpoint],
    "adam": [load_checkpoint],
}


def _stored_weights(blob):
    """The weights an archive we built holds, read by zipfile and NumPy (trusted here: we wrote it)."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        arrays = {name[:-4]: np.load(io.BytesIO(archive.read(name))) for name in archive.namelist()}
    return [(arrays[f"W{i}"], arrays[f"b{i}"]) for i in range(sum(name.startswith("W") for name in arrays))]


def _check_load(path, blob, original, loader):
    """Load ``blob`` from ``path``: ModelFileError naming the file, or the weights ``original``.

    ``original=None``: the weights that the (valid) archive holds, read independently.
    """
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        result = loader(path)
    except ModelFileError as error:
        assert str(path) in str(error) and len(str(error)) > len(str(path)) + 5
        result = None
    except Exception as error:  # the test's point: nothing but ModelFileError may escape
        raise AssertionError(f"{type(error).__name__} escaped: {error}") from error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= PEAK_FACTOR * len(blob) + PEAK_SLACK, f"peak {peak} bytes for a {len(blob)}-byte file"
    network = getattr(result, "network", result)
    if isinstance(network, deltaprop.Network):
        original = original if original is not None else _stored_weights(blob)
        for (W, b), layer in zip(original, network.layers, strict=True):
            assert np.array_equal(W, layer.W) and np.array_equal(b, layer.b)


# -- raw damage: truncation, bit flips, spliced and inserted bytes ----------------------------------------

@st.composite
def damaged(draw, blob):
    """``blob`` truncated, with bits flipped, a chunk spliced over or inserted, or bytes appended."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "insert", "append"]))
    if kind == "truncate":
        return blob[: draw(st.integers(0, len(blob) - 1))]
    if kind == "append":
        return blob + draw(st.binary(min_size=1, max_size=64))
    data = bytearray(blob)
    if kind == "flip":
        for position in draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=8)):
            data[position] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    at = draw(st.integers(0, len(blob)))
    chunk = draw(st.binary(min_size=1, max_size=64))
    if kind == "splice":
        data[at : at + len(chunk)] = chunk
        return bytes(data[: len(blob)])
    return bytes(data[:at] + chunk + data[at:])


@pytest.mark.parametrize("which", ["model", "sgd", "adam"])
def test_damaged_bytes_give_model_file_errors(originals, tmp_path, which):
    blob, original = originals[which]

    @FUZZ
    @given(data=st.data())
    def run(data):
        variant = data.draw(damaged(blob))
        for loader in LOADERS[which]:
            _check_load(tmp_path / "damaged.npz", variant, original, loader)

    run()


# -- structured damage: rebuilt archives whose headers lie ---------------------------------------------

def _members(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(members, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _npy(header: str, payload: bytes, declared_length=None, version=(1, 0)) -> bytes:
    encoded = header.encode("latin1")
    length = len(encoded) if declared_length is None else declared_length
    size = struct.pack("<H" if version == (1, 0) else "<I", length % (1 << (16 if version == (1, 0) else 32)))
    return b"\x93NUMPY" + bytes(version) + size + encoded + payload


def _npy_of(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


SHAPES = st.one_of(
    st.tuples(st.integers(-5, 10), st.integers(-5, 10)),
    st.tuples(st.integers(0, 2**62), st.integers(0, 2**62)),
    st.lists(st.integers(0, 2**31), max_size=4).map(tuple),
    st.just(()),
)
DESCRS = st.sampled_from(["<f4", "<f8", ">f4", ">f8", "|O", "<i8", "|u1", "|b1", "<c8", "<f2", "|V8", "<U4",
                          "[('a', '<f4')]", "('<f4', (3,))", "('<f4', (10000000000, 10000000000))", "'<f4'", "??"])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                      max_size=4), max_leaves=12)


@st.composite
def lying(draw, blob):
    members = _members(blob)
    name = draw(st.sampled_from(sorted(members)))
    kind = draw(st.sampled_from(["header", "dtype", "payload", "metadata", "sizes", "drop", "extra"]))
    header_end = members[name].index(b"\n") + 1
    payload = members[name][header_end:]
    if kind == "header":  # any declared shape, dtype and order; data as it was, or a drawn amount
        shape, descr, fortran = draw(SHAPES), draw(DESCRS), draw(st.booleans())
        header = f"{{'descr': {descr if descr[0] in '[(' or descr.startswith(chr(39)) else repr(descr)}, " \
                 f"'fortran_order': {fortran}, 'shape': {shape!r}, }}"
        header = header.ljust(((len(header) + 10) // 64 + 1) * 64 - 10) + "\n"
        declared = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1)))
        version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (9, 9)]))
        body = payload if draw(st.booleans()) else draw(st.binary(max_size=256))
        members[name] = _npy(header, body, declared, version)
    elif kind == "dtype":  # the same values in another dtype, or as pickled objects
        array = np.load(io.BytesIO(members[name]), allow_pickle=False)
        target = draw(st.sampled_from(["float64", "float32", "float16", ">f4", "int64", "uint8", "bool", "complex64",
                                       "object"]))
        members[name] = _npy_of(array.astype(target), allow_pickle=True)
    elif kind == "payload":  # right header, wrong amount of data
        members[name] = members[name][:header_end] + draw(st.binary(max_size=512))
    elif kind in ("metadata", "sizes"):  # the JSON metadata with one entry replaced
        meta = json.loads(bytes(np.load(io.BytesIO(members["metadata.npy"]))).decode())
        key = draw(st.sampled_from(sorted(meta))) if kind == "metadata" else "sizes"
        meta[key] = draw(JSON) if kind == "metadata" else draw(st.lists(st.integers(-1, 2**40), max_size=5))
        members["metadata.npy"] = _npy_of(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    elif kind == "drop":
        del members[name]
    else:  # an extra member, maybe a duplicate name or not an array at all
        extra = draw(st.sampled_from([name, "evil.npy", "readme.txt", "../../escape.npy"]))
        members[extra] = _npy_of(np.zeros(3, np.float32))
        if extra == name:  # zipfile keeps both entries: the archive then lists the name twice
            buffer = io.BytesIO(_zip(members))
            with zipfile.ZipFile(buffer, "a") as archive, pytest.warns(UserWarning):
                archive.writestr(name, members[name])
            return buffer.getvalue()
    return _zip(members)


@pytest.mark.parametrize("which", ["model", "sgd", "adam"])
def test_archives_with_lying_headers_give_model_file_errors(originals, tmp_path, which):
    blob = originals[which][0]

    @FUZZ
    @given(data=st.data())
    def run(data):
        variant = data.draw(lying(blob))
        for loader in LOADERS[which]:
            _check_load(tmp_path / "lying.npz", variant, None, loader)

    run()


@given(size=st.integers(0, 2**32 - 1), field=st.sampled_from([20, 24]), entry=st.integers(0, 20))
@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_zip_directory_sizes_that_lie(originals, tmp_path, size, field, entry):
    # compress_size (offset 20) or file_size (offset 24) of a central-directory entry set to anything
    blob, original = originals["sgd"]
    starts = [i for i in range(len(blob)) if blob.startswith(b"PK\x01\x02", i)]
    at = starts[entry % len(starts)] + field
    variant = blob[:at] + struct.pack("<I", size) + blob[at + 4 :]
    _check_load(tmp_path / "sizes.npz", variant, original, load_checkpoint)


# -- specific hostile files ------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_before_it_expands(originals, tmp_path):
    # 64 MB of zeros deflates to ~64 kB; a compressed member is refused before any of it is inflated.
    members = _members(originals["model"][0])
    members["W0.npy"] = _npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4096, 4096), }".ljust(117) + "\n",
                             bytes(64 << 20))
    blob = _zip(members, compression=zipfile.ZIP_DEFLATED)
    assert len(blob) < 1 << 20
    path = tmp_path / "bomb.npz"
    _check_load(path, blob, None, deltaprop.load)
    with pytest.raises(ModelFileError, match="compressed"):
        deltaprop.load(path)


def test_a_pickle_inside_the_archive_is_never_unpickled(originals, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    members = _members(originals["sgd"][0])
    members["optimizer.velocity_w.0.npy"] = _npy_of(np.array([Exploit()], dtype=object), allow_pickle=True)
    path = tmp_path / "evil.npz"
    path.write_bytes(_zip(members))
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        load_checkpoint(path)
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelFileError, match="pickle"):
        load_checkpoint(raw)
    assert not marker.exists()


def test_oversized_metadata_is_refused_before_parsing(originals, tmp_path):
    members = _members(originals["model"][0])
    members["metadata.npy"] = _npy_of(np.frombuffer(b"[" * (MAX_METADATA_BYTES + 1), np.uint8))
    path = tmp_path / "big.npz"
    path.write_bytes(_zip(members))
    with pytest.raises(ModelFileError, match="metadata of shape"):
        deltaprop.load(path)
    # Deep nesting within the limit: a parse error, not a RecursionError.
    members["metadata.npy"] = _npy_of(np.frombuffer(b"[" * 60000, np.uint8))
    path.write_bytes(_zip(members))
    with pytest.raises(ModelFileError, match="unreadable metadata"):
        deltaprop.load(path)


def test_declared_sizes_larger_than_the_file_are_refused_before_reading(originals, tmp_path):
    members = _members(originals["model"][0])
    meta = json.loads(bytes(np.load(io.BytesIO(members["metadata.npy"]))).decode())
    meta["sizes"] = [100000, 100000, 3]  # 40 GB of float32 weights, in a 2 kB file
    members["metadata.npy"] = _npy_of(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    path = tmp_path / "huge.npz"
    path.write_bytes(_zip(members))
    _check_load(path, path.read_bytes(), None, deltaprop.load)
    with pytest.raises(ModelFileError, match="arrays"):
        deltaprop.load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)  # opening a FIFO for reading normally blocks until a writer comes
    with pytest.raises(ModelFileError, match="not a regular file"):
        deltaprop.load(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_checkpoint("/dev/zero")


def test_newer_format_versions_are_refused(originals, tmp_path):
    for which, loader in (("model", deltaprop.load), ("sgd", load_checkpoint)):
        members = _members(originals[which][0])
        meta = json.loads(bytes(np.load(io.BytesIO(members["metadata.npy"]))).decode())
        meta["version"] = 2
        members["metadata.npy"] = _npy_of(np.frombuffer(json.dumps(meta).encode(), np.uint8))
        path = tmp_path / f"{which}.npz"
        path.write_bytes(_zip(members))
        with pytest.raises(ModelFileError, match="version 2.*upgrade"):
            loader(path)


def test_intact_files_still_load(originals, tmp_path):
    for which in originals:
        blob, original = originals[which]
        for loader in LOADERS[which]:
            _check_load(tmp_path / "intact.npz", blob, original, loader)
