"""Weights files: the JSON a user writes by hand, read by ``read_weights_json`` without trusting it.

Oracles: the numbers written in the file (read back exactly), the widely published 2-2-2 example
(its total error 0.298371109 with one bias per layer), and for every malformed file the place the
message must name.
"""

import json

import numpy as np
import pytest

import deltaprop
from deltaprop.files import weights_json
from deltaprop.files.weights_json import read_weights_json, write_weights_json

EXAMPLE = {"cost": "quadratic", "layers": [
    {"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35},
    {"activation": "sigmoid", "W": [[0.40, 0.45], [0.50, 0.55]], "b": [0.60, 0.60]}]}


def write(tmp_path, obj, name="w.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_reads_the_published_example_with_a_bias_per_layer_or_per_unit(tmp_path):
    net = read_weights_json(write(tmp_path, EXAMPLE))
    assert net.sizes == [2, 2, 2] and net.dtype == np.float64 and net.cost_function.name == "quadratic"
    assert net.layers[0].b.tolist() == [0.35, 0.35] and net.layers[1].W[1, 0] == 0.50
    # the published total error of the forward pass
    assert net.cost([[0.05, 0.10]], [[0.01, 0.99]]) == pytest.approx(0.298371109, abs=1e-9)


def test_write_then_read_is_exact(tmp_path):
    net = deltaprop.Network([3, 4, 2], activation="relu", output_activation="softmax", cost="log_likelihood", seed=2)
    write_weights_json(net, tmp_path / "net.json")
    back = read_weights_json(tmp_path / "net.json", dtype="float32")
    assert back.sizes == net.sizes and [layer.activation.name for layer in back.layers] == ["relu", "softmax"]
    for a, b in zip(net.get_weights(), back.get_weights()):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def layer(**changes):
    return {"activation": "sigmoid", "W": [[0.1, 0.2], [0.3, 0.4]], "b": 0.0, **changes}


BAD = [  # the file, and what the one-line message must say (the reader explain, draw and explore share)
    ("{", "is not valid JSON"),
    ('{"cost": "quadratic", "layers": [{"activation": "sigmoid", "W": [[NaN, 1]], "b": 0}]}', "NaN is not a finite number"),
    ('{"cost": "quadratic", "layers": [{"activation": "sigmoid", "W": [[1e999, 1]], "b": 0}]}',
     "layers[0].W[0][0] Infinity is not a finite number"),
    ([1, 2], "the top level must be an object"),
    ({"cost": "quadratic"}, "layers is missing"),
    ({"cost": "quadratic", "layers": [], "extra": 1}, "the unknown field \"extra\""),
    ({"cost": "mse", "layers": [layer()]}, "cost \"mse\" is not a known cost"),
    ({"cost": "quadratic", "layers": []}, "layers must be a non-empty list"),
    ({"cost": "quadratic", "layers": [layer(activation="gelu")]}, "layers[0].activation \"gelu\" is not a known"),
    ({"cost": "quadratic", "layers": [layer(bias=1)]}, "layers[0] has the unknown field \"bias\""),
    ({"cost": "quadratic", "layers": [layer(W=[[0.1, 0.2], [0.3]])]}, "layers[0].W[1] has 1 numbers, but layers[0].W[0] has 2"),
    ({"cost": "quadratic", "layers": [layer(W=[[0.1, True]])]}, "layers[0].W[0][1] must be a number, got true/false"),
    ({"cost": "quadratic", "layers": [layer(W=[["0.1"]])]}, "layers[0].W[0][0] must be a number, got a string"),
    ({"cost": "quadratic", "layers": [layer(W=[])]}, "layers[0].W must be a non-empty list of rows"),
    ({"cost": "quadratic", "layers": [layer(W=[[]])]}, "layers[0].W[0] must be a non-empty list of numbers"),
    ({"cost": "quadratic", "layers": [layer(b=[1, 2, 3])]}, "layers[0].b has 3 numbers, but the layer has 2 units"),
    ({"cost": "quadratic", "layers": [layer(b="0")]}, "layers[0].b must be a number, got a string"),
    ({"cost": "quadratic", "layers": [layer(), layer(W=[[1, 2, 3]])]}, "layers[1].W has 3 columns, but layers[0] has 2 units"),
    ({"cost": "log_likelihood", "layers": [layer(activation="tanh")]}, "needs output_activation in"),
    ({"cost": "quadratic", "layers": [layer(W=[[10 ** 400]])]}, "is not a finite number"),
]


@pytest.mark.parametrize("content, message", BAD, ids=[m for _, m in BAD])
def test_malformed_files_name_file_and_place(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(deltaprop.ModelFileError) as error:
        read_weights_json(path)
    text = str(error.value)
    assert text.startswith(f"weights file {path}: ") and message in text and "\n" not in text, text


def test_not_a_file_not_utf8_and_too_large(tmp_path, monkeypatch):
    with pytest.raises(deltaprop.ModelFileError, match="does not exist"):
        read_weights_json(tmp_path / "missing.json")
    with pytest.raises(deltaprop.ModelFileError, match="is a directory"):
        read_weights_json(tmp_path)
    (tmp_path / "latin1.json").write_bytes(b'{"cost": "\xe9"}')
    with pytest.raises(deltaprop.ModelFileError, match="is not UTF-8 text"):
        read_weights_json(tmp_path / "latin1.json")
    monkeypatch.setattr(weights_json, "MAX_BYTES", 100)
    with pytest.raises(deltaprop.ModelFileError, match="may have at most 100"):
        read_weights_json(write(tmp_path, EXAMPLE))
    monkeypatch.setattr(weights_json, "MAX_BYTES", 10**6)
    monkeypatch.setattr(weights_json, "MAX_PARAMETERS", 1)
    with pytest.raises(deltaprop.ModelFileError, match="holds at most 1 numbers"):
        read_weights_json(write(tmp_path, EXAMPLE))
