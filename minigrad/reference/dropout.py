r"""Dropout (inverted), forward and backward, derived by hand.

In training each element is kept with probability 1 − p and the kept ones are scaled by
``1/(1 − p)``, so the expected output is x: with the mask m (1 kept, 0 dropped),
``y = x ⊙ m / (1 − p)``. Given m, that is a constant elementwise product, so
``∇x = δ ⊙ m / (1 − p)``: the dropped elements get no gradient. In evaluation dropout is the
identity and ``∇x = δ``.

The mask is random; a formula can only be checked against the same mask, which a comparison
reads off the forward's output (`mask_from_output`).

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dropout_backward", "dropout_forward", "mask_from_output"]


def dropout_forward(x: np.ndarray, mask: np.ndarray, p: float, training: bool = True
                    ) -> np.ndarray:
    """``y = x ⊙ m / (1 − p)`` in training, ``y = x`` otherwise."""
    if not training or p == 0:
        return x
    return x * mask / (1.0 - p)


def dropout_backward(delta: np.ndarray, mask: np.ndarray, p: float, training: bool = True
                     ) -> np.ndarray:
    """``∇x = δ ⊙ m / (1 − p)`` in training, ``δ`` otherwise."""
    if not training or p == 0:
        return delta
    return delta * mask / (1.0 - p)


def mask_from_output(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The mask a forward used, read off its output: kept where y ≠ 0. Where x is exactly 0
    the output is 0 either way and the mask cannot be told; those count as kept."""
    return ((y != 0) | (x == 0)).astype(x.dtype)
