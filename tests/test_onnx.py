"""ONNX export: checker-valid graphs whose onnxruntime predictions equal deltaprop's."""

import numpy as np
import onnx  # test dependencies (the test extra installs both)
import onnxruntime as ort
import pytest

from deltaprop import ACTIVATIONS, Activation, Dense, Network
from deltaprop.errors import DeltapropError
from deltaprop.onnx_export import to_onnx


def _run(model, X):
    """Oracle: onnxruntime, an independent implementation of the ONNX operators."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": X})[0]


X = np.random.default_rng(0).standard_normal((64, 6)).astype(np.float32)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_gives_deltaprops_outputs_in_onnxruntime(activation):
    net = Network([6, 9, 5, 4], activation=activation, seed=0)
    model = to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_allclose(_run(model, X), net.feedforward(X), rtol=0, atol=1e-5)


def test_softmax_classifier_gives_the_same_probabilities_and_labels(tmp_path):
    from sklearn.datasets import load_digits

    X_digits, y = load_digits(return_X_y=True)
    X_digits = (X_digits / 16.0).astype(np.float32)
    net = Network([64, 30, 10], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0)
    net.fit(X_digits, y, epochs=2, eta=0.1, seed=0)
    path = tmp_path / "digits.onnx"
    to_onnx(net, path)
    model = onnx.load(str(path))
    probabilities = _run(model, X_digits)
    np.testing.assert_allclose(probabilities, net.feedforward(X_digits), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(probabilities, axis=1), net.predict(X_digits))
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Relu", "Gemm", "Softmax"]


def test_graph_structure_names_and_leaky_relu_alpha():
    net = Network([Dense(3, 4, "leaky_relu"), Dense(4, 2, "identity")], seed=0)
    model = to_onnx(net)
    nodes = model.graph.node
    assert [node.op_type for node in nodes] == ["Gemm", "LeakyRelu", "Gemm"]  # identity: no node
    assert onnx.helper.get_attribute_value(nodes[1].attribute[0]) == pytest.approx(0.01)
    assert [node.output[0] for node in nodes][-1] == "output"
    assert [init.name for init in model.graph.initializer] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(model.graph.initializer[2]), net.layers[1].W)


def test_float64_graphs_keep_double_precision():
    net = Network([6, 9, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0, dtype="float64")
    model = to_onnx(net, dtype="float64")
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(_run(model, X64), net.feedforward(X64), rtol=1e-12, atol=1e-14)


def test_an_activation_onnx_cannot_express_is_named():
    class Cube(Activation):
        name = "cube"

        def forward(self, z, out=None):
            return np.power(z, 3, out=out)

        def prime(self, z, a, out=None):
            return np.multiply(3 * z, z, out=out)

    net = Network([Dense(2, 3, "relu"), Dense(3, 1, Cube())], seed=0)
    with pytest.raises(DeltapropError, match=r"layer 1 has activation 'cube'.*exportable activations"):
        to_onnx(net)


def test_bad_arguments_are_named():
    with pytest.raises(DeltapropError, match="opset"):
        to_onnx(Network([2, 1], seed=0), opset=11)
    with pytest.raises(DeltapropError, match="Network"):
        to_onnx("model.npz")
