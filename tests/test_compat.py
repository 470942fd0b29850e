"""The book's API: Nielsen's network.py and network2.py calls, run on deltaprop."""

import json
import re

import numpy as np
import pytest

import deltaprop.compat.nielsen as network
import deltaprop.compat.nielsen2 as network2
from deltaprop.compat import mnist_loader
from deltaprop.errors import DataError, DeltapropError, ModelFileError, ShapeError


def vectorized_result(j):
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


@pytest.fixture
def numpy_seed():
    """The book seeds NumPy's global generator; restore it afterwards so other tests are unaffected."""
    state = np.random.get_state()
    np.random.seed(0)
    yield
    np.random.set_state(state)


@pytest.fixture(scope="module")
def digits_book_format():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    training = [(x.reshape(64, 1), vectorized_result(j)) for x, j in zip(X[:1200], y[:1200])]
    evaluation = [(x.reshape(64, 1), int(j)) for x, j in zip(X[1200:], y[1200:])]
    return training, evaluation


# -- chapter 1 --------------------------------------------------------------------------------


def test_chapter_one_session_reaches_91_percent_in_10_epochs(capsys, numpy_seed, mnist_dir):
    # The book's interactive session, unchanged except 10 epochs instead of 30 and the directory of
    # IDX files (only t10k here: 8,000 train, 2,000 test, no validation data).
    # Oracle: the printed test accuracy on 2,000 held-out MNIST digits (>= 91%, i.e. >= 1820).
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper(mnist_dir)  # noqa: RUF059
    net = network.Network([784, 30, 10])
    net.SGD(training_data, 10, 10, 3.0, test_data=test_data)

    lines = capsys.readouterr().out.splitlines()
    matches = [re.fullmatch(r"Epoch (\d+): (\d+) / (\d+)", line) for line in lines]
    assert all(matches) and len(matches) == 10, lines
    assert [int(m.group(1)) for m in matches] == list(range(10))
    assert {int(m.group(3)) for m in matches} == {2000}
    assert int(matches[-1].group(2)) >= 1820  # measured: 1840 with np.random.seed(0)


def test_compat_delegates_to_a_deltaprop_network():
    net = network.Network([3, 4, 2], seed=0)
    assert net.net.sizes == [3, 4, 2] and net.num_layers == 3
    assert [layer.activation.name for layer in net.net.layers] == ["sigmoid", "sigmoid"]
    assert net.net.cost_function.name == "quadratic"
    assert net.weights[0] is net.net.layers[0].W  # the book's weights are the network's own arrays
    assert net.biases[1].shape == (2, 1)


def test_feedforward_is_the_books_loop_on_column_vectors():
    # Oracle: a = sigma(w a + b) layer by layer on a column vector, written out here.
    net = network.Network([3, 4, 2], seed=1)
    x = np.array([[0.2], [-1.0], [0.5]])
    a = x
    for b, w in zip(net.biases, net.weights):
        a = 1.0 / (1.0 + np.exp(-(w @ a + b)))
    np.testing.assert_allclose(net.feedforward(x), a, rtol=1e-12)
    assert net.feedforward(x[:, 0]).shape == (2,)
    assert net.feedforward(np.hstack([x, x])).shape == (2, 2)  # columns are examples


def test_update_mini_batch_is_one_gradient_step():
    # Oracle: W - eta * (mean gradient), the gradient from deltaprop's batched backprop (BP1-BP4),
    # with the book's weight decay (1 - eta lmbda / n) for network2.
    net = network2.Network([3, 4, 2], seed=2)
    rng = np.random.default_rng(0)
    batch = [(rng.random((3, 1)), vectorized_result(j)[:2]) for j in (0, 1, 1)]
    X = np.hstack([x for x, _ in batch]).T
    Y = np.hstack([y for _, y in batch]).T
    grad = net.net.backprop(X, Y)
    expected_W = [(1 - 0.5 * 2.0 / 100) * W - 0.5 * gW for W, gW in zip(net.weights, grad.weights)]
    expected_b = [layer.b - 0.5 * gb for layer, gb in zip(net.net.layers, grad.biases)]
    net.update_mini_batch(batch, 0.5, 2.0, 100)
    for W, b, eW, eb in zip(net.weights, net.biases, expected_W, expected_b):
        np.testing.assert_allclose(W, eW, rtol=1e-12)
        np.testing.assert_allclose(b[:, 0], eb, rtol=1e-12)


def test_backprop_returns_the_books_lists():
    net = network.Network([3, 4, 2], seed=0)
    nabla_b, nabla_w = net.backprop(np.ones((3, 1)), np.array([[1.0], [0.0]]))
    assert [b.shape for b in nabla_b] == [(4, 1), (2, 1)]
    assert [w.shape for w in nabla_w] == [(4, 3), (2, 4)]
    # Oracle: deltaprop's batched backprop on the same single example
    grad = net.net.backprop(np.ones((1, 3)), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(nabla_w[0], grad.weights[0], rtol=1e-10)
    assert np.allclose(net.cost_derivative(np.array([0.5]), np.array([1.0])), -0.5)


def test_sgd_without_test_data_prints_epoch_complete_and_leaves_the_list_alone(capsys, digits_book_format):
    training, evaluation = digits_book_format
    order = [id(pair) for pair in training]
    net = network.Network([64, 20, 10], seed=0)
    net.SGD(training, 2, 10, 3.0)
    assert capsys.readouterr().out.splitlines() == ["Epoch 0 complete", "Epoch 1 complete"]
    assert [id(pair) for pair in training] == order
    assert net.evaluate(evaluation) > 0.7 * len(evaluation)


def test_weights_and_biases_can_be_assigned_as_in_the_book():
    net = network.Network([2, 3, 1], seed=0)
    net.weights = [np.ones((3, 2)), np.full((1, 3), 2.0)]
    net.biases = [np.zeros((3, 1)), np.array([[-3.0]])]
    # by hand: hidden a = sigma(0 + 0) = 0.5 each; output z = 2 * 3 * 0.5 - 3 = 0 -> sigma(0) = 0.5
    assert net.feedforward(np.zeros((2, 1)))[0, 0] == pytest.approx(0.5)
    with pytest.raises(ShapeError):
        net.weights = [np.ones((2, 3)), np.ones((1, 3))]
    with pytest.raises(ShapeError, match="biases"):
        net.biases = [np.zeros((3, 1))]


@pytest.mark.parametrize("data, match", [
    ((np.zeros((5, 3)), np.zeros(5)), "a pair of arrays"),
    (np.zeros((5, 3)), "got ndarray"),
    ([(np.zeros((3, 1)), np.zeros((2, 1))), (np.zeros((3, 1)), 1)], "mixes integer labels and vectors"),
    ([(np.zeros((4, 1)), 0)], r"item 0 has x of shape \(4, 1\)"),
    ([(np.zeros((3, 1)), np.zeros((5, 1)))], r"item 0 has y of shape \(5, 1\)"),
    ([np.zeros((3, 1))], "item 0 is a ndarray, not an"),
    (zip([], []), "zip can be read only once"),
    (None, "got NoneType"),
])
def test_data_in_another_format_is_refused_showing_the_expected_one(data, match):
    net = network.Network([3, 4, 2], seed=0)
    with pytest.raises(DataError, match=match) as error:
        net.SGD(data, 1, 10, 3.0)
    assert "list (or zip) of (x, y) tuples" in str(error.value) and "shape (3, 1)" in str(error.value)


# -- network2 -----------------------------------------------------------------------------------


def test_network2_monitors_return_four_lists_and_print_like_the_book(capsys, digits_book_format):
    training, evaluation = digits_book_format
    net = network2.Network([64, 30, 10], cost=network2.CrossEntropyCost, seed=0)
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
        training, 3, 10, 0.5, lmbda=1.0, evaluation_data=evaluation,
        monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
        monitor_training_cost=True, monitor_training_accuracy=False)
    assert len(evaluation_cost) == len(evaluation_accuracy) == len(training_cost) == 3
    assert training_accuracy == []
    assert evaluation_accuracy[-1] > 0.85 * len(evaluation)
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == ["Epoch 0 training complete", f"Cost on training data: {training_cost[0]}",
                       f"Cost on evaluation data: {evaluation_cost[0]}",
                       f"Accuracy on evaluation data: {evaluation_accuracy[0]} / {len(evaluation)}", ""]
    # Oracle: the book's total_cost, summed here from CrossEntropyCost.fn one example at a time
    book_cost = sum(network2.CrossEntropyCost.fn(net.feedforward(x), y) for x, y in training) / len(training)
    book_cost += 0.5 * (1.0 / len(training)) * sum(np.linalg.norm(w) ** 2 for w in net.weights)
    assert net.total_cost(training, 1.0) == pytest.approx(book_cost, rel=1e-9)
    assert net.accuracy(evaluation) == evaluation_accuracy[-1]
    assert net.accuracy(training, convert=True) == sum(
        int(np.argmax(net.feedforward(x)) == np.argmax(y)) for x, y in training)


def test_network2_quadratic_cost_and_initializers():
    net = network2.Network([400, 50, 10], cost=network2.QuadraticCost, seed=0)
    assert net.net.cost_function.name == "quadratic"
    assert np.std(net.weights[0]) == pytest.approx(1 / np.sqrt(400), rel=0.05)  # default: N(0, 1/n_in)
    net.large_weight_initializer()
    assert np.std(net.weights[0]) == pytest.approx(1.0, rel=0.05)  # chapter 1's N(0, 1)
    with pytest.raises(DeltapropError, match="CrossEntropyCost"):
        network2.Network([2, 2], cost="cross_entropy")


def test_network2_json_round_trip_in_the_books_format(tmp_path):
    net = network2.Network([5, 4, 3], cost=network2.QuadraticCost, seed=3)
    path = tmp_path / "net.json"
    net.save(path)
    data = json.loads(path.read_text())
    assert set(data) == {"sizes", "weights", "biases", "cost"}
    assert data["sizes"] == [5, 4, 3] and data["cost"] == "QuadraticCost"
    assert np.array(data["biases"][0]).shape == (4, 1) and np.array(data["weights"][1]).shape == (3, 4)
    back = network2.load(path)
    assert back.cost is network2.QuadraticCost
    for a, b in zip(net.weights + net.biases, back.weights + back.biases):
        np.testing.assert_array_equal(a, b)  # JSON keeps float64 exactly (repr round trip)


@pytest.mark.parametrize("content, match", [
    ('{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": "os.system"}', "is not one of"),
    ("\x80\x04K\x01.", "not JSON"),  # a pickle is never unpickled
    ('{"sizes": [2, 1]}', "sizes, weights, biases and cost"),
    ('{"sizes": [2, 1], "weights": [[[1, 2, 3]]], "biases": [[[0]]], "cost": "CrossEntropyCost"}', "W must have shape"),
])
def test_network2_load_refuses_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelFileError, match=match):
        network2.load(path)
    with pytest.raises(ModelFileError, match="does not exist"):
        network2.load(tmp_path / "absent.json")
