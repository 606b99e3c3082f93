r"""Dense layers and their activations: ``a = b + W h`` and ``h = g(a)``, forward and backward.

The lecture's single step, for one example as column vectors::

    a_k = b_k + W_k h_{k−1}            h_k = g(a_k)
    ∇W_k L = δ_k · h_{k−1}ᵀ             ∇b_k L = δ_k
    ∇h_{k−1} L = W_kᵀ · δ_k             ∇a_k L = ∇h_k L ⊙ g′(a_k)

with ``δ_k = ∇a_k L``. Derivation of ∇W (the lecture's steps 1–4): ``a_ki = b_ki + Σ_j W_kij
h_{k−1,j}``, so ``∂a_ki/∂W_kij = h_{k−1,j}`` and ``∂L/∂W_kij = δ_ki h_{k−1,j}``: entry (i, j) of
the outer product ``δ_k h_{k−1}ᵀ``. Likewise ``∂a_ki/∂b_ki = 1`` gives ``∇b_k = δ_k`` and
``∂a_ki/∂h_{k−1,j} = W_kij`` summed over i gives ``∇h_{k−1} = W_kᵀ δ_k``.

A batch of N examples stacked as rows (minigrad's and PyTorch's layout: ``A = H Wᵀ + b``, H of
shape ``N × n_{k−1}``, Δ of shape ``N × n_k``): the per-example outer products add up,
``∇W = Σ_i δ_i h_iᵀ = Δᵀ H``, ``∇b = Σ_i δ_i``, and ``∇H = Δ W`` (row i is ``(W_kᵀ δ_i)ᵀ``).
`linear_forward` and `linear_backward` are these batch forms; the activations act elementwise,
so their backward is ``∇a = ∇h ⊙ g′(a)`` whatever the shape.

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from minigrad.reference.slips import Slip

__all__ = [
    "ACTIVATIONS", "DERIVATIVES", "SLIPS", "Activation", "ActivationSpec", "activation_backward",
    "activation_forward", "gelu", "gelu_prime", "leaky_relu", "leaky_relu_prime", "linear",
    "linear_backward", "linear_forward", "linear_prime", "relu", "relu_prime", "sigmoid",
    "sigmoid_prime", "softplus", "softplus_prime", "tanh_prime",
]

# --------------------------------------------------------------------------- g and g′
def sigmoid(a: np.ndarray) -> np.ndarray:
    """``σ(a) = 1 / (1 + e⁻ᵃ)``, computed from ``e^(−|a|)`` only, so it never overflows."""
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_prime(a: np.ndarray) -> np.ndarray:
    """``σ′(a) = σ(a)(1 − σ(a))``."""
    s = sigmoid(a)
    return s * (1.0 - s)


def tanh_prime(a: np.ndarray) -> np.ndarray:
    """``tanh′(a) = 1 − tanh²(a)``."""
    return 1.0 - np.tanh(a) ** 2


def relu(a: np.ndarray) -> np.ndarray:
    """``relu(a) = max(a, 0)``."""
    return np.maximum(a, 0.0)


def relu_prime(a: np.ndarray) -> np.ndarray:
    """``relu′(a) = 1[a > 0]``; at the kink ``relu′(0) = 0``, as minigrad and PyTorch."""
    return (a > 0).astype(np.float64)


def linear(a: np.ndarray) -> np.ndarray:
    """``g(a) = a``: no activation."""
    return a


def linear_prime(a: np.ndarray) -> np.ndarray:
    """``g′(a) = 1``."""
    return np.ones_like(a)


def leaky_relu(a: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``g(a) = a`` for ``a > 0``, else ``α a``."""
    return np.where(a > 0, a, negative_slope * a)


def leaky_relu_prime(a: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``g′(a) = 1[a > 0] + α 1[a ≤ 0]`` (α at the kink, as minigrad)."""
    return np.where(a > 0, 1.0, negative_slope)


def softplus(a: np.ndarray) -> np.ndarray:
    """``g(a) = log(1 + eᵃ)``, written as ``max(a, 0) + log(1 + e^(−|a|))`` to avoid overflow."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def softplus_prime(a: np.ndarray) -> np.ndarray:
    """``g′(a) = σ(a)``."""
    return sigmoid(a)


_C, _K = math.sqrt(2.0 / math.pi), 0.044715


def gelu(a: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation: ``g(a) = ½a(1 + tanh(c(a + k a³)))``, c = √(2/π), k = 0.044715."""
    return 0.5 * a * (1.0 + np.tanh(_C * (a + _K * a**3)))


def gelu_prime(a: np.ndarray) -> np.ndarray:
    """``g′(a) = ½(1 + t) + ½a(1 − t²) c (1 + 3k a²)`` with ``t = tanh(c(a + k a³))``."""
    t = np.tanh(_C * (a + _K * a**3))
    return 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * _C * (1.0 + 3 * _K * a * a)


# The rulebook, as data: the forward and the backward look a name up here when they run, so a
# test can swap one entry (say, a wrong g′ for sigmoid) and watch `compare` flag it.
ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": relu,
    "linear": linear,
    "leaky_relu": leaky_relu,
    "softplus": softplus,
    "gelu": gelu,
}
DERIVATIVES: dict[str, Callable[..., np.ndarray]] = {
    "sigmoid": sigmoid_prime,
    "tanh": tanh_prime,
    "relu": relu_prime,
    "linear": linear_prime,
    "leaky_relu": leaky_relu_prime,
    "softplus": softplus_prime,
    "gelu": gelu_prime,
}


# The slips one makes in g′, as the wrong rules they amount to: ``vjp(δ, h, a)`` gives the
# ∇a that rule sends (`minigrad.reference.slips`). Keyed by the registry's op names.
SLIPS: dict[str, tuple[Slip, ...]] = {
    "sigmoid": (
        Slip("σ(a) for σ′(a) = σ(a)(1 − σ(a))", lambda g, h, a: g * h),
        Slip("σ(a)(1 − a) for σ(a)(1 − σ(a))", lambda g, h, a: g * h * (1 - a)),
    ),
    "tanh": (
        Slip("1 − tanh(a) for 1 − tanh²(a)", lambda g, h, a: g * (1 - h)),
        Slip("tanh(a) for 1 − tanh²(a)", lambda g, h, a: g * h),
        Slip("1 − a² (the input squared) for 1 − tanh²(a)", lambda g, h, a: g * (1 - a * a)),
    ),
    "relu": (
        Slip("the mask 1[a ≥ 0] for 1[a > 0] (it lets δ through where a = 0)",
             lambda g, h, a: g * (a >= 0)),
    ),
}


@dataclass
class Activation:
    """One hidden layer's g, by name, with its parameters (``leaky_relu``: ``negative_slope``).

    A plain name (``"sigmoid"``) may stand for ``Activation("sigmoid")`` everywhere.
    """

    name: str
    params: dict[str, float] = field(default_factory=dict)

    def g(self, a: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.name](a, **self.params)

    def g_prime(self, a: np.ndarray) -> np.ndarray:
        return DERIVATIVES[self.name](a, **self.params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({args})" if args else self.name


ActivationSpec = str | Activation | Sequence[str | Activation]


def hidden_activations(activation: ActivationSpec, L: int) -> list[Activation]:
    """One `Activation` per hidden layer ``k = 1 … L−1``."""
    specs: list[str | Activation]
    if isinstance(activation, (str, Activation)):
        specs = [activation] * (L - 1)
    else:
        specs = list(activation)
        if len(specs) != L - 1:
            raise ValueError(
                f"activation: {L} layers have {L - 1} hidden layers, so give one activation or "
                f"{L - 1} of them, not {len(specs)}"
            )
    out = [s if isinstance(s, Activation) else Activation(s) for s in specs]
    for s in out:
        if s.name not in ACTIVATIONS or s.name not in DERIVATIVES:
            raise ValueError(
                f"activation: unknown g {s.name!r}; choose one of {sorted(ACTIVATIONS)}"
            )
    return out


# --------------------------------------------------------------------------- batch forms
def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``A = H Wᵀ + b``: the rows of x are the examples' ``h_{k−1}ᵀ``, any leading axes
    (``(…, n_{k−1})`` → ``(…, n_k)``), W of shape ``n_k × n_{k−1}``."""
    a = x @ W.T
    return a if b is None else a + b


def linear_backward(
    delta: np.ndarray, x: np.ndarray, W: np.ndarray, bias: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(∇h_{k−1}, ∇W_k, ∇b_k) = (Δ W, Δᵀ H, Σ_i δ_i)`` for rows δ_i of ``∇a_k``.

    Leading axes beyond the last are examples too (a sequence of tokens): they are flattened
    into rows, so ``∇W = Σ_rows δ hᵀ`` over every position."""
    D = delta.reshape(-1, delta.shape[-1])
    H = x.reshape(-1, x.shape[-1])
    dW = D.T @ H  # Σ_i δ_i h_iᵀ, the outer products of the lecture added up
    db = D.sum(axis=0) if bias else None
    dx = delta @ W
    return dx, dW, db


def activation_forward(g: str | Activation, a: np.ndarray) -> np.ndarray:
    """``h = g(a)``, elementwise."""
    return (g if isinstance(g, Activation) else Activation(g)).g(a)


def activation_backward(g: str | Activation, delta_h: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``∇a = ∇h ⊙ g′(a)``, elementwise."""
    return delta_h * (g if isinstance(g, Activation) else Activation(g)).g_prime(a)
