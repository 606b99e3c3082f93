r"""`BatchedTensor`: what a function sees of one example inside `vmap`.

It wraps the whole batch (a plain Tensor, or the batched tensor of an outer ``vmap``) and
says which of its axes is this level's batch axis (`bdim`); everything it reports is about
one example: ``x.shape`` leaves the batch axis out, ``x.sum()`` sums one example, ``x[0]``
indexes it. Each op on it reaches the vmap level's handler (`minigrad.func.vmap_level`),
which runs the same op on the whole batch with its axes shifted.

Its ``.data`` is the array of the first example, so code that only reads shapes and dtypes
(an op checking its arguments) sees one example's; an index or a mask taken from it and
handed to an op is traced back to the batch. A number computed from it with numpy would
be the first example's alone: ``item()``, ``numpy()`` and ``np.asarray`` raise instead.

`amap` and `build` translate between the chain of wrappers and one plain array with a map
from each vmap level to its axis, for code that works on whole batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.levels import at, below
from minigrad.ops.registry import REGISTRY
from minigrad.tensor import Tensor, dim_alias

__all__ = ["BatchedTensor", "wrap", "amap", "build", "plain_of", "example_source", "expand",
           "raw", "raw_reduce"]


class _Example(np.ndarray):
    """A copy of one example of a batched tensor (``.data`` inside vmap), which remembers
    the batched tensor it came from in `source`; views of it lead back to it, while arrays
    numpy computes from it do not."""

    source: Any = None

    def __array_finalize__(self, obj: Any) -> None:
        self.source = None

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if kwargs.get("out") is not None and any(
                isinstance(i, _Example) and i.source is not None for i in inputs):
            raise _into_unbatched()
        plain = [i.view(np.ndarray) if isinstance(i, _Example) else i for i in inputs]
        out = getattr(ufunc, method)(*plain, **kwargs)
        return out.view(_Example) if type(out) is np.ndarray else out  # computed: no source

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.copyto and isinstance(args[1] if len(args) > 1 else kwargs.get("src"),
                                            _Example):
            raise _into_unbatched()
        return super().__array_function__(func, types, args, kwargs)


def _into_unbatched() -> RuntimeError:
    return RuntimeError(
        "vmap: an in-place op writes a batched tensor into a tensor that is not batched "
        "(a tensor made outside vmap, or shared by every example), which cannot hold one value "
        "per example; write it out of place (y = y + x)")


def example_source(arr: Any) -> tuple[bool, Any]:
    """Whether `arr` is (a view of) one example's ``.data``, and the batched tensor it came
    from (None for an array computed from one: its batch is lost)."""
    if isinstance(arr, _Example):
        return True, arr.source
    base = getattr(arr, "base", None)  # a view of it (np.asarray): the copy owns its memory
    if isinstance(base, _Example):
        return True, base.source
    return False, None


def _unbatched(what: str) -> RuntimeError:
    return RuntimeError(
        f"vmap: {what} on a batched tensor: inside vmap a tensor stands for every example at "
        f"once, and each has its own values. Compute with minigrad ops (they run on the whole "
        f"batch), or return the tensor from the function and read it after vmap."
    )


class BatchedTensor(Tensor):
    """One example's view of a batch inside `vmap` (see the module docstring)."""

    __slots__ = ("_inner", "_bdim", "_level", "_shape")
    _inner: Tensor
    _bdim: int
    _level: Any
    _shape: tuple[int, ...]

    # -------------------------------------------------------------- one example's view
    @property  # type: ignore[override]
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property  # type: ignore[override]
    def ndim(self) -> int:
        return len(self._shape)

    @property  # type: ignore[override]
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size(self, dim: int | None = None) -> Any:
        return self._shape if dim is None else self._shape[dim]

    def numel(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    def dim(self) -> int:
        return len(self._shape)

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    @property  # type: ignore[override]
    def data(self) -> np.ndarray:
        plain, axes = amap(self)
        ex = np.ndarray.__new__(_Example, self._shape, dtype=plain.dtype)  # its own memory,
        if not any(plain.shape[i] == 0 for i in axes.values()):  # so views of it lead back
            ex[...] = plain._data[tuple(0 if i in axes.values() else slice(None)
                                        for i in range(plain.ndim))]
        else:
            ex[...] = 0
        ex.source = self
        return ex

    @data.setter
    def data(self, value: Any) -> None:
        raise _unbatched("assigning .data")

    def numpy(self) -> np.ndarray:
        raise _unbatched("numpy()")

    def item(self) -> Any:
        raise _unbatched("item()")

    def tolist(self) -> Any:
        raise _unbatched("tolist()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise _unbatched("converting to a numpy array")

    def __bool__(self) -> bool:
        raise _unbatched("bool() (an if or while on a tensor's value)")

    def __repr__(self) -> str:
        return (f"BatchedTensor(shape={self._shape}, batch axis {self._bdim} of "
                f"{tuple(self._inner.shape)}, vmap level {self._level.depth})")

    # -------------------------------------------------------------- no single history here
    def detach(self) -> Tensor:
        return wrap(self._inner.detach(), self._bdim, self._level)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        raise _unbatched("requires_grad_()") from None

    def backward(self, gradient: Any = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        raise RuntimeError("vmap: backward() inside vmap would add up every example's "
                           "gradient; use minigrad.func.grad(f) inside vmap instead")

    def register_hook(self, hook: Any) -> Any:
        raise RuntimeError("vmap: hooks on a batched tensor are not supported")

    def retain_grad(self) -> None:
        raise RuntimeError("vmap: retain_grad() on a batched tensor is not supported")

    # -------------------------------------------------------------- in place: rebinds
    def _check_inplace(self, what: str) -> None:
        pass

    def _in_place_unrecorded(self, ufunc: Any, other: Any, alpha: float = 1.0) -> bool:
        return False

    def _inplace(self, result: Tensor, what: str) -> Tensor:
        """`t += u` inside vmap: this view now shows the result (the batch it wrapped is not
        written to)."""
        if not isinstance(result, BatchedTensor) or result._level is not self._level:
            result = expand(result, self._level)
        self._inner, self._bdim = result._inner, result._bdim
        return self

    # -------------------------------------------------------------- comparisons, queries
    def _cmp(self, o: Any, f: Any) -> Tensor:
        return raw(f, (self, o), {})

    def __invert__(self) -> Tensor:
        return raw(np.logical_not, (self,), {})

    def sign(self) -> Tensor:
        return raw(np.sign, (self,), {})

    def argmax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        return raw_reduce(np.argmax, self, dim, keepdim, kw, "argmax")

    def argmin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        return raw_reduce(np.argmin, self, dim, keepdim, kw, "argmin")

    def any(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        return raw_reduce(np.any, self, dim, keepdim, kw, "any")

    def all(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        return raw_reduce(np.all, self, dim, keepdim, kw, "all")

    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                equal_nan: bool = False) -> Tensor:
        return raw(np.isclose, (self, other), {"rtol": rtol, "atol": atol,
                                               "equal_nan": equal_nan})

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:
        raise _unbatched("allclose() (one answer for every example)")


def wrap(inner: Tensor, bdim: int, level: Any) -> BatchedTensor:
    """`inner` (the whole batch) seen one example at a time, its axis `bdim` the batch."""
    t = BatchedTensor.__new__(BatchedTensor)
    shape = tuple(inner.shape)
    t._inner, t._bdim, t._level = inner, bdim, level
    t._shape = shape[:bdim] + shape[bdim + 1:]
    t._data = inner._data
    t.grad = None
    t.requires_grad = inner.requires_grad
    t.name = inner.name
    t.module = inner.module
    t._ctx = None
    t._ver = None
    t._hooks = None
    t._retain = False
    return t


def plain_of(value: Any) -> Any:
    """The plain tensor at the bottom of a chain of batched tensors (itself for a plain one)."""
    while isinstance(value, BatchedTensor):
        value = value._inner
    return value


def amap(value: Any) -> tuple[Any, dict[Any, int]]:
    """The plain tensor under `value` and, for each vmap level it is batched at, the axis of
    that plain tensor which is the level's batch axis."""
    chain = []
    while isinstance(value, BatchedTensor):
        chain.append(value)
        value = value._inner
    axes: dict[Any, int] = {}
    free = list(range(value.ndim if isinstance(value, Tensor) else np.ndim(value)))
    for w in reversed(chain):  # the innermost wrapper's bdim counts the plain axes
        axes[w._level] = free.pop(w._bdim)
    return value, axes


def build(plain: Tensor, axes: dict[Any, int]) -> Tensor:
    """The inverse of `amap`: `plain` wrapped once per level of `axes`, the oldest level
    innermost."""
    free = list(range(plain.ndim))
    value: Tensor = plain
    for level in sorted(axes, key=lambda lv: lv.depth):
        pos = free.index(axes[level])
        free.pop(pos)
        value = wrap(value, pos, level)
    return value


def expand(value: Tensor, level: Any) -> BatchedTensor:
    """`value` (not batched at `level`) as a batched tensor of `level`, every example the
    same."""
    from minigrad.function import apply

    with at(below(level)):
        v1 = apply(REGISTRY["reshape"], value, shape=(1,) + tuple(value.shape))
        inner = apply(REGISTRY["broadcast_to"], v1, shape=(level.size,) + tuple(value.shape))
    return wrap(inner, 0, level)


# ------------------------------------------------------------------ queries without history
def _levels_front(value: Any, levels: list[Any], rank: int) -> np.ndarray:
    """The array of `value` with an axis per level of `levels` in front (size 1 where it is
    not batched) and its own axes after, padded with size-1 axes up to `rank`."""
    if not isinstance(value, Tensor):
        return np.asarray(value)
    plain, axes = amap(value)
    arr = plain._data
    order = [axes[lv] for lv in levels if lv in axes]
    rest = [i for i in range(arr.ndim) if i not in axes.values()]
    arr = arr.transpose(order + rest)
    shape = [arr.shape[order.index(axes[lv])] if lv in axes else 1 for lv in levels]
    logical = list(arr.shape[len(order):])
    if not levels:
        return arr
    return arr.reshape(shape + [1] * (rank - len(logical)) + logical)


def _levels_of(values: Sequence[Any]) -> list[Any]:
    found: dict[int, Any] = {}
    for v in values:
        if isinstance(v, Tensor):
            for lv in amap(v)[1]:
                found[id(lv)] = lv
    return sorted(found.values(), key=lambda lv: lv.depth)


def raw(f: Callable[..., Any], args: Sequence[Any], kw: dict[str, Any]) -> Tensor:
    """A numpy function without history (a comparison, ``sign``) on batched tensors: every
    example at once."""
    levels = _levels_of(args)
    rank = max((np.ndim(a) if not isinstance(a, Tensor) else a.ndim for a in args), default=0)
    arrays = [_levels_front(a, levels, rank) if isinstance(a, BatchedTensor)
              else (a.data if isinstance(a, Tensor) else a) for a in args]
    out = Tensor._wrap(np.asarray(f(*arrays, **kw)))
    return build(out, {lv: i for i, lv in enumerate(levels)})


def raw_reduce(f: Callable[..., Any], x: BatchedTensor, dim: Any, keepdim: Any,
               kw: dict[str, Any], what: str) -> Tensor:
    """`argmax`, `any`… of each example along `dim` (all of it when None)."""
    dim, keepdim = dim_alias(what, dim, keepdim, kw)
    levels = _levels_of([x])
    n, r = len(levels), x.ndim
    arr = _levels_front(x, levels, r)
    if dim is None:
        if f in (np.argmax, np.argmin):
            res = f(arr.reshape(arr.shape[:n] + (-1,)), axis=-1)
        else:
            res = f(arr, axis=tuple(range(n, n + r)), keepdims=bool(keepdim))
    else:
        axes = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        res = f(arr, axis=tuple(int(a) % max(r, 1) + n for a in axes)
                if f not in (np.argmax, np.argmin) else int(axes[0]) % max(r, 1) + n,
                keepdims=bool(keepdim))
    return build(Tensor._wrap(np.asarray(res)), {lv: i for i, lv in enumerate(levels)})
