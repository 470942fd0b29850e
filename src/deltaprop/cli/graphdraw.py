"""Draw a Tensor's graph as PNG, SVG or PDF with matplotlib alone: no Graphviz needed.

The layout is :func:`deltaprop.autodiff.layout.layered_layout`'s (columns left to right, rows by
the barycentre heuristic); this module measures every box's text, sizes the columns and rows to
fit, and draws boxes for values (inputs blue, constants grey and dashed, the result yellow),
ellipses for operations and an arrow for every edge. Like every plot of deltaprop it draws on a
figure of its own with the Agg canvas (no pyplot, no display) and writes the file atomically.

>>> import os, tempfile
>>> from deltaprop.autodiff import Tensor
>>> a, b = Tensor(2.0, label="a"), Tensor(-3.0, label="b")
>>> path = draw_graph(a * b, os.path.join(tempfile.mkdtemp(), "g.svg"))
>>> open(path).read(5)
'<?xml'
"""

from __future__ import annotations

import os

from ..atomic import atomic_write
from ..autodiff.dot import _summary
from ..autodiff.layout import layered_layout
from ..errors import DeltapropError

__all__ = ["FORMATS", "draw_graph", "value_text"]

FORMATS = ("png", "svg", "pdf")
_GAP_X, _GAP_Y, _MARGIN = 36.0, 14.0, 12.0  # in pixels at 100 dpi, the unit of the drawing's coordinates


def value_text(node) -> str:
    """A value's box, as :func:`~deltaprop.autodiff.to_dot` writes it: label, data, grad."""
    lines = [node.label] if node.label is not None else []
    lines.append(f"data {_summary(node.data)}")
    if node.grad is not None:
        lines.append(f"grad {_summary(node.grad)}")
    return "\n".join(lines)


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import BoxStyle
    except ImportError:
        raise DeltapropError("drawing a graph needs matplotlib (pip install 'deltaprop[cli]'); without it, write "
                             "the DOT text to a .dot file instead") from None
    return Figure, FigureCanvasAgg, BoxStyle


def draw_graph(root, path, text_of=None, title: str | None = None, format: str | None = None) -> str:
    """Draw the graph of the Tensor ``root`` to ``path`` (``.png``, ``.svg`` or ``.pdf``); return ``path``.

    ``text_of(value)`` gives the text of a value's box (default :func:`value_text`); an
    operation's ellipse shows its symbol. ``format`` defaults to the suffix of ``path``.
    """
    path = os.fspath(path)
    format = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if format not in FORMATS:
        raise DeltapropError(f"cannot draw a graph to {path}: use a .png, .svg or .pdf file (or .dot for the DOT text)")
    Figure, FigureCanvasAgg, BoxStyle = _matplotlib()
    text_of = text_of or value_text
    layout = layered_layout(root)
    op_style = "ellipse,pad=0.3" if "ellipse" in BoxStyle.get_styles() else "round,pad=0.3"

    figure = Figure(dpi=100)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    texts = []
    for node in layout.nodes:
        t = node.tensor
        if node.kind == "op":
            box = dict(boxstyle=op_style, facecolor="#f2f2f2", edgecolor="#444444")
            texts.append(ax.text(0, 0, t.op, ha="center", va="center", fontsize=9, family="monospace", bbox=box))
            continue
        if t is root:
            face, line = "#fff3b0", "solid"
        elif not t.parents:
            face, line = ("#dbe9ff", "solid") if t.requires_grad else ("#eeeeee", "dashed")
        else:
            face, line = "white", "solid"
        box = dict(boxstyle="round,pad=0.4", facecolor=face, edgecolor="#333333", linestyle=line)
        texts.append(ax.text(0, 0, text_of(t), ha="center", va="center", fontsize=9, family="monospace", bbox=box))

    # Measure every box, then size the columns (widest box) and stack each column's boxes.
    canvas.draw()
    renderer = canvas.get_renderer()
    sizes = []
    for text in texts:
        extent = text.get_bbox_patch().get_window_extent(renderer)
        sizes.append((extent.width, extent.height))
    widths = [max((sizes[i][0] for i in layout.column(c)), default=0.0) for c in range(layout.columns)]
    heights = [sum(sizes[i][1] for i in layout.column(c)) + _GAP_Y * (len(layout.column(c)) - 1)
               for c in range(layout.columns)]
    title_space = 30.0 if title else 0.0
    width = 2 * _MARGIN + sum(widths) + _GAP_X * (layout.columns - 1)
    height = 2 * _MARGIN + max(heights) + title_space
    centres = {}
    x = _MARGIN
    for c in range(layout.columns):
        y = _MARGIN + (max(heights) + heights[c]) / 2  # top of the column, columns centred vertically
        for i in layout.column(c):
            centres[i] = (x + widths[c] / 2, y - sizes[i][1] / 2)
            y -= sizes[i][1] + _GAP_Y
        x += widths[c] + _GAP_X
    figure.set_size_inches(width / 100, height / 100)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    for i, text in enumerate(texts):
        text.set_position(centres[i])
    for a, b in layout.edges:  # from the right edge of one box to the left edge of the next
        (xa, ya), (xb, yb) = centres[a], centres[b]
        start, end = (xa + sizes[a][0] / 2, ya), (xb - sizes[b][0] / 2, yb)
        ax.annotate("", xy=end, xytext=start, zorder=0,
                    arrowprops=dict(arrowstyle="-|>", color="#555555", shrinkA=0, shrinkB=1, linewidth=0.9))
    if title:
        ax.text(width / 2, height - _MARGIN, title, ha="center", va="top", fontsize=10)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format=format, dpi=100)
    return path
