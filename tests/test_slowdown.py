"""Learning slowdown shown: Nielsen's one-neuron experiment, and the diagnostics' point before training.

The experiment (Nielsen, *Neural Networks and Deep Learning*, chapter 3): one sigmoid neuron, input 1,
target 0, w = b = 2 (a = sigma(4) = 0.982, saturated), eta = 0.15, 300 epochs of one step each.
Measured here: in the first 10 epochs the quadratic cost falls from 0.4822 to 0.4812 (0.2%) and the
output from 0.9820 to 0.9810, while cross-entropy falls from 4.018 to 1.492 (63%) and the output to
0.775; the quadratic neuron only gets going after ~150 epochs (a = 0.933 at 150, 0.203 at 300).
"""

import math
import subprocess
import sys

import numpy as np
import pytest

import deltaprop
from deltaprop.data import load_dataset
from deltaprop.files.history import history_table, load_history, save_history
from deltaprop.train.diagnostics import Diagnostics, measure
from deltaprop.train.experiments import one_neuron, one_neuron_history


def _by_hand(cost, w=2.0, b=2.0, eta=0.15, epochs=300):
    """The same experiment from the closed-form gradients, independent of deltaprop's loop:
    quadratic dC/dz = (a - y) a (1 - a) (BP1 with sigma' = a (1 - a)); cross-entropy dC/dz = a - y."""
    costs = []
    for _ in range(epochs + 1):
        a = 1 / (1 + math.exp(-(w + b)))  # x = 1
        costs.append(a * a / 2 if cost == "quadratic" else -math.log(1 - a))  # y = 0
        delta = a * a * (1 - a) if cost == "quadratic" else a
        w, b = w - eta * delta, b - eta * delta  # dC/dw = delta x, dC/db = delta
    return costs


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_the_experiment_follows_the_closed_form(cost):
    np.testing.assert_allclose(one_neuron(cost), _by_hand(cost), rtol=1e-12)
    assert len(one_neuron(cost, epochs=5)) == 6  # epochs 0 (before training) to 5


def test_a_saturated_neuron_learns_slowly_under_the_quadratic_cost_only():
    quadratic, cross_entropy = one_neuron_history("quadratic"), one_neuron_history("cross_entropy")
    # Both start at the same saturated output a = sigma(4).
    assert quadratic["a"][0] == cross_entropy["a"][0] == pytest.approx(1 / (1 + math.exp(-4)), rel=1e-15)

    def relative_drop(costs, epochs):
        return (costs[0] - costs[epochs]) / costs[0]

    for epochs in (1, 10, 30):
        # quadratic: 0.02% after 1 epoch, 0.2% after 10, 0.7% after 30; cross-entropy: 7%, 63%, 94%
        assert relative_drop(quadratic["cost"], epochs) < 0.01
        assert relative_drop(cross_entropy["cost"], epochs) > 0.07
        assert relative_drop(cross_entropy["cost"], epochs) > 50 * relative_drop(quadratic["cost"], epochs)
    # The output and the weight tell the same story: over 10 epochs the quadratic neuron's output moves
    # 0.001 and its weight 0.027; cross-entropy's output moves 0.21 and its weight 1.38.
    assert abs(quadratic["a"][10] - quadratic["a"][0]) < 0.002
    assert abs(cross_entropy["a"][10] - cross_entropy["a"][0]) > 0.2
    assert abs(cross_entropy["w"][10] - 2) > 40 * abs(quadratic["w"][10] - 2)
    # ... and the quadratic neuron does learn, late: by epoch 300 its output is below 0.25.
    assert quadratic["a"][150] > 0.9 and quadratic["a"][300] < 0.25


def test_the_experiment_is_reachable_from_the_package_and_checks_its_arguments():
    assert deltaprop.experiments.one_neuron("quadratic", epochs=2) == one_neuron("quadratic", epochs=2)
    with pytest.raises(deltaprop.DeltapropError, match="compares 'quadratic' and 'cross_entropy'"):
        one_neuron("log_likelihood")
    with pytest.raises(deltaprop.DeltapropError, match="epochs=0"):
        one_neuron("quadratic", epochs=0)
    with pytest.raises(deltaprop.DeltapropError, match="w=nan"):
        one_neuron("quadratic", w=float("nan"))


def test_doctest():
    import doctest

    import deltaprop.train.experiments as module

    assert doctest.testmod(module).failed == 0


# -- the diagnostics' epoch 0 ----------------------------------------------------------------------


def _fit_with_diagnostics():
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 4)), np.arange(30) % 3
    net = deltaprop.Network([4, 5, 3], activation="tanh", output_activation="sigmoid", init="standard_normal",
                            seed=0)
    before = measure(net, X[:10], y[:10])  # the oracle: an independent measurement of the untrained network
    diagnostics = Diagnostics(X[:10], y[:10])
    history = net.fit(X, y, epochs=3, batch_size=5, eta=0.5, seed=0, callbacks=[diagnostics])
    return history, diagnostics, before


def test_the_initial_point_is_the_untrained_network():
    history, diagnostics, before = _fit_with_diagnostics()
    assert diagnostics.initial == before
    assert len(history.history["grad_norm[0]"]) == 3  # the history itself keeps one entry per epoch


def test_the_table_and_the_csv_start_at_epoch_0(tmp_path):
    history, diagnostics, before = _fit_with_diagnostics()
    table = history_table(history, diagnostics.initial)
    assert table["epoch"] == [0, 1, 2, 3]
    assert table["grad_norm[0]"][0] == before["grad_norm[0]"] and table["grad_norm[0]"][1:] == history.history["grad_norm[0]"]
    assert math.isnan(table["cost"][0])  # no epoch has run: there is no epoch cost yet
    save_history(history, tmp_path / "h.csv", initial=diagnostics.initial)
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[1].startswith("0,,")  # epoch 0: an empty cost cell, then the diagnostics
    loaded = load_history(tmp_path / "h.csv")
    assert loaded["epoch"] == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_array_equal(loaded["saturation[1]"], table["saturation[1]"])
    # without initial, nothing changes: epochs from 1
    save_history(history, tmp_path / "plain.csv")
    assert load_history(tmp_path / "plain.csv")["epoch"] == [1.0, 2.0, 3.0]
    # a table read back is written back unchanged (its epoch column is not doubled)
    save_history(loaded, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "h.csv").read_text()


def test_plots_draw_the_epoch_0_point(tmp_path, monkeypatch):
    from deltaprop.cli import plots

    history, diagnostics, _ = _fit_with_diagnostics()
    drawn = {}
    original = plots._finite_series

    def spy(x, values):
        xs, ys = original(x, values)
        drawn.setdefault("x", []).append(list(xs))
        return xs, ys

    monkeypatch.setattr(plots, "_finite_series", spy)
    plots.plot_gradient_norms(history_table(history, diagnostics.initial), tmp_path / "g.png")
    assert all(xs[0] == 0 for xs in drawn["x"])  # every layer's line starts at epoch 0


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.slow
def test_train_diagnostics_writes_epoch_0_and_keeps_it_on_resume(tmp_path):
    common = ["--preset", "nielsen", "--layers", "64,20,20,10", "--init", "standard_normal", "--seed", "3", "--diagnostics", "-q"]
    first = _run("train", *common, "--epochs", "1", "--checkpoint", "ck.npz", "--out", "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    history = load_history(tmp_path / "run" / "history.csv")
    assert history["epoch"] == [0.0, 1.0] and math.isnan(history["cost"][0])
    # Oracle: the untrained network (same options, same seed) measured on the same probe batch.
    data = load_dataset("digits", dtype="float32")
    net = deltaprop.Network([64, 20, 20, 10], init="standard_normal", seed=3)
    expected = measure(net, data.X_train[:500], data.y_train[:500])
    for key, value in expected.items():
        assert history[key][0] == pytest.approx(value, rel=1e-6), key
    resumed = _run("train", "--resume", "ck.npz", "--epochs", "2", "--diagnostics", "-q", "--out", "run2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    again = load_history(tmp_path / "run2" / "history.csv")
    assert again["epoch"] == [0.0, 1.0, 2.0]
    for key in expected:
        assert again[key][0] == history[key][0] and again[key][1] == history[key][1]
