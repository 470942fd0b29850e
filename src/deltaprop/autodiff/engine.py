"""The backward pass: visit a graph once, from the result back, summing every path's contribution.

For a result ``L`` and a value ``v`` used by several operations, the chain rule sums over the
operations (002's first lemma, 004's "sum over all paths")::

    dL/dv = sum over each use u of v:  (dL/du) (du/dv)

Visiting the values in reverse topological order -- every value after all the values computed
from it -- guarantees that ``dL/du`` is complete before it is passed on, so each rule runs once:
the gradient costs a constant factor of the forward pass, O(N) for a circuit of N operations.

The order is found by an explicit-stack depth-first search, not recursion: a chain of 100,000
operations is as easy as a chain of ten.

:class:`~deltaprop.autodiff.Tensor` imports nothing of this module: its :meth:`~Tensor.backward`
and :meth:`~Tensor.zero_grad` are defined here and attached to it at the end.
"""

from __future__ import annotations

import numpy as np

from ..errors import DeltapropError, ShapeError
from . import ops  # noqa: F401 -- gives Tensor the operators that a create_graph pass computes with
from .tensor import Tensor

__all__ = ["topological_order", "backpropagate", "make_seed"]


def topological_order(root: Tensor, follow_constants=False, stop=frozenset()) -> list:
    """Every value ``root`` depends on, each listed after all of its inputs, ``root`` last.

    Only parents with ``requires_grad`` are followed unless ``follow_constants``; the inputs of
    the values in ``stop`` are not explored.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))  # listed once everything pushed after it is done
        if node in stop:
            continue
        for parent in reversed(node._parents):  # reversed: the first input is listed first
            if (follow_constants or parent.requires_grad) and parent not in visited:
                stack.append((parent, False))
    return order


def make_seed(root: Tensor, gradient, create_graph: bool, caller: str):
    """The gradient ``d(result)/d(root)`` that starts a backward pass, checked against ``root``."""
    if gradient is None:
        if root.size != 1:
            raise ShapeError(
                f"{caller} needs a seed gradient for a result of shape {root.shape}: only a single "
                f"number has the implicit seed 1. Reduce the result first (e.g. .sum()) or pass a "
                f"gradient of shape {root.shape}"
            )
        seed = np.ones(root.shape, root.dtype)
    elif isinstance(gradient, Tensor) and create_graph:
        seed = gradient  # a seed that is itself a graph: its gradients flow too
    else:
        seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=root.dtype)
    if seed.shape != root.shape:
        raise ShapeError(f"{caller}: the seed gradient has shape {seed.shape}; it must match the result's shape {root.shape}")
    if create_graph and not isinstance(seed, Tensor):
        seed = Tensor(seed, requires_grad=False)
    return seed


def _unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, to get back to ``shape``."""
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=tuple(range(lead)) + stretched, keepdims=True).reshape(shape)


def _memory_owner(array):
    """The array that owns the memory behind ``array`` (itself unless it is a view)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


class _Exclusive:
    """Hands out gradient arrays that share no memory with one another (copying when they would).

    Within a pass, ``x + y`` gives both inputs the very same array ``g``; a leaf's ``.grad`` must
    be its own, so that updating one in place cannot change another.
    """

    def __init__(self, seed):
        self.owners = {id(_memory_owner(seed))} if isinstance(seed, np.ndarray) else set()

    def __call__(self, g):
        if isinstance(g, Tensor):
            return g
        g = np.asarray(g)
        owner = _memory_owner(g)
        if not g.flags.writeable or id(owner) in self.owners:
            g = owner = g.copy()
        self.owners.add(id(owner))
        return g


def backpropagate(root: Tensor, seed, create_graph=False, store=True, targets=(), trace=None) -> dict:
    """Propagate ``seed = d(result)/d(root)`` back through the graph of ``root``.

    Parameters
    ----------
    root : Tensor
    seed : numpy.ndarray, or Tensor when ``create_graph``
    create_graph : bool
        Run every rule on Tensors, so the gradients are Tensors with graphs of their own.
    store : bool
        Add each value's gradient to its ``.grad`` (``Tensor.backward``); the functional API
        stores nothing.
    targets : sequence of Tensor
        Values whose gradients are returned; their inputs are not explored. When given, only the
        values from which a target can be reached are visited (see :func:`_reaching`): the
        gradient of anything else was not asked for and is never computed.
    trace : list, optional
        Receives the pass as it happens, for teaching (:mod:`deltaprop.autodiff.steps`):
        ``("visit", node, gradient)`` when a value's gradient is complete, then for each of its
        inputs ``("send", node, i, contribution, running_sum)``, ``i`` the input's position.

    Returns
    -------
    dict
        ``{target: gradient}`` for the targets that ``root`` depends on.
    """
    stop = frozenset(targets)
    order = topological_order(root, stop=stop)
    wanted = _reaching(order, stop) if stop else None
    exclusive = _Exclusive(seed)
    pending = {root: seed}  # value -> the sum of the contributions received so far
    owned = set()  # ids of the sums this pass allocated, which it may add into in place
    found = {}
    # no path from the values left out leads to a target: their gradients were never asked for
    visits = reversed(order) if wanted is None else [node for node in reversed(order) if node in wanted]
    for node in visits:
        g = pending.pop(node)
        owned.discard(id(g))
        parents = node._parents
        if not parents or node in stop:
            g = exclusive(g)
            if node in stop:
                found[node] = g
                continue
        if store:
            _store(node, g)
        if trace is not None:
            trace.append(("visit", node, _snapshot(g)))
        if not parents:
            continue
        ans, inputs = (node, parents) if create_graph else (node.data, [p.data for p in parents])
        rules = node._rules
        for i, parent in enumerate(parents):
            if not parent.requires_grad or (wanted is not None and parent not in wanted):
                continue
            contribution = rules[i](g, ans, *inputs)
            if contribution.shape != parent.data.shape:
                contribution = _unbroadcast(contribution, parent.data.shape)
            _accumulate(pending, owned, parent, contribution)
            if trace is not None:
                trace.append(("send", node, i, _snapshot(contribution), _snapshot(pending[parent])))
    return found


def _snapshot(g):
    """A copy of a gradient as it is now (sums are later added into in place)."""
    return g if isinstance(g, Tensor) else np.array(g, copy=True)


def _reaching(order: list, targets: frozenset) -> set:
    """The values of ``order`` from which a path of operations leads to one of ``targets``.

    ``order`` lists every value after its inputs, so one pass decides: a value reaches a target
    if it is one or if one of its inputs does. Only these values need a gradient for the
    targets' sake; the rest of the graph -- a constant ``Tensor(M)`` made inside ``f``, which
    requires a gradient by default, and every product that would carry ``dC/dM`` -- is skipped,
    so ``grad(f)`` costs the same whether ``f`` wrote ``Tensor(M)`` or
    ``Tensor(M, requires_grad=False)``. (PyTorch prunes its backward pass the same way when
    ``torch.autograd.grad`` is given ``inputs``.)
    """
    reaching = set()
    for node in order:
        if node in targets:
            reaching.add(node)
            continue
        for parent in node._parents:  # a plain loop: a generator in any() costs more than the test
            if parent in reaching:
                reaching.add(node)
                break
    return reaching


def _accumulate(pending: dict, owned: set, node: Tensor, contribution) -> None:
    """Add one path's contribution to ``node``'s gradient (004: sum over all paths)."""
    total = pending.get(node)
    if total is None:
        pending[node] = contribution  # not ours to modify: it may be another value's gradient
    elif id(total) in owned:
        total += contribution
    else:
        total = total + contribution
        if isinstance(total, Tensor):
            pending[node] = total
        else:
            pending[node] = total = np.asarray(total)
            owned.add(id(total))


def _store(node: Tensor, g) -> None:
    if not isinstance(g, Tensor):
        g = np.asarray(g, dtype=node.dtype)
    node.grad = g if node.grad is None else node.grad + g


# -- Tensor's methods ------------------------------------------------------------------------------


def backward(self: Tensor, gradient=None, create_graph=False) -> None:
    """Fill ``.grad`` of every value this Tensor depends on, by reverse-mode differentiation.

    Parameters
    ----------
    gradient : array_like or Tensor, optional
        The seed ``d(result)/d(self)``, same shape as ``self``. Needed unless ``self`` holds
        a single number (the seed is then 1).
    create_graph : bool
        Build the gradients as Tensors with graphs of their own, so that they can be
        differentiated again (second derivatives, Hessian-vector products).

    Gradients add to any ``.grad`` already present (see the class notes).
    """
    if not self.requires_grad:
        raise DeltapropError(
            "backward() called on a Tensor that depends on no Tensor with requires_grad=True; "
            "create the inputs with Tensor(value) (requires_grad defaults to True)"
        )
    seed = make_seed(self, gradient, create_graph, "backward()")
    backpropagate(self, seed, create_graph=create_graph, store=True)


def zero_grad(self: Tensor) -> None:
    """Set ``.grad`` to None on this Tensor and every Tensor of its graph."""
    for node in topological_order(self, follow_constants=True):
        node.grad = None


Tensor.backward = backward
Tensor.zero_grad = zero_grad
