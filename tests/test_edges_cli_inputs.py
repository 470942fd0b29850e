"""Issue 11, items 8-11 on the command line: hostile files, unbounded inputs, silent NaN.

Every case runs the real command in a subprocess (``python -m deltaprop``) and must end in one line
on standard error, exit status 2 and no traceback, within seconds, and leave the files it was given
as they were. Oracles: the secret a crafted model points at never appears in the output; a
declared ``.npy`` size is compared with the file's own size; float32's largest value
(``np.finfo``) decides what a cast turns into infinity; the memory and work estimates are checked
against sums worked by hand.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import deltaprop
from deltaprop.errors import DeltapropError
from deltaprop.files.archive import write_archive
from deltaprop.files.model import save

TIMEOUT = 60


def run(*args, cwd, env=None, timeout=TIMEOUT, **options):
    """``python -m deltaprop ARGS`` in ``cwd``: the CompletedProcess (text)."""
    environment = None if env is None else {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "deltaprop", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=environment, **options)


def one_line(result) -> str:
    """The single stderr line of a failed command (exit 2, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def crafted_model(path, extra, sizes=(2, 4, 2)):
    """A valid model whose recorded ``extra`` metadata is whatever the test says (JSON), as a stranger might write."""
    save(deltaprop.Network(list(sizes), seed=0), path, metadata={"data": "xor"})
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "metadata"}
        metadata = json.loads(archive["metadata"].tobytes())
    metadata["extra"] = extra
    write_archive(path, metadata, arrays)
    return path


# -- item 8: a model file names the data to read ------------------------------------------------------

@pytest.fixture
def secret(tmp_path):
    """A file that must never be shown: it stands for /etc/shadow."""
    path = tmp_path / "shadow"
    path.write_text("root:SECRET-HASH-1234:19000:0:99999:7:::\n")
    return path


@pytest.mark.parametrize("recorded", ["csv:{secret}", "csv:{secret}:label", "mnist:{directory}"])
def test_evaluate_reads_no_path_a_model_file_names(tmp_path, secret, recorded):
    (tmp_path / "mnist").mkdir()
    spec = recorded.format(secret=secret, directory=tmp_path / "mnist")
    crafted_model(tmp_path / "m.npz", {"data": spec})
    line = one_line(run("evaluate", "m.npz", cwd=tmp_path))
    assert "--data" in line and "m.npz" in line
    assert "SECRET" not in line


@pytest.mark.parametrize("extra, fragment", [
    ([1, 2, 3], "not a JSON object"),
    ("csv:x", "not a JSON object"),
    ({"data": 5}, "not a name"),
    ({"data": ["digits"]}, "not a name"),
    ({"data": "imagenet"}, "unknown data source"),
    ({"data": "digits:/etc"}, "unknown data source"),
    ({"data": "x" * 10_000}, "unknown data source"),
    ({}, "--data is needed"),
], ids=["list", "string", "number", "list of names", "unknown", "digits with a path", "long", "none"])
def test_evaluate_checks_the_recorded_metadata_like_user_input(tmp_path, extra, fragment):
    crafted_model(tmp_path / "m.npz", extra)
    line = one_line(run("evaluate", "m.npz", cwd=tmp_path))
    assert fragment in line and len(line) < 500


def test_evaluate_uses_a_recorded_builtin_source_and_an_explicit_data_option(tmp_path):
    crafted_model(tmp_path / "xor.npz", {"data": "xor"})
    result = run("evaluate", "xor.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "data xor (test, 100 examples)" in result.stdout
    crafted_model(tmp_path / "odd.npz", [1, 2, 3])  # unusable metadata, but --data says what to use
    result = run("evaluate", "odd.npz", "--data", "xor", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_evaluate_refuses_a_fifo_as_its_csv(tmp_path):
    crafted_model(tmp_path / "m.npz", {"data": "xor"})
    os.mkfifo(tmp_path / "data.csv")  # reading it whole would wait for a writer forever
    line = one_line(run("evaluate", "m.npz", "--data", "csv:data.csv", cwd=tmp_path, timeout=20))
    assert "data.csv is a FIFO" in line


# -- item 9: sizes that would exhaust memory or time ----------------------------------------------------

def _layers(n, width=5):
    return ",".join([str(width)] * n)


@pytest.mark.parametrize("args, fragment", [
    (["gradcheck", "--layers", _layers(3000)], "DELTAPROP_MAX_WORK"),
    (["gradcheck", "--layers", _layers(3000), "--max-entries", "1"], "above the limit of 1e+10"),
    (["gradcheck", "--layers", "100,100,10", "--examples", "100"], "--max-entries"),
    (["gradcheck", "--examples", str(10**12)], "is not a positive integer up to 1,000,000,000"),
    (["gradcheck", "--examples", str(10**9)], "DELTAPROP_MAX_MEMORY"),
    (["explain", "--layers", "2,100000,2"], "explain --layers 2,100000,2"),
    (["explain", "--layers", f"2,{10**10},2"], "each up to 1,000,000,000"),
], ids=["3000 layers", "3000 layers one entry", "suggests max-entries", "10**12 examples", "10**9 examples",
        "explain wide", "explain huge"])
def test_checks_that_would_run_for_hours_are_refused_up_front(tmp_path, args, fragment):
    start = time.monotonic()
    line = one_line(run(*args, cwd=tmp_path, timeout=30))
    assert fragment in line
    assert time.monotonic() - start < 20


def test_the_limits_can_be_raised_and_say_how(tmp_path):
    args = ["gradcheck", "--layers", "20,20,2", "--examples", "2"]
    assert run(*args, cwd=tmp_path).returncode == 0
    line = one_line(run(*args, cwd=tmp_path, env={"DELTAPROP_MAX_WORK": "1e5"}))
    assert "above the limit of 1e+05" in line
    line = one_line(run(*args, cwd=tmp_path, env={"DELTAPROP_MAX_WORK": "lots"}))
    assert "DELTAPROP_MAX_WORK='lots' is not a number" in line
    line = one_line(run(*args, cwd=tmp_path, env={"DELTAPROP_MAX_MEMORY": "1K"}))
    assert "above the limit of 1 KiB" in line


def test_network_size_estimate_and_limit(monkeypatch):
    from deltaprop.cli.options import check_network_size, memory_limit, network_bytes

    # By hand: [3, 4, 2] has (3+1)*4 + (4+1)*2 = 26 parameters; width 9; 5 rows fed forward use 2*5*(4+2).
    assert network_bytes([3, 4, 2], batch_size=7, examples=5, itemsize=8) == 8 * (6 * 26 + 4 * 7 * 9 + 2 * 5 * 6)
    with pytest.raises(DeltapropError, match=r"--layers 64,200000,200000,10: .* above the limit of 4 GiB"):
        check_network_size([64, 200_000, 200_000, 10], batch_size=10)
    monkeypatch.setenv("DELTAPROP_MAX_MEMORY", "1T")
    assert memory_limit() == 2**40
    assert check_network_size([64, 200_000, 200_000, 10], batch_size=10) < 2**40
    with pytest.raises(DeltapropError, match="--hidden"):
        check_network_size([10, 10], limit_bytes=10, option="--hidden")


def test_train_refuses_a_network_too_large_for_memory(tmp_path):
    # Under an address-space limit, so that a train that does not check allocates nothing dangerous:
    # it fails with MemoryError (a traceback) instead of exhausting the machine.
    resource = pytest.importorskip("resource")

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    line = one_line(run("train", "--layers", "64,200000,200000,10", "--epochs", "1", "-q", "--out", "run",
                        cwd=tmp_path, preexec_fn=limit_memory))
    assert "--layers 64,200000,200000,10" in line and "DELTAPROP_MAX_MEMORY" in line
    assert not (tmp_path / "run").exists()


# -- item 10: tracebacks from plain input ------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--epochs", "--batch-size", "--checkpoint-every"])
def test_huge_counts_are_refused_by_the_parser(tmp_path, option):
    line = one_line(run("train", "--data", "xor", option, "99999999999999999999999", "--out", "run",
                        cwd=tmp_path, timeout=30))
    assert f"argument {option}: '99999999999999999999999' is not a positive integer up to 1,000,000,000" in line
    line = one_line(run("train", "--data", "xor", option, "9" * 5000, "--out", "run", cwd=tmp_path, timeout=30))
    assert "..." in line and len(line) < 300  # the 5,000 digits are not echoed
    assert not (tmp_path / "run").exists()


def _npy_header(shape, descr="<f8"):
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


@pytest.mark.parametrize("shape", [(10**12, 2), (2**62, 2**62), (2**40,), (3, 2)],
                         ids=["10**12 rows", "product wraps", "2**40 values", "short by a row"])
def test_an_npy_whose_header_declares_more_than_the_file_holds(tmp_path, shape):
    crafted_model(tmp_path / "m.npz", {"data": "xor"})
    (tmp_path / "in.npy").write_bytes(_npy_header(shape) + bytes(8 * 4))
    line = one_line(run("predict", "m.npz", "in.npy", cwd=tmp_path, timeout=30))
    assert "in.npy declares a" in line and "holds only 32 bytes" in line


def test_predict_reads_a_good_npy_as_numpy_does(tmp_path):
    # Oracle: np.load of the same file, fed to the model in Python.
    net = deltaprop.Network([2, 3, 2], activation="tanh", output_activation="identity", seed=0)
    net.save(tmp_path / "m.npz")
    rows = np.asfortranarray(np.arange(8, dtype=">f8").reshape(4, 2) / 8)
    np.save(tmp_path / "in.npy", rows)
    result = run("predict", "m.npz", "in.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = np.array([[float(v) for v in line.split(",")] for line in result.stdout.split()])
    np.testing.assert_array_equal(printed, net.feedforward(np.load(tmp_path / "in.npy")))


@pytest.mark.parametrize("name", ["in.npy", "in.csv"])
def test_predict_refuses_a_fifo_or_a_device_as_input(tmp_path, name):
    crafted_model(tmp_path / "m.npz", {"data": "xor"})
    os.mkfifo(tmp_path / name)
    assert "is a FIFO" in one_line(run("predict", "m.npz", name, cwd=tmp_path, timeout=20))
    assert "is a device" in one_line(run("predict", "m.npz", "/dev/zero", cwd=tmp_path, timeout=20))


@pytest.mark.parametrize("costs", [(1e308, -1e308), (-1e308, 1e308), (1e308, 1e308), (1e300, -1e307)])
def test_plot_draws_a_history_of_huge_costs(tmp_path, costs):
    (tmp_path / "history.csv").write_text("epoch,cost,val_cost,val_accuracy\n"
                                          f"1,{costs[0]!r},{costs[1]!r},0.5\n2,{costs[1]!r},{costs[0]!r},0.6\n")
    result = run("plot", "history.csv", "--out", "pngs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "pngs" / "learning_curve.png").stat().st_size > 1000


STALL = """
import os, runpy, sys, time

class Stall:  # stands for a slow import: tells the test it has started, then waits for Ctrl-C
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["STALL_MODULE"]:
            open(os.environ["STALL_READY"], "w").close()
            time.sleep(60)
        return None

sys.meta_path.insert(0, Stall())
sys.argv = ["deltaprop", *sys.argv[1:]]
runpy.run_module("deltaprop", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module, args", [
    ("deltaprop.cli.models", ["graph"]),  # the subcommands' modules, imported while the parser is built
    ("deltaprop.data.spec", ["evaluate", "m.npz", "--data", "xor"]),  # a command's own heavy import
], ids=["building the parser", "inside a command"])
def test_ctrl_c_during_imports_is_one_line_and_status_130(tmp_path, module, args):
    crafted_model(tmp_path / "m.npz", {"data": "xor"})
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", STALL, *args], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "STALL_MODULE": module, "STALL_READY": str(ready)})
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), child.communicate(timeout=5)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.splitlines() == ["deltaprop: interrupted"]


def test_a_path_the_terminal_cannot_encode_is_printed_escaped(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "deltaprop"]
    written = subprocess.run([*command, "graph", "--output", b"bad\xff.dot"], cwd=tmp_path, capture_output=True,
                             env=env, timeout=TIMEOUT, check=False)
    assert written.returncode == 0, written.stderr
    assert written.stdout.decode() == "wrote bad\\udcff.dot\n"
    assert os.path.exists(os.path.join(os.fsencode(tmp_path), b"bad\xff.dot"))
    failed = subprocess.run([*command, "evaluate", b"missing\xff.npz"], cwd=tmp_path, capture_output=True, env=env,
                            timeout=TIMEOUT, check=False)
    assert failed.returncode == 2 and b"Traceback" not in failed.stderr
    assert failed.stderr.decode().splitlines() == ["deltaprop evaluate: error: model file missing\\udcff.npz: does not exist"]


# -- item 11: NaN written, wrong answers silent ----------------------------------------------------------

@pytest.mark.parametrize("outputs", [["--outputs"], []], ids=["outputs", "classes"])
def test_predict_refuses_inputs_that_overflow_the_models_dtype(tmp_path, outputs):
    # Oracle: np.finfo(float32).max = 3.4e38, so 1e300 is finite in float64 and infinite in float32.
    crafted_model(tmp_path / "m.npz", {"data": "xor"})
    (tmp_path / "big.csv").write_text("a,b\n0.5,0.5\n1e300,0.5\n")
    line = one_line(run("predict", "m.npz", "big.csv", *outputs, "--output", "p.csv", cwd=tmp_path))
    assert "big.csv, row 2" in line and "1e+300" in line and "float32" in line
    assert not (tmp_path / "p.csv").exists()
    line = one_line(run("predict", "m.npz", "big.csv", *outputs, cwd=tmp_path))
    assert "big.csv, row 2" in line


def test_predict_refuses_outputs_that_overflow(tmp_path):
    # Finite inputs and weights whose products exceed float32: the outputs are infinite, not printed.
    net = deltaprop.Network([2, 2], activation="identity", seed=0)
    net.layers[0].W[...] = 3e38
    net.save(tmp_path / "m.npz")
    (tmp_path / "in.csv").write_text("a,b\n0,0\n10,10\n")
    line = one_line(run("predict", "m.npz", "in.csv", "--output", "p.csv", cwd=tmp_path))
    assert "NaN or infinite outputs for row 2" in line
    assert not (tmp_path / "p.csv").exists()


def test_a_float64_model_takes_what_float32_cannot(tmp_path):
    net = deltaprop.Network([2, 2], activation="tanh", output_activation="identity", dtype="float64", seed=0)
    net.save(tmp_path / "m.npz")
    (tmp_path / "in.csv").write_text("a,b\n1e300,0\n")
    result = run("predict", "m.npz", "in.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert np.isfinite([float(v) for v in result.stdout.strip().split(",")]).all()
