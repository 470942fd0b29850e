"""Line charts and a heat map as PNG, drawn with Pillow: the plots of a run in tens of milliseconds.

Every ``deltaprop train`` ends by drawing its learning curve. matplotlib takes about a second to
import and most of another to lay out a figure, more than the default run spends training, so the
plots of :mod:`deltaprop.cli.plots` are drawn here instead, with Pillow (which matplotlib itself
depends on) and a small layout of our own: axes with ticks at 1, 2 or 5 times a power of ten
(decades on a log scale), a light grid, one polyline with markers per series, a legend in the
emptiest corner, titles. Everything is drawn at :data:`SUPERSAMPLE` times the size and reduced,
which smooths the lines and the text.

:func:`line_chart` and :func:`heat_map` return a Pillow image; :func:`save_png` writes one
atomically. Values must be finite: the caller leaves out what cannot be drawn.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..atomic import atomic_write
from ..errors import DeltapropError

__all__ = ["Panel", "Series", "heat_map", "line_chart", "log_ticks", "nice_ticks", "save_png"]

SUPERSAMPLE = 2
"""Drawing scale: each chart is drawn this many times larger, then reduced (anti-aliasing)."""
PANEL_SIZE = (550, 400)
"""Pixels of one panel of a line chart (matplotlib's 5.5 x 4 inches at 100 dpi)."""
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
"""Series colours, in order (the ten of matplotlib's default cycle, so the plots look as before)."""
INK, FRAME, GRID, WHITE = (30, 30, 30), (80, 80, 80), (228, 228, 228), (255, 255, 255)
BLUES = ((0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
         (1.0, (8, 48, 107)))
"""The heat map's colour ramp, from white (0) to dark blue (the largest count)."""


@dataclass
class Series:
    """One line: points ``(x[i], y[i])`` joined in order, drawn with markers, named in the legend."""

    x: np.ndarray
    y: np.ndarray
    label: str = ""
    color: int | None = None  # index into COLORS; None: the series' position in its panel


@dataclass
class Panel:
    """One set of axes of a :func:`line_chart`."""

    series: list = field(default_factory=list)
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    log_y: bool = False  # decades on the y axis; only positive values are drawn
    integer_x: bool = True  # ticks on whole numbers only (epochs)


# -- ticks ---------------------------------------------------------------------------------------------

def nice_ticks(lo: float, hi: float, target: int = 6, integer: bool = False) -> list[float]:
    """Ticks inside ``[lo, hi]`` about ``target`` apart, at multiples of 1, 2 or 5 times a power of ten.

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(0.6, 30.4, integer=True)
    [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    """
    span = hi - lo
    if not span > 0:
        return [lo]
    most = span / (target + 2)  # the smallest step allowed: at most target + 3 ticks, at least 3
    magnitude = 10.0 ** math.floor(math.log10(most))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= most * (1 - 1e-9))
    if integer:
        step = max(step, 1.0)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    for k in range(first, first + 2 * target + 2):
        value = k * step
        if value > hi + step * 1e-9:
            break
        ticks.append(float(f"{value:.15g}") + 0.0)  # 15 digits: no 0.30000000000000004; + 0.0: no "-0"
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks inside ``[lo, hi]`` (both positive) for a log axis: the decades, or 1-2-5 within a narrow range.

    >>> log_ticks(0.05, 3.0)
    [0.1, 1.0]
    >>> log_ticks(0.12, 0.9)
    [0.2, 0.5]
    >>> log_ticks(0.6, 0.9)  # no 1, 2 or 5 inside: evenly spaced values, placed by their logarithm
    [0.6, 0.7, 0.8, 0.9]
    """
    decades = range(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1)
    ticks = [10.0**k for k in decades]
    if len(ticks) < 2:
        ticks = sorted(m * 10.0**k for k in range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)
                       for m in (1, 2, 5) if lo <= m * 10.0**k <= hi)
    if len(ticks) < 2:
        return nice_ticks(lo, hi, target=3)
    every = max(1, math.ceil(len(ticks) / 8))
    return ticks[::every]


def tick_label(value: float, step: float | None = None) -> str:
    """A tick's text: as many decimals as the step between ticks needs, or ``%g`` on a log axis.

    >>> tick_label(0.30000000000000004, 0.1), tick_label(1e-5), tick_label(2500.0, 500.0)
    ('0.3', '1e-05', '2500')
    """
    if step is None:
        return f"{value:g}"
    if abs(value) >= 1e6 or (value and abs(value) < 1e-4):  # exponent form, with the digits the step needs
        digits = max(1, math.floor(math.log10(abs(value))) - math.floor(math.log10(step) + 1e-9) + 1)
        return f"{value:.{digits}g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _limits(values, log: bool) -> tuple[float, float]:
    """The axis range: the data's, widened by 5% each side (a single value gets a range around it)."""
    values = np.asarray(values, dtype=float)
    if log:
        values = np.log10(values[values > 0])
    if values.size == 0:
        lo, hi = (-1.0, 0.0) if log else (0.0, 1.0)
    else:
        lo, hi = float(values.min()), float(values.max())
        if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):
            pad = 0.5 if log else max(0.5, abs(lo) * 0.1)
            lo, hi = lo - pad, hi + pad
        else:
            pad = 0.05 * (hi - lo)
            lo, hi = lo - pad, hi + pad
    return (10.0**lo, 10.0**hi) if log else (lo, hi)


# -- drawing -------------------------------------------------------------------------------------------

def _pillow():
    try:
        from PIL import Image, ImageDraw, ImageFont  # Pillow only where a PNG is drawn
    except ImportError:
        raise DeltapropError('drawing a PNG needs Pillow: pip install "deltaprop[cli]"') from None
    return Image, ImageDraw, ImageFont


@functools.cache
def _font(size: int):
    """Pillow's own scalable font at ``size`` pixels (its small bitmap font where FreeType is missing)."""
    _, _, ImageFont = _pillow()
    try:
        return ImageFont.load_default(size=size * SUPERSAMPLE)
    except Exception:  # noqa: BLE001 -- Pillow < 10.1 (no size) or built without FreeType
        return ImageFont.load_default()


class _Canvas:
    """A supersampled RGB image and the text and shape primitives the charts need, in final pixels."""

    def __init__(self, width: int, height: int):
        Image, ImageDraw, _ = _pillow()
        self.image = Image.new("RGB", (width * SUPERSAMPLE, height * SUPERSAMPLE), WHITE)
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    def _px(*values):
        return [round(v * SUPERSAMPLE) for v in values]

    def text_size(self, text: str, size: int) -> tuple[float, float]:
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=_font(size))
        return (right - left) / SUPERSAMPLE, (bottom - top) / SUPERSAMPLE

    def text(self, x, y, text, size, align="center", valign="center", fill=INK, bold=False):
        """Write ``text`` with its box aligned at ``(x, y)``: align left/center/right, valign top/center/bottom."""
        if not text:
            return
        font = _font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        w, h = right - left, bottom - top
        px, py = self._px(x, y)
        px -= left + {"left": 0, "center": w / 2, "right": w}[align]
        py -= top + {"top": 0, "center": h / 2, "bottom": h}[valign]
        for dx in ((0, SUPERSAMPLE // 2) if bold else (0,)):  # bold: the text twice, a half-pixel apart
            self.draw.text((px + dx, py), text, font=font, fill=fill)

    def vertical_text(self, x, y, text, size, fill=INK):
        """Write ``text`` turned a quarter left (an axis label), centred at ``(x, y)``."""
        if not text:
            return
        Image, ImageDraw, _ = _pillow()
        font = _font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
        ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255)
        mask = mask.rotate(90, expand=True)
        px, py = self._px(x, y)
        self.image.paste(fill, (round(px - mask.width / 2), round(py - mask.height / 2)), mask)

    def line(self, points, fill, width=1.0):
        self.draw.line([tuple(self._px(*p)) for p in points], fill=fill, width=max(1, round(width * SUPERSAMPLE)),
                       joint="curve")

    def rectangle(self, box, fill=None, outline=None, width=1.0):
        self.draw.rectangle(self._px(*box), fill=fill, outline=outline, width=max(1, round(width * SUPERSAMPLE)))

    def dot(self, x, y, radius, fill):
        self.draw.ellipse(self._px(x - radius, y - radius, x + radius, y + radius), fill=fill)

    def finish(self):
        """The image at its final size."""
        return self.image.reduce(SUPERSAMPLE) if SUPERSAMPLE > 1 else self.image


TICK, LABEL, TITLE = 10, 11, 13
"""Font sizes in pixels: tick labels, axis labels and legend, titles."""


def _color(series: Series, position: int) -> tuple[int, int, int]:
    return COLORS[(position if series.color is None else series.color) % len(COLORS)]


def _draw_panel(canvas: _Canvas, panel: Panel, box) -> None:
    """Draw ``panel`` inside ``box = (left, top, right, bottom)`` of ``canvas``."""
    x0, y0, x1, y1 = box
    xs = np.concatenate([np.asarray(s.x, dtype=float) for s in panel.series] or [np.zeros(0)])
    ys = np.concatenate([np.asarray(s.y, dtype=float) for s in panel.series] or [np.zeros(0)])
    if panel.log_y:
        xs = xs[ys > 0]
    x_lo, x_hi = _limits(xs, log=False)
    y_lo, y_hi = _limits(ys, log=panel.log_y)
    x_ticks = nice_ticks(x_lo, x_hi, target=6, integer=panel.integer_x)
    if panel.log_y:
        y_ticks = log_ticks(y_lo, y_hi)
        y_labels = [tick_label(v) for v in y_ticks]
    else:
        y_ticks = nice_ticks(y_lo, y_hi, target=6)
        y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else abs(y_ticks[0]) or 1.0
        y_labels = [tick_label(v, y_step) for v in y_ticks]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    x_labels = [tick_label(v, x_step) for v in x_ticks]

    label_height = canvas.text_size("Ag", LABEL)[1]
    tick_width = max((canvas.text_size(t, TICK)[0] for t in y_labels), default=0)
    left = x0 + 8 + (label_height + 8 if panel.ylabel else 0) + tick_width + 8
    top = y0 + 10 + (canvas.text_size("Ag", TITLE)[1] + 10 if panel.title else 0)
    right = x1 - 16
    bottom = y1 - 10 - (label_height + 8 if panel.xlabel else 0) - canvas.text_size("0", TICK)[1] - 10

    def to_x(v):
        return left + (v - x_lo) / (x_hi - x_lo) * (right - left)

    def to_y(v):
        if panel.log_y:
            fraction = (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
        else:
            fraction = (v - y_lo) / (y_hi - y_lo)
        return bottom - fraction * (bottom - top)

    for v, text in zip(x_ticks, x_labels):
        canvas.line([(to_x(v), top), (to_x(v), bottom)], GRID)
        canvas.line([(to_x(v), bottom), (to_x(v), bottom + 4)], FRAME)
        canvas.text(to_x(v), bottom + 6, text, TICK, valign="top")
    for v, text in zip(y_ticks, y_labels):
        canvas.line([(left, to_y(v)), (right, to_y(v))], GRID)
        canvas.line([(left - 4, to_y(v)), (left, to_y(v))], FRAME)
        canvas.text(left - 6, to_y(v), text, TICK, align="right")
    canvas.rectangle((left, top, right, bottom), outline=FRAME)

    drawn = []
    for k, series in enumerate(panel.series):
        color = _color(series, k)
        x, y = np.asarray(series.x, dtype=float), np.asarray(series.y, dtype=float)
        if panel.log_y:
            x, y = x[y > 0], y[y > 0]
        points = [(to_x(a), to_y(b)) for a, b in zip(x, y)]
        drawn.extend(points)
        if len(points) > 1:
            canvas.line(points, color, width=1.5)
        for px, py in points:
            canvas.dot(px, py, 2.5, color)
    _legend(canvas, panel, (left, top, right, bottom), drawn)

    canvas.text((left + right) / 2, y0 + 10, panel.title, TITLE, valign="top")
    canvas.text((left + right) / 2, y1 - 10, panel.xlabel, LABEL, valign="bottom")
    canvas.vertical_text(x0 + 8 + label_height / 2, (top + bottom) / 2, panel.ylabel, LABEL)


def _legend(canvas: _Canvas, panel: Panel, area, points) -> None:
    """The series' names in the corner of ``area`` that covers the fewest drawn ``points``."""
    entries = [(_color(s, k), s.label) for k, s in enumerate(panel.series) if s.label]
    if not entries:
        return
    row = canvas.text_size("Ag", LABEL)[1] + 7
    width = 36 + max(canvas.text_size(label, LABEL)[0] for _, label in entries) + 8
    height = row * len(entries) + 6
    left, top, right, bottom = area
    corners = [(right - 8 - width, top + 8), (left + 8, top + 8), (right - 8 - width, bottom - 8 - height),
               (left + 8, bottom - 8 - height)]
    points = np.asarray(points, dtype=float).reshape(-1, 2)

    def covered(corner):
        cx, cy = corner
        inside = (points[:, 0] >= cx - 4) & (points[:, 0] <= cx + width + 4) & (points[:, 1] >= cy - 4) & \
                 (points[:, 1] <= cy + height + 4)
        return int(inside.sum())

    cx, cy = min(corners, key=covered)  # the first of the emptiest: upper right when all are equal
    canvas.rectangle((cx, cy, cx + width, cy + height), fill=WHITE, outline=(200, 200, 200))
    for k, (color, label) in enumerate(entries):
        y = cy + 3 + row * (k + 0.5)
        canvas.line([(cx + 6, y), (cx + 28, y)], color, width=1.5)
        canvas.dot(cx + 17, y, 2.5, color)
        canvas.text(cx + 34, y, label, LABEL, align="left")


def line_chart(panels: list[Panel], title: str | None = None):
    """Panels side by side (each :data:`PANEL_SIZE`), with an optional title above them all."""
    if not panels:
        raise DeltapropError("a chart needs at least one panel")
    width, height = PANEL_SIZE
    heading = 30 if title else 0
    canvas = _Canvas(width * len(panels), height + heading)
    if title:
        canvas.text(width * len(panels) / 2, 10, title, TITLE + 1, valign="top", bold=True)
    for k, panel in enumerate(panels):
        _draw_panel(canvas, panel, (k * width, heading, (k + 1) * width, heading + height))
    return canvas.finish()


def _blues(fraction) -> np.ndarray:
    """The colours of ``fraction`` (any shape, in [0, 1]) on :data:`BLUES`, interpolated linearly: uint8 (..., 3)."""
    stops = [f for f, _ in BLUES]
    fraction = np.clip(np.asarray(fraction, dtype=float), 0.0, 1.0)
    channels = [np.interp(fraction, stops, [color[c] for _, color in BLUES]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def heat_map(matrix, title: str = "", xlabel: str = "", ylabel: str = ""):
    """A square matrix of counts as coloured cells (rows top to bottom), each with its count up to 20 x 20.

    The cells are one small image scaled up, so 10,000 classes cost no more than 10; with more classes
    than pixels, every (k/n)-th row and column is shown (the diagonal among them).
    """
    Image, _, _ = _pillow()
    matrix = np.asarray(matrix)
    k = matrix.shape[0]
    canvas = _Canvas(*PANEL_SIZE)
    label_height = canvas.text_size("Ag", LABEL)[1]
    tick_width = canvas.text_size(str(k - 1), TICK)[0]
    margin = 8 + label_height + 8 + tick_width + 8  # left of the cells: the axis label and the row numbers
    top = 10 + canvas.text_size("Ag", TITLE)[1] + 10
    side = min(PANEL_SIZE[0] - margin - 90, PANEL_SIZE[1] - top - label_height - canvas.text_size("0", TICK)[1] - 36)
    left = margin + (PANEL_SIZE[0] - margin - 90 - side) / 2  # the block (cells and colour bar) centred
    cell = side / max(k, 1)
    peak = float(matrix.max()) if matrix.size and matrix.max() > 0 else 1.0
    side_px = round(side * SUPERSAMPLE)
    shown = np.arange(min(k, side_px)) * k // min(k, side_px)  # every row and column, or an even sample
    cells = Image.fromarray(_blues(matrix[np.ix_(shown, shown)] / peak))
    canvas.image.paste(cells.resize((side_px, side_px), Image.Resampling.NEAREST), tuple(canvas._px(left, top)))
    if k <= 20:
        for i in range(k):
            for j in range(k):
                canvas.text(left + (j + 0.5) * cell, top + (i + 0.5) * cell, str(matrix[i, j]), TICK,
                            fill=WHITE if matrix[i, j] > peak / 2 else INK)
    canvas.rectangle((left, top, left + side, top + side), outline=FRAME)
    fit = max(1, min(20, int(side // (tick_width + 10))))  # as many class numbers as fit side by side
    for t in (int(t) for t in nice_ticks(0, max(k - 1, 1), target=fit, integer=True) if t <= k - 1):
        canvas.text(left + (t + 0.5) * cell, top + side + 6, str(t), TICK, valign="top")
        canvas.text(left - 6, top + (t + 0.5) * cell, str(t), TICK, align="right")
    bar_left = left + side + 24  # the colour bar: 0 at the bottom, the largest count at the top
    ramp = Image.fromarray(_blues(np.linspace(1.0, 0.0, 256))[:, None, :])
    canvas.image.paste(ramp.resize((14 * SUPERSAMPLE, side_px), Image.Resampling.BILINEAR),
                       tuple(canvas._px(bar_left, top)))
    canvas.rectangle((bar_left, top, bar_left + 14, top + side), outline=FRAME)
    canvas.text(bar_left + 20, top, f"{peak:g}", TICK, align="left", valign="top")
    canvas.text(bar_left + 20, top + side, "0", TICK, align="left", valign="bottom")
    canvas.text(left + side / 2, 10, title, TITLE, valign="top")
    canvas.text(left + side / 2, top + side + 6 + canvas.text_size("0", TICK)[1] + 8, xlabel, LABEL, valign="top")
    canvas.vertical_text(left - margin + 8 + label_height / 2, top + side / 2, ylabel, LABEL)
    return canvas.finish()


def save_png(image, path) -> str:
    """Write ``image`` as a PNG at ``path`` atomically (a temporary file beside it, renamed); return ``path``."""
    path = os.fspath(path)
    with atomic_write(path, "wb") as handle:
        image.save(handle, format="PNG")
    return path
