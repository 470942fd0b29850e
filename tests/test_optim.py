"""Optimisers: SGD with (Nesterov) momentum and Adam, their state, and their bad input."""

import numpy as np
import pytest

from deltaprop import Dense, Network
from deltaprop.errors import DeltapropError, ShapeError
from deltaprop.train.optim import SGD, Adam, get_optimizer, optimizer_from_state


def _one_weight_net(w=1.0, b=0.0):
    """``a = z = w x + b`` with the quadratic cost ``C = 1/2 (a - y)^2``: ``dC/dw = z x``, ``dC/db = z`` at y = 0."""
    return Network([Dense(1, 1, "identity", W=[[w]], b=[b])], cost="quadratic", dtype="float64")


def _two_steps(net, optimizer, x=1.0, lmbda=0.0):
    # one example, batch of 1, no shuffling: each epoch is exactly one step on (x, y = 0)
    net.fit(np.array([[x]]), np.array([[0.0]]), epochs=2, batch_size=1, shuffle=False, optimizer=optimizer, lmbda=lmbda)
    return net.layers[0].W[0, 0], net.layers[0].b[0]


def test_sgd_object_is_the_plain_sgd_of_fit():
    # Oracle: fit(eta=...) builds SGD(eta) itself; an explicit SGD(eta, momentum=0) must give the same bits.
    X = np.random.default_rng(0).random((40, 3))
    y = np.arange(40) % 2
    nets = [Network([3, 4, 2], seed=1, dtype="float64") for _ in range(2)]
    nets[0].fit(X, y, epochs=3, batch_size=7, eta=0.7, seed=2, lmbda=0.5)
    nets[1].fit(X, y, epochs=3, batch_size=7, seed=2, lmbda=0.5, optimizer=SGD(0.7, momentum=0.0))
    for a, b in zip(nets[0].layers, nets[1].layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


def test_momentum_two_steps_by_hand():
    # Hand-worked, eta = 0.1, mu = 0.9, x = 1, w = 1, b = 0 (so dC/dw = dC/db = z = w + b):
    # step 1: z = 1;   v = 0.9*0 + 0.1*1 = 0.1;        w = 1 - 0.1 = 0.9,    b = 0 - 0.1 = -0.1
    # step 2: z = 0.8; v = 0.9*0.1 + 0.1*0.8 = 0.17;   w = 0.9 - 0.17 = 0.73, b = -0.1 - 0.17 = -0.27
    w, b = _two_steps(_one_weight_net(), SGD(0.1, momentum=0.9))
    assert w == pytest.approx(0.73, abs=1e-12)
    assert b == pytest.approx(-0.27, abs=1e-12)


def test_nesterov_two_steps_by_hand():
    # Hand-worked, same setting; W <- W - (eta g + mu v) after v <- mu v + eta g:
    # step 1: g = 1;    v = 0.1;                    step 0.1 + 0.9*0.1 = 0.19;     w = 0.81,   b = -0.19
    # step 2: g = 0.62; v = 0.09 + 0.062 = 0.152;   step 0.062 + 0.1368 = 0.1988;  w = 0.6112, b = -0.3888
    w, b = _two_steps(_one_weight_net(), SGD(0.1, momentum=0.9, nesterov=True))
    assert w == pytest.approx(0.6112, abs=1e-12)
    assert b == pytest.approx(-0.3888, abs=1e-12)


def test_momentum_with_l2_adds_lmbda_over_n_w_to_the_gradient():
    # Hand-worked, one step, n = 1, lmbda = 1: g_w = z x + (lmbda/n) w = 1 + 1 = 2, g_b = 1;
    # v_w = 0.1*2 = 0.2 -> w = 0.8;  v_b = 0.1 -> b = -0.1
    net = _one_weight_net()
    net.fit(np.array([[1.0]]), np.array([[0.0]]), epochs=1, batch_size=1, optimizer=SGD(0.1, momentum=0.9), lmbda=1.0)
    assert net.layers[0].W[0, 0] == pytest.approx(0.8, abs=1e-12)
    assert net.layers[0].b[0] == pytest.approx(-0.1, abs=1e-12)


def test_adam_two_steps_match_kingma_and_ba_by_hand():
    # Kingma & Ba (2015), Algorithm 1, worked by hand with eta = 0.1, beta1 = 0.9, beta2 = 0.999,
    # eps = 1e-8, on x = 2, w = 0.5, b = 0 (dC/dw = z x = 2z, dC/db = z):
    # t = 1: z = 1, g_w = 2, g_b = 1
    #   m_w = 0.1*2 = 0.2, v_w = 0.001*4 = 0.004, m_hat = 0.2/0.1 = 2, v_hat = 0.004/0.001 = 4
    #   w = 0.5 - 0.1*2/(2 + 1e-8) = 0.5 - 0.0999999995 = 0.4000000005
    #   m_b = 0.1, v_b = 0.001, m_hat = 1, v_hat = 1: b = -0.1/(1 + 1e-8) = -0.09999999900
    # t = 2: z = 2w + b = 0.700000002, g_w = 1.400000004, g_b = 0.700000002
    #   m_w = 0.9*0.2 + 0.1*1.400000004 = 0.3200000004,  m_hat = m/(1 - 0.81) = 1.684210528
    #   v_w = 0.999*0.004 + 0.001*1.400000004^2 = 0.0059560000112, v_hat = v/(1 - 0.998001) = 2.979489750
    #   w = 0.4000000005 - 0.1*1.684210528/(sqrt(2.979489750) + 1e-8) = 0.4000000005 - 0.0975720495 = 0.3024279510
    #   m_b = 0.16000000020, v_b = 0.0014890000028: m_hat = 0.8421052642, v_hat = 0.7448724376
    #   b = -0.0999999990 - 0.1*0.8421052642/(0.8630599270 + 1e-8) = -0.1975720479
    w, b = _two_steps(_one_weight_net(w=0.5), Adam(eta=0.1), x=2.0)
    assert w == pytest.approx(0.30242795098489451, rel=1e-12)
    assert b == pytest.approx(-0.19757204794983740, rel=1e-12)


def test_adam_step_on_given_gradients_is_elementwise():
    # Oracle: Algorithm 1 written out on arrays, independently of Adam.step's in-place form.
    rng = np.random.default_rng(0)
    layer = Dense(3, 2, "identity", W=rng.standard_normal((2, 3)), b=rng.standard_normal(2))
    W0, b0 = layer.W.copy(), layer.b.copy()
    adam = Adam(eta=0.05, beta1=0.8, beta2=0.99, eps=1e-6)
    grads = [(rng.standard_normal((2, 3)), rng.standard_normal(2)) for _ in range(3)]
    m, v, W = np.zeros_like(W0), np.zeros_like(W0), W0.copy()
    mb, vb, b = np.zeros_like(b0), np.zeros_like(b0), b0.copy()
    for t, (g_w, g_b) in enumerate(grads, start=1):
        adam.step([layer], [g_w.copy()], [g_b.copy()])
        m, v = 0.8 * m + 0.2 * g_w, 0.99 * v + 0.01 * g_w**2
        W = W - 0.05 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
        mb, vb = 0.8 * mb + 0.2 * g_b, 0.99 * vb + 0.01 * g_b**2
        b = b - 0.05 * (mb / (1 - 0.8**t)) / (np.sqrt(vb / (1 - 0.99**t)) + 1e-6)
    np.testing.assert_allclose(layer.W, W, rtol=1e-12)
    np.testing.assert_allclose(layer.b, b, rtol=1e-12)
    assert adam.t == 3


def test_momentum_and_adam_beat_plain_sgd_on_digits():
    # Oracle: the training cost itself, measured independently by net.cost after the same 5 epochs,
    # same initial weights and same shuffling. Plain SGD and momentum share eta = 0.1; Adam uses 0.01.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    costs = {}
    for name, optimizer in [("sgd", SGD(0.1)), ("momentum", SGD(0.1, momentum=0.9)),
                            ("nesterov", SGD(0.1, momentum=0.9, nesterov=True)), ("adam", Adam(0.01))]:
        net = Network([64, 30, 10], seed=0)
        net.fit(X, y, epochs=5, batch_size=10, seed=0, optimizer=optimizer)
        costs[name] = net.cost(X, y)
    # measured: sgd 0.43, momentum 0.096, nesterov ~0.09, adam 0.034
    assert costs["momentum"] < 0.5 * costs["sgd"]
    assert costs["nesterov"] < 0.5 * costs["sgd"]
    assert costs["adam"] < 0.5 * costs["sgd"]


def test_a_schedule_changing_eta_takes_effect_at_the_next_step():
    # Oracle: fit reads optimizer.gradient_scale (= eta for SGD) at every step, so one epoch at 1.0 and
    # one at 0.5 with one optimiser equals two separate fits at 1.0 then 0.5.
    X = np.random.default_rng(1).random((30, 2))
    y = np.arange(30) % 2
    a, b = Network([2, 3, 2], seed=0, dtype="float64"), Network([2, 3, 2], seed=0, dtype="float64")
    optimizer = SGD(1.0)
    a.fit(X, y, epochs=1, shuffle=False, optimizer=optimizer)
    optimizer.eta = 0.5
    a.fit(X, y, epochs=1, shuffle=False, optimizer=optimizer)
    b.fit(X, y, epochs=1, shuffle=False, eta=1.0)
    b.fit(X, y, epochs=1, shuffle=False, eta=0.5)
    np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)


@pytest.mark.parametrize("make", [lambda: SGD(0.2, momentum=0.9), lambda: SGD(0.2, momentum=0.5, nesterov=True),
                                  lambda: Adam(0.01)])
def test_state_dict_resumes_training_exactly(make):
    # Oracle: an uninterrupted run. Train 2 epochs, snapshot net and optimizer state, and continue
    # 2 epochs from the snapshot in a fresh optimiser: it must match continuing the original.
    X = np.random.default_rng(2).random((50, 4))
    y = np.arange(50) % 3
    net = Network([4, 5, 3], seed=0, dtype="float64")
    optimizer = make()
    net.fit(X, y, epochs=2, batch_size=8, shuffle=False, optimizer=optimizer)
    state = optimizer.state_dict()
    assert all(isinstance(v, (str, bool, int, float, np.ndarray)) for v in state.values())
    resumed_net = net.copy()
    resumed = optimizer_from_state(state)
    fresh_net = net.copy()
    net.fit(X, y, epochs=2, batch_size=8, shuffle=False, optimizer=optimizer)
    resumed_net.fit(X, y, epochs=2, batch_size=8, shuffle=False, optimizer=resumed)
    fresh_net.fit(X, y, epochs=2, batch_size=8, shuffle=False, optimizer=make())
    np.testing.assert_array_equal(resumed_net.layers[0].W, net.layers[0].W)
    np.testing.assert_array_equal(resumed_net.layers[1].b, net.layers[1].b)
    assert not np.array_equal(fresh_net.layers[0].W, net.layers[0].W)  # the state did matter


def test_state_dict_names_and_copies():
    optimizer = Adam(0.01)
    net = Network([2, 3, 1], seed=0)
    net.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, optimizer=optimizer)
    state = optimizer.state_dict()
    assert state["name"] == "adam" and state["t"] == 1
    assert sorted(k for k in state if "." in k) == ["m_b.0", "m_b.1", "m_w.0", "m_w.1", "v_b.0", "v_b.1", "v_w.0", "v_w.1"]
    assert state["m_w.0"].shape == (3, 2) and state["v_b.1"].shape == (1,)
    state["m_w.0"][...] = 99.0  # a copy: the optimiser's own buffers are untouched
    assert not np.any(optimizer.state_dict()["m_w.0"] == 99.0)


def test_loaded_state_of_another_architecture_is_rejected():
    optimizer = SGD(0.1, momentum=0.9)
    Network([2, 3, 1], seed=0).fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, optimizer=optimizer)
    other = Network([2, 5, 1], seed=0)
    with pytest.raises(ShapeError, match="velocity_w"):
        other.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, optimizer=optimizer_from_state(optimizer.state_dict()))


@pytest.mark.parametrize("call, name", [
    (lambda: SGD(0.1, momentum=1.0), "momentum"),
    (lambda: SGD(0.1, momentum=-0.1), "momentum"),
    (lambda: SGD(0.1, nesterov=True), "nesterov"),
    (lambda: SGD(0.1, momentum=0.9, nesterov="yes"), "nesterov"),
    (lambda: SGD(0.0), "eta"),
    (lambda: Adam(beta1=1.0), "beta1"),
    (lambda: Adam(beta2=float("nan")), "beta2"),
    (lambda: Adam(eps=0), "eps"),
    (lambda: get_optimizer("rmsprop"), "optimizer"),
    (lambda: optimizer_from_state({"name": "adam", "eta": 0.1, "q_w.0": np.zeros(1)}), "q_w.0"),
    (lambda: SGD().load_state_dict({"name": "adam"}), "adam"),
    (lambda: optimizer_from_state({"eta": 0.1}), "name"),
])
def test_bad_hyperparameters_and_states_are_named(call, name):
    with pytest.raises(DeltapropError, match=name):
        call()


@pytest.mark.parametrize("ours, theirs", [
    (lambda: SGD(0.3), lambda torch, p: torch.optim.SGD(p, lr=0.3)),
    (lambda: SGD(0.3, momentum=0.9), lambda torch, p: torch.optim.SGD(p, lr=0.3, momentum=0.9)),
    (lambda: SGD(0.3, momentum=0.9, nesterov=True), lambda torch, p: torch.optim.SGD(p, lr=0.3, momentum=0.9, nesterov=True)),
    (lambda: Adam(0.05), lambda torch, p: torch.optim.Adam(p, lr=0.05)),
])
def test_optimizers_match_torch_optim(ours, theirs):
    # Oracle: PyTorch's optimisers on the equivalent nn.Sequential (when torch is installed).
    # fit's L2 strength lmbda/n is torch's (coupled) weight_decay, 0.1 / 5 = 0.02, on the weights only.
    torch = pytest.importorskip("torch")
    from deltaprop.state_dict import to_torch

    rng = np.random.default_rng(0)
    X, Y = rng.random((5, 3)), rng.random((5, 2))
    net = Network([3, 4, 2], seed=0, dtype="float64")
    model = to_torch(net)
    net.fit(X, Y, epochs=4, batch_size=5, shuffle=False, optimizer=ours(), lmbda=0.1)
    weights, biases = [model[0].weight, model[2].weight], [model[0].bias, model[2].bias]
    optimizer = theirs(torch, [{"params": weights, "weight_decay": 0.02}, {"params": biases, "weight_decay": 0.0}])
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(4):
        optimizer.zero_grad()
        loss = 0.5 * ((model(x) - y) ** 2).sum(dim=1).mean()  # the quadratic cost, mean over the batch
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(model[0].weight.detach().numpy(), net.layers[0].W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model[2].bias.detach().numpy(), net.layers[1].b, rtol=1e-10, atol=1e-12)
