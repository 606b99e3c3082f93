r"""Whole Jacobians, built from the passes of `jvp` and `vjp`.

For f: ℝⁿ → ℝᵐ the Jacobian J is m × n. `jacrev` pulls back one cotangent per output
entry, the rows eᵢᵀ J (m reverse passes); `jacfwd` pushes one tangent per input entry, the
columns J eⱼ (n forward passes). Both run their passes as one vmap over the basis vectors,
and `minigrad.func.count_passes` counts them. Reverse mode wins when outputs are few (a
loss: m = 1, the gradient in one pass), forward mode when inputs are few.

`hessian` is forward-over-reverse, ``jacfwd(jacrev(f))``: n tangents pushed through the
gradient's own computation, each giving a column of the Hessian (a Hessian-vector product).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.func import _tree
from minigrad.func.api import _argnums, jvp, vjp, vmap
from minigrad.tensor import Tensor

__all__ = ["jacrev", "jacfwd", "hessian"]


def _chosen(func: Callable[..., Any], args: tuple[Any, ...], nums: tuple[int, ...],
            kwargs: dict[str, Any]) -> Callable[..., Any]:
    def of_chosen(*chosen: Any) -> Any:
        full = list(args)
        for a, c in zip(nums, chosen):
            full[a] = c
        return func(*full, **kwargs)

    return of_chosen


def _basis(n: int, like: Tensor) -> Tensor:
    return Tensor._wrap(np.eye(n, dtype=like.dtype))


def jacrev(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
           has_aux: bool = False, chunk_size: int | None = None) -> Callable[..., Any]:
    """The Jacobian of `func` with respect to the arguments `argnums`, one reverse pass per
    output entry (as ``torch.func.jacrev``): of shape ``output.shape + input.shape``.
    `chunk_size`: pull back that many cotangents per sweep (1: one sweep per row)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        res = vjp(_chosen(func, args, nums, kwargs), *[args[a] for a in nums], has_aux=has_aux)
        out, fn = res[0], res[1]
        flat_o, ospec = _tree.flatten(out)
        per_out = [_rows(fn, flat_o, k, ospec, chunk_size) for k in range(len(flat_o))]
        jac = _tree.unflatten([g[0] if isinstance(argnums, int) else g for g in per_out],
                              ospec)
        return (jac, res[2]) if has_aux else jac

    return wrapper


def _rows(fn: Callable[..., Any], outs: list[Tensor], k: int, ospec: Any,
          chunk_size: int | None) -> tuple[Any, ...]:
    """The Jacobian of output `k`: its rows eᵢᵀ J, one cotangent per entry."""
    o = outs[k]
    m = math.prod(o.shape)
    zeros = [Tensor._wrap(np.zeros(tuple(p.shape), dtype=p.dtype)) for p in outs]

    def pull(u: Tensor) -> Any:
        cot = list(zeros)
        cot[k] = u.reshape(tuple(o.shape))
        return fn(_tree.unflatten(cot, ospec))

    if m == 1:
        grads = pull(Tensor._wrap(np.ones((1,), dtype=o.dtype)))
        return _reshape_all(grads, tuple(o.shape), lead=0)
    grads = vmap(pull, chunk_size=chunk_size)(_basis(m, o))
    return _reshape_all(grads, tuple(o.shape), lead=1)


def _reshape_all(tree: Any, out_shape: tuple[int, ...], lead: int) -> Any:
    """Each leaf of `tree` (an input's shape, after `lead` axes of basis) as
    ``out_shape + input shape``."""
    flat, spec = _tree.flatten(tree)
    return _tree.unflatten([g.reshape(out_shape + tuple(g.shape[lead:])) for g in flat], spec)


def jacfwd(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False,
           *, randomness: str = "error", chunk_size: int | None = None) -> Callable[..., Any]:
    """The Jacobian of `func` with respect to the arguments `argnums`, one forward pass per
    input entry (as ``torch.func.jacfwd``): of shape ``output.shape + input.shape``.
    `chunk_size`: push that many tangents per sweep (1: one sweep per column)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        f = _chosen(func, args, nums, kwargs)
        chosen = tuple(args[a] for a in nums)
        flat_x, xspec = _tree.flatten(chosen)
        sizes = [math.prod(x.shape) for x in flat_x]
        n = sum(sizes)
        pushed = _columns(f, chosen, flat_x, xspec, sizes, has_aux, randomness, chunk_size)
        tangents, aux = pushed if has_aux else (pushed, None)
        if has_aux:  # computed once per pushed tangent, the same each time: keep one
            flat_a, aspec = _tree.flatten(aux)
            aux = _tree.unflatten([a[0] if isinstance(a, Tensor) else a for a in flat_a], aspec)
        flat_t, ospec = _tree.flatten(tangents)
        per_out = [_split_columns(t, flat_x, sizes, n, xspec, isinstance(argnums, int))
                   for t in flat_t]
        jac = _tree.unflatten(per_out, ospec)
        return (jac, aux) if has_aux else jac

    return wrapper


def _columns(f: Callable[..., Any], chosen: tuple[Any, ...], flat_x: list[Tensor], xspec: Any,
             sizes: list[int], has_aux: bool, randomness: str,
             chunk_size: int | None) -> Any:
    """J eⱼ for every input entry j: the output tangents, with a leading axis of n."""
    n = sum(sizes)

    def push(*ts: Tensor) -> Any:
        tangents = [t.reshape(tuple(x.shape)) for t, x in zip(ts, flat_x)]
        res = jvp(f, chosen, _tree.unflatten(tangents, xspec), has_aux=has_aux)
        return (res[1], res[2]) if has_aux else res[1]

    eye = np.eye(n)
    offsets = np.cumsum([0] + sizes)
    cols = [Tensor._wrap(eye[:, a:b].astype(x.dtype)) for x, a, b in
            zip(flat_x, offsets[:-1], offsets[1:])]
    if n == 1:
        res = push(*[Tensor._wrap(c.data[0]) for c in cols])
        return _tree.unflatten([t.reshape((1,) + tuple(t.shape)) for t in _tree.flatten(
            res)[0]], _tree.flatten(res)[1])
    return vmap(push, randomness=randomness, chunk_size=chunk_size)(*cols)


def _split_columns(t: Tensor, flat_x: list[Tensor], sizes: list[int], n: int, xspec: Any,
                   single: bool) -> Any:
    """The n columns of an output's Jacobian (axis 0 of `t`) split per input, each moved
    behind the output's axes: ``output.shape + input.shape``."""
    out_shape = tuple(t.shape[1:])
    k = len(out_shape)
    parts, start = [], 0
    for x, m in zip(flat_x, sizes):
        piece = t[start:start + m]
        piece = piece.permute(tuple(range(1, k + 1)) + (0,)) if k else piece
        parts.append(piece.reshape(out_shape + tuple(x.shape)))
        start += m
    tree = _tree.unflatten(parts, xspec)
    return tree[0] if single else tree


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Hessian of the scalar `func`: forward over reverse, ``jacfwd(jacrev(func))``, as
    ``torch.func.hessian``."""
    return jacfwd(jacrev(func, argnums), argnums)
