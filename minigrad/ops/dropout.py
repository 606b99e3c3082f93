r"""Inverted dropout: `h = m ⊙ a / (1 − p)` with a keep-mask `m_i ~ Bernoulli(1 − p)`, so
`E[h] = a`. The mask is an input of the op (drawn by `dropout` from the generator that
`minigrad.manual_seed` seeds), so the op itself is deterministic and gradcheckable:
`∇a = m ⊙ δ / (1 − p)`."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.creation import Generator
from minigrad.creation import generator as numpy_rng
from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor

__all__ = ["dropout"]


def _scaled(mask: np.ndarray, p: float, dtype: Any) -> np.ndarray:
    scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)  # p = 1 drops everything, as PyTorch
    return mask.astype(dtype) * np.asarray(scale, dtype=dtype)


def _forward(x: np.ndarray, mask: np.ndarray, p: float = 0.5) -> np.ndarray:
    if mask.dtype != np.bool_:
        raise TypeError(f"dropout: the keep-mask must be boolean, got dtype {mask.dtype}")
    return x * _scaled(mask, p, x.dtype)


def _vjp_x(g: Any, out: Any, x: Any, mask: Any, p: float = 0.5) -> Any:
    return g * _scaled(either.value(mask), p, either.value(g).dtype)


DROPOUT = defop(
    "dropout", _forward, _vjp_x, None,
    formula="h = m ⊙ a / (1 − p)", grads=("m ⊙ δ / (1 − p)", "—"), saves=(1,),
    doc="inverted dropout with a given keep-mask m",
    jvps=(("m ⊙ ȧ / (1 − p)", _vjp_x), None),  # elementwise: the VJP is the JVP
)


def dropout(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False, *,
            generator: Generator | None = None) -> Tensor:
    r"""Inverted dropout, as ``torch.nn.functional.dropout``: in training each entry is
    dropped with probability p and the kept ones scaled by 1/(1 − p), `h = m ⊙ a / (1 − p)`;
    otherwise (or with p = 0) x is returned unchanged. ∇a = m ⊙ δ / (1 − p).

    The mask comes from `generator`, or else from the default generator that
    `minigrad.manual_seed` seeds.

    Args:
        x: the input.
        p: the probability of dropping each entry, in [0, 1] (p = 1 gives zeros).
        training: apply dropout (True) or return x (False).
        inplace: write the result into x (PyTorch's ``inplace=True``).
        generator: a `minigrad.Generator` to draw the mask from.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must lie in [0, 1], got {p!r}")
    if not training or p == 0:
        return x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    keep = numpy_rng(generator).random(data.shape) >= p
    out = apply(DROPOUT, x, keep, p=float(p))
    return x.copy_(out) if inplace and isinstance(x, Tensor) else out
