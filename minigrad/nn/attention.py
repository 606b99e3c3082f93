r"""`CausalSelfAttention`: multi-head self-attention where position t sees positions ≤ t, the
attention layer of a decoder-only transformer (see `minigrad.ops.attention` for the VJPs)."""

from __future__ import annotations

import math

import numpy as np

from minigrad import functional as F
from minigrad.creation import generator
from minigrad.nn import init as _init
from minigrad.nn.layers import Linear, _float_dtype, _positive_int
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import DTypeLike, Tensor

__all__ = ["CausalSelfAttention"]


class CausalSelfAttention(Module):
    r"""Causal multi-head self-attention on a sequence of embeddings X (L × E):

        [Q K V] = X W_inᵀ + b_in,  split into H heads of size d = E/H,
        O_h = softmax(Q_h K_hᵀ/√d + causal mask) V_h,   Y = [O_1 … O_H] W_outᵀ + b_out

    The causal mask lets position t attend to positions ≤ t only, so a model trained to
    predict token t+1 from position t cannot peek at it.

    The parameters have the names, shapes and default initialisation of
    ``torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)``: ``in_proj_weight``
    (3E × E, Xavier uniform; the rows of W_Q, W_K, W_V stacked), ``in_proj_bias`` (zeros),
    ``out_proj.weight`` (E × E, `U(−1/√E, 1/√E)`) and ``out_proj.bias`` (zeros). So a PyTorch
    MultiheadAttention's state_dict loads, and ``attn(x)`` equals
    ``mha(x, x, x, attn_mask=causal, need_weights=False)[0]``.

    Args:
        embed_dim: E, the size of each position's vector.
        num_heads: H; E must be a multiple of H.
        dropout: probability of dropping entries of the output in training (0: none). Unlike
            MultiheadAttention's, which drops attention weights, it acts after the projection.
        bias: whether the projections add biases.
        dtype: a floating dtype for the parameters (float32 by default).

    Shapes:
        input (..., L, E) → output (..., L, E).
    """

    in_proj_weight: Parameter
    in_proj_bias: Parameter | None
    out_proj: Linear

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        E = _positive_int("CausalSelfAttention", "embed_dim", embed_dim)
        H = _positive_int("CausalSelfAttention", "num_heads", num_heads)
        if E % H:
            raise ValueError(f"CausalSelfAttention: embed_dim {E} must be divisible by "
                             f"num_heads {H} (each head gets embed_dim / num_heads features)")
        if isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ValueError(f"CausalSelfAttention: dropout must lie in [0, 1), got {dropout!r}")
        dt = _float_dtype("CausalSelfAttention", dtype)
        self.embed_dim, self.num_heads, self.head_dim = E, H, E // H
        self.dropout = float(dropout)
        self.in_proj_weight = Parameter(np.empty((3 * E, E), dtype=dt))
        _init.xavier_uniform_(self.in_proj_weight)
        self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dt)) if bias else None
        self.out_proj = Linear(E, E, bias=bias, dtype=dt)
        r = 1.0 / math.sqrt(E)  # PyTorch's default for a Linear's weight
        np.copyto(self.out_proj.weight.data, generator().uniform(-r, r, size=(E, E)),
                  casting="same_kind")

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"CausalSelfAttention: input of shape {x.shape} does not fit "
                             f"embed_dim={self.embed_dim}; expected (..., L, {self.embed_dim})")
        *batch, L, E = x.shape
        nb = len(batch)
        H, d = self.num_heads, self.head_dim
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        # (..., L, 3, H, d) → (3, ..., H, L, d): one array holding Q, K and V, head by head
        qkv = qkv.reshape((*batch, L, 3, H, d)).permute(
            (nb + 1, *range(nb), nb + 2, nb, nb + 3))
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        o = o.transpose(nb, nb + 1).reshape((*batch, L, E))
        return F.dropout(self.out_proj(o), self.dropout, self.training)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, bias={self.in_proj_bias is not None}")

    def describe(self) -> str:
        return f"CausalSelfAttention({self.embed_dim}, {self.num_heads} heads)"
