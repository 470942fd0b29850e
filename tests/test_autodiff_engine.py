"""The engine's backward pass: hand-worked circuits, accumulation, long chains, bad input."""

import warnings

import numpy as np
import pytest

from deltaprop.autodiff import Tensor, grad, value_and_grad
from deltaprop.errors import DeltapropError, ShapeError


def test_002_toy_circuit_gives_the_hand_derived_gradients_exactly():
    # Oracle: 002's toy worked by hand. d = 2b, e = a + d, L = c e, so
    # dL/dc = e = a + 2b, dL/de = c, dL/da = c, dL/dd = c, dL/db = 2c.
    a, b, c = Tensor(3.0), Tensor(-2.0), Tensor(5.0)
    d = 2 * b
    e = a + d
    L = c * e
    L.backward()
    assert float(L.grad) == 1.0
    assert float(a.grad) == 5.0  # c
    assert float(b.grad) == 10.0  # 2c
    assert float(c.grad) == -1.0  # a + 2b = 3 - 4
    assert float(e.grad) == 5.0 and float(d.grad) == 5.0  # intermediate values keep theirs


def test_micrograd_sanity_check_example():
    # Oracle: worked by hand. x = -4: z = 3x + 2 = -10, q = relu(z) + z x = 40 (relu inactive),
    # h = relu(z^2) = 100, y = h + q + q x = -20. With z < 0 and z^2 > 0:
    # y(x) = (3x + 2)^2 + (3x^2 + 2x)(1 + x), y'(x) = 6(3x + 2) + (6x + 2)(1 + x) + 3x^2 + 2x
    #      = -60 + 66 + 40 = 46 (micrograd's test_sanity_check gets the same from PyTorch).
    x = Tensor(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert float(y.data) == -20.0
    assert float(x.grad) == 46.0


def _micrograd_readme(a, b):
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def test_micrograd_readme_example_matches_its_published_numbers():
    # Oracle: the numbers printed in micrograd's README (computed there and checked against
    # PyTorch): g = 24.7041, dg/da = 138.8338, dg/db = 645.5773. By hand: c = -1, d = 6, e = -7,
    # f = 49, g = 49/2 + 10/49 = 24.70408...
    a, b = Tensor(-4.0), Tensor(2.0)
    g = _micrograd_readme(a, b)
    g.backward()
    assert f"{g.item():.4f}" == "24.7041"
    assert f"{a.grad.item():.4f}" == "138.8338"
    assert f"{b.grad.item():.4f}" == "645.5773"


def test_micrograd_readme_example_matches_pytorch():
    # Oracle: PyTorch, an independent engine (optional: skipped where torch is not installed).
    torch = pytest.importorskip("torch")
    ta = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tg = _micrograd_readme(ta, tb)
    tg.backward()
    a, b = Tensor(-4.0), Tensor(2.0)
    g = _micrograd_readme(a, b)
    g.backward()
    assert abs(g.item() - tg.item()) < 1e-12
    assert abs(a.grad.item() - ta.grad.item()) < 1e-10
    assert abs(b.grad.item() - tb.grad.item()) < 1e-10


def test_a_value_used_twice_receives_both_contributions():
    # Oracle: closed form. y = x * x + x has dy/dx = 2x + 1: three paths from y to x.
    x = Tensor(3.0)
    y = x * x + x
    y.backward()
    assert float(x.grad) == 7.0


def test_gradients_accumulate_across_calls_until_zeroed():
    # Oracle: closed form. d(x^2)/dx = 2x = 6; a second backward() adds another 6.
    x = Tensor(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert float(x.grad) == 12.0
    y.zero_grad()
    assert x.grad is None and y.grad is None
    y.backward()
    assert float(x.grad) == 6.0
    x.grad = None
    y.backward()
    assert float(x.grad) == 6.0


def test_a_chain_of_100000_operations_has_no_recursion_error():
    # Oracle: closed form. y = x * r^n has dy/dx = r^n, with r = 1 + 1e-6 and n = 100,000.
    r, n = 1.000001, 100_000
    x = Tensor(1.0)
    y = x
    for _ in range(n):
        y = y * r
    y.backward()
    assert abs(float(x.grad) - r**n) < 1e-9
    y.zero_grad()  # the other graph walk is iterative too
    assert x.grad is None


def test_power_of_two_tensors_differentiates_both():
    # Oracle: closed form. d(x^y)/dx = y x^(y-1) = 3 * 4 = 12; d(x^y)/dy = x^y ln x = 8 ln 2.
    x, y = Tensor(2.0), Tensor(3.0)
    (x**y).backward()
    assert float(x.grad) == pytest.approx(12.0, rel=1e-15)
    assert float(y.grad) == pytest.approx(8.0 * np.log(2.0), rel=1e-15)


def test_numbers_on_either_side_of_every_operator():
    # Oracle: closed forms at x = 2: d(5 - x) = -1, d(6 / x) = -6/x^2 = -1.5, d(2^x) = 2^x ln 2 = 4 ln 2,
    # d(x ** 3) = 3 x^2 = 12, d(x - 1) = 1, d(x / 4) = 0.25, d(3 x) = 3, d(1 + x) = 1, d(-x) = -1.
    cases = [
        (lambda x: 5 - x, -1.0),
        (lambda x: 6 / x, -1.5),
        (lambda x: 2**x, 4 * np.log(2.0)),
        (lambda x: x**3, 12.0),
        (lambda x: x - 1, 1.0),
        (lambda x: x / 4, 0.25),
        (lambda x: 3 * x, 3.0),
        (lambda x: 1 + x, 1.0),
        (lambda x: -x, -1.0),
    ]
    for f, expected in cases:
        assert grad(f)(2.0) == pytest.approx(expected, rel=1e-15)


def test_arrays_on_either_side_of_matmul_and_elementwise_operators():
    # Oracle: closed forms. d/dw sum(A @ w) = A^T 1; d/dw sum(v * w) = v.
    A = np.arange(6.0).reshape(2, 3)
    w = Tensor(np.ones(3))
    (A @ w).sum().backward()
    np.testing.assert_array_equal(w.grad, A.T @ np.ones(2))
    w.grad = None
    v = np.array([1.0, -2.0, 3.0])
    (v * w).sum().backward()
    np.testing.assert_array_equal(w.grad, v)


def test_leaves_never_share_a_gradient_array():
    # Oracle: an independent expectation. z = x + y hands the same g to both inputs; modifying
    # x.grad in place must not change y.grad.
    x, y = Tensor(np.zeros(3)), Tensor(np.zeros(3))
    seed = np.array([1.0, 2.0, 3.0])
    (x + y).backward(seed)
    x.grad += 1.0
    np.testing.assert_array_equal(y.grad, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])


def test_float32_stays_float32():
    # Oracle: NumPy's type rules, which the engine follows (Python numbers adopt the Tensor's dtype).
    x = Tensor(np.ones(3, np.float32))
    y = (2 * x.tanh() + 1).sum()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_backward_of_a_non_scalar_needs_a_seed():
    # Oracle: closed form. With seed s, x * x pulls back to 2 x s.
    x = Tensor(np.array([1.0, 2.0]))
    y = x * x
    with pytest.raises(ShapeError, match=r"seed gradient.*\(2,\)"):
        y.backward()
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        y.backward(np.ones(3))
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 40.0])


def test_backward_of_a_constant_raises():
    with pytest.raises(DeltapropError, match="requires_grad"):
        (Tensor(2.0, requires_grad=False) * 3).backward()


@pytest.mark.parametrize(
    "op, shapes, name",
    [
        (lambda x, y: x + y, ((2, 3), (4,)), r"\+"),
        (lambda x, y: x * y, ((2, 3), (3, 2)), r"\*"),
        (lambda x, y: x - y, ((5,), (4,)), "-"),
        (lambda x, y: x / y, ((2, 1, 3), (4, 2)), "/"),
        (lambda x, y: x**y, ((3,), (2,)), r"\*\*"),
        (lambda x, y: x @ y, ((2, 3), (2, 3)), "@"),
        (lambda x, y: x @ y, ((), (3,)), "@"),
    ],
)
def test_incompatible_shapes_name_both_shapes_and_the_operation(op, shapes, name):
    x, y = Tensor(np.ones(shapes[0])), Tensor(np.ones(shapes[1]))
    with pytest.raises(ShapeError, match=name) as info:
        op(x, y)
    assert str(shapes[0]) in str(info.value) and str(shapes[1]) in str(info.value)


def test_bad_reshape_axis_and_index_raise_shape_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        x.reshape(4)
    with pytest.raises(ShapeError, match=r"axis=2.*\(2, 3\)"):
        x.sum(axis=2)
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        x[5]
    with pytest.raises(ShapeError, match="transpose"):
        x.transpose(0, 0)
    assert [row.shape for row in x] == [(3,), (3,)]  # iteration stops at the end of the first axis


def test_log_of_non_positive_values_gives_numpys_results():
    # Oracle: NumPy itself: log 0 = -inf, log(-1) = nan; the gradient g / x is inf at 0.
    values = np.array([0.0, -1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.log(values)
        x = Tensor(values)
        y = x.log()
        y.backward(np.ones(3))
        expected_grad = 1.0 / values
    np.testing.assert_array_equal(y.data, expected)
    np.testing.assert_array_equal(x.grad, expected_grad)


def test_an_argument_the_function_ignores_gets_zeros():
    # Oracle: closed form: d(2x)/dy = 0, and a constant function has a zero gradient.
    gx, gy = grad(lambda x, y: 2 * x, argnums=(0, 1))(1.0, np.array([1.0, 2.0]))
    assert gx == 2.0
    np.testing.assert_array_equal(gy, [0.0, 0.0])
    np.testing.assert_array_equal(grad(lambda x: 5.0)(np.ones((2, 2))), np.zeros((2, 2)))
    value, g = value_and_grad(lambda x: Tensor(3.0, requires_grad=False))(np.ones(3))
    assert value == 3.0
    np.testing.assert_array_equal(g, np.zeros(3))


def test_create_graph_differentiates_twice_and_thrice():
    # Oracle: closed form. f = x^3: f' = 3x^2 = 12, f'' = 6x = 12, f''' = 6 at x = 2.
    x = Tensor(2.0)
    y = x**3
    y.backward(create_graph=True)
    first = x.grad
    assert isinstance(first, Tensor) and float(first.data) == 12.0
    x.grad = None
    first.backward(create_graph=True)
    second = x.grad
    assert float(second.data) == 12.0
    x.grad = None
    second.backward()
    assert float(x.grad) == 6.0
    # the same by composing grad
    assert grad(grad(grad(lambda x: x**3)))(2.0) == 6.0


def test_grad_needs_a_scalar_function_and_valid_argnums():
    with pytest.raises(ShapeError, match=r"one number.*\(3,\).*vjp"):
        grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(DeltapropError, match="argnums"):
        grad(lambda x: x, argnums=1)(1.0)


def test_tensor_rejects_non_numbers():
    with pytest.raises(DeltapropError, match="real numbers"):
        Tensor("abc")


def test_relu_and_leaky_relu_derivatives_at_zero_follow_the_core():
    # Oracle: deltaprop.core.activations' derivatives, which take relu'(0) = 0 and leaky_relu'(0) = slope.
    from deltaprop import ACTIVATIONS

    z = np.array([-1.0, 0.0, 2.0])
    for name, method in [("relu", Tensor.relu), ("leaky_relu", Tensor.leaky_relu)]:
        x = Tensor(z)
        method(x).sum().backward()
        np.testing.assert_array_equal(x.grad, ACTIVATIONS[name].prime(z, None))


@pytest.mark.parametrize("module", ["", ".tensor", ".ops", ".engine", ".functional", ".check", ".dot", ".network"])
def test_docstring_examples_run(module):
    # Oracle: the outputs written in the docstrings, worked by hand (002's toy, closed forms).
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("deltaprop.autodiff" + module))
    assert result.failed == 0
