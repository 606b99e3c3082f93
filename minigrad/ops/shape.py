r"""Ops that move values without changing them: reshape, transpose, broadcast, (un)squeeze,
concatenate, stack, indexing. Each VJP moves δ back to where the values came from."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
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


def scatter_add_forward(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    if _has_int_array(index):
        np.add.at(out, index, g)  # repeated indices must add up
    else:
        out[index] = g
    return out


def _two_inputs(p, shapes):
    """Conventions written for two inputs."""
    return p if len(shapes) == 2 else None


def _when_given(key):
    """Conventions that need the parameter `key`."""
    return lambda p, shapes: p if p.get(key) is not None else None


def _case(shape_or_fn, **params):
    """An example: one random input of a shape, with the op's `params`."""
    return lambda rng, dt: ((rand(rng, shape_or_fn, dt),), params)


RESHAPE = defop(
    "reshape", lambda x, shape: x.reshape(shape),
    lambda g, out, x, shape: g.reshape(x.shape),
    role="pass-through",
    formula="y = reshape(x)", grads=("reshape(δ)",), saves=(), view=True,
    examples=cases(_case((2, 3), shape=(3, 2)), _case((2, 3), shape=(-1,)),
                   _case((), shape=(1, 1)), _case((4,), shape=(2, 2)),
                   _case((2, 0, 3), shape=(0, 3)), _case((2, 3), shape=(3, -1))),
    torch=lambda x, shape: x.reshape(shape),
    calls=(call("{0}.reshape({shape})", lambda x, shape: x.reshape(shape)),
           call("{0}.reshape(*{shape})", lambda x, shape: x.reshape(*shape)),
           call("{0}.view({shape})", lambda x, shape: x.view(shape)),
           call("{0}.flatten()", lambda x: x.flatten(), only(shape=(-1,)))),
    jvps=(("reshape(ẋ)", lambda t, out, x, shape: t.reshape(shape)),),
)
def _transpose_vjp(g: Any, out: Any, x: Any, axes: tuple[int, ...] | None = None) -> Any:
    # `g.transpose()` with no argument: an ndarray and a Tensor (create_graph) both reverse
    # the axes, whereas `g.transpose(None)` means "axis None" to a Tensor
    return g.transpose() if axes is None else g.transpose(tuple(int(a) for a in np.argsort(axes)))


def _swap_of(axes: tuple[int, ...] | None, n: int) -> tuple[int, int] | None:
    """The two axes a permutation swaps, when it swaps exactly two."""
    if axes is None:
        return (0, 1) if n == 2 else None
    moved = [i for i, a in enumerate(axes) if a != i]
    return (moved[0], moved[1]) if len(moved) == 2 else None


def _a_swap(p, shapes):
    """A permutation that swaps two axes, written as ``transpose(d0, d1)``."""
    pair = _swap_of(p.get("axes"), len(shapes[0]))
    return None if pair is None else {"d0": pair[0], "d1": pair[1]}


def _negative_swap(p, shapes):
    n = len(shapes[0])
    return {"d0": p["d0"] - n, "d1": p["d1"] - n}


def _last_two(p, shapes):
    """``x.mT``: the permutation that swaps the last two axes."""
    n = len(shapes[0])
    if n < 2:
        return None
    want = tuple(range(n - 2)) + (n - 1, n - 2)
    axes = p.get("axes")
    return {} if (axes if axes is not None else tuple(reversed(range(n)))) == want else None


TRANSPOSE = defop(
    "transpose", lambda x, axes=None: np.transpose(x, axes), _transpose_vjp,
    role="pass-through",
    formula="y = xᵀ", grads=("δᵀ",), saves=(), view=True,
    examples=cases(_case((2, 3)), _case((3,)), _case(()), _case((2, 3, 4), axes=(1, 2, 0)),
                   _case((2, 3, 4)), _case((2, 0, 3), axes=(2, 0, 1)), _case((1, 3), axes=(1, 0)),
                   _case((2, 3, 4), axes=(0, 2, 1)), _case((2, 3, 4, 2), axes=(2, 1, 0, 3))),
    torch=lambda x, axes=None: x.permute(
        tuple(axes) if axes is not None else tuple(reversed(range(x.dim())))),
    calls=(call("{0}.T", lambda x: x.T, only(axes=None)),
           call("{0}.transpose()", lambda x: x.transpose(), only(axes=None)),
           call("{0}.transpose(None)", lambda x: x.transpose(None), only(axes=None)),
           call("{0}.transpose({axes})", lambda x, axes: x.transpose(axes), _when_given("axes")),
           call("{0}.permute(*{axes})", lambda x, axes: x.permute(*axes), _when_given("axes")),
           call("{0}.permute({axes})", lambda x, axes: x.permute(axes), _when_given("axes")),
           call("{0}.transpose({d0}, {d1})", lambda x, d0, d1: x.transpose(d0, d1), _a_swap),
           call("{0}.swapaxes({d0}, {d1})", lambda x, d0, d1: x.swapaxes(d0, d1), _a_swap),
           call("{0}.mT", lambda x: x.mT, _last_two),
           call("minigrad.ops.permute({0}, {axes})", lambda x, axes: permute(x, axes),
                negative_axis("axes", reverse=False)),
           call("minigrad.transpose({0}, {d0}, {d1})",
                lambda x, d0, d1: transpose(x, d0, d1), compose(_a_swap, _negative_swap))),
    jvps=(("ẋᵀ", lambda t, out, x, axes=None: permute(t, axes)),),
)


def _jvp_same(t: Any, out: Any, *inputs: Any, **params: Any) -> Any:
    return t


BROADCAST_TO = defop(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    lambda g, out, x, shape: g,  # the engine's unbroadcast sums δ back to x's shape
    role="pass-through",
    formula="y = broadcast(x)", grads=("Σ δ over copies",), saves=(), view=True,
    examples=cases(_case((3,), shape=(2, 3)), _case((), shape=(2, 2)),
                   _case((3, 1), shape=(2, 3, 4)), _case((1, 3), shape=(0, 3))),
    torch=lambda x, shape: x.expand(*shape),
    calls=(call("{0}.broadcast_to({shape})", lambda x, shape: x.broadcast_to(shape)),
           call("{0}.expand({shape})", lambda x, shape: x.expand(shape))),
    jvps=(("broadcast(ẋ)", _jvp_same),),  # the engine broadcasts each term to the result
)
SQUEEZE = defop(
    "squeeze", lambda x, axis=None: np.squeeze(x, axis),
    lambda g, out, x, axis=None: g.reshape(x.shape),
    role="pass-through",
    formula="y = squeeze(x)", grads=("reshape(δ)",), saves=(), view=True,
    examples=cases(_case((2, 1, 3)), _case((1, 3), axis=0), _case((1,)), _case((2, 1), axis=1),
                   _case((1, 0, 1))),
    torch=lambda x, axis=None: x.squeeze() if axis is None else x.squeeze(axis),
    calls=(call("{0}.squeeze({axis})", lambda x, axis=None: x.squeeze(axis)),
           call("{0}.squeeze(dim={dim})", lambda x, dim=None: x.squeeze(dim=dim),
                torch_names(axis="dim")),
           call("{0}.squeeze({axis})", lambda x, axis=None: x.squeeze(axis), negative_axis()),
           call("minigrad.ops.squeeze({0}, {axis})", lambda x, axis=None: squeeze(x, axis))),
    jvps=(("squeeze(ẋ)", lambda t, out, x, axis=None: t.reshape(out.shape)),),
)
UNSQUEEZE = defop(
    "unsqueeze", lambda x, axis: np.expand_dims(x, axis),
    lambda g, out, x, axis: g.reshape(x.shape),
    role="pass-through",
    formula="y = unsqueeze(x)", grads=("reshape(δ)",), saves=(), view=True,
    examples=cases(_case((3,), axis=0), _case((2, 3), axis=-1), _case((), axis=0),
                   _case((2, 3), axis=1), _case((0, 2), axis=2)),
    torch=lambda x, axis: x.unsqueeze(axis),
    calls=(call("{0}.unsqueeze({axis})", lambda x, axis: x.unsqueeze(axis)),
           call("{0}.expand_dims({axis})", lambda x, axis: x.expand_dims(axis)),
           call("{0}.unsqueeze({axis})", lambda x, axis: x.unsqueeze(axis),
                negative_axis(extra=1)),
           call("{0}.unsqueeze(dim={dim})", lambda x, dim: x.unsqueeze(dim=dim),
                torch_names(axis="dim"))),
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
                lambda *xs, axis=0: concatenate(list(xs), axis=axis), _two_inputs),
           call("minigrad.ops.concatenate([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: concatenate(xs, axis=axis),
                compose(_two_inputs, negative_axis())),
           call("minigrad.cat(({0}, {1}), dim={dim})",
                lambda *xs, dim=0: concatenate(xs, dim=dim),
                compose(_two_inputs, torch_names(axis="dim"))),
           call("minigrad.cat([{0}, {1}], {axis})",
                lambda *xs, axis=0: concatenate(list(xs), axis),
                compose(_two_inputs, negative_axis()))),
    torch=lambda *xs, axis=0: __import__("torch").cat(xs, dim=axis),
    promote=True,
    jvps=(("[0; ẋ{i}; 0]", _concat_jvp),),
)
STACK = defop(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis), _stack_vjp,
    formula="y = stack(x₀, x₁, …)", grads="δ[{i}]", saves=(), variadic=True,
    examples=cases(_stack_cases, _stack_cases0), doc="join along a new axis",
    calls=(call("minigrad.ops.stack([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: stack(list(xs), axis=axis), _two_inputs),
           call("minigrad.ops.stack([{0}, {1}], axis={axis})",
                lambda *xs, axis=0: stack(xs, axis=axis),
                compose(_two_inputs, negative_axis(extra=1))),
           call("minigrad.stack([{0}, {1}], dim={dim})",
                lambda *xs, dim=0: stack(list(xs), dim=dim),
                compose(_two_inputs, negative_axis(extra=1), torch_names(axis="dim")))),
    torch=lambda *xs, axis=0: __import__("torch").stack(xs, dim=axis),
    promote=True,
    jvps=(("stack(0, ẋ{i}, 0)", _stack_jvp),),
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
    return cases(*[_case((2, 3), index=i) for i in idx])


GETITEM = defop(
    "getitem", lambda x, index: x[index],
    lambda g, out, x, index: either.scatter_add(g, index, x.shape),
    formula="y = x[i]", grads=("δ scattered to x[i] (repeats add)",), saves=(), view=True,
    examples=_getitem_cases(), doc="indexing: slices, integer arrays, boolean masks",
    torch=lambda x, index: x[_torch_index(index)],
    calls=(call("{0}[{index}]", lambda x, index: x[index]),
           call("{0}[{index}]", lambda x, index: x[index], _index_as_list),
           call("{0}[minigrad.Tensor({index})]", lambda x, index: x[Tensor(index)], _array_index)),
    jvps=(("ẋ[i]", lambda t, out, x, index: getitem(t, index)),),
)
SCATTER_ADD = defop(
    "scatter_add", scatter_add_forward,
    lambda g, out, x, index, shape: g[index],
    formula="y = 0; y[i] += x", grads=("δ[i]",), saves=(),
    examples=cases(lambda rng, dt: ((rand(rng, (4, 3), dt),),
                                    {"index": np.array([0, 1, 1, 0]), "shape": (2, 3)}),
                   lambda rng, dt: ((rand(rng, (3,), dt),), {"index": np.s_[1], "shape": (2, 3)})),
    doc="the VJP of indexing, itself differentiable", torch=_torch_scatter_add,
    jvps=(("0; ẋ added at i", lambda t, out, x, index, shape: scatter_add(t, index, shape)),),
)


def _setitem_forward(x: np.ndarray, v: np.ndarray, index: Any) -> np.ndarray:
    out = x.copy()
    out[index] = v
    return out


def _setitem_vjp_x(g, out, x, v, index):
    keep = np.ones(x.shape, dtype=bool)
    keep[index] = False
    return g * keep


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
