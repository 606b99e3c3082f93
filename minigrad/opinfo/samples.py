"""Sample inputs for the registry walk: shapes (), (3,), (2,3), broadcast pairs, and every
axis/keepdims variant. Each generator is called as ``gen(rng, dtype)`` and returns
``[(inputs, params), ...]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Case = tuple[tuple[Any, ...], dict[str, Any]]
Examples = Callable[[np.random.Generator, Any], list[Case]]

SHAPES: tuple[tuple[int, ...], ...] = ((), (3,), (2, 3))
BROADCAST_PAIRS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), ()),
    ((3,), (3,)),
    ((2, 3), (2, 3)),
    ((2, 3), (1, 3)),
    ((3, 1), (1, 4)),
    ((2, 3), ()),
    ((3,), (2, 3)),
    ((2, 1, 3), (4, 1)),
)


def _draw(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, lo: float, hi: float):
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def away_from_zero(x: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Moves values off the kink at 0 (relu, abs) so central differences are meaningful."""
    return np.where(np.abs(x) < margin, np.copysign(margin, x) + x, x).astype(x.dtype)


def unary(lo: float = -2.0, hi: float = 2.0, kink: bool = False, **params: Any) -> Examples:
    def gen(rng: np.random.Generator, dtype: Any) -> list[Case]:
        out: list[Case] = []
        for s in SHAPES:
            x = _draw(rng, s, dtype, lo, hi)
            out.append(((away_from_zero(x) if kink else x,), dict(params)))
        return out

    return gen


def binary(lo: float = -2.0, hi: float = 2.0, lo2: float | None = None, hi2: float | None = None,
           distinct: bool = False) -> Examples:
    def gen(rng: np.random.Generator, dtype: Any) -> list[Case]:
        out: list[Case] = []
        for sa, sb in BROADCAST_PAIRS + tuple((b, a) for a, b in BROADCAST_PAIRS[3:]):
            a = _draw(rng, sa, dtype, lo, hi)
            b = _draw(rng, sb, dtype, lo if lo2 is None else lo2, hi if hi2 is None else hi2)
            if distinct:  # keep a and b apart so a kink (max, min) is not straddled
                b = b + np.where(np.abs(np.broadcast_to(a, np.broadcast_shapes(sa, sb)).mean()
                                        - b) < 0.2, 0.5, 0.0).astype(dtype)
            out.append(((a, b), {}))
        return out

    return gen


def reduction(distinct: bool = False, lo: float = -2.0, hi: float = 2.0, **params: Any) -> Examples:
    def gen(rng: np.random.Generator, dtype: Any) -> list[Case]:
        out: list[Case] = []
        axes_for: dict[tuple[int, ...], list[Any]] = {
            (): [None],
            (3,): [None, 0, -1],
            (2, 3): [None, 0, 1, -1, (0, 1)],
            (2, 3, 4): [None, 1, (0, 2), (-1, 0)],
            (2, 0): [0],  # an empty axis survives the reduction: an empty result
        }
        for shape, axes in axes_for.items():
            for axis in axes:
                for keepdims in (False, True):
                    if distinct:
                        x = rng.permutation(np.arange(int(np.prod(shape)), dtype=float))
                        x = (x.reshape(shape) * 0.37 + lo).astype(dtype)
                    else:
                        x = _draw(rng, shape, dtype, lo, hi)
                    out.append(((x,), dict(axis=axis, keepdims=keepdims, **params)))
        return out

    return gen


def cases(*fixed: Callable[[np.random.Generator, Any], Case]) -> Examples:
    """Explicit cases, each a function of (rng, dtype)."""

    def gen(rng: np.random.Generator, dtype: Any) -> list[Case]:
        return [f(rng, dtype) for f in fixed]

    return gen


def rand(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any,
         lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return _draw(rng, shape, dtype, lo, hi)
