r"""Matrix products. In the lecture's column-vector notation a layer computes `a = W h`;
its VJP sends `∇W L = δ·hᵀ` to the weight and `∇h L = Wᵀ·δ` to the input."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops.either import swapaxes
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor


def _matmul_forward(W: np.ndarray, h: np.ndarray) -> np.ndarray:
    if W.ndim == 0 or h.ndim == 0:
        raise ValueError(
            f"matmul: operands must have at least 1 dimension, got shapes {W.shape} and "
            f"{h.shape}; use * for scaling"
        )
    try:
        return np.matmul(W, h)
    except ValueError:
        k1 = W.shape[-1]
        k2 = h.shape[0] if h.ndim == 1 else h.shape[-2]
        raise ValueError(
            f"matmul: shapes {W.shape} and {h.shape} do not fit: the first has {k1} columns "
            f"but the second has {k2} rows (inner dimensions must match)"
        ) from None


def _vjp_W(g, out, W, h):
    if h.ndim == 1:
        return g * h if W.ndim == 1 else g[..., None] * h  # δ·hᵀ, an outer product
    if W.ndim == 1:
        return (h @ g[..., None])[..., 0]
    return g @ swapaxes(h)


def _vjp_h(g, out, W, h):
    if W.ndim == 1:
        return g * W if h.ndim == 1 else W[..., None] * g[..., None, :]
    if h.ndim == 1:
        return (swapaxes(W) @ g[..., None])[..., 0]
    return swapaxes(W) @ g


MATMUL = defop(
    "matmul", _matmul_forward, _vjp_W, _vjp_h,
    formula="a = W h", grads=("δ·hᵀ", "Wᵀ·δ"),
    doc="matrix product, numpy's rules for 1-D and batched operands",
    jvps=(("Ẇ h", lambda t, out, W, h: t @ h), ("W ḣ", lambda t, out, W, h: W @ t)),
)


def _batch_of_rows(a: Any) -> Any:
    """`a` of shape (..., k) as one matrix of rows (M, k), a view when `a` is contiguous. A
    product with it is one BLAS call, where numpy's matmul on a stack (B, L, k) calls BLAS
    once per matrix of L rows: for the transformer's (64, 12, 64) @ (64, 256) a third
    faster."""
    return a if a.ndim <= 2 else a.reshape((-1, a.shape[-1]))


def _linear_forward(h: np.ndarray, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    if W.ndim != 2 or h.ndim == 0 or h.shape[-1] != W.shape[1]:
        raise ValueError(
            f"linear: input of shape {h.shape} does not fit weight of shape {W.shape} "
            f"(out_features × in_features): the input's last dimension must be {W.shape[-1]}"
        )
    a = _batch_of_rows(h) @ W.T
    if b is not None:
        if a.dtype == b.dtype and a.ndim:
            a += b  # in place: one array fewer per layer
        else:
            a = a + b
    return a.reshape(h.shape[:-1] + (W.shape[0],)) if h.ndim > 2 else a


def _linear_vjp_h(g, out, h, W, b=None):
    gW = _batch_of_rows(g) @ W  # Σ_j δ_j W_j per row: Wᵀ·δ in the lecture's columns
    return gW.reshape(h.shape) if g.ndim > 2 else gW


def _linear_vjp_W(g, out, h, W, b=None):
    g2 = g.reshape((-1, W.shape[0]))
    return swapaxes(g2) @ h.reshape((-1, W.shape[1]))  # Σ_i δ_i h_iᵀ = Δᵀ H


LINEAR = defop(
    "linear", _linear_forward,
    _linear_vjp_h,
    _linear_vjp_W,
    lambda g, out, h, W, b=None: g,
    formula="a = W h + b", grads=("Wᵀ·δ", "δ·hᵀ", "δ"), saves=(0, 1),
    doc="a dense layer: for a batch of rows H, A = H Wᵀ + b (the lecture's a = W h + b per row)",
    jvps=(("W ḣ", lambda t, out, h, W, b=None: linear(t, W)),
          ("Ẇ h", lambda t, out, h, W, b=None: linear(h, t)),
          ("ḃ", lambda t, out, h, W, b=None: t)),
)


def matmul(W: Any, h: Any) -> Tensor:
    """`a = W h` with numpy's matmul rules. ∇W = δ·hᵀ, ∇h = Wᵀ·δ."""
    return apply(MATMUL, W, h)


def linear(h: Any, W: Any, b: Any = None) -> Tensor:
    """A dense layer on a batch of rows, `A = H Wᵀ + b`: per example the lecture's
    `a_k = W_k h_{k−1} + b_k`. ∇W_k = Σ_i δ_i h_iᵀ, ∇b_k = Σ_i δ_i, ∇h = W_kᵀ δ.

    W has shape (out_features, in_features), so W[i, j] joins input j to output i.
    """
    return apply(LINEAR, h, W) if b is None else apply(LINEAR, h, W, b)
