r"""Batching rules: each op of the registry on a whole batch, for `vmap`.

A rule is called as ``rule(ctx, vals, bdims, params)`` with the op's inputs as whole batches
(`vals`), the batch axis of each (`bdims`, None for an input shared by every example) and
the op's parameters for one example; it returns the result for the whole batch and its batch
axis. Most ops over a batch are the same op with shifted axes:

- elementwise ops broadcast: the batch axis goes first and each batched input gets size-1
  axes up to the largest rank (`Ctx.align`), so it never lines up with an axis of a shared
  input;
- reductions, softmax, reshape, transpose, concatenation take their axes + 1;
- matmul broadcasts its leading axes like an elementwise op, once a 1-D operand is a row or
  a column;
- a layer whose first axis is already a batch (convolution, pooling, their gradients for
  the input) folds the vmap's batch into it;
- a layer whose examples each have their own weight or statistics (a kernel per example,
  as per-sample gradients make; a gradient for the kernel, which sums over N; batch norm)
  makes each example a group of channels: B groups of a grouped convolution, B·C channels
  of one batch norm.

An op without a rule, or with inputs its rule does not cover, runs once per example, with a
warning (`Ctx.loop`): setitem with advanced indices apart (numpy moves their axes in front),
embedding with an index out of range (for the loop to name it), batch norm updating running
statistics under nested vmaps (each example is several updates in turn), convolution and
pooling of inputs without their batch axis N (the functions add it before the op).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.func.batched import BatchedTensor, plain_of
from minigrad.func.vmap_level import RULES, Ctx, draw_mask
from minigrad.tensor import Tensor

__all__ = ["RULES", "batched_ops"]

Vals = list[Tensor]
Bdims = list["int | None"]
Out = tuple[Tensor, "int | None"]


def rule(*names: str) -> Any:
    def register(fn: Any) -> Any:
        for n in names:
            RULES[n] = fn
        return fn

    return register


def batched_ops() -> list[str]:
    """The ops with a batching rule (the others run once per example under vmap)."""
    return sorted(RULES)


def _logical_ndim(v: Tensor, d: int | None) -> int:
    return v.ndim - (d is not None)


def _example_shape(v: Tensor, d: int | None) -> tuple[int, ...]:
    """The shape of one example of `v` (all of it when it has no batch axis)."""
    shape = tuple(v.shape)
    return shape if d is None else shape[:d] + shape[d + 1:]


def _shift(axis: Any, ndim: int) -> Any:
    """One example's axis (or tuple, or None for all) as an axis of the batch, batch first."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % max(ndim, 1) + 1 for a in axis)
    return int(axis) % max(ndim, 1) + 1


# ------------------------------------------------------------------ elementwise
@rule("neg", "exp", "log", "sqrt", "abs", "clip", "relu", "leaky_relu", "sigmoid", "tanh",
      "softplus", "gelu", "astype", "add", "sub", "mul", "div", "pow", "maximum", "minimum",
      "where", "masked_fill")
def _elementwise(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """The same op; broadcasting lines up the examples once the batch axes are in front."""
    if len(vals) == 1:
        return ctx.same(vals, **params), bdims[0]
    return ctx.same(ctx.align(vals, bdims), **params), 0


@rule("scaled_dot_product_attention")
def _attention(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Attention broadcasts its leading axes as an elementwise op, once the queries carry
    the batch (the scores take their leading axes from q and k, and a mask must fit them)."""
    q = ctx.materialize(vals[0], bdims[0])
    return ctx.same(ctx.align([q] + vals[1:], [0] + bdims[1:]), **params), 0


@rule("dropout")
def _dropout(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Elementwise; with ``randomness='different'`` every example gets its own mask."""
    x, mask = vals
    if ctx.level.randomness == "different" and bdims[1] is None:
        x = ctx.materialize(x, bdims[0])
        keep = Tensor._wrap(draw_mask(tuple(x.shape), params.get("p", 0.5)))
        return ctx.same([x, keep], **params), 0
    return _elementwise(ctx, vals, bdims, params)


# ------------------------------------------------------------------ reductions, softmax
@rule("sum", "mean", "max", "min", "var", "std", "logsumexp")
def _reduction(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    n = _logical_ndim(x, d)
    p = dict(params)
    p["axis"] = _shift(params.get("axis"), n)
    return ctx.same([ctx.front(x, d)], **p), 0


@rule("softmax", "log_softmax")
def _softmax(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    axis = _shift(params.get("axis", -1), _logical_ndim(x, d))
    return ctx.same([ctx.front(x, d)], **{**params, "axis": axis}), 0


# ------------------------------------------------------------------ shapes
@rule("reshape")
def _reshape(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    return ctx.same([ctx.front(x, d)], shape=(ctx.B,) + tuple(params["shape"])), 0


@rule("transpose")
def _transpose(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    n = _logical_ndim(x, d)
    axes = params.get("axes")
    axes = tuple(range(n - 1, -1, -1)) if axes is None else tuple(axes)
    return ctx.same([ctx.front(x, d)], axes=(0,) + tuple(a % max(n, 1) + 1 for a in axes)), 0


@rule("broadcast_to")
def _broadcast_to(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    shape = tuple(params["shape"])
    (x,) = ctx.align(vals, bdims, rank=len(shape))
    return ctx.same([x], shape=(ctx.B,) + shape), 0


@rule("squeeze")
def _squeeze(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    x = ctx.front(x, d)
    n = x.ndim - 1
    axis = params.get("axis")
    if axis is None:
        axis = tuple(i for i in range(n) if x.shape[i + 1] == 1)
        if not axis:
            return x, 0
    return ctx.same([x], axis=_shift(axis, n)), 0


@rule("unsqueeze")
def _unsqueeze(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    n = _logical_ndim(x, d) + 1
    return ctx.same([ctx.front(x, d)], axis=int(params["axis"]) % n + 1), 0


@rule("concatenate", "stack")
def _join(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Every input gets the batch axis (a shared one repeated), then the axis shifts."""
    xs = [ctx.materialize(v, d) for v, d in zip(vals, bdims)]
    return ctx.same(xs, **{**params, "axis": int(params.get("axis", 0)) + 1}), 0


@rule("pad")
def _pad(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """PyTorch's pad widths name the last axes: the batch axis in front is left alone."""
    (x,), (d,) = vals, bdims
    return ctx.same([ctx.front(x, d)], **params), 0


# ------------------------------------------------------------------ indexing
def _advanced_apart(index: Any) -> bool:
    """Whether numpy moves the advanced-index axes to the front: integer or boolean arrays
    separated by a slice, None or Ellipsis."""
    parts = index if isinstance(index, tuple) else (index,)
    where = [i for i, p in enumerate(parts) if isinstance(p, np.ndarray)]
    return bool(where) and where[-1] - where[0] + 1 != len(where)


def _index_batch_axis(index: Any) -> int:
    """Where the batch axis lands in ``X[(slice(None),) + index]``: first, unless numpy moves
    separated advanced indices in front of it."""
    if not _advanced_apart(index):
        return 0
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray)]
    shapes = [p.shape if p.dtype.kind != "b" else (int(p.sum()),) for p in arrays]
    return len(_broadcast_shapes(shapes))


def _broadcast_shapes(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*shapes))


def _prefix(index: Any) -> tuple[Any, ...]:
    return (slice(None),) + (index if isinstance(index, tuple) else (index,))


@rule("getitem")
def _getitem(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    (x,), (d,) = vals, bdims
    index = params["index"]
    return ctx.same([ctx.front(x, d)], index=_prefix(index)), _index_batch_axis(index)


@rule("scatter_add")
def _scatter_add(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """getitem's VJP: δ goes back where getitem took it from, batch axis included."""
    (g,), (d,) = vals, bdims
    index = params["index"]
    at = _index_batch_axis(index)
    g = ctx.front(g, d)
    if at:
        g = ctx.apply("transpose", g, axes=tuple(range(1, at + 1)) + (0,) + tuple(
            range(at + 1, g.ndim)))
    return ctx.same([g], index=_prefix(index), shape=(ctx.B,) + tuple(params["shape"])), 0


@rule("setitem")
def _setitem(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    index = params["index"]
    if _advanced_apart(index):
        return ctx.loop(vals, bdims, params)
    x = ctx.materialize(vals[0], bdims[0])
    if bdims[1] is None:
        return ctx.same([x, vals[1]], index=_prefix(index)), 0
    sel_rank = len(ctx.apply("getitem", x, index=_prefix(index)).shape) - 1
    (v,) = ctx.align([vals[1]], [bdims[1]], rank=sel_rank)
    return ctx.same([x, v], index=_prefix(index)), 0


@rule("embedding")
def _embedding(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Per-example indices into one shared table: the same lookup. A table per example
    (per-sample gradients) is one table of B·V rows, example b's indices shifted by b·V;
    an index outside [0, V) is left to the loop, whose lookup names it (shifted, it would
    read another example's rows)."""
    if bdims[1] is None:
        return ctx.same(vals, **params), bdims[0]
    (idx, W), (di, dW) = vals, bdims
    V = _example_shape(W, dW)[0]
    every = plain_of(idx)._data
    if every.dtype.kind not in "iu" or (every.size and (every.min() < 0 or every.max() >= V)):
        return ctx.loop(vals, bdims, params)
    idx = ctx.materialize(idx, di)
    shift = np.arange(ctx.B, dtype=every.dtype).reshape((ctx.B,) + (1,) * (idx.ndim - 1)) * V
    idx = ctx.apply("add", idx, Tensor._wrap(shift))
    return ctx.same([idx, _stacked(ctx, W, dW)], **params), 0


# ------------------------------------------------------------------ products
def _as_matrix(ctx: Ctx, v: Tensor, d: int | None, row: bool) -> tuple[Tensor, int | None]:
    """A batched 1-D operand of matmul as a row (left operand) or a column (right)."""
    if d is None or v.ndim - 1 != 1:
        return v, d
    v = ctx.front(v, d)
    shape = (ctx.B, 1, v.shape[1]) if row else (ctx.B, v.shape[1], 1)
    return ctx.apply("reshape", v, shape=shape), 0


def _matmul_shape(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``a @ b`` for one example, by numpy's rules (1-D: a row, a column)."""
    a = (1,) + sa if len(sa) == 1 else sa
    b = sb + (1,) if len(sb) == 1 else sb
    out = tuple(np.broadcast_shapes(a[:-2], b[:-2])) + (a[-2], b[-1])
    if len(sb) == 1:
        out = out[:-1]
    if len(sa) == 1:
        out = out[:-2] + out[-1:] if len(sb) != 1 else out[:-1]
    return out


@rule("matmul")
def _matmul(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """A batched 1-D operand becomes a row or a column; then the leading axes broadcast as
    in an elementwise op, and the result drops the axes the 1-D operands did not have."""
    (a, b), (da, db) = vals, bdims
    shape = (ctx.B,) + _matmul_shape(_example_shape(a, da), _example_shape(b, db))
    a, da = _as_matrix(ctx, a, da, row=True)
    b, db = _as_matrix(ctx, b, db, row=False)
    lead = max(_logical_ndim(a, da), _logical_ndim(b, db), 2)
    out = ctx.same(ctx.align([a, b], [da, db], rank=lead))
    if tuple(out.shape) != shape:
        out = ctx.apply("reshape", out, shape=shape)
    return out, 0


@rule("linear")
def _linear(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """A shared layer on a batch of inputs is the same layer; a per-example weight (per-
    sample gradients) is ``h @ Wᵀ + b`` with each op batched."""
    if all(d is None for d in bdims[1:]):
        return ctx.same([ctx.front(vals[0], bdims[0])] + vals[1:], **params), (
            None if bdims[0] is None else 0)

    def by_hand(h: Any, W: Any, b: Any = None) -> Any:
        from minigrad.ops import matmul, permute

        a = matmul(h, permute(W))
        return a if b is None else a + b

    return ctx.logical(by_hand, vals, bdims)


# ------------------------------------------------------------------ losses
def _reduce_rows(ctx: Ctx, per_row: Tensor, reduction: str, rows: int) -> Out:
    """`per_row` losses of shape (B, …) reduced per example as the loss would."""
    if reduction == "none" or per_row.ndim == 1:
        return per_row, 0
    axes = tuple(range(1, per_row.ndim))
    total = ctx.apply("sum", per_row, axis=axes, keepdims=False)
    if reduction == "sum":
        return total, 0
    return ctx.apply("div", total, Tensor._wrap(_scalar(rows, per_row))), 0


def _scalar(n: int, like: Tensor) -> Any:
    return np.asarray(float(max(n, 1)), dtype=like.dtype)


@rule("cross_entropy", "nll_loss")
def _class_loss(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    logits = ctx.materialize(vals[0], bdims[0])
    target = ctx.materialize(vals[1], bdims[1])
    reduction = params.get("reduction", "mean")
    rows = math.prod(logits.shape[1:-1])
    per_row = ctx.same([logits, target], **{**params, "reduction": "none"})
    return _reduce_rows(ctx, per_row, reduction, rows)


@rule("mse_loss", "binary_cross_entropy_with_logits")
def _elementwise_loss(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    x, y = (ctx.materialize(v, d) for v, d in zip(vals, bdims))
    reduction = params.get("reduction", "mean")
    per = ctx.same(ctx.align([x, y], [0, 0]), **{**params, "reduction": "none"})
    return _reduce_rows(ctx, per, reduction, math.prod(per.shape[1:]))


# ------------------------------------------------------------------ layers with a batch axis
def _fold(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any], ndim: int) -> Out:
    """An op whose input's first axis is a batch already (N, C, …): the vmap's batch is
    folded into it, when only that input is batched and it has `ndim` axes."""
    x, d = vals[0], bdims[0]
    if any(b is not None for b in bdims[1:]) or _logical_ndim(x, d) != ndim:
        return ctx.loop(vals, bdims, params)
    x = ctx.front(x, d)
    B, N = ctx.B, x.shape[1]
    y = ctx.same([ctx.apply("reshape", x, shape=(B * N,) + tuple(x.shape[2:]))] + vals[1:],
                 **params)
    return ctx.apply("reshape", y, shape=(B, N) + tuple(y.shape[1:])), 0


def _into_channels(ctx: Ctx, v: Tensor, d: int | None) -> Tensor:
    """An (N, C, …) input of each example as one (N, B·C, …) input: example b's channels
    are the b-th block (repeated B times when `v` is shared)."""
    v = ctx.materialize(v, d)
    v = ctx.apply("transpose", v, axes=(1, 0) + tuple(range(2, v.ndim)))
    return ctx.apply("reshape", v, shape=(v.shape[0], ctx.B * v.shape[2]) + tuple(v.shape[3:]))


def _stacked(ctx: Ctx, v: Tensor, d: int | None) -> Tensor:
    """Each example's (O, …) weight (or (C,) vector) stacked into one (B·O, …)."""
    v = ctx.materialize(v, d)
    return ctx.apply("reshape", v, shape=(ctx.B * v.shape[1],) + tuple(v.shape[2:]))


def _out_of_channels(ctx: Ctx, y: Tensor) -> Out:
    """(N, B·O, …) back to (N, B, O, …): the batch axis is axis 1."""
    return ctx.apply("reshape", y, shape=(y.shape[0], ctx.B, y.shape[1] // ctx.B)
                     + tuple(y.shape[2:])), 1


def _conv(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any], ndim: int) -> Out:
    """A shared kernel folds the batch into N. A kernel per example (per-sample gradients,
    where `grad` inside `vmap` batches the weight) is a grouped convolution: example b's
    channels and kernel are group b of B·groups, ``y[:, b] = W_b ⋆ x_b + b_b``; with a
    shared input and groups = 1 the kernels are stacked as B·O output channels of one
    ordinary convolution, and the input is not repeated."""
    if all(d is None for d in bdims[1:]):
        return _fold(ctx, vals, bdims, params, ndim)
    if _logical_ndim(vals[0], bdims[0]) != ndim:
        return ctx.loop(vals, bdims, params)
    groups = int(params["groups"])
    shared = bdims[0] is None and groups == 1
    x = vals[0] if shared else _into_channels(ctx, vals[0], bdims[0])
    rest = [_stacked(ctx, v, d) for v, d in zip(vals[1:], bdims[1:])]
    y = ctx.same([x] + rest, **{**params, "groups": groups if shared else ctx.B * groups})
    return _out_of_channels(ctx, y)


@rule("conv2d")
def _conv2d(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    return _conv(ctx, vals, bdims, params, 4)


@rule("conv1d")
def _conv1d(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    return _conv(ctx, vals, bdims, params, 3)


@rule("max_pool2d", "avg_pool2d")
def _pool(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    return _fold(ctx, vals, bdims, params, 4)


@rule("conv_input_grad")
def _conv_input_grad(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """∇x = δ ∗ flip(W): with a shared kernel the batch folds into N (and into the input's
    shape); with a kernel per example, each example is a group, as in `_conv`."""
    (g, W), (dg, dW) = vals, bdims
    shape = tuple(params["input_shape"])
    if dW is None:
        g = ctx.front(g, dg)
        B, N = ctx.B, g.shape[1]
        folded = ctx.apply("reshape", g, shape=(B * N,) + tuple(g.shape[2:]))
        y = ctx.same([folded, W], **{**params, "input_shape": (B * N,) + shape[1:]})
        return ctx.apply("reshape", y, shape=(B,) + shape), 0
    groups = int(params["groups"])
    y = ctx.same([_into_channels(ctx, g, dg), _stacked(ctx, W, dW)],
                 **{**params, "groups": ctx.B * groups,
                    "input_shape": (shape[0], ctx.B * shape[1]) + shape[2:]})
    return _out_of_channels(ctx, y)


@rule("conv_weight_grad")
def _conv_weight_grad(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """∇W = δ ⋆ x sums over N, so the batch cannot fold into N: each example is a group of
    a grouped correlation, whose (B·O, C/groups, …) result is every example's ∇W."""
    (x, g), (dx, dg) = vals, bdims
    groups = int(params["groups"])
    y = ctx.same([_into_channels(ctx, x, dx), _into_channels(ctx, g, dg)],
                 **{**params, "groups": ctx.B * groups})
    return ctx.apply("reshape", y, shape=(ctx.B, y.shape[0] // ctx.B) + tuple(y.shape[1:])), 0


def _flat_offsets(ctx: Ctx, index: np.ndarray, size: int) -> np.ndarray:
    """Flat indices into one example of `size` entries as indices into the whole batch
    (example b's are shifted by b·size), shape (B, *index.shape)."""
    shift = np.arange(ctx.B).reshape((ctx.B,) + (1,) * np.ndim(index)) * size
    return np.asarray(index) + shift


@rule("flat_scatter_add")
def _flat_scatter_add(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Max pooling's VJP: each example's δ added into its own block of the output."""
    (g,), (d,) = vals, bdims
    shape = tuple(params["shape"])
    index = _flat_offsets(ctx, params["index"], math.prod(shape))
    return ctx.same([ctx.materialize(g, d)], index=index, shape=(ctx.B,) + shape), 0


@rule("flat_gather")
def _flat_gather(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """The VJP of flat_scatter_add: each example read at its own block's indices."""
    (x,), (d,) = vals, bdims
    x = ctx.front(x, d)
    index = _flat_offsets(ctx, params["index"], math.prod(x.shape[1:]))
    return ctx.same([x], index=index), 0


@rule("batch_norm")
def _batch_norm(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Statistics per channel over each example's own (N, …): example b's channels become
    block b of B·C channels of one batch norm (γ and β stacked or repeated).

    Training mode updates the shared running statistics once per example, in order, as the
    loop would: the op updates zeros, so block b holds example b's share α·μ_b, and each
    is folded in, ``μ_run ← (1 − α) μ_run + α μ_b``. Under a second vmap (an input batched
    by another level too) every example would also be several updates in turn: the loop."""
    running = params.get("training") and params.get("running_mean") is not None
    if _logical_ndim(vals[0], bdims[0]) < 2 or (running and any(
            isinstance(v, BatchedTensor) for v in vals)):
        return ctx.loop(vals, bdims, params)
    x = _into_channels(ctx, vals[0], bdims[0])
    rest = [_stacked(ctx, v, d) for v, d in zip(vals[1:], bdims[1:])]
    names = ("running_mean", "running_var")
    if not running:
        stats = {k: None if params.get(k) is None else np.tile(params[k], ctx.B) for k in names}
        return _out_of_channels(ctx, ctx.same([x] + rest, **{**params, **stats}))
    shares = {k: np.zeros(ctx.B * len(params[k]), params[k].dtype) for k in names}
    y = ctx.same([x] + rest, **{**params, **shares})
    a = float(params.get("momentum", 0.1))
    for k in names:
        for share in shares[k].reshape(ctx.B, -1):
            params[k][...] = (1 - a) * params[k] + share
    return _out_of_channels(ctx, y)


@rule("layer_norm")
def _layer_norm(ctx: Ctx, vals: Vals, bdims: Bdims, params: dict[str, Any]) -> Out:
    """Normalises the last axes of each example: the batch in front changes nothing. A γ or
    β per example (per-sample gradients) is applied after the shared normalization, as
    ``x̂ ⊙ γ + β`` with each op batched."""
    x = ctx.front(vals[0], bdims[0])
    if all(b is None for b in bdims[1:]):
        return ctx.same([x] + vals[1:], **params), 0
    xhat = ctx.same([x], **params)

    def affine(xhat: Any, w: Any, b: Any = None) -> Any:
        y = xhat * w
        return y if b is None else y + b

    return ctx.logical(affine, [xhat] + vals[1:], [None if bdims[0] is None else 0] + bdims[1:])
