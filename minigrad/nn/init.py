r"""Weight initialisation, in place, as ``torch.nn.init``: each function fills its tensor
from the `minigrad.Generator` passed as ``generator=``, or else from the default generator
that `minigrad.manual_seed` seeds, and returns the tensor.

For a weight `W_k` of shape (n_k, n_{k−1}) = (fan_out, fan_in):

* Xavier/Glorot uniform: `W_k[i, j] ~ U(−r, r)` with `r = √(6 / (fan_in + fan_out))`, so
  `Var W = 2 / (fan_in + fan_out)`: activations and gradients keep roughly the same variance
  forward and backward through tanh/sigmoid layers near 0.
* He/Kaiming normal: `W_k[i, j] ~ N(0, 2 / fan_in)`: relu zeroes half of `a_k` on average,
  and the factor 2 makes up for it, so `Var a_k` stays constant from layer to layer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.creation import Generator
from minigrad.creation import generator as numpy_rng
from minigrad.tensor import Tensor

__all__ = [
    "fans", "calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "he_normal_",
    "trunc_normal_", "INITS",
]

INITS = ("auto", "xavier", "glorot", "he", "kaiming")
"""The `init` names `Linear` and `MLP` accept ("auto" means Xavier for a lone Linear)."""


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (out_features, in_features)."""
    if len(shape) < 2:
        raise ValueError(f"fan_in/fan_out need a weight with at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps a nonlinearity's output variance, as ``torch.nn.init``'s: 1 for
    linear and sigmoid, 5/3 for tanh, √2 for relu, √(2/(1 + slope²)) for leaky_relu
    (slope `param`, 0.01 by default), 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _write(t: Tensor, values: Any) -> Tensor:
    np.copyto(t.data, values, casting="same_kind")
    t._version.n += 1
    return t


def _fan(t: Tensor, mode: str) -> int:
    fan_in, fan_out = fans(t.shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    """Fills `t` with `U(a, b)`; returns `t`."""
    return _write(t, numpy_rng(generator).uniform(a, b, size=t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Fills `t` with `N(mean, std²)`; returns `t`."""
    return _write(t, numpy_rng(generator).normal(mean, std, size=t.shape))


def trunc_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator | None = None) -> Tensor:
    """Fills `t` with `N(mean, std²)` redrawn until every value lies in [a, b]."""
    rng = numpy_rng(generator)
    v = rng.normal(mean, std, size=t.shape)
    bad = (v < a) | (v > b)
    while bad.any():
        v[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (v < a) | (v > b)
    return _write(t, v)


def constant_(t: Tensor, val: float) -> Tensor:
    """Fills `t` with `val`; returns `t`."""
    return _write(t, val)


def zeros_(t: Tensor) -> Tensor:
    """Fills `t` with zeros; returns `t`."""
    return _write(t, 0)


def ones_(t: Tensor) -> Tensor:
    """Fills `t` with ones; returns `t`."""
    return _write(t, 1)


def eye_(t: Tensor) -> Tensor:
    """Fills a 2-D `t` with the identity matrix; returns `t`."""
    if t.ndim != 2:
        raise ValueError(f"eye_: needs a 2-D tensor, got shape {t.shape}")
    return _write(t, np.eye(t.shape[0], t.shape[1]))


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    r"""Fills `t` with `U(−r, r)`, `r = gain · √(6 / (fan_in + fan_out))`; returns `t`."""
    fan_in, fan_out = fans(t.shape)
    r = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _write(t, numpy_rng(generator).uniform(-r, r, size=t.shape))


def xavier_normal_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    r"""Fills `t` with `N(0, s²)`, `s = gain · √(2 / (fan_in + fan_out))`; returns `t`."""
    fan_in, fan_out = fans(t.shape)
    s = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _write(t, numpy_rng(generator).normal(0.0, s, size=t.shape))


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    r"""Fills `t` with `U(−r, r)`, `r = gain · √(3 / fan)` with the gain of `nonlinearity`
    (for the default leaky relu of slope a, `r = √(6 / ((1 + a²) · fan_in))`); returns `t`.
    With a = √5, PyTorch's default for convolution and dense layers, `r = 1/√fan_in`."""
    r = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(t, mode))
    return _write(t, numpy_rng(generator).uniform(-r, r, size=t.shape))


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    r"""Fills `t` with `N(0, s²)`, `s = gain / √fan`: with the defaults (a relu-like leaky
    relu of slope 0) `N(0, 2 / fan_in)`, He's initialisation; returns `t`."""
    s = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))
    return _write(t, numpy_rng(generator).normal(0.0, s, size=t.shape))


def he_normal_(t: Tensor, generator: Generator | None = None) -> Tensor:
    r"""Fills `t` with `N(0, 2 / fan_in)` (standard deviation `√(2 / fan_in)`); returns `t`."""
    fan_in, _ = fans(t.shape)
    return _write(t, numpy_rng(generator).normal(0.0, math.sqrt(2.0 / fan_in), size=t.shape))
