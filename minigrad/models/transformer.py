r"""`TinyTransformer`: a decoder-only transformer, small enough to train on a laptop CPU.

For a sequence of token indices i_1 … i_L:

    h⁰_t = E_tok[i_t] + E_pos[t]                               (embeddings)
    for each block:  h ← h + Attn(LN₁(h))                      (causal self-attention)
                     h ← h + W₂ gelu(W₁ LN₂(h) + b₁) + b₂      (MLP)
    logits_t = W_head LN_f(h_t) + b_head                        (next-token scores)

The layer norms come before each sub-layer (pre-LN, as GPT-2): the residual stream h is left
untouched by normalization, so the gradient reaches the embeddings through the sums of the
residual connections undiminished.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad
from minigrad import nn
from minigrad.tensor import DTypeLike, Tensor

__all__ = ["Residual", "Block", "TinyTransformer"]


class Residual(nn.Module):
    r"""The residual sum `h + f(h)`. It holds no parameters (the state_dict is unchanged);
    being a module, each sum is drawn as a box of its own in a diagram collapsed by module,
    between the sub-layer it closes and the next one."""

    def forward(self, h: Tensor, fh: Tensor) -> Tensor:
        return h + fh

    def describe(self) -> str:
        return "Residual(h + f(h))"


class Block(nn.Module):
    r"""One pre-LN transformer block: `h ← h + Attn(LN₁(h))`, then `h ← h + MLP(LN₂(h))`.

    Args:
        embed_dim: E, the width of the residual stream.
        num_heads: attention heads (E must be a multiple).
        mlp_ratio: the MLP's hidden width is mlp_ratio · E.
        dropout: dropout after the attention and the MLP in training (0: none).
        dtype: a floating dtype for the parameters.
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: int = 4, dropout: float = 0.0,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(embed_dim, dtype=dtype)
        self.attn = nn.CausalSelfAttention(embed_dim, num_heads, dropout=dropout, dtype=dtype)
        self.res_1 = Residual()
        self.ln_2 = nn.LayerNorm(embed_dim, dtype=dtype)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, mlp_ratio * embed_dim, dtype=dtype),
            nn.GELU(),
            nn.Linear(mlp_ratio * embed_dim, embed_dim, dtype=dtype),
            nn.Dropout(dropout),
        )
        self.res_2 = Residual()

    def forward(self, h: Tensor) -> Tensor:
        h = self.res_1(h, self.attn(self.ln_1(h)))
        return self.res_2(h, self.mlp(self.ln_2(h)))

    def describe(self) -> str:
        return f"Block(E={self.attn.embed_dim}, {self.attn.num_heads} heads)"


class TinyTransformer(nn.Module):
    r"""A decoder-only transformer over a vocabulary of `vocab_size` tokens.

    Args:
        vocab_size: the number of distinct tokens.
        block_size: the longest sequence it reads (the number of position embeddings).
        embed_dim: E, the width of every position's vector.
        num_heads: attention heads per block.
        num_layers: the number of blocks (at least 1).
        mlp_ratio: the MLP's hidden width is mlp_ratio · E.
        dropout: dropout in the blocks during training (0: none).
        dtype: a floating dtype for the parameters (float32 by default).

    Shapes:
        integer tokens (..., L) with L ≤ block_size → logits (..., L, vocab_size); the logits
        at position t score the token at t + 1.
    """

    def __init__(self, vocab_size: int, block_size: int, embed_dim: int = 64,
                 num_heads: int = 4, num_layers: int = 2, mlp_ratio: int = 4,
                 dropout: float = 0.0, dtype: DTypeLike = None) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"TinyTransformer: num_layers must be at least 1, got {num_layers}")
        self.vocab_size, self.block_size = vocab_size, block_size
        self.tok_emb = nn.Embedding(vocab_size, embed_dim, dtype=dtype)
        self.pos_emb = nn.Embedding(block_size, embed_dim, dtype=dtype)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, dropout, dtype)
                                      for _ in range(num_layers)])
        self.ln_f = nn.LayerNorm(embed_dim, dtype=dtype)
        self.head = nn.Linear(embed_dim, vocab_size, dtype=dtype)

    def forward(self, tokens: Any) -> Tensor:
        idx = tokens.data if isinstance(tokens, Tensor) else np.asarray(tokens)
        L = idx.shape[-1] if idx.ndim else 0
        if idx.ndim < 1 or not 1 <= L <= self.block_size:
            raise ValueError(f"TinyTransformer: tokens of shape {idx.shape} do not fit: the last "
                             f"axis is the sequence, of length 1 … block_size={self.block_size}")
        # named, so that diagrams label the two inputs
        tokens = minigrad.tensor(idx, name="tokens")
        positions = minigrad.tensor(np.arange(L), name="positions")
        h = self.tok_emb(tokens) + self.pos_emb(positions)
        return self.head(self.ln_f(self.blocks(h)))

    def generate(self, tokens: np.ndarray, n: int) -> np.ndarray:
        """Appends `n` tokens, each the most likely next one (greedy decoding)."""
        seq = np.asarray(tokens)
        with minigrad.no_grad():
            for _ in range(n):
                logits = self(seq[..., -self.block_size:])
                nxt = logits.data[..., -1, :].argmax(axis=-1)
                seq = np.concatenate([seq, nxt[..., None]], axis=-1)
        return seq

    def describe(self) -> str:
        return (f"TinyTransformer({len(self.blocks)} blocks, E={self.tok_emb.embedding_dim}, "
                f"vocab {self.vocab_size})")
