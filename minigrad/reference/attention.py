r"""Scaled dot-product attention, forward and backward, derived by hand.

For queries Q ``(…, T_q, d)``, keys K ``(…, T_k, d)``, values V ``(…, T_k, d_v)``::

    S = c · Q Kᵀ (+ mask)        P = softmax_rows(S)        O = P V

with ``c = 1/√d`` unless given. A boolean mask keeps the entries where it is True (the others
get −∞ before the softmax, so their P is 0); a float mask is added to S; ``is_causal`` keeps
position j ≤ i.

Backward, with ``∇O`` given:

- ``O = P V`` is a matmul: ``∇V = Pᵀ ∇O`` and ``∇P = ∇O Vᵀ``;
- the row softmax: ``∂P_ij/∂S_ik = P_ij (1[j = k] − P_ik)``, so
  ``∇S_ik = Σ_j ∇P_ij P_ij (1[j = k] − P_ik) = P_ik (∇P_ik − Σ_j ∇P_ij P_ij)``::

      ∇S = P ⊙ (∇P − rowsum(∇P ⊙ P))

  A masked entry has P = 0, so it gets no gradient;
- ``S = c Q Kᵀ``: ``∇Q = c ∇S K`` and ``∇K = c ∇Sᵀ Q``.

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AttentionCache", "attention_backward", "attention_forward", "softmax_backward"]


@dataclass
class AttentionCache:
    """The probabilities P and the scale c the backward needs."""

    P: np.ndarray
    scale: float


def _mask(Tq: int, Tk: int, attn_mask: np.ndarray | None, is_causal: bool,
          dtype: np.dtype) -> np.ndarray:
    """The additive mask: 0 where attention is allowed, −∞ where not."""
    add = np.zeros((Tq, Tk), dtype=dtype)
    if is_causal:
        add = np.where(np.tril(np.ones((Tq, Tk), dtype=bool)), add, -np.inf)
    if attn_mask is not None:
        m = np.asarray(attn_mask)
        add = add + (np.where(m, 0.0, -np.inf) if m.dtype == bool else m)
    return add


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      attn_mask: np.ndarray | None = None, is_causal: bool = False,
                      scale: float | None = None) -> tuple[np.ndarray, AttentionCache]:
    """``O = softmax(c Q Kᵀ + mask) V`` over the last two axes (any leading batch/head axes)."""
    c = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    S = c * (q @ np.swapaxes(k, -1, -2))
    S = S + _mask(q.shape[-2], k.shape[-2], attn_mask, is_causal, S.dtype)
    m = S.max(axis=-1, keepdims=True)
    E = np.exp(S - m)
    P = E / E.sum(axis=-1, keepdims=True)
    return P @ v, AttentionCache(P, c)


def softmax_backward(dP: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``∇S = P ⊙ (∇P − rowsum(∇P ⊙ P))`` for ``P = softmax(S)`` along the last axis."""
    return P * (dP - (dP * P).sum(axis=-1, keepdims=True))


def attention_backward(dO: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                       cache: AttentionCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∇Q, ∇K, ∇V)``: ``∇V = Pᵀ∇O``, ``∇P = ∇O Vᵀ``, ``∇S = P ⊙ (∇P − rowsum(∇P ⊙ P))``,
    ``∇Q = c ∇S K``, ``∇K = c ∇Sᵀ Q``."""
    P, c = cache.P, cache.scale
    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(v, -1, -2)
    dS = softmax_backward(dP, P)
    return c * dS @ k, c * np.swapaxes(dS, -1, -2) @ q, dV
