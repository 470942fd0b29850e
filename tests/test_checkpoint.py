"""Checkpoints, resuming, divergence, clipping, Ctrl-C and memmaps, in-process.

The oracle throughout is the uninterrupted run: the same fit with the same seed, in the same
process, must give the same weights and history bit for bit however it is cut up.
"""

import os
import signal
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

import deltaprop
from deltaprop import SGD, Adam, Callback, DivergenceError
from deltaprop.errors import DeltapropError, ModelFileError, NonFiniteError
from deltaprop.files.checkpoint import load_checkpoint, save_checkpoint
from deltaprop.train.checkpoint import Checkpoint
from deltaprop.train.run import TrainingInterrupted, clip_gradients

SIZES = [5, 7, 3]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((53, 5))
    y = rng.integers(0, 3, 53)
    return X, y, (X[:15], y[:15])


def _network(seed=0):
    return deltaprop.Network(SIZES, activation="tanh", output_activation="softmax", cost="log_likelihood", seed=seed)


OPTIMIZERS = {
    "sgd": lambda: SGD(0.4),
    "momentum": lambda: SGD(0.3, momentum=0.9, nesterov=True),
    "adam": lambda: Adam(0.02),
}
RUNS = [  # optimiser, shuffle, lmbda, max_grad_norm
    ("sgd", True, 0.0, None),
    ("momentum", True, 0.5, 0.7),
    ("adam", False, 0.1, None),
    ("adam", True, 0.0, 2.0),
]


def _fit(problem, optimizer, shuffle, lmbda, clip, epochs=4, net=None, **options):
    X, y, validation = problem
    net = net or _network()
    history = net.fit(X, y, epochs=epochs, batch_size=8, optimizer=OPTIMIZERS[optimizer](), shuffle=shuffle,
                      lmbda=lmbda, max_grad_norm=clip, seed=1, validation_data=validation, **options)
    return net, history


def _same(net, other):
    return all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) for a, b in zip(net.layers, other.layers))


class StopAt(Callback):
    """Raises after batch ``step`` (counted over the run, from 1): a crash between two batches."""

    def __init__(self, step):
        self.step, self.seen = step, 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise RuntimeError("crash")


@pytest.mark.parametrize("optimizer, shuffle, lmbda, clip", RUNS)
def test_writing_checkpoints_changes_nothing(problem, tmp_path, optimizer, shuffle, lmbda, clip):
    plain, plain_history = _fit(problem, optimizer, shuffle, lmbda, clip)
    saved, saved_history = _fit(problem, optimizer, shuffle, lmbda, clip, checkpoint=tmp_path / "c.npz",
                                checkpoint_every=3)
    assert _same(plain, saved) and plain_history.history == saved_history.history
    state = load_checkpoint(tmp_path / "c.npz")  # the final state: epochs done, nothing pending
    assert (state.epoch, state.batch, state.step) == (4, 0, 4 * 7)
    assert _same(state.network, plain) and state.history.history == plain_history.history


@pytest.mark.parametrize("optimizer, shuffle, lmbda, clip", RUNS)
@pytest.mark.parametrize("crash_after", [5, 8, 15, 22])  # 7 batches an epoch: epochs 1, 2, 3 and 4
def test_resuming_after_a_crash_is_bit_identical(problem, tmp_path, optimizer, shuffle, lmbda, clip, crash_after):
    reference, reference_history = _fit(problem, optimizer, shuffle, lmbda, clip)
    path = tmp_path / "c.npz"
    with pytest.raises(RuntimeError, match="crash"):
        _fit(problem, optimizer, shuffle, lmbda, clip, checkpoint=path, checkpoint_every=2,
             callbacks=[StopAt(crash_after)])
    state = load_checkpoint(path)
    assert state.step == (crash_after - 1) // 2 * 2  # the crash comes before the checkpoint of its own batch
    resumed, history = _fit(problem, optimizer, shuffle, lmbda, clip, net=_network(seed=99), resume=path)
    assert _same(resumed, reference)
    assert history.history == reference_history.history and history.epoch == reference_history.epoch


def test_resume_can_extend_a_finished_run(problem, tmp_path):
    # Oracle: one 6-epoch run equals 3 epochs, then 3 more from the final checkpoint.
    reference, reference_history = _fit(problem, "momentum", True, 0.0, None, epochs=6)
    _fit(problem, "momentum", True, 0.0, None, epochs=3, checkpoint=tmp_path / "c.npz")
    state = load_checkpoint(tmp_path / "c.npz")
    extended, history = _fit(problem, "momentum", True, 0.0, None, epochs=6, net=_network(5), resume=state)
    assert _same(extended, reference) and history.history == reference_history.history


def test_resume_refuses_a_different_run(problem, tmp_path):
    X, y, _ = problem
    path = tmp_path / "c.npz"
    _fit(problem, "sgd", True, 0.0, None, epochs=1, checkpoint=path)
    with pytest.raises(DeltapropError, match="batch_size=8 but fit got batch_size=9"):
        _network().fit(X, y, batch_size=9, resume=path)
    with pytest.raises(DeltapropError, match="n=53 but fit got n=52"):
        _network().fit(X[:52], y[:52], batch_size=8, resume=path)
    with pytest.raises(DeltapropError, match="not the architecture"):
        deltaprop.Network([5, 4, 3], seed=0).fit(X, y, batch_size=8, resume=path)
    with pytest.raises(DeltapropError, match="'adam', not 'sgd'|not 'adam'"):
        _network().fit(X, y, batch_size=8, resume=path, optimizer=Adam())
    with pytest.raises(ModelFileError, match="does not exist"):
        _network().fit(X, y, resume=tmp_path / "nope.npz")


@pytest.mark.parametrize("bad, message", [
    ({"checkpoint_every": 0}, "checkpoint_every=0"),
    ({"checkpoint_every": "batch"}, "checkpoint_every='batch'"),
    ({"checkpoint": "/nonexistent/dir/c.npz"}, "does not exist"),
    ({"max_grad_norm": -1.0}, "max_grad_norm=-1.0"),
    ({"checkpoint_metadata": [1]}, "checkpoint_metadata"),
])
def test_bad_options_are_refused_before_training(problem, tmp_path, bad, message):
    X, y, _ = problem
    net = _network()
    before = [layer.W.copy() for layer in net.layers]
    options = {"checkpoint": tmp_path / "c.npz", **bad}
    with pytest.raises(DeltapropError, match=message):
        net.fit(X, y, **options)
    assert all(np.array_equal(w, layer.W) for w, layer in zip(before, net.layers))


def test_checkpoint_round_trip_keeps_every_field(tmp_path):
    # Oracle: the values put in; NaN in the history survives, the generator continues identically.
    net, optimizer = _network(), Adam(0.01)
    X = np.random.default_rng(0).standard_normal((10, 5))
    net.fit(X, np.arange(10) % 3, optimizer=optimizer, epochs=1, batch_size=4)
    history = deltaprop.History()
    history.on_epoch_end(0, {"cost": 0.5, "val_cost": float("nan")})
    rng = np.random.Generator(np.random.MT19937(3))
    settings = {"n": 10, "batch_size": 4, "epochs": 3, "lmbda": 0.25, "shuffle": False, "max_grad_norm": 1.5}
    save_checkpoint(tmp_path / "c.npz", Checkpoint(net, optimizer, rng, 1, 2, 5, 0.75, history, settings, {"k": [1]}))
    back = load_checkpoint(tmp_path / "c.npz")
    assert _same(back.network, net) and back.optimizer.t == optimizer.t == 3
    mine, theirs = optimizer.state_dict(), back.optimizer.state_dict()
    assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
    assert (back.epoch, back.batch, back.step, back.epoch_cost) == (1, 2, 5, 0.75)
    assert back.settings == settings and back.extra == {"k": [1]}
    assert back.history.history["cost"] == [0.5] and np.isnan(back.history.history["val_cost"][0])
    assert back.rng.random() == rng.random()


def test_non_finite_state_is_never_written(tmp_path):
    net = _network()
    net.layers[1].W[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="W1 holds NaN"):
        net.save(tmp_path / "model.npz")
    settings = {"n": 10, "batch_size": 4, "epochs": 3, "lmbda": 0.0, "shuffle": True, "max_grad_norm": None}
    state = Checkpoint(net, SGD(0.1), np.random.default_rng(), 0, 0, 0, 0.0, deltaprop.History(), settings)
    with pytest.raises(NonFiniteError):
        save_checkpoint(tmp_path / "c.npz", state)
    assert os.listdir(tmp_path) == []


# -- divergence -----------------------------------------------------------------------------------------

def _regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 3))
    return X, X @ rng.standard_normal((3, 2))


def _all_finite_files(directory):
    for name in os.listdir(directory):
        with np.load(os.path.join(directory, name), allow_pickle=False) as archive:
            for key in archive.files:
                if archive[key].dtype.kind == "f":
                    assert np.isfinite(archive[key]).all(), f"{name}:{key}"


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_a_huge_eta_stops_with_finite_weights_and_finite_files(tmp_path, activation):
    X, Y = _regression()
    net = deltaprop.Network([3, 8, 2], activation=activation, output_activation="identity", seed=0)
    with pytest.raises(DivergenceError, match=r"diverged at epoch 1, batch \d+ of 20: .*smaller eta \(it is 1e\+06\)") \
            as caught:
        net.fit(X, Y, epochs=50, batch_size=10, eta=1e6, checkpoint=tmp_path / "c.npz", checkpoint_every=1)
    assert caught.value.epoch == 0 and caught.value.batch >= 1
    assert all(np.isfinite(layer.W).all() and np.isfinite(layer.b).all() for layer in net.layers)
    # Oracle for "the last finite weights": the checkpoint of the batch before the divergence.
    state = load_checkpoint(tmp_path / "c.npz")
    assert state.step == caught.value.batch and _same(state.network, net)
    net.save(tmp_path / "model.npz")  # finite, so it can be saved
    _all_finite_files(tmp_path)


class Poison(Callback):
    """Sets one weight to +inf after batch 5 of epoch ``epoch``: a sigmoid unit saturates, the cost stays finite."""

    def __init__(self, epoch):
        self.epoch, self.start = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.start = [(layer.W.copy(), layer.b.copy()) for layer in self.network.layers]

    def on_batch_end(self, batch, logs=None):
        if self.start is not None and batch == 5:
            self.network.layers[0].W[0, 0] = np.inf


def test_an_infinite_weight_behind_a_finite_cost_is_undone_at_the_epoch_end():
    rng = np.random.default_rng(1)
    X, Y = rng.random((100, 3)) + 0.1, rng.random((100, 2))  # positive inputs: W[0, 0] = inf gives z = +inf
    net = deltaprop.Network([3, 8, 2], seed=0)
    poison = Poison(epoch=1)
    with pytest.raises(DivergenceError, match="during epoch 2 .* restored to the start of epoch 2") as caught:
        net.fit(X, Y, epochs=3, batch_size=10, eta=0.5, callbacks=[poison])
    assert caught.value.epoch == 1 and caught.value.batch is None
    # Oracle: the weights the callback copied when epoch 2 began.
    assert all(np.array_equal(W, layer.W) and np.array_equal(b, layer.b)
               for (W, b), layer in zip(poison.start, net.layers))


def test_clipping_matches_a_hand_computed_step():
    # Oracle: backprop's gradient g, clipped to norm c by hand, and one SGD step W - eta * g * c / ||g||.
    X, Y = _regression()
    X, Y = X[:20], Y[:20]
    net = deltaprop.Network([3, 4, 2], activation="tanh", output_activation="identity", seed=0, dtype="float64")
    expected = net.copy()
    gradient = net.backprop(X, Y)
    norm = np.sqrt(sum(np.sum(w**2) + np.sum(b**2) for w, b in gradient))
    clip = float(norm) / 3
    for layer, (w, b) in zip(expected.layers, gradient):
        layer.W = layer.W - 0.1 * w * (clip / norm)
        layer.b = layer.b - 0.1 * b * (clip / norm)
    net.fit(X, Y, epochs=1, batch_size=20, eta=0.1, shuffle=False, max_grad_norm=clip)
    for mine, theirs in zip(net.layers, expected.layers):
        np.testing.assert_allclose(mine.W, theirs.W, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(mine.b, theirs.b, rtol=1e-12, atol=1e-15)
    unclipped, same = net.copy(), net.copy()
    unclipped.fit(X, Y, epochs=1, batch_size=20, eta=0.1, shuffle=False)
    same.fit(X, Y, epochs=1, batch_size=20, eta=0.1, shuffle=False, max_grad_norm=1e9)  # never reached
    assert _same(unclipped, same)


def test_a_non_finite_gradient_norm_is_reported_not_clipped():
    # Oracle: the norms by hand, sqrt(1 + inf^2) = inf and sqrt(3^2 + 4^2) 1e30 = 5e30.
    buffers = SimpleNamespace(nabla_w=[np.array([[1.0, np.inf]])], nabla_b=[np.array([0.0])])
    assert clip_gradients(buffers.nabla_w, buffers.nabla_b, 1.0, 1.0) == np.inf
    assert np.array_equal(buffers.nabla_w[0], [[1.0, np.inf]])  # left for the caller to stop on
    buffers.nabla_w = [np.array([[3e30, 4e30]], dtype=np.float32)]  # the float32 sum of squares overflows
    with np.errstate(over="ignore"):  # as inside fit
        assert clip_gradients(buffers.nabla_w, buffers.nabla_b, 1.0, 1.0) == pytest.approx(5e30, rel=1e-6)
    assert np.all(np.isfinite(buffers.nabla_w[0])) and np.linalg.norm(buffers.nabla_w[0]) == pytest.approx(1.0)


# -- Ctrl-C ---------------------------------------------------------------------------------------------

class CtrlC(Callback):
    """Sends this process SIGINT during batch ``step`` (counted from 1), ``times`` times."""

    def __init__(self, step, times=1):
        self.step, self.times, self.seen = step, times, 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_finishes_the_batch_saves_and_resumes_identically(problem, tmp_path):
    reference, reference_history = _fit(problem, "momentum", True, 0.1, None)
    path = tmp_path / "c.npz"
    with pytest.raises(TrainingInterrupted) as caught:
        _fit(problem, "momentum", True, 0.1, None, checkpoint=path, checkpoint_every=None, callbacks=[CtrlC(10)])
    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt)
    assert (stop.epoch, stop.batch, stop.checkpoint) == (1, 3, os.fspath(path))  # 7 batches per epoch: 10 = 7 + 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # fit put the handler back
    assert load_checkpoint(path).step == 10
    resumed, history = _fit(problem, "momentum", True, 0.1, None, net=_network(3), resume=path)
    assert _same(resumed, reference) and history.history == reference_history.history


def test_a_second_ctrl_c_stops_at_once(problem):
    with pytest.raises(KeyboardInterrupt) as caught:
        _fit(problem, "sgd", True, 0.0, None, callbacks=[CtrlC(3, times=2)])
    assert not isinstance(caught.value, TrainingInterrupted)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- memmaps ----------------------------------------------------------------------------------------------

def test_training_from_a_memmap_reads_batches_without_copying(tmp_path):
    # Oracle: the same fit on the array in memory; and tracemalloc sees far less than the array.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 100)).astype(np.float32)  # 8 MB
    y = rng.integers(0, 10, 20000)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    in_memory = deltaprop.Network([100, 16, 10], seed=0)
    in_memory.fit(X, y, epochs=1, batch_size=50, eta=0.5, seed=2)
    from_disk = deltaprop.Network([100, 16, 10], seed=0)
    tracemalloc.start()
    from_disk.fit(mapped, y, epochs=1, batch_size=50, eta=0.5, seed=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert _same(in_memory, from_disk)
    assert peak < X.nbytes / 4, f"fit allocated {peak} bytes for an {X.nbytes}-byte memmap"
    float64 = np.load(tmp_path / "X.npy", mmap_mode="r")  # a float64 network converts batch by batch
    deltaprop.Network([100, 16, 10], seed=0, dtype="float64").fit(float64, y, epochs=1, batch_size=50)
