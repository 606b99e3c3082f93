r"""The rules traced: the expression graph of every gradient, read off the registry's own VJPs.

For each op of the loss's history, from the loss down (reverse topological order), the op's
rule for each input that leads to a wanted tensor is *called* exactly as the engine calls it
under ``create_graph=True``: on Tensors, so that every operation the rule performs is recorded.
The tensors it is called on are stand-ins: a fresh leaf for the δ arriving at the op (its value
is that δ, so the rule takes the same branches), and fresh leaves for the op's inputs and
output (with their recorded values). Reading the recorded result back to those stand-ins gives
the rule as an expression of δ and the forward tensors, with nothing copied from the rule by
hand: the formula *is* what the engine runs. The contributions reaching a tensor from all of
its consumers are added, as backward adds them, and their sum is that tensor's δ.

The result is a `networkx.DiGraph` whose nodes are

- ``sym``: a tensor of the forward pass (``fid`` = its node in ``minigrad.graph(loss)``);
- ``const``: a value the rule made without any stand-in (a one-hot matrix, a mask, a count);
- ``op``: a registry op applied to ``args`` (node ids) with ``params``;
- ``delta``: the gradient arriving at forward tensor ``fid``, its one arg the sum of the
  contributions (the lecture's δ when the tensor is a pre-activation ``a_k``);
- ``rule``: a user op whose rule cannot be recorded, kept whole with its formula label (its
  value comes from calling the rule on arrays);

with an edge from every arg to its user. Each node keeps the value the trace computed
(``value``), its ``shape`` and ``dtype``, and whether it depends on any δ (``free`` when not).
``G.graph["roots"]`` maps each wanted tensor to its gradient (``"result"``), each forward
tensor to its δ node (``"delta"``) and each (op, input) pair to the node of that rule's result
(``"contrib"``); ``G.graph["visits"]`` lists the ops in the order the chain rule visits them
(`Visit`), and ``G.graph["relevant"]`` the forward tensors that lead from a wanted one to the
loss.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from minigrad.derive import glossary
from minigrad.derive.names import Names
from minigrad.derive.scalars import Symbols
from minigrad.modes import enable_grad
from minigrad.ops.either import unbroadcast
from minigrad.tensor import Tensor

__all__ = ["Visit", "trace", "call_rule", "builtin", "has_own_label"]


@dataclass
class Visit:
    """One op of the forward pass as the chain rule meets it.

    Attributes:
        fid: the op's output (its node in the forward graph).
        delta: the δ node arriving at it.
        sends: ``(argnum, input fid, node of the rule's result)`` per input that needs it.
        traced: False when the rule could not be recorded (a user op kept by its label).
    """

    fid: int
    delta: int
    sends: list[tuple[int, int, int]] = field(default_factory=list)
    traced: bool = True


def builtin(op: Any) -> bool:
    """Whether `op` is one of minigrad's own (its rules live in ``minigrad.ops``)."""
    return all(f is None or str(getattr(f, "__module__", "")).startswith("minigrad.")
               for f in op.vjps)


_DEFAULT_LABEL = re.compile(r"^∂\w+/∂x\d+·δ$")


def has_own_label(op: Any) -> bool:
    """Whether a user op was given formula labels (a `Function` without ``grads`` gets
    ``∂Name/∂x0·δ``, which says nothing)."""
    return bool(op.grad_formulas) and not all(_DEFAULT_LABEL.match(g) for g in op.grad_formulas)


def call_rule(op: Any, params: dict[str, Any], i: int, g: Any, out: Any,
              args: Sequence[Any]) -> Any:
    """The gradient `op`'s rule sends to input `i`, summed back to that input's shape: the
    registry's VJP called as the engine calls it (on arrays, or on Tensors to record it)."""
    if op.vjp(i) is None:
        raise RuntimeError(f"op '{op.name}' has no rule (VJP) for its input {i}, which needs "
                           f"a gradient")
    gx = op.call_vjp(i, g, out, args, params)
    shape = tuple(np.shape(args[i].data if isinstance(args[i], Tensor) else args[i]))
    if tuple(np.shape(gx)) != shape:
        if not isinstance(gx, Tensor):
            gx = np.asarray(gx)
        gx = unbroadcast(gx, shape)
        if tuple(gx.shape) != shape:
            raise RuntimeError(f"op '{op.name}': its rule for input {i} gave shape {gx.shape}, "
                               f"but the input has shape {shape}")
    return gx


def _stand_in(value: np.ndarray) -> Tensor:
    t = Tensor._wrap(np.asarray(value))
    t.requires_grad = True
    return t


class _Builder:
    def __init__(self, F: nx.DiGraph) -> None:
        self.F = F
        self.E = nx.DiGraph()
        self.count = 0
        self.syms: dict[int, int] = {}

    def add(self, kind: str, args: Sequence[int] = (), **attrs: Any) -> int:
        n = self.count
        self.count += 1
        self.E.add_node(n, kind=kind, args=tuple(args), **attrs)
        self.E.add_edges_from((a, n) for a in dict.fromkeys(args))
        return n

    def sym(self, fid: int) -> int:
        n = self.syms.get(fid)
        if n is None:
            t = self.F.nodes[fid]["tensor"]
            n = self.syms[fid] = self.add("sym", fid=fid, value=t.data, shape=t.data.shape,
                                          dtype=t.data.dtype, free=True)
        return n

    def const(self, value: Any) -> int:
        a = np.asarray(value)
        return self.add("const", value=a, shape=a.shape, dtype=a.dtype, free=True)

    def read(self, result: Any, known: dict[int, int], made: list[int]) -> int:
        """The node of a recorded result, following its history back to `known` tensors
        (the stand-ins), forward tensors and constants."""
        if not isinstance(result, Tensor):
            n = self.const(result)
            made.append(n)
            return n
        memo: dict[int, int] = {}
        stack: list[tuple[Tensor, bool]] = [(result, False)]
        F = self.F
        while stack:
            t, ready = stack.pop()
            tid = id(t)
            if tid in memo:
                continue
            if tid in known:
                memo[tid] = known[tid]
                continue
            ctx = t._ctx
            if ctx is None:
                if tid in F:
                    memo[tid] = self.sym(tid)
                else:
                    memo[tid] = self.const(t.data)
                    made.append(memo[tid])
                continue
            if not ready:
                stack.append((t, True))
                stack.extend((x, False) for x in ctx.inputs if id(x) not in memo)
                continue
            args = [memo[id(x)] for x in ctx.inputs]
            free = all(self.E.nodes[a]["free"] for a in args)
            memo[tid] = self.add("op", args, op=ctx.op.name, params=dict(ctx.params),
                                 value=t.data, shape=t.data.shape, dtype=t.data.dtype, free=free)
            made.append(memo[tid])
        return memo[id(result)]


def _label(E: nx.DiGraph, made: list[int], found: list[glossary.Entry],
           fids: tuple[int, ...], owner: int) -> None:
    """Gives the nodes a rule made the names of the book's quantities they equal."""
    for e in found:
        arr = np.asarray(e.array)
        for n in made:
            d = E.nodes[n]
            if d.get("label") is not None or d.get("scalar") is not None:
                continue
            if d["free"] == e.delta or tuple(d["shape"]) != arr.shape:
                continue
            if e.scalar is not None:
                if d["kind"] != "const":
                    continue
                if e.where == "divisor" and not any(
                        E.nodes[u].get("op") == "div" and E.nodes[u]["args"][1:] == (n,)
                        for u in E.successors(n)):
                    continue
            v = d["value"]
            try:
                same = v.dtype == arr.dtype == np.bool_ and np.array_equal(v, arr) or (
                    v.dtype.kind in "fiub" and np.allclose(v, arr, rtol=1e-12, atol=0,
                                                           equal_nan=True))
            except (TypeError, ValueError):
                same = False
            if not same:
                continue
            if e.scalar is not None:
                d["scalar"] = e.scalar  # every such number of the rule: N twice is N twice
                continue
            d["label"] = (e.text, e.latex, fids, owner)
            if d["kind"] != "const":
                break  # a constant made twice (a mask per input) is named each time


def trace(loss: Tensor, wanted: Sequence[Tensor], F: nx.DiGraph, order: list[int],
          names: Names, symbols: Symbols) -> nx.DiGraph:
    """The expression graph of the gradients of `loss` with respect to `wanted` (see the
    module docstring)."""
    B = _Builder(F)
    E = B.E
    wanted_ids = {id(t) for t in wanted}
    relevant: set[int] = set()
    stack = list(wanted_ids)
    while stack:  # every tensor computed from a wanted one, in one walk
        n = stack.pop()
        if n not in relevant:
            relevant.add(n)
            stack.extend(F.successors(n))
    relevant = {n for n in relevant if F.nodes[n]["dtype"].kind == "f"}

    pending: dict[int, list[int]] = {}
    lid = id(loss)
    seed = B.const(np.ones(loss.data.shape, dtype=loss.data.dtype))
    pending[lid] = [seed]
    roots: dict[str, dict[Any, int]] = {"result": {}, "delta": {}, "contrib": {}}
    visits: list[Visit] = []
    for fid in reversed(order):
        if fid not in relevant:
            continue
        parts = pending.pop(fid, None)
        if not parts:
            continue
        body = parts[0]
        for p in parts[1:]:
            v = E.nodes[body]["value"] + E.nodes[p]["value"]
            body = B.add("op", (body, p), op="add", params={}, value=v, shape=v.shape,
                         dtype=v.dtype, free=E.nodes[body]["free"] and E.nodes[p]["free"])
        bd = E.nodes[body]
        delta = B.add("delta", (body,), fid=fid, value=bd["value"], shape=bd["shape"],
                      dtype=bd["dtype"], free=False, parts=tuple(parts))
        roots["delta"][fid] = delta
        if fid in wanted_ids:
            roots["result"][fid] = delta
        t = F.nodes[fid]["tensor"]
        ctx = t._ctx
        if ctx is None:
            continue
        need = [i for i, x in enumerate(ctx.inputs) if id(x) in relevant]
        if not need:
            continue
        visit = _visit(B, F, fid, t, delta, need, symbols)
        visits.append(visit)
        for i, xid, n in visit.sends:
            pending.setdefault(xid, []).append(n)
            roots["contrib"][(fid, i)] = n
    missing = [t for t in wanted if id(t) not in roots["result"]]
    for t in missing:  # a wanted tensor the loss depends on only through zero-size paths
        z = B.const(np.zeros(t.data.shape, dtype=t.data.dtype))
        roots["result"][id(t)] = roots["delta"][id(t)] = B.add(
            "delta", (z,), fid=id(t), value=E.nodes[z]["value"], shape=t.data.shape,
            dtype=t.data.dtype, free=False, parts=(z,))
    E.graph["roots"] = roots
    E.graph["visits"] = visits
    E.graph["relevant"] = relevant
    E.graph["log"] = []
    return E


def _visit(B: _Builder, F: nx.DiGraph, fid: int, t: Tensor, delta: int, need: list[int],
           symbols: Symbols) -> Visit:
    """Traces the rules of the op that made `t` for the inputs in `need`."""
    E = B.E
    ctx = t._ctx
    assert ctx is not None  # only ops are visited
    op = ctx.op
    params = dict(ctx.params)
    visit = Visit(fid, delta)
    dval = E.nodes[delta]["value"]
    g = _stand_in(dval)
    known = {id(g): delta}
    stand: dict[int, Any] = {}
    args: list[Any] = []
    for x in ctx.inputs:
        if _number(F, x):
            known[id(x)] = B.const(x.data)  # a number in the program (x * 2.0): written as is
            args.append(x)
            continue
        if x.data.dtype.kind != "f":
            args.append(x)  # indices, targets, masks: read as values, never differentiated
            known[id(x)] = B.sym(id(x))
            continue
        s = stand.get(id(x))
        if s is None:
            s = stand[id(x)] = _stand_in(x.data)
            known[id(s)] = B.sym(id(x))
        args.append(s)
    out = _stand_in(t.data)
    known[id(out)] = B.sym(fid)
    fids = tuple(id(x) for x in ctx.inputs)
    made: list[int] = []
    for i in need:
        xid = id(ctx.inputs[i])
        why: Exception | None = None
        try:
            with enable_grad(), np.errstate(all="ignore"):
                r = call_rule(op, params, i, g, out, args)
            n = B.read(r, known, made)
            ok = not E.nodes[n]["free"] or not np.any(E.nodes[n]["value"])
        except Exception as e:
            if builtin(op):
                raise
            ok, n, why = False, -1, e
        if not ok:
            n = _kept_whole(B, op, params, i, ctx, fid, delta, why)
            visit.traced = False
        visit.sends.append((i, xid, n))
    xs = [np.asarray(x.data) for x in ctx.inputs]
    with np.errstate(all="ignore"):
        found = glossary.entries(op.name, xs, t.data, params, dval, symbols)
    _label(E, made, found, fids, fid)
    for n in made:
        E.nodes[n]["owner"] = fid
    return visit


def _number(F: nx.DiGraph, x: Tensor) -> bool:
    """A number the program wrote (``x * 2.0``): a 0-d leaf without a name or a gradient."""
    d = F.nodes[id(x)]
    return bool(d["is_leaf"] and not d["requires_grad"] and not d["name"] and x.data.ndim == 0
                and x.data.dtype.kind in "fiu")


def _kept_whole(B: _Builder, op: Any, params: dict[str, Any], i: int, ctx: Any, fid: int,
                delta: int, why: Exception | None) -> int:
    """A user op whose rule leaves minigrad (numpy inside the VJP): kept as one node with its
    label when it has one, otherwise an error naming it."""
    if not has_own_label(op):
        cause = f" ({type(why).__name__}: {why})" if why is not None else ""
        raise RuntimeError(
            f"derive: op '{op.name}' ({op.formula}) has no symbolic form: its rule for input "
            f"{i} does not record its result from δ{cause}, which happens when a VJP computes "
            f"with numpy (np.exp, np.asarray…) instead of minigrad ops, and it has no formula "
            f"label to show instead. Write the VJP with minigrad ops and operators (see "
            f"'Writing your own op'), or give the Function a `grads` label."
        )
    ins = [B.sym(id(x)) for x in ctx.inputs]
    args = (delta, *ins, B.sym(fid))
    E = B.E
    shape = ctx.inputs[i].data.shape
    g = E.nodes[delta]["value"]
    with np.errstate(all="ignore"):
        value = np.asarray(call_rule(op, params, i, g, E.nodes[args[-1]]["value"],
                                     [x.data for x in ctx.inputs]))
    return B.add("rule", args, op=op.name, params=params, argnum=i, value=value, shape=shape,
                 dtype=value.dtype, free=False, label_text=op.grad_formula(i))
