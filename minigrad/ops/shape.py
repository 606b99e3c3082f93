r"""Ops that move values without changing them: reshape, transpose, broadcast, (un)squeeze,
concatenate, stack, indexing. Each VJP moves δ back to where the values came from."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor


def normalize_index(index: Any) -> Any:
    """Tensors, lists and ranges inside an index become numpy arrays, so numpy's rules
    apply (``logprobs[range(n), Y]`` picks one entry per row)."""
    if isinstance(index, tuple):
        return tuple(normalize_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, (list, range)):
        return np.asarray(index)
    return index


def _has_int_array(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)


def _add_rows(out: np.ndarray, index: np.ndarray, g: np.ndarray) -> None:
    """``np.add.at(out, index, g)`` for one integer array that picks rows of `out` (an
    embedding's gradient, ``x[idx]``): the positions sorted by row, then each row's share
    summed by one ``np.add.reduceat``. np.add.at adds them one position at a time, about
    seven times slower for the transformer's token embedding."""
    flat = index.reshape(-1)
    flat = np.where(flat < 0, flat + out.shape[0], flat)
    order = np.argsort(flat, kind="stable")  # stable: each row's terms in their order
    rows = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    out[rows[starts]] += np.add.reduceat(g.reshape((flat.size,) + out.shape[1:])[order],
                                         starts, axis=0)


def scatter_add_forward(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    if isinstance(index, np.ndarray) and index.dtype.kind in "iu" and index.size \
            and g.shape == index.shape + out.shape[1:]:
        _add_rows(out, index, g)
    elif _has_int_array(index):
        np.add.at(out, index, g)  # repeated indices must add up
    else:
        out[index] = g
    return out


RESHAPE = defop(
    "reshape", lambda x, shape: x.reshape(shape),
    lambda g, out, x, shape: g.reshape(x.shape),
    role="pass-through",
    formula="y = reshape(x)", grads=("reshape(δ)",), saves=(), view=True,
    jvps=(("reshape(ẋ)", lambda t, out, x, shape: t.reshape(shape)),),
)
def _transpose_vjp(g: Any, out: Any, x: Any, axes: tuple[int, ...] | None = None) -> Any:
    # `g.transpose()` with no argument: an ndarray and a Tensor (create_graph) both reverse
    # the axes, whereas `g.transpose(None)` means "axis None" to a Tensor
    return g.transpose() if axes is None else g.transpose(tuple(int(a) for a in np.argsort(axes)))


TRANSPOSE = defop(
    "transpose", lambda x, axes=None: np.transpose(x, axes), _transpose_vjp,
    role="pass-through",
    formula="y = xᵀ", grads=("δᵀ",), saves=(), view=True,
    jvps=(("ẋᵀ", lambda t, out, x, axes=None: permute(t, axes)),),
)


def _jvp_same(t: Any, out: Any, *inputs: Any, **params: Any) -> Any:
    return t


BROADCAST_TO = defop(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    lambda g, out, x, shape: g,  # the engine's unbroadcast sums δ back to x's shape
    role="pass-through",
    formula="y = broadcast(x)", grads=("Σ δ over copies",), saves=(), view=True,
    jvps=(("broadcast(ẋ)", _jvp_same),),  # the engine broadcasts each term to the result
)
SQUEEZE = defop(
    "squeeze", lambda x, axis=None: np.squeeze(x, axis),
    lambda g, out, x, axis=None: g.reshape(x.shape),
    role="pass-through",
    formula="y = squeeze(x)", grads=("reshape(δ)",), saves=(), view=True,
    jvps=(("squeeze(ẋ)", lambda t, out, x, axis=None: t.reshape(out.shape)),),
)
UNSQUEEZE = defop(
    "unsqueeze", lambda x, axis: np.expand_dims(x, axis),
    lambda g, out, x, axis: g.reshape(x.shape),
    role="pass-through",
    formula="y = unsqueeze(x)", grads=("reshape(δ)",), saves=(), view=True,
    jvps=(("unsqueeze(ẋ)", lambda t, out, x, axis: t.reshape(out.shape)),),
)


def _zeros_but(t: Any, xs: Any, argnum: int) -> list[Any]:
    """The tangents of every input: `t` for input `argnum`, zeros for the others."""
    return [t if j == argnum else np.zeros(np.shape(x), dtype=either.value(t).dtype)
            for j, x in enumerate(xs)]


def _concat_jvp(t, out, *xs, axis=0, argnum=0):
    return apply(CONCATENATE, *_zeros_but(t, xs, argnum), axis=axis)


def _stack_jvp(t, out, *xs, axis=0, argnum=0):
    return apply(STACK, *_zeros_but(t, xs, argnum), axis=axis)


def _concat_vjp(g, out, *xs, axis=0, argnum=0):
    start = sum(x.shape[axis] for x in xs[:argnum])
    sl = [slice(None)] * out.ndim
    sl[axis] = slice(start, start + xs[argnum].shape[axis])
    return g[tuple(sl)]


def _stack_vjp(g, out, *xs, axis=0, argnum=0):
    return g[(slice(None),) * axis + (argnum,)]


CONCATENATE = defop(
    "concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis), _concat_vjp,
    formula="y = [x₀; x₁; …]", grads="δ[slice of x{i}]", saves=(), variadic=True,
    doc="join along an existing axis", promote=True,
    jvps=(("[0; ẋ{i}; 0]", _concat_jvp),),
)
STACK = defop(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), _stack_vjp,
    formula="y = stack(x₀, x₁, …)", grads="δ[{i}]", saves=(), variadic=True,
    doc="join along a new axis", promote=True,
    jvps=(("stack(0, ẋ{i}, 0)", _stack_jvp),),
)


GETITEM = defop(
    "getitem", lambda x, index: x[index],
    lambda g, out, x, index: either.scatter_add(g, index, x.shape),
    formula="y = x[i]", grads=("δ scattered to x[i] (repeats add)",), saves=(), view=True,
    doc="indexing: slices, integer arrays, boolean masks",
    jvps=(("ẋ[i]", lambda t, out, x, index: getitem(t, index)),),
)
SCATTER_ADD = defop(
    "scatter_add", scatter_add_forward,
    lambda g, out, x, index, shape: g[index],
    formula="y = 0; y[i] += x", grads=("δ[i]",), saves=(),
    doc="the VJP of indexing, itself differentiable",
    jvps=(("0; ẋ added at i", lambda t, out, x, index, shape: scatter_add(t, index, shape)),),
)


def _setitem_forward(x: np.ndarray, v: np.ndarray, index: Any) -> np.ndarray:
    out = x.copy()
    out[index] = v
    return out


def _setitem_vjp_x(g, out, x, v, index):
    keep = np.ones(x.shape, dtype=either.value(g).dtype)
    keep[index] = 0
    return either.share(g, keep)  # 0 where overwritten, even where δ is ∞


def _setitem_vjp_v(g, out, x, v, index):
    return g[index]


SETITEM = defop(
    "setitem", _setitem_forward, _setitem_vjp_x, _setitem_vjp_v,
    formula="y = x; y[i] = v", grads=("δ ⊙ 1[not i]", "δ[i]"), saves=(),
    doc="out-of-place assignment; `t[i] = v` and `copy_` record it in place",
    jvps=(("ẋ ⊙ 1[not i]", lambda t, out, x, v, index: setitem(t, 0.0, index)),
          ("v̇ at i", lambda t, out, x, v, index: setitem(
              np.zeros(out.shape, dtype=out.dtype), t, index))),
)


def reshape(x: Any, shape: Any) -> Tensor:
    """Same values, new shape. ∇x = δ reshaped back."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return apply(RESHAPE, x, shape=shape)


def permute(x: Any, dims: Any = None) -> Tensor:
    """Reorders the axes: axis i of the result is axis ``dims[i]`` of x (none given: reversed,
    `xᵀ`), as ``torch.permute`` and numpy's ``transpose(x, axes)``. ∇x = δ permuted back.

    The primitive behind `transpose`, `Tensor.permute`, ``t.T`` and ``t.mT``."""
    if dims is None:
        return apply(TRANSPOSE, x, axes=None)
    ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
    axes = tuple(int(a) for a in dims)
    # negative axes made positive: the VJP inverts the permutation with argsort
    norm = tuple(a % ndim if -ndim <= a < ndim else a for a in axes)
    if sorted(norm) != list(range(ndim)):
        raise ValueError(f"permute: dims {axes} are not a permutation of the {ndim} axes of a "
                         f"tensor of shape {np.shape(x)}; give each of 0..{ndim - 1} once")
    return apply(TRANSPOSE, x, axes=norm)


def swap_dims(ndim: int, dim0: int, dim1: int) -> tuple[int, ...]:
    """The permutation of `ndim` axes that swaps `dim0` and `dim1` (negative allowed)."""
    axes = list(range(ndim))
    try:
        a, b = axes[dim0], axes[dim1]
    except (IndexError, TypeError):
        raise ValueError(f"transpose: dims ({dim0}, {dim1}) are out of range for a tensor with "
                         f"{ndim} dims; each must lie in [{-ndim}, {ndim - 1}]") from None
    axes[a], axes[b] = b, a
    return tuple(axes)


def transpose(x: Any, dim0: Any = None, dim1: int | None = None) -> Tensor:
    """Swaps axes `dim0` and `dim1` (negative allowed), as ``torch.transpose(x, 0, 1)``.
    ∇x = δ with the two axes swapped back.

    numpy's spellings, which PyTorch does not accept, are kept: ``transpose(x)`` reverses
    the axes (`xᵀ`) and ``transpose(x, (2, 0, 1))`` permutes them as `permute`."""
    if dim1 is None:
        if dim0 is None:
            return permute(x)
        if isinstance(dim0, (tuple, list)):
            return permute(x, dim0)
        raise TypeError(f"transpose: give two dims to swap (transpose(x, {dim0}, d)); to "
                        f"reorder every axis use permute(x, dims)")
    ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
    return permute(x, swap_dims(ndim, dim0, dim1))


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """Repeats x along new or size-1 axes. ∇x = δ summed over the copies."""
    return apply(BROADCAST_TO, x, shape=tuple(shape))


def _dim(op: str, dim: Any, axis: Any) -> Any:
    """PyTorch's `dim` or numpy's `axis`, whichever is given."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}(): give dim= or axis=, not both")
        return axis
    return dim


def squeeze(x: Any, dim: Any = None, *, axis: Any = None) -> Tensor:
    """Drops size-1 axes: all of them, or `dim` (an int or a tuple). ∇x = δ reshaped back.

    As PyTorch, naming an axis whose size is not 1 leaves it (numpy raises)."""
    dim = _dim("squeeze", dim, axis)
    if dim is not None:
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        n = max(len(shape), 1)
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        for d in dims:
            if not -n <= int(d) < n:
                raise ValueError(f"squeeze: dim {d} is out of range for a tensor of shape "
                                 f"{shape}")
        kept = tuple(int(d) % n for d in dims if not shape or shape[int(d)] == 1)
        if not kept:
            return x if isinstance(x, Tensor) else Tensor(x)
        if len(kept) < len(dims):
            dim = kept
    return apply(SQUEEZE, x, axis=dim)


def unsqueeze(x: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Inserts a size-1 axis at `dim`. ∇x = δ reshaped back."""
    dim = _dim("unsqueeze", dim, axis)
    if dim is None:
        raise TypeError("unsqueeze() needs the dim where the new axis goes, e.g. unsqueeze(0)")
    return apply(UNSQUEEZE, x, axis=dim)


def concatenate(tensors: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Joins tensors along an existing axis, `dim` (0 by default; numpy's `axis=` too).
    Each input gets its slice of δ."""
    axis = _dim("cat", dim, axis) or 0
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    ndim = np.ndim(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    if ndim == 0:
        raise ValueError("concatenate: 0-d tensors cannot be joined; use stack")
    return apply(CONCATENATE, *tensors, axis=int(axis) % ndim)


cat = concatenate


def stack(tensors: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Joins tensors along a new axis, `dim` (0 by default). Input i gets δ[i] along it."""
    axis = _dim("stack", dim, axis) or 0
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    ndim = np.ndim(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0]) + 1
    return apply(STACK, *tensors, axis=int(axis) % ndim)


def getitem(x: Any, index: Any) -> Tensor:
    """`x[index]` with numpy's rules. ∇x = δ scattered back; repeated indices add up."""
    return apply(GETITEM, x, index=normalize_index(index))


def scatter_add(g: Any, index: Any, shape: tuple[int, ...]) -> Tensor:
    """Zeros of `shape` with `g` added at `index`. ∇g = δ[index]."""
    return apply(SCATTER_ADD, g, index=index, shape=tuple(shape))


def setitem(x: Any, v: Any, index: Any) -> Tensor:
    """A copy of x with `x[index] = v`. ∇x = δ outside index, ∇v = δ[index]."""
    return apply(SETITEM, x, v, index=index)
