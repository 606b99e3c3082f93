r"""Embedding lookup: row `i` of a weight matrix E (num_embeddings × embedding_dim) for each
index i. As a product it is `h = E ᵀe(i)` with a one-hot e(i), so `∇E = Σ e(i) δᵀ`: each δ
row is added to the row of E it came from, and an index used twice collects both δ rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor

__all__ = ["embedding", "EmbeddingIndexError"]


class EmbeddingIndexError(IndexError, ValueError):
    """An index outside [0, num_embeddings): an IndexError as in PyTorch, and a ValueError
    like the other bad-value errors of minigrad."""


def _forward(indices: np.ndarray, weight: np.ndarray) -> np.ndarray:
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be integers, got dtype {indices.dtype} (shape "
            f"{indices.shape}); convert them with .astype('int64')"
        )
    if weight.ndim != 2:
        raise ValueError(
            f"embedding: weight must have shape (num_embeddings, embedding_dim), got "
            f"{weight.shape}"
        )
    n = weight.shape[0]
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise EmbeddingIndexError(
                f"embedding: index {bad} is out of range for num_embeddings={n} (weight of "
                f"shape {weight.shape}); indices must lie in [0, {n - 1}]"
            )
    return weight[indices]


def _vjp_weight(g: Any, out: Any, indices: Any, weight: Any) -> Any:
    return either.scatter_add(g, either.value(indices), tuple(weight.shape))


EMBEDDING = defop(
    "embedding", _forward, None, _vjp_weight,
    formula="h = E[i]", grads=("—", "δ rows added to E[i] (repeats add)"), saves=(0,),
    doc="row lookup in a weight matrix (token embeddings)",
    jvps=(None, ("Ė[i]", lambda t, out, indices, weight: embedding(indices, t))),
)


def embedding(indices: Any, weight: Any) -> Tensor:
    r"""Rows of `weight` picked by integer `indices`, as ``torch.nn.functional.embedding``.

    Shapes: indices (...) and weight (num_embeddings, embedding_dim) → (..., embedding_dim).
    The VJP scatter-adds δ into the rows: `∇E[j] = Σ_{positions p with i_p = j} δ_p`.

    Raises:
        EmbeddingIndexError: an index lies outside [0, num_embeddings) (negative ones too).
        TypeError: the indices are not integers.
    """
    if not isinstance(indices, Tensor):
        indices = Tensor._wrap(np.asarray(indices))
    return apply(EMBEDDING, indices, weight)
