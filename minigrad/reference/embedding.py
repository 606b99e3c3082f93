r"""Embedding, forward and backward, derived by hand.

An embedding is a table W of shape ``(num_embeddings, d)``; index t picks row t:
``h = W[t]``. Equivalently ``h = Wᵀ e(t)``, a linear layer on the one-hot vector e(t), so the
lecture's ``∇W = δ·hᵀ`` becomes ``∇W = e(t) δᵀ``: the row δ added to row t of ∇W, nothing
elsewhere. Over a batch of indices (any shape), each position adds its δ row at its index,
and an index seen twice collects both::

    ∇W[t] = Σ_{positions i with t_i = t} δ_i

The indices are integers: they have no gradient.

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["embedding_backward", "embedding_forward"]


def embedding_forward(indices: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``h = W[t]`` for every index t: shape ``indices.shape + (d,)``."""
    return W[np.asarray(indices)]


def embedding_backward(delta: np.ndarray, indices: np.ndarray, num_embeddings: int) -> np.ndarray:
    """``∇W``: the δ rows added at their indices (repeated indices add up)."""
    idx = np.asarray(indices).reshape(-1)
    dW = np.zeros((num_embeddings, delta.shape[-1]), dtype=delta.dtype)
    np.add.at(dW, idx, delta.reshape(-1, delta.shape[-1]))  # add.at, not +=: repeats add
    return dW
