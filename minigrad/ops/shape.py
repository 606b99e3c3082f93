r"""Ops that move values without changing them: reshape, transpose, broadcast, (un)squeeze,
concatenate, stack, indexing. Each VJP moves δ back to where the values came from."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import dual
from minigrad.ops.examples import (
    call,
    cases,
    compose,
    negative_axis,
    only,
    rand,
    torch_names,
)
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor


def normalize_index(index: Any) -> Any:
    """Tensors and lists inside an index become numpy arrays, so numpy's rules apply."""
    if isinstance(index, tuple):
        return tuple(normalize_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _has_int_array(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)


def scatter_add_forward(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    if _has_int_array(index):
        np.add.at(out, index, g)  # repeated indices must add up
    else:
        out[index] = g
    return out


def _two(p, shapes):
    """Conventions written for two inputs."""
    return p if len(shapes) == 2 else None


def _given(key):
    return lambda p, shapes: p if p.get(key) is not None else None


def _c(shape_or_fn, **params):
    return lambda rng, dt: ((rand(rng, shape_or_fn, dt),), params)


RESHAPE = defop(
    "reshape", lambda x, shape: x.reshape(shape),
    lambda g, out, x, shape: g.reshape(x.shape),
    formula="y = reshape(x)", grads=("reshape(δ)",), saves=(), view=True,
    examples=cases(_c((2, 3), shape=(3, 2)), _c((2, 3), shape=(-1,)), _c((), shape=(1, 1)),
                   _c((4,), shape=(2, 2)), _c((2, 0, 3), shape=(0, 3)), _c((2, 3), shape=(3, -1))),
    torch=lambda x, shape: x.reshape(shape),
    calls=(call("{0}.reshape({shape})", lambda x, shape: x.reshape(shape)),
           call("{0}.reshape(*{shape})", lambda x, shape: x.reshape(*shape)),
           call("{0}.view({shape})", lambda x, shape: x.view(shape)),
           call("{0}.flatten()", lambda x: x.flatten(), only(shape=(-1,)))),
)
def _transpose_vjp(g: Any, out: Any, x: Any, axes: tuple[int, ...] | None = None) -> Any:
    # `g.transpose()` with no argument: an ndarray and a Tensor (create_graph) both reverse
    # the axes, whereas `g.transpose(None)` means "axis None" to a Tensor
    return g.transpose() if axes is None else g.transpose(tuple(int(a) for a in np.argsort(axes)))


TRANSPOSE = defop(
    "transpose", lambda x, axes=None: np.transpose(x, axes), _transpose_vjp,
    formula="y = xᵀ", grads=("δᵀ",), saves=(), view=True,
    examples=cases(_c((2, 3)), _c((3,)), _c(()), _c((2, 3, 4), axes=(1, 2, 0)),
                   _c((2, 3, 4)), _c((2, 0, 3), axes=(2, 0, 1)), _c((1, 3), axes=(1, 0))),
    torch=lambda x, axes=None: x.permute(
        tuple(axes) if axes is not None else tuple(reversed(range(x.dim())))),
    calls=(call("{0}.T", lambda x: x.T, only(axes=None)),
           call("{0}.transpose()", lambda x: x.transpose(), only(axes=None)),
           call("{0}.transpose(None)", lambda x: x.transpose(None), only(axes=None)),
           call("{0}.transpose(*{axes})", lambda x, axes: x.transpose(*axes), _given("axes")),
           call("{0}.permute({axes})", lambda x, axes: x.permute(axes), _given("axes")),
           call("minigrad.ops.transpose({0}, {axes})", lambda x, axes: transpose(x, axes),
                negative_axis("axes", reverse=False))),
)
BROADCAST_TO = defop(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    lambda g, out, x, shape: g,  # the engine's unbroadcast sums δ back to x's shape
    formula="y = broadcast(x)", grads=("Σ δ over copies",), saves=(), view=True,
    examples=cases(_c((3,), shape=(2, 3)), _c((), shape=(2, 2)), _c((3, 1), shape=(2, 3, 4)),
                   _c((1, 3), shape=(0, 3))),
    torch=lambda x, shape: x.expand(*shape),
    calls=(call("{0}.broadcast_to({shape})", lambda x, shape: x.broadcast_to(shape)),
           call("{0}.expand({shape})", lambda x, shape: x.expand(shape))),
)
SQUEEZE = defop(
    "squeeze", lambda x, axis=None: np.squeeze(x, axis),
    lambda g, out, x, axis=None: g.reshape(x.shape),
    formula="y = squeeze(x)", grads=("reshape(δ)",), saves=(), view=True,
    examples=cases(_c((2, 1, 3)), _c((1, 3), axis=0), _c((1,)), _c((2, 1), axis=1),
                   _c((1, 0, 1))),
    torch=lambda x, axis=None: x.squeeze() if axis is None else x.squeeze(axis),
    calls=(call("{0}.squeeze({axis})", lambda x, axis=None: x.squeeze(axis)),
           call("{0}.squeeze(dim={dim})", lambda x, dim=None: x.squeeze(dim=dim),
                torch_names(axis="dim")),
           call("{0}.squeeze({axis})", lambda x, axis=None: x.squeeze(axis), negative_axis()),
           call("minigrad.ops.squeeze({0}, {axis})", lambda x, axis=None: squeeze(x, axis))),
)
UNSQUEEZE = defop(
    "unsqueeze", lambda x, axis: np.expand_dims(x, axis),
    lambda g, out, x, axis: g.reshape(x.shape),
    formula="y = unsqueeze(x)", grads=("reshape(δ)",), saves=(), view=True,
    examples=cases(_c((3,), axis=0), _c((2, 3), axis=-1), _c((), axis=0), _c((2, 3), axis=1),
                   _c((0, 2), axis=2)),
    torch=lambda x, axis: x.unsqueeze(axis),
    calls=(call("{0}.unsqueeze({axis})", lambda x, axis: x.unsqueeze(axis)),
           call("{0}.expand_dims({axis})", lambda x, axis: x.expand_dims(axis)),
           call("{0}.unsqueeze({axis})", lambda x, axis: x.unsqueeze(axis),
                negative_axis(extra=1))),
)


def _concat_vjp(g, out, *xs, axis=0, argnum=0):
    start = sum(x.shape[axis] for x in xs[:argnum])
    sl = [slice(None)] * out.ndim
    sl[axis] = slice(start, start + xs[argnum].shape[axis])
    return g[tuple(sl)]


def _stack_vjp(g, out, *xs, axis=0, argnum=0):
    return g[(slice(None),) * axis + (argnum,)]


def _cat_cases(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (1, 3), dt), rand(rng, (4, 3), dt)), {"axis": 0})


def _cat_cases1(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (2, 1), dt)), {"axis": 1})


def _stack_cases(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (2, 3), dt), rand(rng, (2, 3), dt)), {"axis": 1})


def _cat_cases_empty(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (0, 3), dt)), {"axis": 0})


def _stack_cases0(rng, dt):
    return ((rand(rng, (), dt), rand(rng, (), dt)), {"axis": 0})


CONCATENATE = defop(
    "concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis), _concat_vjp,
    formula="y = [x₀; x₁; …]", grads="δ[slice of x{i}]", saves=(), variadic=True,
    examples=cases(_cat_cases, _cat_cases1, _cat_cases_empty), doc="join along an existing axis",
    calls=(call("minigrad.ops.cat([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: concatenate(list(xs), axis=axis), _two),
           call("minigrad.ops.concatenate([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: concatenate(xs, axis=axis), compose(_two, negative_axis()))),
    torch=lambda *xs, axis=0: __import__("torch").cat(xs, dim=axis),
)
STACK = defop(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), _stack_vjp,
    formula="y = stack(x₀, x₁, …)", grads="δ[{i}]", saves=(), variadic=True,
    examples=cases(_stack_cases, _stack_cases0), doc="join along a new axis",
    calls=(call("minigrad.ops.stack([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: stack(list(xs), axis=axis), _two),
           call("minigrad.ops.stack([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: stack(xs, axis=axis), compose(_two, negative_axis(extra=1)))),
    torch=lambda *xs, axis=0: __import__("torch").stack(xs, dim=axis),
)


def _torch_index(index: Any) -> Any:
    """The same index for a torch tensor (for the differential tests)."""
    import torch

    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    return torch.as_tensor(index) if isinstance(index, np.ndarray) else index


def _torch_scatter_add(x: Any, index: Any, shape: tuple[int, ...]) -> Any:
    import torch

    out = torch.zeros(shape, dtype=x.dtype)
    if _has_int_array(index):
        idx = index if isinstance(index, tuple) else (index,)
        return out.index_put(tuple(torch.as_tensor(i) for i in idx), x, accumulate=True)
    out[_torch_index(index)] = x
    return out


def _torch_setitem(x: Any, v: Any, index: Any) -> Any:
    y = x.clone()
    y[_torch_index(index)] = v
    return y


def _index_as_list(p, shapes):
    """An integer-array index written as a Python list."""
    i = p["index"]
    if isinstance(i, np.ndarray) and i.dtype.kind in "iu":
        return {"index": i.tolist()}
    return None


def _array_index(p, shapes):
    i = p["index"]
    return p if isinstance(i, np.ndarray) else None


def _assign(x: Any, v: Any, index: Any) -> Tensor:
    """``y = x.copy(); y[index] = v``: setitem recorded in place on a copy."""
    y = x.copy()
    y[index] = v
    return y


def _getitem_cases():
    idx = [
        np.s_[1], np.s_[:, 1:], np.s_[..., ::2], np.s_[None, 0],
        np.array([0, 1, 1, 0]),  # repeated rows: their gradients add up
        (np.array([0, 1, 1]), np.array([2, 0, 2])),
        np.array([[True, False, True], [False, False, True]]),
        np.s_[-1], np.s_[0, -1], np.s_[..., None], np.s_[1:1], np.s_[:, np.array([2, -1])],
        np.zeros((2, 3), dtype=bool),  # selects nothing: an empty result
    ]
    return cases(*[_c((2, 3), index=i) for i in idx])


GETITEM = defop(
    "getitem", lambda x, index: x[index],
    lambda g, out, x, index: dual.scatter_add(g, index, x.shape),
    formula="y = x[i]", grads=("δ scattered to x[i] (repeats add)",), saves=(), view=True,
    examples=_getitem_cases(), doc="indexing: slices, integer arrays, boolean masks",
    torch=lambda x, index: x[_torch_index(index)],
    calls=(call("{0}[{index}]", lambda x, index: x[index]),
           call("{0}[{index}]", lambda x, index: x[index], _index_as_list),
           call("{0}[minigrad.Tensor({index})]", lambda x, index: x[Tensor(index)], _array_index)),
)
SCATTER_ADD = defop(
    "scatter_add", scatter_add_forward,
    lambda g, out, x, index, shape: g[index],
    formula="y = 0; y[i] += x", grads=("δ[i]",), saves=(),
    examples=cases(lambda rng, dt: ((rand(rng, (4, 3), dt),),
                                    {"index": np.array([0, 1, 1, 0]), "shape": (2, 3)}),
                   lambda rng, dt: ((rand(rng, (3,), dt),), {"index": np.s_[1], "shape": (2, 3)})),
    doc="the VJP of indexing, itself differentiable", torch=_torch_scatter_add,
)


def _setitem_forward(x: np.ndarray, v: np.ndarray, index: Any) -> np.ndarray:
    out = x.copy()
    out[index] = v
    return out


def _setitem_vjp_x(g, out, x, v, index):
    keep = np.ones(x.shape, dtype=dual.value(g).dtype)
    keep[index] = 0
    return dual.share(g, keep)  # 0 where overwritten, even where δ is ∞


def _setitem_vjp_v(g, out, x, v, index):
    return g[index]


SETITEM = defop(
    "setitem", _setitem_forward, _setitem_vjp_x, _setitem_vjp_v,
    formula="y = x; y[i] = v", grads=("δ ⊙ 1[not i]", "δ[i]"), saves=(),
    examples=cases(lambda rng, dt: ((rand(rng, (2, 3), dt), rand(rng, (3,), dt)),
                                    {"index": np.s_[1]}),
                   lambda rng, dt: ((rand(rng, (2, 3), dt), rand(rng, (), dt)),
                                    {"index": Ellipsis})),
    doc="out-of-place assignment; `t[i] = v` and `copy_` record it in place",
    torch=_torch_setitem,
    calls=(call("_setitem_in_place({0}, {1}, {index})", lambda x, v, index: _assign(x, v, index)),),
)


def reshape(x: Any, shape: Any) -> Tensor:
    """Same values, new shape. ∇x = δ reshaped back."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return apply(RESHAPE, x, shape=shape)


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permutes axes (none given: reverses them, `xᵀ`). ∇x = δ permuted back."""
    if axes is None:
        return apply(TRANSPOSE, x, axes=None)
    ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
    axes = tuple(int(a) for a in axes)
    # negative axes made positive: the VJP inverts the permutation with argsort
    norm = tuple(a % ndim if -ndim <= a < ndim else a for a in axes)
    if sorted(norm) != list(range(ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {ndim} axes of a "
                         f"tensor of shape {np.shape(x)}; give each of 0..{ndim - 1} once")
    return apply(TRANSPOSE, x, axes=norm)


permute = transpose


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """Repeats x along new or size-1 axes. ∇x = δ summed over the copies."""
    return apply(BROADCAST_TO, x, shape=tuple(shape))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drops size-1 axes. ∇x = δ reshaped back."""
    return apply(SQUEEZE, x, axis=axis)


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Inserts a size-1 axis at `axis`. ∇x = δ reshaped back."""
    return apply(UNSQUEEZE, x, axis=axis)


def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Joins tensors along an existing axis. Each input gets its slice of δ."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    ndim = np.ndim(tensors[0].data if isinstance(tensors[0], Tensor) else tensors[0])
    if ndim == 0:
        raise ValueError("concatenate: 0-d tensors cannot be joined; use stack")
    return apply(CONCATENATE, *tensors, axis=int(axis) % ndim)


cat = concatenate


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Joins tensors along a new axis. Input i gets δ[i] along that axis."""
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
