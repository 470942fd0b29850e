"""Data-parallel training (``fit(comm=...)``) on a communicator of threads: no MPI needed.

The training loop uses only five methods of the communicator it is given (``Get_rank``,
``Get_size``, ``Allreduce``, ``Bcast``, ``Abort``); :class:`ThreadComm` implements them for K
threads of this process, so the parallel path is tested in every run, with or without mpi4py.
``tests/test_mpi.py`` runs the same under ``mpiexec``.

Oracle: one process's ``fit`` on the same data, seed and global batch size (the weights must agree to
float rounding: 1e-12 relative in float64, 1e-5 in float32), and the shares' arithmetic written out.
"""

import threading

import numpy as np
import pytest

import deltaprop
from deltaprop.errors import DeltapropError, NonFiniteError
from deltaprop.files.checkpoint import load_checkpoint
from deltaprop.train.parallel import Ranks, RanksDisagree


class ThreadWorld:
    def __init__(self, size):
        self.size, self.barrier, self.slots, self.aborted = size, threading.Barrier(size), [None] * size, []


class ThreadComm:
    """An MPI communicator of threads: sums in rank order, the same on every rank, as MPI's are."""

    def __init__(self, world, rank):
        self.world, self.rank = world, rank

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.world.size

    def Allreduce(self, send, recv):
        world = self.world
        world.slots[self.rank] = np.array(send, copy=True)
        world.barrier.wait()
        total = world.slots[0].copy()
        for part in world.slots[1:]:
            total += part
        world.barrier.wait()
        recv[...] = total

    def Bcast(self, buf, root=0):
        world = self.world
        if self.rank == root:
            world.slots[root] = np.array(buf, copy=True)
        world.barrier.wait()
        buf[...] = world.slots[root]
        world.barrier.wait()

    def Abort(self, code=0):
        self.world.aborted.append((self.rank, code))
        self.world.barrier.abort()
        raise SystemExit(code)


def on_ranks(size, work):
    """Run ``work(comm)`` on ``size`` threads; return each rank's result or exception."""
    world = ThreadWorld(size)
    results = [None] * size

    def main(rank):
        try:
            results[rank] = work(ThreadComm(world, rank))
        except BaseException as error:  # noqa: BLE001 -- reported to the test
            results[rank] = error

    threads = [threading.Thread(target=main, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a rank hangs"
    on_ranks.world = world
    return results


def problem(n=61, n_in=6, classes=3, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)).astype(dtype), rng.integers(0, classes, n)


def network(dtype="float64", seed=0):
    return deltaprop.Network([6, 9, 7, 3], activation="tanh", output_activation="softmax", cost="log_likelihood",
                             seed=seed, dtype=dtype)


def weights(net):
    return [p.copy() for layer in net.layers for p in (layer.W, layer.b)]


def assert_close(got, expected, rtol):
    for a, b in zip(got, expected):
        assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(b)), np.max(np.abs(a - b)) / np.max(np.abs(b))


OPTIMIZERS = {
    "sgd": lambda: deltaprop.SGD(0.3),
    "momentum": lambda: deltaprop.SGD(0.1, momentum=0.9),
    "nesterov": lambda: deltaprop.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: deltaprop.Adam(0.01),
}


@pytest.mark.parametrize("m", range(0, 12))
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_shares_cover_the_batch_in_order_and_differ_by_at_most_one(m, size):
    shares = []
    for rank in range(size):
        ranks = Ranks.__new__(Ranks)
        ranks.rank, ranks.size = rank, size
        shares.append(ranks.share(m))
    assert shares[0][0] == 0 and shares[-1][1] == m
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
    lengths = [hi - lo for lo, hi in shares]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_k_ranks_train_the_weights_of_one_process(name, size):
    # n = 61, batch 10: six batches of 10 (shares 5+5, or 4+3+3) and a last batch of 1 (one rank's);
    # L2 on, validation data on. Every rank ends with the same weights and the same history.
    X, y = problem()
    kwargs = dict(epochs=3, batch_size=10, lmbda=0.5, seed=4, validation_data=(X[:23], y[:23]))
    one = network()
    expected_history = one.fit(X, y, optimizer=OPTIMIZERS[name](), **kwargs).history

    def work(comm):
        net = network()
        history = net.fit(X, y, optimizer=OPTIMIZERS[name](), comm=comm, **kwargs)
        return weights(net), history.history

    results = on_ranks(size, work)
    for got, history in results:
        assert_close(got, weights(one), 1e-12)
        np.testing.assert_allclose(history["cost"], expected_history["cost"], rtol=1e-12)
        np.testing.assert_allclose(history["val_cost"], expected_history["val_cost"], rtol=1e-12)
        assert history["val_accuracy"] == expected_history["val_accuracy"]
    assert all(np.array_equal(a, b) for a, b in zip(results[0][0], results[-1][0]))  # the same on every rank


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_float32_agrees_to_1e_5(name):
    X, y = problem(dtype="float32")
    one = network("float32")
    one.fit(X, y, epochs=2, batch_size=16, optimizer=OPTIMIZERS[name](), seed=1)

    def work(comm):
        net = network("float32")
        net.fit(X, y, epochs=2, batch_size=16, optimizer=OPTIMIZERS[name](), seed=1, comm=comm)
        return weights(net)

    for got in on_ranks(3, work):
        assert_close(got, weights(one), 1e-5)


@pytest.mark.parametrize("options", [dict(batch_size=2), dict(batch_size=7, shuffle=False),
                                     dict(batch_size=8, max_grad_norm=0.05)],
                         ids=["batches smaller than K", "no shuffling", "clipped"])
def test_small_batches_unshuffled_and_clipped_runs_agree(options):
    X, y = problem(n=23)
    one = network()
    one.fit(X, y, epochs=2, eta=0.2, seed=3, **options)

    def work(comm):
        net = network()
        net.fit(X, y, epochs=2, eta=0.2, seed=3, comm=comm, **options)
        return weights(net)

    for got in on_ranks(3, work):
        assert_close(got, weights(one), 1e-12)


def test_every_rank_starts_from_rank_0s_weights_and_shuffles_alike_without_seeds():
    X, y = problem()

    def work(comm):
        net = network(seed=None)  # different weights on every rank, until fit broadcasts rank 0's
        net.fit(X, y, epochs=2, batch_size=8, eta=0.1, comm=comm)  # seed=None: rank 0 draws it
        return weights(net)

    results = on_ranks(3, work)
    for got in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(got, results[0]))


def test_different_arguments_on_one_rank_are_an_error_on_every_rank():
    X, y = problem()

    def work(comm):
        network().fit(X, y, epochs=1, batch_size=10 if comm.Get_rank() != 1 else 12, comm=comm)

    results = on_ranks(3, work)
    assert all(isinstance(error, RanksDisagree) for error in results), results
    assert all("rank 1 of 3" in str(error) and "batch_size differs" in str(error) for error in results)


def test_a_seed_on_some_ranks_only_is_an_error_on_every_rank_not_a_hang():
    X, y = problem()
    results = on_ranks(2, lambda comm: network().fit(X, y, seed=None if comm.Get_rank() == 0 else 3, comm=comm))
    assert all(isinstance(error, RanksDisagree) and "rank 1 of 2: its seed differs" in str(error) for error in results)


def test_bad_data_in_one_ranks_share_is_an_error_on_every_rank():
    # Each rank checks its own rows for NaN: rank 1's (31:61) holds it; rank 0 hears of it from rank 1.
    X, y = problem()
    X[45, 2] = np.nan

    results = on_ranks(2, lambda comm: network().fit(X, y, comm=comm))
    assert isinstance(results[1], NonFiniteError) and "rows 31 to 60" in str(results[1])
    assert isinstance(results[0], DeltapropError) and str(results[0]).startswith("rank 1 of 2: X holds NaN")


def test_an_exception_on_one_rank_during_training_aborts_every_rank(capsys):
    X, y = problem()

    class Fails(deltaprop.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 3 and self.network is not None:
                raise RuntimeError("the disk is full")

    def work(comm):
        network().fit(X, y, epochs=2, batch_size=10, callbacks=[Fails()] if comm.Get_rank() == 1 else [], comm=comm)

    results = on_ranks(2, work)
    assert on_ranks.world.aborted[0] == (1, 1)  # rank 1 called Abort first, exit status 1
    assert all(isinstance(result, SystemExit) for result in results)
    err = capsys.readouterr().err
    assert "deltaprop: rank 1 of 2 failed; stopping every rank (MPI_Abort)" in err and "the disk is full" in err


def test_divergence_stops_every_rank_at_the_same_batch_with_the_same_weights():
    # Oracle: the single-process run diverges at the same batch and keeps the same last finite weights.
    from deltaprop.errors import DivergenceError

    X, _ = problem()
    y = X.sum(axis=1, keepdims=True)

    def regression():
        return deltaprop.Network([6, 9, 1], activation="relu", output_activation="identity", seed=0, dtype="float64")

    one = regression()
    with pytest.raises(DivergenceError) as alone:
        one.fit(X, y, epochs=5, batch_size=10, eta=2.0, seed=1)

    def work(comm):
        net = regression()
        with pytest.raises(DivergenceError) as error:
            net.fit(X, y, epochs=5, batch_size=10, eta=2.0, seed=1, comm=comm)
        return (error.value.epoch, error.value.batch, error.value.quantity), weights(net)

    for where, got in on_ranks(3, work):
        assert where == (alone.value.epoch, alone.value.batch, alone.value.quantity)
        assert_close(got, weights(one), 1e-12)


def test_a_callback_that_stops_on_rank_0_stops_every_rank():
    X, y = problem()

    class StopAfterTwo(deltaprop.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.network.stop_training = epoch == 1

    def work(comm):
        return network().fit(X, y, epochs=5, callbacks=[StopAfterTwo()] if comm.Get_rank() == 0 else [],
                             comm=comm).epoch

    assert on_ranks(3, work) == [[0, 1]] * 3


def test_a_schedule_on_rank_0_alone_is_caught_at_the_end_of_the_epoch():
    X, y = problem()

    def work(comm):
        schedule = [deltaprop.LearningRateScheduler(lambda epoch, eta: 0.5 * eta)] if comm.Get_rank() == 0 else []
        network().fit(X, y, epochs=3, optimizer=deltaprop.SGD(0.1), callbacks=schedule, comm=comm)

    results = on_ranks(2, work)
    assert all(isinstance(error, RanksDisagree) and "must be given to every rank" in str(error) for error in results)


def test_only_rank_0_writes_the_checkpoint_and_a_run_resumes_on_another_k(tmp_path):
    # Oracle: an uninterrupted single-process run of 4 epochs; the parallel run stops after 2
    # epochs on 2 ranks and resumes to 4 on 3 ranks from rank 0's checkpoint.
    X, y = problem()
    kwargs = dict(batch_size=10, lmbda=0.1, seed=5)
    one = network()
    one.fit(X, y, epochs=4, optimizer=deltaprop.Adam(0.01), **kwargs)

    def first(comm):
        path = tmp_path / f"rank{comm.Get_rank()}.ckpt"
        network().fit(X, y, epochs=2, optimizer=deltaprop.Adam(0.01), checkpoint=path, comm=comm, **kwargs)

    on_ranks(2, first)
    assert [p.name for p in tmp_path.iterdir()] == ["rank0.ckpt"]
    assert load_checkpoint(tmp_path / "rank0.ckpt").epoch == 2

    def resumed(comm):
        net = network(seed=None)
        history = net.fit(X, y, epochs=4, resume=tmp_path / "rank0.ckpt", comm=comm, **kwargs)
        return weights(net), history.epoch

    for got, epochs in on_ranks(3, resumed):
        assert_close(got, weights(one), 1e-12)
        assert epochs == [0, 1, 2, 3]


def test_each_rank_reads_only_the_rows_of_its_shares_from_a_memmap(tmp_path, monkeypatch):
    from deltaprop.core import rows as rows_module

    X, y = problem(n=40, dtype="float32")
    np.save(tmp_path / "X.npy", X)
    read = {}
    real_read = rows_module.RowReader.read

    def recording_read(self, index, out):
        # a slice is the NaN check's scan, an index array a shuffled share
        kind = "scanned" if isinstance(index, slice) else "trained"
        rows = range(index.start, index.stop) if isinstance(index, slice) else index.tolist()
        read.setdefault((threading.current_thread().name, kind), []).extend(rows)
        return real_read(self, index, out)

    monkeypatch.setattr(rows_module.RowReader, "read", recording_read)
    one = network("float32")
    one.fit(X, y, epochs=1, batch_size=10, eta=0.1, seed=2)
    read.clear()

    def work(comm):
        threading.current_thread().name = f"rank{comm.Get_rank()}"
        net = network("float32")
        net.fit(np.load(tmp_path / "X.npy", mmap_mode="r"), y, epochs=1, batch_size=10, eta=0.1, seed=2, comm=comm)
        return weights(net)

    for got in on_ranks(2, work):
        assert_close(got, weights(one), 1e-5)
    # Each rank scanned its 20 rows for NaN once; batches of 10 cut 5 + 5: each rank trained on 20
    # rows, together all 40, each once.
    assert read[("rank0", "scanned")] == list(range(20)) and read[("rank1", "scanned")] == list(range(20, 40))
    trained = read[("rank0", "trained")], read[("rank1", "trained")]
    assert len(trained[0]) == len(trained[1]) == 20 and sorted(trained[0] + trained[1]) == list(range(40))


def test_a_communicator_of_one_process_is_the_single_process_path():
    X, y = problem()
    one, alone = network(), network()
    one.fit(X, y, epochs=2, seed=1)
    on_ranks(1, lambda comm: alone.fit(X, y, epochs=2, seed=1, comm=comm))
    assert all(np.array_equal(a, b) for a, b in zip(weights(alone), weights(one)))  # bit for bit


def test_something_that_is_not_a_communicator_is_refused():
    X, y = problem()
    with pytest.raises(DeltapropError, match="comm=42 is not an MPI communicator"):
        network().fit(X, y, comm=42)
