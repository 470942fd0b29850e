"""`deltaprop export`: a trained model as ONNX or safetensors, run as a user would."""

import subprocess
import sys

import numpy as np
import pytest

import deltaprop


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "deltaprop", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("export")
    net = deltaprop.Network([4, 6, 3], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=0)
    net.save(directory / "model.npz")
    return directory, net


def test_export_onnx_predicts_like_the_model(model):
    # Oracle: onnxruntime running the exported graph against deltaprop's own feedforward.
    ort = pytest.importorskip("onnxruntime")
    directory, net = model
    result = run("export", "model.npz", "model.onnx", cwd=directory)
    assert result.returncode == 0, result.stderr
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    session = ort.InferenceSession(str(directory / "model.onnx"))
    (outputs,) = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_allclose(outputs, net.feedforward(X), rtol=1e-5, atol=1e-6)


def test_export_safetensors_holds_the_weights_under_torch_names(model):
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    directory, net = model
    assert run("export", "model.npz", "model.safetensors", cwd=directory).returncode == 0
    tensors = load_file(str(directory / "model.safetensors"))
    np.testing.assert_array_equal(tensors["0.weight"], net.layers[0].W)
    np.testing.assert_array_equal(tensors["2.bias"], net.layers[1].b)


@pytest.mark.parametrize("args,words", [
    (("model.npz", "model.txt"), ["OUT='model.txt'", ".onnx or .safetensors"]),
    (("missing.npz", "model.onnx"), ["missing.npz", "does not exist"]),
])
def test_export_errors_are_one_line_with_status_2(model, args, words):
    directory, _ = model
    result = run("export", *args, cwd=directory)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for word in words:
        assert word in result.stderr
