"""Pictures of a network: units, weights, and the z, a, delta that flow through them.

:func:`draw` writes a PNG or an SVG (by the file's suffix) with matplotlib's Agg renderer, no
pyplot and no Graphviz:

* every unit is a circle coloured by its activation ``a`` or by its error ``delta = dC/dz``
  (``color_by``), red for positive, blue for negative, white for zero;
* every weight is a line, red for ``w > 0`` and blue for ``w < 0``, its width proportional to ``|w|``;
* in a layer of at most ``max_labelled`` (12) units, ``z``, ``a`` and ``delta`` are written beside
  each unit; a larger layer shows its first and last units around a gap that says how many there are;
* a network with a large layer also gets aggregated views: the first layer's weights as tiles
  (a 784-input layer: one 28x28 image per hidden unit) when its input count is a square, and
  per-layer histograms of ``delta`` (of ``a`` without a target, of the weights without an input).

:func:`svg_diagram` builds the same diagram as SVG text with no dependency at all: it is what
``Network._repr_svg_`` shows in Jupyter. :func:`unit_values` is the forward and backward pass both
draw from (:meth:`Network.backprop` in float64, so BP1-BP4 are those of
:mod:`deltaprop.core.propagation`).

Layer indices: ``values["zs"][i]`` belongs to ``net.layers[i]``, the notes' layer ``l = i + 2``.
"""

from __future__ import annotations

import math
import os
from html import escape

import numpy as np

from .atomic import atomic_write
from .errors import DeltapropError, ShapeError

__all__ = ["COLOR_BY", "MAX_LABELLED", "draw", "svg_diagram", "unit_values"]

COLOR_BY = ("a", "delta")
MAX_LABELLED = 12
"""Layers of at most this many units are drawn whole, each unit with its z, a, delta written beside it."""
_SHOWN_HEAD, _SHOWN_TAIL = 6, 5  # a larger layer shows its first 6 and last 5 units
_FORMATS = (".png", ".svg")
_POSITIVE, _NEGATIVE = "#d62728", "#1f77b4"  # edges: red w > 0, blue w < 0 (as the units' colour map)


# -- the numbers ------------------------------------------------------------------------------------

def _vector(values, n, name):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.shape != (n,):
        raise ShapeError(f"{name} must hold {n} numbers (one example), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise DeltapropError(f"{name} holds NaN or infinity")
    return array


def unit_values(net, x=None, y=None) -> dict:
    """The forward (and, with a target, backward) pass of one example, in float64.

    Returns ``{"x", "y", "zs", "activations", "deltas", "gradient", "cost"}``: ``zs[i]``,
    ``activations[i + 1]`` and ``deltas[i]`` are 1-D arrays for ``net.layers[i]``; ``activations[0]``
    is ``x``. Without ``x`` every entry but ``x`` and ``y`` is None; without ``y``, ``deltas``,
    ``gradient`` and ``cost`` are None.
    """
    values = {"x": None, "y": None, "zs": None, "activations": None, "deltas": None, "gradient": None,
              "cost": None}
    if x is None:
        if y is not None:
            raise DeltapropError("a target y needs an input x")
        return values
    net64 = net.copy("float64")
    x = values["x"] = _vector(x, net.sizes[0], "x")
    if y is None:
        zs, activations = [], [x]
        for layer in net64.layers:  # z^l = W^l a^(l-1) + b^l, a^l = g^l(z^l)
            z = layer.W @ activations[-1] + layer.b
            zs.append(z)
            activations.append(layer.activation.forward(z[None, :])[0])
        values.update(zs=zs, activations=activations)
        return values
    y = values["y"] = _vector(y, net.sizes[-1], "y")
    gradient = net64.backprop(x[None, :], y[None, :])  # BP1-BP4 (deltaprop.core.propagation)
    values.update(zs=[z[0] for z in gradient.zs], activations=[a[0] for a in gradient.activations],
                  deltas=[d[0] for d in gradient.deltas], gradient=gradient, cost=net64.cost(x[None, :], y[None, :]))
    return values


def _check_color_by(color_by, values):
    if color_by not in COLOR_BY:
        raise DeltapropError(f"color_by={color_by!r} must be one of {', '.join(map(repr, COLOR_BY))}")
    if color_by == "delta" and values["deltas"] is None:
        raise DeltapropError("color_by='delta' needs an input x and a target y: delta = dC/dz depends on the cost")


def _unit_colour_values(values, color_by, n_layers):
    """Per layer (input first) the numbers that colour its units, or None (drawn white)."""
    if values["activations"] is None:
        return [None] * (n_layers + 1)
    if color_by == "a":
        return list(values["activations"])
    return [None] + list(values["deltas"])  # the input has no delta


def _label_lines(values, layer, unit) -> list[str]:
    """``["z=0.3775", "a=0.5933", "δ=0.1385"]`` for unit ``unit`` of layer ``layer`` (0: the input)."""
    if values["activations"] is None:
        return []
    if layer == 0:
        return [f"x={values['x'][unit]:.4g}"]
    lines = [f"z={values['zs'][layer - 1][unit]:.4g}", f"a={values['activations'][layer][unit]:.4g}"]
    if values["deltas"] is not None:
        lines.append(f"δ={values['deltas'][layer - 1][unit]:.4g}")
    return lines


# -- layout, shared by the matplotlib and the plain SVG diagrams ---------------------------------------

def shown_units(n: int, limit: int = MAX_LABELLED) -> list:
    """The units of an ``n``-unit layer that the diagram shows, with None where a gap stands for the rest.

    >>> shown_units(3), shown_units(30)[5:8]
    ([0, 1, 2], [5, None, 25])
    """
    if n <= limit:
        return list(range(n))
    return list(range(_SHOWN_HEAD)) + [None] + list(range(n - _SHOWN_TAIL, n))


def _layout(sizes, limit):
    """``[(column, [(unit or None, row), ...]), ...]``: each layer's shown units, centred vertically."""
    columns = [shown_units(n, limit) for n in sizes]
    tallest = max(len(units) for units in columns)
    layout = []
    for c, units in enumerate(columns):
        top = (tallest - len(units)) / 2
        layout.append((c, [(unit, top + r) for r, unit in enumerate(units)]))
    return layout, tallest


def _symmetric_limit(arrays) -> float:
    """The largest ``|value|`` in ``arrays`` (None entries skipped), or 1 if there is none."""
    peaks = [float(np.max(np.abs(a))) for a in arrays if a is not None and np.size(a)]
    peak = max(peaks, default=0.0)
    return peak if peak > 0 else 1.0


def _layer_title(net, c) -> str:
    if c == 0:
        return f"layer 1: input\n{net.sizes[0]} units"
    return f"layer {c + 1}: {net.layers[c - 1].activation.name}\n{net.sizes[c]} units"


# -- plain SVG (no dependency): Jupyter's view -----------------------------------------------------------

def _diverging(value, limit) -> str:
    """A colour between blue (-limit), white (0) and red (+limit), as ``#rrggbb``."""
    t = max(-1.0, min(1.0, value / limit))
    end = (214, 39, 40) if t > 0 else (31, 119, 180)
    rgb = [round(255 + (e - 255) * abs(t)) for e in end]
    return "#" + "".join(f"{v:02x}" for v in rgb)


def svg_diagram(net, x=None, y=None, color_by="a", max_labelled=MAX_LABELLED) -> str:
    """The network diagram as SVG text (see the module docstring), built without matplotlib.

    Units are ``<circle>`` elements, weights ``<line>`` elements (each with a ``<title>`` giving
    its value), and every number is a ``<text>`` element.

    >>> import deltaprop
    >>> svg = svg_diagram(deltaprop.Network([2, 3, 1], seed=0), x=[0.5, -1.0])
    >>> svg.startswith("<svg") and "z=" in svg
    True
    """
    values = unit_values(net, x, y)
    _check_color_by(color_by, values)
    layout, tallest = _layout(net.sizes, max_labelled)
    colours = _unit_colour_values(values, color_by, len(net.layers))
    limit = _symmetric_limit(colours)
    w_limit = _symmetric_limit([layer.W for layer in net.layers])
    dx, dy, r, top = 190, 46, 13, 56
    width, height = dx * len(layout) + 40, int(top + dy * tallest + 20)

    def position(c, row):
        return 30 + r + c * dx, top + row * dy + r

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'),
             f"<title>{escape(repr(net))}</title>"]
    for c in range(1, len(layout)):
        W = net.layers[c - 1].W
        for j, row_j in layout[c][1]:
            for k, row_k in layout[c - 1][1]:
                if j is None or k is None:
                    continue
                w = float(W[j, k])
                (x1, y1), (x2, y2) = position(c - 1, row_k), position(c, row_j)
                parts.append(f'<line x1="{x1 + r}" y1="{y1}" x2="{x2 - r}" y2="{y2}" '
                             f'stroke="{_POSITIVE if w > 0 else _NEGATIVE}" '
                             f'stroke-width="{0.3 + 2.7 * abs(w) / w_limit:.2f}" stroke-opacity="0.7">'
                             f"<title>w[l={c + 1}][{j}][{k}] = {w:.6g}</title></line>")
    for c, units in layout:
        cx, _ = position(c, 0)
        for n, line in enumerate(_layer_title(net, c).split("\n")):
            parts.append(f'<text x="{cx - r}" y="{14 + 13 * n}" font-weight="{"bold" if n == 0 else "normal"}">'
                         f"{escape(line)}</text>")
        for unit, row in units:
            ux, uy = position(c, row)
            if unit is None:
                parts.append(f'<text x="{ux}" y="{uy + 4}" text-anchor="middle">⋮ {net.sizes[c]} units</text>')
                continue
            values_c = colours[c]
            fill = "#ffffff" if values_c is None else _diverging(float(values_c[unit]), limit)
            parts.append(f'<circle cx="{ux}" cy="{uy}" r="{r}" fill="{fill}" stroke="#333"/>')
            if net.sizes[c] <= max_labelled:
                for n, line in enumerate(_label_lines(values, c, unit)):
                    parts.append(f'<text x="{ux + r + 4}" y="{uy - 8 + 12 * n}" font-size="10">{escape(line)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# -- matplotlib: PNG and SVG files ----------------------------------------------------------------------

def _check_path(path) -> str:
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _FORMATS:
        raise DeltapropError(f"path={path!r} must end in .png or .svg (the suffix picks the format)")
    return suffix[1:]


def _draw_diagram(figure, ax, net, values, color_by, max_labelled):
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Circle

    layout, tallest = _layout(net.sizes, max_labelled)
    colours = _unit_colour_values(values, color_by, len(net.layers))
    norm = Normalize(-_symmetric_limit(colours), _symmetric_limit(colours))
    cmap = colormaps["RdBu_r"]
    w_limit = _symmetric_limit([layer.W for layer in net.layers])
    dx, r = 3.0, 0.3
    segments, colours_w, widths = [], [], []
    for c in range(1, len(layout)):
        W = net.layers[c - 1].W
        for j, row_j in layout[c][1]:
            for k, row_k in layout[c - 1][1]:
                if j is not None and k is not None:
                    w = float(W[j, k])
                    segments.append([((c - 1) * dx + r, row_k), (c * dx - r, row_j)])
                    colours_w.append(_POSITIVE if w > 0 else _NEGATIVE)
                    widths.append(0.3 + 2.7 * abs(w) / w_limit)
    # one collection, not a line per weight: a 784-30-10 picture has hundreds of them
    ax.add_collection(LineCollection(segments, colors=colours_w, linewidths=widths, alpha=0.7, zorder=1,
                                     capstyle="butt"))
    for c, units in layout:
        ax.text(c * dx - r, -0.9, _layer_title(net, c), fontsize=8, va="bottom", ha="left")
        for unit, row in units:
            if unit is None:
                ax.text(c * dx, row, f"⋮\n{net.sizes[c]} units", ha="center", va="center", fontsize=8)
                continue
            fill = "white" if colours[c] is None else cmap(norm(float(colours[c][unit])))
            ax.add_patch(Circle((c * dx, row), r, facecolor=fill, edgecolor="#333333", linewidth=0.8, zorder=3))
            if net.sizes[c] <= max_labelled:
                ax.text(c * dx + r + 0.12, row, "\n".join(_label_lines(values, c, unit)), fontsize=7, va="center",
                        ha="left", zorder=4, linespacing=1.1,
                        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 0.6})
    ax.set_xlim(-r - 0.2, (len(layout) - 1) * dx + 2.0)
    ax.set_ylim(tallest - 0.4, -1.3)  # the first unit at the top
    ax.set_aspect("equal")
    ax.axis("off")
    if values["activations"] is not None:
        label = "unit colour: a" if color_by == "a" else "unit colour: δ"
        figure.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.6, label=label)


def _square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n and side >= 4 else None


def _draw_tiles(figure, spec, net, limit=64):
    """The first layer's weights, one square image per hidden unit (at most ``limit``), as one mosaic."""
    side = _square_side(net.sizes[0])
    W = net.layers[0].W.astype(np.float64)
    n = min(W.shape[0], limit)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (side + 1) - 1, cols * (side + 1) - 1), np.nan)  # NaN: the white gaps
    for j in range(n):
        r, c = divmod(j, cols)
        mosaic[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = W[j].reshape(side, side)
    peak = _symmetric_limit([W[:n]])
    ax = figure.add_subplot(spec)
    ax.imshow(mosaic, cmap="RdBu_r", vmin=-peak, vmax=peak, interpolation="nearest")
    ax.set_title(f"layer 2 weights: row W[j] of unit j as a {side}x{side} tile\n"
                 f"units 0-{n - 1} of {W.shape[0]}, red > 0, blue < 0, |w| <= {peak:.3g}", fontsize=8)
    ax.axis("off")


def _histogram_values(net, values):
    if values["deltas"] is not None:
        return "δ", values["deltas"]
    if values["activations"] is not None:
        return "a", values["activations"][1:]
    return "w", [layer.W.ravel() for layer in net.layers]


def _draw_histograms(figure, spec, net, values):
    quantity, arrays = _histogram_values(net, values)
    grid = spec.subgridspec(1, len(arrays), wspace=0.35)
    for i, array in enumerate(arrays):
        ax = figure.add_subplot(grid[0, i])
        ax.hist(np.asarray(array, dtype=np.float64).ravel(), bins=min(30, max(5, np.size(array) // 2)), color="#555")
        ax.set_title(f"{quantity} of layer {i + 2} ({np.size(array)})", fontsize=8)
        ax.tick_params(labelsize=7)


def draw(net, path, x=None, y=None, color_by="a", max_labelled=MAX_LABELLED, dpi=100) -> str:
    """Draw ``net`` to ``path`` (``.png`` or ``.svg``), atomically; return the path.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
        The suffix picks the format. An SVG keeps its text as ``<text>`` elements.
    x, y : sequence of float, optional
        One example: with ``x`` each unit shows ``z`` and ``a``; with ``y`` too, ``delta`` (BP1, BP2).
    color_by : {"a", "delta"}
        What colours the units; ``"delta"`` needs ``x`` and ``y``.
    max_labelled : int
        Layers of at most this many units are drawn whole and labelled; larger layers are elided
        and the picture gains the aggregated views (weight tiles, histograms).
    """
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib only where a picture is drawn
    from matplotlib.figure import Figure

    file_format = _check_path(path)
    values = unit_values(net, x, y)
    _check_color_by(color_by, values)
    large = max(net.sizes) > max_labelled
    tiles = large and _square_side(net.sizes[0]) is not None
    layout, tallest = _layout(net.sizes, max_labelled)
    diagram_size = (1.3 + 1.45 * len(layout), 1.2 + 0.5 * tallest)
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "deltaprop"}):  # SVG text stays text, ids stable
        if not large:
            figure = Figure(figsize=diagram_size, dpi=dpi, layout="constrained")
            FigureCanvasAgg(figure)
            _draw_diagram(figure, figure.add_subplot(), net, values, color_by, max_labelled)
        else:
            figure = Figure(figsize=(diagram_size[0] + (4.5 if tiles else 0), diagram_size[1] + 2.4), dpi=dpi,
                            layout="constrained")
            FigureCanvasAgg(figure)
            grid = figure.add_gridspec(2, 2 if tiles else 1, height_ratios=[diagram_size[1], 2.2],
                                       width_ratios=[diagram_size[0], 4.5] if tiles else None)
            _draw_diagram(figure, figure.add_subplot(grid[0, 0]), net, values, color_by, max_labelled)
            if tiles:
                _draw_tiles(figure, grid[0, 1], net)
            _draw_histograms(figure, grid[1, :], net, values)
        cost = "" if values["cost"] is None else f", C = {values['cost']:.6g}"
        figure.suptitle(f"{net.sizes}, cost {net.cost_function.name}{cost}; edges: red w > 0, blue w < 0, "
                        "width ∝ |w|", fontsize=9)
        path = os.fspath(path)
        metadata = {"Date": None} if file_format == "svg" else None  # a reproducible SVG
        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format=file_format, metadata=metadata)
    return path
