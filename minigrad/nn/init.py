r"""Weight initialisation, in place, from the seeded generator (`minigrad.manual_seed`).

For a weight `W_k` of shape (n_k, n_{k−1}) = (fan_out, fan_in):

* Xavier/Glorot uniform: `W_k[i, j] ~ U(−r, r)` with `r = √(6 / (fan_in + fan_out))`, so
  `Var W = 2 / (fan_in + fan_out)`: activations and gradients keep roughly the same variance
  forward and backward through tanh/sigmoid layers near 0.
* He/Kaiming normal: `W_k[i, j] ~ N(0, 2 / fan_in)`: relu zeroes half of `a_k` on average,
  and the factor 2 makes up for it, so `Var a_k` stays constant from layer to layer.
"""

from __future__ import annotations

import math

import numpy as np

from minigrad.creation import generator
from minigrad.tensor import Tensor

__all__ = [
    "fans", "xavier_uniform_", "he_normal_", "kaiming_normal_", "kaiming_uniform_", "uniform_",
    "zeros_", "INITS",
]

INITS = ("auto", "xavier", "glorot", "he", "kaiming")
"""The `init` names `Linear` and `MLP` accept ("auto" means Xavier for a lone Linear)."""


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (out_features, in_features)."""
    if len(shape) < 2:
        raise ValueError(f"fan_in/fan_out need a weight with at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _write(t: Tensor, values: np.ndarray) -> Tensor:
    np.copyto(t.data, values, casting="same_kind")
    t._version.n += 1
    return t


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    r"""Fills `t` with `U(−r, r)`, `r = gain · √(6 / (fan_in + fan_out))`; returns `t`."""
    fan_in, fan_out = fans(t.shape)
    r = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _write(t, generator().uniform(-r, r, size=t.shape))


def he_normal_(t: Tensor) -> Tensor:
    r"""Fills `t` with `N(0, 2 / fan_in)` (standard deviation `√(2 / fan_in)`); returns `t`."""
    fan_in, _ = fans(t.shape)
    return _write(t, generator().normal(0.0, math.sqrt(2.0 / fan_in), size=t.shape))


kaiming_normal_ = he_normal_


def kaiming_uniform_(t: Tensor, a: float = 0.0) -> Tensor:
    r"""Fills `t` with `U(−r, r)`, `r = √(6 / ((1 + a²) · fan_in))` (PyTorch's He uniform for
    a leaky relu of slope a); returns `t`. With a = √5, PyTorch's default for convolution and
    dense layers, `r = 1/√fan_in`."""
    fan_in, _ = fans(t.shape)
    r = math.sqrt(6.0 / ((1.0 + a * a) * fan_in))
    return _write(t, generator().uniform(-r, r, size=t.shape))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fills `t` with `U(a, b)`; returns `t`."""
    return _write(t, generator().uniform(a, b, size=t.shape))


def zeros_(t: Tensor) -> Tensor:
    """Fills `t` with zeros; returns `t`."""
    t.data.fill(0)
    t._version.n += 1
    return t
