r"""Activation functions g, with the derivatives g′ the lecture uses:
`∇a_k L = ∇h_k L ⊙ g′(a_k)`, written here as `δ ⊙ g′(a)` with δ = ∇h L."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import OUT, defop
from minigrad.tensor import Tensor


def stable_sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e⁻ᵃ) without overflow: only e^(−|a|) ≤ 1 is ever computed, so
    σ(1000) is exactly 1 and σ(−1000) exactly 0, with no warning."""
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z))


RELU = defop(
    "relu", lambda a: np.maximum(a, 0),
    lambda g, out, a: g * (either.value(a) > 0),  # relu'(0) = 0, as PyTorch
    role="activation",
    formula="h = relu(a)", grads=("δ ⊙ 1[a > 0]",),
    doc="max(a, 0); relu'(0) = 0",
    jvps=(("ȧ ⊙ 1[a > 0]", lambda t, out, a: t * (either.value(a) > 0)),),
)


def _leaky_forward(a: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    return np.where(a > 0, a, a * negative_slope)


LEAKY_RELU = defop(
    "leaky_relu", _leaky_forward,
    lambda g, out, a, negative_slope=0.01: g * np.where(
        either.value(a) > 0, 1.0, negative_slope).astype(either.value(a).dtype),
    role="activation",
    formula="h = leaky_relu(a)", grads=("δ ⊙ (1[a > 0] + α 1[a ≤ 0])",),
    doc="a for a > 0, else α a",
    jvps=(("ȧ ⊙ (1[a > 0] + α 1[a ≤ 0])", lambda t, out, a, negative_slope=0.01: t * np.where(
        either.value(a) > 0, 1.0, negative_slope).astype(either.value(a).dtype)),),
)
SIGMOID = defop(
    "sigmoid", stable_sigmoid,
    lambda g, out, a: g * out * (1.0 - out),
    role="activation",
    formula="h = σ(a)", grads=("δ ⊙ σ(1 − σ)",), saves=(OUT,),
    doc="logistic 1/(1+e⁻ᵃ), stable for any a",
    promote=True, to_float=True,
    jvps=(("ȧ ⊙ σ(1 − σ)", lambda t, out, a: t * out * (1.0 - out)),),
)
TANH = defop(
    "tanh", np.tanh,
    lambda g, out, a: g * (1.0 - out * out),
    role="activation",
    formula="h = tanh(a)", grads=("δ ⊙ (1 − h²)",), saves=(OUT,),
    doc="hyperbolic tangent",
    promote=True, to_float=True,
    jvps=(("ȧ ⊙ (1 − h²)", lambda t, out, a: t * (1.0 - out * out)),),
)


def _softplus_forward(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


SOFTPLUS = defop(
    "softplus", _softplus_forward,
    lambda g, out, a: g * either.sigmoid(a),
    role="activation",
    formula="h = log(1 + eᵃ)", grads=("δ ⊙ σ(a)",),
    doc="smooth relu, log(1 + eᵃ), stable for any a",
    jvps=(("ȧ ⊙ σ(a)", lambda t, out, a: t * either.sigmoid(a)),),
)

# gelu's tanh approximation, ½a(1 + tanh(√(2/π)(a + 0.044715a³)))
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_CUBIC = 0.044715


_SATURATED = 30.0  # tanh(√(2/π)(a + 0.044715a³)) is exactly ±1 beyond |a| ≈ 10


def _gelu_forward(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """h = ½a(1 + t) with t = tanh(√(2/π)(a + 0.044715a³)), and t, which the VJP keeps:
    gelu′(a) reads it, so backward does not compute the tanh again."""
    # In place on a few buffers: with a fresh array per step this is several times slower on
    # transformer-sized activations (each temporary is a new allocation that page-faults).
    # a·a·a, not a**3: numpy's power on float32 takes a slow general path. The cube is taken
    # of a clipped to where tanh still moves: at |a| = 1e300 it would overflow, while the
    # answer (a, or −0) is exact.
    c = np.clip(a, -_SATURATED, _SATURATED, out=np.empty_like(a))  # an array even for 0-d a
    t = np.multiply(c, c, out=np.empty_like(a))
    t *= _CUBIC
    t += 1.0
    t *= c
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)                  # t = tanh(√(2/π)(a + 0.044715a³))
    h = np.add(t, 1.0, out=c)          # c is read no more: h takes its buffer
    h *= a
    h *= 0.5
    return h, t


def _gelu_vjp(g: Any, out: Any, a: Any, saved: Any = None) -> Any:
    """δ ⊙ gelu′(a), gelu′(a) = ½(1 + t) + ½a(1 − t²)√(2/π)(1 + 3·0.044715a²), with t the
    forward's tanh (`saved`), or computed again when there is none (a JVP, or under
    create_graph, where t must be a function of a)."""
    if isinstance(a, np.ndarray) and isinstance(g, np.ndarray):
        return _gelu_vjp_array(g, a, saved)
    c = either.clip(a, -_SATURATED, _SATURATED)  # beyond it 1 − t² is 0 and a² would overflow
    t = either.tanh(_SQRT_2_OVER_PI * (c + _CUBIC * c * c * c))
    return g * (0.5 * (1.0 + t)
                + 0.5 * c * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * _CUBIC * c * c))


def _gelu_vjp_array(g: np.ndarray, a: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    """The VJP above on arrays, in place on a few buffers (see `_gelu_forward`); `t` the
    forward's tanh, computed again (the same calls, the same bits) when not given."""
    c = np.clip(a, -_SATURATED, _SATURATED, out=np.empty_like(a))  # arrays even for 0-d a
    a2 = np.multiply(c, c, out=np.empty_like(a))
    if t is None:
        t = np.multiply(a2, _CUBIC, out=np.empty_like(a))
        t += 1.0
        t *= c
        t *= _SQRT_2_OVER_PI
        np.tanh(t, out=t)              # t = tanh(√(2/π)(a + 0.044715a³))
    s = np.multiply(t, t, out=np.empty_like(a))
    np.subtract(1.0, s, out=s)         # 1 − t²
    a2 *= 3 * _CUBIC
    a2 += 1.0
    s *= a2
    s *= c
    s *= 0.5 * _SQRT_2_OVER_PI         # ½a(1 − t²)√(2/π)(1 + 3·0.044715a²)
    d = np.add(t, 1.0, out=a2)         # a2 is read no more; t stays as the forward kept it
    d *= 0.5
    d += s
    d *= g
    return d


GELU = defop(
    "gelu", _gelu_forward, _gelu_vjp,
    role="activation",
    formula="h = ½a(1 + tanh(√(2/π)(a + 0.044715a³)))", grads=("δ ⊙ gelu′(a)",),
    keeps=True,
    doc="GELU, tanh approximation",
    jvps=(("ȧ ⊙ gelu′(a)", _gelu_vjp),),  # elementwise: the VJP is the JVP
)


def relu(a: Any) -> Tensor:
    """`h = max(a, 0)`. ∇a = δ ⊙ 1[a > 0] (relu′(0) = 0)."""
    return apply(RELU, a)


def leaky_relu(a: Any, negative_slope: float = 0.01) -> Tensor:
    """`h = a` for a > 0, else `α a`. ∇a = δ ⊙ (1 or α)."""
    return apply(LEAKY_RELU, a, negative_slope=negative_slope)


def sigmoid(a: Any) -> Tensor:
    """`h = σ(a) = 1/(1 + e⁻ᵃ)`. ∇a = δ ⊙ σ(a)(1 − σ(a)). Exact 0 and 1 at ±1000."""
    return apply(SIGMOID, a)


def tanh(a: Any) -> Tensor:
    """`h = tanh(a)`. ∇a = δ ⊙ (1 − h²)."""
    return apply(TANH, a)


def softplus(a: Any) -> Tensor:
    """`h = log(1 + eᵃ)`. ∇a = δ ⊙ σ(a)."""
    return apply(SOFTPLUS, a)


def gelu(a: Any) -> Tensor:
    """GELU with the tanh approximation `½a(1 + tanh(√(2/π)(a + 0.044715a³)))`."""
    return apply(GELU, a)
