r"""Batch normalization and layer normalization, forward and backward, derived by hand.

Both normalize a group of M numbers ``x_1 … x_M`` (batch norm: one channel over the batch and
the spatial positions; layer norm: one example's features), then scale and shift::

    μ = (1/M) Σ_i x_i        σ² = (1/M) Σ_i (x_i − μ)²   (the biased variance)
    σ = √(σ² + ε)            x̂_i = (x_i − μ)/σ             y_i = γ x̂_i + β

With ``δ_i = ∂L/∂y_i``: ``∇β = Σ δ_i`` and ``∇γ = Σ δ_i x̂_i`` (summed over every place γ is
shared). For x, every x̂_j depends on every x_i through μ and σ:

    ∂x̂_j/∂x_i = (1/σ)(1[i = j] − 1/M − x̂_i x̂_j / M)

(using ``∂μ/∂x_i = 1/M`` and ``∂σ/∂x_i = x̂_i/M``), so with ``∇x̂ = γ δ``::

    ∇x_i = (1/σ)(∇x̂_i − (1/M) Σ_j ∇x̂_j − x̂_i (1/M) Σ_j ∇x̂_j x̂_j)
         = (γ/σ)/M · (M·δ_i − Σ_j δ_j − x̂_i · Σ_j δ_j x̂_j)

the compact form (γ per channel comes out of the sums). Batch norm sums over the batch (and
H, W) for each channel, M = N (·H·W); layer norm sums over the normalized features of each
example, M = their number, and γ varies along them, so it stays inside: ``∇x̂ = γ ⊙ δ``.

Batch norm in evaluation (or with ``training=False``) uses the running statistics, constants:
``y = γ (x − μ_run)/√(σ²_run + ε) + β`` and ``∇x = γ δ / √(σ²_run + ε)``. In training the
running statistics move by ``momentum`` toward the batch's, with the *unbiased* variance
``M/(M−1) σ²`` (PyTorch's convention), while the normalization itself uses the biased one.

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from minigrad.reference.slips import Slip

__all__ = [
    "SLIPS", "NormCache", "batch_norm_backward", "batch_norm_forward", "batch_norm_running",
    "layer_norm_backward", "layer_norm_forward",
]


@dataclass
class NormCache:
    """What the backward needs from the forward: ``x̂`` and ``σ`` (broadcastable to x), and
    the axes the statistics were taken over."""

    x_hat: np.ndarray
    sigma: np.ndarray
    axes: tuple[int, ...]


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """``(1, C, 1, …)``: a per-channel vector broadcast against ``(N, C, …)``."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _stat_axes(x: np.ndarray) -> tuple[int, ...]:
    """Batch norm's axes: every axis but the channel axis 1."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C) or (N, C, …), got shape {x.shape}")
    return (0,) + tuple(range(2, x.ndim))


def batch_norm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    eps: float = 1e-5,
    training: bool = True,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
) -> tuple[np.ndarray, NormCache]:
    """``y = γ x̂ + β`` per channel, with x̂ from the batch's statistics (training) or the
    running ones (``training=False``). x is ``(N, C)`` or ``(N, C, …)``."""
    axes = _stat_axes(x)
    cs = _channel_shape(x)
    if training:
        mu = x.mean(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)  # biased: 1/M, not 1/(M−1)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: training=False needs running_mean and running_var")
        mu, var = running_mean.reshape(cs), running_var.reshape(cs)
    sigma = np.sqrt(var + eps)
    x_hat = (x - mu) / sigma
    y = x_hat * (1.0 if gamma is None else gamma.reshape(cs))
    y = y + (0.0 if beta is None else beta.reshape(cs))
    return y, NormCache(x_hat, sigma, axes if training else ())


def batch_norm_backward(
    delta: np.ndarray, cache: NormCache, gamma: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∇x, ∇γ, ∇β)``: ``∇x = (γ/σ)/M · (M·δ − Σδ − x̂·Σ(δ ⊙ x̂))`` with the sums over the
    channel's M values (training), or ``γ δ / σ`` with the running σ (evaluation)."""
    x_hat, sigma = cache.x_hat, cache.sigma
    axes = _stat_axes(delta)
    cs = _channel_shape(delta)
    g = np.ones(cs) if gamma is None else gamma.reshape(cs)
    d_beta = delta.sum(axis=axes)
    d_gamma = (delta * x_hat).sum(axis=axes)
    if not cache.axes:  # running statistics: μ and σ are constants
        return g * delta / sigma, d_gamma, d_beta
    M = delta.size // delta.shape[1]
    sum_d = delta.sum(axis=axes, keepdims=True)
    sum_dx = (delta * x_hat).sum(axis=axes, keepdims=True)
    dx = (g / sigma) / M * (M * delta - sum_d - x_hat * sum_dx)
    return dx, d_gamma, d_beta


def batch_norm_running(
    x: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, momentum: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics after one training step:
    ``μ_run ← (1 − m) μ_run + m μ`` and ``σ²_run ← (1 − m) σ²_run + m · M/(M−1) · σ²``
    (the unbiased variance, as PyTorch)."""
    axes = _stat_axes(x)
    M = x.size // x.shape[1]
    mu = x.mean(axis=axes)
    var_unbiased = ((x - mu.reshape(_channel_shape(x))) ** 2).sum(axis=axes) / (M - 1)
    return ((1 - momentum) * running_mean + momentum * mu,
            (1 - momentum) * running_var + momentum * var_unbiased)


def _feature_axes(x: np.ndarray, normalized_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last axes of x, "
                         f"got x of shape {x.shape}")
    return tuple(range(x.ndim - len(shape), x.ndim))


def layer_norm_forward(
    x: np.ndarray,
    normalized_shape: Sequence[int],
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    eps: float = 1e-5,
) -> tuple[np.ndarray, NormCache]:
    """``y = γ ⊙ x̂ + β`` with x̂ normalized over the last ``len(normalized_shape)`` axes of
    each example; γ, β have shape ``normalized_shape``."""
    axes = _feature_axes(x, normalized_shape)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    sigma = np.sqrt(var + eps)
    x_hat = (x - mu) / sigma
    y = x_hat * (1.0 if gamma is None else gamma) + (0.0 if beta is None else beta)
    return y, NormCache(x_hat, sigma, axes)


def layer_norm_backward(
    delta: np.ndarray, cache: NormCache, gamma: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∇x, ∇γ, ∇β)``: with ``∇x̂ = γ ⊙ δ``, ``∇x = (1/σ)/M · (M·∇x̂ − Σ∇x̂ − x̂·Σ(∇x̂ ⊙ x̂))``
    over the M features of each example; ``∇γ = Σ_examples δ ⊙ x̂``, ``∇β = Σ_examples δ``."""
    x_hat, sigma, axes = cache.x_hat, cache.sigma, cache.axes
    batch_axes = tuple(range(delta.ndim - len(axes)))
    d_xhat = delta * (1.0 if gamma is None else gamma)
    M = int(np.prod([delta.shape[a] for a in axes]))
    sum_d = d_xhat.sum(axis=axes, keepdims=True)
    sum_dx = (d_xhat * x_hat).sum(axis=axes, keepdims=True)
    dx = (1.0 / sigma) / M * (M * d_xhat - sum_d - x_hat * sum_dx)
    return dx, (delta * x_hat).sum(axis=batch_axes), delta.sum(axis=batch_axes)


# --------------------------------------------------------------------------- slips
def _bn_unbiased(g: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray | None = None,
                 b: np.ndarray | None = None, *, training: bool = False, eps: float = 1e-5,
                 **params: object) -> np.ndarray | None:
    """Batch norm's ∇x derived as if σ² were the unbiased ``1/(M − 1) Σ (x − μ)²``, while the
    forward normalizes with the biased one: the x̂ term gets a factor ``M/(M − 1)``."""
    if not training:
        return None
    axes = _stat_axes(x)
    cs = _channel_shape(x)
    gamma = np.ones(cs) if w is None else w.reshape(cs)
    M = x.size // x.shape[1]
    centred = x - x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt((centred**2).mean(axis=axes, keepdims=True) + eps)
    x_hat = centred / sigma
    sum_d = g.sum(axis=axes, keepdims=True)
    sum_dx = (g * x_hat).sum(axis=axes, keepdims=True)
    return (gamma / sigma) / M * (M * g - sum_d - x_hat * sum_dx * M / (M - 1))


def _other_variance(power: float) -> Callable[..., np.ndarray | None]:
    """The variance's (or the standard deviation's, `power` ½) rule with the other divisor:
    ``1/n`` where the forward took ``1/(n − 1)``, or the other way round."""

    def vjp(g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: object = None,
            keepdims: bool = False, ddof: int = 0) -> np.ndarray | None:
        if ddof not in (0, 1):
            return None
        axes = tuple(range(x.ndim)) if axis is None else tuple(
            a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))  # type: ignore
        n = int(np.prod([x.shape[a] for a in axes]))
        kept = [1 if i in axes else s for i, s in enumerate(x.shape)]
        gk, ok = np.reshape(g, kept), np.reshape(out, kept)
        centred = x - x.mean(axis=axes, keepdims=True)
        dvar = gk if power == 1 else gk / (2 * ok)   # through s = √v: ∂s/∂v = 1/(2s)
        return dvar * centred * (2.0 / (n - (1 - ddof)))

    return vjp


# The slips one makes in a normalization's backward (`minigrad.reference.slips`), keyed by the
# registry's op names.
SLIPS: dict[str, tuple[Slip, ...]] = {
    "batch_norm": (
        Slip("the unbiased variance 1/(M − 1) for the biased 1/M that batch norm normalizes "
             "with", _bn_unbiased),
    ),
    "var": (Slip("the other variance: 1/n for 1/(n − 1), or 1/(n − 1) for 1/n",
                 _other_variance(1)),),
    "std": (Slip("the other variance: 1/n for 1/(n − 1), or 1/(n − 1) for 1/n",
                 _other_variance(0.5)),),
}
