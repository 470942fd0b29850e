"""Pictures of a network: ``deltaprop.draw``, ``Network.draw``, ``_repr_svg_``, ``summary`` and ``deltaprop draw``.

Oracles: the numbers written beside the units against :meth:`Network.backprop` (formatted as the
picture formats them); the PNG decoded by matplotlib and the SVG parsed by :mod:`xml.etree`;
parameter counts against the closed form ``sum n_l (n_(l-1) + 1)``.
"""

import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import deltaprop
from deltaprop.draw import shown_units, svg_diagram

SVG = "{http://www.w3.org/2000/svg}"
X, Y = [0.05, 0.10], [0.01, 0.99]


def run(*args, cwd):
    """Run ``python -m deltaprop ARGS`` in ``cwd``; return the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def png_colours(path):
    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100, pixels.shape
    rgb = (pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    return pixels, len(np.unique(rgb, axis=0))


def svg_texts(path_or_text):
    is_text = isinstance(path_or_text, str) and path_or_text.lstrip().startswith("<")
    root = ET.fromstring(path_or_text) if is_text else ET.parse(path_or_text).getroot()
    assert root.tag == SVG + "svg"
    return root, ["".join(t.itertext()) for t in root.iter(SVG + "text")]


@pytest.fixture
def small():
    return deltaprop.Network([2, 3, 2], activation="tanh", output_activation="sigmoid", seed=1, dtype="float64")


def expected_labels(net, x, y):
    """``z=..``, ``a=..``, ``δ=..`` of every non-input unit, as the picture writes them (4 significant digits)."""
    g = net.backprop(np.array([x]), np.array([y]))
    labels = [f"x={v:.4g}" for v in x]
    for i in range(len(net.layers)):
        for j in range(net.sizes[i + 1]):
            labels += [f"z={g.zs[i][0, j]:.4g}", f"a={g.activations[i + 1][0, j]:.4g}", f"δ={g.deltas[i][0, j]:.4g}"]
    return labels


def test_small_network_png_is_not_blank(small, tmp_path):
    path = small.draw(tmp_path / "net.png", x=X, y=Y)
    pixels, colours = png_colours(path)
    assert colours > 100  # circles in a colour map, red and blue edges, text
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05


def test_small_network_svg_is_valid_and_labelled(small, tmp_path):
    path = deltaprop.draw.draw(small, tmp_path / "net.svg", x=X, y=Y, color_by="delta")
    _, texts = svg_texts(path)
    lines = [line for text in texts for line in text.splitlines()]
    for label in expected_labels(small, X, Y):
        assert label in lines, label
    assert any("layer 2: tanh" in text for text in texts)
    assert "unit colour: δ" in texts  # the colour bar says what colours the units


def test_large_network_gets_tiles_and_histograms(tmp_path):
    net = deltaprop.Network([784, 30, 10], seed=0)
    x = np.random.default_rng(0).uniform(0, 1, 784)
    net.draw(tmp_path / "big.png", x=x, y=np.eye(10)[3])
    _, colours = png_colours(tmp_path / "big.png")
    assert colours > 100
    root, texts = svg_texts(deltaprop.draw.draw(net, tmp_path / "big.svg", x=x, y=np.eye(10)[3]))
    joined = "\n".join(texts)
    assert "28x28 tile" in joined and "units 0-29 of 30" in joined  # the first layer's weights as tiles
    assert "δ of layer 2 (30)" in joined and "δ of layer 3 (10)" in joined  # the histograms
    assert "784 units" in joined  # the elided input layer says how large it is
    assert len(list(root.iter(SVG + "image"))) >= 1  # the tile mosaic is an image
    # the 10 output units are few enough to carry their numbers; the 30 hidden ones are not
    lines = [line for text in texts for line in text.splitlines()]
    g = net.copy("float64").backprop(x[None, :], np.eye(10)[3][None, :])
    assert f"z={g.zs[1][0, 9]:.4g}" in lines and f"z={g.zs[0][0, 0]:.4g}" not in lines


def test_without_target_histograms_show_activations_and_without_input_weights(tmp_path):
    net = deltaprop.Network([16, 13, 3], seed=0)  # 13 hidden units: more than a labelled layer holds
    _, texts = svg_texts(net.draw(tmp_path / "a.svg", x=np.full(16, 0.5)))
    assert any("a of layer 2" in text for text in texts)
    _, texts = svg_texts(net.draw(tmp_path / "w.svg"))
    assert any("w of layer 2" in text for text in texts) and any("4x4 tile" in text for text in texts)


def test_bad_arguments_name_the_problem(small, tmp_path):
    with pytest.raises(deltaprop.DeltapropError, match=r"\.png or \.svg"):
        small.draw(tmp_path / "net.jpg")
    with pytest.raises(deltaprop.DeltapropError, match="color_by='delta' needs an input x and a target y"):
        small.draw(tmp_path / "net.png", x=X, color_by="delta")
    with pytest.raises(deltaprop.DeltapropError, match="color_by='b'"):
        small.draw(tmp_path / "net.png", x=X, color_by="b")
    with pytest.raises(deltaprop.ShapeError, match="x must hold 2 numbers"):
        small.draw(tmp_path / "net.png", x=[1, 2, 3])
    assert not list(tmp_path.iterdir())  # nothing written


def test_repr_svg_needs_no_matplotlib_and_shows_units(small):
    code = ("import sys, deltaprop; s = deltaprop.Network([2, 3, 2], seed=0)._repr_svg_(); "
            "print('matplotlib' in sys.modules, s[:4])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "<svg"]
    root, texts = svg_texts(svg_diagram(small, x=X, y=Y))
    assert len(list(root.iter(SVG + "circle"))) == 7 and len(list(root.iter(SVG + "line"))) == 12
    for label in expected_labels(small, X, Y):
        assert label in texts, label
    big = deltaprop.Network([784, 30, 10], seed=0)
    root, texts = svg_texts(big._repr_svg_())
    assert "⋮ 784 units" in texts and "⋮ 30 units" in texts
    assert len(list(root.iter(SVG + "circle"))) == 11 + 11 + 10  # elided layers show 11 units each
    assert shown_units(784)[6] is None and len(shown_units(12)) == 12


def test_summary_counts_parameters_as_keras_does(capsys):
    net = deltaprop.Network([784, 30, 10], seed=0)
    text = net.summary()
    assert capsys.readouterr().out.strip() == text.strip()
    assert "Total parameters: 23,860" in text  # 30 (784 + 1) + 10 (30 + 1)
    assert "(30, 784)" in text and "23,550" in text and "310" in text and "sigmoid" in text
    relu = deltaprop.Network([deltaprop.Dense(4, 5, "relu"), deltaprop.Dense(5, 3, "softmax")], cost="log_likelihood",
                             dtype="float64")
    text = relu.summary(print_fn=None)
    assert "relu" in text and "softmax" in text and "Total parameters: 43 (0.3 KiB as float64)" in text
    assert capsys.readouterr().out == ""


# -- the command line ----------------------------------------------------------------------------------------

def test_cli_draw_writes_png_and_svg(tmp_path):
    weights = tmp_path / "w.json"
    weights.write_text('{"cost": "quadratic", "layers": [{"activation": "sigmoid", "W": [[0.15, 0.2], [0.25, 0.3]], '
                       '"b": 0.35}, {"activation": "sigmoid", "W": [[0.4, 0.45], [0.5, 0.55]], "b": 0.6}]}')
    result = run("draw", "--weights", weights, "--input", "0.05,0.10", "--target", "0.01,0.99", "--color-by", "delta",
                 "--out", "net.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, texts = svg_texts(tmp_path / "net.svg")
    lines = [line for text in texts for line in text.splitlines()]
    assert "a=0.7514" in lines and "δ=0.1385" in lines  # the published example: a_o1 = 0.75136507, delta_o1 0.13849856
    assert "C = 0.298371" in "\n".join(texts)
    deltaprop.Network([3, 4, 2], seed=0).save(tmp_path / "model.npz")
    result = run("draw", "model.npz", "--out", "model.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert png_colours(tmp_path / "model.png")[1] > 50


@pytest.mark.parametrize("args, fragments", [
    (["draw", "notamodel.npz", "--out", "x.png"], ["notamodel.npz", "not a deltaprop model"]),
    (["draw", "--weights", "bad.json", "--out", "x.png"], ["bad.json", "layers[0].W[1] has 1 numbers, but layers[0].W[0] has 2"]),
    (["draw", "--out", "x.png"], ["give a MODEL file or --weights"]),
    (["draw", "--weights", "bad.json", "--out", "x.jpg"], ["must end in .png or .svg"]),
    (["draw", "model.npz", "--input", "1,2", "--out", "x.png"], ["--input has 2 values, but the network has 3 inputs"]),
    (["draw", "model.npz", "--input", "1,2,3", "--color-by", "delta", "--out", "x.png"], ["--color-by delta needs"]),
])
def test_cli_draw_bad_input_is_one_line_and_exit_2(tmp_path, args, fragments):
    (tmp_path / "notamodel.npz").write_text("this is not a model")
    (tmp_path / "bad.json").write_text('{"cost": "quadratic", "layers": [{"activation": "sigmoid", '
                                       '"W": [[1, 2], [3]], "b": 0}]}')
    deltaprop.Network([3, 4, 2], seed=0).save(tmp_path / "model.npz")
    assert_one_line_error(run(*args, cwd=tmp_path), *fragments)
    assert not (tmp_path / "x.png").exists()
