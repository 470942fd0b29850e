"""The explorer page in a real browser: headless Chromium driven by selenium, the page loaded from file://.

Oracles: deltaprop itself, computed independently of the page. The stepper's z, a, delta and
gradients against :meth:`Network.backprop` (BP1-BP4); the demon's cost changes against
:meth:`Network.cost` of a nudged copy and its predictions against ``backprop``'s gradients; 50
training steps against :meth:`Network.fit` run on the batches :func:`deltaprop.explore.page_batches`
says the page draws; the 2-2-2 page also against the widely published hand-worked example
(C = 0.298371109, dC/dw5 = 0.082167041). JavaScript numbers are float64, so agreement is to 1e-6
or better; the page also must make no network request (Chrome's own network log, the page's
resource timing, and its Content Security Policy blocking a request we try).

The tests run when selenium, chromium and chromedriver are installed (Debian: ``apt-get install
chromium chromium-driver``; ``pip install selenium``), and skip with the reason otherwise.
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop
from deltaprop.data import load_dataset
from deltaprop.explore import page_batches, write_explore_page
from deltaprop.files.weights_json import read_weights_json

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the machine
    webdriver = None

CHROMIUM = next((path for path in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if path and Path(path).exists()), None)
CHROMEDRIVER = next((path for path in (shutil.which("chromedriver"), "/usr/bin/chromedriver")
                     if path and Path(path).exists()), None)
MISSING = [name for name, found in (("selenium (pip install selenium)", webdriver), ("chromium", CHROMIUM),
                                    ("chromedriver (apt-get install chromium-driver)", CHROMEDRIVER)) if not found]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"browser tests need {', '.join(MISSING)}")

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # the system driver, no download
    yield browser
    browser.quit()


def open_page(driver, path):
    driver.get(Path(path).as_uri())
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def numbers(driver) -> dict:
    """Every number the page shows with an id: ``{id: float(data-value)}`` (cells not computed yet are absent)."""
    shown = driver.execute_script(
        "const out = {}; for (const el of document.querySelectorAll('[id][data-value]')) "
        "out[el.id] = [el.dataset.value, el.textContent]; return out;")
    for key, (value, text) in shown.items():  # the text is the value to 6 significant digits
        assert float(text) == pytest.approx(float(value), rel=1e-5, abs=1e-12), (key, text, value)
    return {key: float(value) for key, (value, _) in shown.items()}


def click(driver, element_id, times=1):
    """Click a button (the DOM's click(), as a user's click dispatches it; ``times`` clicks in one round trip)."""
    driver.execute_script("const b = document.getElementById(arguments[0]); for (let n = 0; n < arguments[1]; n++) "
                          "{ if (b.disabled) throw new Error(b.id + ' is disabled'); b.click(); }", element_id, times)


def set_input(driver, element_id, value, event="input"):
    driver.execute_script("const el = document.getElementById(arguments[0]); el.value = arguments[1]; "
                          "el.dispatchEvent(new Event(arguments[2], {bubbles: true}));", element_id, str(value), event)


def step(driver) -> int:
    return int(driver.find_element(By.ID, "stepper").get_attribute("data-step"))


def assert_close(shown, expected, what):
    assert abs(shown - float(expected)) <= TOLERANCE * max(1.0, abs(float(expected))), (what, shown, float(expected))


def assert_not_blank(driver, path):
    from PIL import Image

    driver.save_screenshot(str(path))
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, f"{path}: {len(colours or [])} colours, a blank page?"


# -- the stepper -------------------------------------------------------------------------------------------

NETWORKS = [  # sizes, hidden activation, output activation, cost, x, y: every activation and cost the page computes
    ([2, 3, 2], "tanh", "softmax", "quadratic", [0.3, -0.7], [0.2, 0.8]),  # BP1 through softmax's Jacobian
    ([3, 4, 3, 2], "relu", "sigmoid", "cross_entropy", [0.5, 0.1, -0.4], [0.0, 1.0]),  # the a - y shortcut
    ([2, 4, 3], "softplus", "softmax", "log_likelihood", [1.0, -2.0], [0.0, 0.0, 1.0]),
    ([2, 3, 1], "leaky_relu", "identity", "squared_error", [-0.6, 0.9], [0.25]),  # shortcut 2 (a - y)
    ([2, 2, 2, 2], "sigmoid", "tanh", "quadratic", [0.05, 0.10], [0.01, 0.99]),  # BP1 general, elementwise
]


@pytest.mark.parametrize("sizes, hidden, output, cost, x, y", NETWORKS, ids=[n[3] + "-" + n[1] for n in NETWORKS])
def test_stepping_forward_and_backward_shows_backprop(driver, tmp_path, sizes, hidden, output, cost, x, y):
    net = deltaprop.Network(sizes, activation=hidden, output_activation=output, cost=cost, seed=4, dtype="float64")
    page = write_explore_page(tmp_path / "page.html", net, x=x, y=y, opened="start")
    open_page(driver, page)
    g = net.backprop(np.array([x]), np.array([y]))  # the oracle: BP1-BP4 in NumPy
    L = len(net.layers)
    assert step(driver) == 0
    shown = numbers(driver)
    assert [shown[f"x-{k}"] for k in range(sizes[0])] == x
    assert not any(key.startswith(("z-", "a-", "delta-", "dW-", "db-")) for key in shown) and "cost" not in shown

    def check_layer(shown, i, backward):
        for j in range(sizes[i + 1]):
            assert_close(shown[f"z-{i}-{j}"], g.zs[i][0, j], f"z of layers[{i}]")
            assert_close(shown[f"a-{i}-{j}"], g.activations[i + 1][0, j], f"a of layers[{i}]")
            if backward:
                assert_close(shown[f"delta-{i}-{j}"], g.deltas[i][0, j], f"delta of layers[{i}]")
                assert_close(shown[f"db-{i}-{j}"], g.biases[i][j], f"dC/db of layers[{i}] (BP3)")
                for k in range(sizes[i]):
                    assert_close(shown[f"dW-{i}-{j}-{k}"], g.weights[i][j, k], f"dC/dW of layers[{i}] (BP4)")
            else:
                assert f"delta-{i}-{j}" not in shown and f"dW-{i}-{j}-0" not in shown

    for i in range(L):  # forward, one layer per click
        click(driver, "step-next")
        shown = numbers(driver)
        check_layer(shown, i, backward=False)
        assert f"z-{i + 1}-0" not in shown  # the next layer is not computed yet
        assert "feedforward" not in driver.find_element(By.ID, "equation").text  # an equation, not a name
        assert f"Layer {i + 2}: z" in driver.find_element(By.ID, "equation").text
    click(driver, "step-next")
    shown = numbers(driver)
    assert_close(shown["cost"], net.cost(np.array([x]), np.array([y])), "C")
    labels = []
    for i in range(L - 1, -1, -1):  # backward: BP1 at the output, then BP2 layer by layer
        click(driver, "step-next")
        shown = numbers(driver)
        check_layer(shown, i, backward=True)
        if i > 0:
            assert f"delta-{i - 1}-0" not in shown
        labels.append(driver.find_element(By.ID, "equation").text)
    assert "(BP1)" in labels[0] and all("(BP2)" in label for label in labels[1:])
    assert all("(BP3)" in label and "(BP4)" in label for label in labels)
    assert step(driver) == 2 * L + 1 and not driver.find_element(By.ID, "step-next").is_enabled()
    # the diagram writes z, a and delta beside every unit, as SVG text
    quantities = driver.execute_script(
        "return Array.from(document.querySelectorAll('#diagram text.label')).map(t => t.dataset.quantity)")
    assert quantities.count("δ") == sum(sizes[1:]) and quantities.count("z") == sum(sizes[1:])

    for _ in range(2 * L + 1):  # and all the way back: the numbers disappear in reverse order
        click(driver, "step-back")
    shown = numbers(driver)
    assert step(driver) == 0 and not any(key.startswith(("z-", "delta-")) for key in shown)


def test_published_example_opens_computed(driver, tmp_path):
    """The widely used 2-2-2 example, from a weights file with one bias per layer: the page opens at the end."""
    weights = tmp_path / "example.json"
    weights.write_text(json.dumps({"cost": "quadratic", "layers": [
        {"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35},
        {"activation": "sigmoid", "W": [[0.40, 0.45], [0.50, 0.55]], "b": 0.60}]}))
    net = read_weights_json(weights)
    open_page(driver, write_explore_page(tmp_path / "page.html", net, x=[0.05, 0.10], y=[0.01, 0.99]))
    shown = numbers(driver)
    assert step(driver) == 5
    assert shown["cost"] == pytest.approx(0.298371109, abs=1e-9)  # the published total error
    assert shown["dW-1-0-0"] == pytest.approx(0.082167041, abs=1e-9)  # dE/dw5
    assert_not_blank(driver, tmp_path / "example.png")


# -- the demon -----------------------------------------------------------------------------------------------

def nudged_z_cost(net, x, y, layer, unit, dz):
    """C with ``z_unit`` of ``net.layers[layer]`` moved by ``dz`` (and everything after it recomputed)."""
    a = np.asarray(x, dtype=np.float64)
    for i, dense in enumerate(net.layers):
        z = dense.W @ a + dense.b
        if i == layer:
            z[unit] += dz
        a = dense.activation.forward(z[None, :])[0]
    return net.cost_function.value(a[None, :], np.array([y]))


def test_the_demon_nudges_a_weight_and_a_z(driver, tmp_path):
    net = deltaprop.Network([2, 3, 2], activation="sigmoid", cost="cross_entropy", seed=7, dtype="float64")
    x, y = [0.4, -0.3], [1.0, 0.0]
    open_page(driver, write_explore_page(tmp_path / "page.html", net, x=x, y=y))
    X, Y = np.array([x]), np.array([y])
    g, c0 = net.backprop(X, Y), net.cost(X, Y)

    # a weight chosen by clicking its edge in the diagram, then moved by the slider
    driver.execute_script("document.querySelector('#diagram line.edge[data-layer=\"0\"][data-j=\"2\"][data-k=\"1\"]')"
                          ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert driver.find_element(By.ID, "nudge-param").get_attribute("value") == "W-0-2-1"
    for dw in (0.37, -0.8, 0.001):
        set_input(driver, "nudge-w", dw)
        shown = numbers(driver)
        moved = net.copy()
        moved.layers[0].W[2, 1] += dw
        assert_close(shown["nudge-w-amount"], dw, "dw")
        assert_close(shown["nudge-w-dC"], moved.cost(X, Y) - c0, "the cost change")
        assert_close(shown["nudge-w-pred"], g.weights[0][2, 1] * dw, "dC/dw dw (BP4)")
        assert_close(shown["nudge-w-grad"], g.weights[0][2, 1], "dC/dw")
    assert abs(shown["nudge-w-dC"] - shown["nudge-w-pred"]) < 1e-6  # first order holds for a small nudge

    # a bias, from the select
    set_input(driver, "nudge-param", "b-1-0", "change")
    set_input(driver, "nudge-w", 0.5)
    moved = net.copy()
    moved.layers[1].b[0] += 0.5
    shown = numbers(driver)
    assert_close(shown["nudge-w-dC"], moved.cost(X, Y) - c0, "the cost change")
    assert_close(shown["nudge-w-pred"], g.biases[1][0] * 0.5, "dC/db db (BP3)")

    # a weighted input z_j: the notes' demon, dC ~ delta_j dz
    set_input(driver, "nudge-unit", "0-1", "change")
    for dz in (0.6, -0.25, 0.002):
        set_input(driver, "nudge-z", dz)
        shown = numbers(driver)
        assert_close(shown["nudge-z-dC"], nudged_z_cost(net, x, y, 0, 1, dz) - c0, "the cost change")
        assert_close(shown["nudge-z-pred"], g.deltas[0][0, 1] * dz, "delta_j dz")
        assert_close(shown["nudge-z-delta"], g.deltas[0][0, 1], "delta_j")
    assert abs(shown["nudge-z-dC"] - shown["nudge-z-pred"]) < 1e-6


# -- training --------------------------------------------------------------------------------------------------

def test_fifty_training_steps_match_deltaprop_sgd(driver, tmp_path):
    data = load_dataset("xor", dtype="float64")
    X, labels = data.X_train, data.y_train
    seed, eta, batch_size, steps = 3, 0.7, 7, 50  # 50 x 7 > 300 points: crosses an epoch, with its partial batch
    given = deltaprop.Network([2, 5, 2], activation="tanh", output_activation="sigmoid", seed=seed, dtype="float64")
    page = write_explore_page(tmp_path / "xor.html", given, data=("xor", X, labels), eta=0.1, batch_size=10, seed=seed)
    open_page(driver, page)
    set_input(driver, "train-activation", "3", "change")  # options: as given, sigmoid, tanh, relu, ...
    assert "relu" in driver.find_element(By.ID, "train-activation").get_attribute("innerHTML").split("<option")[4]
    set_input(driver, "train-eta", eta, "change")
    set_input(driver, "train-batch", batch_size, "change")
    # deltaprop's own relu network, seeded as the page says: the page starts from exactly these weights
    net = deltaprop.Network([2, 5, 2], activation="relu", output_activation="sigmoid", cost="quadratic", seed=seed,
                            dtype="float64")
    shown = numbers(driver)
    for i, layer in enumerate(net.layers):
        for (j, k), w in np.ndenumerate(layer.W):
            assert shown[f"W-{i}-{j}-{k}"] == w

    started = time.perf_counter()
    click(driver, "train-step", steps)
    browser_seconds = time.perf_counter() - started

    Y = np.eye(2)[labels]
    batches = page_batches(len(X), batch_size, steps, seed)
    assert sorted({len(b) for b in batches}) == [len(X) % batch_size, batch_size]  # one partial batch, as fit cuts
    for batch in batches:  # deltaprop's SGD, one fit() per batch of the page's order
        batch_cost = net.cost(X[batch], Y[batch])  # what the page reports for the batch: C before its step
        net.fit(X[batch], Y[batch], epochs=1, batch_size=len(batch), eta=eta, shuffle=False)
    shown = numbers(driver)
    assert shown["train-steps"] == steps
    worst = 0.0
    for i, layer in enumerate(net.layers):
        for (j, k), w in np.ndenumerate(layer.W):
            worst = max(worst, abs(shown[f"W-{i}-{j}-{k}"] - w))
        for j, b in enumerate(layer.b):
            worst = max(worst, abs(shown[f"b-{i}-{j}"] - b))
    assert worst < TOLERANCE, worst
    assert_close(shown["train-cost"], net.cost(X, Y), "training cost after 50 steps")
    assert shown["train-accuracy"] == pytest.approx(net.evaluate(X, labels), abs=1e-12)
    assert_close(shown["train-batch-cost"], batch_cost, "the last batch's cost")
    print(f"50 steps in the browser (with clicks): {browser_seconds:.2f} s; worst weight difference {worst:.1e}")

    # the train button animates: steps go on, and the cost curve and boundary are drawn
    click(driver, "train-run")
    WebDriverWait(driver, 10).until(lambda d: float(d.find_element(By.ID, "train-steps").get_attribute("data-value")) > steps + 20)
    click(driver, "train-run")
    assert_not_blank(driver, tmp_path / "training.png")
    click(driver, "train-reset")
    assert numbers(driver)["train-steps"] == 0


# -- no network --------------------------------------------------------------------------------------------------

def test_the_page_makes_no_network_request(driver, tmp_path):
    data = load_dataset("spirals", dtype="float64")
    net = deltaprop.Network([2, 8, 8, 2], activation="relu", output_activation="softmax", cost="log_likelihood",
                            seed=0, dtype="float64")
    page = write_explore_page(tmp_path / "spirals.html", net, data=("spirals", data.X_train, data.y_train))
    driver.get_log("performance")  # forget what earlier tests did
    open_page(driver, page)
    click(driver, "step-end")
    click(driver, "train-step", 3)
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith(("file:", "data:")) for url in resources), resources
    requested = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requested if m["method"] == "Network.requestWillBeSent"]
    assert urls and all(url.startswith(("file:", "data:")) for url in urls), urls
    # and the page's own policy forbids any request: an attempt is blocked before it leaves
    blocked = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        document.addEventListener('securitypolicyviolation', (e) => done(e.violatedDirective + ' ' + e.blockedURI));
        const image = new Image(); image.src = 'http://127.0.0.1:9/probe.png';
        setTimeout(() => done('not blocked'), 3000);""")
    assert blocked.startswith("img-src") and "127.0.0.1" in blocked, blocked
    assert_not_blank(driver, tmp_path / "spirals.png")
