"""Reverse mode step by step: the forward values, each operation's local derivatives, the backward visits.

:func:`reverse_mode_steps` runs the engine's own backward pass (:func:`~deltaprop.autodiff.engine.backpropagate`
with a ``trace``) and writes down what it does, in three parts:

1. the forward pass, every value after its inputs (the graph's topological order);
2. the local derivatives: for each operation, the derivative of its output with respect to each
   input, at these values (for an elementwise operation on arrays the diagonal of its Jacobian,
   ``diag [...]``; for others, such as ``@``, the Jacobian is only ever applied by the rule);
3. the backward pass, value by value in reverse topological order: when a value is visited its
   gradient is complete (every value computed from it has been visited and has sent its share),
   and it sends ``gradient x local derivative`` to each of its inputs, where the shares add up:
   the running sum is printed after each one (004: the sum over all paths).

>>> from deltaprop.autodiff import Tensor
>>> a, b = Tensor(3.0, label="a"), Tensor(4.0, label="b")
>>> p = a * b
>>> p.label = "p"
>>> print(reverse_mode_steps(p))
forward pass (every value after its inputs)
  a = 3    (input)
  b = 4    (input)
  p = a * b = 12
<BLANKLINE>
local derivatives (of each operation's output with respect to each input, at these values)
  p = a * b:    dp/da = 4    dp/db = 3
<BLANKLINE>
backward pass (reverse mode: a value is visited once every value computed from it has sent its share)
  1. visit p: dp/dp = 1 (the seed)
       -> a: 1 x 4 = 4    dp/da so far 4
       -> b: 1 x 3 = 3    dp/db so far 3
  2. visit b: dp/db = 3    (an input: done)
  3. visit a: dp/da = 4    (an input: done)
"""

from __future__ import annotations

import numpy as np

from .dot import _summary
from .engine import backpropagate, make_seed, topological_order
from .tensor import Tensor

__all__ = ["node_names", "reverse_mode_steps"]

_BINARY = {"+", "-", "*", "/", "**", "@"}


def node_names(root: Tensor) -> dict:
    """A name for every value of ``root``'s graph: its label, a constant's value, else ``v0``, ``v1``, ..."""
    names, counter = {}, 0
    for node in topological_order(root, follow_constants=True):
        if node.label is not None:
            names[node] = node.label
        elif not node.requires_grad and not node._parents and node.size == 1:
            names[node] = _summary(node.data)  # a number in the formula: 2 b
        else:
            names[node] = f"v{counter}"
            counter += 1
    return names


def _formula(node, names) -> str:
    parents = [names[p] for p in node._parents]
    if node._op in _BINARY and len(parents) == 2:
        return f"{parents[0]} {node._op} {parents[1]}"
    return f"{node._op}({', '.join(parents)})"


_ELEMENTWISE = {"+", "-", "*", "/", "**", "neg", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu",
                "clip", "input"}


def _local(node, parent_index):
    """``d node / d parent``: a number for one-number values; for an elementwise operation between
    arrays of one shape, the diagonal of its Jacobian (``("diag", array)``); otherwise None -- the
    Jacobian is applied by the operation's rule, never written down."""
    parent = node._parents[parent_index]
    elementwise = node._op in _ELEMENTWISE and parent.shape == node.shape
    if not (node.size == 1 and parent.size == 1) and not elementwise:
        return None
    rule = node._rules[parent_index]
    value = rule(np.ones(node.shape, node.dtype), node.data, *(p.data for p in node._parents))
    return value if node.size == 1 else ("diag", value)


def _shown(local, op) -> str:
    if local is None:
        return f"(a Jacobian, applied by the rule of {op!r})"
    if isinstance(local, tuple):
        return f"diag {_summary(local[1])}"
    return _summary(local)


def reverse_mode_steps(root: Tensor) -> str:
    """The text of the three parts described in the module docstring, for the one-number ``root``."""
    names = node_names(root)
    order = topological_order(root, follow_constants=True)
    r = names[root]
    lines = ["forward pass (every value after its inputs)"]
    for node in order:
        if not node._parents:
            if names[node] != _summary(node.data):  # a named input; numbers in formulas need no line
                kind = "input" if node.requires_grad else "constant"
                lines.append(f"  {names[node]} = {_summary(node.data)}    ({kind})")
        else:
            lines.append(f"  {names[node]} = {_formula(node, names)} = {_summary(node.data)}")

    lines += ["", "local derivatives (of each operation's output with respect to each input, at these values)"]
    for node in order:
        if not node._parents:
            continue
        parts = []
        for i, parent in enumerate(node._parents):
            if not parent.requires_grad:
                continue
            parts.append(f"d{names[node]}/d{names[parent]} = {_shown(_local(node, i), node._op)}")
        if parts:
            lines.append(f"  {names[node]} = {_formula(node, names)}:    " + "    ".join(parts))

    lines += ["", "backward pass (reverse mode: a value is visited once every value computed from it has sent its share)"]
    trace = []
    backpropagate(root, make_seed(root, None, False, "reverse_mode_steps"), store=False, trace=trace)
    step = 0
    for event in trace:
        if event[0] == "visit":
            _, node, g = event
            step += 1
            note = " (the seed)" if node is root else "    (an input: done)" if not node._parents else ""
            lines.append(f"  {step}. visit {names[node]}: d{r}/d{names[node]} = {_summary(g)}{note}")
            current = g
        else:
            _, node, i, contribution, running = event
            parent, local = node._parents[i], _local(node, i)
            if local is None:
                product = _summary(contribution)
            else:
                factor = _summary(local[1] if isinstance(local, tuple) else local)
                product = f"{_summary(current)} x {factor} = {_summary(contribution)}"  # (.) for arrays
            lines.append(f"       -> {names[parent]}: {product}    d{r}/d{names[parent]} so far {_summary(running)}")
    return "\n".join(lines)
