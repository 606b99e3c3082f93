"""The computation graph of a tensor's history, as a `networkx.DiGraph`.

One node per tensor, keyed by ``id(tensor)`` (tensors compare elementwise, so they are not
used as keys themselves), with attributes ``tensor``, ``op``, ``shape``, ``dtype``, ``name``,
``is_leaf``, ``module``. One edge from each input to the result, with ``argnums`` (the
argument positions that input fills: ``x * x`` is one edge with argnums (0, 1)), ``op`` and
``formulas`` (the VJP label of each of those positions). This is the only module that imports
networkx.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import networkx as nx

from minigrad.tensor import Tensor, Version

__all__ = ["build", "build_for_backward", "graph", "node_id", "sweep_order", "topological_order"]

# MINIGRAD_SWEEP=networkx builds the sweep graph with add_edges_from and orders it with
# nx.topological_sort (the same graph and order, slower): for comparison and debugging.
_FAST_SWEEP = os.environ.get("MINIGRAD_SWEEP", "").strip().lower() != "networkx"


def node_id(t: Tensor) -> int:
    """The graph's key for tensor `t`: ``G.nodes[node_id(W)]``."""
    return id(t)


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


def build(*outputs: Tensor, grad_only: bool = False) -> nx.DiGraph:
    """The graph of the history of `outputs`, built in one iterative pass, with every node
    and edge attribute.

    Args:
        grad_only: keep only tensors that require grad (constants have no place in the
            backward sweep).
    """
    G = nx.DiGraph()
    tensors: dict[int, Tensor] = {id(t): t for t in outputs}
    stack = list(outputs)
    edges: list[Any] = []
    while stack:
        t = stack.pop()
        ctx = t._ctx
        if ctx is None:
            continue
        tid = id(t)
        inputs = ctx.inputs
        if len(inputs) == 1:
            for i, x in enumerate(inputs):
                if grad_only and not x.requires_grad:
                    continue
                xid = id(x)
                edges.append((xid, tid, _edge(ctx, (i,))))
                if xid not in tensors:
                    tensors[xid] = x
                    stack.append(x)
            continue
        argnums: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            if grad_only and not x.requires_grad:
                continue
            xid = id(x)
            argnums.setdefault(xid, []).append(i)
            if xid not in tensors:
                tensors[xid] = x
                stack.append(x)
        edges.extend((xid, tid, _edge(ctx, tuple(nums))) for xid, nums in argnums.items())
    G.add_nodes_from((k, _details(t)) for k, t in tensors.items())
    G.add_edges_from(edges)
    return G


_NO_ATTRIBUTES: dict[str, Any] = {}


class _Neighbors(MutableMapping):
    """One node's successors (or predecessors) in the sweep graph: networkx's inner adjacency
    mapping, neighbor → edge attributes, where every edge's attributes are the one shared
    empty dict. Most nodes of a history have one neighbor each way, so that one is kept in
    a slot (about 40 bytes) instead of a dict of its own (224 bytes); a second neighbor
    turns the slot into an ordinary dict. Insertion order is kept, as a dict keeps it."""

    __slots__ = ("_k",)

    def __init__(self) -> None:
        self._k: Any = None  # None: no neighbor; a dict: several; otherwise the one key

    def __getitem__(self, key: Any) -> Any:
        k = self._k
        if type(k) is dict:
            return k[key]
        if k is not None and k == key:
            return _NO_ATTRIBUTES
        raise KeyError(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        k = self._k
        if type(k) is not dict:
            if k is None and value is _NO_ATTRIBUTES:
                self._k = key
                return
            k = self._k = {} if k is None else {k: _NO_ATTRIBUTES}
        k[key] = value

    def __delitem__(self, key: Any) -> None:
        k = self._k
        if type(k) is dict:
            del k[key]
        elif k is not None and k == key:
            self._k = None
        else:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        k = self._k
        if type(k) is dict:
            return key in k
        return k is not None and k == key

    def __iter__(self) -> Iterator[Any]:
        k = self._k
        if type(k) is dict:
            return iter(k)
        return iter(()) if k is None else iter((k,))

    def __len__(self) -> int:
        k = self._k
        if type(k) is dict:
            return len(k)
        return 0 if k is None else 1

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _SweepGraph(nx.DiGraph):
    """The private graph backward builds and walks: a plain DiGraph whose nodes and edges
    carry no attributes, so they all share one empty dict instead of one dict each, and
    whose adjacency keeps a lone neighbor without a dict (networkx's documented factory
    hooks; together about two thirds less memory per node than a default DiGraph)."""

    adjlist_inner_dict_factory = _Neighbors

    def node_attr_dict_factory(self) -> dict[str, Any]:  # type: ignore[override]
        return _NO_ATTRIBUTES

    def edge_attr_dict_factory(self) -> dict[str, Any]:  # type: ignore[override]
        return _NO_ATTRIBUTES


def build_for_backward(roots: Sequence[Tensor]) -> tuple[nx.DiGraph, dict[int, Tensor]]:
    """The graph backward walks: only tensors that require grad, bare edges, and a map from
    node id to tensor. It checks every node before anything is computed: freed by an earlier
    backward, or changed in place since its op ran (skipped for nodes made after the last
    in-place change anywhere, which is almost all of them).

    The DiGraph is filled in the same pass that discovers the history: its adjacency dicts
    (``_node``, ``_succ``, ``_pred``, networkx's own storage) receive exactly what
    ``add_edges_from`` would put there, in the same order, without the per-edge calls and
    checks of the generic API (set ``MINIGRAD_SWEEP=networkx`` for that path).
    """
    if not _FAST_SWEEP:
        return _build_for_backward_nx(roots)
    tensors: dict[int, Tensor] = {id(t): t for t in roots}
    # ids, not tensors, on the stack: each node's key is then one int object, shared by
    # every dict that refers to the node
    stack = list(tensors)
    root_ids = list(stack)
    G = _SweepGraph()
    node, succ, pred = G._node, G._succ, G._pred
    empty = _NO_ATTRIBUTES
    new = _Neighbors.__new__
    epoch = Version.epoch
    while stack:
        tid = stack.pop()
        t = tensors[tid]
        ctx = t._ctx
        if ctx is None:
            continue
        if ctx.freed or (ctx.versions and ctx.epoch != epoch):
            _check_node(t)
        for x in ctx.inputs:
            if x.requires_grad:
                xid = id(x)
                if xid not in tensors:
                    tensors[xid] = x
                    stack.append(xid)
                # add_edges_from's order: the source's entries first, then the target's
                s_x = succ.get(xid)
                if s_x is None:
                    s_x = succ[xid] = new(_Neighbors)
                    s_x._k = None
                    a = pred[xid] = new(_Neighbors)
                    a._k = None
                    node[xid] = empty
                p_t = pred.get(tid)
                if p_t is None:
                    a = succ[tid] = new(_Neighbors)
                    a._k = None
                    p_t = pred[tid] = new(_Neighbors)
                    p_t._k = None
                    node[tid] = empty
                # s_x[tid] = p_t[xid] = {} (the shared empty dict), without two method calls
                k = s_x._k
                if k is None:
                    s_x._k = tid
                elif type(k) is dict:
                    k[tid] = empty
                elif k != tid:
                    s_x._k = {k: empty, tid: empty}
                k = p_t._k
                if k is None:
                    p_t._k = xid
                elif type(k) is dict:
                    k[xid] = empty
                elif k != xid:
                    p_t._k = {k: empty, xid: empty}
    for rid in root_ids:
        if rid not in node:
            a = succ[rid] = new(_Neighbors)
            a._k = None
            a = pred[rid] = new(_Neighbors)
            a._k = None
            node[rid] = empty
    return G, tensors


def _build_for_backward_nx(
    roots: Sequence[Tensor], graph_class: type[nx.DiGraph] | None = None
) -> tuple[nx.DiGraph, dict[int, Tensor]]:
    """The same graph through networkx's public API (``add_edges_from``), as a `_SweepGraph`
    or as any other `graph_class` (a plain ``nx.DiGraph`` in the tests)."""
    tensors: dict[int, Tensor] = {id(t): t for t in roots}
    stack = list(roots)
    edges: list[tuple[int, int]] = []
    add = edges.append
    epoch = Version.epoch
    while stack:
        t = stack.pop()
        ctx = t._ctx
        if ctx is None:
            continue
        if ctx.freed or (ctx.versions and ctx.epoch != epoch):
            _check_node(t)
        tid = id(t)
        for x in ctx.inputs:
            if x.requires_grad:
                xid = id(x)
                add((xid, tid))
                if xid not in tensors:
                    tensors[xid] = x
                    stack.append(x)
    G = (graph_class or _SweepGraph)()
    G.add_edges_from(edges)
    for r in roots:
        G.add_node(id(r))
    return G, tensors


def sweep_order(G: nx.DiGraph) -> list[int]:
    """The nodes of `G` in networkx's topological order (``nx.topological_sort``: Kahn's
    algorithm, generation by generation, nodes and successors in insertion order), inputs
    first; backward walks it in reverse.

    Computed over the DiGraph's adjacency dicts directly, node for node the order
    ``list(nx.topological_sort(G))`` gives (so gradients that add up several contributions
    add them in the same order), without its generator and view overheads.
    """
    if not _FAST_SWEEP:
        return list(nx.topological_sort(G))
    succ = G._succ
    indegree = {}
    order = []
    for v, ps in G._pred.items():
        k = ps._k if type(ps) is _Neighbors else ps
        if k is None or (type(k) is dict and not k):
            order.append(v)
        elif type(k) is dict:
            indegree[v] = len(k)
        else:
            indegree[v] = 1
    i = 0
    # `order` grows as nodes become free; reading it from the front visits generation
    # after generation, as networkx's topological_generations does
    while i < len(order):
        k = succ[order[i]]
        if type(k) is _Neighbors:
            k = k._k
            if k is None:
                i += 1
                continue
            if type(k) is not dict:
                k = (k,)
        for child in k:
            d = indegree[child] - 1
            if d:
                indegree[child] = d
            else:
                del indegree[child]
                order.append(child)
        i += 1
    if indegree:
        raise nx.NetworkXUnfeasible("Graph contains a cycle or graph changed during iteration")
    return order


def _edge(ctx: Any, nums: tuple[int, ...]) -> dict[str, Any]:
    op = ctx.op
    return {"argnums": nums, "op": op.name, "formulas": tuple(op.grad_formula(i) for i in nums)}


def _check_node(t: Tensor) -> None:
    ctx = t._ctx
    assert ctx is not None
    op = ctx.op
    if ctx.freed:
        raise RuntimeError(
            f"backward through the graph a second time: the values that op '{op.name}' "
            f"({op.formula}) saved were freed by the first backward. Pass "
            f"retain_graph=True to the first backward() to backward twice."
        )
    if not ctx.versions:
        return
    saved = [(i, ctx.inputs[i]) for i in op.saves if i < len(ctx.inputs)]
    if op.saves_output:
        saved.append((-1, t))
    for (i, x), v in zip(saved, ctx.versions):
        if x.version == v:
            continue
        needed = {-1}
        for j, y in enumerate(ctx.inputs):
            if y.requires_grad:
                needed.update(op.reads_of(j))
        if i in needed:
            what = "its output" if i < 0 else f"input {i}"
            raise RuntimeError(
                f"a value that op '{op.name}' ({op.formula}) saved for backward was changed "
                f"in place: {what} (shape {x.shape}) is at version {x.version}, but "
                f"'{op.name}' used it at version {v}. Use an out-of-place op "
                f"(x = x + y instead of x.add_(y)) or change it after backward()."
            )


def graph(t: Tensor) -> nx.DiGraph:
    """The history of `t` as a `networkx.DiGraph` (see the module docstring for attributes).

    Examples:
        >>> G = minigrad.graph(loss)
        >>> [G.nodes[n]["op"] for n in nx.topological_sort(G)]   # forward order
        >>> nx.has_path(G, id(W1), id(loss))
    """
    return build(t)


def topological_order(G: nx.DiGraph) -> list[int]:
    """Node ids from inputs to output; backward walks this list in reverse."""
    return list(nx.topological_sort(G))
