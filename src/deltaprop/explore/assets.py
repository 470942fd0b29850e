'''The explorer page's style, markup and script, inlined into every page by :func:`deltaprop.explore.explore_page`.

They live in a Python module rather than in ``.css`` and ``.js`` files so that every installation
of deltaprop carries them (a wheel built without package-data rules would drop other files).

The script mirrors deltaprop in float64: ``ACT`` is :mod:`deltaprop.core.activations`, ``COST``
is :mod:`deltaprop.core.costs` (the same clipping by machine epsilon, the same BP1 shortcuts),
``backprop`` is :func:`deltaprop.core.propagation.backward` for one example (BP1-BP4, tagged),
``sgdStep`` is plain :class:`deltaprop.SGD` (``W <- W - eta/m sum_x delta a^T``) and
``mulberry32`` / ``permutation`` are :class:`deltaprop.explore.PageRandom` and
:func:`deltaprop.explore.page_permutation`, bit for bit.
'''

STYLE = r"""
:root { --pos: #d62728; --neg: #1f77b4; --ink: #222; --muted: #666; --line: #ddd; --hi: #fff4cc; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0;
       background: #fafafa; }
header { padding: 10px 18px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; }
header p { margin: 2px 0 0; color: var(--muted); }
main { display: grid; grid-template-columns: minmax(420px, 1.25fr) minmax(360px, 1fr); gap: 14px; padding: 14px 18px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 0; }
section h2 { font-size: 15px; margin: 0 0 8px; }
#network-section { grid-row: span 2; }
#train-section, #summary-section { grid-column: 1 / -1; }
#train-section { order: -1; }
.controls { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-bottom: 8px; }
button { font: inherit; padding: 3px 10px; border: 1px solid #bbb; border-radius: 4px; background: #f3f3f3;
         cursor: pointer; }
button:hover { background: #e8e8e8; }
button:disabled { opacity: 0.45; cursor: default; }
input[type=number] { width: 6em; font: inherit; }
select { font: inherit; max-width: 18em; }
.equation { font-family: "Cambria Math", "STIX Two Math", Georgia, serif; font-size: 16px; background: var(--hi);
            padding: 6px 10px; border-radius: 4px; min-height: 2.1em; }
.worked { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; color: #333; padding: 4px 10px;
          min-height: 1.6em; white-space: pre-wrap; }
#diagram { overflow-x: auto; }
#diagram svg { display: block; }
#diagram .edge { cursor: pointer; }
#diagram .unit { cursor: pointer; stroke: #333; }
#diagram .unit.selected, #diagram .edge.selected { stroke: #000; stroke-width: 3; }
#diagram text { font-size: 11px; fill: #222; }
#diagram text.label { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 10.5px; paint-order: stroke;
                      stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
#diagram text.title { font-weight: 600; }
#diagram rect.current { fill: var(--hi); }
.legend { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
table.numbers { border-collapse: collapse; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
                margin: 4px 0 8px; }
table.numbers th, table.numbers td { border: 1px solid #e3e3e3; padding: 1px 6px; text-align: right; }
table.numbers th { background: #f5f5f5; font-weight: 600; }
table.numbers caption { text-align: left; font-family: system-ui, sans-serif; color: var(--muted); }
td.fresh { background: var(--hi); }
.scroll { max-height: 360px; overflow: auto; }
.nudge { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 8px; }
.nudge input[type=range] { width: 240px; vertical-align: middle; }
.readout { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.readout b { font-weight: 600; }
.plot { display: block; margin-top: 4px; }
.canvases { display: flex; flex-wrap: wrap; gap: 14px; }
canvas { border: 1px solid var(--line); background: #fff; }
#train-error { color: #b00; }
pre#summary { font-size: 12px; margin: 0; overflow-x: auto; }
"""

BODY = r"""
<header><h1>{heading}</h1>
<p>Backpropagation, one step at a time: <em>z<sup>l</sup> = W<sup>l</sup> a<sup>l−1</sup> + b<sup>l</sup></em>,
<em>a<sup>l</sup> = g(z<sup>l</sup>)</em> forward, then δ = ∂C/∂z backward (BP1, BP2) and the gradients (BP3, BP4).
Layer l = 1 is the input; <code>layers[i]</code> is layer l = i + 2.</p></header>
<main>
<section id="network-section">
  <h2>The network</h2>
  <div class="controls" id="stepper" data-step="0">
    <button id="step-start" title="back to the input (Home)">« start</button>
    <button id="step-back" title="one step back (←)">◀ back</button>
    <button id="step-next" title="one step on (→)">next ▶</button>
    <button id="step-end" title="everything (End)">all »</button>
    <span id="step-index"></span>
    <label>colour units by <select id="color-by"><option value="a">a (activation)</option>
      <option value="delta">δ (error)</option></select></label>
  </div>
  <div id="equation" class="equation"></div>
  <div id="worked" class="worked"></div>
  <div id="diagram"></div>
  <p class="legend">Edges: <span style="color:var(--pos)">red w &gt; 0</span>, <span style="color:var(--neg)">blue
    w &lt; 0</span>, width ∝ |w|. Units: red positive, blue negative, white zero (or not computed yet). Click an
    edge or a unit to nudge it below.</p>
</section>
<section id="values-section">
  <h2>The example's numbers</h2>
  <div class="readout">x = <span id="example-x"></span><br>y = <span id="example-y"></span><br>
    C = <span id="cost"></span> &nbsp;where <span id="cost-formula"></span></div>
  <div class="scroll"><table class="numbers" id="values-table"></table></div>
  <details id="gradients-details" open><summary>Gradients: ∂C/∂b = δ (BP3), ∂C/∂W = δ (a<sup>l−1</sup>)<sup>T</sup>
    (BP4)</summary><div class="scroll" id="gradients"></div></details>
  <details id="weights-details"><summary>Weights W and biases b</summary><div class="scroll" id="weights"></div>
  </details>
</section>
<section id="demon-section">
  <h2>The demon: nudge one number, watch the cost</h2>
  <div class="nudge">
    <label>weight or bias <select id="nudge-param"></select></label><br>
    <label>Δw <input id="nudge-w" type="range" min="-1" max="1" step="0.001" value="0"></label>
    <span class="readout" id="nudge-w-amount" data-value="0">0</span>
    <div class="readout">ΔC = <b id="nudge-w-dC"></b> &nbsp; predicted ∂C/∂w·Δw = <b id="nudge-w-pred"></b>
      &nbsp; (∂C/∂w = <span id="nudge-w-grad"></span>, BP3/BP4)</div>
    <svg id="nudge-w-plot" class="plot" width="300" height="110"></svg>
  </div>
  <div class="nudge">
    <label>unit <select id="nudge-unit"></select></label><br>
    <label>Δz <input id="nudge-z" type="range" min="-1" max="1" step="0.001" value="0"></label>
    <span class="readout" id="nudge-z-amount" data-value="0">0</span>
    <div class="readout">ΔC = <b id="nudge-z-dC"></b> &nbsp; predicted δ<sub>j</sub>·Δz = <b id="nudge-z-pred"></b>
      &nbsp; (δ<sub>j</sub> = <span id="nudge-z-delta"></span>)</div>
    <svg id="nudge-z-plot" class="plot" width="300" height="110"></svg>
  </div>
  <p class="legend">Solid: the cost change the nudge really causes; dashed: the tangent, the first-order
    prediction backpropagation gives. They agree for small nudges.</p>
</section>
<section id="train-section" hidden>
  <h2>Training on <span id="train-name"></span>: mini-batch SGD in the browser</h2>
  <div class="controls">
    <button id="train-run">▶ train</button>
    <button id="train-step">one step</button>
    <button id="train-reset">reset</button>
    <label>η <input id="train-eta" type="number" step="any" min="0"></label>
    <label>batch size <input id="train-batch" type="number" min="1" step="1"></label>
    <label>hidden activation <select id="train-activation"></select></label>
    <label>steps per frame <select id="train-speed"><option>1</option><option selected>5</option>
      <option>20</option></select></label>
    <span id="train-error"></span>
  </div>
  <div class="readout">step <span id="train-steps" data-value="0">0</span> (epoch <span id="train-epoch"></span>),
    training cost C = <span id="train-cost"></span>, accuracy <span id="train-accuracy"></span>,
    last batch C = <span id="train-batch-cost"></span>, batch order seed <span id="train-seed"></span></div>
  <div class="canvases">
    <canvas id="boundary" width="320" height="320" title="decision boundary and training points"></canvas>
    <canvas id="cost-curve" width="520" height="320" title="training cost after each step"></canvas>
  </div>
</section>
<section id="summary-section"><h2>Summary</h2><pre id="summary"></pre></section>
</main>
"""

SCRIPT = r"""
(function () {
"use strict";
const DATA = JSON.parse(document.getElementById("deltaprop-data").textContent);
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// The numbers: float64, deltaprop's formulas (deltaprop.core.activations, costs, propagation).
// ---------------------------------------------------------------------------------------------
const EPS = Number.EPSILON;  // np.finfo(np.float64).eps: where cross_entropy and log_likelihood clip a
const SLOPE = 0.01;          // leaky_relu's slope for z < 0
const sigmoid = (z) => 1 / (1 + Math.exp(-z));
const ACT = {
  sigmoid: { g: sigmoid, prime: (z, a) => a * (1 - a), text: "σ", primeText: "σ′(z) = a(1 − a)" },
  tanh: { g: Math.tanh, prime: (z, a) => 1 - a * a, text: "tanh", primeText: "tanh′(z) = 1 − a²" },
  relu: { g: (z) => (z > 0 ? z : 0), prime: (z) => (z > 0 ? 1 : 0), text: "relu", primeText: "relu′(z) = [z > 0]" },
  leaky_relu: { g: (z) => (z < 0 ? SLOPE * z : z), prime: (z) => (z > 0 ? 1 : SLOPE), text: "leaky_relu",
                primeText: "g′(z) = 1 if z > 0 else 0.01" },
  identity: { g: (z) => z, prime: () => 1, text: "identity", primeText: "g′(z) = 1" },
  softplus: { g: (z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))), prime: (z) => sigmoid(z),
              text: "softplus", primeText: "softplus′(z) = σ(z)" },
  softmax: { vector: true, text: "softmax", primeText: "∂a_k/∂z_j = a_k([j = k] − a_j)" },
};

function activate(name, z) {
  if (name === "softmax") {  // subtract the maximum: the same softmax, no overflow
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    let s = 0;
    for (const v of e) s += v;
    return e.map((v) => v / s);
  }
  return z.map(ACT[name].g);
}

// dC/dz from dC/da: grad_a (.) g'(z), or softmax's Jacobian-vector product (BP1's general form)
function activationBackward(name, z, a, gradA) {
  if (name === "softmax") {
    let dot = 0;
    for (let k = 0; k < a.length; k++) dot += gradA[k] * a[k];
    return gradA.map((g, j) => (g - dot) * a[j]);
  }
  const prime = ACT[name].prime;
  return gradA.map((g, j) => g * prime(z[j], a[j]));
}

const clip = (a) => Math.min(Math.max(a, EPS), 1 - EPS);
const COST = {
  quadratic: { shortcut: { identity: 1 }, text: "C = ½‖a − y‖²", gradText: "a − y",
    value(a, y) { let s = 0; for (let j = 0; j < a.length; j++) { const d = a[j] - y[j]; s += d * d; } return 0.5 * s; },
    grad: (a, y) => a.map((v, j) => v - y[j]) },
  squared_error: { shortcut: { identity: 2 }, text: "C = ‖a − y‖²", gradText: "2(a − y)",
    value(a, y) { let s = 0; for (let j = 0; j < a.length; j++) { const d = a[j] - y[j]; s += d * d; } return s; },
    grad: (a, y) => a.map((v, j) => 2 * (v - y[j])) },
  cross_entropy: { shortcut: { sigmoid: 1 }, text: "C = −Σ y ln a + (1 − y) ln(1 − a)", gradText: "(a − y)/(a(1 − a))",
    value(a, y) { let s = 0; for (let j = 0; j < a.length; j++) { const p = clip(a[j]); s += y[j] * Math.log(p) + (1 - y[j]) * Math.log1p(-p); } return -s; },
    grad: (a, y) => a.map((v, j) => { const p = clip(v); return (v - y[j]) / (p * (1 - p)); }) },
  log_likelihood: { shortcut: { softmax: 1 }, text: "C = −Σ y ln a", gradText: "−y/a",
    value(a, y) { let s = 0; for (let j = 0; j < a.length; j++) s += y[j] * Math.log(clip(a[j])); return -s; },
    grad: (a, y) => a.map((v, j) => -y[j] / clip(v)) },
};

function cloneNet(net) {
  return { cost: net.cost, layers: net.layers.map((L) => ({ activation: L.activation, W: L.W.map((r) => r.slice()),
                                                              b: L.b.slice() })) };
}
// A working copy of an embedded network (a weights file may give one bias per layer; the page keeps one per unit)
function normalise(net) {
  return cloneNet({ cost: net.cost, layers: net.layers.map((L) => ({ activation: L.activation, W: L.W,
    b: Array.isArray(L.b) ? L.b : L.W.map(() => L.b) })) });
}

// z^l = W^l a^(l-1) + b^l, a^l = g(z^l); `nudge` = {layer, unit, dz} adds dz to one z (the demon)
function feedforward(net, x, nudge) {
  const zs = [], as = [x];
  net.layers.forEach((L, i) => {
    const prev = as[i];
    const z = L.W.map((row, j) => { let s = 0; for (let k = 0; k < row.length; k++) s += row[k] * prev[k]; return s + L.b[j]; });
    if (nudge && nudge.layer === i) z[nudge.unit] += nudge.dz;
    zs.push(z);
    as.push(activate(L.activation, z));
  });
  return { zs, as };
}

function outputError(net, z, a, y) {
  const g = net.layers[net.layers.length - 1].activation, cost = COST[net.cost];
  const k = cost.shortcut[g];
  if (k !== undefined) return a.map((v, j) => k * (v - y[j]));  // (BP1) the matched pair's shortcut k (a - y)
  return activationBackward(g, z, a, cost.grad(a, y));          // (BP1) grad_a C (.) g'(z), or softmax's Jacobian
}

// One example's forward pass and BP1-BP4: deltas[i], gW[i], gb[i] belong to net.layers[i]
function backprop(net, x, y) {
  const { zs, as } = feedforward(net, x);
  const n = net.layers.length;
  const deltas = new Array(n), gW = new Array(n), gb = new Array(n);
  deltas[n - 1] = outputError(net, zs[n - 1], as[n], y);                               // (BP1)
  for (let i = n - 1; i >= 0; i--) {
    const d = deltas[i];
    gb[i] = d.slice();                                                                 // (BP3) dC/db = delta
    gW[i] = d.map((dj) => as[i].map((ak) => dj * ak));                                 // (BP4) dC/dW = delta a^T
    if (i > 0) {
      const W = net.layers[i].W, t = new Array(W[0].length).fill(0);
      for (let j = 0; j < W.length; j++) for (let k = 0; k < t.length; k++) t[k] += W[j][k] * d[j];
      deltas[i - 1] = activationBackward(net.layers[i - 1].activation, zs[i - 1], as[i], t);  // (BP2)
    }
  }
  return { zs, as, deltas, gW, gb, cost: COST[net.cost].value(as[n], y) };
}

const costOf = (net, x, y, nudge) => COST[net.cost].value(feedforward(net, x, nudge).as[net.layers.length], y);

function meanCost(net, X, Y) {
  let s = 0;
  for (let r = 0; r < X.length; r++) s += costOf(net, X[r], Y[r]);
  return s / X.length;
}

// Plain SGD (deltaprop.SGD): W <- W - eta/m sum_x delta a^T, b <- b - eta/m sum_x delta. Returns the batch cost.
function sgdStep(net, X, Y, batch, eta) {
  const sumW = net.layers.map((L) => L.W.map((r) => r.map(() => 0)));
  const sumB = net.layers.map((L) => L.b.map(() => 0));
  let cost = 0;
  for (const r of batch) {
    const g = backprop(net, X[r], Y[r]);
    cost += g.cost;
    net.layers.forEach((L, i) => {
      for (let j = 0; j < L.W.length; j++) {
        sumB[i][j] += g.gb[i][j];
        for (let k = 0; k < L.W[j].length; k++) sumW[i][j][k] += g.gW[i][j][k];
      }
    });
  }
  const scale = eta / batch.length;
  net.layers.forEach((L, i) => {
    for (let j = 0; j < L.W.length; j++) {
      L.b[j] -= scale * sumB[i][j];
      for (let k = 0; k < L.W[j].length; k++) L.W[j][k] -= scale * sumW[i][j][k];
    }
  });
  return cost / batch.length;
}

// mulberry32: deltaprop.explore.PageRandom, bit for bit
function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}
// Fisher-Yates, j = r mod (i + 1): deltaprop.explore.page_permutation
function permutation(rng, n) {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) { const j = rng() % (i + 1); const t = p[i]; p[i] = p[j]; p[j] = t; }
  return p;
}
// Each epoch a fresh permutation cut into batches, the last possibly smaller: deltaprop.explore.page_batches
class Batches {
  constructor(n, seed) { this.n = n; this.rng = mulberry32(seed); this.order = null; this.pos = n; this.epoch = 0; }
  next(size) {
    if (this.pos >= this.n) { this.order = permutation(this.rng, this.n); this.pos = 0; this.epoch++; }
    const batch = this.order.slice(this.pos, Math.min(this.pos + size, this.n));
    this.pos += batch.length;
    return batch;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting: 6 significant digits as text, the full float64 in data-value.
// ---------------------------------------------------------------------------------------------
function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}
function setNum(el, v) { if (!el) return; el.textContent = fmt(v); el.dataset.value = String(v); }
function clearNum(el) { if (!el) return; el.textContent = ""; delete el.dataset.value; }
const vec = (v) => "[" + v.map(fmt).join(", ") + "]";
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function diverging(v, limit) {  // blue (-limit) .. white (0) .. red (+limit), as deltaprop.draw
  const t = Math.max(-1, Math.min(1, v / limit));
  const end = t > 0 ? [214, 39, 40] : [31, 119, 180];
  return "rgb(" + end.map((e) => Math.round(255 + (e - 255) * Math.abs(t))).join(",") + ")";
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------
const S = {
  net: normalise(DATA.network),
  x: DATA.example.x, y: DATA.example.y,
  bp: null,              // backprop of the example with the current weights
  step: 0,
  colorBy: "a",
  selectedParam: null, selectedUnit: null,
  train: null,
};
const nLayers = () => S.net.layers.length;
const sizes = () => [S.net.layers[0].W[0].length].concat(S.net.layers.map((L) => L.W.length));
const maxStep = () => 2 * nLayers() + 1;
// steps: 0 input; 1..L forward through layers[0..L-1]; L+1 the cost; L+2.. backward from the output layer
const forwardDone = (i) => S.step >= 1 + i;
const costDone = () => S.step >= nLayers() + 1;
const backwardDone = (i) => S.step >= nLayers() + 2 + (nLayers() - 1 - i);
const currentLayer = () => {  // the layer the current step works on, as a diagram column (0 = input), or null
  const L = nLayers();
  if (S.step <= L) return S.step;
  if (S.step === L + 1) return null;
  return L - (S.step - L - 2);
};

function recompute() { S.bp = backprop(S.net, S.x, S.y); }

// ---------------------------------------------------------------------------------------------
// The stepper: which equation, worked for one unit
// ---------------------------------------------------------------------------------------------
function terms(products, limit) {
  const shown = products.slice(0, limit).join(" + ");
  return products.length > limit ? shown + " + …" : shown;
}

function outputErrorText() {
  const g = S.net.layers[nLayers() - 1].activation, cost = COST[S.net.cost];
  const k = cost.shortcut[g];
  if (k !== undefined) {
    return "δ<sup>L</sup> = " + (k === 1 ? "" : k + " ") + "(a<sup>L</sup> − y), the " + g + " + " + S.net.cost +
      " shortcut of ∇<sub>a</sub>C ⊙ g′(z<sup>L</sup>)";
  }
  if (g === "softmax") return "δ<sup>L</sup><sub>j</sub> = Σ<sub>k</sub> ∂C/∂a<sub>k</sub> · ∂a<sub>k</sub>/∂z<sub>j</sub> (softmax: the general form)";
  return "δ<sup>L</sup> = ∇<sub>a</sub>C ⊙ g′(z<sup>L</sup>) with ∇<sub>a</sub>C = " + cost.gradText + ", " + ACT[g].primeText;
}

function stepText() {
  const L = nLayers(), bp = S.bp, s = S.step;
  if (s === 0) return ["Layer 1, the input: a<sup>1</sup> = x", "a1 = " + vec(S.x)];
  if (s <= L) {
    const i = s - 1, l = i + 2, Lr = S.net.layers[i], g = Lr.activation;
    const prods = Lr.W[0].map((w, k) => fmt(w) + "·" + fmt(bp.as[i][k]));
    const worked = "unit 0: z = " + terms(prods, 6) + " + " + fmt(Lr.b[0]) + " = " + fmt(bp.zs[i][0]) +
      ",  a = " + ACT[g].text + "(z) = " + fmt(bp.as[i + 1][0]);
    return ["Layer " + l + ": z<sup>" + l + "</sup> = W<sup>" + l + "</sup> a<sup>" + (l - 1) + "</sup> + b<sup>" + l +
            "</sup>, &nbsp; a<sup>" + l + "</sup> = " + ACT[g].text + "(z<sup>" + l + "</sup>)", worked];
  }
  if (s === L + 1) {
    return ["The cost: " + COST[S.net.cost].text + " = " + fmt(bp.cost),
            "a" + (L + 1) + " = " + vec(bp.as[L]) + ",  y = " + vec(S.y)];
  }
  const i = L - 1 - (s - L - 2), l = i + 2, d = bp.deltas[i];
  const grads = " &nbsp; ∂C/∂b<sup>" + l + "</sup> = δ<sup>" + l + "</sup> (BP3), &nbsp; ∂C/∂W<sup>" + l +
    "</sup> = δ<sup>" + l + "</sup> (a<sup>" + (l - 1) + "</sup>)<sup>T</sup> (BP4)";
  const gradWorked = ";  ∂C/∂w_00 = δ_0·a_0 = " + fmt(d[0]) + "·" + fmt(bp.as[i][0]) + " = " + fmt(bp.gW[i][0][0]);
  if (i === L - 1) {
    const g = S.net.layers[i].activation, cost = COST[S.net.cost];
    let worked;
    if (cost.shortcut[g] !== undefined) {
      worked = "unit 0: δ = " + (cost.shortcut[g] === 1 ? "" : cost.shortcut[g] + "·") + "(" + fmt(bp.as[L][0]) + " − " +
        fmt(S.y[0]) + ") = " + fmt(d[0]);
    } else if (g !== "softmax") {
      const gradA = cost.grad(bp.as[L], S.y)[0], gp = ACT[g].prime(bp.zs[i][0], bp.as[L][0]);
      worked = "unit 0: δ = ∂C/∂a · g′(z) = " + fmt(gradA) + "·" + fmt(gp) + " = " + fmt(d[0]);
    } else {
      worked = "unit 0: δ = " + fmt(d[0]);
    }
    return ["Layer " + l + " (output): " + outputErrorText() + " &nbsp;(BP1)" + grads, worked + gradWorked];
  }
  const Wn = S.net.layers[i + 1].W, dn = bp.deltas[i + 1], g = S.net.layers[i].activation;
  const prods = Wn.map((row, j) => fmt(row[0]) + "·" + fmt(dn[j]));
  const gp = ACT[g].prime(bp.zs[i][0], bp.as[i + 1][0]);
  return ["Layer " + l + ": δ<sup>" + l + "</sup> = ((W<sup>" + (l + 1) + "</sup>)<sup>T</sup> δ<sup>" + (l + 1) +
          "</sup>) ⊙ g′(z<sup>" + l + "</sup>) &nbsp;(BP2)" + grads,
          "unit 0: δ = (" + terms(prods, 6) + ")·" + fmt(gp) + " = " + fmt(d[0]) + gradWorked];
}

// ---------------------------------------------------------------------------------------------
// The diagram (SVG)
// ---------------------------------------------------------------------------------------------
const LABELLED = 12;  // layers of at most 12 units show z, a, delta beside each unit (as deltaprop.draw)

function renderDiagram() {
  const sz = sizes(), tallest = Math.max(...sz);
  const dy = Math.max(9, Math.min(52, 620 / tallest)), r = Math.max(3.5, Math.min(14, dy * 0.32));
  const dx = 190, top = 50, left = 22;
  const width = left + dx * (sz.length - 1) + 150, height = top + dy * tallest + 10;
  const pos = (c, u) => [left + r + c * dx, top + (tallest - sz[c]) * dy / 2 + u * dy + dy / 2];
  const bp = S.bp, parts = [];
  // scaled to the section's width, up to 1.6 times its natural size
  parts.push('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ' + width + " " + height + '" style="width: 100%; max-width: ' +
             Math.round(1.6 * width) + 'px">');
  const cur = currentLayer();
  if (cur !== null) parts.push('<rect class="current" x="' + (left + cur * dx - 8) + '" y="' + (top - 8) + '" width="' +
                               (2 * r + 16 + (sz[cur] <= LABELLED ? 92 : 0)) + '" height="' + (dy * tallest + 12) + '" rx="6"/>');
  let wmax = 0;
  for (const L of S.net.layers) for (const row of L.W) for (const w of row) wmax = Math.max(wmax, Math.abs(w));
  wmax = wmax || 1;
  S.net.layers.forEach((L, i) => {
    L.W.forEach((row, j) => row.forEach((w, k) => {
      const [x1, y1] = pos(i, k), [x2, y2] = pos(i + 1, j);
      const sel = S.selectedParam === "W-" + i + "-" + j + "-" + k ? " selected" : "";
      parts.push('<line class="edge' + sel + '" data-layer="' + i + '" data-j="' + j + '" data-k="' + k + '" data-value="' +
        w + '" x1="' + (x1 + r) + '" y1="' + y1 + '" x2="' + (x2 - r) + '" y2="' + y2 + '" stroke="' +
        (w > 0 ? "#d62728" : "#1f77b4") + '" stroke-opacity="0.7" stroke-width="' + (0.4 + 3.6 * Math.abs(w) / wmax).toFixed(2) +
        '"><title>w[l=' + (i + 2) + '][' + j + '][' + k + '] = ' + fmt(w) + '</title></line>');
    }));
  });
  // colours: a (x for the input) or delta, where computed
  const colour = (c, u) => {
    if (S.colorBy === "a") {
      if (c === 0) return S.x[u];
      return forwardDone(c - 1) ? bp.as[c][u] : null;
    }
    return c > 0 && backwardDone(c - 1) ? bp.deltas[c - 1][u] : null;
  };
  let cmax = 0;
  sz.forEach((n, c) => { for (let u = 0; u < n; u++) { const v = colour(c, u); if (v !== null) cmax = Math.max(cmax, Math.abs(v)); } });
  cmax = cmax || 1;
  sz.forEach((n, c) => {
    const [cx] = pos(c, 0);
    const title = c === 0 ? "layer 1: input" : "layer " + (c + 1) + ": " + S.net.layers[c - 1].activation;
    parts.push('<text class="title" x="' + (cx - r) + '" y="16">' + esc(title) + '</text><text x="' + (cx - r) +
               '" y="30">' + n + ' unit' + (n === 1 ? "" : "s") + '</text>');
    for (let u = 0; u < n; u++) {
      const [ux, uy] = pos(c, u), v = colour(c, u);
      const fill = v === null ? "#fff" : diverging(v, cmax);
      const sel = c > 0 && S.selectedUnit === (c - 1) + "-" + u ? " selected" : "";
      parts.push('<circle class="unit' + sel + '" data-layer="' + (c - 1) + '" data-unit="' + u + '" cx="' + ux + '" cy="' + uy +
                 '" r="' + r + '" fill="' + fill + '"><title>' + (c === 0 ? "x" : "layer " + (c + 1) + " unit") + " " + u + '</title></circle>');
      if (n > LABELLED) continue;
      const lines = [];
      if (c === 0) lines.push(["x", S.x[u]]);
      else {
        if (forwardDone(c - 1)) { lines.push(["z", bp.zs[c - 1][u]]); lines.push(["a", bp.as[c][u]]); }
        if (backwardDone(c - 1)) lines.push(["δ", bp.deltas[c - 1][u]]);
      }
      lines.forEach(([q, val], m) => {
        parts.push('<text class="label" data-quantity="' + q + '" data-layer="' + (c - 1) + '" data-unit="' + u +
                   '" data-value="' + val + '" x="' + (ux + r + 4) + '" y="' + (uy - 10 + 12 * m + (lines.length === 1 ? 10 : 0)) +
                   '">' + q + "=" + fmt(val) + '</text>');
      });
    }
  });
  parts.push("</svg>");
  $("diagram").innerHTML = parts.join("");
}

// ---------------------------------------------------------------------------------------------
// Tables of numbers (ids: z-i-j, a-i-j, delta-i-j, db-i-j, dW-i-j-k, W-i-j-k, b-i-j, x-k)
// ---------------------------------------------------------------------------------------------
function buildTables() {
  const sz = sizes(), rows = ['<caption>layers[i] is layer l = i + 2; rows appear as the stepper reaches them</caption>',
    "<tr><th>l</th><th>unit</th><th>z</th><th>a</th><th>δ = ∂C/∂z</th></tr>"];
  for (let k = 0; k < sz[0]; k++) rows.push("<tr><td>1</td><td>" + k + '</td><td></td><td id="x-' + k + '"></td><td></td></tr>');
  S.net.layers.forEach((L, i) => {
    for (let j = 0; j < L.W.length; j++) {
      rows.push("<tr><td>" + (i + 2) + "</td><td>" + j + '</td><td id="z-' + i + "-" + j + '"></td><td id="a-' + i + "-" + j +
                '"></td><td id="delta-' + i + "-" + j + '"></td></tr>');
    }
  });
  $("values-table").innerHTML = rows.join("");
  const matrix = (prefix, bias, i, L, caption) => {
    const out = ['<table class="numbers"><caption>' + caption + "</caption><tr><th></th>"];
    for (let k = 0; k < L.W[0].length; k++) out.push("<th>k=" + k + "</th>");
    out.push("<th>" + bias + "</th></tr>");
    for (let j = 0; j < L.W.length; j++) {
      out.push("<tr><th>j=" + j + "</th>");
      for (let k = 0; k < L.W[0].length; k++) out.push('<td id="' + prefix + "-" + i + "-" + j + "-" + k + '"></td>');
      out.push('<td id="' + bias + "-" + i + "-" + j + '"></td></tr>');
    }
    out.push("</table>");
    return out.join("");
  };
  $("gradients").innerHTML = S.net.layers.map((L, i) =>
    matrix("dW", "db", i, L, "layer " + (i + 2) + ": ∂C/∂W[j][k] (BP4) and ∂C/∂b[j] (BP3)")).join("");
  $("weights").innerHTML = S.net.layers.map((L, i) =>
    matrix("W", "b", i, L, "layer " + (i + 2) + " (" + L.activation + "): W[j][k] joins unit k of layer " + (i + 1) +
           " to unit j, and b[j]")).join("");
}

function renderTables() {
  const bp = S.bp;
  S.x.forEach((v, k) => setNum($("x-" + k), v));
  S.net.layers.forEach((L, i) => {
    const fw = forwardDone(i), bw = backwardDone(i);
    for (let j = 0; j < L.W.length; j++) {
      if (fw) { setNum($("z-" + i + "-" + j), bp.zs[i][j]); setNum($("a-" + i + "-" + j), bp.as[i + 1][j]); }
      else { clearNum($("z-" + i + "-" + j)); clearNum($("a-" + i + "-" + j)); }
      if (bw) setNum($("delta-" + i + "-" + j), bp.deltas[i][j]); else clearNum($("delta-" + i + "-" + j));
      if (bw) setNum($("db-" + i + "-" + j), bp.gb[i][j]); else clearNum($("db-" + i + "-" + j));
      for (let k = 0; k < L.W[j].length; k++) {
        if (bw) setNum($("dW-" + i + "-" + j + "-" + k), bp.gW[i][j][k]); else clearNum($("dW-" + i + "-" + j + "-" + k));
      }
    }
  });
  renderWeights();
  $("example-x").textContent = vec(S.x);
  $("example-y").textContent = vec(S.y);
  if (costDone()) setNum($("cost"), bp.cost); else clearNum($("cost"));
  $("cost-formula").textContent = COST[S.net.cost].text;
}

function renderWeights() {
  S.net.layers.forEach((L, i) => {
    for (let j = 0; j < L.W.length; j++) {
      setNum($("b-" + i + "-" + j), L.b[j]);
      for (let k = 0; k < L.W[j].length; k++) setNum($("W-" + i + "-" + j + "-" + k), L.W[j][k]);
    }
  });
}

function renderStep() {
  const [equation, worked] = stepText();
  $("equation").innerHTML = equation;
  $("worked").textContent = worked;
  $("stepper").dataset.step = String(S.step);
  $("step-index").textContent = "step " + S.step + " of " + maxStep();
  $("step-start").disabled = $("step-back").disabled = S.step === 0;
  $("step-next").disabled = $("step-end").disabled = S.step === maxStep();
}

function render() { recompute(); renderStep(); renderDiagram(); renderTables(); renderDemon(); }

// ---------------------------------------------------------------------------------------------
// The demon: nudge a weight (or bias) by dw, or a z_j by dz
// ---------------------------------------------------------------------------------------------
function buildDemon() {
  const params = [], units = [];
  S.net.layers.forEach((L, i) => {
    for (let j = 0; j < L.W.length; j++) {
      for (let k = 0; k < L.W[j].length; k++) params.push(["W-" + i + "-" + j + "-" + k, "w[l=" + (i + 2) + "][" + j + "][" + k + "]"]);
      params.push(["b-" + i + "-" + j, "b[l=" + (i + 2) + "][" + j + "]"]);
      units.push([i + "-" + j, "z[l=" + (i + 2) + "][" + j + "]"]);
    }
  });
  $("nudge-param").innerHTML = params.map(([v, t]) => '<option value="' + v + '">' + t + "</option>").join("");
  $("nudge-unit").innerHTML = units.map(([v, t]) => '<option value="' + v + '">' + t + "</option>").join("");
  S.selectedParam = params[0][0];
  S.selectedUnit = units[0][0];
}

function withParam(net, key, delta) {  // a copy of net with one weight or bias moved by delta
  const copy = cloneNet(net), p = key.split("-");
  const i = +p[1], j = +p[2];
  if (p[0] === "W") copy.layers[i].W[j][+p[3]] += delta; else copy.layers[i].b[j] += delta;
  return copy;
}
function gradientOf(key) {
  const p = key.split("-");
  return p[0] === "W" ? S.bp.gW[+p[1]][+p[2]][+p[3]] : S.bp.gb[+p[1]][+p[2]];
}

function plot(svgId, f, slope, at) {  // the true change (solid) and the tangent (dashed) over [-1, 1]
  const w = 300, h = 110, n = 41, xs = [], ys = [];
  for (let m = 0; m < n; m++) { const t = -1 + 2 * m / (n - 1); xs.push(t); ys.push(f(t)); }
  const tangent = xs.map((t) => slope * t);
  let lo = Math.min(...ys, ...tangent), hi = Math.max(...ys, ...tangent);
  if (!(hi > lo)) { lo -= 1; hi += 1; }
  const X = (t) => 8 + (t + 1) / 2 * (w - 16), Y = (v) => h - 8 - (v - lo) / (hi - lo) * (h - 16);
  const line = (vals) => xs.map((t, m) => X(t).toFixed(1) + "," + Y(vals[m]).toFixed(1)).join(" ");
  $(svgId).innerHTML = '<line x1="' + X(-1) + '" x2="' + X(1) + '" y1="' + Y(0) + '" y2="' + Y(0) + '" stroke="#ccc"/>' +
    '<line x1="' + X(0) + '" x2="' + X(0) + '" y1="4" y2="' + (h - 4) + '" stroke="#ccc"/>' +
    '<polyline fill="none" stroke="#222" stroke-width="1.6" points="' + line(ys) + '"/>' +
    '<polyline fill="none" stroke="#d62728" stroke-dasharray="4 3" points="' + line(tangent) + '"/>' +
    '<circle cx="' + X(at) + '" cy="' + Y(f(at)) + '" r="3.5" fill="#222"/>';
}

function renderDemon() {
  const c0 = S.bp.cost;
  // a weight or bias
  const key = S.selectedParam, dw = parseFloat($("nudge-w").value) || 0;
  const grad = gradientOf(key);
  const changeW = (t) => costOf(withParam(S.net, key, t), S.x, S.y) - c0;
  setNum($("nudge-w-amount"), dw);
  setNum($("nudge-w-dC"), changeW(dw));
  setNum($("nudge-w-pred"), grad * dw);   // first order: dC/dw dw (BP3, BP4)
  setNum($("nudge-w-grad"), grad);
  plot("nudge-w-plot", changeW, grad, dw);
  // a weighted input z_j
  const [i, j] = S.selectedUnit.split("-").map(Number), dz = parseFloat($("nudge-z").value) || 0;
  const delta = S.bp.deltas[i][j];
  const changeZ = (t) => costOf(S.net, S.x, S.y, { layer: i, unit: j, dz: t }) - c0;
  setNum($("nudge-z-amount"), dz);
  setNum($("nudge-z-dC"), changeZ(dz));
  setNum($("nudge-z-pred"), delta * dz);  // first order: delta_j dz, delta = dC/dz
  setNum($("nudge-z-delta"), delta);
  plot("nudge-z-plot", changeZ, delta, dz);
}

// ---------------------------------------------------------------------------------------------
// Training on a 2-D data set
// ---------------------------------------------------------------------------------------------
function decide(a) {  // deltaprop.core.network.decide: a > 0.5 for one output, else the largest
  if (a.length === 1) return a[0] > 0.5 ? 1 : 0;
  let best = 0;
  for (let j = 1; j < a.length; j++) if (a[j] > a[best]) best = j;
  return best;
}
const CLASS_COLOURS = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [148, 103, 189], [140, 86, 75],
                       [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207], [214, 39, 40]];

function trainReset(keepCosts) {
  const T = S.train, D = DATA.train;
  S.net = normalise(D.inits[T.init].network);
  T.batches = new Batches(D.X.length, D.seed);
  T.steps = 0;
  T.lastBatchCost = null;
  T.costs = keepCosts ? T.costs : [meanCost(S.net, D.X, D.Y)];
}

function readSettings() {
  const eta = parseFloat($("train-eta").value), batch = Number($("train-batch").value);
  const n = DATA.train.X.length;
  if (!(eta > 0 && Number.isFinite(eta))) return "η must be a positive number";
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= n)) return "the batch size must be a whole number from 1 to " + n;
  S.train.eta = eta; S.train.batch = batch;
  return null;
}

function trainSteps(count) {
  const error = readSettings();
  $("train-error").textContent = error || "";
  if (error) { stopTraining(); return false; }
  const T = S.train, D = DATA.train;
  for (let s = 0; s < count; s++) {
    const batch = T.batches.next(T.batch);
    T.lastBatchCost = sgdStep(S.net, D.X, D.Y, batch, T.eta);
    T.steps++;
    const c = meanCost(S.net, D.X, D.Y);
    T.costs.push(c);
    if (!Number.isFinite(c)) { $("train-error").textContent = "the cost is no longer finite: try a smaller η"; stopTraining(); break; }
  }
  return true;
}

function renderTraining() {
  const T = S.train, D = DATA.train;
  setNum($("train-steps"), T.steps);
  $("train-epoch").textContent = String(Math.max(T.batches.epoch, 1));
  setNum($("train-cost"), T.costs[T.costs.length - 1]);
  let right = 0;
  for (let r = 0; r < D.X.length; r++) if (decide(feedforward(S.net, D.X[r]).as[nLayers()]) === D.labels[r]) right++;
  setNum($("train-accuracy"), right / D.X.length);
  if (T.lastBatchCost === null) { clearNum($("train-batch-cost")); $("train-batch-cost").textContent = "–"; }
  else setNum($("train-batch-cost"), T.lastBatchCost);
  drawBoundary();
  drawCostCurve();
}

const GRID = 50;  // the decision boundary is computed on GRID x GRID points and scaled up
let gridCanvas = null;
function drawBoundary() {
  const D = DATA.train, canvas = $("boundary"), ctx = canvas.getContext("2d");
  const [x0, x1, y0, y1] = D.bounds, W = canvas.width, H = canvas.height;
  const out = sizes()[sizes().length - 1];
  if (!gridCanvas) { gridCanvas = document.createElement("canvas"); gridCanvas.width = gridCanvas.height = GRID; }
  const gctx = gridCanvas.getContext("2d"), image = gctx.createImageData(GRID, GRID);
  for (let gy = 0; gy < GRID; gy++) {
    for (let gx = 0; gx < GRID; gx++) {
      const p = [x0 + (gx + 0.5) / GRID * (x1 - x0), y1 - (gy + 0.5) / GRID * (y1 - y0)];
      const a = feedforward(S.net, p).as[nLayers()];
      let rgb, strength;
      if (out === 1) { const v = Math.max(0, Math.min(1, a[0])); rgb = v > 0.5 ? CLASS_COLOURS[1] : CLASS_COLOURS[0]; strength = Math.abs(v - 0.5) * 2; }
      else { const c = decide(a); rgb = CLASS_COLOURS[c % 10]; strength = Math.max(0, Math.min(1, (a[c] - 1 / out) / (1 - 1 / out))); }
      const mix = 0.15 + 0.45 * strength, at = 4 * (gy * GRID + gx);
      for (let m = 0; m < 3; m++) image.data[at + m] = Math.round(255 + (rgb[m] - 255) * mix);
      image.data[at + 3] = 255;
    }
  }
  gctx.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(gridCanvas, 0, 0, W, H);
  D.X.forEach((p, r) => {
    const px = (p[0] - x0) / (x1 - x0) * W, py = (y1 - p[1]) / (y1 - y0) * H;
    ctx.beginPath(); ctx.arc(px, py, 3, 0, 2 * Math.PI);
    ctx.fillStyle = "rgb(" + CLASS_COLOURS[D.labels[r] % 10].join(",") + ")"; ctx.fill();
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
  });
}

function drawCostCurve() {
  const costs = S.train.costs, canvas = $("cost-curve"), ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 64;
  ctx.clearRect(0, 0, W, H);
  const finite = costs.filter(Number.isFinite), hi = Math.max(...finite, 1e-12);
  const n = Math.max(costs.length - 1, 1);
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(pad, 10); ctx.lineTo(pad, H - pad); ctx.lineTo(W - 10, H - pad); ctx.stroke();
  ctx.fillStyle = "#444"; ctx.font = "12px sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(fmt(hi), pad - 4, 16); ctx.fillText("0", pad - 4, H - pad + 4);
  ctx.fillText("step " + (costs.length - 1), W - 10, H - pad + 18);
  ctx.fillText("training cost C (the mean over " + DATA.train.X.length + " points) after each step", W - 10, 22);
  ctx.textAlign = "left";
  ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.8; ctx.beginPath();
  const every = Math.max(1, Math.floor(costs.length / (2 * W)));  // at most two points per pixel, and the last
  const shown = [];
  for (let s = 0; s < costs.length; s += every) shown.push(s);
  if (shown[shown.length - 1] !== costs.length - 1) shown.push(costs.length - 1);
  for (const s of shown) {
    const c = costs[s];
    if (!Number.isFinite(c)) continue;
    const px = pad + s / n * (W - pad - 10), py = H - pad - c / hi * (H - pad - 10);
    if (s === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  }
  ctx.stroke();
}

let frame = 0;
function loop() {
  if (!S.train.running) return;
  if (!trainSteps(Number($("train-speed").value))) return;
  frame++;
  recompute(); renderDiagram(); renderTraining();
  if (frame % 10 === 0) { renderTables(); renderStep(); renderDemon(); }
  if (S.train.running) requestAnimationFrame(loop);
}
function stopTraining() {
  if (!S.train) return;
  S.train.running = false;
  $("train-run").textContent = "▶ train";
}
function afterTrainingChange() { render(); renderTraining(); }

function setupTraining() {
  const D = DATA.train;
  if (!D) return;
  $("train-section").hidden = false;
  $("train-name").textContent = D.name;
  $("train-seed").textContent = String(D.seed);
  $("train-eta").value = String(D.eta);
  $("train-batch").value = String(D.batch_size);
  $("train-batch").max = String(D.X.length);
  $("train-activation").innerHTML = D.inits.map((init, m) => '<option value="' + m + '">' + esc(init.label) + "</option>").join("");
  $("train-activation").parentElement.hidden = D.inits.length === 1;  // no hidden layer: nothing to choose
  S.train = { init: 0, running: false, eta: D.eta, batch: D.batch_size };
  trainReset(false);
  $("train-run").addEventListener("click", () => {
    if (S.train.running) { stopTraining(); afterTrainingChange(); return; }
    S.train.running = true; $("train-run").textContent = "⏸ pause"; requestAnimationFrame(loop);
  });
  $("train-step").addEventListener("click", () => { stopTraining(); if (trainSteps(1)) afterTrainingChange(); });
  $("train-reset").addEventListener("click", () => { stopTraining(); trainReset(false); afterTrainingChange(); });
  $("train-activation").addEventListener("change", () => {
    stopTraining(); S.train.init = Number($("train-activation").value); trainReset(false); afterTrainingChange();
  });
  renderTraining();
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------
function goTo(step) { S.step = Math.max(0, Math.min(maxStep(), step)); render(); }

function setup() {
  $("summary").textContent = DATA.summary;
  buildTables();
  buildDemon();
  $("step-start").addEventListener("click", () => goTo(0));
  $("step-back").addEventListener("click", () => goTo(S.step - 1));
  $("step-next").addEventListener("click", () => goTo(S.step + 1));
  $("step-end").addEventListener("click", () => goTo(maxStep()));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight") goTo(S.step + 1);
    else if (e.key === "ArrowLeft") goTo(S.step - 1);
    else if (e.key === "Home") goTo(0);
    else if (e.key === "End") goTo(maxStep());
  });
  $("color-by").addEventListener("change", () => { S.colorBy = $("color-by").value; renderDiagram(); });
  $("nudge-param").addEventListener("change", () => { S.selectedParam = $("nudge-param").value; renderDiagram(); renderDemon(); });
  $("nudge-unit").addEventListener("change", () => { S.selectedUnit = $("nudge-unit").value; renderDiagram(); renderDemon(); });
  $("nudge-w").addEventListener("input", renderDemon);
  $("nudge-z").addEventListener("input", renderDemon);
  $("diagram").addEventListener("click", (e) => {
    const t = e.target.closest ? e.target.closest(".edge, .unit") : null;
    if (!t) return;
    if (t.classList.contains("edge")) {
      S.selectedParam = "W-" + t.dataset.layer + "-" + t.dataset.j + "-" + t.dataset.k;
      $("nudge-param").value = S.selectedParam;
    } else if (Number(t.dataset.layer) >= 0) {
      S.selectedUnit = t.dataset.layer + "-" + t.dataset.unit;
      $("nudge-unit").value = S.selectedUnit;
    }
    renderDiagram(); renderDemon();
  });
  setupTraining();
  S.step = DATA.opened === "end" ? maxStep() : 0;
  render();
  document.body.dataset.ready = "true";
}

setup();
})();
"""
