"""Saved models (deltaprop.files.model): exact round trips, and every kind of bad file refused with a clear error."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import deltaprop
from deltaprop import ACTIVATIONS, COSTS, ModelFileError, Network
from deltaprop.atomic import atomic_write
from deltaprop.files.history import load_history, save_history
from deltaprop.files.model import FORMAT_VERSION, load, read_metadata, save

DTYPES = ["float32", "float64"]


def _outputs_for(cost):
    """Output activations each cost accepts (the network refuses the others)."""
    allowed = COSTS[cost].outputs
    return list(ACTIVATIONS) if allowed is None else list(allowed)


ROUND_TRIPS = [
    (hidden, output, cost, dtype)
    for cost in COSTS
    for output in _outputs_for(cost)
    for hidden in ACTIVATIONS
    if hidden != "softmax" or output == "softmax"  # softmax hidden layers only once, to keep the list short
    for dtype in DTYPES
]


@pytest.mark.parametrize("hidden, output, cost, dtype", ROUND_TRIPS)
def test_round_trip_reproduces_predictions_exactly(tmp_path, hidden, output, cost, dtype):
    # Oracle: the original network itself; a lossless format gives bit-identical outputs.
    net = Network([3, 4, 2], activation=hidden, output_activation=output, cost=cost, seed=7, dtype=dtype)
    path = tmp_path / "model.npz"
    net.save(path)
    back = deltaprop.files.model.load(path)
    X = np.random.default_rng(0).standard_normal((6, 3))
    assert back.dtype == net.dtype
    assert [layer.activation.name for layer in back.layers] == [layer.activation.name for layer in net.layers]
    assert back.cost_function.name == cost
    for mine, theirs in zip(net.layers, back.layers):
        assert mine.W.dtype == theirs.W.dtype and np.array_equal(mine.W, theirs.W)
        assert np.array_equal(mine.b, theirs.b)
    assert np.array_equal(back.feedforward(X), net.feedforward(X))
    assert np.array_equal(back.predict(X), net.predict(X))


def test_metadata_records_architecture_and_extra(tmp_path):
    net = Network([5, 3, 3, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=1)
    save(net, tmp_path / "m.npz", metadata={"data": "digits", "epochs": 3})
    meta = read_metadata(tmp_path / "m.npz")
    assert meta["format"] == "deltaprop-model" and meta["version"] == FORMAT_VERSION
    assert meta["sizes"] == [5, 3, 3, 2]
    assert meta["activations"] == ["tanh", "tanh", "softmax"]
    assert meta["cost"] == "log_likelihood" and meta["dtype"] == "float32"
    assert meta["extra"] == {"data": "digits", "epochs": 3}


def test_save_writes_exactly_the_given_path(tmp_path):
    # np.savez would append ".npz" to a bare name; deltaprop writes the name it is given.
    save(Network([2, 2], seed=0), tmp_path / "model.bin")
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    assert load(tmp_path / "model.bin").sizes == [2, 2]


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(deltaprop.DeltapropError, match="JSON"):
        save(Network([2, 2], seed=0), tmp_path / "m.npz", metadata={"f": object()})
    assert not os.listdir(tmp_path)  # nothing written, not even a temporary file


# -- bad files -------------------------------------------------------------------------------------

def _write_npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _meta_bytes(**overrides):
    meta = {"format": "deltaprop-model", "version": 1, "sizes": [2, 3], "activations": ["sigmoid"],
            "cost": "quadratic", "dtype": "float32", "extra": {}}
    meta.update(overrides)
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


GOOD_W, GOOD_B = np.zeros((3, 2), np.float32), np.zeros(3, np.float32)


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    # Oracle: a pickle whose loading would create a file; refusing it must not run it.
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelFileError, match=r"model\.npz.*pickle"):
        load(path)
    assert not marker.exists()


def test_an_npz_holding_an_object_array_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    _write_npz(path, metadata=_meta_bytes(), W0=np.array([{"a": 1}], dtype=object), b0=GOOD_B)
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        load(path)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"W0": GOOD_W, "b0": GOOD_B}, "without deltaprop metadata"),
        ({"metadata": np.frombuffer(b"{not json", np.uint8), "W0": GOOD_W, "b0": GOOD_B}, "unreadable metadata"),
        ({"metadata": _meta_bytes(format="other"), "W0": GOOD_W, "b0": GOOD_B}, "not a deltaprop model"),
        ({"metadata": _meta_bytes(version=99), "W0": GOOD_W, "b0": GOOD_B}, "version 99"),
        ({"metadata": _meta_bytes(activations=["swish"]), "W0": GOOD_W, "b0": GOOD_B}, "activation 'swish'"),
        ({"metadata": _meta_bytes(cost="hinge"), "W0": GOOD_W, "b0": GOOD_B}, "cost 'hinge'"),
        ({"metadata": _meta_bytes(dtype="int8"), "W0": GOOD_W, "b0": GOOD_B}, "dtype 'int8'"),
        ({"metadata": _meta_bytes(), "W0": GOOD_W}, "missing arrays"),
        ({"metadata": _meta_bytes(), "W0": np.zeros((2, 3), np.float32), "b0": GOOD_B}, "shape"),
        ({"metadata": _meta_bytes(), "W0": GOOD_W.astype(np.float64), "b0": GOOD_B}, "dtype float64"),
        ({"metadata": _meta_bytes(), "W0": np.full((3, 2), np.nan, np.float32), "b0": GOOD_B}, "NaN"),
        ({"metadata": _meta_bytes(cost="cross_entropy", activations=["identity"]), "W0": GOOD_W, "b0": GOOD_B},
         "invalid network"),
    ],
)
def test_foreign_or_inconsistent_npz_files_are_refused(tmp_path, arrays, message):
    path = tmp_path / "model.npz"
    _write_npz(path, **arrays)
    with pytest.raises(ModelFileError, match=message) as caught:
        load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"hello, world", "not a deltaprop model"),
        (b"\x93NUMPY" + b"\x00" * 20, "single .npy array"),
    ],
)
def test_files_that_are_not_npz_archives_are_refused(tmp_path, content, message):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_truncated_and_corrupted_archives_are_refused(tmp_path):
    good = tmp_path / "good.npz"
    save(Network([4, 8, 3], seed=0), good)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="truncated.npz"):
        load(truncated)
    # Flip bytes inside the stored weights: the zip's CRC-32 check catches it.
    with zipfile.ZipFile(good) as archive:
        offset = archive.getinfo("W0.npy").header_offset + 200
    corrupted = tmp_path / "corrupted.npz"
    corrupted.write_bytes(raw[:offset] + bytes(b ^ 0xFF for b in raw[offset : offset + 8]) + raw[offset + 8 :])
    with pytest.raises(ModelFileError, match="corrupted.npz"):
        load(corrupted)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nope.npz")
    with pytest.raises(ModelFileError, match="is a directory"):
        load(tmp_path)


# -- atomic writes ---------------------------------------------------------------------------------

def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"previous content")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half a file")
        raise RuntimeError("disk full, say")
    assert target.read_bytes() == b"previous content"
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_replaces_an_earlier_model(tmp_path):
    path = tmp_path / "model.npz"
    save(Network([2, 2], seed=0), path)
    save(Network([2, 5, 2], seed=0), path)
    assert load(path).sizes == [2, 5, 2]
    assert os.listdir(tmp_path) == ["model.npz"]


# -- histories -------------------------------------------------------------------------------------

def test_history_round_trip(tmp_path):
    # Oracle: the values written; repr(float) round-trips exactly.
    history = {"cost": [0.5, 0.25, 0.125], "val_accuracy": [0.1, 0.7, 0.9], "grad_norm[0]": [1e-7, 2e-7, 3e-7]}
    save_history(history, tmp_path / "history.csv")
    back = load_history(tmp_path / "history.csv")
    assert back == {"epoch": [1.0, 2.0, 3.0], **history}


def test_history_from_fit(tmp_path):
    X, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2
    history = Network([3, 4, 2], seed=0).fit(X, y, epochs=3, validation_data=(X, y))
    save_history(history, tmp_path / "h.csv")
    back = load_history(tmp_path / "h.csv")
    assert back["val_accuracy"] == pytest.approx(history.history["val_accuracy"], abs=0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "header row"),
        ("cost\n1\n", "header row"),
        ("epoch,cost\n", "no epochs"),
        ("epoch,cost\n1,0.5\n2\n", "line 3: 1 cells"),
        ("epoch,cost\n1,abc\n", "line 2, column 'cost'"),
    ],
)
def test_bad_history_files(tmp_path, text, message):
    path = tmp_path / "history.csv"
    path.write_text(text)
    with pytest.raises(deltaprop.DeltapropError, match=message):
        load_history(path)


def test_history_file_that_does_not_exist(tmp_path):
    with pytest.raises(deltaprop.DeltapropError, match="cannot read history file"):
        load_history(tmp_path / "none.csv")

