"""Issue 11, items 1-3: never follow a link, never replace what is not a regular file, create files as open() does.

Oracles: the file system itself (``os.lstat`` says what is at a path before and after; a digest says
whether a file's bytes changed), a reader thread on a FIFO that receives exactly what was written,
the umask arithmetic ``0o666 & ~umask`` that ``open()`` applies, and the command's own standard
output. CLI cases run the real command in a subprocess: exit status 2, one line on standard error,
no traceback.
"""

import errno
import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import deltaprop
from deltaprop.atomic import atomic_write, remove_stale_temporaries
from deltaprop.errors import DeltapropError
from deltaprop.files.lock import LOCK_NAME, DirectoryLock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, device nodes and umasks are POSIX")

TIMEOUT = 60


def run(*args, cwd, umask=None):
    """``python -m deltaprop ARGS`` in ``cwd``: the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False, **({} if umask is None else {"umask": umask}))


def one_line(result) -> str:
    """The single stderr line of a failed command (exit 2, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def work(tmp_path):
    """A model [2, 3, 2] (classifier), three input rows as CSV, and their predicted classes."""
    net = deltaprop.Network([2, 3, 2], seed=0)
    net.save(tmp_path / "model.npz")
    rows = np.array([[0.1, 0.2], [0.9, 0.3], [0.5, 0.5]])
    (tmp_path / "in.csv").write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in rows))
    expected = [str(int(c)) for c in net.predict(rows.astype(np.float32))]
    return tmp_path, expected


def _leftovers(directory) -> list:
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


# -- item 1: the lock never follows a link ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "fifo", "directory", "hard link"])
def test_the_lock_refuses_anything_but_a_regular_file(tmp_path, kind):
    out = tmp_path / "run"
    out.mkdir()
    target = tmp_path / "important.txt"
    lock_path = out / LOCK_NAME
    if kind == "symlink":
        target.write_text("precious\n")
        os.symlink(target, lock_path)
    elif kind == "dangling symlink":
        os.symlink(target, lock_path)  # O_CREAT through it would create important.txt
    elif kind == "fifo":
        os.mkfifo(lock_path)
    elif kind == "hard link":
        target.write_text("precious\n")
        os.link(target, lock_path)  # a regular file, but another file's name: truncating it destroys the other
    else:
        lock_path.mkdir()
    with pytest.raises(DeltapropError, match=r"lock file .* is a .*not a lock file deltaprop made"):
        DirectoryLock(out).acquire()
    if kind in ("symlink", "hard link"):
        assert target.read_text() == "precious\n"
    else:
        assert not target.exists()
    assert os.path.lexists(lock_path)  # left for the user to look at, not removed or replaced


def test_train_refuses_a_lock_that_is_a_symlink_and_writes_nothing_through_it(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (tmp_path / "important.txt").write_text("precious\n")
    os.symlink(tmp_path / "important.txt", out / LOCK_NAME)
    line = one_line(run("train", "--data", "xor", "--epochs", "1", "-q", "--out", "run", cwd=tmp_path))
    assert "symbolic link" in line and LOCK_NAME in line
    assert (tmp_path / "important.txt").read_text() == "precious\n"
    assert sorted(os.listdir(out)) == [LOCK_NAME]


# -- item 2: outputs -------------------------------------------------------------------------------------

def _fifo_reader(path):
    """Start a thread that opens the FIFO ``path`` for reading and collects what arrives."""
    received = []

    def read():
        with open(path, "rb") as handle:  # blocks until a writer opens it
            received.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, received


def test_atomic_write_writes_into_a_fifo_and_leaves_it_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, received = _fifo_reader(fifo)
    with atomic_write(fifo, "wb") as handle:
        handle.write(b"through the pipe")
    thread.join(10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _leftovers(tmp_path) == []


def test_predict_output_into_a_fifo(work):
    tmp_path, expected = work
    os.mkfifo(tmp_path / "pipe.csv")
    thread, received = _fifo_reader(tmp_path / "pipe.csv")
    result = run("predict", "model.npz", "in.csv", "--output", "pipe.csv", cwd=tmp_path)
    thread.join(10)
    assert result.returncode == 0, result.stderr
    assert received and received[0].decode().split() == expected
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.csv").st_mode)


def test_a_character_device_is_written_to_not_replaced(work):
    # Oracle: a character device node of our own (/dev/null's numbers) and a link to /dev/null itself;
    # either must still be what it was after the write.
    tmp_path, _ = work
    os.symlink("/dev/null", tmp_path / "null.csv")
    paths = ["null.csv"]
    try:
        os.mknod(tmp_path / "mynull.csv", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        paths.append("mynull.csv")
    except (PermissionError, AttributeError):
        pass  # no CAP_MKNOD: the link to /dev/null is the character device
    for path in paths:
        result = run("predict", "model.npz", "in.csv", "--output", path, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert os.path.islink(tmp_path / "null.csv") and os.readlink(tmp_path / "null.csv") == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    if "mynull.csv" in paths:
        assert stat.S_ISCHR(os.lstat(tmp_path / "mynull.csv").st_mode)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("link", ["/dev/stdout", "/proc/self/fd/1"])
def test_a_link_to_standard_output_is_written_through(work, link):
    # Oracle: the command's captured standard output (a pipe) receives the predictions.
    tmp_path, expected = work
    if not os.path.exists(link):
        pytest.skip(f"no {link} here")
    os.symlink(link, tmp_path / "out.csv")
    result = run("predict", "model.npz", "in.csv", "--output", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == expected
    assert os.path.islink(tmp_path / "out.csv")


def test_dash_is_standard_output(work):
    tmp_path, expected = work
    result = run("predict", "model.npz", "in.csv", "--output", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected  # the predictions, and no "wrote ..." line among them
    assert not (tmp_path / "-").exists()
    graph = run("graph", "--output", "-", cwd=tmp_path)
    assert graph.returncode == 0 and graph.stdout.startswith("digraph") and not (tmp_path / "-").exists()


def test_a_link_to_a_regular_file_is_refused_and_its_target_kept(work):
    tmp_path, _ = work
    (tmp_path / "victim.txt").write_text("keep me\n")
    os.symlink(tmp_path / "victim.txt", tmp_path / "link.csv")
    line = one_line(run("predict", "model.npz", "in.csv", "--output", "link.csv", cwd=tmp_path))
    assert "link.csv" in line and "symbolic link" in line
    assert (tmp_path / "victim.txt").read_text() == "keep me\n" and os.path.islink(tmp_path / "link.csv")
    line = one_line(run("graph", "--output", "link.csv", cwd=tmp_path))
    assert "symbolic link" in line and (tmp_path / "victim.txt").read_text() == "keep me\n"


@pytest.mark.parametrize("kind", ["symlink", "dangling", "directory", "socket"])
def test_atomic_write_refuses_what_it_must_not_replace(tmp_path, kind):
    path = tmp_path / "out"
    if kind == "symlink":
        (tmp_path / "target").write_bytes(b"old")
        os.symlink(tmp_path / "target", path)
    elif kind == "dangling":
        os.symlink(tmp_path / "nowhere", path)
    elif kind == "directory":
        path.mkdir()
    else:
        import socket

        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(path))
        except OSError:
            pytest.skip("cannot bind a UNIX socket here")
        server.close()
    before = os.lstat(path)
    with pytest.raises(DeltapropError, match=str(path)), atomic_write(path, "wb") as handle:
        handle.write(b"new")
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert not (tmp_path / "nowhere").exists()
    if kind == "symlink":
        assert (tmp_path / "target").read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_output_kind():
    from deltaprop.atomic import output_kind

    assert output_kind("-") == "stdout"
    assert output_kind("/dev/null") == "stream"
    assert output_kind(os.path.join(os.sep, "no", "such", "file")) == "new"
    assert output_kind(__file__) == "replace"
    with pytest.raises(DeltapropError, match="is a directory"):
        output_kind(os.path.dirname(__file__))


@pytest.mark.parametrize("args, victim", [
    (["predict", "model.npz", "in.csv", "--output", "model.npz"], "model.npz"),
    (["predict", "model.npz", "in.csv", "--output", "in.csv"], "in.csv"),
    (["predict", "model.npz", "in.csv", "--output", "./model.npz"], "model.npz"),
    (["predict", "model.npz", "in.csv", "--output", "hard.csv"], "model.npz"),
    (["evaluate", "model.npz", "--data", "xor", "--png", "model.npz"], "model.npz"),
    (["evaluate", "model.npz", "--data", "xor", "--png", "hard.csv"], "model.npz"),
    (["export", "model.npz", "hard.onnx"], "model.npz"),
    (["export", "model.npz", "link.onnx"], "model.npz"),
    (["plot", "learning_curve.png", "--out", "."], "learning_curve.png"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_an_output_that_is_one_of_the_inputs_is_refused_before_anything_is_read(work, args, victim):
    tmp_path, _ = work
    os.link(tmp_path / "model.npz", tmp_path / "hard.csv")  # a hard link: the same file under another name
    os.link(tmp_path / "model.npz", tmp_path / "hard.onnx")
    os.symlink("model.npz", tmp_path / "link.onnx")
    (tmp_path / "learning_curve.png").write_text("epoch,cost\n1,0.5\n2,0.25\n")  # a history with a PNG's name
    before = {name: digest(tmp_path / name) for name in ("model.npz", "in.csv", "learning_curve.png")}
    line = one_line(run(*args, cwd=tmp_path))
    assert "which this command reads" in line or "symbolic link" in line, line
    assert digest(tmp_path / victim) == before[victim]
    assert {name: digest(tmp_path / name) for name in before} == before
    assert os.path.islink(tmp_path / "link.onnx")
    assert _leftovers(tmp_path) == []


def test_evaluate_refuses_png_on_standard_output(work):
    tmp_path, _ = work
    line = one_line(run("evaluate", "model.npz", "--data", "xor", "--png", "-", cwd=tmp_path))
    assert "--png -" in line and "standard output" in line


# -- item 3: permissions -----------------------------------------------------------------------------

@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it after."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=oct)
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path, umask, mask, expected):
    umask(mask)
    with atomic_write(tmp_path / "new.bin", "wb") as handle:
        handle.write(b"x")
    with open(tmp_path / "by_open.bin", "wb") as handle:  # the oracle: what open() does
        handle.write(b"x")
    assert stat.S_IMODE(os.stat(tmp_path / "new.bin").st_mode) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "by_open.bin").st_mode) == expected


@pytest.mark.parametrize("mask", [0o022, 0o077], ids=lambda mask: f"umask {mask:03o}")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o444], ids=lambda mode: f"mode {mode:03o}")
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, mask, mode):
    path = tmp_path / "kept.bin"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    umask(mask)
    with atomic_write(path, "wb") as handle:
        handle.write(b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_the_command_line_creates_and_replaces_files_with_the_right_mode(work):
    tmp_path, _ = work
    assert run("predict", "model.npz", "in.csv", "--output", "p.csv", cwd=tmp_path, umask=0o022).returncode == 0
    assert stat.S_IMODE(os.stat(tmp_path / "p.csv").st_mode) == 0o644
    os.chmod(tmp_path / "p.csv", 0o640)
    assert run("predict", "model.npz", "in.csv", "--output", "p.csv", cwd=tmp_path, umask=0o077).returncode == 0
    assert stat.S_IMODE(os.stat(tmp_path / "p.csv").st_mode) == 0o640
    assert run("graph", "--output", "g.dot", cwd=tmp_path, umask=0o027).returncode == 0
    assert stat.S_IMODE(os.stat(tmp_path / "g.dot").st_mode) == 0o640


def test_a_killed_writers_temporary_is_still_found_and_removed(tmp_path):
    # The temporaries are named as before (.NAME.PID.XXXXXXXX.tmp), so the cleanup still finds them.
    code = ("import os, signal, sys\nfrom deltaprop.atomic import atomic_write\n"
            "with atomic_write(sys.argv[1], 'wb') as handle:\n"
            "    handle.write(b'half'); handle.flush(); os.kill(os.getpid(), signal.SIGKILL)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "model.npz")])
    assert child.wait(TIMEOUT) == -signal.SIGKILL
    (left,) = _leftovers(tmp_path)
    assert left.startswith(f".model.npz.{child.pid}.")
    assert remove_stale_temporaries(tmp_path / "model.npz") == [str(tmp_path / left)]
    assert os.listdir(tmp_path) == []


def test_a_write_that_fails_names_the_file_and_keeps_the_old_one(tmp_path):
    # Oracle: a real file-size limit (RLIMIT_FSIZE; Python ignores SIGXFSZ, so write fails with EFBIG).
    pytest.importorskip("resource")
    (tmp_path / "model.npz").write_bytes(b"the earlier model")
    code = ("import resource, sys\nfrom deltaprop.atomic import atomic_write\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
            "try:\n"
            "    with atomic_write(sys.argv[1], 'wb') as handle:\n"
            "        handle.write(bytes(100_000))\n"
            "except OSError as error:\n"
            "    print(error.errno, error.filename)\n")
    child = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.npz")], capture_output=True, text=True,
                           timeout=TIMEOUT, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == [str(errno.EFBIG), str(tmp_path / "model.npz")]
    assert (tmp_path / "model.npz").read_bytes() == b"the earlier model"
    assert _leftovers(tmp_path) == []
