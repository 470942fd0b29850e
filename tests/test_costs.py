"""Costs: values from the per-example formulas, gradients against finite differences."""

import numpy as np
import pytest

from deltaprop.core.costs import COSTS, get_cost

RNG = np.random.default_rng(0)
A = RNG.uniform(0.1, 0.9, (4, 3))
Y = np.eye(3)[[0, 2, 1, 2]]


def test_values_against_hand_computed_examples():
    # Oracle: arithmetic by hand for a = (0.8, 0.2), y = (1, 0).
    a, y = np.array([[0.8, 0.2]]), np.array([[1.0, 0.0]])
    assert get_cost("quadratic").value(a, y) == pytest.approx(0.5 * (0.04 + 0.04))
    assert get_cost("squared_error").value(a, y) == pytest.approx(0.08)
    assert get_cost("cross_entropy").value(a, y) == pytest.approx(-np.log(0.8) - np.log(0.8))
    assert get_cost("log_likelihood").value(a, y) == pytest.approx(-np.log(0.8))


def test_batch_cost_is_the_mean_of_the_example_costs():
    # Oracle: C = mean_x C_x, computed one example at a time.
    for cost in COSTS.values():
        per_example = [cost.value(A[i : i + 1], Y[i : i + 1]) for i in range(len(A))]
        assert cost.value(A, Y) == pytest.approx(np.mean(per_example), rel=1e-12)


@pytest.mark.parametrize("name", COSTS)
def test_grad_a_matches_central_differences(name):
    # Oracle: dC_x/da_j ~ (C_x(a + h e_j) - C_x(a - h e_j)) / 2h, per example.
    cost, h = get_cost(name), 1e-6
    numeric = np.empty_like(A)
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            e = np.zeros_like(A[i : i + 1])
            e[0, j] = h
            numeric[i, j] = (cost.value(A[i : i + 1] + e, Y[i : i + 1]) - cost.value(A[i : i + 1] - e, Y[i : i + 1])) / (2 * h)
    np.testing.assert_allclose(cost.grad_a(A, Y), numeric, rtol=1e-6, atol=1e-9)


def test_cross_entropy_of_a_saturated_output_is_finite():
    # a == 1 exactly with y = 0 would give ln(0); the cost clips to the dtype's epsilon instead.
    value = get_cost("cross_entropy").value(np.array([[1.0]]), np.array([[0.0]]))
    assert np.isfinite(value) and value > 30
