"""No run lost (issue 11, items 4-8): signals over the whole command, one run per set of outputs, all or none.

Every case runs the real command in a subprocess. Where a signal must land at an exact moment
(just after the last epoch, during the writes), the subprocess wraps one function of the command
line so that the process signals itself there; elsewhere a real signal comes from outside. Oracles:
the files themselves (loaded by deltaprop's own readers, compared byte for byte with an earlier
run's), the exit status and the one line on standard error.
"""

import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
from test_reliability import _wait_for_epochs  # the one reader of a run's epoch lines

import deltaprop
from deltaprop.files.checkpoint import load_checkpoint
from deltaprop.files.model import read_metadata

pytestmark = pytest.mark.slow

# Run the command line with one function wrapped so that the process sends itself `signals`
# (a list of signal numbers, 15 ms apart) when that function is called.
HOOKED = r'''
import os, signal, sys, time, importlib
module, name, signals = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",") if s]
owner, _, attribute = name.rpartition(".")
target = importlib.import_module(module)
holder = getattr(target, owner) if owner else target
original = getattr(holder, attribute)

def hooked(*args, **kwargs):
    for i, signum in enumerate(signals):
        if i:
            time.sleep(0.015)
        os.kill(os.getpid(), signum)
    return original(*args, **kwargs)

setattr(holder, attribute, hooked)
from deltaprop.cli import main
raise SystemExit(main(sys.argv[4:]))
'''


def _hooked(tmp_path, where, signals, *args, preexec_fn=None):
    module, name = where
    return subprocess.run([sys.executable, "-c", HOOKED, module, name, ",".join(map(str, signals)), "train",
                           "--no-progress", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          preexec_fn=preexec_fn)


def _train(tmp_path, *args, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "deltaprop", "train", "--no-progress", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, preexec_fn=preexec_fn)


def _one_line(result, status=2):
    assert result.returncode == status, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def _snapshot(directory):
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))
            if not name.startswith(".")}


XOR = ("--data", "xor", "--epochs", "3", "--out", "run")
AFTER_FIT = ("deltaprop.cli.rundir", "RunDirectory.finish")  # called once fit has returned, before any write
DURING_WRITES = ("deltaprop.files.history", "save_history")  # called in the middle of the staged writes


# -- item 4: a signal after the last epoch, or during the writes, loses nothing ---------------------------

@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGINT, signal.SIGINT]])
def test_ctrl_c_just_after_the_last_epoch_still_writes_the_whole_run(tmp_path, signals):
    result = _hooked(tmp_path, AFTER_FIT, signals, *XOR)
    assert result.returncode == 130, result.stderr
    assert "after training finished; every output was written" in result.stderr
    assert "Traceback" not in result.stderr
    out = tmp_path / "run"
    assert {"model.npz", "history.csv", "learning_curve.png"} <= set(os.listdir(out))
    assert read_metadata(out / "model.npz")["extra"]["epochs"] == 3
    if len(signals) == 2:
        assert "saving the run, please wait" in result.stderr


def test_a_second_ctrl_c_during_the_writes_says_it_is_saving_and_finishes(tmp_path):
    result = _hooked(tmp_path, DURING_WRITES, [signal.SIGINT, signal.SIGINT], *XOR)
    assert result.returncode == 130 and "saving the run, please wait" in result.stderr, result.stderr
    assert {"model.npz", "history.csv", "learning_curve.png"} <= set(os.listdir(tmp_path / "run"))


def test_a_third_ctrl_c_aborts_and_leaves_the_earlier_run_whole(tmp_path):
    assert _train(tmp_path, *XOR, "-q").returncode == 0
    before = _snapshot(tmp_path / "run")
    result = _hooked(tmp_path, DURING_WRITES, [signal.SIGINT] * 3, *XOR, "--seed", "5")
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
    assert _snapshot(tmp_path / "run") == before  # every byte of the earlier run
    assert not [name for name in os.listdir(tmp_path / "run") if name.startswith(".staging")]


# -- item 5: SIGTERM and SIGHUP are treated as Ctrl-C; leftovers of dead runs are cleared -------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_a_checkpoint_and_the_model(tmp_path, signum):
    process = subprocess.Popen([sys.executable, "-m", "deltaprop", "train", "--no-progress", "--data", "xor",
                                "--epochs", "100000", "--out", "run"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _wait_for_epochs(process, 2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert stderr.count("\n") == 1 and f"by {signal.Signals(signum).name}" in stderr
    out = tmp_path / "run"
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "history.csv", "model.npz"]  # no lock, no temporary
    deltaprop.load(out / "model.npz")
    assert load_checkpoint(out / "checkpoint.npz").epoch >= 2


def test_a_later_run_removes_what_a_killed_run_left(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    stale = [out / f".learning_curve.png.{dead}.abcdefgh.tmp", out / f".model.npz.{dead}.x1y2z3w4.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    (out / f".staging.{dead}.k9").mkdir()
    (out / f".staging.{dead}.k9" / "model.npz").write_bytes(b"half")
    live = out / f".history.csv.{os.getpid()}.abcdefgh.tmp"  # this test process is alive: not ours to remove
    live.write_bytes(b"in progress")
    assert _train(tmp_path, *XOR, "-q").returncode == 0
    assert not any(path.exists() for path in stale) and not (out / f".staging.{dead}.k9").exists()
    assert live.exists()


# -- item 6: a new run does not clobber a resumable one; a run's outputs are all of one run -------------------

def _interrupted_run(tmp_path, *extra):
    return _hooked(tmp_path, ("deltaprop.train.loop", "_end_epoch"), [signal.SIGINT], "--data", "xor",
                   "--epochs", "50", "--out", "run", *extra)


def test_a_new_run_over_a_resumable_checkpoint_is_refused_without_overwrite(tmp_path):
    assert _interrupted_run(tmp_path).returncode == 130
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    before = checkpoint.read_bytes()
    stderr = _one_line(_train(tmp_path, *XOR))
    assert "--resume" in stderr and "--overwrite" in stderr and str(os.path.join("run", "checkpoint.npz")) in stderr
    assert checkpoint.read_bytes() == before
    assert _train(tmp_path, *XOR, "--overwrite", "-q").returncode == 0


def test_an_interrupted_run_leaves_no_outputs_of_the_run_before_it(tmp_path):
    assert _train(tmp_path, *XOR, "-q").returncode == 0
    assert (tmp_path / "run" / "learning_curve.png").exists()
    result = _hooked(tmp_path, ("deltaprop.train.loop", "_end_epoch"), [signal.SIGINT], "--data", "xor",
                     "--epochs", "50", "--out", "run", "--seed", "9")
    assert result.returncode == 130, result.stderr
    names = set(os.listdir(tmp_path / "run"))
    assert "learning_curve.png" not in names  # the earlier run's picture went with its model
    assert read_metadata(tmp_path / "run" / "model.npz")["extra"]["seed"] == 9
    with open(tmp_path / "run" / "history.csv") as handle:
        assert len(handle.read().splitlines()) == 2  # the new run's one epoch, not the earlier run's three


@pytest.mark.parametrize("args, words", [
    (("--checkpoint", os.path.join("run", "model.npz")), "is the run's own model.npz"),
    (("--checkpoint", ""), "--checkpoint is empty"),
    (("--resume", ""), "--resume is empty"),
])
def test_bad_checkpoint_paths_are_refused(tmp_path, args, words):
    assert words in _one_line(_train(tmp_path, *XOR, *args))
    assert not (tmp_path / "run").exists()


def test_two_runs_writing_one_checkpoint_are_locked_against_each_other(tmp_path):
    (tmp_path / "shared").mkdir()
    checkpoint = os.path.join("shared", "c.npz")
    first = subprocess.Popen([sys.executable, "-m", "deltaprop", "train", "--no-progress", "--data", "xor",
                              "--epochs", "100000", "--out", "a", "--checkpoint", checkpoint], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_epochs(first, 1)
        stderr = _one_line(_train(tmp_path, "--data", "xor", "--epochs", "2", "--out", "b", "--checkpoint", checkpoint,
                                  "--overwrite"))
        assert "in use by another deltaprop process" in stderr and f"pid {first.pid}" in stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130


# -- item 7: a failed run leaves the earlier run whole, and names the file -----------------------------------

def _file_limit(size):
    """A preexec_fn: no file of the child may grow past ``size`` bytes (``ulimit -f``)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))


def test_a_run_that_cannot_write_a_file_replaces_nothing_and_names_the_file(tmp_path):
    # The book's preset: its model (~10 kB) is smaller than its PNG (~13 kB). A limit between the two,
    # read from the first run's files, lets the model be staged and makes the PNG the file that fails.
    assert _train(tmp_path, "--data", "digits", "--preset", "nielsen", "--epochs", "2", "--out", "run", "-q").returncode == 0
    before = _snapshot(tmp_path / "run")
    model, png = (os.path.getsize(tmp_path / "run" / name) for name in ("model.npz", "learning_curve.png"))
    assert model + 1024 < png, (model, png)
    result = _train(tmp_path, "--data", "digits", "--preset", "nielsen", "--epochs", "2", "--out", "run", "-q",
                    "--seed", "1", preexec_fn=_file_limit((model + png) // 2))
    stderr = _one_line(result)
    assert "File too large" in stderr and os.path.join("run", "") in stderr and ".png" in stderr
    assert _snapshot(tmp_path / "run") == before
    assert not [name for name in os.listdir(tmp_path / "run") if name.startswith(".")]


def test_outputs_replace_only_regular_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("keep me")
    os.symlink(tmp_path / "precious.txt", out / "history.csv")
    stderr = _one_line(_train(tmp_path, *XOR, "-q"))
    assert "history.csv" in stderr and "not a regular file" in stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me" and os.path.islink(out / "history.csv")
    assert not (out / "model.npz").exists()


def test_a_replaced_output_keeps_its_mode(tmp_path):
    assert _train(tmp_path, *XOR, "-q").returncode == 0
    os.chmod(tmp_path / "run" / "model.npz", 0o640)
    assert _train(tmp_path, *XOR, "-q", "--seed", "2").returncode == 0
    assert os.stat(tmp_path / "run" / "model.npz").st_mode & 0o777 == 0o640


# -- item 8 (resume): a checkpoint's recorded configuration is input like any other -------------------------

def _crafted_checkpoint(tmp_path, **changes):
    X, y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 1, 1, 0])
    config = {"data": "xor", "sizes": [2, 8, 1], "activation": "tanh", "output_activation": "sigmoid",
              "cost": "quadratic", "init": "auto", "seed": 0, "eta": 1.0, "lmbda": 0.0, "batch_size": 10,
              "dtype": "float32", "max_grad_norm": None, "epochs": 3, **changes}
    net = deltaprop.Network([2, 8, 1], activation="tanh", output_activation="sigmoid", seed=0)
    path = tmp_path / "crafted.npz"
    net.fit(X, y, epochs=1, checkpoint=path, checkpoint_metadata={"config": config})
    return path


@pytest.mark.parametrize("changes, words", [
    ({"data": "csv:/etc/shadow"}, "pass --data"),
    ({"epochs": 10**30}, "invalid epochs"),
    ({"sizes": "2,8,1"}, "invalid sizes"),
    ({"eta": "fast"}, "invalid eta"),
])
def test_a_crafted_checkpoint_configuration_is_refused_in_one_line(tmp_path, changes, words):
    path = _crafted_checkpoint(tmp_path, **changes)
    stderr = _one_line(_train(tmp_path, "--resume", str(path), "--out", "run"))
    assert words in stderr
    assert "root:" not in stderr  # never a line of the file it names


def test_a_path_recorded_in_a_checkpoint_is_read_with_consent(tmp_path):
    data = tmp_path / "data.csv"
    rows = np.random.default_rng(0).standard_normal((40, 2))
    np.savetxt(data, np.column_stack([rows, (rows[:, 0] > 0).astype(int)]), delimiter=",", header="a,b,label",
               comments="", fmt=["%.6f", "%.6f", "%d"])
    checkpoint = os.path.join("run", "c.npz")
    assert _train(tmp_path, "--data", f"csv:{data}", "--epochs", "2", "--out", "run", "--checkpoint", checkpoint,
                  "-q").returncode == 0
    stderr = _one_line(_train(tmp_path, "--resume", checkpoint, "--out", "run", "--epochs", "3"))
    assert "pass --data" in stderr and str(data) not in stderr
    given = _train(tmp_path, "--resume", checkpoint, "--out", "run", "--epochs", "3", "--data", f"csv:{data}", "-q")
    assert given.returncode == 0, given.stderr
    assert len(load_checkpoint(tmp_path / checkpoint).history.epoch) == 3
