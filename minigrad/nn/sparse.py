r"""`Embedding`: a learned vector per token, `h = E[i]` (see `minigrad.ops.embedding`)."""

from __future__ import annotations

import numpy as np

from minigrad import functional as F
from minigrad.creation import generator
from minigrad.nn.layers import _float_dtype, _positive_int
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import DTypeLike, Tensor

__all__ = ["Embedding"]


class Embedding(Module):
    r"""A lookup table, as ``torch.nn.Embedding``: ``weight`` (num_embeddings × embedding_dim)
    holds one row per index and `h = E[i]`. The gradient adds each δ row to the row it came
    from (`∇E[j] = Σ_{p: i_p = j} δ_p`).

    The weight starts as `N(0, 1)`, PyTorch's default, drawn from the generator that
    `minigrad.manual_seed` seeds.

    Args:
        num_embeddings: the number of rows (the vocabulary size).
        embedding_dim: the size of each row.
        dtype: a floating dtype for the weight (float32 by default).

    Shapes:
        integer input (...) → output (..., embedding_dim).
    """

    weight: Parameter

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        self.num_embeddings = _positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("Embedding", "embedding_dim", embedding_dim)
        dt = _float_dtype("Embedding", dtype)
        self.weight = Parameter(generator().standard_normal(
            (self.num_embeddings, self.embedding_dim)).astype(dt))

    def forward(self, indices: Tensor | np.ndarray) -> Tensor:
        return F.embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"

    def describe(self) -> str:
        return f"Embedding({self.num_embeddings}→{self.embedding_dim})"
