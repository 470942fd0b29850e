"""Forward mode: jvp pushes a tangent through every operation, checked against reverse mode and differences.

Oracles:
* reverse mode, an independent computation: for random ``u`` (one tangent per input) and ``w`` (shaped like
  the output), ``w . (J u)`` from :func:`jvp` must equal ``sum_i (w^T J_i) . u_i`` from :func:`vjp` to
  1e-12 in float64 -- the same number, computed through the tangent rules one way and the rules the other;
* central differences along ``u``: ``(f(x + h u) - f(x - h u)) / 2h``;
* closed forms (002's toy circuit).
Every operation of ``tests/test_autodiff_ops.py``'s table is checked, with broadcasting.
"""

import numpy as np
import pytest
from test_autodiff_ops import CASES  # every operation, in every form the reverse-mode tests check

from deltaprop.autodiff import Tensor, engine, functional, grad, jvp, vjp
from deltaprop.core.gradcheck import relative_error
from deltaprop.errors import DeltapropError, ShapeError


def _tangents(args, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(a)) for a in args]


def _plain(op, args):
    """``op`` evaluated on constants: a plain array (no tangent, nothing to differentiate)."""
    return op(*(Tensor(a, requires_grad=False) for a in args)).data


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_agrees_with_vjp_to_1e_12(name):
    op, args = CASES[name]
    u = _tangents(args, seed=1)
    value, Ju = jvp(op, tuple(args), tuple(u))
    np.testing.assert_array_equal(value, _plain(op, args))
    w = np.random.default_rng(2).standard_normal(np.shape(value))
    _, pullback = vjp(op, *args)
    wJ = pullback(w)
    forward = float(np.sum(w * Ju))  # w . (J u)
    reverse = float(sum(np.sum(g * ui) for g, ui in zip(wJ, u)))  # (w^T J) . u
    scale = float(np.abs(w * Ju).sum()) + 1.0
    assert abs(forward - reverse) <= 1e-12 * scale, (name, forward, reverse)


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_agrees_with_central_differences(name):
    op, args = CASES[name]
    u = _tangents(args, seed=3)
    h = 1e-6
    plus = _plain(op, [a + h * ui for a, ui in zip(args, u)])
    minus = _plain(op, [a - h * ui for a, ui in zip(args, u)])
    _, Ju = jvp(op, tuple(args), tuple(u))
    assert relative_error(np.asarray(Ju), (plus - minus) / (2 * h)) < 1e-7, name


def test_002_toy_circuit_by_forward_mode():
    # Oracle: closed form. L = c (a + 2b) at a = 2, b = -3, c = 10: along e_a, e_b, e_c the tangents are
    # dL/da = c = 10, dL/db = 2c = 20, dL/dc = a + 2b = -4 -- one forward pass per input.
    def L(a, b, c):
        return c * (a + 2 * b)

    point = (np.array(2.0), np.array(-3.0), np.array(10.0))
    tangents = []
    for direction in np.eye(3):
        value, tangent = jvp(L, point, tuple(direction))
        assert value == -40.0
        tangents.append(float(tangent))
    assert tangents == [10.0, 20.0, -4.0]


def test_l_forward_passes_give_the_gradient_of_one_reverse_pass():
    # Oracle: reverse mode. Column by column, J e_i of f: R^5 -> R is the i-th entry of the gradient.
    rng = np.random.default_rng(0)
    M, x = rng.standard_normal((3, 5)), rng.standard_normal(5)

    def f(x):
        return ((Tensor(M) @ x).tanh() ** 2).sum() + (x.sin() * x).sum()

    forward = np.array([jvp(f, x, e)[1] for e in np.eye(5)])
    np.testing.assert_allclose(forward, grad(f)(x), rtol=1e-13, atol=1e-15)


def test_forward_mode_runs_no_backward_pass(monkeypatch):
    # jvp must not be two reverse passes in disguise: with the backward pass disabled it still works.
    def refuse(*args, **kwargs):
        raise AssertionError("jvp ran a backward pass")

    monkeypatch.setattr(engine, "backpropagate", refuse)
    monkeypatch.setattr(functional, "backpropagate", refuse)
    with pytest.raises(AssertionError, match="backward pass"):
        grad(lambda x: x.sum())(np.ones(2))  # the trap works
    x = np.array([0.5, -1.0])
    value, tangent = jvp(lambda x: (x.exp() * x).sum(), x, np.array([1.0, 1.0]))
    # Oracle: closed form. d/dx (x e^x) = (1 + x) e^x, summed along (1, 1).
    assert tangent == pytest.approx(np.sum((1 + x) * np.exp(x)), rel=1e-15)


def test_a_vector_valued_function_and_a_constant_made_inside_it():
    # Oracle: closed form. f(x) = A x + sin(x) (A made inside f, a constant): J v = A v + cos(x) v.
    rng = np.random.default_rng(1)
    A, x, v = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    value, tangent = jvp(lambda x: Tensor(A) @ x + x.sin(), x, v)
    np.testing.assert_allclose(value, A @ x + np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(tangent, A @ v + np.cos(x) * v, rtol=1e-13)


def test_a_function_that_ignores_its_input_has_a_zero_tangent():
    value, tangent = jvp(lambda x: Tensor(3.0, requires_grad=False), np.ones(2), np.ones(2))
    assert value == 3.0 and tangent == 0.0


def test_bad_tangents_are_named():
    with pytest.raises(ShapeError, match=r"v has shape \(3,\) but x has shape \(2,\)"):
        jvp(lambda x: x.sum(), np.ones(2), np.ones(3))
    with pytest.raises(DeltapropError, match="tuple of 2 tangents"):
        jvp(lambda x, y: x * y, (1.0, 2.0), 1.0)


def test_an_operation_without_a_tangent_rule_is_named():
    from deltaprop.autodiff.tensor import _make, passed

    def no_tangent_rule(t):
        return _make(t.data.copy(), (t,), (passed,), "mystery")

    with pytest.raises(DeltapropError, match="'mystery' has no tangent rule"):
        jvp(no_tangent_rule, np.ones(2), np.ones(2))


def test_a_value_made_in_one_jvp_carries_no_tangent_into_the_next():
    # Oracle: closed form. The second function is x * y with y a constant (3 from the first call's
    # 1.5 * 2): its derivative along v = 1 is y = 3, not y plus y's tangent from the first call.
    leaked = []

    def first(x):
        y = x * 2
        leaked.append(y)
        return y

    jvp(first, np.array(1.5), np.array(1.0))
    value, tangent = jvp(lambda x: x * leaked[0], np.array(4.0), np.array(1.0))
    assert value == 12.0 and tangent == 3.0
