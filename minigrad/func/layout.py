"""Lining up batched values: a tangent with its primal, a cotangent with its output, a
gradient with its input, when vmaps batch them differently.

A value is a plain tensor with one axis per vmap level that batches it (`batched.amap`).
`arrange` reorders, adds and repeats axes so that a value has exactly the layout of another
(plus levels of its own in front, which stay batched tensors around it); `relabel` reads
a plain result back as a value with the levels of its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigrad.func.batched import amap, build
from minigrad.levels import at, physical
from minigrad.ops.registry import REGISTRY
from minigrad.tensor import Tensor

__all__ = ["arrange", "relabel", "levels_of", "spread"]


def levels_of(value: Any) -> list[Any]:
    """The vmap levels batching `value`, oldest first."""
    if not isinstance(value, Tensor):
        return []
    return sorted(amap(value)[1], key=lambda lv: lv.depth)


def _op(name: str, x: Tensor, **params: Any) -> Tensor:
    from minigrad.function import apply

    return apply(REGISTRY[name], x, **params)


def arrange(value: Tensor, axes: dict[Any, int], ndim: int,
            front: Sequence[Any] = ()) -> Tensor:
    """The plain tensor of `value` laid out as a plain tensor of `ndim` axes whose axis
    ``axes[level]`` is that level's batch axis, preceded by one axis per level of `front`;
    a level `value` is not batched at is repeated over its batch. The ops are recorded (a
    gradient or a tangent flows through them)."""
    plain, have = amap(value)
    by_pos = {p: lv for lv, p in axes.items()}
    own = [i for i in range(plain.ndim) if i not in have.values()]
    spec: list[Any] = list(front)
    k = 0
    for p in range(ndim):
        if p in by_pos:
            spec.append(by_pos[p])
        else:
            spec.append(k)
            k += 1
    if k != len(own):
        raise ValueError(f"a value of shape {tuple(value.shape)} cannot take the place of one "
                         f"with {k} axes")
    stray = [lv for lv in have if lv not in spec]
    if stray:
        raise RuntimeError("minigrad.func: a value is batched by a vmap its counterpart "
                           "knows nothing of")
    source = [own[s] if isinstance(s, int) else have.get(s) for s in spec]
    return _lay_out(plain, spec, source)


def _lay_out(plain: Tensor, spec: list[Any], source: list[int | None]) -> Tensor:
    existing = [s for s in source if s is not None]
    with at(physical()):
        v = plain
        if existing != list(range(plain.ndim)):
            v = _op("transpose", v, axes=tuple(existing))
        if len(existing) == len(source):
            return v
        it = iter(v.shape)
        ones = tuple(1 if s is None else next(it) for s in source)
        full = tuple(s_.size if s is None else n for s_, s, n in zip(spec, source, ones))
        return _op("broadcast_to", _op("reshape", v, shape=ones), shape=full)


def relabel(g: Tensor, axes: dict[Any, int]) -> Tensor:
    """`g`, computed for a plain tensor whose level axes are `axes` (and perhaps batched
    at further levels of its own), as a value batched at all of them."""
    plain, own = amap(g)
    rest = [i for i in range(plain.ndim) if i not in own.values()]
    full = dict(own)
    for lv, p in axes.items():
        full[lv] = rest[p]
    return build(plain, full)


def spread(value: Tensor, levels: Sequence[Any]) -> tuple[Tensor, dict[Any, int]]:
    """The plain tensor of `value` batched at every level of `levels` (repeated where it
    was not), with its level axes."""
    _, have = amap(value)
    missing = [lv for lv in sorted(levels, key=lambda lv: lv.depth) if lv not in have]
    plain = arrange(value, {lv: p for lv, p in have.items()}, amap(value)[0].ndim,
                    front=missing)
    axes = {lv: i for i, lv in enumerate(missing)}
    axes.update({lv: p + len(missing) for lv, p in have.items()})
    return plain, axes
