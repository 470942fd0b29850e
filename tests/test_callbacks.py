"""Keras-style callbacks in fit: early stopping, checkpoints, CSV logs, learning-rate schedules."""

import csv

import numpy as np
import pytest

from deltaprop import Network
from deltaprop.errors import DeltapropError
from deltaprop.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
)
from deltaprop.train.optim import SGD


class Recorder(Callback):
    """Keeps every epoch's logs and a copy of the weights (an independent record of the run)."""

    def __init__(self):
        self.logs, self.weights = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))
        self.weights.append([(layer.W.copy(), layer.b.copy()) for layer in self.network.layers])


class FakeNetwork:
    stop_training = False
    layers = ()


def _drive(callback, values, monitor="val_cost"):
    """Feed ``callback`` one logged value per epoch, as fit would; return the epochs that ran."""
    callback.set_network(FakeNetwork())
    callback.network.stop_training = False
    callback.on_train_begin()
    ran = []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value})
        ran.append(epoch)
        if callback.network.stop_training:
            break
    callback.on_train_end()
    return ran


@pytest.fixture(scope="module")
def digits_overfit():
    """40 training digits, 300 validation digits: the validation cost soon stops improving."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return (X[:40], y[:40]), (X[1000:1300], y[1000:1300])


def _softmax_net():
    return Network([64, 30, 10], activation="sigmoid", output_activation="softmax", cost="log_likelihood", seed=0)


# -- EarlyStopping -----------------------------------------------------------------------------


def test_early_stopping_rule_by_hand():
    # Hand-worked, patience 2: 1.0 (best) 0.8 (best) 0.85 (wait 1) 0.9 (wait 2 -> stop after epoch 3)
    stop = EarlyStopping(patience=2)
    assert _drive(stop, [1.0, 0.8, 0.85, 0.9, 0.5]) == [0, 1, 2, 3]
    assert (stop.best, stop.best_epoch, stop.stopped_epoch) == (0.8, 1, 3)


def test_early_stopping_min_delta_and_max_mode_by_hand():
    # min_delta 0.1: 0.95 is not below 1.0 - 0.1, nor 0.92: two epochs without improvement, patience 2
    assert _drive(EarlyStopping(patience=2, min_delta=0.1), [1.0, 0.95, 0.92, 0.5]) == [0, 1, 2]
    # accuracies improve upwards: 0.5, 0.6 (best), 0.55 (wait 1 -> stop, patience 1)
    stop = EarlyStopping(monitor="val_accuracy", patience=1)
    assert _drive(stop, [0.5, 0.6, 0.55, 0.9], monitor="val_accuracy") == [0, 1, 2]
    assert stop.best == 0.6


def test_early_stopping_stops_a_real_run_and_restores_the_best_weights(digits_overfit):
    # Oracle: a Recorder callback's independent record of every epoch's val_cost and weights.
    train, validation = digits_overfit
    net, recorder = _softmax_net(), Recorder()
    stop = EarlyStopping(monitor="val_cost", patience=3, restore_best_weights=True)
    history = net.fit(*train, epochs=100, batch_size=5, eta=1.0, seed=0, validation_data=validation,
                      callbacks=[recorder, stop])
    val_costs = [logs["val_cost"] for logs in recorder.logs]
    best = int(np.argmin(val_costs))
    assert len(history.epoch) < 100  # it did stop early ...
    assert history.epoch[-1] == best + 3 == stop.stopped_epoch  # ... 3 epochs after the best one
    assert stop.best_epoch == best and stop.best == val_costs[best]
    for layer, (W, b) in zip(net.layers, recorder.weights[best]):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
    assert net.cost(*validation) == pytest.approx(val_costs[best], rel=1e-6)
    assert net.cost(*validation) < val_costs[-1]


def test_early_stopping_without_restore_keeps_the_last_weights(digits_overfit):
    train, validation = digits_overfit
    net, recorder = _softmax_net(), Recorder()
    net.fit(*train, epochs=100, batch_size=5, eta=1.0, seed=0, validation_data=validation,
            callbacks=[recorder, EarlyStopping(patience=3)])
    np.testing.assert_array_equal(net.layers[0].W, recorder.weights[-1][0][0])


def test_monitoring_a_metric_fit_does_not_log_says_what_to_do():
    net = Network([2, 2], seed=0)
    with pytest.raises(DeltapropError, match="validation_data"):
        net.fit(np.ones((4, 2)), np.ones((4, 2)) / 2, epochs=2, callbacks=[EarlyStopping()])


# -- ModelCheckpoint ------------------------------------------------------------------------------


def test_checkpoint_save_best_only_writes_only_on_improvement(tmp_path, digits_overfit):
    # Oracle: the epochs where the recorded val_cost sets a new running minimum, found independently.
    from deltaprop.files.model import load

    train, validation = digits_overfit
    net, recorder = _softmax_net(), Recorder()
    checkpoint = ModelCheckpoint(tmp_path / "model-{epoch:02d}.npz", monitor="val_cost", save_best_only=True)
    net.fit(*train, epochs=15, batch_size=5, eta=1.0, seed=0, validation_data=validation, callbacks=[recorder, checkpoint])
    val_costs = [logs["val_cost"] for logs in recorder.logs]
    improving = [e for e, c in enumerate(val_costs) if c < min(val_costs[:e], default=np.inf)]
    assert len(improving) < len(val_costs)  # the run has epochs that did not improve
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == [f"model-{e + 1:02d}.npz" for e in improving]  # file names count epochs from 1
    assert [epoch for epoch, _ in checkpoint.saved] == improving
    best = load(tmp_path / f"model-{improving[-1] + 1:02d}.npz")
    assert best.cost(*validation) == pytest.approx(min(val_costs), rel=1e-6)


def test_checkpoint_without_save_best_only_writes_every_epoch(tmp_path):
    net = Network([2, 3, 2], seed=0)
    checkpoint = ModelCheckpoint(str(tmp_path / "m{epoch}-{cost:.2f}.npz"), monitor="cost")
    net.fit(np.ones((6, 2)), np.arange(6) % 2, epochs=3, callbacks=[checkpoint])
    assert len(list(tmp_path.iterdir())) == 3
    assert [p.split("/")[-1][:2] for _, p in checkpoint.saved] == ["m1", "m2", "m3"]


def test_checkpoint_path_with_an_unknown_field_is_explained(tmp_path):
    net = Network([2, 2], seed=0)
    with pytest.raises(DeltapropError, match="val_loss"):
        net.fit(np.ones((2, 2)), np.ones((2, 2)) / 2, callbacks=[ModelCheckpoint(str(tmp_path / "{val_loss}.npz"))])


# -- CSVLogger and LearningRateScheduler -----------------------------------------------------------


def test_csv_logger_writes_what_history_records(tmp_path):
    # Oracle: the History that fit returns; floats are written with repr, so they read back exactly.
    X = np.random.default_rng(0).random((20, 3))
    y = np.arange(20) % 2
    net = Network([3, 4, 2], seed=0)
    path = tmp_path / "log.csv"
    history = net.fit(X, y, epochs=4, validation_data=(X, y), callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "cost", "val_accuracy", "val_cost"]
    # epochs counted from 1, as in the command line's history.csv (they were 0-based before issue 13)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for key in ("cost", "val_cost", "val_accuracy"):
        assert [float(r[key]) for r in rows] == history.history[key]
    net.fit(X, y, epochs=2, callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 + 4 + 2 and lines.count(lines[0]) == 1  # one header, six rows


def test_learning_rate_scheduler_equals_separate_fits_at_each_rate():
    # Oracle: fit reads eta each step, so halving it every epoch equals three one-epoch fits at
    # 1.0, 0.5 and 0.25 (no shuffling, same start).
    X = np.random.default_rng(3).random((30, 2))
    y = np.arange(30) % 2
    scheduled, manual = Network([2, 3, 2], seed=0, dtype="float64"), Network([2, 3, 2], seed=0, dtype="float64")
    optimizer = SGD(2.0)
    scheduler = LearningRateScheduler(lambda epoch, eta: eta / 2, optimizer=optimizer)
    history = scheduled.fit(X, y, epochs=3, shuffle=False, optimizer=optimizer, callbacks=[scheduler])
    for eta in (1.0, 0.5, 0.25):
        manual.fit(X, y, epochs=1, shuffle=False, eta=eta)
    assert scheduler.etas == [1.0, 0.5, 0.25] == history.history["eta"]
    np.testing.assert_array_equal(scheduled.layers[0].W, manual.layers[0].W)


def test_learning_rate_scheduler_uses_the_networks_optimizer_attribute():
    net = Network([2, 2], seed=0)
    net.optimizer = SGD(1.0)  # what fit exposes to callbacks
    scheduler = LearningRateScheduler(lambda epoch, eta: 0.1 * (epoch + 1))
    scheduler.set_network(net)
    scheduler.on_epoch_begin(2)
    assert net.optimizer.eta == pytest.approx(0.3)


def test_learning_rate_scheduler_rejects_a_bad_schedule():
    optimizer = SGD(1.0)
    with pytest.raises(DeltapropError, match="eta=-1"):
        Network([2, 2], seed=0).fit(np.ones((2, 2)), np.ones((2, 2)) / 2, optimizer=optimizer,
                                    callbacks=[LearningRateScheduler(lambda e, eta: -1, optimizer=optimizer)])
    with pytest.raises(DeltapropError, match="fn"):
        LearningRateScheduler(0.1)


@pytest.mark.parametrize("make, name", [
    (lambda: EarlyStopping(patience=-1), "patience"),
    (lambda: EarlyStopping(min_delta=-0.1), "min_delta"),
    (lambda: EarlyStopping(mode="up"), "mode"),
    (lambda: ModelCheckpoint(3), "path"),
    (lambda: CSVLogger("x.csv", separator=";;"), "separator"),
])
def test_bad_callback_arguments_are_named(make, name):
    with pytest.raises(DeltapropError, match=name):
        make()
