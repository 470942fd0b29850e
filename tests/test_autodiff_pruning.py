"""Only the work that was asked for: grad, vjp and hvp differentiate with respect to their inputs only.

A constant made inside ``f`` as ``Tensor(M)`` requires a gradient by default, but nobody asked for
``dC/dM``: the backward pass must not compute it. Oracle: the rule that would carry ``dC/dM``
(``z = M @ x`` => ``dM = g x^T``, ``ops._matmul_rule_x``) is wrapped in a counter and must never
run; the results must equal those of the spelling ``Tensor(M, requires_grad=False)`` bit for bit,
and the number of rules run must be the same for both spellings.
"""

import numpy as np
import pytest

from deltaprop.autodiff import Tensor, grad, hvp, value_and_grad, vjp
from deltaprop.autodiff import engine, ops

rng = np.random.default_rng(0)
M = rng.standard_normal((6, 4))
x = rng.standard_normal(4)
v = rng.standard_normal(4)


def f_default(x):
    return ((Tensor(M) @ x).tanh() ** 2).sum()  # Tensor(M) requires a gradient by default


def f_constant(x):
    return ((Tensor(M, requires_grad=False) @ x).tanh() ** 2).sum()


@pytest.fixture
def counted(monkeypatch):
    """Counts of rule calls: ``counts["dM"]`` for M's matmul rule, ``counts["all"]`` for every rule."""
    counts = {"dM": 0, "all": 0}
    original = ops._matmul_rule_x

    def counting_matmul_rule_x(g, ans, a, b):
        counts["dM"] += 1
        return original(g, ans, a, b)

    monkeypatch.setattr(ops, "_matmul_rule_x", counting_matmul_rule_x)
    accumulate = engine._accumulate

    def counting_accumulate(*args):
        counts["all"] += 1  # one call per rule run
        return accumulate(*args)

    monkeypatch.setattr(engine, "_accumulate", counting_accumulate)
    return counts


def _runs(counts, fn):
    counts["dM"] = counts["all"] = 0
    result = fn()
    return result, dict(counts)


@pytest.mark.parametrize("name, call", [
    ("grad", lambda f: grad(f)(x)),
    ("value_and_grad", lambda f: value_and_grad(f)(x)[1]),
    ("vjp", lambda f: vjp(lambda x: (Tensor(M) if f is f_default else Tensor(M, requires_grad=False)) @ x, x)[1](
        np.arange(6.0))[0]),
    ("hvp", lambda f: hvp(f, x, v)),
])
def test_a_constant_made_inside_f_costs_no_gradient(counted, name, call):
    default, runs_default = _runs(counted, lambda: call(f_default))
    constant, runs_constant = _runs(counted, lambda: call(f_constant))
    assert runs_default["dM"] == 0, f"{name} computed dC/dM, which nobody asked for"
    np.testing.assert_array_equal(default, constant)
    assert runs_default["all"] == runs_constant["all"]  # the same work for both spellings


def test_the_results_are_still_right():
    # Oracle: closed forms. f = sum(tanh(M x)^2): grad = M^T (2 t (1 - t^2)) with t = tanh(M x);
    # H v = M^T diag(2 (1 - t^2)(1 - 3 t^2)) M v.
    t = np.tanh(M @ x)
    np.testing.assert_allclose(grad(f_default)(x), M.T @ (2 * t * (1 - t * t)), rtol=1e-13)
    curvature = 2 * (1 - t * t) * (1 - 3 * t * t)
    np.testing.assert_allclose(hvp(f_default, x, v), M.T @ (curvature * (M @ v)), rtol=1e-12, atol=1e-14)


def test_backward_without_targets_still_fills_every_gradient():
    # Tensor.backward() is asked for every gradient (as in micrograd and PyTorch's .backward()):
    # dC/dM = (2 t (1 - t^2)) x^T is filled.
    Mt, xt = Tensor(M), Tensor(x)
    ((Mt @ xt).tanh() ** 2).sum().backward()
    t = np.tanh(M @ x)
    np.testing.assert_allclose(Mt.grad, np.outer(2 * t * (1 - t * t), x), rtol=1e-13)


def test_a_value_reached_by_paths_through_and_around_the_input():
    # Oracle: closed form. f(x) = sum(c * x) + sum(c * c) with c = Tensor(2.0) made inside: df/dx = 2 per entry;
    # the path c -> c * c reaches no input and is skipped, the path c -> c * x passes c's value only.
    def f(x):
        c = Tensor(2.0)
        return (c * x).sum() + (c * c).sum()

    np.testing.assert_array_equal(grad(f)(np.ones(3)), [2.0, 2.0, 2.0])


def test_reaching_lists_the_values_with_a_path_to_a_target():
    # Hand-built graph: x -> a = 2x -> c = a * m; m = Tensor made apart; only x, a and c reach x.
    x = Tensor(1.0)
    m = Tensor(3.0)
    a = 2 * x
    c = a * m
    order = engine.topological_order(c)
    reaching = engine._reaching(order, frozenset([x]))
    assert reaching == {x, a, c}
