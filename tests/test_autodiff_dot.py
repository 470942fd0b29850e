"""Graph drawing: the DOT text names every value and operation; rendering falls back to a .dot file."""

import re
import sys
import types

import numpy as np
import pytest

from deltaprop.autodiff import Tensor, to_dot
from deltaprop.autodiff import dot as dot_module
from deltaprop.errors import DeltapropError


def toy_circuit():
    """002's toy: d = 2b, e = a + d, L = c e."""
    a, b, c = Tensor(3.0, label="a"), Tensor(-2.0, label="b"), Tensor(5.0, label="c")
    d = 2 * b
    d.label = "d"
    e = a + d
    e.label = "e"
    L = c * e
    L.label = "L"
    return L


def parse(text):
    """Node id -> its label text, and the edges, from DOT text as to_dot writes it."""
    labels = dict(re.findall(r'^\s*(\w+) \[shape=\w+, label="((?:[^"\\]|\\.)*)"', text, flags=re.MULTILINE))
    edges = re.findall(r"^\s*(\w+) -> (\w+);", text, flags=re.MULTILINE)
    return labels, edges


def test_dot_text_of_the_toy_circuit_names_every_node_and_edge():
    # Oracle: 002's drawing of the toy, by hand: b and the constant 2 feed "*" -> d; a and d feed
    # "+" -> e; c and e feed "*" -> L: seven values, three operations, nine edges.
    L = toy_circuit()
    L.backward()
    labels, edges = parse(to_dot(L))
    name = {node: text.split("\\n")[0] for node, text in labels.items()}  # first line: label or "data ..."
    ops = {node for node in labels if node.endswith("_op")}
    assert sorted(name[n] for n in labels if n not in ops) == ["L", "a", "b", "c", "d", "data 2", "e"]
    wiring = {}
    for op in ops:
        inputs = sorted(name[src] for src, dst in edges if dst == op)
        (output,) = [name[dst] for src, dst in edges if src == op]
        wiring[output] = (name[op], inputs)
    assert wiring == {"d": ("*", ["b", "data 2"]), "e": ("+", ["a", "d"]), "L": ("*", ["c", "e"])}
    assert len(edges) == 9  # 2 + 2 + 2 inputs, 3 outputs
    # values show their data and, after backward(), their gradients: dL/db = 2c = 10
    b_label = next(text for text in labels.values() if text.startswith("b\\n"))
    assert b_label == "b\\ndata -2\\ngrad 10"


def test_arrays_are_summarised_and_quotes_escaped():
    x = Tensor(np.arange(12.0).reshape(3, 4), label='the "x"')
    text = to_dot(x.sum())
    assert 'label="the \\"x\\"\\ndata array of shape (3, 4)"' in text
    assert 'label="data 66"' in text


def test_without_the_dot_program_the_text_is_written_with_a_note(tmp_path, monkeypatch):
    # The dot binary is not installed here; make that explicit so the test means the same everywhere.
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.warns(RuntimeWarning, match=r"not drawn.*circuit\.dot.*dot -Tsvg"):
        text = to_dot(toy_circuit(), tmp_path / "circuit.svg")
    assert (tmp_path / "circuit.dot").read_text() == text
    assert not (tmp_path / "circuit.svg").exists()


def test_with_graphviz_and_dot_the_graph_is_rendered(tmp_path, monkeypatch):
    # A stand-in for the graphviz package records the call; the real `dot` is not needed.
    calls = []

    class Source:
        def __init__(self, text):
            self.text = text

        def render(self, outfile, format, cleanup):
            calls.append((self.text, outfile, format))

    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Source=Source))
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: "/usr/bin/dot")
    text = to_dot(toy_circuit(), tmp_path / "circuit", format="png")
    assert calls == [(text, str(tmp_path / "circuit.png"), "png")]


def test_bad_arguments():
    with pytest.raises(DeltapropError, match="format='gif'"):
        to_dot(Tensor(1.0), "x.gif", format="gif")
    with pytest.raises(DeltapropError, match="Tensor"):
        to_dot(np.ones(3))
