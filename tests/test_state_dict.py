"""PyTorch-style state dicts and safetensors files: names, shapes, exact round trips, bad dicts."""

import numpy as np
import pytest

from deltaprop import Dense, Network
from deltaprop.errors import DeltapropError, ModelFileError, NonFiniteError, ShapeError
from deltaprop.state_dict import (
    from_state_dict,
    load_file,
    load_state_dict,
    read_file,
    save_file,
    state_dict,
    torch_indices,
)

# The names PyTorch gives, from its documentation: nn.Sequential registers its i-th module under
# the name str(i); nn.Linear(in_features, out_features) has parameters `weight` of shape
# (out_features, in_features) and `bias` of shape (out_features,); activation modules (Sigmoid,
# ReLU, Softmax, ...) have none; state_dict() keys are "<module name>.<parameter name>".


def test_names_and_shapes_are_those_of_torch_sequential():
    # nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 3), nn.Softmax(dim=1))
    net = Network([4, 8, 3], activation="sigmoid", output_activation="softmax", cost="log_likelihood", seed=0)
    shapes = {name: array.shape for name, array in state_dict(net).items()}
    assert shapes == {"0.weight": (8, 4), "0.bias": (8,), "2.weight": (3, 8), "2.bias": (3,)}
    np.testing.assert_array_equal(state_dict(net)["2.weight"], net.layers[1].W)


def test_identity_layers_have_no_module_so_the_next_linear_follows_directly():
    # nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2), nn.Tanh(), nn.Linear(2, 1))
    net = Network([Dense(4, 5, "identity"), Dense(5, 6, "relu"), Dense(6, 2, "tanh"), Dense(2, 1, "identity")], seed=0)
    assert torch_indices(layer.activation for layer in net.layers) == [0, 1, 3, 5]
    shapes = {name: array.shape for name, array in state_dict(net).items()}
    assert shapes == {"0.weight": (5, 4), "0.bias": (5,), "1.weight": (6, 5), "1.bias": (6,),
                      "3.weight": (2, 6), "3.bias": (2,), "5.weight": (1, 2), "5.bias": (1,)}


def test_state_dict_is_a_copy():
    net = Network([2, 3, 1], seed=0)
    state = state_dict(net)
    state["0.weight"][...] = 7.0
    assert not np.any(net.layers[0].W == 7.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_safetensors_round_trip_is_exact(tmp_path, dtype):
    # Oracle: the original arrays, bit for bit; and the safetensors library's own reader.
    from safetensors.numpy import load_file as safetensors_load

    net = Network([Dense(5, 7, "leaky_relu"), Dense(7, 4, "identity"), Dense(4, 3, "softmax")],
                  cost="log_likelihood", seed=0, dtype=dtype)
    path = tmp_path / "net.safetensors"
    save_file(net, path)
    raw = safetensors_load(str(path))
    assert set(raw) == {"0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"}
    for name, array in state_dict(net).items():
        assert raw[name].dtype == array.dtype
        np.testing.assert_array_equal(raw[name], array)
    back = load_file(path)
    assert [layer.activation.name for layer in back.layers] == ["leaky_relu", "identity", "softmax"]
    assert back.cost_function.name == "log_likelihood" and back.dtype == net.dtype
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
    X = np.random.default_rng(0).random((6, 5))
    np.testing.assert_array_equal(back.feedforward(X), net.feedforward(X))
    _, metadata = read_file(path)
    assert metadata["format"] == "pt"


def test_load_state_dict_copies_into_the_network_in_place():
    source, target = Network([3, 4, 2], seed=0), Network([3, 4, 2], seed=1)
    W = target.layers[0].W
    load_state_dict(target, state_dict(source))
    assert target.layers[0].W is W  # same array, new values
    np.testing.assert_array_equal(target.layers[0].W, source.layers[0].W)


def test_missing_extra_and_misshaped_keys_are_all_listed_and_nothing_changes():
    net = Network([3, 4, 2], seed=0)
    before = net.layers[0].W.copy()
    state = state_dict(Network([3, 4, 2], seed=1))
    del state["2.bias"]
    state["4.weight"] = np.zeros((2, 2))
    state["0.bias"] = np.zeros(5)
    state["0.weight"] = np.zeros((4, 3))
    with pytest.raises(DeltapropError) as error:
        load_state_dict(net, state)
    message = str(error.value)
    assert "missing keys ['2.bias']" in message
    assert "unexpected keys ['4.weight']" in message
    assert "'0.bias' has shape (5,), expected (4,)" in message
    np.testing.assert_array_equal(net.layers[0].W, before)


def test_only_misshaped_keys_raise_a_shape_error():
    state = state_dict(Network([3, 4, 2], seed=0))
    state["2.weight"] = np.zeros((2, 5))  # the second Linear must take the first one's 4 outputs
    with pytest.raises(ShapeError, match=r"'2.weight' has shape \(2, 5\), expected \(2, 4\)"):
        from_state_dict(state, activation="sigmoid")


def test_from_state_dict_with_activations_that_contradict_the_numbering_explains_the_rule():
    # keys 0 and 1: Linear, Linear (an identity first layer); activation="relu" would put them at 0 and 2
    state = {"0.weight": np.ones((3, 2)), "0.bias": np.zeros(3), "1.weight": np.ones((1, 3)), "1.bias": np.zeros(1)}
    with pytest.raises(DeltapropError, match="identity layer has no module") as error:
        from_state_dict(state, activation="relu", output_activation="identity")
    assert "missing keys ['2.weight', '2.bias']" in str(error.value)
    net = from_state_dict(state, activation=["identity", "identity"])
    assert net.sizes == [2, 3, 1]
    assert net.feedforward(np.ones((1, 2)))[0, 0] == pytest.approx(6.0)  # by hand: 3 units of 1+1, summed


@pytest.mark.parametrize("state, error, match", [
    ({"weight": np.ones((2, 2))}, DeltapropError, "nn.Sequential"),
    ({"0.weight": np.ones((2, 2)), "0.bias": np.array(["a", "b"])}, DeltapropError, "0.bias"),
    ({"0.weight": np.full((2, 2), np.nan), "0.bias": np.zeros(2)}, NonFiniteError, "0.weight"),
    ([np.ones((2, 2))], DeltapropError, "dict"),
])
def test_bad_state_dicts_are_rejected(state, error, match):
    with pytest.raises(error, match=match):
        from_state_dict(state, activation="sigmoid")


def test_foreign_files_need_activations_and_broken_files_are_named(tmp_path):
    from safetensors.numpy import save_file as safetensors_save

    path = tmp_path / "foreign.safetensors"
    safetensors_save({"0.weight": np.ones((3, 2), np.float32), "0.bias": np.zeros(3, np.float32)}, str(path))
    with pytest.raises(DeltapropError, match="activation="):
        load_file(path)
    assert load_file(path, activation="relu").sizes == [2, 3]
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 20)
    with pytest.raises(ModelFileError, match="broken.safetensors"):
        load_file(broken)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_file(tmp_path / "absent.safetensors")


# -- cross-check with PyTorch itself, when it is installed ------------------------------------------


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_torch_produces_the_same_names_and_outputs(tmp_path, activation):
    # Oracle: PyTorch's own nn.Sequential, state_dict() and forward pass.
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load
    from safetensors.torch import save_file as torch_save
    from torch import nn

    from deltaprop.state_dict import from_torch, to_torch

    modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), modules[activation](), nn.Linear(8, 3), nn.Softmax(dim=1)).double()
    net = Network([4, 8, 3], activation=activation, output_activation="softmax", cost="log_likelihood", seed=0, dtype="float64")
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert {name: a.shape for name, a in state_dict(net).items()} == expected
    X = np.random.default_rng(0).standard_normal((5, 4))

    # deltaprop -> torch, through a safetensors file
    save_file(net, tmp_path / "from_deltaprop.safetensors")
    model.load_state_dict(torch_load(str(tmp_path / "from_deltaprop.safetensors")))  # strict by default
    np.testing.assert_allclose(model(torch.from_numpy(X)).detach().numpy(), net.feedforward(X), rtol=1e-12, atol=1e-15)

    # torch -> deltaprop, through a file torch wrote (no deltaprop metadata)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), modules[activation](), nn.Linear(8, 3), nn.Softmax(dim=1)).double()
    torch_save(model.state_dict(), str(tmp_path / "from_torch.safetensors"))
    back = load_file(tmp_path / "from_torch.safetensors", activation=activation, output_activation="softmax",
                     cost="log_likelihood")
    np.testing.assert_allclose(back.feedforward(X), model(torch.from_numpy(X)).detach().numpy(), rtol=1e-12, atol=1e-15)

    # and the module converters
    np.testing.assert_allclose(to_torch(back)(torch.from_numpy(X)).detach().numpy(), back.feedforward(X), rtol=1e-12)
    assert [layer.activation.name for layer in from_torch(model).layers] == [activation, "softmax"]


def test_from_torch_rejects_modules_it_cannot_express():
    pytest.importorskip("torch")
    from torch import nn

    from deltaprop.state_dict import from_torch

    with pytest.raises(DeltapropError, match="module 1 is Dropout"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)))
    with pytest.raises(DeltapropError, match="negative_slope=0.2"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2)))
