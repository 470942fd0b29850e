"""The demon of 003 as an API: nudge(net, x, y, layer, unit, dz) -> (cost_change, predicted = delta dz)."""

import numpy as np
import pytest

import deltaprop
from deltaprop import Dense, Network, nudge


def published_2_2_2():
    """The widely used 2-2-2 sigmoid example: W1 = [[.15, .20], [.25, .30]], b1 = .35; W2 = [[.40, .45], [.50, .55]], b2 = .60."""
    return Network([Dense(2, 2, "sigmoid", W=[[0.15, 0.20], [0.25, 0.30]], b=[0.35, 0.35]),
                    Dense(2, 2, "sigmoid", W=[[0.40, 0.45], [0.50, 0.55]], b=[0.60, 0.60])],
                   cost="quadratic", dtype="float64")


X, Y = [0.05, 0.10], [0.01, 0.99]
DZ = [1e-3, 5e-4, 2.5e-4]


@pytest.mark.parametrize("layer, unit", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_the_error_of_the_linear_prediction_falls_like_dz_squared(layer, unit):
    # Oracle: Taylor's theorem. C(z + dz) - C(z) = delta dz + C''/2 dz^2 + O(dz^3), so halving dz divides
    # |dC - delta dz| by 4 (up to the O(dz) correction: within 4 +- 0.25 at these steps).
    net = published_2_2_2()
    errors = []
    for dz in DZ:
        change, predicted = nudge(net, X, Y, layer, unit, dz)
        errors.append(abs(change - predicted))
        assert change == pytest.approx(predicted, rel=1e-2)  # the linear prediction holds to first order
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(3.75 < r < 4.25 for r in ratios), ratios


def test_closed_form_on_an_identity_output():
    # Oracle: closed form. One identity layer, quadratic cost: C = 1/2 (z - y)^2, delta = z - y, so
    # C(z + dz) - C(z) = (z - y) dz + dz^2 / 2: the error is exactly dz^2 / 2.
    net = Network([Dense(1, 1, "identity", W=[[2.0]], b=[0.5])], cost="quadratic", dtype="float64")
    change, predicted = nudge(net, [1.0], [0.0], layer=0, unit=0, dz=0.1)  # z = 2.5
    assert predicted == pytest.approx(2.5 * 0.1, rel=1e-15)
    assert change - predicted == pytest.approx(0.1**2 / 2, rel=1e-10)


def test_delta_is_the_backprop_error_and_the_demon_lowers_the_cost_against_its_sign():
    # Oracle: Network.backprop's delta (BP1, BP2); 003: a dz of the opposite sign to delta lowers the cost.
    net = published_2_2_2()
    deltas = net.backprop(np.array([X]), np.array([Y])).deltas
    for layer in range(2):
        for unit in range(2):
            change, predicted = nudge(net, X, Y, layer, unit, 1e-6)
            assert predicted == pytest.approx(deltas[layer][0, unit] * 1e-6, rel=1e-12)
            lowered, _ = nudge(net, X, Y, layer, unit, -0.1 * np.sign(deltas[layer][0, unit]))
            assert lowered < 0


def test_a_batch_shifts_z_in_every_example_and_averages_delta():
    # Oracle: the batch cost is the mean of C_x, so dC/d(shift of z_j in every example) = mean_x delta_j^x.
    rng = np.random.default_rng(0)
    net = Network([3, 4, 2], activation="tanh", output_activation="softmax", cost="log_likelihood", seed=1,
                  dtype="float64")
    X_batch, labels = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    change, predicted = nudge(net, X_batch, labels, layer=0, unit=2, dz=1e-4)
    mean_delta = net.backprop(X_batch, labels).deltas[0][:, 2].mean()
    assert predicted == pytest.approx(mean_delta * 1e-4, rel=1e-12)
    assert change == pytest.approx(predicted, rel=1e-3)


def test_the_network_is_not_modified_and_float32_is_computed_in_float64():
    net = Network([2, 3, 2], seed=0)  # float32
    before = [(layer.W.copy(), layer.b.copy()) for layer in net.layers]
    change, predicted = nudge(net, X, Y, 0, 0, 1e-4)
    assert isinstance(change, float) and abs(change - predicted) < 1e-3 * abs(predicted)
    for layer, (W, b) in zip(net.layers, before):
        assert np.array_equal(layer.W, W) and np.array_equal(layer.b, b)


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": 2}, "layer=2 must be an integer index of net.layers"),
    ({"layer": -3}, "layer=-3"),
    ({"layer": 1.0}, "layer=1.0"),
    ({"unit": 2}, "unit=2 must be an integer index of layers[0]'s 2 neurons"),
    ({"dz": float("nan")}, "dz=nan must be a finite number"),
    ({"dz": "0.1"}, "dz='0.1'"),
])
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"layer": 0, "unit": 0, "dz": 0.1, **kwargs}
    with pytest.raises(deltaprop.DeltapropError, match=message.replace("[", r"\[").replace("]", r"\]")):
        nudge(published_2_2_2(), X, Y, **arguments)
    with pytest.raises(deltaprop.ShapeError):
        nudge(published_2_2_2(), [1.0, 2.0, 3.0], Y, 0, 0, 0.1)


def test_docstring_example_runs():
    import doctest

    import deltaprop.core.nudge as module

    assert doctest.testmod(module).failed == 0
