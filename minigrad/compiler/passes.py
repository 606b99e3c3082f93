r"""Compiler passes: small pure functions from a trace DiGraph to a new DiGraph.

No pass changes the graph it is given: each copies it, works on the copy, and notes what it did
in ``G.graph["log"]`` (one entry per pass: its name, the node count before and after, and the
nodes it removed, folded or placed). In pipeline order:

1. `eliminate_dead_code`: keep only the ancestors of the outputs.
2. `fold_constants`: an op none of whose inputs varies from call to call (literals, captured
   constants) is computed once, at compile time, and becomes a constant.
3. `differentiate`: appends eager backward's own sweep, recorded: one ``vjp`` node per (op,
   input) and one ``acc`` node per gradient added to another, in its order (so sums round alike).
4. `lower`: every forward, VJP and accumulation whose rule can be recorded (`minigrad.compiler.
   lower`) becomes the numpy calls the rule makes, one ``fprim``/``bprim`` node per call.
5. `share_common_calls`: a lowered call that repeats an earlier one (the same function on the
   same arrays) is dropped, and its readers read the earlier result.
6. `materialize_operands`: an elementwise ufunc's input that is broadcast or cast is copied
   first into an array of the output's shape and the loop's dtype, so numpy runs the ufunc as
   one loop, with no iterator and no buffer allocated per call.
7. `schedule`: a static topological order, ``step`` on every node.
8. `liveness`: each array's last use, the array whose memory it shares (``root``), and whether
   it escapes to the caller (outputs, gradients).
9. `assign_buffers`: arrays whose lives do not overlap share one preallocated buffer, filled
   with numpy's ``out=``.
"""

from __future__ import annotations

import heapq
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from minigrad import autograd
from minigrad.compiler.lower import (
    Guard,
    Ref,
    Step,
    Unlowerable,
    leaves,
    map_leaves,
    record,
    record_inplace,
    same_bits,
)
from minigrad.ops.either import unbroadcast

__all__ = [
    "PIPELINE",
    "assign_buffers",
    "differentiate",
    "eliminate_dead_code",
    "fold_constants",
    "liveness",
    "lower",
    "materialize_operands",
    "schedule",
    "share_common_calls",
    "step_optimizer",
    "training_pipeline",
]

FORWARD = ("op", "raw", "fprim")
BACKWARD = ("seed", "vjp", "acc", "bprim")
PRIMS = ("fprim", "bprim")
NEVER = float("inf")


def _copy(G: nx.DiGraph) -> nx.DiGraph:
    """A copy whose node, edge and graph dicts are new (the arrays inside are shared)."""
    H = G.copy()
    H.graph = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
               for k, v in G.graph.items()}
    H.graph["log"] = list(G.graph.get("log", []))
    return H


def _log(G: nx.DiGraph, name: str, before: int, **what: Any) -> None:
    G.graph["log"].append({"pass": name, "before": before, "after": G.number_of_nodes(), **what})


def eliminate_dead_code(G: nx.DiGraph) -> nx.DiGraph:
    """Keeps the outputs, their ancestors and the arguments: an op whose result no output
    depends on cannot change any result, so it is not replayed."""
    keep = set(G.graph["outputs"]) | set(G.graph["inputs"])
    for o in G.graph["outputs"]:
        keep |= nx.ancestors(G, o)
    H = _copy(G)
    removed = [n for n in G.nodes if n not in keep]
    H.remove_nodes_from(removed)
    _log(H, "eliminate_dead_code", G.number_of_nodes(), removed=removed)
    return H


def fold_constants(G: nx.DiGraph) -> nx.DiGraph:
    """Turns every op whose inputs are all constants into a constant holding the value the
    trace computed (the same numpy calls on the same values: what a replay would compute),
    then drops constants that nothing reads any more."""
    H = _copy(G)
    folded = []
    for n in nx.topological_sort(G):
        d = H.nodes[n]
        if d["kind"] in FORWARD and not d["varying"]:
            H.remove_edges_from(list(H.in_edges(n)))
            d.update(kind="const", folded=True, args=())
            folded.append(n)
    outputs = set(H.graph["outputs"])
    orphans = [n for n, d in H.nodes(data=True)
               if d["kind"] == "const" and H.out_degree(n) == 0 and n not in outputs]
    H.remove_nodes_from(orphans)
    _log(H, "fold_constants", G.number_of_nodes(), folded=folded, removed=orphans)
    return H


def differentiate(G: nx.DiGraph) -> nx.DiGraph:
    """Appends the backward sweep of the loss: eager backward's own sweep
    (`minigrad.autograd.sweep`) over the tensors of the traced call, recorded instead of
    written to ``.grad``. One ``vjp`` node per gradient an op sends, one ``acc`` node per
    gradient added to another, in the sweep's order (so sums round alike); each node's value
    is the one the sweep computed, which gives every gradient its shape.

    ``G.graph["grads"]`` maps each leaf that requires grad to the node of its gradient.
    """
    H = _copy(G)
    loss = H.graph["loss"]
    H.graph["grads"] = {}
    if loss is None:
        _log(H, "differentiate", G.number_of_nodes())
        return H
    order = max(d["order"] for _, d in H.nodes(data=True)) + 1

    def add(key: str, kind: str, value: Any, args: tuple[Any, ...], label: str,
            **attrs: Any) -> str:
        nonlocal order
        H.add_node(key, kind=kind, value=value, shape=value.shape, dtype=value.dtype,
                   order=order, args=args, op=label, tensor=None, name=None, is_leaf=False,
                   requires_grad=False, module=None, varying=True, params=attrs.pop("params", {}),
                   **attrs)
        order += 1
        nums: dict[Any, list[int]] = {}
        for j, a in enumerate(args):
            nums.setdefault(a, []).append(j)
        for a, js in nums.items():
            H.add_edge(a, key, argnums=tuple(js), op=label, formulas=())
        return key

    ld = H.nodes[loss]
    seed = np.ones(ld["shape"], ld["dtype"])
    grads: dict[Any, str] = {loss: add("seed", "seed", seed, (), "δ = 1")}
    key_of = {id(d["tensor"]): n for n, d in H.nodes(data=True)
              if d["kind"] in ("input", "param", "op")}
    count = 0
    for t, _, sends in autograd.sweep([ld["tensor"]], [seed], aside=True):
        key = key_of[id(t)]
        gk = grads.pop(key)
        d = H.nodes[key]
        if d["kind"] != "op":
            H.graph["grads"][key] = gk
            continue
        op = d["fn"]
        for i, x, gx in sends:
            xk = key_of[id(x)]
            gx = np.asarray(gx)
            # unbroadcast: the input's shape, to which the replay sums the rule's result
            # (a no-op where the rule already gives that shape)
            vk = add(f"d{key}.{i}", "vjp", gx, (gk, key, *d["args"]), op.grad_formula(i),
                     fn=op, argnum=i, of=key, unbroadcast=H.nodes[xk]["shape"],
                     params=d["params"], where=d.get("where"))
            prev = grads.get(xk)
            if prev is None:
                grads[xk] = vk
            else:
                count += 1
                total = np.asarray(H.nodes[prev]["value"] + gx)
                grads[xk] = add(f"a{xk}.{count}", "acc", total, (prev, vk), "+")
    _log(H, "differentiate", G.number_of_nodes(),
         added=[n for n in H.nodes if n not in G.nodes])
    return H


class Key:
    """A node of the graph, inside the arguments of an ``fprim``/``bprim`` call."""

    __slots__ = ("node",)

    def __init__(self, node: Any) -> None:
        self.node = node

    def __repr__(self) -> str:
        return f"Key({self.node!r})"


def _rule(H: nx.DiGraph, n: Any, kept: bool = False) -> Callable[..., Any] | None:
    """The rule node `n` runs, as a function of the arrays of ``args`` (None when it has
    none that could be lowered: leaves, the seed). With `kept`, the node is an op that keeps
    values for its VJP (one array, or a tuple of arrays): its forward returns ``(out,
    *kept)``, and its VJP takes the kept arrays as its last arguments."""
    d = H.nodes[n]
    kind, params = d["kind"], d["params"]
    if kind == "op" and d["fn"].keeps == kept:
        forward = d["fn"].forward
        if isinstance(d.get("saved"), tuple):
            return lambda *xs: _flat(forward(*xs, **params))
        return lambda *xs: forward(*xs, **params)
    if kind == "vjp" and d["fn"].keeps == kept:
        f, i, shape = d["fn"].vjp(d["argnum"]), d["argnum"], d["unbroadcast"]
        kw = dict(params, argnum=i) if d["fn"].variadic else params
        saved = H.nodes[d["of"]].get("saved") if kept else None
        packed = isinstance(saved, tuple)
        nkept = len(saved) if isinstance(saved, tuple) else int(kept)

        def vjp(g: Any, out: Any, *xs: Any) -> Any:
            if nkept:
                keep = tuple(xs[-nkept:]) if packed else xs[-1]
                gx = f(g, out, *xs[:-nkept], saved=keep, **kw)
            else:
                gx = f(g, out, *xs, **kw)
            return gx if shape is None else unbroadcast(gx, shape)
        return vjp
    if kind == "acc":
        return operator.add
    return None


def _flat(res: tuple[Any, Any]) -> tuple[Any, ...]:
    """A forward's ``(out, (a, b…))``, with a tuple kept, as ``(out, a, b…)``."""
    out, keep = res
    return (out, *keep)


def lower(G: nx.DiGraph) -> nx.DiGraph:
    """Replaces each forward, VJP and accumulation that `minigrad.compiler.lower.record` can
    record by the numpy calls its rule makes: one node per call (``fprim`` in the forward,
    ``bprim`` in the backward), the last of which keeps the node's key. A rule whose result
    is one of its inputs (add's VJP hands δ on) disappears: its readers read that input. An
    op that keeps a value for its VJP (cross-entropy keeps ŷ) is lowered with its VJPs, or
    not at all. Rules that cannot be recorded stay as they were, one opaque call each."""
    H = _copy(G)
    lowered: list[Any] = []
    kept: list[tuple[Any, str]] = []
    alias: dict[Any, Any] = {}
    done: set[Any] = set()
    for n in [n for n, d in G.nodes(data=True) if d["kind"] in ("op", "vjp", "acc")]:
        d = H.nodes[n]
        if n in done:
            continue
        if d["kind"] == "op" and d["fn"].keeps:
            done |= _lower_keeping(H, n, alias, lowered, kept)
            continue
        f = _rule(H, n)
        args = [alias.get(a, a) for a in d["args"]]
        if f is None:
            kept.append((n, "the op keeps values for its VJP, and its forward stays whole"))
            continue
        guards = d["fn"].name if d["kind"] == "op" else None  # a forward may branch on values
        try:
            steps, result = record(f, [H.nodes[a]["value"] for a in args], d["value"], guards)
        except Unlowerable as e:
            kept.append((n, str(e)))
            continue
        if result.where == "in":  # nothing to run: readers of n read the input instead
            if d["kind"] == "op":  # a forward output keeps its node (name, module, outputs)
                kept.append((n, "the forward hands back one of its inputs"))
                continue
            lowered.append(n)
            alias[n] = args[result.index]
            continue
        lowered.append(n)
        _splice(H, n, steps, result, args)
    if alias:
        _forward_aliases(H, alias)
    _log(H, "lower", G.number_of_nodes(), lowered=lowered, kept=kept)
    return H


def _lower_keeping(H: nx.DiGraph, n: Any, alias: dict[Any, Any], lowered: list[Any],
                   kept: list[tuple[Any, str]]) -> set[Any]:
    """Lowers op `n`, which keeps an array (or a tuple of arrays) for its VJPs, together with
    those VJPs: each kept array becomes a node of the forward that the VJPs read. Returns the
    VJPs lowered."""
    d = H.nodes[n]
    args = [alias.get(a, a) for a in d["args"]]
    vjps = [m for m in H.successors(n) if H.nodes[m]["kind"] == "vjp" and H.nodes[m]["of"] == n]
    saved = d["saved"]
    arrays = list(saved) if isinstance(saved, tuple) else [saved]
    try:
        if not arrays or not all(isinstance(a, np.ndarray) for a in arrays):
            raise Unlowerable("the op keeps something other than arrays for its VJP")
        f = _rule(H, n, kept=True)
        assert f is not None
        steps, (res, *keeps) = record(f, [H.nodes[a]["value"] for a in args],
                                      (d["value"], *arrays), guards=d["fn"].name)
        if res.where == "in":
            raise Unlowerable("the forward hands back one of its inputs")
        recs = []
        for m in vjps:
            margs = [alias.get(a, a) for a in H.nodes[m]["args"]]
            g = _rule(H, m, kept=True)
            assert g is not None
            values = [H.nodes[a]["value"] for a in margs] + arrays
            recs.append((m, margs, *record(g, values, H.nodes[m]["value"])))
    except Unlowerable as e:
        kept.append((n, str(e)))
        return set()
    names = [args[k.index] if k.where == "in" else n if k.index == res.index
             else f"{n}~{k.index}" for k in keeps]
    _splice(H, n, steps, res, args, also=keeps)
    lowered.append(n)
    for m, margs, msteps, mres in recs:
        lowered.append(m)
        if mres.where == "in":
            alias[m] = (margs + names)[mres.index]
        else:
            _splice(H, m, msteps, mres, margs + names)
    return set(vjps)


def _needed(steps: list[Step], result: Ref, also: Sequence[Ref] = ()) -> list[int]:
    """The steps the result (and `also`) depend on, and every `Guard` with what it reads,
    in recorded order."""
    need = {r.index for r in (result, *also) if r.where == "step"}
    need |= {j for j, s in enumerate(steps) if isinstance(s.fn, Guard)}
    for j in range(max(need), -1, -1):
        if j in need:
            s = steps[j]
            for r in s.refs() + ([s.inplace] if s.inplace is not None else []):
                if r.where == "step":
                    need.add(r.index)
    return sorted(need)


def _splice(H: nx.DiGraph, n: Any, steps: list[Step], result: Ref, args: list[Any],
            keep_all: bool = False, also: Sequence[Ref] = ()) -> None:
    d = H.nodes[n]
    kind = "fprim" if d["kind"] == "op" else "bprim"
    keep = list(range(len(steps))) if keep_all else _needed(steps, result, also)
    keys = {j: (n if j == result.index else f"{n}~{j}") for j in keep}

    def to_key(x: Any) -> Any:
        if isinstance(x, Ref):
            return Key(args[x.index] if x.where == "in" else keys[x.index])
        return x

    old = d["value"]
    for s in H.successors(n):  # views of the array the trace made stay views of the new one
        if np.may_share_memory(H.nodes[s]["value"], old):
            H.nodes[s]["view_of"] = n
    H.remove_edges_from(list(H.in_edges(n)))
    for pos, j in enumerate(keep):
        s = steps[j]
        k = keys[j]
        cargs, ckwargs = map_leaves(s.args, to_key), map_leaves(s.kwargs, to_key)
        inplace = to_key(s.inplace).node if s.inplace is not None else None
        reads = [r.node for r in leaves((cargs, ckwargs)) if isinstance(r, Key)]
        if inplace is not None:
            reads.append(inplace)
        reads = list(dict.fromkeys(reads))
        label = s.attr or getattr(s.fn, "__name__", str(s.fn))
        if hasattr(s.fn, "__self__") and isinstance(s.fn.__self__, np.ufunc):
            label = f"{s.fn.__self__.__name__}.{s.fn.__name__}"
        value = s.value
        attrs = dict(kind=kind, value=value, shape=np.shape(value), dtype=np.asarray(value).dtype,
                     args=tuple(reads), call=s.fn, cargs=cargs, ckwargs=ckwargs, out=s.out,
                     inplace=inplace, attr=s.attr, prim=label, lowered_from=n,
                     varying=True, requires_grad=False)
        if k == n:
            # the node keeps its key, its order and what names it (op, fn…)
            d.update(attrs, was=d["kind"])
        else:
            H.add_node(k, **attrs, was=kind, order=d["order"] - 1 + (pos + 1) / (len(keep) + 1),
                       op=label, tensor=None, name=None, is_leaf=False, module=d.get("module"),
                       params={})
        for r in reads:
            H.add_edge(r, k, argnums=(), op=label, formulas=())


def _forward_aliases(H: nx.DiGraph, alias: dict[Any, Any]) -> None:
    """Readers of a node that hands an input on read that input; the node goes."""
    def final(k: Any) -> Any:
        while k in alias:
            k = alias[k]
        return k

    for _, d in H.nodes(data=True):
        if d.get("view_of") in alias:
            d["view_of"] = final(d["view_of"])
        if any(a in alias for a in d.get("args", ())):
            d["args"] = tuple(final(a) for a in d["args"])
        if "cargs" in d:
            def sub(x: Any) -> Any:
                return Key(final(x.node)) if isinstance(x, Key) else x
            d["cargs"] = map_leaves(d["cargs"], sub)
            d["ckwargs"] = map_leaves(d["ckwargs"], sub)
            if d["inplace"] in alias:
                d["inplace"] = final(d["inplace"])
    for a in alias:
        for _, s, e in list(H.out_edges(a, data=True)):
            H.add_edge(final(a), s, **e)
    H.graph["grads"] = {k: final(v) for k, v in H.graph["grads"].items()}
    H.graph["outputs"] = [final(o) for o in H.graph["outputs"]]
    H.remove_nodes_from(list(alias))


def share_common_calls(G: nx.DiGraph) -> nx.DiGraph:
    """Drops each lowered call that repeats an earlier call of its part (forward or
    backward): the same function with the same arguments (the same arrays, equal
    constants). Its readers read the earlier result, which is the same array bit for bit.
    Rules are written one VJP at a time, so VJPs of one op may compute the same thing:
    attention's VJPs for q and k both start from ∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)).

    Only calls that write nothing are shared (no in-place write, no guard), and never an
    array that a later call writes into."""
    H = _copy(G)
    written = {d["inplace"] for _, d in H.nodes(data=True) if d.get("inplace") is not None}
    alias: dict[Any, Any] = {}
    seen: dict[Any, Any] = {}
    order = nx.lexicographical_topological_sort(H, key=lambda n: H.nodes[n]["order"])
    for n in order:
        d = H.nodes[n]
        if d["kind"] not in PRIMS or n in written or not _pure(H, n):
            continue
        try:
            key = (d["kind"], id(d["call"]), d.get("attr"), _same_args(H, d["cargs"], alias),
                   _same_args(H, d["ckwargs"], alias))
            hash(key)
        except TypeError:  # an argument with no value to compare (an object of its own)
            continue
        first = seen.setdefault(key, n)
        if first != n and same_bits(H.nodes[first]["value"], d["value"]):
            alias[n] = first
    shared = list(alias)
    if alias:
        _forward_aliases(H, alias)
    _log(H, "share_common_calls", G.number_of_nodes(), shared=shared)
    return H


def _pure(H: nx.DiGraph, n: Any) -> bool:
    """A call whose result depends on its arguments alone and that writes nothing: not an
    in-place write, not a guard. (A view of an argument is pure: it is the same view.)"""
    d = H.nodes[n]
    return d.get("inplace") is None and not isinstance(d["call"], Guard) \
        and isinstance(d["value"], (np.ndarray, np.generic))


def _same_args(H: nx.DiGraph, x: Any, alias: dict[Any, Any]) -> Any:
    """A hashable stand-in for a call's arguments: nodes (after `alias`) by name, constants
    (captured or literal, a retrace follows any change to them), arrays and numbers by type
    and bytes, anything else by type and repr."""
    if isinstance(x, Key):
        k = x.node
        while k in alias:
            k = alias[k]
        return _same_args(H, H.nodes[k]["value"], alias) if H.nodes[k]["kind"] == "const" \
            else ("node", k)
    if type(x) in (tuple, list):
        return (type(x).__name__, *(_same_args(H, v, alias) for v in x))
    if type(x) is dict:
        return ("dict", *((k, _same_args(H, v, alias)) for k, v in x.items()))
    if isinstance(x, (np.ndarray, np.generic)):
        a = np.asarray(x)
        if a.dtype == object:
            raise TypeError("an object array")
        return ("array", a.dtype.str, a.shape, a.tobytes())
    if x is None or type(x) in (bool, int, float, complex, str, slice, type(Ellipsis)) \
            or isinstance(x, np.dtype):
        return (type(x).__name__, repr(x))
    raise TypeError(f"no value to compare for {type(x).__name__}")


class OptimizerError(ValueError):
    """A training step whose optimizer update cannot be compiled."""


def _param_groups(opt: Any) -> dict[int, dict[str, Any]]:
    return {id(p): g for g in opt.param_groups for p in g["params"]}


def step_optimizer(opt: Any) -> Callable[[nx.DiGraph], nx.DiGraph]:
    """The pass that appends ``opt``'s update of every parameter to the backward.

    Each parameter's update is the optimizer's own rule (``_apply``), recorded as the numpy
    calls it makes (`minigrad.compiler.lower.record_inplace`) on the gradient the backward
    computed: one ``bprim`` node per call, writing into the parameter and the optimizer's
    state arrays in place. The numbers that change from step to step (Adam's bias
    corrections, from ``_step_scalars``) are 0-d arrays the plan refills before each replay.
    The gradients are read by the update and nothing else: they no longer escape, so they
    live in buffers. ``G.graph["updates"]`` lists, per parameter, what the plan needs to
    refill and guard."""

    def optimizer_step(G: nx.DiGraph) -> nx.DiGraph:
        H = _copy(G)
        groups = _param_groups(opt)
        updates = []
        for leaf, gk in H.graph["grads"].items():
            # as soon as the gradient is ready (and every read of the parameter done): the
            # gradient is still in cache, and its buffer is free for the rest of the backward
            updates.append(_add_update(H, opt, groups, leaf, gk, H.nodes[gk]["order"] + 0.5))
        H.graph["grads"] = {}
        H.graph["updates"] = updates
        _log(H, "optimizer_step", G.number_of_nodes(), lowered=[u["node"] for u in updates])
        return H

    return optimizer_step


def _update_inputs(H: nx.DiGraph, opt: Any, groups: dict[int, dict[str, Any]], leaf: Any,
                   gk: Any) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The parameter's tensor, its group's numbers, its state and this step's scalars."""
    from minigrad.optim.optimizer import Optimizer, _python_numbers

    d = H.nodes[leaf]
    t, name = d["tensor"], type(opt).__name__
    what = f"{'argument' if d['kind'] == 'input' else 'parameter'} of shape {d['shape']}"
    if d["kind"] != "param" or id(t) not in groups:
        raise OptimizerError(
            f"minigrad.compile(optimizer={name}): the {what} requires grad but is not one of "
            f"the optimizer's parameters; add it to the optimizer or set requires_grad=False")
    if type(opt)._apply is Optimizer._apply:
        raise OptimizerError(
            f"minigrad.compile(optimizer={name}): {name} writes its update as one _update, "
            f"not as _step_scalars and _apply; call opt.step() outside the compiled function")
    gd = H.nodes[gk]
    if gd["dtype"] != d["dtype"] or gd["shape"] != d["shape"]:
        raise OptimizerError(
            f"minigrad.compile(optimizer={name}): the gradient of the {what} is "
            f"{gd['shape']} {gd['dtype']}, the parameter {d['dtype']}; run the step eagerly")
    state = opt.state.get(t)
    if state is None:
        raise OptimizerError(f"minigrad.compile(optimizer={name}): the {what} has no state "
                             f"after the first (eager) step")
    hyper = _python_numbers(groups[id(t)])
    scalars = opt._step_scalars(dict(state), hyper)
    return t, hyper, state, scalars


def _readers(H: nx.DiGraph, leaf: Any) -> list[Any]:
    """The backward's nodes that read the array of `leaf`, directly or through a view of it
    (the forward runs before the backward: no write into a parameter can overtake it)."""
    w = H.nodes[leaf]["value"]
    seen, stack, out = {leaf}, [leaf], []
    while stack:
        for s in H.successors(stack.pop()):
            if s not in seen:
                seen.add(s)
                if H.nodes[s]["kind"] in BACKWARD:
                    out.append(s)
                if np.may_share_memory(H.nodes[s]["value"], w):
                    stack.append(s)
    return out


def _add_update(H: nx.DiGraph, opt: Any, groups: dict[int, dict[str, Any]], leaf: Any,
                gk: Any, order: float) -> dict[str, Any]:
    t, hyper, state, scalars = _update_inputs(H, opt, groups, leaf, gk)
    w = H.nodes[leaf]["value"]
    readers = _readers(H, leaf)
    keys = [k for k, v in state.items() if isinstance(v, np.ndarray)]
    zeros = {k: np.zeros((), w.dtype) for k in scalars}
    for k, v in scalars.items():
        zeros[k][()] = v

    def apply(wa: Any, *rest: Any) -> None:
        st = {**state, **dict(zip(keys, rest))}
        sc = dict(zip(zeros, rest[len(keys) + 1:]))
        opt._apply(wa, rest[len(keys)], st, hyper, sc)

    def reference(wa: Any, *rest: Any) -> None:
        opt._apply(wa, rest[len(keys)], {**state, **dict(zip(keys, rest))}, hyper, scalars)

    inputs = [w, *(state[k] for k in keys), H.nodes[gk]["value"], *zeros.values()]
    try:
        steps = record_inplace(apply, inputs, 1 + len(keys), reference)
    except Unlowerable as e:
        raise OptimizerError(
            f"minigrad.compile(optimizer={type(opt).__name__}): the update of the parameter "
            f"of shape {w.shape} cannot be compiled ({e}); call opt.step() outside") from e
    n = f"u{leaf}"
    const: dict[str, Any] = dict(kind="const", tensor=None, name=None, is_leaf=True,
                                 requires_grad=False, module=None, varying=False, params={},
                                 args=(), op=None, order=-1)
    args: list[Any] = [leaf]
    for k in keys:
        args.append(f"s{leaf}.{k}")
        H.add_node(args[-1], value=state[k], shape=state[k].shape, dtype=state[k].dtype, **const)
    args.append(gk)
    for k, z in zeros.items():
        args.append(f"c{leaf}.{k}")
        H.add_node(args[-1], value=z, shape=(), dtype=z.dtype, **const)
    H.add_node(n, kind="update", value=w, shape=w.shape, dtype=w.dtype, order=order, args=(),
               op=f"{type(opt).__name__} update", tensor=None, name=None, is_leaf=False,
               requires_grad=False, module=None, varying=True, params={})
    _splice(H, n, steps, Ref("step", len(steps) - 1), args, keep_all=True)
    for j in range(len(steps)):  # a write into the parameter waits for every read of it
        if _writes_input(steps, j, 0):
            for r in readers:
                H.add_edge(r, n if j == len(steps) - 1 else f"{n}~{j}", argnums=(), op="order",
                           formulas=())
    return {"node": n, "tensor": t, "state": state, "group": groups[id(t)], "hyper": hyper,
            "step_scalars": opt._step_scalars, "optimizer": opt,
            "scalars": zeros, "arrays": {k: state[k] for k in keys}}


def _writes_input(steps: list[Step], j: int, i: int) -> bool:
    """True when step `j` writes into the array of input `i` (following earlier writes)."""
    r = steps[j].inplace
    while r is not None and r.where == "step":
        r = steps[r.index].inplace
    return r is not None and r.where == "in" and r.index == i


# ufunc keywords that leave the call one loop over its operands (where= masks it: an iterator)
ONE_LOOP_KWARGS = frozenset({"dtype", "casting", "order", "signature"})


def materialize_operands(G: nx.DiGraph) -> nx.DiGraph:
    """Copies each input that numpy would buffer at every call of an elementwise ufunc into
    an array of the output's shape and the loop's dtype, once per call and before it.

    numpy runs ``ufunc(x, y, out)`` as one call of its inner loop when every input is 0-d or
    has the output's shape, the loop's dtype and the output's (C) layout. Otherwise it builds
    an iterator, which allocates a buffer (up to 8192 elements) for each input it must cast
    or cannot read with one stride through the output: a bias b broadcast over the rows of
    h @ W, a column broadcast over the columns, a bool mask 1[a > 0] multiplying a float δ.
    Such an input becomes ``np.copyto(buf, x)``, a ``fprim``/``bprim`` node of its own that
    `assign_buffers` gives a buffer (a constant input becomes a constant of that shape, made
    once, here, with its tensor's guard), and the ufunc reads that. It reads the same numbers
    in the same dtype, so it gives the same bits (checked on the trace's values; a call that
    would not keeps its inputs). An input read with one stride (a δ broadcast from one number
    reads with stride 0) is left as it is: numpy reads it in place, and a copy would cost a
    pass over the output."""
    H = _copy(G)
    added: list[Any] = []
    laid: dict[tuple[Any, ...], Any] = {}  # one constant per (input, shape, dtype)
    for n in [n for n, d in G.nodes(data=True) if d["kind"] in PRIMS]:
        d = H.nodes[n]
        loop = _loop_dtypes(H, d)
        if loop is None:
            continue
        new = {i: _materialized(_arg_value(H, x), d["value"].shape, dt)
               for i, (x, dt) in enumerate(zip(d["cargs"], loop))
               if _needs_copy(_arg_value(H, x), d["value"].shape, dt)}
        if not new or not _same_result(H, d, new):
            continue
        cargs = list(d["cargs"])
        for i, m in new.items():
            k = _copied_input(H, n, i, m, laid)
            if k not in added:
                added.append(k)
            cargs[i] = Key(k)
        d["cargs"] = tuple(cargs)
        _reconnect(H, n)
    # constants that nothing reads any more go, as in fold_constants (their guards moved on)
    unread = [n for n, d in G.nodes(data=True) if d["kind"] == "const" and G.out_degree(n)
              and not H.out_degree(n) and n not in H.graph["outputs"]]
    H.remove_nodes_from(unread)
    _log(H, "materialize_operands", G.number_of_nodes(), added=added, removed=unread)
    return H


def _arg_value(H: nx.DiGraph, x: Any) -> Any:
    return H.nodes[x.node]["value"] if isinstance(x, Key) else x


def _loop_dtypes(H: nx.DiGraph, d: dict[str, Any]) -> tuple[np.dtype, ...] | None:
    """The input dtypes of the loop numpy runs for lowered call `d`, when it is a ufunc
    applied element by element into one C-ordered array of the loop's output dtype (a call
    `materialize_operands` can bring to one loop); else None."""
    f, out = d.get("call"), d["value"]
    if not (isinstance(f, np.ufunc) and f.signature is None and f.nout == 1
            and len(d["cargs"]) == f.nin and not set(d["ckwargs"]) - ONE_LOOP_KWARGS
            and type(out) is np.ndarray and out.flags.c_contiguous and out.size):
        return None
    types = [_operand_type(_arg_value(H, x)) for x in d["cargs"]]
    kw = d["ckwargs"]
    resolve = {k: kw[k] for k in ("signature", "casting") if kw.get(k) is not None}
    if "signature" not in resolve and kw.get("dtype") is not None:  # dtype= fixes the output
        resolve["signature"] = (None,) * f.nin + (kw["dtype"],)
    try:
        loop = f.resolve_dtypes((*types, None), **resolve)
    except (TypeError, ValueError):  # an operand of no dtype, or no loop without `out`
        return None
    return tuple(loop[:f.nin]) if loop[-1] == out.dtype else None


def _operand_type(x: Any) -> Any:
    """What `np.ufunc.resolve_dtypes` takes for operand `x`: its dtype, or the type of a
    Python number, which numpy types weakly (None, which it refuses, for anything else)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype
    if type(x) is bool:
        return np.dtype(bool)
    return type(x) if type(x) in (int, float, complex) else None


def _needs_copy(x: Any, shape: tuple[int, ...], dt: np.dtype) -> bool:
    """Whether numpy buffers input `x` of a ufunc writing `shape` with loop input dtype `dt`:
    an array to cast, or one that, broadcast to `shape`, does not step through it in C order
    with one stride. Numbers (Python's, numpy's scalars) numpy reads as they are."""
    if not isinstance(x, np.ndarray):
        return False
    if x.dtype != dt:
        return True
    return x.ndim > 0 and not _one_stride(np.broadcast_to(x, shape).strides, shape)


def _one_stride(strides: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether an array of these strides steps through `shape` in C order by one stride:
    each axis (of more than one element) steps by the inner stride times the elements inside
    it (a contiguous array; one value broadcast, all strides 0)."""
    step, inside = None, 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n == 1:
            continue
        if step is None:
            step = s
        elif s != step * inside:
            return False
        inside *= n
    return True


def _materialized(x: Any, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    """`x` broadcast to `shape` (0-d stays 0-d) and cast to `dt`, in a new C-ordered array."""
    m = np.empty(shape if np.ndim(x) else (), dt)
    np.copyto(m, x, casting="unsafe")
    return m


def _same_result(H: nx.DiGraph, d: dict[str, Any], new: dict[int, np.ndarray]) -> bool:
    """Whether call `d` gives the same bits with inputs `new` (by position) as with its own."""
    f, kw = d["call"], d["ckwargs"]
    old = [_arg_value(H, x) for x in d["cargs"]]
    with np.errstate(all="ignore"):
        return same_bits(f(*old, **kw), f(*[new.get(i, x) for i, x in enumerate(old)], **kw))


def _copied_input(H: nx.DiGraph, n: Any, i: int, value: np.ndarray,
                  laid: dict[tuple[Any, ...], Any]) -> Any:
    """The node input `i` of `n` becomes, `value` being that input laid out: a copy made at
    each call before `n`, or, for a constant, a constant (one per constant, shape and
    dtype, in `laid`)."""
    x = H.nodes[n]["cargs"][i]
    src = x.node if isinstance(x, Key) else None
    if src is not None and H.nodes[src]["kind"] != "const":
        return _add_copy(H, n, i, src, value)
    key = (src if src is not None else id(x), value.shape, value.dtype.str)
    if key not in laid:
        laid[key] = _add_constant(H, n, i, src, value)
    return laid[key]


def _add_constant(H: nx.DiGraph, n: Any, i: int, src: Any, value: np.ndarray) -> str:
    """A constant holding `value`: input `i` of `n`, constant node `src` (or a number its
    rule made, for None), laid out once, here. It keeps the guard of the tensor it copies,
    so that changing that tensor in place still retraces."""
    old = H.nodes[src] if src is not None else {}
    k = re.sub(r"\W", "_", f"m{n}_{i}")  # the generated code names a constant by its key
    while k in H:
        k += "_"
    H.add_node(k, kind="const", value=value, shape=value.shape, dtype=value.dtype, args=(),
               op=None, order=-1, tensor=old.get("tensor"), version=old.get("version"),
               name=None, is_leaf=True, requires_grad=False, module=None, varying=False,
               params={}, folded=True)
    return k


def _add_copy(H: nx.DiGraph, n: Any, i: int, src: Any, value: np.ndarray) -> str:
    """A node that copies `src` into an array like `value` right before `n` reads it (still
    in cache then): ``np.copyto(buf, src)``, casting under the ufunc's own rule."""
    d = H.nodes[n]
    k = f"{n}<{i}"
    casting = {"casting": d["ckwargs"]["casting"]} if "casting" in d["ckwargs"] else {}
    H.add_node(k, kind=d["kind"], value=value, shape=value.shape, dtype=value.dtype,
               args=(src,), call=np.copyto, cargs=(Key(src),), ckwargs=casting, out="dst",
               inplace=None, attr=None, prim="copyto", lowered_from=d.get("lowered_from", n),
               varying=True, requires_grad=False, was=d["kind"], order=d["order"] - 1e-6,
               op="copyto", tensor=None, name=None, is_leaf=False, module=d.get("module"),
               params={})
    H.add_edge(src, k, argnums=(), op="copyto", formulas=())
    return k


def _reconnect(H: nx.DiGraph, n: Any) -> None:
    """`n`'s ``args`` and in-edges made those of its call again, after its inputs changed
    (edges that only order it, before a write into a parameter, stay)."""
    d = H.nodes[n]
    reads = [r.node for r in leaves((d["cargs"], d["ckwargs"])) if isinstance(r, Key)]
    if d["inplace"] is not None:
        reads.append(d["inplace"])
    d["args"] = tuple(dict.fromkeys(reads))
    for r, _, e in list(H.in_edges(n, data=True)):
        if r not in d["args"] and e.get("op") != "order":
            H.remove_edge(r, n)
    for r in d["args"]:
        if not H.has_edge(r, n):
            H.add_edge(r, n, argnums=(), op=d["prim"], formulas=())


def schedule(G: nx.DiGraph) -> nx.DiGraph:
    """A static order of execution: the topological order that breaks ties by position in the
    trace, so the forward runs as the eager call did and the backward as eager backward."""
    H = _copy(G)
    order = list(nx.lexicographical_topological_sort(H, key=lambda n: H.nodes[n]["order"]))
    runs = [n for n in order if H.nodes[n]["kind"] in FORWARD + BACKWARD]
    for s, n in enumerate(runs):
        H.nodes[n]["step"] = s
    H.graph["schedule"] = runs
    _log(H, "schedule", G.number_of_nodes(), steps=len(runs))
    return H


def liveness(G: nx.DiGraph) -> nx.DiGraph:
    """For every computed array: ``last_use`` (the last step that reads it), ``root`` (the
    array whose memory it may share: a reshape or transpose is a view of its input), ``life``
    (on roots: the last step any of its views is read, `inf` if it escapes to the caller) and
    ``saved`` (read by the backward). ``G.graph["peak_bytes"]`` is the most memory the
    computed arrays hold at once."""
    H = _copy(G)
    sched = H.graph["schedule"]
    computed = FORWARD + BACKWARD
    for n in sched:
        d = H.nodes[n]
        d["root"] = n
        if d.get("view_of") in H.nodes:  # a view of an array `lower` made anew
            d["root"] = H.nodes[d["view_of"]]["root"]
        for a in () if "view_of" in d else d["args"]:
            # a view (reshape, transpose, an add's δ handed on) of an argument
            ad = H.nodes[a]
            if ad["kind"] in computed and np.may_share_memory(d["value"], ad["value"]):
                d["root"] = ad["root"]
                break
        d["last_use"] = max((H.nodes[s]["step"] for s in H.successors(n)), default=d["step"])
        d["saved"] = d["kind"] in FORWARD and any(
            H.nodes[s]["kind"] in BACKWARD for s in H.successors(n))
    escapes = set(H.graph["outputs"]) | set(H.graph["grads"].values())
    for n in sched:
        d = H.nodes[n]
        if d["kind"] == "op" and d["fn"].keeps:  # what an op keeps for its VJP may be a view
            for a in (n, *d["args"]):
                ad = H.nodes[a]
                if ad["kind"] in FORWARD and any(np.may_share_memory(x, ad["value"])
                                                 for x in _arrays(d["saved"])):
                    escapes.add(a)
    for n in sched:
        H.nodes[n]["life"] = H.nodes[n]["last_use"]
    for n in sched:
        d = H.nodes[n]
        r = H.nodes[d["root"]]
        r["life"] = max(r["life"], d["last_use"])
    for n in escapes:
        if n in H.nodes and "root" in H.nodes[n]:
            H.nodes[H.nodes[n]["root"]]["life"] = NEVER
    H.graph["peak_bytes"] = _peak(H, sched)
    _log(H, "liveness", G.number_of_nodes(), escaping=sorted(map(str, escapes)))
    return H


def _arrays(x: Any) -> list[np.ndarray]:
    """The arrays inside what an op kept for its VJP (an array, a tuple, a dict…)."""
    if isinstance(x, np.ndarray):
        return [x]
    if isinstance(x, (tuple, list)):
        return [a for v in x for a in _arrays(v)]
    if isinstance(x, dict):
        return [a for v in x.values() for a in _arrays(v)]
    return []


def _peak(H: nx.DiGraph, sched: list[Any]) -> int:
    """The largest sum of bytes of the arrays alive at one step (roots only: views are free)."""
    n_steps = len(sched)
    delta = [0] * (n_steps + 1)
    for n in sched:
        d = H.nodes[n]
        if d["root"] != n:
            continue
        end = n_steps - 1 if d["life"] == NEVER else int(d["life"])
        delta[d["step"]] += d["value"].nbytes
        delta[end + 1] -= d["value"].nbytes
    peak = live = 0
    for x in delta:
        live += x
        peak = max(peak, live)
    return peak


def _poolable(H: nx.DiGraph, n: Any) -> bool:
    """A numpy call that takes an output buffer, for an array that is no view of another,
    laid out as the buffer will be, and that does not outlive the call's backward."""
    d = H.nodes[n]
    v = d["value"]
    return (d["kind"] in PRIMS and d["out"] is not None and d["inplace"] is None
            and d["root"] == n and d["life"] != NEVER
            and type(v) is np.ndarray and v.flags.c_contiguous)


def _elementwise(d: dict[str, Any]) -> bool:
    """A ufunc applied element by element (not matmul, not a reduction): its output may be
    one of its inputs."""
    return isinstance(d.get("call"), np.ufunc) and d["call"] is not np.matmul


def assign_buffers(G: nx.DiGraph) -> nx.DiGraph:
    """Gives each array that a numpy call can write with ``out=`` a buffer, allocated once
    for the plan and refilled at every step. Walking the schedule, a buffer is free again the
    step after the last read of the array in it (and of every view of it), and is handed to
    the next array of the same shape and dtype. An elementwise ufunc whose input is read for
    the last time by that very call writes into the input's buffer (``np.add(a, b, a)``):
    a chain of elementwise ops (bias add and activation, their VJPs, the update) runs in
    place in one buffer. ``G.graph["buffers"]`` lists each buffer's (shape, dtype);
    ``buffer`` on a node says which one holds it; ``G.graph["in_place"]`` counts the calls
    that write into an input."""
    H = _copy(G)
    free: dict[tuple[Any, ...], list[int]] = {}
    busy: list[tuple[float, int, int, tuple[Any, ...], Any]] = []
    holder: dict[int, Any] = {}  # buffer → the node whose array it holds now
    buffers: list[tuple[tuple[int, ...], np.dtype]] = []
    placed: list[Any] = []
    in_place = 0
    for n in H.graph["schedule"]:
        d = H.nodes[n]
        s = d["step"]
        while busy and busy[0][0] < s:
            _, _, b, k, owner = heapq.heappop(busy)
            if holder.get(b) == owner:  # not handed on in place since
                del holder[b]
                free.setdefault(k, []).append(b)
        if not _poolable(H, n):
            continue
        k = (d["value"].shape, d["value"].dtype.str)
        reuse = _reusable_input(H, n, k, holder) if _elementwise(d) else None
        if reuse is not None and (reuse[1] or not free.get(k)):
            b = reuse[0]
            in_place += 1
        elif free.get(k):
            b = free[k].pop()  # the buffer freed last: the likeliest to be in cache
        else:
            b = len(buffers)
            buffers.append((d["value"].shape, d["value"].dtype))
        d["buffer"] = b
        holder[b] = n
        heapq.heappush(busy, (d["life"], len(placed), b, k, n))
        placed.append(n)
    H.graph["buffers"] = buffers
    H.graph["in_place"] = in_place
    _log(H, "assign_buffers", G.number_of_nodes(), placed=placed, buffers=len(buffers))
    return H


RECENT = 4  # steps: an array made this recently is still in cache


def _reusable_input(H: nx.DiGraph, n: Any, k: tuple[Any, ...], holder: dict[int, Any]
                    ) -> tuple[int, bool] | None:
    """The buffer of an input of `n` that `n` reads last (no later read of it or of a view),
    of `n`'s shape and dtype, and whether that input was made in the last `RECENT` steps
    (writing over an array read from far back, such as a forward activation in the
    backward, dirties memory a buffer in use would not); or None."""
    d = H.nodes[n]
    found = None
    for a in d["args"]:
        ad = H.nodes[a]
        b = ad.get("buffer")
        if (b is not None and holder.get(b) == a and ad["life"] == d["step"]
                and (ad["value"].shape, ad["value"].dtype.str) == k):
            recent = d["step"] - ad["step"] <= RECENT
            if recent:
                return int(b), True
            found = found or (int(b), False)
    return found


PIPELINE: tuple[Callable[[nx.DiGraph], nx.DiGraph], ...] = (
    eliminate_dead_code, fold_constants, differentiate, lower, share_common_calls,
    materialize_operands, schedule, liveness, assign_buffers)


def training_pipeline(opt: Any) -> tuple[Callable[[nx.DiGraph], nx.DiGraph], ...]:
    """`PIPELINE` with `step_optimizer` after lowering: the whole training step."""
    i = PIPELINE.index(lower) + 1
    return (*PIPELINE[:i], step_optimizer(opt), *PIPELINE[i:])
