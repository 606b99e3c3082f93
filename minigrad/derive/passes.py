r"""Simplification: small pure functions from an expression graph to a new one, in the style of
the compiler's passes (`minigrad.compiler.passes`). None changes the graph it is given; each
copies it, rewrites the copy and notes what it did in ``G.graph["log"]`` (its name, the node
count before and after, and the nodes it rewrote).

Every rewrite keeps the value: a node is replaced only by registry ops that compute the same
numbers (up to rounding, when a transpose moves or scalars are gathered), so evaluating the
simplified graph still gives the engine's gradient. In `PIPELINE` order:

1. `inline_constant_deltas`: a δ that is a constant (the 1 the sweep starts from) is used as
   that constant.
2. `fold_constants`: an op of constants is computed once; the symbols of named scalars
   multiply along (``(1/n)·2 = 2/n``, with sympy).
3. `drop_identities`: ``x ⊙ 1``, ``x + 0``, ``x / 1``, ``−(−x)``, reshapes, broadcasts and
   casts that change nothing, transposes that undo each other.
4. `common_subexpressions`: structurally equal nodes are merged (attention's rules recompute
   ``P`` once per input; it is written once).
5. `push_transposes`: ``(A B)ᵀ = Bᵀ Aᵀ`` and ``(a ⊙ b)ᵀ = aᵀ ⊙ bᵀ``, so transposes sit on
   the tensors themselves (``W_kᵀ``, ``h_kᵀ``); a named or shared value keeps its ᵀ (``∇Sᵀ``).
6. `gather_scalars`: numbers multiplied in turn become one coefficient in front
   (``c₁ (c₂ x) = (c₁ c₂) x``, ``x / c = (1/c) x``, ``a + a = 2 a``).
7. `name_derivatives`: an activation's rule ``δ ⊙ (factors without δ)`` becomes
   ``δ ⊙ g′(a)``: ``σ(a) ⊙ (1 − σ(a))`` reads ``σ′(a)``, ``1 − tanh²(a)`` ``tanh′(a)``, relu's
   mask ``relu′(a)``; the factors stay behind the name, for `evaluate` and for level="op".
8. `prune`: nodes no gradient, δ or rule result uses any more are dropped.

The softmax + cross-entropy rule needs no pass of its own: traced, it *is*
``(softmax(a) − onehot) / N``, whose parts the formula book names ``ŷ`` and ``e(ℓ)``
(`minigrad.derive.glossary`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np

from minigrad.derive import scalars
from minigrad.ops.registry import REGISTRY

__all__ = [
    "PIPELINE", "common_subexpressions", "drop_identities", "fold_constants",
    "gather_scalars", "inline_constant_deltas", "name_derivatives", "prune",
    "push_transposes", "run", "DERIVATIVES", "compute",
]

# an activation's derivative: the name its factor takes
DERIVATIVES = {"sigmoid": ("σ′", r"\sigma'"), "tanh": ("tanh′", r"\tanh'"),
               "relu": ("relu′", r"\operatorname{relu}'"),
               "leaky_relu": ("leaky_relu′", r"\operatorname{leaky\_relu}'"),
               "gelu": ("gelu′", r"\operatorname{gelu}'"),
               "softplus": ("softplus′", r"\operatorname{softplus}'")}
RESHAPES = frozenset({"reshape", "squeeze", "unsqueeze", "broadcast_to", "astype"})
_ELEMENTWISE_BINARY = frozenset({"add", "sub", "mul", "div"})


# --------------------------------------------------------------------------- helpers

def uniform(a: np.ndarray) -> bool:
    """Whether every element of `a` is the same number (a constant that reads as a scalar)."""
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind not in "fiub":
        return False
    flat = a.reshape(-1)
    return bool(np.all(flat == flat[0]))


def _copy(G: nx.DiGraph) -> nx.DiGraph:
    H = G.copy()
    roots = G.graph["roots"]
    H.graph = dict(G.graph)
    H.graph["roots"] = {k: dict(v) for k, v in roots.items()}
    H.graph["log"] = list(G.graph.get("log", []))
    H.graph["next"] = G.graph.get("next", max(G.nodes, default=-1) + 1)
    H.graph["alias"] = {}
    return H


def _resolve_roots(H: nx.DiGraph) -> None:
    """Points the roots at what the nodes they named were replaced by (see `_replace`)."""
    alias = H.graph.get("alias")
    if not alias:
        return
    for group in H.graph["roots"].values():
        for k, v in group.items():
            while v in alias:
                v = alias[v]
            group[k] = v
    alias.clear()


def _log(H: nx.DiGraph, name: str, before: int, changed: list[Any]) -> None:
    _resolve_roots(H)
    H.graph["log"].append({"pass": name, "before": before, "after": H.number_of_nodes(),
                           "changed": changed})


def compute(op: str, values: list[Any], params: dict[str, Any]) -> np.ndarray:
    """A registry op's forward on arrays (what `evaluate` runs, node by node)."""
    o = REGISTRY[op]
    with np.errstate(all="ignore"):
        out = o.forward(*values, **params)
    if o.keeps:
        out = out[0]
    return np.asarray(out)


def _new(H: nx.DiGraph, kind: str, args: tuple[int, ...] = (), **attrs: Any) -> int:
    n = H.graph["next"]
    H.graph["next"] = n + 1
    H.add_node(n, kind=kind, args=tuple(args), **attrs)
    H.add_edges_from((a, n) for a in dict.fromkeys(args))
    return n


def _op(H: nx.DiGraph, op: str, args: tuple[int, ...], params: dict[str, Any] | None = None
        ) -> int:
    """A new registry op node, with its value computed from its args'."""
    params = dict(params or {})
    value = compute(op, [H.nodes[a]["value"] for a in args], params)
    free = all(H.nodes[a]["free"] for a in args)
    owner = next((H.nodes[a]["owner"] for a in args if H.nodes[a].get("owner") is not None),
                 None)
    return _new(H, "op", args, op=op, params=params, value=value, shape=value.shape,
                dtype=value.dtype, free=free, owner=owner)


def _const(H: nx.DiGraph, value: Any, scalar: Any = None) -> int:
    a = np.asarray(value)
    return _new(H, "const", (), value=a, shape=a.shape, dtype=a.dtype, free=True, scalar=scalar)


def _replace(H: nx.DiGraph, old: int, new: int) -> None:
    """Every use of `old` reads `new` instead (and so do the roots, when the pass ends); `old`
    stays, unused."""
    if old == new:
        return
    for u in list(H.successors(old)):
        d = H.nodes[u]
        d["args"] = tuple(new if a == old else a for a in d["args"])
        H.remove_edge(old, u)
        H.add_edge(new, u)
    H.graph["alias"][old] = new
    od, nd = H.nodes[old], H.nodes[new]
    if od.get("label") is not None and nd.get("label") is None and nd["kind"] != "sym" \
            and tuple(od["shape"]) == tuple(nd["shape"]):
        nd["label"] = od["label"]
    if nd.get("owner") is None and od.get("owner") is not None:
        nd["owner"] = od["owner"]


def _is_const(H: nx.DiGraph, n: int) -> bool:
    return H.nodes[n]["kind"] == "const"


def _scalar_of(H: nx.DiGraph, n: int) -> Any:
    """The sympy number of a scalar constant: a number a rule wrote (0-d), or a named count.
    An array is never one, even when all its entries agree: a mask of a relu whose inputs
    happen to be all positive is still the mask ``1[a > 0]``, not the number 1."""
    d = H.nodes[n]
    if d["kind"] != "const" or d["dtype"].kind not in "fiu":
        return None
    if d.get("scalar") is not None and uniform(d["value"]):
        return d["scalar"]
    if np.ndim(d["value"]) != 0:
        return None
    return scalars.number(float(np.asarray(d["value"]).reshape(-1)[0]))


def _all(H: nx.DiGraph, n: int, v: float) -> bool:
    """Whether `n` is the scalar constant `v`."""
    s = _scalar_of(H, n)
    return s is not None and s == v and float(np.asarray(H.nodes[n]["value"]).reshape(-1)[0]) == v


def _perm(d: dict[str, Any]) -> tuple[int, ...]:
    axes = d["params"].get("axes")
    nd = len(d["shape"])
    return tuple(reversed(range(nd))) if axes is None else tuple(int(a) % max(nd, 1)
                                                                 for a in axes)


def _ops_in_order(H: nx.DiGraph) -> list[int]:
    return [n for n in nx.topological_sort(H) if H.nodes[n]["kind"] == "op"]


# --------------------------------------------------------------------------- the passes
def inline_constant_deltas(G: nx.DiGraph) -> nx.DiGraph:
    """Uses a δ whose value is a constant (the sweep's starting 1) as that constant."""
    H = _copy(G)
    changed = []
    for n in list(H.nodes):
        d = H.nodes[n]
        if d["kind"] == "delta" and _is_const(H, d["args"][0]) and H.out_degree(n):
            _replace(H, n, d["args"][0])
            changed.append(n)
    _log(H, "inline_constant_deltas", G.number_of_nodes(), changed)
    return H


def fold_constants(G: nx.DiGraph) -> nx.DiGraph:
    """Computes every op whose args are all constants (and uses a δ that became a constant
    as that constant); named scalars keep their symbols."""
    H = _copy(G)
    changed = []
    for n in list(nx.topological_sort(H)):
        d = H.nodes[n]
        if d["kind"] == "delta" and _is_const(H, d["args"][0]) and H.out_degree(n):
            _replace(H, n, d["args"][0])  # a constant δ (a broadcast 1) is that constant
            changed.append(n)
            continue
        if d["kind"] != "op":
            continue
        args = d["args"]
        if not args or not all(_is_const(H, a) for a in args):
            continue
        scalar = None
        syms = [_scalar_of(H, a) for a in args]
        if all(s is not None for s in syms):
            op = d["op"]
            if op == "mul":
                scalar = syms[0] * syms[1]
            elif op == "div" and syms[1] != 0:
                scalar = syms[0] / syms[1]
            elif op == "neg":
                scalar = -syms[0]
            elif op == "add":
                scalar = syms[0] + syms[1]
            elif op == "sub":
                scalar = syms[0] - syms[1]
            elif op in RESHAPES:
                scalar = syms[0]  # a number broadcast stays that number
            if scalar is not None and not uniform(d["value"]):
                scalar = None
        c = _const(H, d["value"], scalar)
        if d.get("label") is not None:
            H.nodes[c]["label"] = d["label"]
        _replace(H, n, c)
        changed.append(n)
    H = prune(H, log=False)
    _log(H, "fold_constants", G.number_of_nodes(), changed)
    return H


def _identity_of(H: nx.DiGraph, n: int) -> int | None:
    """The node `n` equals without any op, or None."""
    d = H.nodes[n]
    if d["op"] in RESHAPES:
        a = d["args"][0]
        return a if _same(H, d, a) else None
    find = _IDENTITIES.get(d["op"])
    return None if find is None else find(H, d)


def _same(H: nx.DiGraph, d: dict[str, Any], a: int) -> bool:
    """Whether `a` has the shape and dtype of the op `d`'s result."""
    return tuple(H.nodes[a]["shape"]) == tuple(d["shape"]) and H.nodes[a]["dtype"] == d["dtype"]


def _beside_unit(H: nx.DiGraph, d: dict[str, Any], unit: float, either_side: bool
                 ) -> int | None:
    """``x ∘ u`` (or ``u ∘ x``, when ∘ commutes: `either_side`) with `unit` u the op's
    neutral number: x, when it has the result's shape and dtype."""
    a, b = d["args"]
    if _all(H, b, unit) and _same(H, d, a):
        return a
    if either_side and _all(H, a, unit) and _same(H, d, b):
        return b
    return None


def _double_negation(H: nx.DiGraph, d: dict[str, Any]) -> int | None:
    """``−(−x)``: x."""
    a = H.nodes[d["args"][0]]
    if a["kind"] == "op" and a["op"] == "neg":
        return a["args"][0]
    return None


def _undone_transpose(H: nx.DiGraph, d: dict[str, Any]) -> int | None:
    """A transpose that keeps every axis, or that undoes the transpose it reads: x."""
    a = d["args"][0]
    p = _perm(d)
    if p == tuple(range(len(p))):
        return a
    ad = H.nodes[a]
    if ad["kind"] == "op" and ad["op"] == "transpose":
        q = _perm(ad)
        if tuple(q[i] for i in p) == tuple(range(len(p))):
            return ad["args"][0]
    return None


def _empty_sum(H: nx.DiGraph, d: dict[str, Any]) -> int | None:
    """A sum over no axes: x."""
    a = d["args"][0]
    axis = d["params"].get("axis")
    if axis is not None and len(axis) == 0 and _same(H, d, a):
        return a
    return None


# the ops besides the reshapes that can leave their argument as it is (`_identity_of`)
_IDENTITIES: dict[str, Callable[[nx.DiGraph, dict[str, Any]], int | None]] = {
    "mul": lambda H, d: _beside_unit(H, d, 1, either_side=True),
    "add": lambda H, d: _beside_unit(H, d, 0, either_side=True),
    "sub": lambda H, d: _beside_unit(H, d, 0, either_side=False),
    "div": lambda H, d: _beside_unit(H, d, 1, either_side=False),
    "neg": _double_negation,
    "transpose": _undone_transpose,
    "sum": _empty_sum,
}


def drop_identities(G: nx.DiGraph) -> nx.DiGraph:
    """Removes ops that change nothing: ``x ⊙ 1``, ``x + 0``, ``x − 0``, ``x / 1``, ``−(−x)``,
    reshapes, broadcasts and casts to the same shape and dtype, and transposes that undo each
    other (``(xᵀ)ᵀ = x``)."""
    H = _copy(G)
    changed = []
    for n in _ops_in_order(H):
        keep = _identity_of(H, n)
        while keep is not None and H.nodes[keep]["kind"] == "op":
            nxt = _identity_of(H, keep)
            if nxt is None:
                break
            keep = nxt
        if keep is not None:
            _replace(H, n, keep)
            changed.append(n)
    H = prune(H, log=False)
    _log(H, "drop_identities", G.number_of_nodes(), changed)
    return H


def _swaps_last_two(d: dict[str, Any]) -> bool:
    p = _perm(d)
    nd = len(p)
    return nd >= 2 and p == tuple(range(nd - 2)) + (nd - 1, nd - 2)


def _transposed(H: nx.DiGraph, a: int) -> int:
    """`a` with its last two axes swapped (a 0-d or 1-d `a` as it is)."""
    nd = len(H.nodes[a]["shape"])
    if nd < 2:
        return a
    return _op(H, "transpose", (a,), {"axes": tuple(range(nd - 2)) + (nd - 1, nd - 2)})


def push_transposes(G: nx.DiGraph) -> nx.DiGraph:
    """Moves transposes towards the tensors: ``(A B)ᵀ = Bᵀ Aᵀ`` for a matrix product and
    ``(a ∘ b)ᵀ = aᵀ ∘ bᵀ`` for an elementwise op of equal shapes (and ``(−a)ᵀ = −aᵀ``)."""
    H = _copy(G)
    changed = []
    for n in _ops_in_order(H):
        d = H.nodes[n]
        if d["op"] != "transpose" or not _swaps_last_two(d):
            continue
        a = d["args"][0]
        ad = H.nodes[a]
        if ad["kind"] != "op" or ad.get("label") is not None or H.out_degree(a) > 1:
            continue  # a named or shared value keeps its name: ∇Sᵀ, not a new product
        new = None
        if ad["op"] == "matmul":
            A, B = ad["args"]
            if len(H.nodes[A]["shape"]) >= 2 and len(H.nodes[B]["shape"]) >= 2 and \
                    len(H.nodes[A]["shape"]) == len(H.nodes[B]["shape"]):
                new = _op(H, "matmul", (_transposed(H, B), _transposed(H, A)))
        elif ad["op"] in _ELEMENTWISE_BINARY:
            shape = tuple(ad["shape"])
            A, B = ad["args"]
            if all(tuple(H.nodes[x]["shape"]) in (shape, ()) for x in (A, B)):
                new = _op(H, ad["op"], (_transposed(H, A) if H.nodes[A]["shape"] else A,
                                        _transposed(H, B) if H.nodes[B]["shape"] else B))
        elif ad["op"] == "neg":
            new = _op(H, "neg", (_transposed(H, ad["args"][0]),))
        if new is not None and tuple(H.nodes[new]["shape"]) == tuple(d["shape"]):
            _replace(H, n, new)
            changed.append(n)
    H = prune(H, log=False)
    _log(H, "push_transposes", G.number_of_nodes(), changed)
    return drop_identities(H)


def _coefficient(H: nx.DiGraph, n: int) -> tuple[Any, float, int] | None:
    """``(c, value of c, x)`` when `n` is ``c ⊙ x`` (or ``x ⊙ c``, ``x / c``) with c a
    scalar constant that leaves x's shape as it is."""
    d = H.nodes[n]
    if d["kind"] != "op" or d["op"] not in ("mul", "div"):
        return None
    a, b = d["args"]
    shape = tuple(d["shape"])
    for c, x in ((b, a), (a, b)) if d["op"] == "mul" else ((b, a),):
        s = _scalar_of(H, c)
        if s is None or tuple(H.nodes[x]["shape"]) != shape:
            continue
        v = float(np.asarray(H.nodes[c]["value"]).reshape(-1)[0])
        if d["op"] == "div":
            if v == 0:
                return None
            return 1 / s, 1.0 / v, x
        return s, v, x
    return None


def _lift_coefficient(H: nx.DiGraph, n: int) -> int | None:
    """``(c a) ⊙ b`` as ``c (a ⊙ b)``: a coefficient moves to the front of a product."""
    d = H.nodes[n]
    if d["op"] != "mul":
        return None
    shape = tuple(d["shape"])
    A, B = d["args"]
    for i, side in enumerate((A, B)):
        sd = H.nodes[side]
        if sd["kind"] != "op" or sd["op"] != "mul" or H.out_degree(side) > 1:
            continue
        k, a = sd["args"]
        if H.nodes[k]["kind"] != "const" or H.nodes[k]["shape"] or _scalar_of(H, k) is None:
            continue
        other = B if i == 0 else A
        if tuple(H.nodes[a]["shape"]) != shape or tuple(H.nodes[other]["shape"]) != shape:
            continue
        inner = _op(H, "mul", (a, other) if i == 0 else (other, a))
        return _op(H, "mul", (k, inner))
    return None


def gather_scalars(G: nx.DiGraph) -> nx.DiGraph:
    """Writes products of numbers as one coefficient in front: ``x ⊙ c`` as ``c x``,
    ``x / c`` as ``(1/c) x``, ``c₁ (c₂ x)`` as ``(c₁ c₂) x``, ``(c a) ⊙ b`` as ``c (a ⊙ b)``,
    ``a + a`` as ``2 a`` (until nothing changes)."""
    H = _copy(G)
    changed: list[int] = []
    for _ in range(4):
        step = _gather_round(H)
        if not step:
            break
        changed += step
        H = prune(H, log=False)
    H = prune(H, log=False)
    _log(H, "gather_scalars", G.number_of_nodes(), changed)
    return drop_identities(H)


def _gather_round(H: nx.DiGraph) -> list[int]:
    changed = []
    for n in _ops_in_order(H):
        if n not in H or not H.out_degree(n) and n not in _root_nodes(H):
            continue
        d = H.nodes[n]
        if d["op"] == "add" and d["args"][0] == d["args"][1]:
            # a + a = 2 a, exactly
            k = _const(H, np.asarray(2, dtype=d["dtype"]), scalars.number(2))
            new = _op(H, "mul", (k, d["args"][0]))
            if tuple(H.nodes[new]["shape"]) == tuple(d["shape"]):
                _replace(H, n, new)
                changed.append(n)
            continue
        found = _coefficient(H, n)
        if found is None:
            lifted = _lift_coefficient(H, n)
            if lifted is not None:
                _replace(H, n, lifted)
                changed.append(n)
            continue
        c, v, x = found
        inner = _coefficient(H, x)
        a0 = d["args"][0]
        canonical = d["op"] == "mul" and H.nodes[a0]["kind"] == "const" and \
            not H.nodes[a0]["shape"] and _scalar_of(H, a0) is not None
        if inner is None and canonical:
            continue  # already c x
        if inner is not None:
            c2, v2, x = inner
            c, v = c * c2, v * v2
        k = _const(H, np.asarray(v, dtype=d["dtype"]), c)
        new = _op(H, "mul", (k, x))
        if tuple(H.nodes[new]["shape"]) != tuple(d["shape"]):
            continue
        if d.get("label") is not None:
            H.nodes[new]["label"] = d["label"]
        _replace(H, n, new)
        changed.append(n)
    _resolve_roots(H)
    return changed


def _root_nodes(H: nx.DiGraph) -> set[int]:
    alias = H.graph.get("alias", {})
    out = set()
    for group in H.graph["roots"].values():
        for v in group.values():
            while v in alias:
                v = alias[v]
            out.add(v)
    return out


def _key(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str, hash(v.tobytes()))
    if isinstance(v, dict):
        return tuple(sorted((k, _key(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_key(x) for x in v))
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return v


def common_subexpressions(G: nx.DiGraph) -> nx.DiGraph:
    """Merges nodes that compute the same thing from the same nodes, so each shared value is
    written once."""
    H = _copy(G)
    seen: dict[Any, int] = {}
    changed = []
    for n in list(nx.topological_sort(H)):
        d = H.nodes[n]
        if d["kind"] == "op":
            key = ("op", d["op"], _key(d["params"]), d["args"])
        elif d["kind"] == "const" and np.asarray(d["value"]).size <= 4096:
            key = ("const", _key(d["value"]), str(d.get("scalar")), d.get("label"))
        else:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = n
            continue
        _replace(H, n, first)
        changed.append(n)
    H = prune(H, log=False)
    _log(H, "common_subexpressions", G.number_of_nodes(), changed)
    return H


def _factors(H: nx.DiGraph, n: int, shape: tuple[int, ...]) -> list[int]:
    """The factors of a product of elementwise multiplications of one shape."""
    d = H.nodes[n]
    if d["kind"] == "op" and d["op"] == "mul" and tuple(d["shape"]) == shape:
        out = []
        for a in d["args"]:
            out += _factors(H, a, shape)
        return out
    return [n]


def name_derivatives(G: nx.DiGraph, forward_ops: dict[int, tuple[str, int, Any]] | None = None
                     ) -> nx.DiGraph:
    """``δ ⊙ f₁ ⊙ f₂ …`` from an activation's rule, the fᵢ free of δ, becomes ``δ ⊙ g′(a)``:
    one ``abbrev`` node named after the activation (``σ′``), whose arg is the product of the
    fᵢ (what it evaluates to) and whose ``of`` is the activation's input a.

    Args:
        forward_ops: for each activation's output (its forward id), the op's name, its input's
            forward id and value (``G.graph["activations"]`` when not given).
    """
    H = _copy(G)
    acts = forward_ops if forward_ops is not None else H.graph.get("activations", {})
    syms = {d["fid"]: n for n, d in H.nodes(data=True) if d["kind"] == "sym"}
    changed = []
    for (fid, i), r in list(H.graph["roots"]["contrib"].items()):
        found = acts.get(fid)
        if found is None or i != 0 or r not in H:
            continue
        op, xid, xval = found
        shape = tuple(H.nodes[r]["shape"])
        fs = _factors(H, r, shape)
        carriers = [f for f in fs if not H.nodes[f]["free"]]
        rest = [f for f in fs if H.nodes[f]["free"]]
        if len(carriers) != 1 or not rest:
            continue
        body = rest[0]
        for f in rest[1:]:
            body = _op(H, "mul", (body, f))
        if tuple(H.nodes[body]["shape"]) != shape:
            continue
        text, latex = DERIVATIVES[op]
        of = syms.get(xid)
        if of is None:
            a = np.asarray(xval)
            of = syms[xid] = _new(H, "sym", (), fid=xid, value=a, shape=a.shape, dtype=a.dtype,
                                  free=True)
        bd = H.nodes[body]
        ab = _new(H, "abbrev", (body,), name=(text, latex), of=of, value=bd["value"],
                  shape=bd["shape"], dtype=bd["dtype"], free=True)
        new = _op(H, "mul", (carriers[0], ab))
        _replace(H, r, new)
        changed.append(r)
    H = prune(H, log=False)
    _log(H, "name_derivatives", G.number_of_nodes(), changed)
    return H


def prune(G: nx.DiGraph, log: bool = True) -> nx.DiGraph:
    """Keeps what the roots (gradients, δs, rule results) and abbreviations depend on."""
    H = _copy(G) if log else G
    _resolve_roots(H)
    keep: set[int] = set()
    stack = [n for group in H.graph["roots"].values() for n in group.values() if n in H]
    while stack:  # one walk from every root at once
        n = stack.pop()
        if n in keep:
            continue
        keep.add(n)
        d = H.nodes[n]
        stack.extend(d["args"])
        if d["kind"] == "abbrev":
            stack.append(d["of"])
    removed = [n for n in H.nodes if n not in keep]
    H.remove_nodes_from(removed)
    if log:
        _log(H, "prune", G.number_of_nodes(), removed)
    return H


PIPELINE: tuple[Callable[[nx.DiGraph], nx.DiGraph], ...] = (
    inline_constant_deltas, fold_constants, drop_identities, common_subexpressions,
    push_transposes, gather_scalars, name_derivatives, prune,
)


def run(G: nx.DiGraph) -> nx.DiGraph:
    """Every pass of `PIPELINE`, in order."""
    for p in PIPELINE:
        G = p(G)
    return G
