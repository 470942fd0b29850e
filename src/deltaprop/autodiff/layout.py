"""A layered layout of a Tensor's graph, left to right, for drawing without Graphviz.

Every value is a box and every operation a node between its inputs and its output, as
:func:`~deltaprop.autodiff.to_dot` draws them. Columns: the result is rightmost, and every other
node stands as far right as its uses allow -- one column left of the leftmost operation that uses
it -- so a weight or a constant used late is drawn beside its use, not far to the left. Within a column the
nodes are ordered by the mean position of their neighbours (the barycentre heuristic, a few sweeps
each way), which keeps most edges from crossing in the small graphs this is for.

Pure Python: the drawing itself is :mod:`deltaprop.cli.graphdraw`'s (matplotlib).

>>> from deltaprop.autodiff import Tensor
>>> a, b = Tensor(1.0, label="a"), Tensor(2.0, label="b")
>>> layout = layered_layout(a * b + a)
>>> [(n.kind, n.column) for n in layout.nodes if n.kind == "op"]   # a * b, then + a
[('op', 1), ('op', 3)]
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import topological_order
from .tensor import Tensor

__all__ = ["GraphLayout", "LayoutNode", "layered_layout"]


@dataclass
class LayoutNode:
    """A box of the drawing: a value (``kind == "value"``) or the operation that made one (``"op"``)."""

    kind: str
    tensor: Tensor  # the value, or for an operation the value it makes
    column: int
    row: int = 0


@dataclass
class GraphLayout:
    nodes: list
    edges: list  # (from node index, to node index), left to right
    columns: int

    def column(self, c) -> list:
        """The indices of the nodes of column ``c``, top to bottom."""
        return sorted((i for i, n in enumerate(self.nodes) if n.column == c), key=lambda i: self.nodes[i].row)


def layered_layout(root: Tensor, sweeps: int = 4) -> GraphLayout:
    """Columns and rows for every value and operation of ``root``'s graph (constants included)."""
    order = topological_order(root, follow_constants=True)
    # Distances to the result, counted in boxes: each node as far right as its uses allow.
    value_distance, op_distance = {root: 0}, {}
    for node in reversed(order):  # every value after all the values made from it
        if node._parents:
            op_distance[node] = value_distance[node] + 1
            for parent in node._parents:
                value_distance[parent] = max(value_distance.get(parent, 0), op_distance[node] + 1)
    last = max(value_distance.values())
    value_column = {node: last - d for node, d in value_distance.items()}
    op_column = {node: last - d for node, d in op_distance.items()}

    nodes, index = [], {}
    for node in order:
        if node._parents:
            index[("op", node)] = len(nodes)
            nodes.append(LayoutNode("op", node, op_column[node]))
        index[("value", node)] = len(nodes)
        nodes.append(LayoutNode("value", node, value_column[node]))
    edges = []
    for node in order:
        if node._parents:
            op = index[("op", node)]
            edges.extend((index[("value", p)], op) for p in node._parents)
            edges.append((op, index[("value", node)]))
    columns = 1 + max(n.column for n in nodes)
    layout = GraphLayout(nodes, edges, columns)
    _order_rows(layout, sweeps)
    return layout


def _order_rows(layout: GraphLayout, sweeps: int) -> None:
    """Order each column by the mean row of each node's neighbours in the column before (or after)."""
    by_column = [[] for _ in range(layout.columns)]
    for i, node in enumerate(layout.nodes):
        by_column[node.column].append(i)  # first in topological order: a stable start
    for members in by_column:
        for row, i in enumerate(members):
            layout.nodes[i].row = row
    before = {i: [] for i in range(len(layout.nodes))}
    after = {i: [] for i in range(len(layout.nodes))}
    for a, b in layout.edges:
        before[b].append(a)
        after[a].append(b)

    def reorder(columns, neighbours):
        for c in columns:
            members = by_column[c]

            def centre(i):
                rows = [layout.nodes[j].row for j in neighbours[i]]
                return sum(rows) / len(rows) if rows else layout.nodes[i].row

            members.sort(key=lambda i: (centre(i), layout.nodes[i].row))
            for row, i in enumerate(members):
                layout.nodes[i].row = row

    for _ in range(sweeps):
        reorder(range(1, layout.columns), before)
        reorder(range(layout.columns - 2, -1, -1), after)
