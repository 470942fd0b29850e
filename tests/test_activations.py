"""Activations: values against closed forms, derivatives against finite differences."""

import numpy as np
import pytest

from deltaprop.core.activations import ACTIVATIONS, get_activation

Z = np.linspace(-4, 4, 17).reshape(1, -1) + 0.013  # avoid the kink of ReLU at exactly 0


def closed_form(name, z):
    return {
        "sigmoid": 1 / (1 + np.exp(-z)),
        "tanh": np.tanh(z),
        "relu": np.where(z > 0, z, 0.0),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "identity": z,
        "softmax": np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
        "softplus": np.log1p(np.exp(z)),
    }[name]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_matches_closed_form(name):
    # Oracle: the textbook formula written directly with NumPy.
    np.testing.assert_allclose(get_activation(name).forward(Z), closed_form(name, Z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", [n for n, g in ACTIVATIONS.items() if g.elementwise])
def test_prime_matches_central_differences(name):
    # Oracle: (g(z + h) - g(z - h)) / 2h.
    g, h = get_activation(name), 1e-6
    numeric = (g.forward(Z + h) - g.forward(Z - h)) / (2 * h)
    np.testing.assert_allclose(g.prime(Z, g.forward(Z)), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_backward_is_the_jacobian_vector_product(name):
    # Oracle: the full Jacobian by central differences, contracted with grad_a (003, eq. 36).
    rng = np.random.default_rng(1)
    g, h = get_activation(name), 1e-6
    z, grad_a = rng.standard_normal((1, 5)), rng.standard_normal((1, 5))
    jacobian = np.empty((5, 5))  # jacobian[k, j] = da_k / dz_j
    for j in range(5):
        e = np.zeros((1, 5))
        e[0, j] = h
        jacobian[:, j] = ((g.forward(z + e) - g.forward(z - e)) / (2 * h))[0]
    np.testing.assert_allclose(g.backward(z, g.forward(z), grad_a), grad_a @ jacobian, rtol=1e-6, atol=1e-9)


def test_sigmoid_saturates_without_warnings_or_nan():
    # Oracle: the limits sigma(-inf) = 0, sigma(+inf) = 1.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = get_activation("sigmoid").forward(np.array([[-1000.0, 1000.0]]))
    np.testing.assert_array_equal(a, [[0.0, 1.0]])


def test_softmax_is_shift_invariant_and_never_overflows():
    # Oracle: softmax(z + c) = softmax(z); rows sum to 1.
    z = np.array([[1000.0, 1001.0, 999.0]])
    a = get_activation("softmax").forward(z)
    np.testing.assert_allclose(a, get_activation("softmax").forward(z - 1000.0))
    np.testing.assert_allclose(a.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_float32_stays_float32(name):
    g = get_activation(name)
    z = Z.astype(np.float32)
    a = g.forward(z)
    assert a.dtype == np.float32
    assert g.backward(z, a, np.ones_like(z)).dtype == np.float32
