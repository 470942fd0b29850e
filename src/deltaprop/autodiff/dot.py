"""Draw a Tensor's graph in Graphviz's DOT language, as micrograd's ``draw_dot`` does.

Every value is a box (its label, data and grad); every operation is an ellipse between its
inputs and its output. The DOT text needs nothing to produce; turning it into SVG or PNG needs
the ``graphviz`` Python package *and* Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np

from ..errors import DeltapropError
from .engine import topological_order
from .tensor import Tensor

__all__ = ["to_dot"]

_FORMATS = ("svg", "png", "pdf")


def _summary(array) -> str:
    """A number as ``%.4g``, a small array in full, a large one by its shape."""
    array = np.asarray(array.data if isinstance(array, Tensor) else array)
    if array.size == 1:
        return f"{array.item():.4g}"
    if array.size <= 6:
        return np.array2string(array.reshape(-1), precision=4, separator=", ")
    return f"array of shape {array.shape}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_source(tensor: Tensor) -> str:
    """The DOT text of ``tensor``'s graph (every value and operation it was computed from)."""
    if not isinstance(tensor, Tensor):
        raise DeltapropError(f"to_dot draws the graph of a Tensor; got {type(tensor).__name__}")
    nodes = topological_order(tensor, follow_constants=True)
    names = {node: f"v{i}" for i, node in enumerate(nodes)}
    lines = ["digraph autodiff {", "  rankdir=LR;", '  node [fontname="monospace"];']
    for node in nodes:
        text = [node.label] if node.label is not None else []
        text.append(f"data {_summary(node.data)}")
        if node.grad is not None:
            text.append(f"grad {_summary(node.grad)}")
        style = "" if node.requires_grad else ", style=dashed"  # constants: no gradient flows to them
        lines.append(f"  {names[node]} [shape=box, label={_quoted(chr(10).join(text))}{style}];")
        if node.op:
            op = f"{names[node]}_op"
            lines.append(f"  {op} [shape=ellipse, label={_quoted(node.op)}];")
            lines.extend(f"  {names[parent]} -> {op};" for parent in node.parents)
            lines.append(f"  {op} -> {names[node]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(tensor: Tensor, filename=None, format: str = "svg") -> str:
    """Return the DOT text of ``tensor``'s graph; with ``filename``, also draw it.

    Parameters
    ----------
    tensor : Tensor
    filename : str or path, optional
        Where to draw the graph: ``filename`` with the suffix ``.svg`` (or ``format``). When the
        ``graphviz`` package or the ``dot`` program is missing, the DOT text is written to
        ``filename`` with the suffix ``.dot`` instead, and a ``RuntimeWarning`` says so and how
        to render it.
    format : {"svg", "png", "pdf"}

    Returns
    -------
    str
        The DOT text: one box per value (label, data, grad), one ellipse per operation.

    >>> a, b = Tensor(2.0, label="a"), Tensor(3.0, label="b")
    >>> print(to_dot(a * b))
    digraph autodiff {
      rankdir=LR;
      node [fontname="monospace"];
      v0 [shape=box, label="a\\ndata 2"];
      v1 [shape=box, label="b\\ndata 3"];
      v2 [shape=box, label="data 6"];
      v2_op [shape=ellipse, label="*"];
      v0 -> v2_op;
      v1 -> v2_op;
      v2_op -> v2;
    }
    <BLANKLINE>
    """
    text = dot_source(tensor)
    if filename is None:
        return text
    if format not in _FORMATS:
        raise DeltapropError(f"format={format!r} is not supported; use one of {_FORMATS}")
    path = Path(filename)
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is None or shutil.which("dot") is None:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(text)
        missing = "the graphviz Python package" if graphviz is None else "Graphviz's `dot` program"
        warnings.warn(
            f"to_dot: {missing} is not installed, so the graph was not drawn; its DOT text is in {dot_path}. "
            f"Install Graphviz (e.g. `apt install graphviz` and `pip install graphviz`) and run "
            f"`dot -T{format} {dot_path} -o {path.with_suffix('.' + format)}`",
            RuntimeWarning,
            stacklevel=2,
        )
        return text
    graphviz.Source(text).render(outfile=str(path.with_suffix("." + format)), format=format, cleanup=True)
    return text
