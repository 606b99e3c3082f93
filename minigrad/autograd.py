r"""Backward: one reverse sweep over the graph of an output's history.

`sweep` is the whole algorithm, and everything that walks backward goes through it:
`backward` and `grad` below, the step-through page (`visualize.steps`), `compare`
(`reference.layerwise`) and `compile` (`compile.passes.differentiate`). It finds the
history of the roots (`graph.history`), orders it with networkx (`graph.build`, then
`graph.topological_order`) and visits it outputs first. At each node, once all of its
consumers have sent their contributions, it applies the op's VJP for each input that
requires grad (`Node.vjp`: δ in, one gradient out, summed back over broadcast axes) and adds
the result to what that input already received. A node reached twice (``x * x``, ``a + a``,
a diamond) adds up both contributions, in the order of the sweep: the one order in which
minigrad adds gradients, eager or compiled.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from minigrad.graph import Edge, build, history, topological_order
from minigrad.modes import enable_grad, state
from minigrad.tensor import Tensor, Version, as_array

__all__ = ["backward", "grad", "sweep"]

Send = tuple[int, Tensor, Any]  # (argnum, input, the gradient sent to that input)


def sweep(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    create_graph: bool = False,
    aside: bool = False,
    within: Collection[int] | None = None,
) -> Iterator[tuple[Tensor, Any, list[Send]]]:
    """Walks the history of `roots` backward, from the gradients `seeds` at the roots.

    Yields ``(tensor, δ, sends)`` for every tensor reached, outputs first: δ is the whole
    gradient that arrived at it (after its hooks), `sends` what its op sent to each input
    that requires grad, in argument order (a leaf sends nothing).

    Args:
        create_graph: apply the VJPs to Tensors, so that the caller (in grad mode) records
            the backward itself.
        aside: look from the side (the step-through page, compare, compile): no hook runs,
            nothing is checked (a graph an earlier backward freed is walked as it is).
        within: node ids whose ops to apply; any other tensor reached is a leaf here.
    """
    tensors, edges = history(*roots, grad_only=True)  # constants need no gradient
    if not aside:
        _check_saved(tensors)
    grads: dict[int, Any] = {}  # id(tensor) → the sum of what reached it so far
    for r, s in zip(roots, seeds):
        grads[id(r)] = grads[id(r)] + s if id(r) in grads else s
    anomaly = state.anomaly and not aside
    for p in reversed(_order(roots, tensors, edges)):  # outputs first
        t = tensors[p]
        g = grads.pop(id(t), None)
        if g is None:
            continue  # an input of an op outside `within`: nothing was sent to it
        if t._hooks and not aside:
            g = _run_hooks(t, g, create_graph)
        ctx = t._ctx
        if ctx is None or (within is not None and id(t) not in within):
            yield t, g, []
            continue
        if create_graph:
            g = _as_tensor(g)  # the VJPs see Tensors: what they compute is recorded
        out, args = (t, ctx.inputs) if create_graph else (t._data, [x._data for x in ctx.inputs])
        sends: list[Send] = []
        for i, x in enumerate(ctx.inputs):
            if x.requires_grad:
                gx = ctx.vjp(i, g, out, args)  # δ in, the gradient for input i out
                if anomaly:
                    _anomaly(ctx.op, ctx.where, i, gx)
                before = grads.get(id(x))
                grads[id(x)] = gx if before is None else before + gx
                sends.append((i, x, gx))
        yield t, g, sends


_last: tuple[int, list[Edge], list[int]] = (0, [], [])  # the last sweep's graph and order


def _order(roots: Sequence[Tensor], tensors: list[Tensor], edges: list[Edge]) -> list[int]:
    """The positions of `tensors` in networkx's topological order of their graph, inputs
    first: `build` (``add_edges_from``), then `topological_order` (``nx.topological_sort``).

    Speed: a training loop makes a graph of the same shape at every step, and networkx takes
    about as long to build and sort it as the sweep takes for everything else. So the order
    of the last graph is kept, as positions (no tensor), and used again while the history
    has the same edges: the same edges make the same DiGraph, which networkx sorts alike.
    """
    global _last
    n, last_edges, order = _last
    if n == len(tensors) and last_edges == edges:
        return order
    ids = topological_order(build(*roots, backward=True, walked=(tensors, edges)))
    where = {id(t): i for i, t in enumerate(tensors)}
    order = [where[k] for k in ids]
    _last = (len(tensors), edges, order)
    return order


def _check_saved(tensors: list[Tensor]) -> None:
    """Before anything is computed: no node's saved values freed or changed in place
    (`Node.check_saved`; nodes made after the last in-place change anywhere need no look)."""
    epoch = Version.epoch
    for t in tensors:
        ctx = t._ctx
        if ctx is not None and (ctx.freed or (ctx.versions and ctx.epoch != epoch)):
            ctx.check_saved(t)


def _run_hooks(t: Tensor, g: Any, create_graph: bool) -> Any:
    """δ at `t` after the hooks registered on it, each seeing what the previous returned."""
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
    """Under ``detect_anomaly()``: a VJP that gives NaN or Inf stops the sweep."""
    arr = gx.data if isinstance(gx, Tensor) else np.asarray(gx)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise FloatingPointError(
            f"detect_anomaly: the VJP of op '{op.name}' ({op.formula}) for input {i} "
            f"({op.grad_formula(i)}) produced NaN or Inf in backward.\n"
            f"  the op was created at {where or '<outside detect_anomaly>'}"
        )


def _as_tensor(g: Any) -> Tensor:
    return g if isinstance(g, Tensor) else Tensor._wrap(np.asarray(g))


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
    _, store = _run([output], [seed], retain_graph, create_graph)
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
    seeds = [_seed(o, g) for o, g in zip(outs, gos)]
    found, _ = _run(outs, seeds, bool(retain_graph), create_graph, {id(x) for x in ins})
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


def _run(roots: Sequence[Tensor], seeds: Sequence[Any], retain_graph: bool, create_graph: bool,
         wanted: Collection[int] = ()) -> tuple[dict[int, Any], list[tuple[Tensor, Any]]]:
    """The sweep as backward and grad run it. Returns the gradients reached at the `wanted`
    node ids, and the (tensor, gradient) pairs for ``.grad`` (leaves, and non-leaves with
    retain_grad), which the caller writes only now that the whole sweep succeeded, so that
    an error leaves every ``.grad`` as it was. Without `retain_graph` (or `create_graph`),
    the saved values of every op the sweep went through are released."""
    found: dict[int, Any] = {}
    store: list[tuple[Tensor, Any]] = []
    ran = []
    if create_graph:
        seeds = [Tensor._wrap(s) for s in seeds]
    with _gc_paused(), enable_grad() if create_graph else nullcontext():
        for t, g, _ in sweep(roots, seeds, create_graph):
            if id(t) in wanted:
                found[id(t)] = g
            if t._ctx is None:
                store.append((t, g))  # a leaf
                continue
            if t._retain:
                store.append((t, g))
            ran.append(t._ctx)
    if not (retain_graph or create_graph):
        for ctx in ran:
            ctx.freed = True
            ctx.saved = None
    return found, store


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Speed: the cyclic garbage collector off during a sweep, which makes many small objects
    and no cycle; each batch of them would start a collection scanning all the sweep holds."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _seed(out: Tensor, gradient: Any) -> np.ndarray:
    """δ at the output: ones for a scalar, else the `gradient` given, of the output's shape."""
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
