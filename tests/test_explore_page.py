"""The explorer page as a file (no browser needed): self-contained, its limits, its batch order, its command.

Oracles: the HTML parsed by :mod:`html.parser` (what elements and attributes exist), the embedded
JSON against the network's own arrays, a counting argument for the batch order (every epoch visits
each point once), and the mulberry32 reference values (the same numbers the page's script gives;
the browser tests check the page trains on exactly these batches).
"""

import json
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import deltaprop
from deltaprop.explore import (
    MAX_UNITS,
    MAX_WEIGHTS,
    PageRandom,
    check_page_size,
    explore_page,
    page_batches,
    page_permutation,
)


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.data = [], [], {}
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]
        self._in = dict(attrs).get("id")

    def handle_data(self, data):
        if self._in == "deltaprop-data":
            self.data = json.loads(data)

    def handle_endtag(self, tag):
        self._in = None


def parse(page) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "deltaprop", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_page_is_one_self_contained_file():
    net = deltaprop.Network([2, 3, 2], seed=0)
    X = np.random.default_rng(0).uniform(-1, 1, (40, 2))
    name = "</script><script>alert(1)</script>"  # a hostile data name stays data
    page = explore_page(net, data=(name, X, (X[:, 0] > 0).astype(int)))
    elements = parse(page)
    assert elements.tags.count("script") == 2 and elements.tags.count("style") == 1
    # nothing to fetch: no src, no href, no url(), no @import; only the CSP that forbids it all
    assert not [a for a in elements.attributes if a[1] in ("src", "href")]
    assert "url(" not in page and "@import" not in page and "https://" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace, not a request
    csp = [value for tag, name, value in elements.attributes if tag == "meta" and name == "content" and "default-src" in value]
    assert csp == ["default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"]
    data = elements.data
    assert data["train"]["name"] == name
    assert data["network"]["layers"][0]["W"] == net.layers[0].W.astype(float).tolist()  # the float32 values, exactly
    assert [init["label"].split()[0] for init in data["train"]["inits"]] == [
        "as", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"]
    fresh = deltaprop.Network([2, 3, 2], activation="relu", output_activation="sigmoid", seed=0, dtype="float64")
    assert data["train"]["inits"][3]["network"]["layers"][0]["W"] == fresh.layers[0].W.tolist()
    assert data["example"] == {"x": X[0].tolist(), "y": [1.0, 0.0] if X[0, 0] <= 0 else [0.0, 1.0]}


def test_networks_too_large_for_the_page_are_refused_with_the_reason():
    check_page_size(deltaprop.Network([2, MAX_UNITS, 2], seed=0))
    with pytest.raises(deltaprop.DeltapropError, match=f"layer 2 has 65 units .* at most {MAX_UNITS} per layer"):
        check_page_size(deltaprop.Network([2, 65, 2], seed=0))
    with pytest.raises(deltaprop.DeltapropError, match="12,544 weights .* at most 10,000") as error:
        explore_page(deltaprop.Network([2, 64, 64, 64, 64, 2], seed=0))
    assert MAX_WEIGHTS == 10_000 and "deltaprop draw" in str(error.value)


def test_bad_examples_and_data_are_refused():
    net = deltaprop.Network([2, 3, 1], seed=0)
    with pytest.raises(deltaprop.ShapeError, match="x has 3 values, but the network has 2 inputs"):
        explore_page(net, x=[1, 2, 3])
    X = np.zeros((10, 2))
    with pytest.raises(deltaprop.DataError, match="3 classes but the network has 1 output unit"):
        explore_page(net, data=("d", X, np.arange(10) % 3))
    with pytest.raises(deltaprop.DataError, match="2-D points"):
        explore_page(net, data=("d", np.zeros((10, 3)), np.arange(10) % 2))
    with pytest.raises(deltaprop.DeltapropError, match="batch_size=11 must be a whole number between 1 and 10"):
        explore_page(net, data=("d", X, np.arange(10) % 2), batch_size=11)


def test_page_random_is_mulberry32():
    # Reference values of mulberry32 (the JavaScript function the page runs, evaluated by node and Chromium)
    r = PageRandom(0)
    assert [r.next_uint32() for _ in range(5)] == [1144304738, 1416247, 958946056, 627933444, 2007157716]
    r = PageRandom(4294967295)
    assert [r.next_uint32() for _ in range(2)] == [3850105811, 813802916]
    assert page_permutation(PageRandom(7), 10).tolist() == [0, 4, 8, 1, 7, 3, 5, 6, 9, 2]


def test_page_batches_visit_every_point_once_per_epoch():
    batches = page_batches(23, 5, 15, seed=9)  # 5 batches per epoch (the last of 3 points): three epochs
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3] * 3
    for epoch in range(3):
        assert sorted(np.concatenate(batches[5 * epoch: 5 * epoch + 5]).tolist()) == list(range(23))
    assert [b.tolist() for b in page_batches(23, 5, 15, seed=9)] == [b.tolist() for b in batches]
    assert page_batches(23, 5, 1, seed=10)[0].tolist() != batches[0].tolist()


# -- the command line -----------------------------------------------------------------------------------------

def test_cli_explore_writes_pages(tmp_path):
    result = run("explore", "--data", "xor", "--seed", "2", "--out", "xor.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = parse((tmp_path / "xor.html").read_text(encoding="utf-8")).data
    preset = deltaprop.Network([2, 8, 2], activation="tanh", output_activation="sigmoid", seed=2, dtype="float64")
    assert data["network"]["layers"][1]["W"] == preset.layers[1].W.tolist()  # train's xor preset, seeded
    assert data["train"]["eta"] == 1.0 and data["train"]["batch_size"] == 10 and len(data["train"]["X"]) == 300
    (tmp_path / "w.json").write_text('{"cost": "cross_entropy", "layers": [{"activation": "sigmoid", '
                                     '"W": [[1, -1]], "b": [0.5]}]}')
    result = run("explore", "--weights", "w.json", "--input", "0.2,0.4", "--target", "1", "--out", "w.html",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = parse((tmp_path / "w.html").read_text(encoding="utf-8")).data
    assert data["opened"] == "end" and data["example"] == {"x": [0.2, 0.4], "y": [1.0]} and data["train"] is None


@pytest.mark.parametrize("args, fragments", [
    (["explore", "--layers", "784,30,10"], ["layer 1 has 784 units", "at most 64 per layer", "deltaprop draw"]),
    (["explore", "--layers", "2,64,64,64,64,2"], ["12,544 weights", "at most 10,000"]),
    (["explore", "notamodel.npz"], ["model file notamodel.npz", "is corrupted"]),
    (["explore", "--data", "sine"], ["2-D classification data"]),
    (["explore", "--weights", "missing.json"], ["weights file missing.json"]),
    (["explore", "--data", "xor", "--layers", "3,4,2"], ["takes 3 inputs but data 'xor' has 2 features"]),
    (["explore", "--out", "page.txt"], ["must end in .html"]),
    (["explore", "--data", "xor", "--target", "0,1"], ["--target needs --input"]),
])
def test_cli_explore_bad_input_is_one_line_and_exit_2(tmp_path, args, fragments):
    (tmp_path / "notamodel.npz").write_bytes(b"PK\x03\x04 but not a zip")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not list(tmp_path.glob("*.html"))
