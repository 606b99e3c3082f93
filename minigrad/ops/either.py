"""Helpers that take either a numpy array or a Tensor, for the VJPs: on arrays (an ordinary
backward) they call numpy, on Tensors (``create_graph=True``) minigrad's ops, so that the
backward is itself recorded and can be differentiated again. A VJP written with these, with
operators and with the methods both share (``.sum``, ``.reshape``) is written once for both."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.dispatch import ops
from minigrad.tensor import Tensor

__all__ = [
    "broadcast_to", "clip", "exp", "log", "log_softmax", "scatter_add", "share", "sigmoid",
    "softmax", "sqrt", "swapaxes", "tanh", "unbroadcast", "value", "where",
]


def value(x: Any) -> np.ndarray:
    """The raw array: for masks and other constants that carry no gradient."""
    return x.data if isinstance(x, Tensor) else x


def exp(x: Any) -> Any:
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def log(x: Any) -> Any:
    return x.log() if isinstance(x, Tensor) else np.log(x)


def clip(x: Any, lo: float | None, hi: float | None) -> Any:
    return x.clip(lo, hi) if isinstance(x, Tensor) else np.clip(x, lo, hi)


def sqrt(x: Any) -> Any:
    return x.sqrt() if isinstance(x, Tensor) else np.sqrt(x)


def tanh(x: Any) -> Any:
    return x.tanh() if isinstance(x, Tensor) else np.tanh(x)


def sigmoid(x: Any) -> Any:
    return ops.sigmoid(x) if isinstance(x, Tensor) else ops.stable_sigmoid(x)


def softmax(x: Any, axis: int) -> Any:
    return ops.softmax(x, axis=axis) if isinstance(x, Tensor) else ops.stable_softmax(x, axis)


def where(cond: np.ndarray, a: Any, b: Any) -> Any:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return ops.where(cond, a, b)
    return np.where(cond, a, b)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return x.broadcast_to(shape) if isinstance(x, Tensor) else np.broadcast_to(x, shape)


def swapaxes(x: Any) -> Any:
    """Transposes the last two axes (a matrix's ᵀ, batched)."""
    return x.swapaxes(-1, -2)


def scatter_add(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """An array of `shape` holding zeros, with `g` added at `index` (repeats add up)."""
    if isinstance(g, Tensor):
        return ops.scatter_add(g, index=index, shape=shape)
    return ops.scatter_add_forward(g, index=index, shape=shape)


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sums `g` over the axes that broadcasting added or stretched, so it takes `shape`.

    This is the only place the engine undoes broadcasting: add sends `δ` to a bias of shape
    (n,) from a batch of shape (N, n), and this sums it over the batch, `Σ_i δ_i`.
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    stretched = tuple(i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
    if lead > 0 and not stretched:  # the bias case: a new array, not a view to copy later
        return g.sum(axis=tuple(range(lead)))
    axes = tuple(range(lead)) + stretched
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    elif g.shape != shape:
        g = g.reshape(shape)
    return g


def log_softmax(x: Any, axis: int = -1) -> Any:
    return ops.log_softmax(x, axis=axis) if isinstance(x, Tensor) else ops.stable_log_softmax(
        x, axis)


def statistics_in_float64(x: np.ndarray, big: Any = None) -> bool:
    """Whether a normalization computes the mean and variance of the array `x` in float64
    (returning x̂ and 1/σ in x's dtype): when x is narrower than float64 and (x − μ)² could
    leave its range (|x| beyond 1.8e15 in float32). An ordinary float32 forward keeps its cost.
    `big`: max |x|, when the caller has it already."""
    if x.dtype.kind != "f" or x.dtype.itemsize >= 8 or not x.size:
        return False
    if big is None:
        big = np.max(np.abs(x))
    return bool(big > np.sqrt(np.finfo(x.dtype).max) * 1e-4)


def _narrow(a: Any) -> bool:
    return isinstance(a, Tensor) and a.data.dtype.kind == "f" and a.data.dtype.itemsize < 8


def float64_when_recorded(vjp: Callable[..., Any]) -> Callable[..., Any]:
    """Runs a normalization's VJP in float64 when it is recorded for second order (Tensors
    under create_graph) on float32 inputs, and returns the gradient in δ's dtype. Second order
    multiplies δ-sized factors by σ⁻³ (δγ = 1e34 times 3e7 for σ² = ε), which leaves float32's
    range where the result does not (for a constant row the factor meets x − μ = 0): NaN
    instead of a finite Hessian-vector product. On arrays (a plain backward) it changes
    nothing."""

    @functools.wraps(vjp)
    def wrapped(g: Any, out: Any, *inputs: Any, **params: Any) -> Any:
        if not (_narrow(g) or any(_narrow(a) for a in inputs)):
            return vjp(g, out, *inputs, **params)
        dt = value(g).dtype

        def up(a: Any) -> Any:
            return a.astype(np.float64) if _narrow(a) else a

        return vjp(up(g), out, *[up(a) for a in inputs], **params).astype(dt)

    return wrapped


def share(g: Any, part: np.ndarray) -> Any:
    """δ ⊙ part for a constant part (which share of δ each input gets: 1, ½ at a tie, 0),
    exactly 0 where the part is 0. δ·0 is NaN where δ overflowed to ∞ (the maximum of 1e30
    and 0, times −1e150: δ = 1e330), and the input that did not win has no gradient at all;
    PyTorch selects there rather than multiplies."""
    out = g * part
    lost = part == 0
    if not lost.any():
        return out
    return where(np.broadcast_to(lost, np.broadcast_shapes(lost.shape, np.shape(out))), 0.0, out)
