"""A fresh clone, with no ``../shared`` beside it and no network, runs the README's two commands.

The commands are ``pip install ".[cli]" && deltaprop train`` and ``pip install -e ".[test]" &&
python -m pytest``. Installing is left out (no network here, and the current environment already
has the dependencies); their effect is reproduced by pointing ``PYTHONPATH`` at the clone's
``src``: the clone trains on the digits it ships, and its tests run with ``DELTAPROP_MNIST``
unset (MNIST tests skip, nothing raises). Only committed files are in the clone.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _env(clone: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DELTAPROP_", "PYTEST_"))}
    env["PYTHONPATH"] = str(clone / "src")
    env["DELTAPROP_CACHE_DIR"] = str(clone / ".no-cache")  # never the user's download cache
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of deltaprop")
    target = tmp_path_factory.mktemp("fresh") / "deltaprop"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True,
                   capture_output=True, timeout=60)
    assert not (target.parent / "shared").exists()
    return target


def test_fresh_clone_trains_on_the_bundled_digits(clone):
    result = subprocess.run([sys.executable, "-m", "deltaprop", "train", "-q", "--out", "run"], cwd=clone,
                            env=_env(clone), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "digits" in result.stdout + result.stderr
    assert (clone / "run" / "model.npz").exists()


def test_fresh_clone_runs_its_tests_without_mnist(clone):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                             "tests/test_network.py",
                             "tests/test_compat.py::test_chapter_one_session_reaches_91_percent_in_10_epochs"],
                            cwd=clone, env=_env(clone), capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "DELTAPROP_MNIST" in result.stdout  # the chapter-one test skipped, saying how to run it
    assert " failed" not in result.stdout and " error" not in result.stdout
