"""Files written by deltaprop 0.1.0 (before the package was reorganised into layers) still load and resume.

Fixtures in ``tests/fixtures``, written by 0.1.0 itself: a model, a checkpoint taken after 8 of the
24 Adam steps of a run, and the final weights of the same run uninterrupted. Oracle: those final
weights, bit for bit.
"""

from pathlib import Path

import numpy as np

import deltaprop
from deltaprop import Adam

FIXTURES = Path(__file__).parent / "fixtures"


def _data():
    rng = np.random.default_rng(7)  # as the script that wrote the fixtures
    return rng.standard_normal((53, 4)), rng.integers(0, 3, 53)


def _final_weights():
    with np.load(FIXTURES / "v0_1_0_final_weights.npz", allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}


def test_a_0_1_0_model_loads_with_its_weights_and_metadata():
    net = deltaprop.load(FIXTURES / "v0_1_0_model.npz")
    assert net.sizes == [4, 6, 3] and [layer.activation.name for layer in net.layers] == ["tanh", "softmax"]
    assert net.cost_function.name == "log_likelihood" and net.dtype == np.float32
    for i, layer in enumerate(net.layers):
        assert np.array_equal(layer.W, _final_weights()[f"W{i}"]) and np.array_equal(layer.b, _final_weights()[f"b{i}"])
    from deltaprop.files.model import read_metadata

    assert read_metadata(FIXTURES / "v0_1_0_model.npz")["extra"] == {"written_by": "deltaprop 0.1.0"}


def test_a_0_1_0_checkpoint_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    state = deltaprop.load_checkpoint(FIXTURES / "v0_1_0_checkpoint.npz")
    assert (state.epoch, state.batch, state.step) == (1, 2, 8)
    X, y = _data()
    net = deltaprop.Network([4, 6, 3], activation="tanh", output_activation="softmax", cost="log_likelihood")
    net.fit(X, y, epochs=4, batch_size=10, optimizer=Adam(0.01), lmbda=0.1,
            resume=FIXTURES / "v0_1_0_checkpoint.npz", checkpoint=tmp_path / "c.npz", checkpoint_every=4)
    expected = _final_weights()
    for i, layer in enumerate(net.layers):
        assert np.array_equal(layer.W, expected[f"W{i}"]) and np.array_equal(layer.b, expected[f"b{i}"])
