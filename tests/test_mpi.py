"""Data-parallel training under a real ``mpiexec``: K = 2 and 3 ranks (oversubscribed on 2 cores).

Skipped, with the reason, when mpi4py or mpiexec is missing (``pip install "deltaprop[mpi]"``
brings both). The same code path runs on a communicator of threads in ``tests/test_parallel.py``.

Oracles: a single-process fit (or ``deltaprop train``) on the same data, seed and global batch
size, whose weights the ranks must equal to float rounding (1e-12 relative in float64, 1e-5 in
float32); the checkpoint loader; MPICH's report of the process it saw die; the clock.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop
from deltaprop.files.checkpoint import load_checkpoint
from deltaprop.mpi import LAUNCHER_VARIABLES

pytestmark = pytest.mark.slow



def _has_mpi4py() -> bool:
    try:
        import mpi4py  # noqa: F401 -- the package only: MPI itself is initialised by mpi4py.MPI
    except ImportError:
        return False
    return True


MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
needs_mpi = pytest.mark.skipif(not _has_mpi4py() or MPIEXEC is None,
                               reason="needs mpi4py and mpiexec: pip install 'deltaprop[mpi]'")
# One BLAS thread per rank: K ranks share 2 cores. PYTHONPATH and the rest pass through.
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def mpiexec(k, *args, cwd, timeout=60, **popen):
    command = [MPIEXEC, "-n", str(k), sys.executable, *map(str, args)]
    if popen:
        return subprocess.Popen(command, cwd=cwd, env=ENV, text=True, **popen)
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def weights(net):
    return [p for layer in net.layers for p in (layer.W, layer.b)]


def assert_close(got, expected, rtol):
    for a, b in zip(got, expected):
        assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(b)), np.max(np.abs(a - b)) / np.max(np.abs(b))


# -- the same weights as one process ----------------------------------------------------------------

WORKER = r"""
import sys
import numpy as np
from mpi4py import MPI
import deltaprop

comm = MPI.COMM_WORLD
out = sys.argv[1]
rng = np.random.default_rng(0)
X, y = rng.standard_normal((61, 6)), rng.integers(0, 3, 61)
OPTIMIZERS = {"sgd": lambda: deltaprop.SGD(0.3), "momentum": lambda: deltaprop.SGD(0.1, momentum=0.9),
              "nesterov": lambda: deltaprop.SGD(0.1, momentum=0.9, nesterov=True), "adam": lambda: deltaprop.Adam(0.01)}
arrays = {}
for dtype in ("float64", "float32"):
    for name, make in OPTIMIZERS.items():
        if dtype == "float32" and name != "adam":
            continue
        net = deltaprop.Network([6, 9, 7, 3], activation="tanh", output_activation="softmax", cost="log_likelihood",
                                seed=0, dtype=dtype)
        history = net.fit(X.astype(dtype), y, epochs=3, batch_size=10, lmbda=0.5, seed=4, optimizer=make(),
                          validation_data=(X[:23], y[:23]), comm=comm)
        for i, layer in enumerate(net.layers):
            arrays[f"{dtype}.{name}.W{i}"], arrays[f"{dtype}.{name}.b{i}"] = layer.W, layer.b
        arrays[f"{dtype}.{name}.cost"] = np.array(history.history["cost"])
np.savez(f"{out}/rank{comm.Get_rank()}.npz", **arrays)
"""


@needs_mpi
@pytest.mark.parametrize("k", [2, 3])
def test_k_ranks_train_the_weights_of_one_process(tmp_path, k):
    # 61 examples in batches of 10: shares 5+5 (4+3+3 on 3 ranks) and a last batch of one example;
    # L2, validation; plain SGD, momentum, Nesterov and Adam in float64, Adam in float32.
    (tmp_path / "worker.py").write_text(WORKER)
    done = mpiexec(k, "worker.py", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(k)]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((61, 6)), rng.integers(0, 3, 61)
    optimizers = {"sgd": deltaprop.SGD(0.3), "momentum": deltaprop.SGD(0.1, momentum=0.9),
                  "nesterov": deltaprop.SGD(0.1, momentum=0.9, nesterov=True), "adam": deltaprop.Adam(0.01)}
    runs = [("float64", name) for name in optimizers] + [("float32", "adam")]
    for dtype, name in runs:
        net = deltaprop.Network([6, 9, 7, 3], activation="tanh", output_activation="softmax", cost="log_likelihood",
                                seed=0, dtype=dtype)
        optimizer = deltaprop.Adam(0.01) if name == "adam" else optimizers[name]
        history = net.fit(X.astype(dtype), y, epochs=3, batch_size=10, lmbda=0.5, seed=4, optimizer=optimizer,
                          validation_data=(X[:23], y[:23]))
        rtol = 1e-12 if dtype == "float64" else 1e-5
        for arrays in ranks:
            got = [arrays[f"{dtype}.{name}.{p}{i}"] for i in range(3) for p in "Wb"]
            assert_close(got, weights(net), rtol)
            np.testing.assert_allclose(arrays[f"{dtype}.{name}.cost"], history.history["cost"], rtol=rtol)
            assert all(np.array_equal(arrays[key], ranks[0][key]) for key in arrays)  # the same on every rank


# -- the command line ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def npy_data(tmp_path_factory):
    """Small (300 rows) and long (12,000 rows: some tenths of a second an epoch on 2 ranks) classification sets."""
    d = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(0)
    for name, n in (("small", 300), ("long", 12_000)):
        X = rng.standard_normal((n, 8))
        y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(np.int64) + (X[:, 2] > 0.5)
        np.save(d / f"{name}_X32.npy", X.astype(np.float32))
        np.save(d / f"{name}_X64.npy", X)
        np.save(d / f"{name}_y.npy", y)
    return d


def spec(d, name, dtype="float64"):
    return f"npy:{d / f'{name}_X{dtype[-2:]}.npy'},{d / f'{name}_y.npy'}"


def trained_alone(d, name, dtype, epochs, lmbda=0.0):
    """What ``deltaprop train --data npy:... --layers 8,12,3`` trains in one process: the same command
    without ``--mpi`` (its preset: optimizer, standardisation, validation split, as the CLI has them)."""
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, *[a for a in TRAIN if a != "--mpi"], "--data", spec(d, name, dtype), "--dtype", dtype,
                               "--epochs", str(epochs), "--lmbda", str(lmbda), "--out", os.path.join(out, "run")],
                              capture_output=True, text=True, env={**os.environ})
        assert done.returncode == 0, done.stderr
        return deltaprop.load(os.path.join(out, "run", "model.npz"))


TRAIN = ["-m", "deltaprop", "train", "--mpi", "--layers", "8,12,3", "--no-progress"]


@needs_mpi
def test_the_command_under_mpiexec_writes_one_loadable_model_and_one_history(npy_data, tmp_path):
    done = mpiexec(2, *TRAIN, "--data", spec(npy_data, "small", "float32"), "--epochs", "3", "--out", "run",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("training")]) == 1  # rank 0 alone prints
    assert "data-parallel on 2 MPI ranks" in lines[0] and len([line for line in lines if "wrote" in line]) == 1
    # nothing but, from rank 0 alone, the health warning a single process gives too (3 epochs are few)
    assert [line for line in done.stderr.splitlines() if "warning: the network did not learn" not in line] == []
    assert done.stderr.count("warning") <= 1
    assert sorted(os.listdir(tmp_path / "run")) == ["history.csv", "learning_curve.png", "model.npz"]
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4  # header and three epochs
    assert_close(weights(deltaprop.load(tmp_path / "run" / "model.npz")),
                 weights(trained_alone(npy_data, "small", "float32", 3)), 1e-5)


@needs_mpi
def test_a_run_resumes_on_another_number_of_ranks_with_the_weights_of_an_uninterrupted_run(npy_data, tmp_path):
    data = ["--data", spec(npy_data, "small"), "--dtype", "float64", "--lmbda", "0.3"]
    first = mpiexec(2, *TRAIN, *data, "--epochs", "2", "--checkpoint", "run.ckpt", "--out", "a", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # a path recorded in the checkpoint is read only when named again (data consent): --data
    resumed = mpiexec(3, *TRAIN, "--resume", "run.ckpt", *data[:2], "--epochs", "4", "--out", "b", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_close(weights(deltaprop.load(tmp_path / "b" / "model.npz")),
                 weights(trained_alone(npy_data, "small", "float64", 4, lmbda=0.3)), 1e-12)
    assert load_checkpoint(tmp_path / "run.ckpt").epoch == 4


def _start_long_run(npy_data, tmp_path, *extra):
    process = mpiexec(2, *TRAIN, "--data", spec(npy_data, "long"), "--dtype", "float64", "--epochs", "40",
                      "--out", "run", *extra, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = process.stdout.readline()
        pids = [int(pid) for pid in re.search(r"\(pids ([\d ]+) for ranks", first).group(1).split()]
        assert re.match(r"epoch +1/40", process.stdout.readline()), first  # training is under way
    except BaseException:
        process.kill()
        process.wait()
        raise
    time.sleep(0.2)  # into epoch 2
    return process, pids


@needs_mpi
def test_a_rank_killed_mid_epoch_ends_the_job_within_seconds(npy_data, tmp_path):
    process, pids = _start_long_run(npy_data, tmp_path)
    killed = time.monotonic()
    os.kill(pids[1], signal.SIGKILL)
    try:
        process.wait(timeout=20)
    finally:
        process.kill()
    elapsed = time.monotonic() - killed
    output = process.stdout.read() + process.stderr.read()
    assert process.returncode != 0 and elapsed < 10, (elapsed, output)
    # MPICH names the pid that died; the first line of the run named the rank of that pid
    assert f"PID {pids[1]}" in output and "BAD TERMINATION" in output, output


@needs_mpi
def test_ctrl_c_on_mpiexec_leaves_a_resumable_checkpoint(npy_data, tmp_path):
    # Oracle: an uninterrupted single-process run. mpiexec forwards SIGINT to every rank; the ranks
    # agree (in the step's Allreduce) to stop after the same step, and rank 0 saves the checkpoint.
    process, _ = _start_long_run(npy_data, tmp_path)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    stderr = process.stderr.read()
    assert process.returncode == 130, stderr
    state = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert f"interrupted at epoch {state.epoch + 1} by SIGINT, after {state.batch} of its batches" in stderr, stderr
    assert "deltaprop train --resume run/checkpoint.npz" in stderr and state.epoch >= 1, stderr
    epochs = state.epoch + 1  # finish the interrupted epoch
    resumed = mpiexec(2, *TRAIN, "--resume", "run/checkpoint.npz", "--data", spec(npy_data, "long"), "--epochs", epochs, "--out", "resumed", "-q",
                      cwd=tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert_close(weights(deltaprop.load(tmp_path / "resumed" / "model.npz")),
                 weights(trained_alone(npy_data, "long", "float64", epochs)), 1e-12)


FAILING_WORKER = r"""
import numpy as np
from mpi4py import MPI
import deltaprop

comm = MPI.COMM_WORLD


class Fails(deltaprop.Callback):
    def on_batch_end(self, batch, logs=None):
        if batch == 3:
            raise RuntimeError("the disk is full")


rng = np.random.default_rng(0)
X, y = rng.standard_normal((2000, 6)), rng.integers(0, 3, 2000)
deltaprop.Network([6, 5, 3]).fit(X, y, epochs=50, callbacks=[Fails()] if comm.Get_rank() == 1 else [], comm=comm)
"""


@needs_mpi
def test_an_exception_on_one_rank_aborts_the_job_naming_the_rank(tmp_path):
    (tmp_path / "worker.py").write_text(FAILING_WORKER)
    started = time.monotonic()
    done = mpiexec(3, "worker.py", cwd=tmp_path, timeout=30)
    assert done.returncode == 1 and time.monotonic() - started < 20
    assert "deltaprop: rank 1 of 3 failed; stopping every rank (MPI_Abort)" in done.stderr, done.stderr
    assert "RuntimeError: the disk is full" in done.stderr


@needs_mpi
def test_mpi_outside_mpiexec_is_one_line_and_exit_2(tmp_path):
    env = {key: value for key, value in ENV.items() if key not in LAUNCHER_VARIABLES}
    done = subprocess.run([sys.executable, *TRAIN, "--out", "run"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["deltaprop train: error: --mpi: this process was not started by an MPI "
                                        "launcher; run it as mpiexec -n K deltaprop train --mpi ... (or srun on a "
                                        "Slurm cluster)"]


def test_mpi_without_mpi4py_is_one_line_and_exit_2(tmp_path):
    # Runs with or without mpi4py: a module of that name that fails to import stands in for its absence.
    hidden = tmp_path / "hide"
    hidden.mkdir()
    (hidden / "mpi4py.py").write_text("raise ImportError('No module named mpi4py')\n")
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(hidden), *filter(None, [os.environ.get("PYTHONPATH")])]),
               PMI_RANK="0")
    done = subprocess.run([sys.executable, *TRAIN, "--out", "run"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and not (tmp_path / "run").exists()
    assert done.stderr.splitlines() == ["deltaprop train: error: --mpi needs mpi4py and an MPI library, which are "
                                        "not installed: pip install 'deltaprop[mpi]' (or build mpi4py against your "
                                        "cluster's MPI)"]
