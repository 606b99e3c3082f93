r"""Functions of the ``minigrad`` namespace with PyTorch's names and arguments, so that
``import minigrad as torch`` finds them: ``torch.max(x, dim=1)``, ``torch.tril(m)``,
``torch.allclose(a, b)``, ``torch.histogram(t, bins=50)``…

Each is a thin front for a Tensor method or a registry op: the graph shows the ops they run.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from minigrad import ops as _ops
from minigrad import return_types
from minigrad.creation import _make
from minigrad.tensor import Tensor

__all__ = [
    "max", "min", "amax", "amin", "argmax", "argmin", "all", "any", "allclose", "isclose",
    "equal", "log10", "tril", "triu", "histogram", "numel", "softmax", "log_softmax", "clamp",
    "flatten", "squeeze", "unsqueeze", "unbind", "split", "chunk", "one_hot", "is_tensor",
    "t", "swapaxes", "swapdims", "logsumexp", "pow", "neg", "minimum", "maximum",
]


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def max(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
    """``max(x)``: the largest value; ``max(x, dim)``: ``(values, indices)`` along dim;
    ``max(x, y)``: the elementwise maximum (see `Tensor.max`)."""
    return _t(input).max(dim, keepdim, **kw)


def min(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
    """``min(x)``, ``min(x, dim)`` or ``min(x, y)``, as `max`."""
    return _t(input).min(dim, keepdim, **kw)


def amax(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return _t(input).amax(dim, keepdim, **kw)


def amin(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return _t(input).amin(dim, keepdim, **kw)


def argmax(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return _t(input).argmax(dim, keepdim, **kw)


def argmin(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return _t(input).argmin(dim, keepdim, **kw)


def all(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Whether every element (along `dim`) is non-zero, as a bool tensor."""
    return _t(input).all(dim, keepdim, **kw)


def any(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Whether some element (along `dim`) is non-zero, as a bool tensor."""
    return _t(input).any(dim, keepdim, **kw)


def allclose(input: Any, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """Whether ``|input − other| ≤ atol + rtol·|other|`` everywhere, as a Python bool."""
    return _t(input).allclose(other, rtol, atol, equal_nan)


def isclose(input: Any, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:
    return _t(input).isclose(other, rtol, atol, equal_nan)


def equal(input: Any, other: Any) -> bool:
    """Whether the two have the same shape and the same values."""
    a, b = _t(input).data, _t(other).data
    return bool(a.shape == b.shape and np.array_equal(a, b))


def log10(input: Any) -> Tensor:
    """`log₁₀ x`, computed as `log x / log 10` (∇x = δ / (x log 10))."""
    return _t(input).log10()


def tril(input: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of (the last two axes of) `input`, zeros above: the causal mask
    of attention is ``tril(ones(T, T))``. `diagonal` > 0 keeps that many diagonals above."""
    return _t(input).tril(diagonal)


def triu(input: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of `input`, zeros below the `diagonal`-th diagonal."""
    return _t(input).triu(diagonal)


def histogram(input: Any, bins: Any = 100, *, range: tuple[float, float] | None = None,
              weight: Any = None, density: bool = False) -> return_types.histogram:
    """Counts of the values of `input` in `bins` equal bins (or at the given edges), as
    ``torch.histogram``: ``hist, edges = minigrad.histogram(t, density=True)``. Both come
    back in the input's floating dtype."""
    x = _t(input).data
    if x.dtype.kind != "f":
        raise TypeError(f"histogram: input must be floating point, got {x.dtype}; "
                        f"convert it first, e.g. t.float()")
    edges = bins.data if isinstance(bins, Tensor) else bins
    w = weight.data if isinstance(weight, Tensor) else weight
    hist, edges = np.histogram(x.reshape(-1), bins=edges, range=range,
                               weights=None if w is None else np.asarray(w).reshape(-1),
                               density=density)
    return return_types.histogram(_make(hist.astype(x.dtype), False),
                                  _make(edges.astype(x.dtype), False))


def numel(input: Any) -> int:
    return _t(input).numel()


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def softmax(input: Any, dim: int | None = None, **kw: Any) -> Tensor:
    return _ops.softmax(input, dim, **kw)


def log_softmax(input: Any, dim: int | None = None, **kw: Any) -> Tensor:
    return _ops.log_softmax(input, dim, **kw)


def logsumexp(input: Any, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return _ops.logsumexp(input, dim, keepdim, **kw)


def clamp(input: Any, min: float | None = None, max: float | None = None) -> Tensor:
    return _ops.clip(input, min=min, max=max)


def pow(input: Any, exponent: Any) -> Tensor:
    return _ops.pow(input, exponent)


def neg(input: Any) -> Tensor:
    return _ops.neg(input)


maximum = _ops.maximum
minimum = _ops.minimum


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _t(input).flatten(start_dim, end_dim)


def squeeze(input: Any, dim: Any = None) -> Tensor:
    return _ops.squeeze(input, dim)


def unsqueeze(input: Any, dim: int) -> Tensor:
    return _ops.unsqueeze(input, dim)


def unbind(input: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return _t(input).unbind(dim)


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return _t(tensor).split(split_size_or_sections, dim)


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    return _t(input).chunk(chunks, dim)


def t(input: Any) -> Tensor:
    return _t(input).t()


def swapaxes(input: Any, axis0: int, axis1: int) -> Tensor:
    return _ops.transpose(input, axis0, axis1)


swapdims = swapaxes


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Class indices of any shape → an int64 tensor with one more axis of `num_classes`
    (the largest index + 1 by default), 1 at each index and 0 elsewhere, as
    ``F.one_hot``. Multiply by a float tensor, or call ``.float()``, to compute with it."""
    idx = _t(tensor).data
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects integer class indices, got {idx.dtype}; "
                        f"use .long() first")
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class indices must be non-negative, got {idx.min()}")
    n = int(idx.max()) + 1 if num_classes == -1 and idx.size else builtins.max(num_classes, 0)
    if idx.size and idx.max() >= n:
        raise ValueError(f"one_hot: class index {idx.max()} is out of range for "
                         f"num_classes={num_classes}")
    return _make((idx[..., None] == np.arange(n)).astype(np.int64), False)
