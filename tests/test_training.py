"""Learning: SGD lowers the cost, solves XOR, and reaches accuracy floors on digits and MNIST."""

import numpy as np
import pytest

import deltaprop
from deltaprop.train.callbacks import Callback
from tests.conftest import random_problem


def test_one_small_sgd_step_lowers_the_cost_on_a_fixed_batch():
    # Oracle: a small step along minus the gradient must lower a smooth cost (first-order Taylor).
    net = deltaprop.Network([5, 7, 3], activation="tanh", output_activation="softmax", cost="log_likelihood",
                            seed=0, dtype="float64")
    X, Y = random_problem(net.sizes, "log_likelihood", np.random.default_rng(0), m=16)
    before = net.cost(X, Y)
    net.fit(X, Y, epochs=1, batch_size=16, eta=0.05, shuffle=False)
    assert net.cost(X, Y) < before


def test_one_sgd_step_is_w_minus_eta_times_the_gradient():
    # Oracle: MATH.md's update written out with backprop's mean gradient.
    net = deltaprop.Network([4, 3, 2], seed=1, dtype="float64")
    X, Y = random_problem(net.sizes, "quadratic", np.random.default_rng(1), m=8)
    grad = net.backprop(X, Y)
    expected = [(layer.W - 0.5 * gw, layer.b - 0.5 * gb) for layer, (gw, gb) in zip(net.layers, grad)]
    net.fit(X, Y, epochs=1, batch_size=8, eta=0.5, shuffle=False)
    for layer, (W, b) in zip(net.layers, expected):
        np.testing.assert_allclose(layer.W, W, rtol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=1e-12)


def test_l2_step_is_network2_weight_decay():
    # Oracle: W <- (1 - eta lmbda / n) W - eta grad (Nielsen's network2), biases not decayed.
    net = deltaprop.Network([4, 3, 2], seed=2, dtype="float64")
    X, Y = random_problem(net.sizes, "quadratic", np.random.default_rng(2), m=8)
    grad = net.backprop(X, Y)
    eta, lmbda, n = 0.5, 2.0, 8
    expected = [((1 - eta * lmbda / n) * layer.W - eta * gw, layer.b - eta * gb) for layer, (gw, gb) in zip(net.layers, grad)]
    net.fit(X, Y, epochs=1, batch_size=8, eta=eta, lmbda=lmbda, shuffle=False)
    for layer, (W, b) in zip(net.layers, expected):
        np.testing.assert_allclose(layer.W, W, rtol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=1e-12)


def test_xor_is_learnt_by_a_2_3_1_sigmoid_network():
    # Oracle: the XOR truth table.
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    net = deltaprop.Network([2, 3, 1], activation="sigmoid", cost="cross_entropy", init="standard_normal", seed=0)
    net.fit(X, y, epochs=2000, batch_size=4, eta=2.0, seed=0)
    np.testing.assert_array_equal(net.predict(X), y)


def test_same_seed_same_weights_and_history():
    def train():
        net = deltaprop.Network([6, 5, 3], activation="relu", output_activation="softmax", cost="log_likelihood", seed=3)
        X, Y = random_problem(net.sizes, "log_likelihood", np.random.default_rng(3), m=50)
        history = net.fit(X, Y, epochs=3, batch_size=7, eta=0.1, seed=4)
        return net, history

    (a, ha), (b, hb) = train(), train()
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)
    assert ha.history == hb.history


def test_history_holds_per_epoch_lists(digits_split):
    (X, y), (X_test, y_test) = digits_split
    net = deltaprop.Network([64, 30, 10], seed=0)
    history = net.fit(X, y, epochs=3, batch_size=10, eta=3.0, seed=0, validation_data=(X_test, y_test))
    assert set(history.history) == {"cost", "val_cost", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.history["cost"][2] < history.history["cost"][0]
    # Oracle: the validation figures equal the network's own cost() and evaluate() after training.
    assert history.history["val_accuracy"][-1] == pytest.approx(net.evaluate(X_test, y_test))
    assert history.history["val_cost"][-1] == pytest.approx(net.cost(X_test, y_test), rel=1e-5)


def test_one_hot_targets_and_labels_train_identically(digits_split):
    (X, y), _ = digits_split
    a = deltaprop.Network([64, 10, 10], seed=0)
    b = deltaprop.Network([64, 10, 10], seed=0)
    a.fit(X[:200], y[:200], epochs=2, seed=1)
    b.fit(X[:200], np.eye(10)[y[:200]], epochs=2, seed=1)
    np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)


def test_callbacks_see_every_batch_and_can_stop_training():
    class StopAfterTwo(Callback):
        def __init__(self):
            self.batches, self.epochs = 0, []

        def on_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(epoch)
            logs["seen"] = self.batches  # a callback may add metrics to the history
            self.network.stop_training = epoch == 1

    net = deltaprop.Network([3, 2], seed=0)
    X, Y = random_problem(net.sizes, "quadratic", np.random.default_rng(0), m=25)
    callback = StopAfterTwo()
    history = net.fit(X, Y, epochs=10, batch_size=10, callbacks=[callback])
    assert callback.epochs == [0, 1] and callback.batches == 6  # 3 batches (10, 10, 5) per epoch
    assert history.history["seen"] == [3, 6]


def test_digits_reach_95_percent(digits_split):
    # Accuracy floor on a fixed split (the digits demo of the README).
    (X, y), (X_test, y_test) = digits_split
    net = deltaprop.Network([64, 30, 10], seed=0)
    net.fit(X, y, epochs=30, batch_size=10, eta=3.0, seed=0)
    assert net.evaluate(X_test, y_test) >= 0.95


@pytest.mark.slow
def test_mnist_nielsen_setting_reaches_91_percent_in_10_epochs(mnist_subset):
    # Nielsen's chapter-1 setting on real MNIST: network.py itself reaches 92.35% at epoch 10 here.
    (X, y), (X_test, y_test) = mnist_subset
    net = deltaprop.Network([784, 30, 10], activation="sigmoid", cost="quadratic", init="standard_normal", seed=0)
    history = net.fit(X, y, epochs=10, batch_size=10, eta=3.0, seed=0, validation_data=(X_test, y_test))
    assert max(history.history["val_accuracy"]) >= 0.91
    assert net.evaluate(X_test, y_test) >= 0.91


def test_learning_rate_scheduler_drives_the_default_sgd():
    # Oracle: the schedule eta_e = 0.5 / (e + 1) evaluated by hand for the last of 3 epochs.
    net = deltaprop.Network([3, 2], seed=0)
    X, Y = random_problem(net.sizes, "quadratic", np.random.default_rng(0), m=20)
    net.fit(X, Y, epochs=3, eta=0.5, callbacks=[deltaprop.LearningRateScheduler(lambda epoch, eta: 0.5 / (epoch + 1))])
    assert net.optimizer.eta == pytest.approx(0.5 / 3)
