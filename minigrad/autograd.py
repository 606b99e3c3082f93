r"""Backward: the reverse topological sweep over the graph of an output's history.

For every node, once all of its consumers have sent their contributions, the sweep applies
the op's VJP for each input that requires grad: `δ` in, one gradient per input out, summed
back over broadcast axes (`unbroadcast`) and added to what that input already received.
A node reached twice (``x * x``, ``a + a``, a diamond) adds up both contributions.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from minigrad.graph import build_for_backward, sweep_order
from minigrad.modes import enable_grad, state
from minigrad.ops.dual import unbroadcast
from minigrad.tensor import Tensor, as_array

__all__ = ["backward", "grad"]


def _seed(out: Tensor, gradient: Any) -> np.ndarray:
    if gradient is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"backward() without `gradient` needs a scalar output, but this one has shape "
                f"{out.shape}. Reduce it first (e.g. out.sum()) or pass gradient= of shape "
                f"{out.shape}."
            )
        return np.ones(out.shape, dtype=out.dtype)
    g = as_array(gradient, dtype=out.dtype)
    if g.shape != out.shape:
        raise ValueError(
            f"backward(): gradient has shape {g.shape} but the output has shape {out.shape}; "
            f"they must match"
        )
    return g


def _as_tensor(g: Any) -> Tensor:
    return g if isinstance(g, Tensor) else Tensor._wrap(np.asarray(g))


def _run_hooks(t: Tensor, g: Any, create_graph: bool) -> Any:
    assert t._hooks is not None
    for hook in list(t._hooks.values()):
        r = hook(_as_tensor(g))
        if r is not None:
            r = r if create_graph else (r.data if isinstance(r, Tensor) else np.asarray(r))
            if r.shape != t.shape:
                raise RuntimeError(
                    f"a hook on a tensor of shape {t.shape} returned shape {r.shape}"
                )
            g = r
    return g


def _anomaly(op: Any, where: str | None, i: int, gx: Any) -> None:
    arr = gx.data if isinstance(gx, Tensor) else np.asarray(gx)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise FloatingPointError(
            f"detect_anomaly: the VJP of op '{op.name}' ({op.formula}) for input {i} "
            f"({op.grad_formula(i)}) produced NaN or Inf in backward.\n"
            f"  the op was created at {where or '<outside detect_anomaly>'}"
        )


def _sweep(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    wanted: set[int] | None = None,
) -> tuple[dict[int, Any], list[tuple[Tensor, Any]]]:
    """Walks the graph of `roots` in reverse topological order.

    Returns the gradients reached at `wanted` node ids, and the (tensor, gradient) pairs to
    store in ``.grad`` (leaves, and non-leaves with retain_grad), which the caller writes
    only after the whole sweep succeeded, so an error leaves every ``.grad`` as it was.
    """
    gc_was_on = gc.isenabled()
    gc.disable()  # the sweep makes no reference cycles; collecting midway only costs time
    G = None
    try:
        G, tensors = build_for_backward(roots)
        return _walk(G, tensors, roots, seeds, retain_graph, create_graph, wanted)
    finally:
        # topological_sort caches a view of G on G (a reference cycle): drop it, so the
        # graph goes at once rather than at the next GC pass
        if G is not None:
            G.__dict__.pop("in_degree", None)
        if gc_was_on:
            gc.enable()


def _walk(
    G: nx.DiGraph,
    tensors: dict[int, Tensor],
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    wanted: set[int] | None,
) -> tuple[dict[int, Any], list[tuple[Tensor, Any]]]:
    grads: dict[int, Any] = {}
    for r, s in zip(roots, seeds):
        grads[id(r)] = grads[id(r)] + s if id(r) in grads else s
    found: dict[int, Any] = {}
    store: list[tuple[Tensor, Any]] = []
    done = []
    anomaly = state.anomaly
    for nid in reversed(sweep_order(G)):
        g = grads.pop(nid, None)
        if g is None:
            continue
        t = tensors[nid]
        if t._hooks:
            g = _run_hooks(t, g, create_graph)
        if wanted is not None and nid in wanted:
            found[nid] = g
        ctx = t._ctx
        if ctx is None:
            store.append((t, g))
            continue
        if t._retain:
            store.append((t, g))
        op = ctx.op
        inputs = ctx.inputs
        if create_graph:
            args: Sequence[Any] = inputs
            out: Any = t
            g = _as_tensor(g)
        else:
            args = [x._data for x in inputs]
            out = t._data
        # the common case, an ordinary backward through a fixed-arity op, calls the
        # registry's VJP here rather than through Node.vjp (one Python call fewer per input)
        vjps = None if create_graph or op.variadic or op.keeps else op.vjps
        for i, x in enumerate(inputs):
            if not x.requires_grad:
                continue
            if vjps is not None and (f := vjps[i]) is not None:
                gx = f(g, out, *args, **ctx.params)
                if gx.shape != args[i].shape:
                    gx = _fit(ctx, i, gx, args[i].shape)
            else:
                gx = ctx.vjp(i, g, out, args)
            if anomaly:
                _anomaly(op, ctx.where, i, gx)
            xid = id(x)
            prev = grads.get(xid)
            grads[xid] = gx if prev is None else prev + gx
        done.append(ctx)
    if not retain_graph:
        for ctx in done:
            ctx.freed = True
            ctx.saved = None
    return found, store


def _fit(ctx: Any, i: int, gx: Any, shape: tuple[int, ...]) -> Any:
    """A VJP's result summed back over broadcast axes to its input's `shape` (Node.vjp's
    rule, for the inlined call in `_walk`)."""
    gx = unbroadcast(gx, shape)
    if gx.shape != shape:
        raise RuntimeError(
            f"op '{ctx.op.name}': the VJP for input {i} returned shape {gx.shape}, but the "
            f"input has shape {shape}"
        )
    return gx


def _write(store: list[tuple[Tensor, Any]], create_graph: bool, seeds: Sequence[Any]) -> None:
    """Adds each gradient to its tensor's ``.grad``, copying arrays that are shared (one
    array handed to two tensors, a view, the caller's seed) so no two ``.grad`` alias."""
    if create_graph:
        for t, g in store:
            g = _as_tensor(g)
            t.grad = g if t.grad is None else t.grad + g
        return
    owned: set[int] = {id(s) for s in seeds}
    for t, g in store:
        arr = g if type(g) is np.ndarray else np.asarray(g)
        if arr.dtype != t.data.dtype:
            arr = arr.astype(t.data.dtype)
        if t.grad is None:
            if id(arr) in owned or arr.base is not None or not arr.flags.writeable:
                arr = arr.copy()
            owned.add(id(arr))
            t.grad = Tensor._wrap(arr)
        elif t.grad._ctx is None and t.grad.data.flags.writeable:
            np.add(t.grad.data, arr, out=t.grad.data)  # accumulate across calls, in place
        else:
            t.grad = Tensor._wrap(t.grad.data + arr)


def backward(
    output: Tensor, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False
) -> None:
    """Adds ∂output/∂x to ``x.grad`` for every leaf x that requires grad (accumulating across
    calls, as PyTorch does), and to non-leaves that called ``retain_grad()``.

    Args:
        gradient: the upstream δ at `output`; may be omitted only for a scalar output.
        retain_graph: keep the graph usable for another backward.
        create_graph: record the backward itself, so gradients can be differentiated again.
    """
    if not output.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the ops that made "
            "it has requires_grad=True (or it was computed under no_grad())"
        )
    seed = _seed(output, gradient)
    if create_graph:
        with enable_grad():
            _, store = _sweep([output], [Tensor._wrap(seed)], True, True)
    else:
        _, store = _sweep([output], [seed], retain_graph, False)
    _write(store, create_graph, [seed])


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of `outputs` with respect to `inputs`, without touching any ``.grad``.

    Returns a tuple with one Tensor per input (None for an input the outputs do not depend
    on, when `allow_unused`; otherwise that is an error).
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        gos = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    else:
        gos = list(grad_outputs)
    if len(gos) != len(outs):
        raise ValueError(f"grad(): {len(outs)} outputs but {len(gos)} grad_outputs")
    for i, x in enumerate(ins):
        if not x.requires_grad:
            raise RuntimeError(f"grad(): input {i} (shape {x.shape}) does not require grad")
    for o in outs:
        if not o.requires_grad:
            raise RuntimeError("grad(): an output does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    seeds: list[Any] = [_seed(o, g) for o, g in zip(outs, gos)]
    wanted = {id(x) for x in ins}
    if create_graph:
        with enable_grad():
            found, _ = _sweep(outs, [Tensor._wrap(s) for s in seeds], True, True, wanted)
    else:
        found, _ = _sweep(outs, seeds, retain, False, wanted)
    result: list[Tensor | None] = []
    for i, x in enumerate(ins):
        g = found.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad(): input {i} (shape {x.shape}) is not used to compute the outputs; "
                    f"pass allow_unused=True to get None for it"
                )
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            arr = np.asarray(g)
            result.append(Tensor._wrap(arr.copy() if arr.base is not None else arr))
    return tuple(result)
