"""The explorer page: one self-contained HTML file that shows backpropagation happening.

:func:`explore_page` returns the page as text and :func:`write_explore_page` writes it; ``deltaprop
explore`` is the command-line door. The page holds everything inline (its script, its style, the
network and the data as JSON) and forbids itself every network request with a Content Security
Policy, so it works offline, from ``file://``, with a double-click. On it:

* the network diagram, with buttons that step forward layer by layer (``z = W a + b``,
  ``a = g(z)``), then through the cost, then backward: BP1 at the output, BP2 layer by layer, and
  BP3 and BP4 for each layer's gradients, each step naming its equation and working one unit's
  numbers;
* the "demon": sliders that nudge any weight or bias by ``dw`` or any ``z_j`` by ``dz`` and show
  the change in cost next to its first-order prediction ``dC/dw dw`` or ``delta_j dz``;
* for a 2-D data set, mini-batch SGD in the browser with the cost curve, the weights and the
  decision boundary animated; eta, the batch size and the hidden activation can be changed.

The page computes in float64 with deltaprop's formulas (its script mirrors
:mod:`deltaprop.core.activations`, :mod:`deltaprop.core.costs` and :mod:`deltaprop.core.propagation`).
Its mini-batches are drawn from :class:`PageRandom`, a 32-bit generator (mulberry32) that the
page's script implements bit for bit like this module, so :func:`page_batches` gives the batches
the page trains on and deltaprop can reproduce any run of the page exactly. Every number the page
shows is HTML or SVG text, with its full float64 value in a ``data-value`` attribute.

Element ids, stable for readers and tests (layer index ``i`` is ``net.layers[i]``, the notes' layer ``l = i + 2``; ``j`` is a unit of
that layer, ``k`` a unit of the layer before):

* ``x-k``: the input; ``z-i-j``, ``a-i-j``, ``delta-i-j``: the example's values, filled as the
  stepper reaches them (empty before); ``db-i-j`` (BP3) and ``dW-i-j-k`` (BP4); ``cost``;
* ``W-i-j-k``, ``b-i-j``: the current weights; the diagram's ``line.edge`` elements carry
  ``data-layer``, ``data-j``, ``data-k`` and ``data-value``;
* stepper: buttons ``step-start``, ``step-back``, ``step-next``, ``step-end``; ``stepper`` (its
  ``data-step``), ``equation``, ``worked``;
* demon: ``nudge-param`` (a select of ``W-i-j-k`` and ``b-i-j``), slider ``nudge-w``, results
  ``nudge-w-amount``, ``nudge-w-dC``, ``nudge-w-pred``, ``nudge-w-grad``; ``nudge-unit`` (``i-j``),
  slider ``nudge-z``, ``nudge-z-amount``, ``nudge-z-dC``, ``nudge-z-pred``, ``nudge-z-delta``;
* training: buttons ``train-run``, ``train-step``, ``train-reset``; inputs ``train-eta``,
  ``train-batch``, ``train-activation``; values ``train-steps``, ``train-epoch``, ``train-cost``,
  ``train-accuracy``, ``train-batch-cost``; canvases ``boundary`` and ``cost-curve``.
"""

from __future__ import annotations

import json
import os
from html import escape

import numpy as np

from ..atomic import atomic_write
from ..core.network import Network
from ..errors import DataError, DeltapropError, ShapeError
from ..files.weights_json import weights_dict
from .assets import BODY, SCRIPT, STYLE

__all__ = ["CONTENT_SECURITY_POLICY", "MAX_POINTS", "MAX_UNITS", "MAX_WEIGHTS", "PAGE_ACTIVATIONS", "PageRandom",
           "check_page_size", "default_example", "explore_page", "page_batches", "page_data", "page_permutation",
           "write_explore_page"]

MAX_UNITS = 64
"""Most units in any layer (the input included) the page accepts: it draws every unit, and a column
of more than 64 circles is no longer legible at a screen's height."""
MAX_WEIGHTS = 10_000
"""Most weights the page accepts: it draws every weight as an SVG line and redraws them all at every
animation frame while it trains; beyond 10,000 lines a browser no longer keeps up (and no one can
read them). Use ``deltaprop draw`` for larger networks."""
CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
"""The page's own policy: its inline script and style run, and nothing is ever fetched (no connection,
image, font, frame or script from anywhere), whatever the page's script tried."""
MAX_POINTS = 2_000
"""Most training points embedded in a page (its SGD recomputes the training cost at every step)."""
PAGE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity")
"""Hidden activations the training panel offers; each comes with deltaprop's own initial weights."""

_MASK = 0xFFFFFFFF


class PageRandom:
    """The page's random generator: mulberry32, 32-bit integer arithmetic as JavaScript does it.

    >>> r = PageRandom(0)
    >>> [r.next_uint32() for _ in range(3)]
    [1144304738, 1416247, 958946056]
    """

    def __init__(self, seed: int):
        self.state = int(seed) & _MASK

    def next_uint32(self) -> int:
        # NOTE: JavaScript's Math.imul keeps the low 32 bits of a product and `x >>> 0` reads them as
        # unsigned; masking with 2^32 - 1 after every product and sum gives the same bits.
        self.state = (self.state + 0x6D2B79F5) & _MASK
        a = self.state
        t = ((a ^ (a >> 15)) * (1 | a)) & _MASK
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & _MASK)) & _MASK) ^ t
        return (t ^ (t >> 14)) & _MASK


def page_permutation(rng: PageRandom, n: int) -> np.ndarray:
    """A permutation of ``range(n)`` by Fisher-Yates, ``j = r mod (i + 1)``, exactly as the page draws it."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.next_uint32() % (i + 1)
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


def page_batches(n: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """The row indices of the first ``steps`` mini-batches the page trains on.

    Each epoch is a fresh permutation (:func:`page_permutation`) cut into batches of ``batch_size``,
    the last one possibly smaller, as :meth:`Network.fit` cuts its epochs.
    """
    rng, order, position, batches = PageRandom(seed), None, n, []
    for _ in range(steps):
        if position >= n:
            order, position = page_permutation(rng, n), 0
        batch = order[position: position + batch_size]
        position += len(batch)
        batches.append(batch)
    return batches


# -- what the page may hold ------------------------------------------------------------------------------

def check_page_size(net: Network) -> None:
    """Refuse a network too large for the page: more than :data:`MAX_UNITS` in a layer or
    :data:`MAX_WEIGHTS` weights, in one line that says why."""
    widest = max(net.sizes)
    weights = sum(layer.W.size for layer in net.layers)
    if widest > MAX_UNITS:
        layer = net.sizes.index(widest) + 1
        raise DeltapropError(
            f"network {net.sizes} is too large for the explorer page: layer {layer} has {widest} units and the page "
            f"draws every unit, at most {MAX_UNITS} per layer; draw it with 'deltaprop draw' instead")
    if weights > MAX_WEIGHTS:
        raise DeltapropError(
            f"network {net.sizes} is too large for the explorer page: it has {weights:,} weights and the page redraws "
            f"every weight as a line at each training frame, at most {MAX_WEIGHTS:,}; draw it with 'deltaprop draw' "
            "instead")


def default_example(net: Network, seed: int = 0):
    """``(x, y)`` the page opens on when none is given, as ``deltaprop explain`` chooses them.

    Two inputs: ``x = (0.05, 0.10)``; two outputs: ``y = (0.01, 0.99)`` (the widely used worked
    example); otherwise seeded inputs in [0, 1) and a one-hot target on the last class.
    """
    n_in, n_out = net.sizes[0], net.sizes[-1]
    rng = np.random.default_rng(seed)
    x = np.array([0.05, 0.10]) if n_in == 2 else np.round(rng.uniform(0, 1, n_in), 2)
    y = np.array([0.01, 0.99]) if n_out == 2 else np.eye(n_out)[n_out - 1]
    return x, y


def _example(net, x, y, seed):
    default_x, default_y = default_example(net, seed)
    x = default_x if x is None else np.asarray(x, dtype=np.float64).ravel()
    y = default_y if y is None else np.asarray(y, dtype=np.float64).ravel()
    for name, values, n, what in (("x", x, net.sizes[0], "inputs"), ("y", y, net.sizes[-1], "outputs")):
        if values.shape != (n,):
            raise ShapeError(f"{name} has {values.size} values, but the network has {n} {what}")
    net.backprop(x[None, :], y[None, :])  # validates: finite numbers, targets the cost accepts
    return x, y


def _targets(net, labels):
    """Target rows for class ``labels``: a column of 0/1 for one output unit, one-hot rows otherwise."""
    n_out = net.sizes[-1]
    classes = int(labels.max()) + 1
    if n_out == 1:
        if classes > 2:
            raise DataError(f"the data has {classes} classes but the network has 1 output unit (2 classes at most)")
        return labels[:, None].astype(np.float64)
    if classes > n_out:
        raise DataError(f"the data has {classes} classes but the network has {n_out} output units")
    return np.eye(n_out)[labels]


def _training(net, data, eta, batch_size, seed, init):
    """The training panel's JSON: data, targets, and one initial network per hidden activation."""
    name, X, labels = data
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or X.shape[1] != 2:
        raise DataError(f"data {name!r} has shape {X.shape}; the page trains on 2-D points, shape (n, 2)")
    if net.sizes[0] != 2:
        raise DataError(f"the network takes {net.sizes[0]} inputs but data {name!r} has 2 features")
    if labels.shape != (len(X),) or labels.dtype.kind not in "iu" or labels.min() < 0:
        raise DataError(f"data {name!r} needs one integer class label >= 0 per point")
    if len(X) > MAX_POINTS:
        raise DataError(f"data {name!r} has {len(X)} training points; the page holds at most {MAX_POINTS}")
    if not np.isfinite(X).all():
        raise DataError(f"data {name!r} holds NaN or infinity")
    if not (eta > 0 and np.isfinite(eta)):
        raise DeltapropError(f"eta={eta!r} must be a positive number")
    if not (isinstance(batch_size, int) and 1 <= batch_size <= len(X)):
        raise DeltapropError(f"batch_size={batch_size!r} must be a whole number between 1 and {len(X)}")
    Y = _targets(net, labels)
    inits = [{"label": "as given", "network": weights_dict(net)}]
    if len(net.layers) > 1:
        out = net.output_activation.name
        for activation in PAGE_ACTIVATIONS:
            fresh = Network(net.sizes, activation=activation, output_activation=out, cost=net.cost_function.name,
                            init=init, seed=seed, dtype="float64")
            inits.append({"label": f"{activation} (init {init}, seed {seed})", "network": weights_dict(fresh)})
    margin = 0.1 * float(np.ptp(X, axis=0).max() or 1.0)
    bounds = [float(X[:, 0].min() - margin), float(X[:, 0].max() + margin),
              float(X[:, 1].min() - margin), float(X[:, 1].max() + margin)]
    return {"name": name, "X": X.tolist(), "Y": Y.tolist(), "labels": labels.astype(int).tolist(), "eta": float(eta),
            "batch_size": int(batch_size), "seed": int(seed) & _MASK, "inits": inits, "bounds": bounds}


def page_data(net: Network, x=None, y=None, data=None, eta=0.1, batch_size=10, seed=0, init="auto",
              opened=None) -> dict:
    """Everything the page embeds, as JSON-ready Python values (see :func:`explore_page`)."""
    if not isinstance(net, Network):
        raise DeltapropError(f"net must be a deltaprop.Network, got {type(net).__name__}")
    if opened not in (None, "start", "end"):
        raise DeltapropError(f"opened={opened!r} must be 'start' or 'end'")
    check_page_size(net)
    net = net.copy("float64")
    given = x is not None or y is not None
    training = None if data is None else _training(net, data, eta, batch_size, seed, init)
    if x is None and y is None and training is not None:
        x, y = training["X"][0], training["Y"][0]  # the first training point
    x, y = _example(net, x, y, seed)
    return {"format": "deltaprop-explore", "version": 1, "network": weights_dict(net),
            "summary": net.summary(print_fn=None), "example": {"x": x.tolist(), "y": y.tolist()},
            "opened": opened or ("end" if given else "start"), "train": training}


def _json_for_script(value) -> str:
    # NOTE: inside <script>, "</script>" (or "<!--") would end or confuse the element; JSON allows
    # "<" to be written "\u003c", which no HTML parser reads as markup.
    return json.dumps(value, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def explore_page(net: Network, x=None, y=None, data=None, eta=0.1, batch_size=10, seed=0, init="auto",
                 title=None, opened=None) -> str:
    """The explorer page for ``net`` as one self-contained HTML document.

    Parameters
    ----------
    net : Network
        At most :data:`MAX_UNITS` units per layer and :data:`MAX_WEIGHTS` weights.
    x, y : sequence of float, optional
        The example the stepper and the demon use; given, the page opens with its forward and
        backward values shown. Default: :func:`default_example`, or the first training point.
    data : (name, X, labels), optional
        2-D training points ``X`` (``(n, 2)``, at most :data:`MAX_POINTS`) and integer class labels:
        the page gets a training panel.
    eta, batch_size, seed : the page's initial SGD settings; ``seed`` also fixes its batch order
        (:func:`page_batches`) and the initial weights offered for each hidden activation.
    init : str
        Initialiser of those weights (``auto``: he for ReLU-like layers, xavier otherwise).
    opened : {"start", "end"}, optional
        Where the stepper opens (default: at the end when ``x`` or ``y`` is given, else at the start).
    """
    content = page_data(net, x, y, data, eta, batch_size, seed, init, opened)
    heading = title or f"deltaprop explore: {net.sizes}" + (f" on {data[0]}" if data is not None else "")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Nothing may leave the page: no fetch, no image, no font, no script from anywhere.
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(heading)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        BODY.replace("{heading}", escape(heading)),
        f'<script type="application/json" id="deltaprop-data">{_json_for_script(content)}</script>',
        f"<script>{SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


def write_explore_page(path, net: Network, **options) -> str:
    """Write :func:`explore_page` to ``path`` atomically (UTF-8); return the path."""
    text = explore_page(net, **options)
    path = os.fspath(path)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
