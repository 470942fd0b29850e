"""The first run against scikit-learn (issue 13): ``deltaprop train`` with no options, timed as a user runs it.

In one run, for seeds 0-4: the wall time of the whole ``python -m deltaprop train --seed S`` command
(a subprocess: start-up, data, training, the model, history.csv and the learning-curve PNG; after one
unmeasured run, so that Python's compiled modules exist, as after ``pip install``) and its
test accuracy, against scikit-learn ``MLPClassifier(random_state=S)``'s fit time (the fit alone)
and test accuracy, on the same train/test split: the one deltaprop's ``digits`` source uses
(``load_dataset("digits")``, 1,347 train / 450 test). Writes benchmarks/results/first_run.md and
prints it.

    PYTHONPATH=src python benchmarks/first_run.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

SEEDS = range(5)
HERE = Path(__file__).resolve().parent


USER_ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
"""The command runs as on a user's machine: Python keeps its compiled modules (``pip install``
compiles them at install time; some sandboxes switch that off, which costs every run ~0.2 s)."""


def deltaprop_run(seed: int, workdir: str) -> tuple[float, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "deltaprop", "train", "--seed", str(seed), "--out",
                             os.path.join(workdir, f"run{seed}")], capture_output=True, text=True, check=False,
                            env=USER_ENVIRONMENT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"deltaprop train --seed {seed} failed (exit {result.returncode}):\n{result.stderr}")
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", result.stdout).group(1))
    return accuracy, wall


def sklearn_run(seed: int, data) -> tuple[float, float]:
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        model.fit(data.X_train, data.y_train)
    fit = time.perf_counter() - start
    return float(model.score(data.X_test, data.y_test)), fit


def main() -> str:
    from deltaprop.data import load_dataset

    data = load_dataset("digits")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        deltaprop_run(0, workdir)  # not measured: writes the compiled modules, as installing does
        for seed in SEEDS:
            rows.append((seed, *deltaprop_run(seed, workdir), *sklearn_run(seed, data)))
    d_acc, d_time, s_acc, s_time = (np.mean([row[k] for row in rows]) for k in (1, 2, 3, 4))
    d_median, s_median = (np.median([row[k] for row in rows]) for k in (2, 4))
    slowest_command, fastest_fit = max(row[2] for row in rows), min(row[4] for row in rows)
    lines = [
        f"First run on digits ({len(data.X_train)} train / {len(data.X_test)} test), seeds 0-4, one benchmark run",
        "",
        "| seed | `deltaprop train` accuracy | `deltaprop train` wall time (whole command) "
        "| `MLPClassifier()` accuracy | `MLPClassifier()` fit time |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {seed} | {da:.2%} | {dt:.2f} s | {sa:.2%} | {st:.2f} s |" for seed, da, dt, sa, st in rows),
        f"| **mean** | **{d_acc:.2%}** | **{d_time:.2f} s** | **{s_acc:.2%}** | **{s_time:.2f} s** |",
        f"| median | | {d_median:.2f} s | | {s_median:.2f} s |",
        "",
        f"deltaprop >= scikit-learn accuracy: {d_acc >= s_acc}; deltaprop >= 97.5%: {d_acc >= 0.975}; "
        f"deltaprop command faster than scikit-learn's fit: {d_time < s_time} on the mean "
        f"({d_time / s_time:.2f}x its time), {d_median < s_median} on the median; "
        f"slowest command {slowest_command:.2f} s against the fastest fit {fastest_fit:.2f} s",
        f"(Python {sys.version.split()[0]}, NumPy {np.__version__}, {os.cpu_count()} CPUs)",
    ]
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "first_run.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
