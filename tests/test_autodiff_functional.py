"""grad, value_and_grad, vjp, and the second derivatives built from them: hvp and hessian."""

import numpy as np
import pytest

from deltaprop import Network
from deltaprop.autodiff import Tensor, grad, hessian, hvp, numerical_grad, value_and_grad, vjp
from deltaprop.core.gradcheck import relative_error
from deltaprop.errors import ShapeError

rng = np.random.default_rng(0)


def test_grad_and_value_and_grad_on_a_closed_form():
    # Oracle: closed form. f(x, y) = sum(x^2 y) has df/dx = 2 x y and df/dy = sum(x^2).
    x, y = np.array([1.0, -2.0, 3.0]), 0.5
    f = lambda x, y: (x * x * y).sum()
    value, (gx, gy) = value_and_grad(f, argnums=(0, 1))(x, y)
    assert value == pytest.approx(7.0, rel=1e-15)
    np.testing.assert_allclose(gx, 2 * x * y, rtol=1e-15)
    assert gy == pytest.approx(14.0, rel=1e-15)
    np.testing.assert_allclose(grad(f)(x, y), 2 * x * y, rtol=1e-15)
    assert grad(f, argnums=1)(x, y) == pytest.approx(14.0, rel=1e-15)


def test_grad_passes_keyword_arguments_through():
    # Oracle: closed form: d(scale * x^2)/dx = 2 scale x.
    assert grad(lambda x, scale=1.0: scale * x * x)(3.0, scale=2.0) == 12.0


def test_vjp_pulls_back_through_a_vector_function():
    # Oracle: closed forms. f(A, x) = A @ x + x * x: g^T J_x = A^T g + 2 x g, g^T J_A = g x^T.
    A, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    value, pullback = vjp(lambda A, x: A @ x + (x * x)[:3], A, x)
    np.testing.assert_allclose(value, A @ x + (x * x)[:3], rtol=1e-15)
    for g in (np.array([1.0, 0.0, 0.0]), rng.standard_normal(3)):  # the pullback can be reused
        gA, gx = pullback(g)
        np.testing.assert_allclose(gA, np.outer(g, x), rtol=1e-14)
        np.testing.assert_allclose(gx, A.T @ g + np.concatenate([2 * x[:3] * g, [0.0]]), rtol=1e-14)
    with pytest.raises(ShapeError, match=r"\(2,\).*\(3,\)"):
        pullback(np.ones(2))


def test_hvp_and_hessian_of_a_quadratic_form_are_exact():
    # Oracle: closed form. f(x) = 1/2 x^T A x + b^T x has H = (A + A^T) / 2 for any A.
    n = 6
    A, b, x, v = rng.standard_normal((n, n)), rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    f = lambda x: 0.5 * (x @ A @ x) + (b * x).sum()
    H = (A + A.T) / 2
    np.testing.assert_allclose(hvp(f, x, v), H @ v, rtol=0, atol=1e-13)
    np.testing.assert_allclose(hessian(f, x), H, rtol=0, atol=1e-13)


def test_hessian_of_a_separable_function_is_diagonal():
    # Oracle: closed form. f = sum(x^3) + sum(sin x): H = diag(6 x - sin x), for a (2, 2) input too.
    x = rng.standard_normal((2, 2))
    H = hessian(lambda x: (x**3).sum() + x.sin().sum(), x)
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H.reshape(4, 4), np.diag((6 * x - np.sin(x)).ravel()), rtol=0, atol=1e-13)


def test_hvp_of_a_linear_function_is_zero():
    # Oracle: closed form: a linear function has no curvature (the inner gradient is a constant).
    np.testing.assert_array_equal(hvp(lambda x: (3 * x).sum(), np.ones(3), np.ones(3)), np.zeros(3))


def _central_difference_of(gradient, x, v, eps=1e-5):
    """``(grad f(x + eps v) - grad f(x - eps v)) / 2 eps``, the finite-difference estimate of H v."""
    return (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps)


def test_hvp_equals_finite_differences_of_the_gradient():
    # Oracle: central differences of the gradient along v (and, for the gradient itself, of f).
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    M = rng.standard_normal((5, 5))

    def f(x):
        return (x.sin() * x.exp()).sum() + ((x @ M).tanh() ** 2).sum() + (x * x + 1).log().sum()

    assert relative_error(grad(f)(x), numerical_grad(f, x)) < 1e-8
    assert relative_error(hvp(f, x, v), _central_difference_of(grad(f), x, v)) < 1e-8


SIZES = [3, 4, 2]


def _unpack(theta):
    """Split one parameter vector into W1 (4, 3), b1 (4,), W2 (2, 4), b2 (2,)."""
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(theta[start : start + size].reshape(shape))
        start += size
    return out


def _small_network():
    net = Network(SIZES, activation="tanh", output_activation="sigmoid", cost="cross_entropy", seed=3, dtype="float64")
    X = rng.standard_normal((5, 3))
    Y = rng.uniform(0.1, 0.9, (5, 2))
    theta = np.concatenate([p.ravel() for layer in net.layers for p in (layer.W, layer.b)])
    return net, X, Y, theta


def _cost(theta, X, Y):
    """The network's batch cross-entropy cost as a function of its parameter vector."""
    W1, b1, W2, b2 = _unpack(theta)
    a = (X @ W1.T + b1).tanh()
    p = (a @ W2.T + b2).sigmoid()
    return -(Y * p.log() + (1 - Y) * (1 - p).log()).sum(axis=1).mean()


def _backprop_gradient(net, X, Y, theta):
    """Network.backprop's gradient at parameters theta, flattened like theta."""
    for layer, (W, b) in zip(net.layers, zip(*[iter(_unpack(theta))] * 2)):
        layer.W, layer.b = W, b
    g = net.backprop(X, Y)
    return np.concatenate([p.ravel() for pair in zip(g.weights, g.biases) for p in pair])


def test_hvp_of_a_small_networks_cost_matches_backprop_differences_and_the_hessian():
    # Oracles: (1) central differences of Network.backprop's gradient (BP1-BP4, not this engine)
    # along v; (2) the explicit Hessian, symmetric, whose product with v is the same vector.
    net, X, Y, theta = _small_network()
    v = rng.standard_normal(theta.size)
    f = lambda t: _cost(t, X, Y)
    assert abs(float(f(Tensor(theta)).data) - net.cost(X, Y)) < 1e-12  # the same function as the network's

    Hv = hvp(f, theta, v)
    reference = _central_difference_of(lambda t: _backprop_gradient(net, X, Y, t), theta, v)
    assert relative_error(Hv, reference) < 1e-8

    H = hessian(f, theta)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(H @ v, Hv, rtol=0, atol=1e-12)


def test_hvp_checks_its_vector():
    with pytest.raises(ShapeError, match=r"v has shape \(2,\).*\(3,\)"):
        hvp(lambda x: (x * x).sum(), np.ones(3), np.ones(2))


def test_grad_of_a_nested_function_stays_connected():
    # Oracle: closed form. g(x) = d/dx (x^2 y) = 2 x y, so d/dy g(x) = 2 x: grad through grad
    # with respect to another argument.
    def g(x, y):
        return grad(lambda x: x * x * y)(x)

    assert grad(g, argnums=1)(3.0, 5.0) == 6.0
