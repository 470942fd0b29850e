"""Real processes: SIGKILL at any moment, Ctrl-C, divergence and two trainers on one directory.

Oracles: an uninterrupted run of the same worker (same seed, same thread count) for the weights,
bit for bit; the checkpoint loader, which refuses any partial or inconsistent file; NumPy's own
``np.load`` for "no NaN in any file".
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import deltaprop
from deltaprop.files.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

WORKER = r'''
import io, os, sys, time
import numpy as np
import deltaprop

mode, checkpoint, out = sys.argv[1:4]
if os.environ.get("SLOW_WRITES"):
    # Test-only: every archive is written in small slow pieces, announced on stdout, so that the
    # test can kill the process in the middle of a checkpoint write.
    real_savez = np.savez

    def slow_savez(handle, **arrays):
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        print("writing", flush=True)
        data = buffer.getvalue()
        for start in range(0, len(data), 512):
            handle.write(data[start:start + 512])
            handle.flush()
            time.sleep(0.01)

    np.savez = slow_savez
else:
    real_savez = np.savez


class Report(deltaprop.Callback):
    def on_batch_end(self, batch, logs=None):
        print("batch", flush=True)


rng = np.random.default_rng(0)
X, y = rng.standard_normal((150, 6)), rng.integers(0, 3, 150)
net = deltaprop.Network([6, 10, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0)
history = net.fit(X, y, epochs=12, batch_size=8, optimizer=deltaprop.Adam(0.01), lmbda=0.1, seed=1,
                  validation_data=(X[:30], y[:30]), callbacks=[Report()], checkpoint_every=3,
                  checkpoint=None if mode == "plain" else checkpoint,
                  resume=checkpoint if mode == "resume" else None)
real_savez(out, *[p for layer in net.layers for p in (layer.W, layer.b)], cost=np.array(history.history["cost"]))
print("done", flush=True)
'''


def _start(tmp_path, mode, slow=False):
    env = dict(os.environ, SLOW_WRITES="1" if slow else "")
    return subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), mode, str(tmp_path / "checkpoint.npz"),
                             str(tmp_path / f"{mode}.npz")], stdout=subprocess.PIPE, text=True, env=env)


def _read_until(process, line, count=1) -> bool:
    """Read the worker's output up to its ``count``-th ``line``; False if it ended first."""
    for _ in range(count):
        while True:
            got = process.stdout.readline()
            if not got:
                return False
            if got.strip() == line:
                break
    return True


def _kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()


def _temporaries(directory):
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


def test_sigkill_at_any_moment_then_resume_is_bit_identical(tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    plain = _start(tmp_path, "plain")
    assert plain.wait() == 0
    plain.stdout.close()
    reference = np.load(tmp_path / "plain.npz")

    # 1. mid-epoch: 19 batches an epoch, so batch 26 is in epoch 2, between checkpoints (every 3)
    worker = _start(tmp_path, "fresh")
    assert _read_until(worker, "batch", 26)
    _kill(worker)
    first = load_checkpoint(tmp_path / "checkpoint.npz")  # loads: complete and consistent
    assert first.step >= 24

    # 2. during a checkpoint write: the half-written temporary is there, the checkpoint is intact
    worker = _start(tmp_path, "resume", slow=True)
    assert _read_until(worker, "writing", 2)
    time.sleep(0.015)
    _kill(worker)
    assert any(str(worker.pid) in name for name in _temporaries(tmp_path)), "the kill missed the write"
    second = load_checkpoint(tmp_path / "checkpoint.npz")
    assert second.step > first.step

    # 3. at random moments, three times over (a worker that finishes first is fine too)
    rng = np.random.default_rng(7)
    for _ in range(3):
        worker = _start(tmp_path, "resume")
        if _read_until(worker, "batch"):
            time.sleep(rng.uniform(0.0, 0.05))
        _kill(worker)
        load_checkpoint(tmp_path / "checkpoint.npz")

    # 4. to the end
    worker = _start(tmp_path, "resume")
    assert worker.wait() == 0
    worker.stdout.close()
    resumed = np.load(tmp_path / "resume.npz")
    for key in reference.files:
        assert np.array_equal(reference[key], resumed[key]), key
    assert _temporaries(tmp_path) == []  # the dead writers' temporaries were cleared


# -- the command line -----------------------------------------------------------------------------------

def _train(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "deltaprop", "train", "--no-progress", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_epochs(process, count):
    seen = 0
    while seen < count:
        line = process.stdout.readline()
        assert line, f"training ended early: {process.stderr.read()}"
        seen += line.startswith("epoch ")


def test_ctrl_c_saves_checkpoint_and_model_exits_130_and_resumes(tmp_path):
    run = _train("--data", "xor", "--epochs", "100000", "--out", "run", cwd=tmp_path)
    _wait_for_epochs(run, 3)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    out = tmp_path / "run"
    checkpoint, model = out / "checkpoint.npz", out / "model.npz"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted at epoch" in lines[0]
    assert str(os.path.join("run", "checkpoint.npz")) in lines[0] and os.path.join("run", "model.npz") in lines[0]
    assert f"deltaprop train --resume {os.path.join('run', 'checkpoint.npz')}" in lines[0]
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "history.csv", "model.npz"]  # no lock, no temporary
    state = load_checkpoint(checkpoint)
    saved = deltaprop.load(model)
    assert all(np.array_equal(a.W, b.W) for a, b in zip(state.network.layers, saved.layers))  # the same moment
    assert len(state.history.epoch) >= 3

    changed = _train("--resume", str(checkpoint), "--out", "run", "--eta", "5", cwd=tmp_path)
    _, stderr = changed.communicate(timeout=60)
    assert changed.returncode == 2 and "--eta 5.0: checkpoint" in stderr and "keeps its settings" in stderr
    total = state.epoch + 2
    resumed = _train("--resume", str(checkpoint), "--out", "run", "--epochs", str(total), cwd=tmp_path)
    stdout, stderr = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, stderr
    assert f"epoch {total}/{total}" in stdout
    assert len(load_checkpoint(checkpoint).history.epoch) == total


def test_a_second_trainer_on_the_same_out_is_refused(tmp_path):
    first = _train("--data", "xor", "--epochs", "100000", "--out", "run", cwd=tmp_path)
    try:
        _wait_for_epochs(first, 1)
        second = _train("--data", "xor", "--epochs", "2", "--out", "run", cwd=tmp_path)
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 2
        assert stderr.count("\n") == 1 and "Traceback" not in stderr
        assert f"--out run is in use by another deltaprop process (pid {first.pid}" in stderr
        assert first.poll() is None  # the first is still training, undisturbed
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    out = tmp_path / "run"
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "history.csv", "model.npz"]
    deltaprop.load(out / "model.npz")
    load_checkpoint(out / "checkpoint.npz")
    # the lock went with the first trainer: a new run may use the directory (with --overwrite, since the
    # interrupted run left a checkpoint that could be resumed: issue 11, item 6)
    third = _train("--data", "xor", "--epochs", "1", "--out", "run", "-q", "--overwrite", cwd=tmp_path)
    assert third.wait(timeout=60) == 0


def test_divergence_on_the_command_line_is_one_line_and_writes_no_nan(tmp_path):
    run = _train("--data", "sine", "--eta", "1e6", "--out", "run", "--checkpoint", "ck.npz", "--checkpoint-every", "1",
                 cwd=tmp_path)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert "training diverged at epoch 1, batch" in lines[0] and "smaller --eta (it is 1e+06)" in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written, and the lock's directory removed
    state = load_checkpoint(tmp_path / "ck.npz")  # the last finite state, checked finite by the loader
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as archive:
        assert all(np.isfinite(archive[key]).all() for key in archive.files if archive[key].dtype.kind == "f")
    assert state.step >= 1
