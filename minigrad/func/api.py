r"""The transforms, with torch.func's names, signatures and semantics: `jvp` (forward mode),
`vjp`, `grad` and `grad_and_value` (reverse mode) and `vmap` (batching).

Each takes a function of tensors (or of nested tuples, lists and dicts of them) and returns
what torch.func's does. They compose: ``vmap(grad(loss))`` gives per-sample gradients,
``jvp(grad(f), (x,), (v,))`` a Hessian-vector product, ``jacfwd(jacrev(f))`` the Hessian.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.autograd import grad as _autograd_grad
from minigrad.forward import JvpLevel, keep_record
from minigrad.func import _tree
from minigrad.func.batched import BatchedTensor, amap, build, wrap
from minigrad.func.counting import count
from minigrad.func.layout import arrange, levels_of, relabel, spread
from minigrad.func.vmap_level import RANDOMNESS, VmapLevel, guard_random, restore_random
from minigrad.levels import Level, active, at, physical, pop, push
from minigrad.modes import enable_grad
from minigrad.ops.registry import REGISTRY
from minigrad.tensor import Tensor

__all__ = ["jvp", "vjp", "grad", "grad_and_value", "vmap"]


def _check_tensor(x: Any, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a minigrad Tensor, got {type(x).__name__}")
    return x


def _check_float(x: Tensor, what: str) -> None:
    if x.dtype.kind not in "fc":
        raise TypeError(f"{what} has dtype {x.dtype}; only floating point tensors have "
                        f"tangents and gradients (convert it with .double() or .float())")


def _alias(plain: Tensor, fresh: bool) -> Tensor:
    """A new tensor object for `plain`, so that a transform's own bookkeeping (a tangent, a
    gradient) attaches to the value it was handed and to nothing else that shares it. An
    op (recorded, seen by outer transforms) when `plain` has a history, or `fresh` is False."""
    if fresh and plain._ctx is None and not plain.requires_grad and not active("jvp"):
        t = Tensor._wrap(plain._data)
        t.name, t._ver = plain.name, plain._shared_version()
        return t
    from minigrad.function import apply

    with at(physical()):
        t = apply(REGISTRY["reshape"], plain, shape=tuple(plain.shape))
    t.name = plain.name
    return t


# ------------------------------------------------------------------ forward mode
def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False, keep: bool = False) -> Any:
    r"""Forward mode: ``func(*primals)`` and its Jacobian times `tangents`, ``J·v``, in one
    pass that carries each value's tangent along (`minigrad.forward`).

    Args:
        func: a function of tensors returning a tensor (or a tuple/list/dict of them).
        primals: a tuple of the arguments (each a tensor or a nested container of them).
        tangents: a tuple of the same structure, each tangent of its primal's shape and
            dtype.
        strict: accepted for torch.func's signature.
        has_aux: `func` returns ``(output, aux)``; aux is returned as the third value.
        keep: keep every intermediate tangent, for
            ``minigrad.visualize.draw(out, tangents=True)`` and
            `minigrad.func.tangents_of`; the primals then require grad, so that the
            output's graph is recorded to be drawn.

    Returns:
        ``(output, jvp_out)`` (and ``aux``): the output and its tangent, structured alike.

    Raises:
        TypeError: primals or tangents are not tuples of tensors, or dtypes differ.
        ValueError: a tangent's shape differs from its primal's, or the structures differ.
    """
    flat_p, flat_t, spec = _primals_and_tangents(primals, tangents)
    level = JvpLevel(keep)
    pairs = [_seed_pair(p, t, keep) for p, t in zip(flat_p, flat_t)]
    push(level)
    try:
        for (pp, _), (tt, _) in pairs:
            level.set(pp, tt)
        args = _tree.unflatten([build(pp, axes) for (pp, axes), _ in pairs], spec)
        out = func(*args)
    finally:
        pop(level)
    out, aux = _split_aux(out, has_aux, "jvp")
    flat_o, ospec = _tree.flatten(out)
    tangent_out = [_tangent_out(level, _check_tensor(o, "jvp: each output of func"))
                   for o in flat_o]
    count.forward += max((math.prod(lv.size for lv in axes) for (_, axes), _ in pairs),
                         default=1)
    count.forward_sweeps += 1
    if level.record is not None:
        for o in flat_o:
            keep_record(amap(o)[0], level.record)
    result = (out, _tree.unflatten(tangent_out, ospec))
    return result + (aux,) if has_aux else result


def _primals_and_tangents(primals: Any, tangents: Any) -> tuple[list[Any], list[Any], Any]:
    for name, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, tuple):
            raise TypeError(f"jvp: {name} must be a tuple (torch.func's jvp(f, (x,), (v,))), "
                            f"got {type(v).__name__}")
    flat_p, spec = _tree.flatten(primals)
    flat_t, spec_t = _tree.flatten(tangents)
    if spec != spec_t:
        raise ValueError("jvp: primals and tangents must have the same structure, got "
                         f"{len(flat_p)} primal tensors and {len(flat_t)} tangents")
    for i, (p, t) in enumerate(zip(flat_p, flat_t)):
        _check_tensor(p, f"jvp: primal {i}")
        _check_tensor(t, f"jvp: tangent {i}")
        _check_float(p, f"jvp: primal {i}")
        if tuple(p.shape) != tuple(t.shape):
            raise ValueError(f"jvp: tangent {i} has shape {tuple(t.shape)} but its primal has "
                             f"shape {tuple(p.shape)}; a tangent must have its primal's shape")
        if p.dtype != t.dtype:
            raise TypeError(f"jvp: tangent {i} has dtype {t.dtype} but its primal has dtype "
                            f"{p.dtype}; a tangent must have its primal's dtype")
    return flat_p, flat_t, spec


def _seed_pair(p: Tensor, t: Tensor, keep: bool) -> tuple[tuple[Tensor, dict[Any, int]],
                                                          tuple[Tensor, dict[Any, int]]]:
    """The primal's fresh plain tensor (batched at every level the tangent is) and the
    tangent laid out as it. With `keep`, the primal requires grad, so that the function's
    graph is recorded for the diagrams."""
    pp, axes = spread(p, levels_of(t))
    if pp is amap(p)[0]:  # else spread made a new tensor already
        pp = _alias(pp, fresh=True)
    if keep and not pp.requires_grad:
        pp.requires_grad_(True)
    tt = arrange(t, axes, pp.ndim)
    return (pp, axes), (tt, axes)


def _tangent_out(level: JvpLevel, o: Tensor) -> Tensor:
    plain, axes = amap(o)
    t = level.tangent(plain)
    if t is None:
        t = Tensor._wrap(np.zeros(plain.shape, dtype=plain.dtype))
    return build(t, axes)


def _split_aux(out: Any, has_aux: bool, who: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{who}(..., has_aux=True): func must return a pair (output, aux), "
                        f"got {type(out).__name__}")
    return out[0], out[1]


# ------------------------------------------------------------------ reverse mode
class GradLevel(Level):
    """An active `vjp` (or `grad`): it takes no part in dispatch, but a backward pass
    under it must be recorded, since it may differentiate it again."""

    kind = "grad"


def _leaf(x: Any, i: int) -> tuple[Tensor, Tensor, dict[Any, int]]:
    """A fresh leaf for primal `x`, batched at every active vmap (so each example gets its
    own gradient), and the value `func` sees."""
    _check_tensor(x, f"vjp: primal {i}")
    _check_float(x, f"vjp: primal {i}")
    pp, axes = spread(x, active("vmap"))
    leaf = _alias(pp, fresh=True) if pp is amap(x)[0] else pp
    if not leaf.requires_grad:
        leaf.requires_grad_(True)
    return leaf, build(leaf, axes), axes


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    r"""Reverse mode: ``func(*primals)`` and a function that pulls a cotangent `u` of the
    output back to the inputs, ``uᵀ·J``, by one backward sweep over the recorded graph.

    Returns:
        ``(output, vjp_fn)`` (and ``aux``); ``vjp_fn(u)`` returns a tuple with one gradient
        per primal, each structured like its primal.
    """
    flat, spec = _tree.flatten(primals)
    level = GradLevel()
    leaves = [_leaf(x, i) for i, x in enumerate(flat)]
    push(level)
    try:
        with enable_grad():
            out = func(*_tree.unflatten([v for _, v, _ in leaves], spec))
    finally:
        pop(level)
    out, aux = _split_aux(out, has_aux, "vjp")
    flat_o, ospec = _tree.flatten(out)
    for o in flat_o:
        _check_tensor(o, "vjp: each output of func")
    if len(flat_o) > 1:  # each output its own root, which nothing else reads
        flat_o = [build(_alias(amap(o)[0], fresh=False), amap(o)[1]) for o in flat_o]
        out = _tree.unflatten(flat_o, ospec)
    outer = [x.requires_grad for x in flat]
    fn = functools.partial(_pull, flat_o, ospec, leaves, spec, outer)
    return (out, fn, aux) if has_aux else (out, fn)


def _pull(outs: list[Tensor], ospec: Any, leaves: list[Any], spec: Any, outer: list[bool],
          cotangents: Any) -> tuple[Any, ...]:
    """`vjp_fn`: the backward sweep for the cotangents `u`, ``uᵀ·J`` per primal."""
    flat_u, uspec = _tree.flatten(cotangents)
    if uspec != ospec:
        raise ValueError(f"vjp_fn: the cotangents must be structured like the output "
                         f"({len(outs)} tensors), got {len(flat_u)}")
    for k, (o, u) in enumerate(zip(outs, flat_u)):
        _check_tensor(u, f"vjp_fn: cotangent {k}")
        if tuple(u.shape) != tuple(o.shape):
            raise ValueError(f"vjp_fn: cotangent {k} has shape {tuple(u.shape)} but the output "
                             f"has shape {tuple(o.shape)}")
    extra = sorted({id(lv): lv for u, o in zip(flat_u, outs) for lv in levels_of(u)
                    if lv not in amap(o)[1]}.values(), key=lambda lv: lv.depth)
    for o in outs:
        if any(not lv.active for lv in amap(o)[1]):
            raise RuntimeError("vjp_fn: called outside the vmap in which vjp ran")
    roots, seeds = [], []
    for o, u in zip(outs, flat_u):
        plain, axes = amap(o)
        if plain.requires_grad:
            roots.append(plain)
            seeds.append(arrange(u.astype(o.dtype) if u.dtype != o.dtype else u, axes,
                                 plain.ndim, front=extra))
    grads = _sweep(roots, seeds, [lf for lf, _, _ in leaves], extra, any(outer) or any(
        s.requires_grad for s in seeds))
    count.reverse += math.prod(lv.size for lv in extra) * max(
        (math.prod(lv.size for lv in amap(o)[1]) for o in outs), default=1)
    count.reverse_sweeps += 1
    res = [relabel(g, axes) for g, (_, _, axes) in zip(grads, leaves)]
    return tuple(_tree.unflatten(res, spec))


def _sweep(roots: list[Tensor], seeds: list[Tensor], leaves: list[Tensor], extra: list[Any],
           outer: bool) -> list[Tensor]:
    """The gradients of `roots` (seeded with `seeds`) at `leaves`: plain tensors, or batched
    at the levels of `extra` (cotangents batched by a vmap around ``vjp_fn``)."""
    zeros = [Tensor._wrap(np.zeros(lf.shape, dtype=lf.dtype)) for lf in leaves]
    if not roots:
        return [_spread_zero(z, extra) for z in zeros]
    graph = bool(extra) or outer or bool(active("jvp")) or bool(active("grad"))
    handles = []
    if extra:  # the batched cotangent enters the sweep through a hook on each root
        batched = [build(s, {lv: i for i, lv in enumerate(extra)}) for s in seeds]
        handles = [r.register_hook(functools.partial(_replace, b)) for r, b in zip(roots, batched)]
        seeds = [Tensor._wrap(np.zeros(r.shape, dtype=r.dtype)) for r in roots]
    try:
        gs = _autograd_grad(roots, leaves, grad_outputs=seeds, create_graph=graph,
                            retain_graph=True, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    return [_spread_zero(z, extra) if g is None else g for g, z in zip(gs, zeros)]


def _replace(value: Tensor, g: Tensor) -> Tensor:
    return value


def _spread_zero(z: Tensor, extra: list[Any]) -> Tensor:
    if not extra:
        return z
    shape = tuple(lv.size for lv in extra) + tuple(z.shape)
    return build(Tensor._wrap(np.zeros(shape, dtype=z.dtype)),
                 {lv: i for i, lv in enumerate(extra)})


def _argnums(argnums: Any, n: int, who: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(a, int) for a in nums):
        raise TypeError(f"{who}: argnums must be an int or a tuple of ints, got {argnums!r}")
    out = []
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"{who}: argnums {a} is out of range for {n} positional "
                             f"arguments")
        out.append(a % n)
    return tuple(out)


def grad_and_value(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """A function returning ``(gradient, value)`` of the scalar ``func(*args)`` with respect
    to the arguments `argnums` (``(gradient, (value, aux))`` with `has_aux`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "grad")

        def of_chosen(*chosen: Any) -> Any:
            full = list(args)
            for a, c in zip(nums, chosen):
                full[a] = c
            return func(*full, **kwargs)

        res = vjp(of_chosen, *[args[a] for a in nums], has_aux=has_aux)
        out, fn = res[0], res[1]
        if not isinstance(out, Tensor):
            raise TypeError(f"grad: func must return a Tensor (a scalar), got "
                            f"{type(out).__name__}")
        if out.ndim != 0:
            raise ValueError(f"grad: func must return a scalar (0-d) Tensor, got shape "
                             f"{tuple(out.shape)}; for a vector output use vjp or jacrev")
        g = fn(Tensor._wrap(np.ones((), dtype=out.dtype)))
        g = g[0] if isinstance(argnums, int) else g
        return (g, (out, res[2])) if has_aux else (g, out)

    return wrapper


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """A function returning the gradient of the scalar ``func(*args)`` with respect to the
    arguments `argnums` (and ``aux`` with `has_aux`), as ``torch.func.grad``."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


# ------------------------------------------------------------------ vmap
def vmap(func: Callable[..., Any], in_dims: Any = 0, out_dims: Any = 0,
         randomness: str = "error", *, chunk_size: int | None = None) -> Callable[..., Any]:
    r"""`func` over a batch: each argument's axis `in_dims` (None: shared) is split into
    examples, `func` sees one example, and the results are stacked along `out_dims`. It runs
    once, on the whole batch, with each op's batching rule (`minigrad.func.batching`).

    Args:
        func: a function of tensors returning tensors (nested containers allowed).
        in_dims: an int, None, or a structure of them matching the arguments.
        out_dims: an int (or one per output).
        randomness: how random ops inside draw: ``"error"`` (the default: a draw is an
            error), ``"different"`` (each example its own dropout mask) or ``"same"``.
        chunk_size: run the batch in chunks of this many examples.
    """
    if randomness not in RANDOMNESS:
        raise ValueError(f"vmap: randomness must be one of {RANDOMNESS}, got {randomness!r}")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flat, spec = _tree.flatten(args)
        dims = _tree.broadcast_prefix(in_dims, args, "vmap: in_dims")
        size = _batch_size(flat, dims)
        if chunk_size is not None and 0 < chunk_size < size:
            return _chunked(func, flat, dims, spec, kwargs, size, chunk_size, out_dims,
                            randomness)
        return _vmap_once(func, flat, dims, spec, kwargs, size, out_dims, randomness)

    return wrapper


def _batch_size(flat: list[Any], dims: list[Any]) -> int:
    sizes = []
    for i, (x, d) in enumerate(zip(flat, dims)):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise TypeError(f"vmap: in_dims for argument {i} must be an int or None, got {d!r}")
        if not isinstance(x, Tensor):
            raise TypeError(f"vmap: in_dims for argument {i} is {d}, but that argument is a "
                            f"{type(x).__name__}, not a Tensor; use None for it")
        if not -x.ndim <= d < max(x.ndim, 0) or x.ndim == 0:
            raise ValueError(f"vmap: in_dims {d} is out of range for argument {i} of shape "
                             f"{tuple(x.shape)}")
        sizes.append((i, x.shape[d], tuple(x.shape), d))
    if not sizes:
        raise ValueError("vmap: every in_dims is None, so there is no batch axis to map "
                         "over; give at least one argument a batch axis")
    if len({n for _, n, _, _ in sizes}) > 1:
        listing = ", ".join(f"argument {i} of shape {s} has {n} along axis {d}"
                            for i, n, s, d in sizes)
        raise ValueError(f"vmap: the batched arguments disagree on the batch size: {listing}; "
                         f"in_dims must pick axes of one size")
    return sizes[0][1]


def _vmap_once(func: Callable[..., Any], flat: list[Any], dims: list[Any], spec: Any,
               kwargs: dict[str, Any], size: int, out_dims: Any, randomness: str) -> Any:
    level = VmapLevel(size, randomness)
    views = [x if d is None else wrap(x, d % x.ndim, level) for x, d in zip(flat, dims)]
    push(level)
    previous = guard_random(randomness)
    try:
        out = func(*_tree.unflatten(views, spec), **kwargs)
    finally:
        restore_random(previous)
        pop(level)
    flat_o, ospec = _tree.flatten(out)
    odims = _tree.broadcast_prefix(out_dims, out, "vmap: out_dims")
    res = [_unbatch(o, level, d, k) for k, (o, d) in enumerate(zip(flat_o, odims))]
    return _tree.unflatten(res, ospec)


def _unbatch(o: Any, level: VmapLevel, d: Any, k: int) -> Tensor:
    """Output `o` of the mapped function with the level's batch axis at `d`."""
    if not isinstance(o, Tensor):
        raise TypeError(f"vmap: func must return Tensors (or tuples, lists, dicts of them), "
                        f"but output {k} is a {type(o).__name__}")
    from minigrad.function import apply

    if type(o) is BatchedTensor and o._level is level:
        inner, bdim = o._inner, o._bdim
    else:
        if d is None:
            return o
        inner = apply(REGISTRY["broadcast_to"], apply(REGISTRY["unsqueeze"], o, axis=0),
                      shape=(level.size,) + tuple(o.shape))
        bdim = 0
    if d is None:
        raise ValueError(f"vmap: out_dims is None for output {k}, but it differs from one "
                         f"example to the next; give it an out_dims")
    n = inner.ndim
    if not -n <= d < n:
        raise ValueError(f"vmap: out_dims {d} is out of range for output {k}, which has "
                         f"{n - 1} dims per example")
    d %= n
    if d == bdim:
        return inner
    axes = [i for i in range(n) if i != bdim]
    axes.insert(d, bdim)
    return apply(REGISTRY["transpose"], inner, axes=tuple(axes))


def _chunked(func: Callable[..., Any], flat: list[Any], dims: list[Any], spec: Any,
             kwargs: dict[str, Any], size: int, chunk: int, out_dims: Any,
             randomness: str) -> Any:
    from minigrad.ops import concatenate, getitem

    parts = []
    for start in range(0, size, chunk):
        sl = slice(start, min(start + chunk, size))
        piece = [x if d is None else getitem(x, (slice(None),) * (d % x.ndim) + (sl,))
                 for x, d in zip(flat, dims)]
        parts.append(_vmap_once(func, piece, dims, spec, kwargs, sl.stop - sl.start,
                                out_dims, randomness))
    flat0, ospec = _tree.flatten(parts[0])
    odims = _tree.broadcast_prefix(out_dims, parts[0], "vmap: out_dims")
    cols = zip(*[_tree.flatten(p)[0] for p in parts])
    return _tree.unflatten([concatenate(list(c), axis=d) for c, d in zip(cols, odims)], ospec)
