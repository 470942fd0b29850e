"""softplus, added as one entry of the activation registry and nothing else, works everywhere.

The proof that an activation is one entry in one place (``deltaprop.core.activations.Softplus``):
fit, gradcheck, the command line's explain and gradcheck, diagnostics, the initialiser, ONNX,
PyTorch's state dict and the autodiff engine all pick it up. Oracles: the closed forms
``ln(1 + e^z)`` and ``sigma(z)``, finite differences, onnxruntime and torch.nn.Softplus.
"""

import subprocess
import sys

import numpy as np
import pytest

import deltaprop
from deltaprop import Network


def _problem(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)


def test_forward_and_derivative_are_the_closed_forms_even_far_out():
    # Oracle: ln(1 + e^z) by log1p/exp where it does not overflow, z itself far right, sigma(z) for g'.
    g = deltaprop.get_activation("softplus")
    z = np.array([[-800.0, -30.0, -1.0, 0.0, 1e-9, 2.0, 30.0, 800.0]])
    with np.errstate(over="raise"):
        a = g.forward(z)
    np.testing.assert_allclose(a[0, 1:7], np.log1p(np.exp(z[0, 1:7])), rtol=1e-14)
    assert a[0, 0] == 0.0 and a[0, -1] == 800.0
    np.testing.assert_allclose(g.prime(z, a), 1 / (1 + np.exp(-np.clip(z, -700, 700))), rtol=1e-14, atol=1e-300)


def test_fit_learns_with_softplus_hidden_units_and_he_init():
    X, y = _problem(200)
    net = Network([3, 16, 2], activation="softplus", output_activation="softmax", cost="log_likelihood", seed=0)
    assert np.std(net.layers[0].W) == pytest.approx(np.sqrt(2 / 3), rel=0.35)  # auto: he, N(0, 2/n_in)
    net.fit(X, y, epochs=60, batch_size=10, eta=0.1, seed=0)
    assert net.evaluate(X, y) >= 0.9


def test_gradcheck_and_the_engine_agree_with_backprop():
    X, y = _problem(7)
    net = Network([3, 5, 4, 2], activation="softplus", output_activation="softplus", cost="quadratic", seed=1,
                  dtype="float64")
    Y = np.eye(2)[y]
    assert deltaprop.gradcheck(net, X, Y).passed  # finite differences
    from deltaprop.autodiff import network_cost

    graph = network_cost(net, X, Y)
    graph.cost.backward()
    for i, (dW, db) in enumerate(net.backprop(X, Y)):
        np.testing.assert_allclose(graph.weights[i].grad, dW, rtol=0, atol=1e-12)
        np.testing.assert_allclose(graph.biases[i].grad, db, rtol=0, atol=1e-12)


def test_diagnostics_measure_gradients_and_no_sigmoid_style_saturation():
    from deltaprop.train.diagnostics import measure

    X, y = _problem(10)
    logs = measure(Network([3, 4, 2], activation="softplus", output_activation="sigmoid", seed=0), X, np.eye(2)[y])
    assert set(logs) == {"grad_norm[0]", "grad_norm[1]", "saturation[1]"}  # the sigmoid output saturates


def test_onnxruntime_agrees():
    ort = pytest.importorskip("onnxruntime")
    X, _ = _problem(5)
    net = Network([3, 4, 2], activation="softplus", output_activation="softplus", seed=0)
    model = net.to_onnx()
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Softplus", "Gemm", "Softplus"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": X.astype(np.float32)})[0]
    np.testing.assert_allclose(out, net.feedforward(X), rtol=1e-5, atol=1e-6)


def test_torch_softplus_state_dict_both_ways():
    torch = pytest.importorskip("torch")
    from deltaprop.state_dict import from_torch, to_torch

    X, _ = _problem(5)
    net = Network([3, 4, 2], activation="softplus", output_activation="identity", seed=0, dtype="float64")
    model = to_torch(net)
    assert isinstance(model[1], torch.nn.Softplus) and list(net.state_dict()) == ["0.weight", "0.bias", "2.weight",
                                                                                    "2.bias"]
    np.testing.assert_allclose(model(torch.from_numpy(X)).detach().numpy(), net.feedforward(X), rtol=1e-12)
    back = from_torch(model, dtype="float64")
    assert [layer.activation.name for layer in back.layers] == ["softplus", "identity"]


@pytest.mark.parametrize("command", [["explain", "--activation", "softplus"],
                                     ["gradcheck", "--activation", "softplus", "--layers", "3,4,2"]])
def test_the_command_line_offers_it(command):
    result = subprocess.run([sys.executable, "-m", "deltaprop", *command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "softplus" in result.stdout
