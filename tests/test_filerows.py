"""Memmapped training data read with positioned reads: same rows, same training, no leaked files."""

import os

import numpy as np
import pytest

import deltaprop
from deltaprop.core.rows import open_rows


@pytest.fixture
def stored(tmp_path):
    A = np.random.default_rng(0).standard_normal((500, 7)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, A)
    return A, path


def test_rows_read_from_the_file_equal_the_array(stored):
    # Oracle: NumPy's own indexing of the in-memory array.
    A, path = stored
    with open_rows(np.load(path, mmap_mode="r")) as rows:
        out = np.empty((4, 7), np.float32)
        index = np.array([499, 0, 250, 3])
        np.testing.assert_array_equal(rows.read(index, out), A[index])
        np.testing.assert_array_equal(rows.read(slice(100, 104), out), A[100:104])
        np.testing.assert_array_equal(np.concatenate(list(b.copy() for b in rows.blocks(64))), A)


def test_only_memmaps_of_whole_rows_are_read_by_position(stored):
    A, path = stored
    x = np.load(path, mmap_mode="r")
    assert open_rows(A) is None and open_rows(x.T) is None and open_rows(x[::2]) is None
    assert open_rows(x[:, 1:3]) is None
    reader = open_rows(x)
    assert reader is not None
    reader.close()


def test_a_block_of_rows_of_a_memmap_is_read_from_its_own_offset(stored):
    # Oracle: NumPy's indexing of the in-memory array; a block of a block is still at the right place.
    A, path = stored
    x = np.load(path, mmap_mode="r")
    with open_rows(x[123:400]) as rows, open_rows(x[123:400][7:]) as inner:
        out = np.empty((3, 7), np.float32)
        np.testing.assert_array_equal(rows.read(np.array([0, 276, 5]), out), A[123:400][[0, 276, 5]])
        np.testing.assert_array_equal(inner.read(slice(0, 3), out), A[130:133])
        assert len(rows) == 277
        np.testing.assert_array_equal(np.concatenate([b.copy() for b in rows.blocks(50, 10, 120)]), A[133:243])


@pytest.mark.parametrize("shuffle", [True, False])
def test_training_from_a_memmap_equals_training_from_memory(stored, shuffle):
    # Oracle: the same fit on the in-memory array; no file descriptor is left open.
    A, path = stored
    y = np.random.default_rng(1).integers(0, 3, len(A))
    in_memory, mapped = deltaprop.Network([7, 5, 3], seed=0), deltaprop.Network([7, 5, 3], seed=0)
    in_memory.fit(A, y, epochs=2, batch_size=32, seed=1, shuffle=shuffle)
    open_files = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    mapped.fit(np.load(path, mmap_mode="r"), y, epochs=2, batch_size=32, seed=1, shuffle=shuffle)
    for a, b in zip(in_memory.layers, mapped.layers):
        np.testing.assert_array_equal(a.W, b.W)
    if open_files is not None:
        assert len(os.listdir("/proc/self/fd")) == open_files


def test_nan_in_a_memmapped_file_is_found(tmp_path):
    A = np.zeros((300, 4), np.float32)
    A[217, 2] = np.inf
    np.save(tmp_path / "bad.npy", A)
    with pytest.raises(deltaprop.NonFiniteError, match="X holds NaN or infinity"):
        deltaprop.Network([4, 2]).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"), np.zeros(300, int))
