r"""Convolution and pooling layers, with PyTorch's arguments, state_dict keys, shapes and
default initialisation, so a PyTorch state_dict loads into the same architecture.

A convolution layer is the lecture's `a_k = W_k h_{k−1} + b_k` with the weight shared across
positions: every output position p applies the same kernel to its window of the input,
`a_k[o, p] = b_k[o] + Σ_{c, k} W_k[o, c, k] h_{k−1}[c, p·s + k·d]`, written `a = W ⋆ h + b`.
Its gradients (see `minigrad.ops.conv`) are `∇W = δ ⋆ h`, `∇h = δ ∗ flip(W)`, `∇b = Σ δ`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn import init as _init
from minigrad.nn.layers import _float_dtype, _positive_int
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import DTypeLike, Tensor

__all__ = ["Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten"]


def _ints(owner: str, what: str, v: Any, d: int) -> tuple[int, ...]:
    vals = (v,) * d if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    if not isinstance(vals, (tuple, list)) or len(vals) != d or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in vals):
        raise TypeError(f"{owner}: {what} must be an int or {d} ints, got {v!r}")
    return tuple(int(a) for a in vals)


def _size(s: tuple[int, ...]) -> str:
    return "×".join(map(str, s))


class _ConvNd(Module):
    weight: Parameter
    bias: Parameter | None
    _d = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        d = self._d
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.groups = _positive_int(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.kernel_size = _ints(name, "kernel_size", kernel_size, d)
        if min(self.kernel_size) < 1:
            raise ValueError(f"{name}: kernel_size must be positive, got {kernel_size!r}")
        self.stride = _ints(name, "stride", stride, d)
        self.padding: Any = padding if isinstance(padding, str) else _ints(
            name, "padding", padding, d)
        self.dilation = _ints(name, "dilation", dilation, d)
        self.padding_mode = padding_mode
        dt = _float_dtype(name, dtype)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        # PyTorch's defaults: W ~ U(±1/√fan_in) (kaiming_uniform with a = √5), b likewise
        self.weight = Parameter(np.empty(shape, dtype=dt))
        _init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            b = Parameter(np.empty(self.out_channels, dtype=dt))
            r = 1.0 / math.sqrt(_init.fans(shape)[0])
            self.bias = _init.uniform_(b, -r, r)  # type: ignore[assignment]
        else:
            self.bias = None

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._d:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._d:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s

    def describe(self) -> str:
        return f"{type(self).__name__}({self.in_channels}→{self.out_channels}, " \
               f"{_size(self.kernel_size)})"


class Conv2d(_ConvNd):
    r"""2-D convolution layer, `a = W ⋆ h + b` on (N, C_in, H, W) images.

    Args and defaults as PyTorch's ``nn.Conv2d`` (``padding_mode`` "zeros" only). The weight
    has shape (out_channels, in_channels/groups, kH, kW) and the bias (out_channels,); both
    start as `U(−1/√fan_in, 1/√fan_in)` with `fan_in = in_channels/groups · kH · kW`
    (PyTorch's kaiming_uniform with a = √5), drawn from `minigrad.manual_seed`'s generator.

    Shapes: (N, C_in, H, W) → (N, C_out, (H + 2p − d(kH − 1) − 1) // s + 1, …).
    """

    _d = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    r"""1-D convolution layer over sequences, (N, C_in, L) → (N, C_out, L_out); arguments,
    initialisation and gradients as `Conv2d`, with one spatial axis."""

    _d = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class _Pool2d(Module):
    """A pooling layer's windows: `kernel_size`, `stride` (`kernel_size` by default, as
    PyTorch) and `padding`."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    r"""Max pooling over windows, `y = max_k x[p·s + k·d]`; δ goes to each window's maximum.
    `stride` defaults to `kernel_size`, as PyTorch."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1) -> None:
        super().__init__(kernel_size, stride, padding)
        self.dilation = dilation

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}"

    def describe(self) -> str:
        return f"MaxPool2d({_size(_ints('MaxPool2d', 'kernel_size', self.kernel_size, 2))})"


class AvgPool2d(_Pool2d):
    r"""Average pooling over windows, `y = (1/|K|) Σ_k x[p·s + k]` (zero padding counted);
    every position of a window receives `δ / |K|`. `stride` defaults to `kernel_size`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def describe(self) -> str:
        return f"AvgPool2d({_size(_ints('AvgPool2d', 'kernel_size', self.kernel_size, 2))})"


class Flatten(Module):
    r"""Merges axes `start_dim … end_dim` into one, (N, C, H, W) → (N, C·H·W) by default:
    the step from the convolution layers to the dense ones. ∇ = δ reshaped back."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
