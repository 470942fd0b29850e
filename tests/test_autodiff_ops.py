"""Every operation's rule against central differences in float64 (004's check), one by one and in
random expressions built by hypothesis.

Oracle throughout: central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` with ``h = 1e-6`` on
every input entry, compared by the relative error ``||analytic - numeric|| / (||analytic|| +
||numeric||)`` (deltaprop.core.gradcheck.relative_error). Each operation's output is weighted by a fixed
random array before summing, so a rule that mixed up entries of its output would be caught.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deltaprop.autodiff import Tensor, check_grads, grad, numerical_grad, softmax
from deltaprop.core.gradcheck import relative_error

TOLERANCE = 1e-6


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def positive(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def away_from_zero(*shape, seed=0):
    """Values at least 0.1 from 0, so a kink (relu at 0) is never within a finite-difference step."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.0, shape)


def weighted(op, args):
    """``f(*args) = sum(w * op(*args))`` with a fixed random ``w`` shaped like the output."""
    shape = op(*(Tensor(a, requires_grad=False) for a in args)).shape
    w = normal(*shape, seed=99)
    return lambda *tensors: (op(*tensors) * w).sum()


CASES = {
    # binary operations, with broadcasting
    "add (3,4)+(4,)": (lambda x, y: x + y, [normal(3, 4), normal(4, seed=1)]),
    "sub (3,1)-(1,4)": (lambda x, y: x - y, [normal(3, 1), normal(1, 4, seed=1)]),
    "mul (2,3,4)*(3,1)": (lambda x, y: x * y, [normal(2, 3, 4), normal(3, 1, seed=1)]),
    "mul scalar*(3,)": (lambda x, y: x * y, [np.array(1.5), normal(3, seed=1)]),
    "div (3,4)/(4,)": (lambda x, y: x / y, [normal(3, 4), positive(4, seed=1)]),
    "div (3,)/(2,1)": (lambda x, y: x / y, [normal(3), -positive(2, 1, seed=1)]),
    "pow tensor**tensor (3,4)**(4,)": (lambda x, y: x**y, [positive(3, 4), normal(4, seed=1)]),
    "pow x**3": (lambda x: x**3, [normal(3, 4)]),
    "pow x**0.5": (lambda x: x**0.5, [positive(5)]),
    "pow 2**x": (lambda x: 2**x, [normal(5)]),
    "neg": (lambda x: -x, [normal(3, 2)]),
    "rsub and rtruediv": (lambda x: (1 - x) + 2 / x, [positive(4)]),
    # matrix products in every NumPy form
    "matmul (3,4)@(4,2)": (lambda x, y: x @ y, [normal(3, 4), normal(4, 2, seed=1)]),
    "matmul (4,)@(4,2)": (lambda x, y: x @ y, [normal(4), normal(4, 2, seed=1)]),
    "matmul (3,4)@(4,)": (lambda x, y: x @ y, [normal(3, 4), normal(4, seed=1)]),
    "matmul (4,)@(4,)": (lambda x, y: x @ y, [normal(4), normal(4, seed=1)]),
    "matmul (2,3,4)@(4,5)": (lambda x, y: x @ y, [normal(2, 3, 4), normal(4, 5, seed=1)]),
    "matmul (3,4)@(2,4,5)": (lambda x, y: x @ y, [normal(3, 4), normal(2, 4, 5, seed=1)]),
    "matmul (2,3,4)@(2,4,5)": (lambda x, y: x @ y, [normal(2, 3, 4), normal(2, 4, 5, seed=1)]),
    "matmul (4,)@(2,4,5)": (lambda x, y: x @ y, [normal(4), normal(2, 4, 5, seed=1)]),
    "matmul (2,3,4)@(4,)": (lambda x, y: x @ y, [normal(2, 3, 4), normal(4, seed=1)]),
    # elementwise functions
    "exp": (lambda x: x.exp(), [normal(3, 4)]),
    "log": (lambda x: x.log(), [positive(3, 4)]),
    "sin": (lambda x: x.sin(), [normal(3, 4)]),
    "cos": (lambda x: x.cos(), [normal(3, 4)]),
    "tanh": (lambda x: x.tanh(), [normal(3, 4)]),
    "sigmoid": (lambda x: x.sigmoid(), [normal(3, 4)]),
    "relu": (lambda x: x.relu(), [away_from_zero(3, 4)]),
    "leaky_relu": (lambda x: x.leaky_relu(0.01), [away_from_zero(3, 4)]),
    "clip": (lambda x: x.clip(-0.55, 0.55), [np.array([-2.0, -0.5, 0.0, 0.3, 0.5, 1.7])]),
    "softmax axis=1": (lambda x: softmax(x, axis=1), [normal(3, 4)]),
    "softmax axis=0": (lambda x: softmax(x, axis=0), [normal(3, 4)]),
    # reductions
    "sum all": (lambda x: x.sum(), [normal(3, 4)]),
    "sum axis=0": (lambda x: x.sum(axis=0), [normal(3, 4)]),
    "sum axis=1 keepdims": (lambda x: x.sum(axis=1, keepdims=True), [normal(3, 4)]),
    "sum axis=(0,2)": (lambda x: x.sum(axis=(0, 2)), [normal(2, 3, 4)]),
    "sum axis=-1 keepdims": (lambda x: x.sum(axis=-1, keepdims=True), [normal(2, 3, 4)]),
    "mean all": (lambda x: x.mean(), [normal(3, 4)]),
    "mean axis=0": (lambda x: x.mean(axis=0), [normal(3, 4)]),
    "mean axis=(1,2) keepdims": (lambda x: x.mean(axis=(1, 2), keepdims=True), [normal(2, 3, 4)]),
    # shapes and indexing
    "reshape": (lambda x: x.reshape(2, 6), [normal(3, 4)]),
    "reshape -1": (lambda x: x.reshape((-1,)), [normal(3, 4)]),
    "transpose .T": (lambda x: x.T, [normal(3, 4)]),
    "transpose axes": (lambda x: x.transpose(1, 2, 0), [normal(2, 3, 4)]),
    "broadcast_to": (lambda x: x.broadcast_to((2, 3, 4)), [normal(3, 1)]),
    "index int": (lambda x: x[1], [normal(3, 4)]),
    "index slices": (lambda x: x[:, 1:3], [normal(3, 4)]),
    "index reversed": (lambda x: x[::-1], [normal(3, 4)]),
    "index repeated ints": (lambda x: x[[0, 2, 2, 0]], [normal(3, 4)]),
    "index int arrays in 2-D": (lambda x: x[np.array([[0, 1], [1, 1]]), np.array([3, 3])], [normal(3, 4)]),
    "index mixed": (lambda x: x[1:, [0, 0, 2]], [normal(3, 4)]),
    "index boolean": (lambda x: x[np.array([True, False, True])], [normal(3, 4)]),
    "index new axis": (lambda x: x[..., None], [normal(3, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_operation_matches_central_differences(name):
    op, args = CASES[name]
    assert check_grads(weighted(op, args), *args) < TOLERANCE


def test_numerical_grad_itself_on_a_closed_form():
    # Oracle: closed form: d/dx sum(x^2) = 2x; central differences are exact on a quadratic up to rounding.
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(numerical_grad(lambda t: (t * t).sum(), x), 2 * x, rtol=1e-8)


def test_a_broken_rule_is_caught():
    # The check must be able to fail: a square whose rule says x instead of 2x is detected.
    from deltaprop.autodiff.tensor import _make

    def bad_square(t):
        return _make(t.data**2, (t,), (lambda g, ans, x: g * x,), "bad_square")

    assert check_grads(lambda t: bad_square(t).sum(), np.array([1.0, 2.0])) > 0.1


# -- random expressions -------------------------------------------------------------------------

# Inputs: x (3, 4), y (4,), w (3, 1), M (4, 4). Every expression's shape broadcasts to (3, 4).
SHAPES = {"x": (3, 4), "y": (4,), "w": (3, 1), "M": (4, 4)}
FULL = np.zeros((3, 4))  # adding it broadcasts an expression to (3, 4), for the shape operations

UNARY = {
    "exp(tanh e)": lambda e: e.tanh().exp(),
    "log(e*e + 1)": lambda e: (e * e + 1).log(),
    "sin": lambda e: e.sin(),
    "cos": lambda e: e.cos(),
    "tanh": lambda e: e.tanh(),
    "sigmoid": lambda e: e.sigmoid(),
    "neg": lambda e: -e,
    "3 * e": lambda e: 3 * e,
    "e ** 2": lambda e: e**2,
    "sum(axis=0, keepdims)": lambda e: e.sum(axis=0, keepdims=True),
    "mean(axis=-1, keepdims)": lambda e: e.mean(axis=-1, keepdims=True),
    "reshape(4, 3).T": lambda e: (e + FULL).reshape(4, 3).T,
    "[:, [0, 0, 1, 3]]": lambda e: (e + FULL)[:, [0, 0, 1, 3]],
    "[::-1]": lambda e: (e + FULL)[::-1],
}
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/ (b*b + 1)": lambda a, b: a / (b * b + 1),
    "(a*a + 0.5) ** tanh(b)": lambda a, b: (a * a + 0.5) ** b.tanh(),
}


@st.composite
def expressions(draw, depth=3):
    """A random expression over x, y, w: (a description, a function of the four inputs)."""
    kind = draw(st.sampled_from(["leaf", "unary", "binary", "matmul"] if depth > 0 else ["leaf"]))
    if kind == "leaf":
        name = draw(st.sampled_from(["x", "y", "w"]))
        index = "xyw".index(name)
        return name, lambda *inputs: inputs[index]
    if kind == "unary":
        name = draw(st.sampled_from(list(UNARY)))
        text, inner = draw(expressions(depth - 1))
        return f"{name}({text})", lambda *inputs: UNARY[name](inner(*inputs))
    if kind == "matmul":
        text, inner = draw(expressions(depth - 1))
        return f"({text}) @ M", lambda *inputs: (inner(*inputs) + FULL) @ inputs[3]
    name = draw(st.sampled_from(list(BINARY)))
    (text_a, left), (text_b, right) = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    return f"[{text_a}] {name} [{text_b}]", lambda *inputs: BINARY[name](left(*inputs), right(*inputs))


@settings(max_examples=60, deadline=None)
@given(expression=expressions(), seed=st.integers(0, 2**32 - 1))
def test_random_expressions_match_central_differences(expression, seed):
    text, f = expression
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(shape) for shape in SHAPES.values()]
    w_out = rng.standard_normal((3, 4))

    def scalar(*args):
        return (f(*args) * w_out).sum()

    analytic = grad(scalar, argnums=(0, 1, 2, 3))(*inputs)
    numeric = [numerical_grad(scalar, *inputs, argnums=i) for i in range(4)]
    # One norm over all four inputs: an input the expression barely touches has a gradient near
    # zero, where the finite-difference rounding (~1e-10) alone would exceed a per-input tolerance.
    analytic, numeric = np.concatenate([np.ravel(g) for g in analytic]), np.concatenate([g.ravel() for g in numeric])
    error = relative_error(analytic, numeric)
    # A gradient that is zero up to rounding (e - e: the two paths cancel in the engine's sum
    # but not exactly) has no meaningful relative error; its entries must then be ~0 in absolute terms.
    assert error < TOLERANCE or np.abs(analytic - numeric).max() < 1e-8, f"{text}: relative error {error:.2e}"
