r"""Layer normalization, one fused op. Over the N features of each example (the trailing
`normalized_shape` axes):

    μ = (1/N) Σ x,   σ² = (1/N) Σ (x − μ)²,   x̂ = (x − μ) / √(σ² + ε),   y = γ ⊙ x̂ + β

With δ = ∇y L and σ read as √(σ² + ε), the VJPs are

    ∇γ = Σ_batch δ ⊙ x̂,   ∇β = Σ_batch δ,
    ∇x = (1/σ)/N · (N·δγ − Σ δγ − x̂ ⊙ Σ (δγ ⊙ x̂))      (δγ = δ ⊙ γ, sums over the features)

which is the chain rule through μ and σ collected into one line: the two sums remove the
components of δγ along 1 (the mean) and along x̂ (the scale), which normalization forgets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor

__all__ = ["layer_norm"]


def _axes(normalized_shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(range(-len(normalized_shape), 0))


def _mean(x: Any, axes: tuple[int, ...]) -> Any:
    """(1/N) Σ x over the trailing `axes`, which stay as axes of size 1. On a float32 or
    float64 array Σ is one matrix product with a vector of ones (a BLAS call, several times
    faster than numpy's reduction row by row over a short last axis); the rounding of the sum
    may differ in the last bit from numpy's, eager and compiled alike."""
    if not (isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64) and x.size):
        return x.mean(axis=axes, keepdims=True)
    lead = x.shape[:x.ndim - len(axes)]
    n = x.size // math.prod(lead)
    s = x.reshape(-1, n) @ np.ones(n, dtype=x.dtype)
    return (s / n).reshape(lead + (1,) * len(axes))


def _centred(x: Any, axes: tuple[int, ...]) -> Any:
    """x − μ in two passes: the second removes the rounding error of the first mean. For a
    constant row, x − μ is that error repeated (1.4e14 beside 1e30), which normalization would
    blow up to x̂ = ±1; its mean is exactly itself, so the row becomes exactly 0, as it is in
    exact arithmetic. In exact arithmetic the second mean is 0, so gradients are unchanged."""
    xc = x - _mean(x, axes)
    return xc - _mean(xc, axes)


def _stats(x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any]:
    """`x̂` and `1/σ`, from arrays or (under create_graph) from Tensors."""
    if isinstance(x, np.ndarray) and x.size:
        big = np.max(np.abs(x))  # one pass serves both guards against overflow
        if either.statistics_in_float64(x, big):
            xhat, rstd = _stats(x.astype(np.float64), axes, eps)
            return xhat.astype(x.dtype), rstd.astype(x.dtype)
        if x.dtype.itemsize >= 8 and np.logical_and(big > 1e150, big < np.inf):
            # (x − μ)² would overflow: normalize x/s instead, x̂ is the same and σ = s·σ_s.
            # s per row and at least 1: a row of zeros beside a row of 1e300 must not get
            # eps/s² = 0 and 0·∞ = nan
            s = np.maximum(np.max(np.abs(x), axis=axes, keepdims=True), 1.0)
            xc = _centred(x / s, axes)
            rstd = (_mean(xc * xc, axes) + eps / s / s) ** -0.5
            return xc * rstd, rstd / s
    xc = _centred(x, axes)
    rstd = (_mean(xc * xc, axes) + eps) ** -0.5
    return xc * rstd, rstd


def _check(x: np.ndarray, normalized_shape: tuple[int, ...], params: dict[str, Any]) -> None:
    n = len(normalized_shape)
    if n == 0 or x.ndim < n or tuple(x.shape[x.ndim - n:]) != normalized_shape:
        raise ValueError(
            f"layer_norm: normalized_shape {normalized_shape} must equal the trailing dimensions "
            f"of the input, which has shape {x.shape}; for this input use normalized_shape="
            f"{tuple(x.shape[-1:])} (the last axis) or any tail of {tuple(x.shape)}"
        )
    for name, p in params.items():
        if p is not None and tuple(p.shape) != normalized_shape:
            raise ValueError(
                f"layer_norm: {name} has shape {p.shape}, but normalized_shape is "
                f"{normalized_shape}; {name} must have shape {normalized_shape}"
            )


def _forward(x: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None,
             normalized_shape: tuple[int, ...] = (), eps: float = 1e-5) -> Any:
    _check(x, normalized_shape, {"weight": weight, "bias": bias})
    xhat, rstd = _stats(x, _axes(normalized_shape), eps)
    y = xhat if weight is None else xhat * weight
    if bias is not None:
        y = y + bias
    return y, (xhat, rstd)


def _saved_or_recomputed(x: Any, normalized_shape: tuple[int, ...], eps: float,
                         saved: Any) -> tuple[Any, Any]:
    # Under create_graph x̂ and σ must be functions of x (Tensors), so they are recomputed.
    if isinstance(x, Tensor) or saved is None:
        return _stats(x, _axes(normalized_shape), eps)
    return saved


@either.float64_when_recorded
def _vjp_x(g: Any, out: Any, x: Any, weight: Any = None, bias: Any = None,
           normalized_shape: tuple[int, ...] = (), eps: float = 1e-5, saved: Any = None) -> Any:
    xhat, rstd = _saved_or_recomputed(x, normalized_shape, eps, saved)
    axes = _axes(normalized_shape)
    gg = g if weight is None else g * weight
    return rstd * (gg - _mean(gg, axes) - xhat * _mean(gg * xhat, axes))


@either.float64_when_recorded
def _vjp_weight(g: Any, out: Any, x: Any, weight: Any = None, bias: Any = None,
                normalized_shape: tuple[int, ...] = (), eps: float = 1e-5,
                saved: Any = None) -> Any:
    xhat, _ = _saved_or_recomputed(x, normalized_shape, eps, saved)
    return g * xhat  # the engine sums it over the batch axes


@either.float64_when_recorded
def _vjp_bias(g: Any, out: Any, x: Any, weight: Any = None, bias: Any = None,
              normalized_shape: tuple[int, ...] = (), eps: float = 1e-5,
              saved: Any = None) -> Any:
    return g


LAYER_NORM = defop(
    "layer_norm", _forward, _vjp_x, _vjp_weight, _vjp_bias,
    formula="y = γ ⊙ (x − μ)/σ + β",
    grads=("(γ/σ)/N·(N·δ − Σδ − x̂·Σ(δ⊙x̂))", "Σ δ ⊙ x̂", "Σ δ"),
    keeps=True,
    doc="layer normalization over the trailing normalized_shape axes (PyTorch's semantics)",
)


def layer_norm(x: Any, normalized_shape: int | tuple[int, ...] | list[int],
               weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    r"""Layer normalization, as ``torch.nn.functional.layer_norm``.

    Each example is normalized over its trailing `normalized_shape` axes (N features):
    `y = γ ⊙ (x − μ)/σ + β` with `σ = √(σ² + ε)` (biased variance). VJPs:
    `∇x = (γ/σ)/N · (N·δ − Σδ − x̂ ⊙ Σ(δ ⊙ x̂))`, `∇γ = Σ δ ⊙ x̂`, `∇β = Σ δ`.

    Args:
        x: input of shape (..., *normalized_shape).
        normalized_shape: an int or the trailing shape to normalize over.
        weight: γ of shape normalized_shape, or None (γ = 1).
        bias: β of shape normalized_shape, or None (β = 0).
        eps: ε added to the variance.
    """
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    ns = tuple(int(n) for n in normalized_shape)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not math.isfinite(eps) \
            or eps < 0:
        raise ValueError(f"layer_norm: eps must be a non-negative number, got {eps!r}")
    params = {"normalized_shape": ns, "eps": float(eps)}
    if weight is None and bias is None:
        return apply(LAYER_NORM, x, **params)
    if weight is None:
        xd = x.data if isinstance(x, Tensor) else np.asarray(x)
        weight = np.ones(ns, dtype=xd.dtype if xd.dtype.kind == "f" else np.float32)
    if bias is None:
        return apply(LAYER_NORM, x, weight, **params)
    return apply(LAYER_NORM, x, weight, bias, **params)
