r"""Convolution and pooling, NCHW (and NCL) as PyTorch.

A convolution layer computes, for each output channel o and position p, the correlation of
its input with the kernel (what deep learning calls convolution):

    y[n, o, p] = b[o] + Σ_c Σ_k W[o, c, k] · x[n, c, p·s + k·d]      (x zero-padded)

that is `y = W ⋆ x + b`. Every output is a dot product of the weight with one window of the
input, so the whole layer is one matrix product once the windows are laid out as columns
(im2col). Its VJPs, with δ = ∇y L:

* `∇b = Σ δ` over the batch and the positions (the lecture's `∇b_k = Σ_i δ_i`);
* `∇W = δ ⋆ x`: entry (o, c, k) is `Σ_{n,p} δ[n, o, p] x[n, c, p·s + k·d]`, the correlation
  of the input with δ (the lecture's `δ·hᵀ`, summed over positions as well as examples);
* `∇x = δ ∗ flip(W)`: each input pixel collects δ from every output whose window covered it,
  a full convolution of δ (spread out by the stride) with the flipped kernel, a transposed
  convolution.

Both VJPs are linear in δ and in the other operand, so they are registry ops themselves
(``conv_input_grad``, ``conv_weight_grad``) whose VJPs are again convolutions: gradients of
gradients come for free. Pooling reads the same windows: max pooling sends δ to the position
of each window's maximum (a scatter, whose VJP is the gather with the same indices), average
pooling spreads δ evenly over the window (a transposed convolution with a constant kernel).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from minigrad.function import apply
from minigrad.ops.registry import Op, defop
from minigrad.tensor import Tensor

__all__ = [
    "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "pad", "flatten", "windows",
]

Ints = tuple[int, ...]


# --- argument handling ---------------------------------------------------------------------

def _tuple(name: str, what: str, v: Any, d: int, low: int) -> Ints:
    """An int or a d-sequence of ints, as PyTorch takes them, checked to be ≥ `low`."""
    vals = (v,) * d if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    try:
        out = tuple(int(a) for a in vals)
        ok = len(out) == d and all(isinstance(a, (int, np.integer)) for a in vals)
    except TypeError:
        ok = False
    if not ok:
        raise TypeError(f"{name}: {what} must be an int or {d} ints, got {v!r}")
    if any(a < low for a in out):
        raise ValueError(f"{name}: {what} must be ≥ {low}, got {v!r}")
    return out


def _shape_str(s: Ints) -> str:
    return "×".join(str(a) for a in s)


# --- the window helper shared by convolution and pooling -----------------------------------

def pad_spatial(x: np.ndarray, pads: tuple[tuple[int, int], ...], value: float = 0.0
                ) -> np.ndarray:
    """Pads (or, for negative widths, crops) the trailing ``len(pads)`` axes of `x`;
    ``pads[i] = (before, after)``. Returns `x` itself when nothing changes."""
    lead = x.ndim - len(pads)
    crop = tuple(slice(max(-lo, 0), x.shape[lead + i] - max(-hi, 0))
                 for i, (lo, hi) in enumerate(pads))
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        x = x[(slice(None),) * lead + crop]
    if all(lo <= 0 and hi <= 0 for lo, hi in pads):
        return x
    shape = x.shape[:lead] + tuple(n + max(lo, 0) + max(hi, 0)
                                   for n, (lo, hi) in zip(x.shape[lead:], pads))
    out = np.full(shape, value, dtype=x.dtype)
    out[(slice(None),) * lead + tuple(slice(max(lo, 0), max(lo, 0) + n)
                                      for n, (lo, _) in zip(x.shape[lead:], pads))] = x
    return out


def windows(x: np.ndarray, kernel: Ints, stride: Ints, dilation: Ints,
            pads: tuple[tuple[int, int], ...] | None = None, value: float = 0.0) -> np.ndarray:
    """Every window a kernel visits, as a strided view without copying.

    `x` has shape (N, C, *S) with ``len(kernel)`` spatial axes; the result has shape
    (N, C, *P, *K): ``out[n, c, p, k] = xpad[n, c, p·s + k·d]``, P the output size
    ``(S + pad_before + pad_after − d·(K − 1) − 1) // s + 1``.
    """
    if pads is not None:
        x = pad_spatial(x, pads, value)
    d = len(kernel)
    span = tuple(dil * (k - 1) + 1 for k, dil in zip(kernel, dilation))
    v = sliding_window_view(x, span, axis=tuple(range(x.ndim - d, x.ndim)))
    return v[(slice(None), slice(None))
             + tuple(slice(None, None, s) for s in stride)
             + tuple(slice(None, None, dil) for dil in dilation)]


def _im2col(x: np.ndarray, kernel: Ints, stride: Ints, pads: tuple[tuple[int, int], ...],
            dilation: Ints, groups: int) -> tuple[np.ndarray, Ints]:
    """The windows of `x` (N, C, *S) laid out as columns, shape (G, C/G·K, N·P): column
    (n, p) of group g holds the window at position p of image n, for that group's channels.
    This is the only copy of the input a convolution makes. Also returns P."""
    N, C = x.shape[:2]
    d = len(kernel)
    win = windows(x, kernel, stride, dilation, pads)  # (N, C, *P, *K), a view
    P = win.shape[2:2 + d]
    cols = win.transpose((1,) + tuple(range(2 + d, 2 + 2 * d)) + (0,) + tuple(range(2, 2 + d)))
    return cols.reshape(groups, C // groups * math.prod(kernel), N * math.prod(P)), P


def _correlate(x: np.ndarray, W: np.ndarray, stride: Ints, pads: tuple[tuple[int, int], ...],
               dilation: Ints, groups: int) -> np.ndarray:
    """The convolution layer's forward without bias: im2col and one matrix product per group
    (a single product for groups=1).

    x (N, C, *S), W (O, C/groups, *K) → (N, O, *P).
    """
    if all(s == 1 for s in stride):
        return _correlate_on_grid(x, W, tuple(lo for lo, _ in pads), dilation, groups)
    N = x.shape[0]
    O = W.shape[0]
    G = groups
    cols, P = _im2col(x, W.shape[2:], stride, pads, dilation, G)
    out = W.reshape(G, O // G, cols.shape[1]) @ cols  # (G, O/G, N·P)
    return out.reshape(O, N, -1).transpose(1, 0, 2).reshape((N, O) + P)


# --- stride 1: every window as a shifted row of one flat grid -------------------------------
#
# With stride 1, lay each channel's images out one after another, row by row, on one flat
# zeroed array, each row followed by p zeros (and each image by p rows of them). Output
# position q of that grid (its row-major index) reads tap k of its window at
# q + Σ_i k_i·d_i·(grid stride of axis i): the same shift for every position, and a read left
# of a row or above an image lands in the zeros after the one before, which are its padding.
# So the columns of im2col are whole shifted rows of one flat array (long contiguous copies
# and adds, where the window view walks rows as short as the image), at the price of
# computing on the grid's positions per image, (H + p)(W + p), where the output has fewer.

class _Grid:
    """The flat layout of a stride-1 convolution's images: per axis a block of `size` =
    S + p (more if the output is wider: padding beyond the kernel's span), a pixel at
    `lead` + its row-major index in the blocks, output positions from 0, and `steps[i]`, the
    distance one step of kernel axis i moves a read."""

    def __init__(self, N: int, S: Ints, padding: Ints, kernel: Ints, dilation: Ints) -> None:
        span = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
        self.S = S
        self.P = tuple(n + 2 * p - s for n, p, s in zip(S, padding, span))
        self.size = tuple(n + p + max(0, p - s) for n, p, s in zip(S, padding, span))
        strides = tuple(math.prod(self.size[i + 1:]) for i in range(len(S)))
        self.steps = tuple(d * st for d, st in zip(dilation, strides))
        self.lead = sum(p * st for p, st in zip(padding, strides))
        self.length = N * math.prod(self.size)  # the output positions, q < length
        self.shifts = tuple(sum(k * s for k, s in zip(ks, self.steps))
                            for ks in np.ndindex(*kernel))
        self.total = max(self.length + self.shifts[-1], self.lead + self.length)

    def place(self, a: np.ndarray, at: int) -> np.ndarray:
        """`a` (N, C, *A) written channel-major on zeros, its pixel (n, c, r) at `at` + the
        row-major index of (n, r) in the blocks: shape (C, total)."""
        N, C = a.shape[:2]
        buf = np.zeros((C, self.total), a.dtype)
        blocks = buf[:, at:at + self.length].reshape((C, N) + self.size)
        blocks[(slice(None), slice(None)) + tuple(slice(0, n) for n in a.shape[2:])] = \
            a.swapaxes(0, 1)
        return buf

    def take(self, buf: np.ndarray, at: int, shape: Ints) -> np.ndarray:
        """The inverse of `place`: (C, ≥ at + length) → (N, C, *shape), contiguous."""
        C = buf.shape[0]
        blocks = buf[:, at:at + self.length].reshape((C, -1) + self.size)
        return np.ascontiguousarray(
            blocks[(slice(None), slice(None)) + tuple(slice(0, n) for n in shape)]
            .swapaxes(0, 1))

    def cols(self, x: np.ndarray, kernel: Ints, groups: int) -> np.ndarray:
        """im2col on the grid, (G, C/G·|K|, length): `cols[c, k, q] = grid[c, q + shift(k)]`,
        a strided view of the placed input copied once, row by long row."""
        buf = self.place(x, self.lead)
        C, size = buf.shape[0], buf.itemsize
        view = as_strided(buf, (C,) + tuple(kernel) + (self.length,),
                          (buf.strides[0],) + tuple(s * size for s in self.steps) + (size,),
                          writeable=False)
        return view.reshape(groups, C // groups * math.prod(kernel), self.length)


@lru_cache(maxsize=64)
def _grid(N: int, S: Ints, padding: Ints, kernel: Ints, dilation: Ints) -> _Grid:
    """The grid for these shapes, made once (its arithmetic costs more Python than a small
    layer's numpy calls); a `_Grid` is never changed after it is made."""
    return _Grid(N, S, padding, kernel, dilation)


def _correlate_on_grid(x: np.ndarray, W: np.ndarray, padding: Ints, dilation: Ints,
                       groups: int) -> np.ndarray:
    """`_correlate` for stride 1: one product of W with the grid's columns, then the output
    positions taken out of the grid. x (N, C, *S), W (O, C/groups, *K) → (N, O, *P)."""
    O, G, K = W.shape[0], groups, W.shape[2:]
    grid = _grid(x.shape[0], x.shape[2:], padding, K, dilation)
    cols = grid.cols(x, K, G)
    return grid.take((W.reshape(G, O // G, cols.shape[1]) @ cols).reshape(O, -1), 0, grid.P)


def _weight_grad_on_grid(x: np.ndarray, g: np.ndarray, kernel: Ints, padding: Ints,
                         dilation: Ints, groups: int) -> np.ndarray:
    """`_weight_grad_forward` for stride 1: δ placed on the grid (zeros where the grid has no
    output) times the grid's columns. Needs a finite x: 0 · ∞ at those zeros would be NaN."""
    O, G = g.shape[1], groups
    grid = _grid(x.shape[0], x.shape[2:], padding, tuple(kernel), dilation)
    cols = grid.cols(x, kernel, G)
    gm = grid.place(g, 0)[:, :grid.length].reshape(G, O // G, grid.length)
    # (cols · δᵀ)ᵀ rather than δ · colsᵀ: the same product, but BLAS runs it several times
    # faster with the long summed axis (N·|grid|) last in both operands' memory
    dW = (cols @ gm.transpose(0, 2, 1)).transpose(0, 2, 1)
    return dW.reshape((O, x.shape[1] // G) + tuple(kernel))


def _input_grad_on_grid(g: np.ndarray, W: np.ndarray, S: Ints, padding: Ints,
                        dilation: Ints, groups: int) -> np.ndarray:
    """`_input_grad_forward` for stride 1: the columns `Wᵀ δ` computed on the grid, then
    col2im as one shifted add of whole rows per kernel tap. Needs a finite W: 0 · ∞ where
    the grid has no output would be NaN, and would land on real pixels."""
    N, O, G, K = g.shape[0], g.shape[1], groups, W.shape[2:]
    C = G * W.shape[1]
    grid = _grid(N, tuple(S), padding, K, dilation)
    gm = grid.place(g, 0)[:, :grid.length].reshape(G, O // G, grid.length)
    taps = math.prod(K)
    # Wᵀ with its rows tap-major, so that tap k's columns are one block of C/G rows
    Wt = W.reshape(G, O // G, C // G, taps).transpose(0, 3, 2, 1).reshape(G, -1, O // G)
    cols = (Wt @ gm).reshape(G, taps, C // G, grid.length)
    out = np.zeros((G, C // G, grid.total), g.dtype)
    for t, shift in enumerate(grid.shifts):
        out[:, :, shift:shift + grid.length] += cols[:, t]
    return grid.take(out.reshape(C, grid.total), grid.lead, S)


def _all_finite(a: np.ndarray) -> bool:
    """No ±∞ or NaN in `a`, read from its sum: one fast pass, and a sum is finite only if
    every term is (a finite sum that overflows merely picks the general path)."""
    return a.dtype.kind not in "fc" or bool(np.isfinite(a.sum()))


# --- convolution ---------------------------------------------------------------------------

def _check_conv(name: str, x: np.ndarray, W: np.ndarray, b: np.ndarray | None,
                stride: Ints, padding: Ints, dilation: Ints, groups: int) -> None:
    d = len(stride)
    layout = "(N, C, L)" if d == 1 else "(N, C, H, W)"
    wlayout = "(out_channels, in_channels/groups, kL)" if d == 1 else \
        "(out_channels, in_channels/groups, kH, kW)"
    if x.ndim != d + 2:
        raise ValueError(f"{name}: expected an input of {d + 2} dimensions {layout}, got shape "
                         f"{x.shape}")
    if W.ndim != d + 2:
        raise ValueError(f"{name}: expected a weight of {d + 2} dimensions {wlayout}, got "
                         f"shape {W.shape}")
    C, O, Cg = x.shape[1], W.shape[0], W.shape[1]
    if groups < 1 or C % groups or O % groups:
        raise ValueError(
            f"{name}: groups={groups} must divide both the input's channels ({C}, input "
            f"shape {x.shape}) and the weight's out_channels ({O}, weight shape {W.shape})")
    if Cg * groups != C:
        raise ValueError(
            f"{name}: input of shape {x.shape} has {C} channels but weight of shape {W.shape} "
            f"with groups={groups} expects {Cg * groups} (weight.shape[1] × groups); the "
            f"weight for this input would have shape {(O, C // groups) + W.shape[2:]}")
    if b is not None and b.shape != (O,):
        raise ValueError(f"{name}: bias must have shape ({O},) (one per output channel of "
                         f"weight {W.shape}), got {b.shape}")
    K = W.shape[2:]
    span = tuple(dil * (k - 1) + 1 for k, dil in zip(K, dilation))
    padded = tuple(n + 2 * p for n, p in zip(x.shape[2:], padding))
    if any(s > n for s, n in zip(span, padded)):
        dil = f" with dilation {_shape_str(dilation)} spans {_shape_str(span)}" \
            if any(a > 1 for a in dilation) else ""
        raise ValueError(
            f"{name}: kernel {_shape_str(K)}{dil} is larger than the padded input "
            f"{_shape_str(padded)} (input {x.shape}, padding {padding}, weight {W.shape}); "
            f"use a kernel of at most {_shape_str(padded)} or pad the input to at least "
            f"{_shape_str(span)}")


def _conv_forward(name: str) -> Any:
    def forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None, *, stride: Ints,
                padding: Ints, dilation: Ints, groups: int) -> np.ndarray:
        _check_conv(name, x, W, b, stride, padding, dilation, groups)
        out = _correlate(x, W, stride, tuple((p, p) for p in padding), dilation, groups)
        if b is not None:
            out += b.reshape((-1,) + (1,) * len(stride))
        return out

    return forward


def _call(op: Op, *args: Any, **params: Any) -> Any:
    """An op on arrays (ordinary backward) or, when a Tensor is among `args`, recorded
    (create_graph), so that a VJP written with it is itself differentiable."""
    if any(isinstance(a, Tensor) for a in args):
        return apply(op, *args, **params)
    return op.forward(*args, **params)


def _conv_vjp_x(g, out, x, W, b=None, *, stride, padding, dilation, groups):
    return _call(CONV_INPUT_GRAD, g, W, input_shape=tuple(x.shape), stride=stride,
                 padding=padding, dilation=dilation, groups=groups)


def _conv_vjp_W(g, out, x, W, b=None, *, stride, padding, dilation, groups):
    return _call(CONV_WEIGHT_GRAD, x, g, kernel_size=tuple(W.shape[2:]), stride=stride,
                 padding=padding, dilation=dilation, groups=groups)


def _conv_vjp_b(g, out, x, W, b=None, *, stride, padding, dilation, groups):
    return g.sum(axis=(0,) + tuple(range(2, g.ndim)))


CONV2D = defop(
    "conv2d", _conv_forward("conv2d"), _conv_vjp_x, _conv_vjp_W, _conv_vjp_b,
    formula="y = W ⋆ x + b", grads=("δ ∗ flip(W)", "δ ⋆ x", "Σ δ"),
    saves=((1,), (0,), ()),
    doc="2-D convolution layer (a correlation, as PyTorch), NCHW; im2col and one product",
)
CONV1D = defop(
    "conv1d", _conv_forward("conv1d"), _conv_vjp_x, _conv_vjp_W, _conv_vjp_b,
    formula="y = W ⋆ x + b", grads=("δ ∗ flip(W)", "δ ⋆ x", "Σ δ"),
    saves=((1,), (0,), ()),
    doc="1-D convolution layer (a correlation, as PyTorch), NCL",
)
_CONV = {1: CONV1D, 2: CONV2D}


def _input_grad_forward(g: np.ndarray, W: np.ndarray, *, input_shape: Ints, stride: Ints,
                        padding: Ints, dilation: Ints, groups: int) -> np.ndarray:
    """∇x = δ ∗ flip(W), the full convolution of δ (spread out by the stride) with the flipped
    kernel, computed window by window: the column `Wᵀ δ[:, p]` of each output position p is
    added back onto the window it was read from (col2im). One matrix product, then one
    strided addition per kernel tap (never a loop over pixels); a stride costs nothing extra.

    g (N, O, *P), W (O, C/groups, *K) → (N, C, *S) with S = input_shape[2:].
    """
    if all(s == 1 for s in stride) and _all_finite(W):
        return _input_grad_on_grid(g, W, input_shape[2:], padding, dilation, groups)
    N, O = g.shape[:2]
    P = g.shape[2:]
    K = W.shape[2:]
    G = groups
    C = G * W.shape[1]
    gm = g.reshape(N, O, -1).transpose(1, 0, 2).reshape(G, O // G, -1)  # (G, O/G, N·P)
    cols = (W.reshape(G, O // G, -1).transpose(0, 2, 1) @ gm).reshape((C,) + K + (N,) + P)
    S = input_shape[2:]
    out = np.zeros((N, C) + tuple(n + 2 * p for n, p in zip(S, padding)), g.dtype)
    out_cn = out.swapaxes(0, 1)  # (C, N, *S), a view, to line up with the columns
    for k in np.ndindex(*K):
        at = tuple(slice(kk * dil, kk * dil + (q - 1) * s + 1, s)
                   for kk, dil, q, s in zip(k, dilation, P, stride))
        out_cn[(slice(None), slice(None)) + at] += cols[(slice(None),) + k]
    if not any(padding):
        return out
    # the padding took no part in x: its gradient is dropped
    return out[(slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, S))]


def _input_grad_vjp_g(gg, out, g, W, *, input_shape, stride, padding, dilation, groups):
    return _call(_CONV[len(stride)], gg, W, stride=stride, padding=padding, dilation=dilation,
                 groups=groups)


def _input_grad_vjp_W(gg, out, g, W, *, input_shape, stride, padding, dilation, groups):
    return _call(CONV_WEIGHT_GRAD, gg, g, kernel_size=tuple(W.shape[2:]), stride=stride,
                 padding=padding, dilation=dilation, groups=groups)


def _weight_grad_forward(x: np.ndarray, g: np.ndarray, *, kernel_size: Ints, stride: Ints,
                         padding: Ints, dilation: Ints, groups: int) -> np.ndarray:
    """∇W = δ ⋆ x: for each (o, c, k), Σ over the batch and the positions of δ times the
    input the kernel entry k saw, one (batched) matrix product of δ with the input's columns."""
    P = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s
              in zip(x.shape[2:], padding, dilation, kernel_size, stride))
    if P != g.shape[2:]:
        raise ValueError(f"conv_weight_grad: δ of shape {g.shape} does not fit an output of "
                         f"spatial size {P} for input {x.shape} and kernel {kernel_size}")
    if all(s == 1 for s in stride) and _all_finite(x):
        return _weight_grad_on_grid(x, g, kernel_size, padding, dilation, groups)
    N = x.shape[0]
    O = g.shape[1]
    G = groups
    cols, _ = _im2col(x, kernel_size, stride, tuple((p, p) for p in padding), dilation, G)
    gm = g.reshape(N, O, -1).transpose(1, 0, 2).reshape(G, O // G, cols.shape[2])
    # (cols · δᵀ)ᵀ rather than δ · colsᵀ: the same product, but BLAS runs it several times
    # faster with the long summed axis (N·P) last in both operands' memory
    dW = (cols @ gm.transpose(0, 2, 1)).transpose(0, 2, 1)
    return dW.reshape((O, x.shape[1] // G) + tuple(kernel_size))


def _weight_grad_vjp_x(gg, out, x, g, *, kernel_size, stride, padding, dilation, groups):
    return _call(CONV_INPUT_GRAD, g, gg, input_shape=tuple(x.shape), stride=stride,
                 padding=padding, dilation=dilation, groups=groups)


def _weight_grad_vjp_g(gg, out, x, g, *, kernel_size, stride, padding, dilation, groups):
    return _call(_CONV[len(stride)], x, gg, stride=stride, padding=padding, dilation=dilation,
                 groups=groups)


CONV_INPUT_GRAD = defop(
    "conv_input_grad", _input_grad_forward, _input_grad_vjp_g, _input_grad_vjp_W,
    formula="∇x = δ ∗ flip(W)", grads=("W ⋆ δ′", "δ ⋆ δ′"),
    doc="the VJP of convolution for its input: a transposed convolution",
)
CONV_WEIGHT_GRAD = defop(
    "conv_weight_grad", _weight_grad_forward, _weight_grad_vjp_x, _weight_grad_vjp_g,
    formula="∇W = δ ⋆ x", grads=("δ ∗ flip(δ′)", "δ′ ⋆ x"),
    doc="the VJP of convolution for its weight: the input correlated with δ",
)


def _conv(name: str, d: int, x: Any, weight: Any, bias: Any, stride: Any, padding: Any,
          dilation: Any, groups: Any) -> Tensor:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
    if isinstance(padding, str):
        padding = _string_padding(name, padding, weight, stride, dilation, d)
    params = {"stride": _tuple(name, "stride", stride, d, 1),
              "padding": _tuple(name, "padding", padding, d, 0),
              "dilation": _tuple(name, "dilation", dilation, d, 1), "groups": int(groups)}
    xd = x.data if isinstance(x, Tensor) else np.asarray(x)
    if xd.ndim == d + 1:  # one unbatched example, as PyTorch accepts
        args = (x[None], weight) if bias is None else (x[None], weight, bias)
        return apply(_CONV[d], *args, **params)[0]
    args = (x, weight) if bias is None else (x, weight, bias)
    return apply(_CONV[d], *args, **params)


def _string_padding(name: str, padding: str, weight: Any, stride: Any, dilation: Any,
                    d: int) -> Any:
    if padding == "valid":
        return 0
    if padding == "same":
        if _tuple(name, "stride", stride, d, 1) != (1,) * d:
            raise ValueError(f"{name}: padding='same' needs stride 1, got stride={stride!r}")
        dil = _tuple(name, "dilation", dilation, d, 1)
        K = np.shape(weight.data if isinstance(weight, Tensor) else weight)[2:]
        total = [di * (k - 1) for di, k in zip(dil, K)]
        if any(t % 2 for t in total):
            raise ValueError(f"{name}: padding='same' with kernel {_shape_str(tuple(K))} needs "
                             "uneven padding; pad the input with F.pad and use padding=0")
        return tuple(t // 2 for t in total)
    raise ValueError(f"{name}: padding must be an int, a tuple, 'valid' or 'same', got "
                     f"{padding!r}")


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    r"""2-D convolution layer, `y = W ⋆ x + b` (a correlation, as in PyTorch).

    `y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, g·C/G + c, i·s + u·d, j·s + v·d]`
    over the zero-padded input, for output channel o in group g. VJPs with δ = ∇y L:
    `∇W = δ ⋆ x`, `∇x = δ ∗ flip(W)` (a full, transposed convolution), `∇b = Σ δ`.

    Shapes: x (N, C, H, W) (or (C, H, W)), weight (O, C/groups, kH, kW), bias (O,) →
    (N, O, (H + 2p − d(kH − 1) − 1) // s + 1, …). `stride`, `padding` (or "valid"/"same") and
    `dilation` take an int or a pair.
    """
    return _conv("conv2d", 2, x, weight, bias, stride, padding, dilation, groups)


def conv1d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    r"""1-D convolution layer, `y = W ⋆ x + b` over a sequence: x (N, C, L) (or (C, L)),
    weight (O, C/groups, k), bias (O,). Same rules and VJPs as `conv2d`."""
    return _conv("conv1d", 1, x, weight, bias, stride, padding, dilation, groups)


# --- pooling -------------------------------------------------------------------------------

def _check_pool(name: str, x: np.ndarray, kernel: Ints, padding: Ints, dilation: Ints) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected an input of 4 dimensions (N, C, H, W), got shape "
                         f"{x.shape}")
    span = tuple(dil * (k - 1) + 1 for k, dil in zip(kernel, dilation))
    if any(2 * p > s for p, s in zip(padding, span)):
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel "
                         f"{_shape_str(span)}; use padding ≤ {tuple(s // 2 for s in span)}")
    padded = tuple(n + 2 * p for n, p in zip(x.shape[2:], padding))
    if any(s > n for s, n in zip(span, padded)):
        raise ValueError(f"{name}: kernel {_shape_str(span)} is larger than the padded input "
                         f"{_shape_str(padded)} (input {x.shape}, padding {padding}); use a "
                         f"kernel of at most {_shape_str(padded)}")


def _taps_first(win: np.ndarray) -> np.ndarray:
    """The windows (N, C, *P, *K) copied tap by tap, shape (|K|, N·C·|P|): row t holds tap t
    of every window, contiguous. The one copy max pooling makes; it lets each comparison below
    run once over a long row instead of once per window (numpy's cost on short axes)."""
    d = (win.ndim - 2) // 2
    order = tuple(range(2 + d, 2 + 2 * d)) + tuple(range(2 + d))
    return np.ascontiguousarray(win.transpose(order)).reshape(math.prod(win.shape[2 + d:]), -1)


@lru_cache(maxsize=64)
def _window_corners(shape: Ints, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                    P: Ints) -> tuple[np.ndarray, np.ndarray]:
    """For max pooling's index: the flat index into x of each window's tap (0, 0) (padding
    counted, so it may point before its row), shape (N·C·|P|,), and the offset of each tap
    from it, shape (|K|,). They depend on the shapes only, so they are made once."""
    N, C, H, W = shape
    i = np.arange(P[0]).reshape(-1, 1) * stride[0] - padding[0]
    j = np.arange(P[1]) * stride[1] - padding[1]
    base = (np.arange(N).reshape(-1, 1, 1, 1) * C + np.arange(C).reshape(-1, 1, 1)) * (H * W)
    corner = (base + i * W + j).reshape(-1)
    u, v = np.divmod(np.arange(kernel[0] * kernel[1]), kernel[1])
    offset = u * dilation[0] * W + v * dilation[1]
    corner.setflags(write=False)
    offset.setflags(write=False)
    return corner, offset


def _argmax_index(x: np.ndarray, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each window's maximum and the flat index into x where it sits, as PyTorch's kernel
    picks it: tap t takes over from the best so far when `x_t > best or isnan(x_t)` (the
    first maximum on a tie; NaN propagates; padding is −∞ so it never wins). One pass per
    tap over all windows at once, never a loop over windows."""
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = windows(x, kernel, stride, dilation, tuple((p, p) for p in padding), fill)
    taps = _taps_first(win)
    best = taps[0]
    # the tap's number in one byte where it fits: the updates below move 8 times less
    which = np.zeros(best.shape, np.int8 if taps.shape[0] <= 127 else np.intp)
    nan = x.dtype.kind == "f" and bool(np.isnan(x.max()))
    for t in range(1, taps.shape[0]):
        takes = np.greater(taps[t], best)
        if nan:
            takes |= np.isnan(taps[t])
        # arithmetic rather than np.where / np.putmask: the mask is as random as the data,
        # and their branch per element costs several times these two branch-free passes
        best = np.maximum(best, taps[t])
        which += takes * (t - which)
    corner, offset = _window_corners(x.shape, kernel, stride, padding, dilation,
                                     win.shape[2:4])
    return best.reshape(win.shape[:4]), (corner + offset[which]).reshape(win.shape[:4])


def _max_pool_forward(x, *, kernel_size, stride, padding, dilation=(1, 1)):
    _check_pool("max_pool2d", x, kernel_size, padding, dilation)
    return _argmax_index(x, kernel_size, stride, padding, dilation)  # the index is kept


def _max_pool_vjp(g, out, x, *, kernel_size, stride, padding, dilation=(1, 1), saved=None):
    from minigrad.ops import either

    index = saved
    if index is None:  # called without the forward's record
        index = _argmax_index(either.value(x), kernel_size, stride, padding, dilation)[1]
    return _call(FLAT_SCATTER_ADD, g, index=index, shape=tuple(x.shape))


MAX_POOL2D = defop(
    "max_pool2d", _max_pool_forward, _max_pool_vjp,
    formula="y = max over window(x)", grads=("δ to each window's argmax",), keeps=True,
    doc="max pooling (PyTorch: padding with −∞; a tie sends δ to the first maximum)",
)


def _avg_pool_forward(x, *, kernel_size, stride, padding):
    _check_pool("avg_pool2d", x, kernel_size, padding, (1, 1))
    win = windows(x, kernel_size, stride, (1, 1), tuple((p, p) for p in padding))
    return win.mean(axis=(-2, -1))


def _avg_pool_vjp(g, out, x, *, kernel_size, stride, padding):
    C = x.shape[1]
    dt = g.dtype
    ones = np.full((C, 1) + tuple(kernel_size), 1.0 / math.prod(kernel_size), dtype=dt)
    return _call(CONV_INPUT_GRAD, g, ones, input_shape=tuple(x.shape), stride=stride,
                 padding=padding, dilation=(1, 1), groups=C)


AVG_POOL2D = defop(
    "avg_pool2d", _avg_pool_forward, _avg_pool_vjp,
    formula="y = mean over window(x)", grads=("δ / |window| to every position",), saves=(),
    doc="average pooling (PyTorch's defaults: padding counts as zeros in the mean)",
)


def _scatter_forward(g: np.ndarray, *, index: np.ndarray, shape: Ints) -> np.ndarray:
    # bincount adds repeated indices (overlapping windows) in one pass, unlike fancy indexing
    out = np.bincount(index.ravel(), weights=g.ravel(), minlength=math.prod(shape))
    return out.astype(g.dtype, copy=False).reshape(shape)


def _gather_forward(x: np.ndarray, *, index: np.ndarray) -> np.ndarray:
    return x.reshape(-1)[index]


def _scatter_vjp(gg, out, g, *, index, shape):
    return _call(FLAT_GATHER, gg, index=index)


def _gather_vjp(gg, out, x, *, index):
    return _call(FLAT_SCATTER_ADD, gg, index=index, shape=tuple(x.shape))


FLAT_SCATTER_ADD: Op = defop(
    "flat_scatter_add", _scatter_forward, _scatter_vjp,
    formula="y = 0; y.flat[i] += x", grads=("δ.flat[i]",), saves=(),
    doc="max pooling's VJP: δ added at each window's argmax (repeats add up)",
)
FLAT_GATHER: Op = defop(
    "flat_gather", _gather_forward, _gather_vjp,
    formula="y = x.flat[i]", grads=("0; δ added at i",), saves=(),
    doc="the VJP of flat_scatter_add: values read back at the same indices",
)


def _pool_params(name: str, kernel_size: Any, stride: Any, padding: Any) -> dict[str, Ints]:
    k = _tuple(name, "kernel_size", kernel_size, 2, 1)
    return {"kernel_size": k,
            "stride": k if stride is None or stride == () else _tuple(name, "stride", stride, 2, 1),
            "padding": _tuple(name, "padding", padding, 2, 0)}


def _pool(op: Op, x: Any, params: dict[str, Any]) -> Tensor:
    xd = x.data if isinstance(x, Tensor) else np.asarray(x)
    if xd.ndim == 3:  # one unbatched example (C, H, W), as PyTorch accepts
        return apply(op, x[None], **params)[0]
    return apply(op, x, **params)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1) -> Tensor:
    r"""Max pooling: `y[n, c, p] = max_k x[n, c, p·s + k·d]` over each window (padding −∞).

    VJP: δ goes to the position of each window's maximum, `∇x[argmax] += δ` (windows that
    overlap add up; on a tie the first maximum in the window takes it all, as PyTorch).
    `stride` defaults to `kernel_size`; padding must be at most half the kernel.
    Shapes: (N, C, H, W) → (N, C, (H + 2p − d(k − 1) − 1) // s + 1, …).
    """
    params = _pool_params("max_pool2d", kernel_size, stride, padding)
    params["dilation"] = _tuple("max_pool2d", "dilation", dilation, 2, 1)
    return _pool(MAX_POOL2D, x, params)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    r"""Average pooling: `y[n, c, p] = (1/|K|) Σ_k x[n, c, p·s + k]` (zero padding counted in
    the mean, PyTorch's ``count_include_pad=True``).

    VJP: every position of a window receives `δ / |K|`, a transposed convolution with a
    constant kernel. `stride` defaults to `kernel_size`.
    """
    return _pool(AVG_POOL2D, x, _pool_params("avg_pool2d", kernel_size, stride, padding))


# --- padding and flattening ----------------------------------------------------------------

def _pairs(pad: Ints, ndim: int) -> tuple[tuple[int, int], ...]:
    """PyTorch's flat `pad` (last axis first) as (before, after) for the trailing axes."""
    n = len(pad) // 2
    return tuple((pad[2 * (n - 1 - i)], pad[2 * (n - 1 - i) + 1]) for i in range(n))


def _pad_forward(x: np.ndarray, *, pad: Ints, value: float = 0.0) -> np.ndarray:
    if len(pad) % 2 or len(pad) > 2 * x.ndim:
        raise ValueError(f"pad: pad {pad} must hold (before, after) pairs for at most "
                         f"{x.ndim} axes of the input of shape {x.shape} (last axis first)")
    pairs = _pairs(pad, x.ndim)
    lead = x.ndim - len(pairs)
    for (lo, hi), n in zip(pairs, x.shape[lead:]):
        if n + lo + hi < 0:
            raise ValueError(f"pad: pad {pad} crops more than the input of shape {x.shape} has")
    out = pad_spatial(x, pairs, value)
    return out.copy() if out is x else out


def _pad_vjp(g, out, x, *, pad, value=0.0):
    return _call(PAD, g, pad=tuple(-p for p in pad))


PAD: Op = defop(
    "pad", _pad_forward, _pad_vjp,
    formula="y = pad(x)", grads=("δ cropped",), saves=(),
    doc="constant padding (PyTorch's F.pad: pairs for the last axes, last axis first)",
    jvps=(("pad(ẋ) with 0", lambda t, out, x, *, pad, value=0.0: _call(PAD, t, pad=pad)),),
)


def pad(x: Any, pad: Any, mode: str = "constant", value: float = 0.0) -> Tensor:
    r"""Pads the last axes with a constant, PyTorch's `F.pad`: ``pad = (left, right)`` for the
    last axis, then ``(top, bottom)`` for the one before, …; negative widths crop.
    VJP: δ cropped back to the input's extent (the padding took no part in x)."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    widths = tuple(pad)
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in widths):
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}")
    return apply(PAD, x, pad=tuple(int(p) for p in widths), value=float(value))


def flatten(x: Any, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    r"""Merges axes `start_dim … end_dim` into one (a reshape; ∇x = δ reshaped back).
    The default keeps the batch axis, as `nn.Flatten`: (N, C, H, W) → (N, C·H·W)."""
    from minigrad.ops.shape import reshape

    shape = x.shape
    nd = len(shape)
    if nd == 0:
        return reshape(x, (1,))
    s = start_dim + nd if start_dim < 0 else start_dim
    e = end_dim + nd if end_dim < 0 else end_dim
    if not (0 <= s < nd and 0 <= e < nd) or s > e:
        raise ValueError(f"flatten: start_dim={start_dim} and end_dim={end_dim} do not fit an "
                         f"input of shape {tuple(shape)} (need start ≤ end within "
                         f"{-nd}…{nd - 1})")
    return reshape(x, tuple(shape[:s]) + (math.prod(shape[s:e + 1]),) + tuple(shape[e + 1:]))
