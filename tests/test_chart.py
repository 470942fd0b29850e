"""The Pillow charts behind every plot of a run: ticks, layout, and pixels where the data says.

Oracles: hand-worked tick positions, the properties every tick list must have (checked by
hypothesis over random ranges), and the pixels of a drawn chart read back with matplotlib's own
PNG reader (a decoder independent of the one that wrote the file).
"""

import doctest
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import deltaprop
from deltaprop.cli import chart
from deltaprop.cli.chart import Panel, Series, heat_map, line_chart, log_ticks, nice_ticks, save_png, tick_label


def test_doctests_hold():
    assert doctest.testmod(chart).failed == 0


def test_ticks_by_hand():
    # span 0.3 over 6 ticks: raw step 0.05, so steps of 0.05 from the first multiple above 0.12.
    assert nice_ticks(0.12, 0.42) == [0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
    # epochs 1..3 padded to 0.9..3.1: whole numbers only, although a step of 0.5 would fit six ticks.
    assert nice_ticks(0.9, 3.1, integer=True) == [1.0, 2.0, 3.0]
    # negative ranges cross zero cleanly, with no "-0".
    assert nice_ticks(-1.0, 1.0) == [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0] or 0.0 in nice_ticks(-1.0, 1.0)
    assert all(math.copysign(1, t) > 0 for t in nice_ticks(-1.0, 1.0) if t == 0)
    # a log axis over four decades: the decades themselves.
    assert log_ticks(3e-4, 0.5) == [1e-3, 1e-2, 1e-1]
    assert tick_label(0.25, 0.05) == "0.25" and tick_label(20.0, 5.0) == "20" and tick_label(1e-3) == "0.001"
    assert tick_label(2147483648.2, 0.2) == "2147483648.2"  # large: as many digits as the step needs


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e12, 1e12), st.floats(1e-9, 1e12), st.booleans())
def test_ticks_lie_in_the_range_evenly_and_are_few(lo, span, integer):
    hi = lo + span
    assume(span > 1e-9 * abs(lo))  # a range finer than float64 can tell apart has no ticks to draw
    ticks = nice_ticks(lo, hi, integer=integer)
    tolerance = 1e-9 * max(abs(lo), abs(hi), span, 1.0 if integer else 0.0)  # a tick may sit on an end
    assert all(lo - tolerance <= t <= hi + tolerance for t in ticks)
    assert len(ticks) <= 14
    if len(ticks) > 1:
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0], rtol=1e-6, atol=tolerance)
        mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
        rounding = 1e-6 + 1e-15 * max(abs(lo), abs(hi)) / steps[0]  # differences of large ticks lose digits
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < rounding  # 1, 2 or 5 times a power of ten
        labels = [tick_label(t, steps[0]) for t in ticks]
        assert len(set(labels)) == len(labels), labels  # every tick tells itself apart
        if integer:
            assert steps[0] >= 1
    if span >= 10 and not integer:
        assert len(ticks) >= 3  # a readable axis, not a lone tick


@settings(max_examples=200, deadline=None)
@given(st.floats(-30, 30), st.floats(0.05, 40))
def test_log_ticks_lie_in_the_range(log_lo, decades):
    lo, hi = 10.0**log_lo, 10.0 ** (log_lo + decades)
    ticks = log_ticks(lo, hi)
    assert ticks == sorted(ticks) and 1 <= len(ticks) <= 9
    assert all(lo * (1 - 1e-8) <= t <= hi * (1 + 1e-8) for t in ticks)  # a decade may sit on an end


def _read(path):
    from matplotlib.image import imread  # an independent PNG decoder

    return (imread(path)[..., :3] * 255).round().astype(int)


def test_a_series_is_drawn_where_its_points_are(tmp_path):
    # One rising line in an otherwise empty panel: the orange ink must climb from the bottom left to
    # the top right of the plot area, column by column.
    x = np.arange(1, 11, dtype=float)
    panel = Panel([Series(x, x**2, "rising", color=1)], "title", "epoch", "value")
    path = save_png(line_chart([panel]), tmp_path / "c.png")
    pixels = _read(path)
    assert pixels.shape == (chart.PANEL_SIZE[1], chart.PANEL_SIZE[0], 3)
    orange = (np.abs(pixels - np.array(chart.COLORS[1])).sum(axis=2) < 60)
    rows, cols = np.nonzero(orange)
    legend = rows < pixels.shape[0] * 0.25  # the legend's sample line sits in a top corner
    columns = np.unique(cols[~legend])
    heights = [rows[~legend][cols[~legend] == c].mean() for c in columns]
    assert len(columns) > 200  # a line across most of the panel
    assert np.corrcoef(columns, heights)[0, 1] < -0.9  # rows count downwards: rising values, falling rows


def test_log_axis_puts_decades_evenly(tmp_path):
    # On a log axis, 1, 10 and 100 are equally spaced: the middle point sits halfway.
    panel = Panel([Series(np.array([1.0, 2.0, 3.0]), np.array([1.0, 10.0, 100.0]), color=2)], log_y=True)
    pixels = _read(save_png(line_chart([panel]), tmp_path / "log.png"))
    green = np.abs(pixels - np.array(chart.COLORS[2])).sum(axis=2) < 40
    rows, cols = np.nonzero(green)
    left, middle, right = (rows[np.abs(cols - c) <= 1].mean() for c in np.percentile(cols, [0.5, 50, 99.5]).round())
    assert abs(middle - (left + right) / 2) < 4


def test_two_panels_and_a_title_widen_the_image(tmp_path):
    panels = [Panel([Series(np.arange(3.0), np.arange(3.0))]), Panel([Series(np.arange(3.0), np.ones(3))])]
    pixels = _read(save_png(line_chart(panels, title="both"), tmp_path / "two.png"))
    assert pixels.shape[1] == 2 * chart.PANEL_SIZE[0] and pixels.shape[0] > chart.PANEL_SIZE[1]


def test_empty_and_constant_series_still_draw(tmp_path):
    for k, series in enumerate([[], [Series(np.zeros(0), np.zeros(0))], [Series(np.ones(1), np.ones(1) * 5)],
                                [Series(np.arange(4.0), np.full(4, -2.0))]]):
        pixels = _read(save_png(line_chart([Panel(series, log_y=k == 1)]), tmp_path / f"e{k}.png"))
        assert pixels.std() > 1  # axes and ticks at least


def test_heat_map_colours_follow_the_counts(tmp_path):
    # The diagonal holds the largest count: its cells are the darkest blue, the zeros the lightest.
    matrix = np.diag([9, 9, 9]) + 1
    pixels = _read(save_png(heat_map(matrix, "cm", "predicted", "true"), tmp_path / "h.png"))
    darkest = np.abs(pixels - np.array(chart.BLUES[-1][1])).sum(axis=2) < 30
    assert darkest.mean() > 0.01
    assert tuple(chart._blues(0.0)) == chart.BLUES[0][1] and tuple(chart._blues(1.0)) == chart.BLUES[-1][1]
    halfway = tuple(round((a + b) / 2) for a, b in zip(chart.BLUES[0][1], chart.BLUES[1][1]))
    assert tuple(chart._blues(0.125)) == halfway  # 0.125 is halfway between the stops 0 and 0.25
    assert chart._blues(np.zeros((4, 5))).shape == (4, 5, 3)


def test_heat_map_of_many_classes_is_quick_and_shows_the_diagonal(tmp_path):
    # 2,000 classes: one small image scaled down, not four million rectangles. The diagonal alone
    # is non-zero, so the dark pixels lie on the line from the top left to the bottom right.
    matrix = np.diag(np.full(2000, 7))
    pixels = _read(save_png(heat_map(matrix), tmp_path / "big.png"))
    cells = pixels[:, : int(pixels.shape[1] * 0.75)]  # left of the colour bar
    red, blue = cells[..., 0], cells[..., 2]
    inked = (blue - red > 30) & (red < 200)  # blue ink: not the zero cells' near-white, the grey frame or text
    rows, cols = np.nonzero(inked)
    assert len(rows) > 200 and np.corrcoef(rows, cols)[0, 1] > 0.99


def test_line_chart_needs_a_panel():
    with pytest.raises(deltaprop.DeltapropError, match="panel"):
        line_chart([])


def test_charts_do_not_import_matplotlib(tmp_path):
    # The point of the module: a run's plots cost Pillow only. matplotlib made unimportable, the
    # learning curve is still drawn.
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from deltaprop.cli.plots import plot_history\n"
            f"print(plot_history({{'cost': [1.0, 0.5], 'val_accuracy': [0.5, 0.9]}}, {str(tmp_path)!r}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
