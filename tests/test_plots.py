"""Plots: valid, non-blank PNGs for learning curves, diagnostics and confusion matrices."""

import os

import numpy as np
import pytest

import deltaprop
from deltaprop.cli.plots import (
    confusion_matrix,
    layer_columns,
    plot_confusion_matrix,
    plot_gradient_norms,
    plot_history,
    plot_learning_curves,
    plot_saturation,
)
from deltaprop.files.history import save_history


def assert_png_has_content(path):
    """A PNG that matplotlib reads back, with real variation in its pixels (not a blank canvas)."""
    from matplotlib.image import imread

    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05  # a blank figure is all white: std 0
    assert (grey < 0.5).mean() > 0.002  # some dark ink: axes, text, lines


HISTORY = {
    "cost": [0.4, 0.2, 0.1, 0.08],
    "val_cost": [0.3, 0.2, 0.15, 0.14],
    "val_accuracy": [0.6, 0.8, 0.9, 0.92],
    "grad_norm[0]": [1e-4, 3e-4, 2e-3, 1e-3],
    "grad_norm[1]": [1e-2, 2e-2, 3e-2, 2e-2],
    "saturation[0]": [0.5, 0.4, 0.3, 0.25],
    "saturation[1]": [0.2, 0.1, 0.1, 0.05],
}


@pytest.mark.parametrize("plot", [plot_learning_curves, plot_gradient_norms, plot_saturation])
def test_history_plots_are_valid_images(tmp_path, plot):
    path = tmp_path / "out.png"
    assert plot(HISTORY, path) == str(path)
    assert_png_has_content(path)
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary file left behind


def test_learning_curve_for_a_regression_history(tmp_path):
    plot_learning_curves({"cost": [1.0, 0.5], "val_cost": [1.2, 0.7]}, tmp_path / "lc.png")
    assert_png_has_content(tmp_path / "lc.png")


def test_plot_history_writes_the_diagnostics_only_when_recorded(tmp_path):
    written = plot_history(HISTORY, tmp_path)
    assert [os.path.basename(p) for p in written] == ["learning_curve.png", "gradient_norms.png", "saturation.png"]
    for path in written:
        assert_png_has_content(path)
    (tmp_path / "plain").mkdir()
    only_cost = plot_history({"cost": [1.0, 0.5]}, tmp_path / "plain")
    assert [os.path.basename(p) for p in only_cost] == ["learning_curve.png"]


def test_plots_read_a_saved_history_and_a_fit_history(tmp_path):
    X, y = np.random.default_rng(0).random((30, 4)), np.arange(30) % 2
    history = deltaprop.Network([4, 3, 2], seed=0).fit(X, y, epochs=3, validation_data=(X, y))
    plot_learning_curves(history, tmp_path / "a.png")
    save_history(history, tmp_path / "history.csv")
    plot_learning_curves(deltaprop.files.history.load_history(tmp_path / "history.csv"), tmp_path / "b.png")
    assert_png_has_content(tmp_path / "a.png")
    assert_png_has_content(tmp_path / "b.png")


def test_layer_columns_are_sorted_by_layer_index():
    history = {"grad_norm[10]": [1], "grad_norm[2]": [1], "grad_norm_x": [1], "cost": [1]}
    assert layer_columns(history, "grad_norm") == [(2, "grad_norm[2]"), (10, "grad_norm[10]")]


def test_diagnostic_plot_without_diagnostics_is_an_error(tmp_path):
    with pytest.raises(deltaprop.DeltapropError, match="--diagnostics"):
        plot_gradient_norms({"cost": [1.0]}, tmp_path / "g.png")
    assert not os.listdir(tmp_path)


def test_confusion_matrix_by_hand():
    # Hand-worked: true 0,0,1,2,2,2 vs predicted 0,1,1,2,2,0 -> row 0: [1,1,0], row 1: [0,1,0], row 2: [1,0,2].
    matrix = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0])
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert confusion_matrix([0], [0], n_classes=3).shape == (3, 3)


def test_confusion_matrix_png(tmp_path):
    matrix = confusion_matrix(np.arange(100) % 10, (np.arange(100) * 7) % 10, n_classes=10)
    plot_confusion_matrix(matrix, tmp_path / "cm.png")
    assert_png_has_content(tmp_path / "cm.png")


def test_bad_inputs(tmp_path):
    with pytest.raises(deltaprop.DeltapropError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")
    with pytest.raises(deltaprop.DeltapropError, match="1-D"):
        confusion_matrix([0, 1], [0])
    with pytest.raises(deltaprop.DeltapropError, match="history"):
        plot_learning_curves({}, tmp_path / "x.png")
    with pytest.raises(deltaprop.DeltapropError, match="neither"):
        plot_learning_curves({"grad_norm[0]": [1.0]}, tmp_path / "x.png")
