"""The --out lock: one holder at a time, a clear refusal naming it, and no lock outliving its process."""

import json
import os
import signal
import subprocess
import sys

import pytest

from deltaprop.atomic import remove_stale_temporaries
from deltaprop.errors import DeltapropError
from deltaprop.files import lock as lock_module
from deltaprop.files.lock import LOCK_NAME, DirectoryLock, LockedError, pid_alive

HOLD = """
import sys, time
from deltaprop.files.lock import DirectoryLock
lock = DirectoryLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _dead_pid():
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_lock_is_refused_with_the_holders_pid(tmp_path):
    # Oracle: the holder's own PID, which the refusal must name.
    with DirectoryLock(tmp_path / "out"):
        with pytest.raises(LockedError, match=rf"--out .*out is in use by another deltaprop process \(pid {os.getpid()}"):
            DirectoryLock(tmp_path / "out").acquire()
        record = json.loads((tmp_path / "out" / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid()
    assert issubclass(LockedError, DeltapropError)


def test_release_removes_the_lock_file_and_a_directory_left_empty(tmp_path):
    with DirectoryLock(tmp_path / "new" / "deeper"):
        assert (tmp_path / "new" / "deeper" / LOCK_NAME).exists()
    assert os.listdir(tmp_path) == []  # created by the lock, parents too, nothing written: all removed
    with DirectoryLock(tmp_path / "kept") as held:
        (tmp_path / "kept" / "model.npz").write_bytes(b"x")
        assert held.held
    assert os.listdir(tmp_path / "kept") == ["model.npz"]  # lock gone, the run's file kept
    (tmp_path / "existing").mkdir()
    with DirectoryLock(tmp_path / "existing"):
        pass
    assert (tmp_path / "existing").is_dir()  # not created by the lock: never removed


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    # Oracle: a real second process holds the lock; SIGKILL leaves its lock file behind, stale.
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            DirectoryLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the dead holder could not clean up
    with DirectoryLock(tmp_path) as taken:
        assert taken.taken_over["pid"] == holder.pid
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_garbled_lock_file_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_bytes(b"\x00\xffnot json")  # a holder killed while writing its record
    with DirectoryLock(tmp_path) as taken:
        assert taken.taken_over is None


def test_without_flock_a_lock_whose_pid_is_dead_is_stale(tmp_path, monkeypatch):
    # The fallback for systems without fcntl: the PID in the file decides.
    monkeypatch.setattr(lock_module, "fcntl", None)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": "here"}))
    with pytest.raises(LockedError, match=f"pid {os.getpid()} on here"):
        DirectoryLock(tmp_path).acquire()
    dead = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead}))
    with DirectoryLock(tmp_path) as taken:
        assert taken.taken_over["pid"] == dead
        with pytest.raises(LockedError):
            DirectoryLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
    assert not pid_alive(0) and not pid_alive(-3) and not pid_alive("12")


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = _dead_pid()
    target = tmp_path / "checkpoint.npz"
    stale = tmp_path / f".checkpoint.npz.{dead}.abcd1234.tmp"
    live = tmp_path / f".checkpoint.npz.{os.getpid()}.abcd1234.tmp"
    other = tmp_path / f".model.npz.{dead}.abcd1234.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    assert remove_stale_temporaries(target) == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name])

