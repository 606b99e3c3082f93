r"""Attention. With queries Q (L × E), keys K (S × E) and values V (S × Ev):

    S = QKᵀ/√E (+ mask),   P = softmax(S) row by row,   O = P V

and, with δ = ∇O L,

    ∇V = Pᵀδ,   ∇P = δVᵀ,   ∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)),   ∇Q = ∇S K/√E,   ∇K = ∇Sᵀ Q/√E.

A boolean mask keeps the positions where it is True (the others get S = −∞, so P = 0 there
and ∇S = 0); a float mask is added to S. A row with no allowed position, or whose scores
all overflowed to −∞, has P = 0 and an output row of zeros (PyTorch's safe softmax), and its
∇S is 0: no NaN reaches any gradient.

`masked_fill` lives here too: it is how a mask enters the scores in a hand-written attention.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor

__all__ = ["masked_fill", "scaled_dot_product_attention"]


# ---------------------------------------------------------------------------- masked_fill

def _masked_fill_forward(x: np.ndarray, mask: np.ndarray, value: float = 0.0) -> np.ndarray:
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be boolean, got dtype {mask.dtype} (shape "
                        f"{mask.shape}); compare it first, e.g. mask == 0")
    try:
        ok = np.broadcast_shapes(x.shape, mask.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"masked_fill: mask of shape {mask.shape} does not broadcast to the input's shape "
            f"{x.shape}; it needs the input's trailing axes, each equal or 1"
        )
    return np.where(mask, np.asarray(value, dtype=x.dtype), x)


MASKED_FILL = defop(
    "masked_fill", _masked_fill_forward,
    lambda g, out, x, mask, value=0.0: either.where(either.value(mask), 0.0, g),
    None,
    formula="y = m ? v : x", grads=("δ ⊙ 1[¬m]", "—"), saves=(1,),
    doc="x with the positions where the mask holds set to a value",
    jvps=(("ẋ ⊙ 1[¬m]", lambda t, out, x, mask, value=0.0: either.where(
        either.value(mask), 0.0, t)), None),
)


def masked_fill(x: Any, mask: Any, value: float) -> Tensor:
    r"""`x` with `value` where the boolean `mask` (broadcast to x's shape) is True, as
    ``torch.Tensor.masked_fill``. ∇x = δ ⊙ 1[¬m]; the mask takes no gradient."""
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    return apply(MASKED_FILL, x, m, value=float(value))


# ---------------------------------------------------------------------- attention

_OP = "scaled_dot_product_attention"


@lru_cache(maxsize=64)
def _causal(L: int, S: int) -> np.ndarray:
    """PyTorch's causal mask: query i sees keys j ≤ i (aligned at the top left)."""
    m = np.tril(np.ones((L, S), dtype=bool))
    m.setflags(write=False)
    return m


def _check(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
           is_causal: bool) -> tuple[int, ...]:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.ndim < 2:
            raise ValueError(f"{_OP}: {name} must have shape (..., length, features), got "
                             f"{t.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"{_OP}: q of shape {q.shape} and k of shape {k.shape} have different feature sizes "
            f"({q.shape[-1]} and {k.shape[-1]}); the scores QKᵀ need q's last dimension to "
            f"equal k's"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{_OP}: k of shape {k.shape} has {k.shape[-2]} positions but v of shape "
            f"{v.shape} has {v.shape[-2]}; k and v need the same length S (axis -2)"
        )
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{_OP}: the batch dimensions of q {q.shape}, k {k.shape} and v {v.shape} do not "
            f"broadcast"
        ) from None
    scores = tuple(batch) + (q.shape[-2], k.shape[-2])
    if mask is not None:
        if is_causal:
            raise ValueError(f"{_OP}: give attn_mask or is_causal=True, not both")
        if mask.dtype != np.bool_ and mask.dtype.kind != "f":
            raise TypeError(f"{_OP}: attn_mask must be boolean (True = attend) or floating "
                            f"(added to the scores), got dtype {mask.dtype}")
        try:
            ok = np.broadcast_shapes(mask.shape, scores) == scores
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{_OP}: attn_mask of shape {mask.shape} does not broadcast to the scores' shape "
                f"{scores} (batch…, L, S) for q {q.shape} and k {k.shape}; use a mask of shape "
                f"({q.shape[-2]}, {k.shape[-2]}) or one that broadcasts to {scores}"
            )
    return scores


def _scale(q: Any, scale: float | None) -> float:
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


def _blocked(mask: np.ndarray | None, is_causal: bool, L: int, S: int) -> np.ndarray | None:
    """Where attention is not allowed (True), or None when everything is."""
    if is_causal:
        return ~_causal(L, S)
    if mask is None:
        return None
    if mask.dtype == np.bool_:
        return ~mask
    return np.isneginf(mask)


# numpy reduces a short last axis one row at a time (about 45 ns a row for max, 15 for sum):
# for (64, 4, 12, 12) scores that is most of the softmax. These two reduce the rows at once.

def _row_max(s: np.ndarray) -> np.ndarray:
    """`s.max(axis=-1, keepdims=True)`, from a copy with the last axis first: the maximum
    then runs down long contiguous columns (10 times faster for rows of 12)."""
    last_first = (s.ndim - 1, *range(s.ndim - 1))
    return s.transpose(last_first).copy().max(axis=0)[..., None]  # copy(): C order


def _row_sum(a: Any) -> Any:
    """`a.sum(axis=-1, keepdims=True)`; on a float32/64 array as one matrix-vector product
    with a vector of ones (one BLAS call for all rows). Tensors (create_graph) sum as usual."""
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64) or a.ndim < 2:
        return a.sum(axis=-1, keepdims=True)
    n = a.shape[-1]
    return (a.reshape(-1, n) @ np.ones(n, a.dtype)).reshape(a.shape[:-1] + (1,))


def _forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None,
             is_causal: bool = False, scale: float | None = None) -> Any:
    _check(q, k, v, mask, is_causal)
    s = np.matmul(q, np.swapaxes(k, -1, -2))
    s *= np.asarray(_scale(q, scale), dtype=s.dtype)
    if mask is not None and mask.dtype != np.bool_:
        s = s + mask.astype(s.dtype, copy=False)
    blocked = _blocked(mask if mask is None or mask.dtype == np.bool_ else None, is_causal,
                       q.shape[-2], k.shape[-2])
    if blocked is not None:
        # added as a bias of −∞, as PyTorch does (so a score that overflowed to +∞ at a
        # masked position gives NaN there, as in PyTorch, rather than being hidden)
        s = s + np.where(blocked, np.asarray(-np.inf, dtype=s.dtype), np.asarray(0, s.dtype))
    m = _row_max(s)
    # A row whose scores are all −∞ gets P = 0 (PyTorch's safe softmax, in its math and
    # flash kernels alike): a row the mask blocks entirely, and as well a row whose scores
    # overflowed to −∞ (queries of −1e30 against keys of 1e30 in float32). A score that
    # overflowed to +∞ makes its row NaN, as in PyTorch.
    dead = np.isneginf(m)
    if dead.any():
        m = np.where(dead, np.asarray(0, dtype=m.dtype), m)
    e = np.exp(s - m)  # 0 all along a dead row
    z = _row_sum(e)
    if dead.any():
        z = np.where(dead, np.asarray(1, dtype=z.dtype), z)
    p = e / z
    return np.matmul(p, v), p


def _probs(q: Any, k: Any, mask: Any, is_causal: bool, scale: float | None) -> Any:
    """P as a function of Tensors q, k (and a float mask), for create_graph."""
    s = (q @ either.swapaxes(k)) * _scale(q, scale)
    mv = None if mask is None else either.value(mask)
    if mv is not None and mv.dtype != np.bool_:
        s = s + mask
    blocked = _blocked(mv, is_causal, q.shape[-2], k.shape[-2])
    overflowed = np.isneginf(either.value(s))  # as blocked: P = 0 there, and dead if all are
    if blocked is None and not overflowed.all(axis=-1).any():
        return either.softmax(s, -1)
    blocked = overflowed if blocked is None else np.broadcast_to(blocked, s.shape) | overflowed
    dead = blocked.all(axis=-1, keepdims=True)
    # blocked entries get −∞, except in dead rows, which get 0 (any finite value) so that
    # softmax stays finite; those rows are then zeroed.
    fill = np.where(dead, 0.0, -np.inf).astype(either.value(s).dtype)
    p = either.softmax(either.where(blocked, np.broadcast_to(fill, s.shape), s), -1)
    return p * (~dead).astype(either.value(s).dtype) if dead.any() else p


def _kept_p(q: Any, k: Any, mask: Any, is_causal: bool, scale: float | None,
            saved: Any) -> Any:
    """P as the forward kept it, or recomputed from q and k (create_graph, where P must be a
    function of them)."""
    return _probs(q, k, mask, is_causal, scale) if isinstance(q, Tensor) or saved is None \
        else saved


def _grads(g: Any, q: Any, k: Any, v: Any, mask: Any, is_causal: bool, scale: float | None,
           saved: Any) -> Any:
    """∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)), ∇P = δVᵀ: the softmax's VJP, which the VJPs for q, k
    and a float mask each start from (a compiled backward computes it once for all three)."""
    p = _kept_p(q, k, mask, is_causal, scale, saved)
    dp = g @ either.swapaxes(v)
    return p * (dp - _row_sum(dp * p))


def _vjp_q(g, out, q, k, v, mask=None, is_causal=False, scale=None, saved=None):
    ds = _grads(g, q, k, v, mask, is_causal, scale, saved)
    return (ds @ k) * _scale(q, scale)


def _vjp_k(g, out, q, k, v, mask=None, is_causal=False, scale=None, saved=None):
    ds = _grads(g, q, k, v, mask, is_causal, scale, saved)
    return (either.swapaxes(ds) @ q) * _scale(q, scale)


def _vjp_v(g, out, q, k, v, mask=None, is_causal=False, scale=None, saved=None):
    return either.swapaxes(_kept_p(q, k, mask, is_causal, scale, saved)) @ g


def _vjp_mask(g, out, q, k, v, mask=None, is_causal=False, scale=None, saved=None):
    # a float mask is added to S; the engine sums ∇S over its broadcast axes
    return _grads(g, q, k, v, mask, is_causal, scale, saved)


SDPA = defop(
    _OP, _forward, _vjp_q, _vjp_k, _vjp_v, _vjp_mask,
    formula="O = softmax(QKᵀ/√d) V",
    grads=("∇S K/√d", "∇Sᵀ Q/√d", "Pᵀδ", "∇S = P ⊙ (∇P − rowsum(∇P ⊙ P))"),
    keeps=True,
    doc="softmax(QKᵀ/√E + mask) V, fused; PyTorch's masks and a zero row where nothing is allowed",
)


def scaled_dot_product_attention(q: Any, k: Any, v: Any, attn_mask: Any = None,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    r"""Attention, as ``torch.nn.functional.scaled_dot_product_attention`` (no dropout):
    `O = softmax(QKᵀ·scale + mask) V` with `scale = 1/√E` by default.

    Shapes: q (..., L, E), k (..., S, E), v (..., S, Ev) → (..., L, Ev); the batch axes
    broadcast. `attn_mask` broadcasts to (..., L, S): boolean (True = attend) or floating (added
    to the scores, and differentiable). `is_causal=True` lets query i attend to keys j ≤ i.

    A query row with no allowed key gives an output row of zeros and no gradient, as PyTorch.

    VJPs (δ = ∇O): ∇V = Pᵀδ, ∇P = δVᵀ, ∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)), ∇Q = ∇S K·scale,
    ∇K = ∇Sᵀ Q·scale, ∇mask = ∇S.
    """
    if attn_mask is None:
        return apply(SDPA, q, k, v, is_causal=bool(is_causal), scale=scale)
    m = attn_mask if isinstance(attn_mask, Tensor) else Tensor._wrap(np.asarray(attn_mask))
    return apply(SDPA, q, k, v, m, is_causal=bool(is_causal), scale=scale)
