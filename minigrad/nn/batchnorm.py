r"""Batch normalization layers: `BatchNorm1d` for (N, C) and (N, C, L), `BatchNorm2d` for
(N, C, H, W) inputs.

Per channel c, `y = γ_c (x − μ_c)/√(σ²_c + ε) + β_c`. In training mode (`train()`) μ and σ² are
the batch's (over N and the spatial axes) and the running estimates, kept as buffers, move
towards them; in evaluation mode (`eval()`) the running estimates are used and the layer is a
fixed affine map per channel. The buffers ``running_mean``, ``running_var`` and
``num_batches_tracked`` are saved in the state dict under PyTorch's names, so a PyTorch
checkpoint loads as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import DTypeLike, Tensor, resolve_dtype

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    r"""The layer behind `BatchNorm1d` and `BatchNorm2d` (arguments documented there); they
    differ only in the input ranks they accept."""

    _ranks: tuple[int, ...] = ()
    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: DTypeLike = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if (isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer))
                or num_features < 1):
            raise ValueError(f"{name}: num_features must be a positive integer, got "
                             f"{num_features!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
            raise ValueError(f"{name}: eps must be a number >= 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool)
                                     or not isinstance(momentum, (int, float))):
            raise ValueError(f"{name}: momentum must be a float or None, got {momentum!r}")
        dt = resolve_dtype(dtype) or np.dtype(np.float32)
        if dt.kind != "f":
            raise TypeError(f"{name}: dtype must be floating point, got {dt}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        C = self.num_features
        if self.affine:
            self.weight = Parameter(np.ones(C, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(C, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(C, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(C, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """μ_run ← 0, σ²_run ← 1, no batches seen."""
        for buf, value in ((self.running_mean, 0), (self.running_var, 1),
                           (self.num_batches_tracked, 0)):
            if buf is not None:
                buf.data[...] = value
                buf._version.n += 1

    def reset_parameters(self) -> None:
        """Resets the running statistics, and γ to ones and β to zeros."""
        self.reset_running_stats()
        for p, value in ((self.weight, 1), (self.bias, 0)):
            if p is not None:
                p.data[...] = value
                p._version.n += 1

    def _check_input(self, x: Any) -> None:
        name = type(self).__name__
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if len(shape) not in self._ranks:
            ranks = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(
                f"{name}: expected {ranks} input (got {len(shape)}D input of shape {shape})"
            )
        if shape[1] != self.num_features:
            raise ValueError(
                f"{name}({self.num_features}): input of shape {shape} has {shape[1]} channels "
                f"on axis 1, expected {self.num_features}"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        count = self.num_batches_tracked
        counting = self.training and self.track_running_stats and count is not None
        if counting and self.momentum is None:
            assert count is not None
            factor = 1.0 / float(count.item() + 1)  # the count after this batch
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        y = F.batch_norm(
            x, self.running_mean if keep else None, self.running_var if keep else None,
            self.weight, self.bias, training=use_batch, momentum=factor, eps=self.eps,
        )
        if counting:  # counted after the op succeeded: a failing call changes nothing
            assert count is not None
            count.data[...] += 1
            count._version.n += 1
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def describe(self) -> str:
        return f"{type(self).__name__}({self.num_features})"


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization of (N, C) or (N, C, L) inputs, per channel C.

    `y = γ x̂ + β`, `x̂ = (x − μ)/√(σ² + ε)`, with μ and σ² the batch's in training mode (and
    the running estimates updated) and the running estimates in evaluation mode. With
    δ = ∇y L the backward in training mode is ∇x = (γ/σ)/N · (N·δ − Σδ − x̂·Σ(δ ⊙ x̂)),
    ∇γ = Σ δ ⊙ x̂, ∇β = Σ δ, each Σ over the N·L values of a channel.

    Args:
        num_features: C, the number of channels (axis 1 of the input).
        eps: ε, added to the variance.
        momentum: α of the running averages `μ_run ← (1 − α) μ_run + α μ` (the unbiased
            batch variance for `σ²_run`); None gives the cumulative average over all batches
            seen, α = 1/``num_batches_tracked``.
        affine: learn γ (``weight``, ones at first) and β (``bias``, zeros).
        track_running_stats: keep the running estimates; when False the batch's statistics
            are used in evaluation mode too, and the three buffers are None.
        dtype: floating dtype of the parameters and running estimates (float32 by default).
        bias: with `affine`, whether to learn β too (False: γ only).

    Shapes:
        input (N, C) or (N, C, L) → output of the same shape. Training needs more than one
        value per channel (N·L > 1).
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    r"""Batch normalization of (N, C, H, W) inputs, per channel C, with statistics over the
    N·H·W values of each channel; the arguments and formulas are `BatchNorm1d`'s."""

    _ranks = (4,)
