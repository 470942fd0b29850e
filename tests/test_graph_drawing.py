"""Reverse mode step by step, and graphs drawn without Graphviz (deltaprop graph --steps, --output x.png/.svg)."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from deltaprop.autodiff import Tensor
from deltaprop.autodiff.engine import backpropagate, make_seed
from deltaprop.autodiff.layout import layered_layout
from deltaprop.autodiff.steps import reverse_mode_steps
from deltaprop.cli.graph import _network_cost, _toy_circuit
from deltaprop.cli.graphdraw import draw_graph
from deltaprop.cli.main import main
from deltaprop.errors import DeltapropError


def assert_png_has_content(path):
    from matplotlib.image import imread

    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    grey = imread(path)[..., :3].mean(axis=2)
    assert grey.std() > 0.05 and (grey < 0.5).mean() > 0.002  # not blank: boxes, text and arrows


def test_toy_steps_follow_002_by_hand():
    # Oracle: 002's toy by hand at a = 2, b = -3, c = 10: d = -6, e = -4, L = -40; local derivatives
    # dd/db = 2, de/da = de/dd = 1, dL/dc = e = -4, dL/de = c = 10; backward: L, e, d, then the inputs,
    # dL/de = 10, dL/dd = 10, dL/db = 10 x 2 = 20, dL/da = 10, dL/dc = -4.
    text = reverse_mode_steps(_toy_circuit(2.0, -3.0, 10.0, backward=False))
    for line in ["d = 2 * b = -6", "e = a + d = -4", "L = c * e = -40",
                 "d = 2 * b:    dd/db = 2", "e = a + d:    de/da = 1    de/dd = 1", "L = c * e:    dL/dc = -4    dL/de = 10",
                 "1. visit L: dL/dL = 1 (the seed)", "-> e: 1 x 10 = 10    dL/de so far 10",
                 "2. visit e: dL/de = 10", "3. visit d: dL/dd = 10", "-> b: 10 x 2 = 20    dL/db so far 20",
                 "visit a: dL/da = 10    (an input: done)", "visit c: dL/dc = -4    (an input: done)"]:
        assert line in text, line
    visits = [line.split("visit ")[1].split(":")[0] for line in text.splitlines() if "visit " in line]
    assert visits[:3] == ["L", "e", "d"] and sorted(visits[3:]) == ["a", "b", "c"]


def test_a_value_used_twice_shows_the_running_sum():
    # Oracle: closed form. y = x x + sin x at x = 2: dy/dx = 2 x + cos x = 4 - 0.4161 = 3.584, reached in
    # three shares (cos 2 from sin, then 2 and 2 from the two uses of x in x * x).
    x = Tensor(2.0, label="x")
    y = x * x + x.sin()
    y.label = "y"
    text = reverse_mode_steps(y)
    shares = [line for line in text.splitlines() if "-> x:" in line]
    assert len(shares) == 3
    assert shares[-1].endswith(f"dy/dx so far {4 + np.cos(2.0):.4g}")


def test_the_trace_is_the_engines_own_pass():
    # Oracle: the same backward pass without a trace; the visits' gradients are the stored ones.
    L = _toy_circuit(2.0, -3.0, 10.0, backward=False)
    trace = []
    backpropagate(L, make_seed(L, None, False, "test"), store=True, trace=trace)
    visited = {event[1]: event[2] for event in trace if event[0] == "visit"}
    for node, gradient in visited.items():
        assert gradient == node.grad
    assert len(visited) == 6  # a, b, c, d, e, L: the constant 2 is never visited


def test_network_steps_label_z_a_and_delta():
    text = reverse_mode_steps(_network_cost(backward=False))
    # Oracle: Network.backprop on the same example: delta^3 = [0.1385, -0.0381], delta^2 = [0.0088, 0.00995].
    assert "visit z^3: dC/dz^3 = [ 0.1385, -0.0381]" in text
    assert "visit z^2: dC/dz^2 = [0.0088, 0.01  ]" in text
    assert "a^2 = sigmoid(z^2):    da^2/dz^2 = diag [0.2413, 0.2406]" in text  # sigma' = a (1 - a)


def test_layout_runs_left_to_right_and_puts_inputs_beside_their_use():
    L = _network_cost()
    layout = layered_layout(L)
    for a, b in layout.edges:
        assert layout.nodes[b].column == layout.nodes[a].column + 1  # every edge spans one column
    for c in range(layout.columns):
        rows = [layout.nodes[i].row for i in layout.column(c)]
        assert rows == list(range(len(rows)))
    by_label = {n.tensor.label: n.column for n in layout.nodes if n.kind == "value" and n.tensor.label}
    assert by_label["C"] == layout.columns - 1
    assert by_label["y"] > by_label["W[1]"] > by_label["W[0]"]  # each input just before its first use


@pytest.fixture
def no_graphviz(monkeypatch):
    """No Graphviz anywhere: no `dot` program on PATH, and `import graphviz` fails."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(sys.modules, "graphviz", None)


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_graphs_are_drawn_without_graphviz(tmp_path, no_graphviz, suffix):
    toy = draw_graph(_toy_circuit(2.0, -3.0, 10.0), tmp_path / f"toy.{suffix}")
    network = draw_graph(_network_cost(), tmp_path / f"net.{suffix}")
    assert sorted(os.listdir(tmp_path)) == sorted([f"toy.{suffix}", f"net.{suffix}"])  # no temporaries left
    if suffix == "png":
        assert_png_has_content(toy)
        assert_png_has_content(network)
    elif suffix == "svg":
        ET.parse(toy)  # well-formed XML
        text = open(toy).read()
        assert "<svg" in text and "<path" in text
    else:
        assert open(toy, "rb").read(5) == b"%PDF-"


def test_a_bad_suffix_is_refused(tmp_path):
    with pytest.raises(DeltapropError, match=r"\.png, \.svg or \.pdf"):
        draw_graph(_toy_circuit(1.0, 2.0, 3.0), tmp_path / "x.gif")
    assert not os.listdir(tmp_path)


def test_graph_command_steps_and_drawing(tmp_path, capsys, no_graphviz, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "--steps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("002's toy circuit L = c (a + 2b) at a = 2, b = -3, c = 10") and "visit L" in out
    assert main(["graph", "--output", "toy.png"]) == 0
    assert capsys.readouterr().out == "drew toy.png\n"
    assert_png_has_content(tmp_path / "toy.png")
    assert main(["graph", "--network", "--output", "net.svg", "--steps"]) == 0
    out = capsys.readouterr().out
    assert "visit z^2" in out and out.endswith("drew net.svg\n")
    svg = (tmp_path / "net.svg").read_text()
    assert "<!-- delta^2 = dC/dz = [0.0088, 0.01  ] -->" in svg  # matplotlib keeps each text line as a comment
    assert main(["graph", "--network"]) == 0
    assert capsys.readouterr().out.startswith("digraph")


@pytest.mark.slow
def test_without_matplotlib_a_drawing_fails_with_exit_2_and_writes_nothing(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from deltaprop.cli.main import main; "
            "sys.exit(main(['graph', '--output', 'toy.png']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "drawing a graph needs matplotlib" in result.stderr
    assert result.stdout == "" and os.listdir(tmp_path) == []


@pytest.mark.parametrize("module", ["deltaprop.autodiff.steps", "deltaprop.autodiff.layout", "deltaprop.cli.graphdraw"])
def test_docstring_examples_run(module):
    # Oracle: the outputs written in the docstrings, worked by hand (a product's two local derivatives).
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module)).failed == 0
