r"""Activation modules `h_k = g(a_k)`, each a thin wrapper over its functional op.

The backward pass through each is the lecture's `∇a_k L = ∇h_k L ⊙ g′(a_k)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.tensor import Tensor

__all__ = [
    "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "GELU", "Softplus", "Identity", "Softmax",
    "ACTIVATIONS",
]


class _Elementwise(Module):
    r"""An activation without parameters, `h = g(a)` element by element: a subclass names
    its functional op in its class statement, ``class ReLU(_Elementwise, g=F.relu)``."""

    _g: Callable[[Tensor], Tensor]

    def __init_subclass__(cls, g: Callable[[Tensor], Tensor] | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if g is not None:
            cls._g = staticmethod(g)

    def forward(self, a: Tensor) -> Tensor:
        return self._g(a)


class ReLU(_Elementwise, g=F.relu):
    r"""`h = max(a, 0)`; `g′(a) = 1[a > 0]` (0 at the kink, as PyTorch)."""


class Tanh(_Elementwise, g=F.tanh):
    r"""`h = tanh(a)`; `g′(a) = 1 − h²`."""


class Sigmoid(_Elementwise, g=F.sigmoid):
    r"""`h = σ(a) = 1 / (1 + e⁻ᵃ)`; `g′(a) = σ(a)(1 − σ(a))`."""


class LeakyReLU(Module):
    r"""`h = a` for `a > 0`, else `α a`; `g′(a) = 1` or `α`.

    Args:
        negative_slope: α, the slope for negative inputs.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, a: Tensor) -> Tensor:
        return F.leaky_relu(a, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(_Elementwise, g=F.gelu):
    r"""`h = ½a(1 + tanh(√(2/π)(a + 0.044715a³)))`, the tanh approximation of GELU."""


class Softplus(_Elementwise, g=F.softplus):
    r"""`h = log(1 + eᵃ)`, a smooth relu; `g′(a) = σ(a)`."""


class Identity(Module):
    r"""`h = a` (the "linear" activation): returns its input unchanged, adding no op."""

    def forward(self, a: Tensor) -> Tensor:
        return a


class Softmax(Module):
    r"""`ŷ = exp(a) / Σ exp(a)` along `axis`: the lecture's output O(a_L) for classification.

    To train, prefer logits with `CrossEntropyLoss`, which fuses softmax and the loss stably.

    Args:
        axis: the class axis.
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, a: Tensor) -> Tensor:
        return F.softmax(a, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


ACTIVATIONS: dict[str, type[Module]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "gelu": GELU,
    "softplus": Softplus,
    "linear": Identity,
    "identity": Identity,
}
"""Activation names accepted by `MLP(activation=...)`, mapped to their module classes."""
