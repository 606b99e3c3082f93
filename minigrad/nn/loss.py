r"""Loss modules, thin wrappers over the fused loss ops of `minigrad.functional`."""

from __future__ import annotations

from typing import Any

from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.tensor import Tensor

__all__ = ["CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    r"""Softmax + cross-entropy on logits: `L = −log softmax(a_L)_ℓ` for true class ℓ.

    ``loss(logits, target)`` with logits of shape (N, C) and integer targets of shape (N,)
    (or probability targets of shape (N, C)). Its gradient is the lecture's
    `∇a_L L = ŷ − e(ℓ)`, divided by N for the mean.

    Args:
        reduction: "mean" over the batch, "sum", or "none" (one loss per example).
    """

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, reduction=self.reduction)


class MSELoss(_Loss):
    r"""Squared error `L = mean (ŷ − y)²` over all elements (PyTorch's convention);
    `∇ŷ L = 2(ŷ − y)/n`. The lecture's `½‖ŷ − y‖²` is `0.5 * MSELoss("sum")`.

    Args:
        reduction: "mean" over elements, "sum", or "none".
    """

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return F.mse_loss(pred, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""Sigmoid + binary cross-entropy on logits z, computed stably:
    `L = −[y log σ(z) + (1 − y) log(1 − σ(z))]`; `∇z L = σ(z) − y` (÷n for the mean).

    Args:
        reduction: "mean" over elements, "sum", or "none".
    """

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)
