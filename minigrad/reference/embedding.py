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

from typing import Any

import numpy as np

from minigrad.reference.slips import Slip

__all__ = ["SLIPS", "embedding_backward", "embedding_forward"]


def embedding_forward(indices: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``h = W[t]`` for every index t: shape ``indices.shape + (d,)``."""
    return W[np.asarray(indices)]


def embedding_backward(delta: np.ndarray, indices: np.ndarray, num_embeddings: int) -> np.ndarray:
    """``∇W``: the δ rows added at their indices (repeated indices add up)."""
    idx = np.asarray(indices).reshape(-1)
    dW = np.zeros((num_embeddings, delta.shape[-1]), dtype=delta.dtype)
    np.add.at(dW, idx, delta.reshape(-1, delta.shape[-1]))  # add.at, not +=: repeats add
    return dW


def _assigned(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """δ written at the indices with ``dW[i] = δ`` (or ``dW[i] += δ``, which numpy buffers
    the same way): an index that appears twice keeps one δ row, not their sum."""
    dW = np.zeros(shape, dtype=np.asarray(g).dtype)
    dW[index] = g
    return dW


# The slip of the embedding's backward (`minigrad.reference.slips`): ``dC[Xb] += demb``, which
# keeps one row per repeated index. Keyed by the registry's op names: the embedding op, and
# indexing (``C[Xb]``), whose backward is the same scatter.
SLIPS: dict[str, tuple[Slip, ...]] = {
    "embedding": (Slip("dW[i] = δ (or dW[i] += δ), where a repeated index must add up its "
                       "rows (np.add.at)",
                       lambda g, out, idx, W: _assigned(g, np.asarray(idx), W.shape), 1),),
    "getitem": (Slip("dx[i] = δ (or dx[i] += δ), where a repeated index must add up its rows "
                     "(np.add.at)", lambda g, out, x, index: _assigned(g, index, x.shape)),),
}
