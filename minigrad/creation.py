"""Factories: tensors made from shapes, ranges and the seeded random generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import DTypeLike, Tensor, resolve_dtype

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seeds the generator behind `randn`, `rand` and layer initialisation."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def generator() -> np.random.Generator:
    """The generator that `manual_seed` seeds."""
    return _rng


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(int(n) < 0 for n in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return tuple(int(n) for n in shape)


def _make(arr: np.ndarray, requires_grad: bool, name: str | None = None) -> Tensor:
    t = Tensor._wrap(arr)
    t.name = name
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dt(dtype: DTypeLike) -> np.dtype:
    return resolve_dtype(dtype) or np.dtype(np.float32)


def tensor(data: Any, requires_grad: bool = False, dtype: DTypeLike = None,
           name: str | None = None) -> Tensor:
    """A tensor holding a copy of `data` (see `Tensor`)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def zeros(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape(shape), _dt(dtype)), requires_grad)


def ones(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape(shape), _dt(dtype)), requires_grad)


def full(shape: Any, fill_value: float, dtype: DTypeLike = None,
         requires_grad: bool = False) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make(np.full(_shape(shape), fill_value, _dt(dtype)), requires_grad)


def zeros_like(t: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _make(np.zeros(a.shape, resolve_dtype(dtype) or a.dtype), requires_grad)


def ones_like(t: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _make(np.ones(a.shape, resolve_dtype(dtype) or a.dtype), requires_grad)


def randn(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the seeded generator."""
    return _make(_rng.standard_normal(_shape(shape)).astype(_dt(dtype)), requires_grad)


def rand(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the seeded generator."""
    return _make(_rng.random(_shape(shape)).astype(_dt(dtype)), requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: DTypeLike = None,
           requires_grad: bool = False) -> Tensor:
    """numpy's arange: integers give int64 unless `dtype` is given."""
    arr = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        arr = arr.astype(resolve_dtype(dtype))
    elif arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return _make(arr, requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None,
        requires_grad: bool = False) -> Tensor:
    return _make(np.eye(n, m, dtype=_dt(dtype)), requires_grad)
