r"""`LayerNorm`: `y = γ ⊙ (x − μ)/σ + β` over each example's trailing features (see
`minigrad.ops.layernorm` for the VJPs)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minigrad import functional as F
from minigrad.nn.layers import _float_dtype, _positive_int
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import DTypeLike, Tensor

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    r"""Layer normalization, as ``torch.nn.LayerNorm``: each example is normalized over its
    trailing `normalized_shape` axes, `y = γ ⊙ (x − μ)/√(σ² + ε) + β`, with the biased
    variance σ² (training and evaluation alike: there are no running statistics).

    Args:
        normalized_shape: an int (the last axis) or the trailing shape to normalize over.
        eps: ε added to the variance.
        elementwise_affine: learn γ (``weight``, ones at first) and β (``bias``, zeros).
        bias: with elementwise_affine, whether to learn β too.
        dtype: a floating dtype for the parameters (float32 by default).

    Shapes:
        input (..., *normalized_shape) → output of the same shape. State dict keys ``weight``
        and ``bias``, each of shape normalized_shape, as PyTorch's.
    """

    weight: Parameter | None
    bias: Parameter | None

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 dtype: DTypeLike = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(
            _positive_int("LayerNorm", "every size of normalized_shape", n)
            for n in normalized_shape)
        if not self.normalized_shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one axis")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = _float_dtype("LayerNorm", dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt)) if bias else None
        else:
            self.weight = None
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")

    def describe(self) -> str:
        return f"LayerNorm({', '.join(map(str, self.normalized_shape))})"
