"""``deltaprop explain`` on the user's own network: JSON weights files, saved models, --eta and --json.

The main oracle is the widely used published 2-2-2 worked example (inputs .05 .10, targets .01 .99,
weights .15 .20 .25 .30 / .40 .45 .50 .55, one bias per layer .35 and .60, E = 1/2 ||a - y||^2), whose
published figures are total error 0.298371109, dE/dw5 = 0.082167041 and, after one step at eta = 0.5,
w5 = 0.35891648. w5 joins hidden unit 1 to output unit 1: W[0][0] of the second layer in deltaprop's
W[j][k] convention (row j: the unit it feeds, column k: the unit it comes from).
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import deltaprop
from deltaprop import Dense, Network
from deltaprop.cli.main import main
from deltaprop.core.explain import explain
from deltaprop.errors import ModelFileError
from deltaprop.files.weights_json import MAX_PARAMETERS, read_weights, read_weights_file, weights_to_json

PUBLISHED = {
    "cost": "quadratic",
    "layers": [
        {"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35},
        {"activation": "sigmoid", "W": [[0.40, 0.45], [0.50, 0.55]], "b": 0.60},
    ],
}


@pytest.fixture
def published(tmp_path):
    path = tmp_path / "published.json"
    path.write_text(json.dumps(PUBLISHED, indent=1))
    return path


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def cli_json(capsys, *args):
    assert main(["explain", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_the_published_2_2_2_example_through_the_command_line(published):
    result = run_cli("explain", "--weights", published, "--input", "0.05,0.10", "--target", "0.01,0.99",
                     "--eta", "0.5", "--json", cwd=published.parent)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert abs(out["cost"] - 0.298371109) < 1e-9  # total error
    assert abs(out["layers"][1]["dC_dW"][0][0] - 0.082167041) < 1e-9  # dE/dw5
    assert abs(out["layers"][1]["W_next"][0][0] - 0.35891648) < 1e-8  # w5+ (published to 8 decimals)
    assert abs(out["layers"][1]["W_next"][0][0] - (0.40 - 0.5 * out["layers"][1]["dC_dW"][0][0])) < 1e-15
    # The other published output-layer figures: w6+ = 0.408666186, w7+ = 0.511301270, w8+ = 0.561370121;
    # and the hidden layer's w1+ = 0.149780716, w2+ = 0.19956143, w3+ = 0.24975114, w4+ = 0.29950229.
    np.testing.assert_allclose(out["layers"][1]["W_next"], [[0.35891648, 0.408666186], [0.511301270, 0.561370121]],
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(out["layers"][0]["W_next"], [[0.149780716, 0.19956143], [0.24975114, 0.29950229]],
                               rtol=0, atol=1e-8)


def test_json_holds_every_factor_of_the_notes(capsys, published):
    out = cli_json(capsys, "--weights", published, "--eta", "0.5")  # the default example is .05,.10 -> .01,.99
    hidden, output = out["layers"]
    assert set(output) >= {"z", "a", "g_prime", "dC_da", "delta", "dC_db", "dC_dW", "W_next", "b_next"}
    # Oracles by hand (float64 arithmetic of the published example):
    a1 = 1 / (1 + np.exp(-(np.array([[0.15, 0.20], [0.25, 0.30]]) @ [0.05, 0.10] + 0.35)))
    np.testing.assert_allclose(hidden["a"], a1, rtol=1e-15)
    np.testing.assert_allclose(hidden["g_prime"], a1 * (1 - a1), rtol=1e-15)  # sigma' = a (1 - a)
    a2 = np.array(output["a"])
    np.testing.assert_allclose(output["dC_da"], a2 - [0.01, 0.99], rtol=1e-15)  # grad_a of 1/2 ||a - y||^2
    np.testing.assert_allclose(output["delta"], (a2 - [0.01, 0.99]) * a2 * (1 - a2), rtol=1e-14)  # BP1
    W2 = np.array(PUBLISHED["layers"][1]["W"])
    np.testing.assert_allclose(hidden["dC_da"], W2.T @ output["delta"], rtol=1e-14)  # (W^{l+1})^T delta^{l+1}
    np.testing.assert_allclose(hidden["delta"], W2.T @ output["delta"] * a1 * (1 - a1), rtol=1e-14)  # BP2
    np.testing.assert_allclose(output["dC_dW"], np.outer(output["delta"], a1), rtol=1e-14)  # BP4
    # one bias per layer, as the file says: dC/db = sum_j delta_j, and it stays one number
    assert output["dC_db"] == pytest.approx(sum(output["delta"]), rel=1e-14)
    assert output["b_next"] == pytest.approx(0.60 - 0.5 * sum(output["delta"]), rel=1e-14)
    assert hidden["b"] == 0.35 and isinstance(hidden["b_next"], float)
    # every estimate agrees with its derivative
    for layer in out["layers"]:
        for key in ("g_prime", "dC_da", "delta", "dC_db", "dC_dW"):
            np.testing.assert_allclose(layer[key + "_fd"], layer[key], rtol=1e-6, atol=1e-9)


def test_without_eta_there_is_no_step_and_a_per_unit_bias_stays_per_unit(capsys, tmp_path):
    doc = {"cost": "cross_entropy", "layers": [{"activation": "tanh", "W": [[0.1, -0.2], [0.3, 0.4], [0.5, 0.6]],
                                                "b": [0.1, 0.2, 0.3]},
                                               {"activation": "sigmoid", "W": [[1.0, -1.0, 0.5]], "b": [0.0]}]}
    (tmp_path / "w.json").write_text(json.dumps(doc))
    out = cli_json(capsys, "--weights", tmp_path / "w.json", "--input", "1,2", "--target", "1")
    assert "W_next" not in out["layers"][0] and "b_next" not in out["layers"][0]
    assert out["layers"][0]["dC_db"] == out["layers"][0]["delta"]  # BP3, one per unit
    # sigmoid + cross-entropy: delta^L = a - y
    assert out["layers"][1]["delta"][0] == pytest.approx(out["layers"][1]["a"][0] - 1, rel=1e-14)


def test_softmax_gives_its_jacobian(capsys, tmp_path):
    net = Network([3, 4, 3], activation="relu", output_activation="softmax", cost="log_likelihood", seed=0,
                  dtype="float64")
    net.save(tmp_path / "model.npz")
    out = cli_json(capsys, "--model", tmp_path / "model.npz", "--input", "0.1,0.2,0.3", "--target", "0,0,1")
    output = out["layers"][1]
    assert "g_prime" not in output
    a = np.array(output["a"])
    np.testing.assert_allclose(output["g_jacobian"], np.diag(a) - np.outer(a, a), rtol=1e-14)  # a_k (1[j=k] - a_j)
    np.testing.assert_allclose(output["delta"], a - [0, 0, 1], rtol=1e-13, atol=1e-15)  # the shortcut, = J^T dC/da
    np.testing.assert_allclose(np.array(output["g_jacobian"]).T @ output["dC_da"], output["delta"], rtol=1e-12)
    np.testing.assert_allclose(output["g_jacobian_fd"], output["g_jacobian"], atol=1e-9)


def test_the_text_shows_each_factor_and_the_step(capsys, published):
    assert main(["explain", "--weights", str(published), "--eta", "0.5"]) == 0
    out = capsys.readouterr().out
    for text in ["one bias shared by the layer's units", "dC/da = grad_a C", "dC/da = W_next^T delta_next", "g'(z)",
                 "(BP1)", "(BP2)", "(BP3)", "(BP4)", "central difference", "b (shared)",
                 "one gradient step, eta = 0.5", "W = [[0.358916, 0.408666], [0.511301, 0.56137]]"]:
        assert text in out, text
    assert out.count("finite difference ") == 2 + 8  # one shared b per layer, 8 weights
    assert float(out.strip().splitlines()[-1].split()[-1]) < 1e-6


def test_explain_in_python_equals_the_command_line(capsys, published):
    net, shared = read_weights_file(published)
    assert shared == (True, True) and net.dtype == np.float64
    in_python = explain(net, [0.05, 0.10], [0.01, 0.99], eta=0.5, shared_bias=shared).to_dict()
    assert cli_json(capsys, "--weights", published, "--eta", "0.5") == json.loads(json.dumps(in_python))


def test_weights_round_trip(tmp_path):
    net = read_weights(_write(tmp_path, PUBLISHED))
    assert weights_to_json(net, shared_bias=[True, True]) == PUBLISHED
    net2 = Network([3, 2, 1], activation="tanh", cost="squared_error", seed=0, dtype="float64")
    again = read_weights(_write(tmp_path, weights_to_json(net2)))
    for a, b in zip(net2.layers, again.layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) and a.activation is b.activation


def _write(tmp_path, doc, name="w.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def _layers(*layers):
    return {"cost": "quadratic", "layers": list(layers)}


GOOD_LAYER = {"activation": "sigmoid", "W": [[1.0, 2.0]], "b": 0.5}
BAD_FILES = [
    ("not json {", "is not valid JSON: Expecting value at line 1, column 1"),
    ('{"cost": "quadratic", "layers": [{"activation": "sigmoid", "W": [[NaN]], "b": 0}]}', "NaN is not a finite number"),
    ('{"cost": "quadratic", "layers": [{"activation": "sigmoid", "W": [[1e999]], "b": 0}]}', "layers[0].W[0][0] Infinity"),
    ("[1, 2]", "the top level must be an object"),
    ({"layers": [GOOD_LAYER]}, "cost is missing"),
    ({"cost": "hinge", "layers": [GOOD_LAYER]}, "cost \"hinge\" is not a known cost; use one of quadratic"),
    ({"cost": "quadratic", "layers": [GOOD_LAYER], "extra": 1}, "the top level has the unknown field \"extra\""),
    (_layers(), "layers must be a non-empty list"),
    (_layers([1, 2]), "layers[0] must be an object"),
    (_layers({"activation": "swish", "W": [[1.0]], "b": 0}), "layers[0].activation \"swish\" is not a known activation"),
    (_layers({"activation": "sigmoid", "W": [[1.0]]}), "layers[0].b is missing"),
    (_layers({"activation": "sigmoid", "W": [[1.0]], "b": 0, "bias": 1}), "layers[0] has the unknown field \"bias\""),
    (_layers({"activation": "sigmoid", "W": [], "b": 0}), "layers[0].W must be a non-empty list of rows"),
    (_layers({"activation": "sigmoid", "W": [[1.0, 2.0], [3.0]], "b": 0}), "layers[0].W[1] has 1 numbers, but layers[0].W[0] has 2"),
    (_layers({"activation": "sigmoid", "W": [[1.0, "2"]], "b": 0}), "layers[0].W[0][1] must be a number, got a string"),
    (_layers({"activation": "sigmoid", "W": [[1.0, True]], "b": 0}), "layers[0].W[0][1] must be a number, got true/false"),
    (_layers({"activation": "sigmoid", "W": [[1.0]], "b": [0.1, 0.2]}), "layers[0].b has 2 numbers, but the layer has 1 units"),
    (_layers({"activation": "sigmoid", "W": [[1.0]], "b": [None]}), "layers[0].b[0] must be a number, got null"),
    (_layers(GOOD_LAYER, {"activation": "sigmoid", "W": [[1.0, 2.0]], "b": 0}), "layers[1].W has 2 columns, but layers[0] has 1 units"),
    (_layers({"activation": "sigmoid", "W": [[0.0] * 1000] * 101, "b": 0}), "would hold 101,000 weights; a JSON weights file holds at most 100,000"),
    ({"cost": "cross_entropy", "layers": [{"activation": "identity", "W": [[1.0]], "b": 0}]}, "cost='cross_entropy' needs output_activation"),
    ("[" * 100_000 + "]" * 100_000, "is nested too deeply"),
]


@pytest.mark.parametrize("doc, message", BAD_FILES, ids=[m[:40] for _, m in BAD_FILES])
def test_bad_weights_files_name_the_file_and_the_field(tmp_path, doc, message):
    path = _write(tmp_path, doc)
    with pytest.raises(ModelFileError) as caught:
        read_weights(path)
    text = str(caught.value)
    assert text.startswith(f"weights file {path}: "), text
    assert message in text, text


def test_too_many_parameters_over_several_layers(tmp_path):
    wide = {"activation": "sigmoid", "W": [[0.0] * 300] * 300, "b": 0}  # 90,300 parameters each
    with pytest.raises(ModelFileError, match=rf"layers\[1\] brings the network to more than {MAX_PARAMETERS:,}"):
        read_weights(_write(tmp_path, _layers(wide, wide)))


def test_missing_directory_and_oversized_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        read_weights(tmp_path / "missing.json")
    with pytest.raises(ModelFileError, match="is a directory"):
        read_weights(tmp_path)
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(17 * 2**20)  # sparse: nothing is read before the size is checked
    with pytest.raises(ModelFileError, match="17,825,792 bytes; a JSON weights file may have at most 16,777,216"):
        read_weights(big)


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--weights", "bad.json"], "deltaprop explain: error: weights file bad.json: layers[0].W[0][1] must be a number"),
    (["--weights", "missing.json"], "weights file missing.json: does not exist"),
    (["--weights", "good.json", "--layers", "2,2"], "--layers describes a seeded random network; --weights good.json"),
    (["--weights", "good.json", "--model", "m.npz"], "argument --model: not allowed with argument --weights"),
    (["--weights", "good.json", "--input", "1,2,3"], "--input has 3 values, but the network has 2 inputs"),
    (["--weights", "good.json", "--target", "1"], "--target has 1 values, but the network has 2 outputs"),
    (["--input", "1,2", "--x", "1,2"], "--input and --x are the same option"),
    (["--eta", "0"], "argument --eta: '0' is not a positive number"),
    (["--model", "bad.json"], "model file bad.json"),
])
def test_command_line_errors_are_one_line_exit_2(tmp_path, args, message):
    _write(tmp_path, _layers({"activation": "sigmoid", "W": [[1.0, "x"]], "b": 0}), "bad.json")
    _write(tmp_path, PUBLISHED, "good.json")
    result = run_cli("explain", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in lines[0], lines[0]
    assert result.stdout == ""


def test_the_explanation_leaves_the_network_alone_and_checks_shared_biases():
    net = Network([Dense(2, 2, "sigmoid", W=[[0.1, 0.2], [0.3, 0.4]], b=[0.1, 0.2])], dtype="float64")
    before = net.layers[0].W.copy()
    explain(net, [1.0, 2.0], [0.0, 1.0], eta=1.0)
    assert np.array_equal(net.layers[0].W, before)
    with pytest.raises(deltaprop.DeltapropError, match=r"shared_bias\[0\] is true but layers\[0\].b holds different"):
        explain(net, [1.0, 2.0], [0.0, 1.0], shared_bias=[True])


def test_docstring_example_runs():
    # Oracle: by hand, sigma(0) = 0.5, C = (0.5 - 1)^2 / 2 = 0.125, delta = (a - y) a (1 - a) = -0.125.
    import doctest

    import deltaprop.core.explain as module

    assert doctest.testmod(module).failed == 0
