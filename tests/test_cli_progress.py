"""The progress reporting the command line uses: a tqdm bar over all batches, and one line per epoch."""

import io
import math

import numpy as np

import deltaprop
from deltaprop.cli.progress import EpochLog, ProgressBar, epoch_summary


def _problem():
    rng = np.random.default_rng(0)
    return rng.random((25, 3)), np.arange(25) % 2


def test_bar_counts_every_batch_and_shows_the_running_cost(capsys):
    X, y = _problem()
    drawn = io.StringIO()
    bar = ProgressBar(epochs=3, batches_per_epoch=math.ceil(25 / 10), file=drawn, disable=False)
    history = deltaprop.Network([3, 4, 2], seed=0).fit(X, y, epochs=3, batch_size=10, validation_data=(X, y),
                                                       callbacks=[bar])
    assert bar.bar.n == bar.bar.total == 9  # 3 epochs of ceil(25 / 10) batches
    assert "0/9" in drawn.getvalue()  # drawn (tqdm redraws at most every 0.1 s, and clears the bar at the end)
    assert "epoch=3/3" in bar.bar.postfix and "val_accuracy=" in bar.bar.postfix
    # Oracle: fit's own record of the epoch cost, the size-weighted mean of the batch costs.
    assert f"cost={history.history['cost'][-1]:.4g}" in bar.bar.postfix
    lines = capsys.readouterr().out.splitlines()
    assert lines == [epoch_summary(e, 3, {k: v[e] for k, v in history.history.items()}) for e in range(3)]


def test_bar_stays_silent_when_not_on_a_terminal(capsys):
    X, y = _problem()
    drawn = io.StringIO()  # not a terminal: disable=None turns the bar off
    deltaprop.Network([3, 2], seed=0).fit(X, y, epochs=2, callbacks=[ProgressBar(2, 3, file=drawn, log_epochs=False)])
    assert drawn.getvalue() == "" and capsys.readouterr().out == ""


def test_epoch_log_prints_one_line_per_epoch():
    X, y = _problem()
    out = io.StringIO()
    deltaprop.Network([3, 2], seed=0).fit(X, y, epochs=4, callbacks=[EpochLog(4, file=out)])
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("cost" in line and "val_" not in line for line in lines)


def test_epoch_summary_format():
    # Hand-worked: epochs count from 0 in fit and from 1 on screen; accuracy to 4 decimals, costs to 4 digits.
    assert epoch_summary(9, 100, {"cost": 0.123456, "val_cost": 2.0, "val_accuracy": 0.5}) == \
        "epoch  10/100  cost 0.1235  val_cost 2  val_accuracy 0.5000"
