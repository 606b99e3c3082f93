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

Causal self-attention (``nn.CausalSelfAttention``) wraps this between two dense layers:
``[Q K V] = X W_inᵀ + b_in`` split into H heads of size d, ``O_h = attention(Q_h, K_h, V_h)``
with the causal mask, ``Y = [O_1 … O_H] W_outᵀ + b_out``. Its backward is the dense layer's
(``∇W_out = δ·oᵀ``, ``∇o = W_outᵀ·δ``), the heads' attention backward, and the dense layer's
again on ``[∇Q ∇K ∇V]``.

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.reference import dense as _dense

__all__ = [
    "AttentionCache", "attention_backward", "attention_forward",
    "causal_self_attention_backward", "causal_self_attention_forward", "softmax_backward",
]


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


def causal_self_attention_forward(
    x: np.ndarray, W_in: np.ndarray, b_in: np.ndarray | None, W_out: np.ndarray,
    b_out: np.ndarray | None, num_heads: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``Y = concat_h(attention(Q_h, K_h, V_h, causal)) W_outᵀ + b_out`` with
    ``[Q K V] = X W_inᵀ + b_in``; x of shape ``(…, L, E)``."""
    *batch, L, E = x.shape
    H = num_heads
    d = E // H
    nb = len(batch)
    qkv = _dense.linear_forward(x, W_in, b_in).reshape(*batch, L, 3, H, d)
    # (…, L, 3, H, d) → (3, …, H, L, d)
    qkv = np.moveaxis(qkv, (nb + 1, nb + 2), (0, nb + 1))
    q, k, v = qkv[0], qkv[1], qkv[2]
    O, att = attention_forward(q, k, v, is_causal=True)
    o = np.moveaxis(O, nb, nb + 1).reshape(*batch, L, E)
    y = _dense.linear_forward(o, W_out, b_out)
    return y, {"x": x, "q": q, "k": k, "v": v, "att": att, "o": o, "W_in": W_in,
               "W_out": W_out, "H": H, "bias_in": b_in is not None,
               "bias_out": b_out is not None}


def causal_self_attention_backward(delta: np.ndarray, cache: dict[str, Any]
                                   ) -> dict[str, np.ndarray]:
    """``∇x``, ``∇W_in``, ``∇b_in``, ``∇W_out``, ``∇b_out`` (keys ``x``, ``W_in``, ``b_in``,
    ``W_out``, ``b_out``): dense, attention, dense, backwards."""
    x, o = cache["x"], cache["o"]
    *batch, L, E = x.shape
    nb, H = len(batch), cache["H"]
    d = E // H
    do, dW_out, db_out = _dense.linear_backward(delta, o, cache["W_out"], cache["bias_out"])
    dO = np.moveaxis(do.reshape(*batch, L, H, d), nb + 1, nb)
    dq, dk, dv = attention_backward(dO, cache["q"], cache["k"], cache["v"], cache["att"])
    dqkv = np.moveaxis(np.stack([dq, dk, dv]), (0, nb + 1), (nb + 1, nb + 2))
    dx, dW_in, db_in = _dense.linear_backward(dqkv.reshape(*batch, L, 3 * E), x,
                                              cache["W_in"], cache["bias_in"])
    out = {"x": dx, "W_in": dW_in, "W_out": dW_out}
    if db_in is not None:
        out["b_in"] = db_in
    if db_out is not None:
        out["b_out"] = db_out
    return out
