r"""Batch normalization, one fused op with PyTorch's semantics.

Per channel c, over the m = N·(spatial size) values `x_i` of that channel in a batch:

    μ = (1/m) Σ x_i,   σ² = (1/m) Σ (x_i − μ)²   (the biased variance),   σ = √(σ² + ε)
    x̂_i = (x_i − μ)/σ,   y_i = γ x̂_i + β

In training mode μ and σ² come from the batch and the running estimates (buffers, not
differentiable inputs) are updated in place, PyTorch's way:
`μ_run ← (1 − α) μ_run + α μ`, `σ²_run ← (1 − α) σ²_run + α σ² · m/(m − 1)` (the unbiased
variance), α = momentum. In evaluation mode μ and σ² are the running estimates, so the op is an
affine map of x.

With δ = ∇y L, the VJPs (training mode) are

    ∇x = (γ/σ)/m · (m·δ − Σδ − x̂·Σ(δ ⊙ x̂)),   ∇γ = Σ δ ⊙ x̂,   ∇β = Σ δ

with every Σ over the batch and spatial axes of one channel; in evaluation mode μ and σ are
constants and ∇x = (γ/σ)·δ.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor

__all__ = ["batch_norm"]


def _axes(ndim: int) -> tuple[int, ...]:
    """Every axis but the channel axis 1: the statistics are per channel."""
    return (0,) + tuple(range(2, ndim))


def _channel_shape(ndim: int, C: int) -> tuple[int, ...]:
    """(1, C, 1, …): a per-channel vector lined up with an (N, C, …) input."""
    return (1, C) + (1,) * (ndim - 2)


def _check(x: np.ndarray, w: Any, b: Any, running_mean: Any, running_var: Any,
           training: bool, momentum: Any, eps: Any) -> None:
    """Every way the arguments can fail to fit, raised before anything is computed or updated."""
    if x.ndim < 2:
        raise ValueError(
            f"batch_norm: input of shape {x.shape} has {x.ndim} dims; expected (N, C), (N, C, L) "
            f"or (N, C, H, W), with the channels on axis 1"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be floating point, got {x.dtype}")
    C = x.shape[1]
    for name, v in (("weight", w), ("bias", b), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if v is not None and np.shape(v) != (C,):
            raise ValueError(
                f"batch_norm: {name} of shape {np.shape(v)} does not fit input of shape "
                f"{x.shape}: expected shape ({C},), one value per channel (axis 1)"
            )
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is not None and (not isinstance(v, np.ndarray) or v.dtype.kind != "f"):
            raise TypeError(
                f"batch_norm: {name} must be a floating point array or Tensor, got "
                f"{getattr(v, 'dtype', type(v).__name__)}"
            )
        if training and v is not None and not v.flags.writeable:
            raise ValueError(
                f"batch_norm: {name} is read-only, but training mode updates it in place; "
                f"pass a writable array (e.g. a copy)"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if momentum is None:
        raise TypeError(
            "batch_norm: momentum must be a float; momentum=None (a cumulative average) needs "
            "the number of batches seen, which nn.BatchNorm1d/nn.BatchNorm2d keep in "
            "num_batches_tracked"
        )
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)):
        raise TypeError(f"batch_norm: momentum must be a float, got {momentum!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not eps >= 0:
        raise ValueError(f"batch_norm: eps must be a number >= 0, got {eps!r}")
    if training:
        m = x.size // C if C else 0
        if m <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input "
                f"of shape {x.shape} ({m} per channel); use a larger batch or eval mode"
            )
    elif running_mean is None:
        raise ValueError(
            "batch_norm: running_mean and running_var must be given in evaluation mode "
            "(training=False normalises with them)"
        )


def _forward(x: np.ndarray, w: np.ndarray | None = None, b: np.ndarray | None = None, *,
             running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
             training: bool = False, momentum: float = 0.1, eps: float = 1e-5
             ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """`y = γ x̂ + β`; also returns (x̂, 1/σ) for the VJPs. Updates the running estimates in
    training mode, after every check has passed."""
    _check(x, w, b, running_mean, running_var, training, momentum, eps)
    C = x.shape[1]
    axes = _axes(x.ndim)
    cs = _channel_shape(x.ndim, C)
    dt = x.dtype
    if training:
        # beyond 1.8e15 in float32, (x − μ)² would overflow: the statistics in float64 then
        xs = x.astype(np.float64) if either.statistics_in_float64(x) else x
        mu = xs.mean(axis=axes)
        xc = xs - mu.reshape(cs)
        # a second pass removes the rounding error of μ (for a constant channel, x − μ is
        # that error repeated, which normalization would blow up to x̂ = ±1, not 0)
        mu2 = xc.mean(axis=axes)
        mu += mu2
        xc -= mu2.reshape(cs)
        var = np.mean(np.square(xc), axis=axes)
    else:
        assert running_mean is not None and running_var is not None  # _check made sure
        mu = running_mean.astype(dt, copy=False)
        var = running_var.astype(dt, copy=False)
        xc = x - mu.reshape(cs)
    inv = (1.0 / np.sqrt(var + eps)).astype(dt, copy=False)
    if training:
        xc *= inv.reshape(cs)  # xc is this function's own temporary: x̂ takes its memory
        xhat = xc.astype(dt, copy=False)
    else:
        xhat = xc * inv.reshape(cs)
    y = xhat * w.reshape(cs) if w is not None else xhat.copy()
    if b is not None:
        y += b.reshape(cs)
    if training and running_mean is not None and running_var is not None:
        m = x.size // C
        a = float(momentum)
        # the same expression PyTorch evaluates, so float32 buffers round alike
        running_mean[...] = (1 - a) * running_mean + a * mu
        running_var[...] = (1 - a) * running_var + a * (var * (m / (m - 1)))
    return y, (xhat, inv)


def _stats(x: Any, training: bool, running_mean: Any, running_var: Any, eps: float
           ) -> tuple[Any, Any]:
    """(x̂, 1/σ) with x̂ of x's shape, 1/σ of shape (1, C, 1, …): recomputed from x, so on
    Tensors (create_graph) they are functions of x and the backward is itself differentiable."""
    cs = _channel_shape(x.ndim, x.shape[1])
    if training:
        axes = _axes(x.ndim)
        xc = x - x.mean(axis=axes, keepdims=True)
        xc = xc - xc.mean(axis=axes, keepdims=True)  # as in the forward: a constant gives 0
        inv = (((xc * xc).mean(axis=axes, keepdims=True)) + eps) ** -0.5
    else:
        dt = (x.data if isinstance(x, Tensor) else x).dtype
        xc = x - running_mean.astype(dt, copy=False).reshape(cs)
        inv = (1.0 / np.sqrt(running_var.astype(dt, copy=False) + eps)).astype(dt).reshape(cs)
    return xc * inv, inv


def _xhat_inv(x: Any, saved: Any, training: bool, running_mean: Any, running_var: Any,
              eps: float) -> tuple[Any, Any]:
    if saved is not None and not isinstance(x, Tensor):
        xhat, inv = saved
        return xhat, inv.reshape(_channel_shape(x.ndim, x.shape[1]))
    return _stats(x, training, running_mean, running_var, eps)


@either.float64_when_recorded
def _vjp_x(g, out, x, w=None, b=None, *, running_mean=None, running_var=None, training=False,
           momentum=0.1, eps=1e-5, saved=None):
    cs = _channel_shape(x.ndim, x.shape[1])
    xhat, inv = _xhat_inv(x, saved, training, running_mean, running_var, eps)
    scale = inv if w is None else w.reshape(cs) * inv  # γ/σ
    if not training:
        return g * scale
    axes = _axes(x.ndim)
    m = float(math.prod(x.shape) // x.shape[1])
    sum_g = g.sum(axis=axes, keepdims=True)
    sum_gx = (g * xhat).sum(axis=axes, keepdims=True)
    if isinstance(g, Tensor) or isinstance(xhat, Tensor):
        return (scale / m) * (m * g - sum_g - xhat * sum_gx)
    # the same formula on arrays, with one full-size temporary instead of four
    gx = g - sum_g / m
    gx -= xhat * (sum_gx / m)
    gx *= scale
    return gx


@either.float64_when_recorded
def _vjp_w(g, out, x, w=None, b=None, *, running_mean=None, running_var=None, training=False,
           momentum=0.1, eps=1e-5, saved=None):
    xhat, _ = _xhat_inv(x, saved, training, running_mean, running_var, eps)
    return (g * xhat).sum(axis=_axes(x.ndim))


@either.float64_when_recorded
def _vjp_b(g, out, x, w=None, b=None, *, running_mean=None, running_var=None, training=False,
           momentum=0.1, eps=1e-5, saved=None):
    return g.sum(axis=_axes(x.ndim))


BATCH_NORM = defop(
    "batch_norm", _forward, _vjp_x, _vjp_w, _vjp_b,
    formula="y = γ (x − μ)/σ + β",
    grads=("(γ/σ)/N · (N·δ − Σδ − x̂·Σ(δ ⊙ x̂))", "Σ δ ⊙ x̂", "Σ δ"),
    saves=((0, 1), (0,), ()), keeps=True,
    doc="batch normalization per channel (axis 1); running statistics updated in training",
)


def _array(v: Any) -> Any:
    return v.data if isinstance(v, Tensor) else v


def batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    r"""Batch normalization over axis 1 of an (N, C), (N, C, L) or (N, C, H, W) input.

    `y = γ (x − μ)/σ + β` per channel, σ = √(σ² + ε). In training mode μ and σ² (biased) are
    the batch's, and `running_mean`/`running_var` (if given) are updated in place:
    `μ_run ← (1 − momentum) μ_run + momentum μ`, and the same for `σ²_run` with the unbiased
    batch variance. In evaluation mode μ and σ² are the running ones.

    ∇x = (γ/σ)/N · (N·δ − Σδ − x̂·Σ(δ ⊙ x̂)) in training (N values per channel), (γ/σ)·δ in
    evaluation; ∇γ = Σ δ ⊙ x̂; ∇β = Σ δ.

    Args:
        x: the input, channels on axis 1.
        running_mean, running_var: per-channel buffers of shape (C,) (Tensors or arrays), or
            None in training mode to use batch statistics only. They take no gradient.
        weight, bias: γ and β of shape (C,), or None (γ = 1, β = 0).
        training: normalise with the batch's statistics and update the running ones.
        momentum: α of the running average (a float; the modules handle None).
        eps: ε added to the variance.
    """
    rm, rv = _array(running_mean), _array(running_var)
    if not training:  # the VJPs read these later: a snapshot, so a later update cannot leak in
        rm = None if rm is None else np.array(rm)
        rv = None if rv is None else np.array(rv)
    inputs: list[Any] = [x]
    if weight is not None or bias is not None:
        if weight is None:
            C = np.shape(_array(x))[1] if np.ndim(_array(x)) >= 2 else 0
            weight = np.ones(C, dtype=np.asarray(_array(x)).dtype)
        inputs.append(weight)
        if bias is not None:
            inputs.append(bias)
    out = apply(BATCH_NORM, *inputs, running_mean=rm, running_var=rv, training=bool(training),
                momentum=momentum, eps=eps)
    for buf in (running_mean, running_var):
        if training and isinstance(buf, Tensor):
            buf._version.n += 1  # updated in place, as an optimizer step counts its writes
    return out
