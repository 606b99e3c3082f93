"""The computation graph of a tensor's history, as a `networkx.DiGraph`.

One node per tensor, keyed by ``id(tensor)`` (tensors compare elementwise, so they are not
used as keys themselves), with attributes ``tensor``, ``op``, ``shape``, ``dtype``, ``name``,
``is_leaf``, ``requires_grad``, ``module``. One edge from each input to the result, with
``argnums`` (the argument positions that input fills: ``x * x`` is one edge with argnums
(0, 1)), ``op`` and ``formulas`` (the VJP label of each of those positions).

`history` is the one walk over a history, `build` the one way a graph is made from it
(`minigrad.graph(t)`, ``t.graph`` and backward call it) and `topological_order` the one way
it is ordered: the engine's only use of networkx, through its public API. (The compiler's
and the derivation's passes, `minigrad.compile` and `minigrad.derive`, transform graphs made
here, also with networkx's public API.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

__all__ = ["Edge", "build", "graph", "history", "node_id", "topological_order"]


def node_id(t: Tensor) -> int:
    """The graph's key for tensor `t`: ``G.nodes[node_id(W)]``."""
    return id(t)


Edge = tuple[int, int, int]  # (input's position, result's position, argument number)


def history(*outputs: Tensor, grad_only: bool = False) -> tuple[list[Tensor], list[Edge]]:
    """The tensors of the history of `outputs`, and who made whom, found by one iterative
    walk back from them.

    Returns ``(tensors, edges)``: `tensors` lists the outputs, then every input in the order
    the walk meets it; an edge ``(i, j, k)`` says that ``tensors[i]`` is argument k of the
    op that made ``tensors[j]``.

    Args:
        grad_only: keep only tensors that require grad (a constant receives no gradient).
    """
    tensors = list({id(t): t for t in outputs}.values())
    where = {id(t): i for i, t in enumerate(tensors)}
    edges: list[Edge] = []
    stack = list(range(len(tensors)))
    while stack:
        j = stack.pop()
        ctx = tensors[j]._ctx
        if ctx is None:
            continue  # a leaf: nothing made it
        for k, x in enumerate(ctx.inputs):
            if grad_only and not x.requires_grad:
                continue
            i = where.get(id(x))
            if i is None:
                i = where[id(x)] = len(tensors)
                tensors.append(x)
                stack.append(i)
            edges.append((i, j, k))
    return tensors, edges


def build(
    *outputs: Tensor, backward: bool = False, walked: tuple[list[Tensor], list[Edge]] | None = None
) -> nx.DiGraph:
    """The graph of the history of `outputs` (see the module docstring), from `history`.

    Args:
        backward: the graph backward sorts: only tensors that require grad, and no node or
            edge attributes (they would cost more to make than the sweep spends on most
            nodes).
        walked: what `history` gave for these outputs, when the caller has it already.
    """
    tensors, edges = walked or history(*outputs, grad_only=backward)
    ids = [id(t) for t in tensors]
    G = nx.DiGraph()
    if backward:
        G.add_edges_from((ids[i], ids[j]) for i, j, _ in edges)  # x * x: one edge
        G.add_nodes_from(id(t) for t in outputs)  # an output that is a leaf has no edge
        return G
    G.add_nodes_from((ids[i], _details(t)) for i, t in enumerate(tensors))
    argnums: dict[tuple[int, int], tuple[int, ...]] = {}
    for i, j, k in edges:
        argnums[i, j] = argnums.get((i, j), ()) + (k,)
    G.add_edges_from((ids[i], ids[j], _edge(tensors[j], nums)) for (i, j), nums in argnums.items())
    return G


def _details(t: Tensor) -> dict[str, Any]:
    ctx = t._ctx
    return {
        "tensor": t,
        "op": None if ctx is None else ctx.op.name,
        "shape": t.data.shape,
        "dtype": t.data.dtype,
        "name": t.name,
        "is_leaf": ctx is None,
        "requires_grad": t.requires_grad,
        "module": t.module,
    }


def _edge(result: Tensor, nums: tuple[int, ...]) -> dict[str, Any]:
    op = result._ctx.op  # type: ignore[union-attr]
    return {"argnums": nums, "op": op.name, "formulas": tuple(op.grad_formula(i) for i in nums)}


def topological_order(G: nx.DiGraph) -> list[int]:
    """The nodes of `G` from inputs to outputs, in networkx's topological order
    (``nx.topological_sort``: Kahn's algorithm, generation by generation, ties in the order
    the nodes and edges were added). Backward walks it in reverse, so this order decides in
    which order a tensor that receives several gradients adds them up."""
    order = list(nx.topological_sort(G))
    # the sort caches a view of G on G (G.in_degree, a reference cycle): drop it, so that a
    # graph and the tensors it holds go with its last reference rather than at a GC pass
    G.__dict__.pop("in_degree", None)
    return order


def graph(t: Tensor) -> nx.DiGraph:
    """The history of `t` as a `networkx.DiGraph` (see the module docstring for attributes).

    Examples:
        >>> G = minigrad.graph(loss)
        >>> [G.nodes[n]["op"] for n in nx.topological_sort(G)]   # forward order
        >>> nx.has_path(G, id(W1), id(loss))
    """
    return build(t)
