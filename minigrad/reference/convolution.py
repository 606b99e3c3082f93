r"""Convolution and pooling, forward and backward, derived by hand (NCHW / NCL, as PyTorch).

Convolution (a cross-correlation, as in every framework), one example, stride s, dilation d::

    a[o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x[c, s·i + d·p, s·j + d·q]

(x already padded with zeros). Each weight touches every output position, so

    ∂L/∂W[o, c, p, q] = Σ_{i, j} δ[o, i, j] · x[c, s·i + d·p, s·j + d·q]      ∇W = x ⋆ δ

the cross-correlation of the input with the output's gradient δ (summed over the batch), and
``∇b[o] = Σ_{i, j} δ[o, i, j]``. Each input pixel feeds every output whose window covers it:

    ∂L/∂x[c, u, v] = Σ_{o, p, q : u = s·i + d·p, v = s·j + d·q} δ[o, i, j] · W[o, c, p, q]

For stride 1 and dilation 1 that is ``∇x = δ ∗ flip(W)``: δ padded by k − 1 on every side,
correlated with W flipped in both spatial axes and its in/out channels swapped (the
"full convolution"); then the padding of the forward is cut off. `conv2d_backward`
computes the sum above directly, one kernel offset (p, q) at a time, which holds for every
stride and dilation; `conv2d_input_grad_flipped` is the flip form, for stride 1.

Groups split the C_in channels and the C_out filters into ``groups`` blocks; block g of the
output sees only block g of the input, and each block follows the formulas above.

Pooling, over the same windows:

- max pooling ``y[c, i, j] = max_{p, q} x[c, s·i + p, s·j + q]``: the derivative is 1 at the
  arg-max and 0 elsewhere, so max pooling routes δ to the arg-max of each window (the first
  one on a tie, as PyTorch) and gives every other input 0;
- average pooling ``y = (1/k²) Σ_{p, q} x[…]``: every input of the window gets ``δ/k²``
  (padded zeros count in the k², PyTorch's ``count_include_pad=True``).

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minigrad.reference.slips import Slip

__all__ = [
    "SLIPS",
    "avg_pool2d_backward", "avg_pool2d_forward", "conv1d_backward", "conv1d_forward",
    "conv2d_backward", "conv2d_forward", "conv2d_input_grad_flipped", "max_pool2d_backward",
    "max_pool2d_forward",
]


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _pool_window(kernel_size: Any, stride: Any, padding: Any
                 ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """A pooling's window k, stride s (k when None, as PyTorch) and padding p, as pairs."""
    k = _pair(kernel_size)
    return k, k if stride is None else _pair(stride), _pair(padding)


def windows(xp: np.ndarray, k: tuple[int, int], s: tuple[int, int],
            d: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The view ``(N, C, H_out, W_out, kh, kw)`` of the padded input's windows:
    ``[n, c, i, j, p, q] = xp[n, c, s·i + d·p, s·j + d·q]`` (no copy)."""
    N, C, H, W = xp.shape
    Ho = (H - d[0] * (k[0] - 1) - 1) // s[0] + 1
    Wo = (W - d[1] * (k[1] - 1) - 1) // s[1] + 1
    sn, sc, sh, sw = xp.strides
    return as_strided(xp, (N, C, Ho, Wo, k[0], k[1]),
                      (sn, sc, sh * s[0], sw * s[1], sh * d[0], sw * d[1]), writeable=False)


def _pad(x: np.ndarray, p: tuple[int, int], value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=value)


def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None, stride: Any = 1,
                   padding: Any = 0, dilation: Any = 1, groups: int = 1) -> np.ndarray:
    """``a[n, o, i, j] = b[o] + Σ_{c,p,q} W[o, c, p, q] x[n, c, s·i + d·p, s·j + d·q]``;
    x ``(N, C_in, H, W)``, W ``(C_out, C_in/groups, kh, kw)``."""
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    k = W.shape[2:]
    win = windows(_pad(x, p), (k[0], k[1]), s, d)
    Cg, Og = W.shape[1], W.shape[0] // groups
    outs = [np.einsum("ncijpq,ocpq->noij", win[:, g * Cg:(g + 1) * Cg], W[g * Og:(g + 1) * Og])
            for g in range(groups)]
    a = np.concatenate(outs, axis=1)
    return a if b is None else a + b.reshape(1, -1, 1, 1)


def conv2d_backward(delta: np.ndarray, x: np.ndarray, W: np.ndarray, stride: Any = 1,
                    padding: Any = 0, dilation: Any = 1, groups: int = 1,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∇x, ∇W, ∇b)``: ``∇W = x ⋆ δ`` (each weight's sum over the positions it touched),
    ``∇x`` scattered back through the windows (``= δ ∗ flip(W)`` for stride 1),
    ``∇b = Σ_{n,i,j} δ``."""
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw = W.shape[2:]
    xp = _pad(x, p)
    win = windows(xp, (kh, kw), s, d)
    Cg, Og = W.shape[1], W.shape[0] // groups
    Ho, Wo = delta.shape[2:]
    dW = np.zeros_like(W, dtype=np.result_type(delta, x))
    dxp = np.zeros(xp.shape, dtype=dW.dtype)
    for g in range(groups):
        dg = delta[:, g * Og:(g + 1) * Og]
        dW[g * Og:(g + 1) * Og] = np.einsum("noij,ncijpq->ocpq", dg, win[:, g * Cg:(g + 1) * Cg])
        Wg = W[g * Og:(g + 1) * Og]
        for u in range(kh):
            for v in range(kw):
                # the input pixels that kernel offset (u, v) met, one per output position
                rows = slice(d[0] * u, d[0] * u + s[0] * (Ho - 1) + 1, s[0])
                cols = slice(d[1] * v, d[1] * v + s[1] * (Wo - 1) + 1, s[1])
                dxp[:, g * Cg:(g + 1) * Cg, rows, cols] += np.einsum(
                    "noij,oc->ncij", dg, Wg[:, :, u, v])
    H, Wd = x.shape[2:]
    dx = dxp[:, :, p[0]:p[0] + H, p[1]:p[1] + Wd]
    return dx, dW, delta.sum(axis=(0, 2, 3))


def conv2d_input_grad_flipped(delta: np.ndarray, W: np.ndarray, padding: Any = 0) -> np.ndarray:
    """``∇x = δ ∗ flip(W)`` for stride 1, dilation 1, one group: δ padded by ``k − 1 − p``,
    correlated with W flipped in both spatial axes, its in/out channels swapped."""
    p = _pair(padding)
    kh, kw = W.shape[2:]
    W_flip = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    return conv2d_forward(delta, W_flip, padding=(kh - 1 - p[0], kw - 1 - p[1]))


def conv1d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
                   padding: int = 0, dilation: int = 1, groups: int = 1) -> np.ndarray:
    """The 1-d case, ``(N, C, L)``: conv2d on a height of 1."""
    a = conv2d_forward(x[:, :, None, :], W[:, :, None, :], b, (1, stride), (0, padding),
                       (1, dilation), groups)
    return a[:, :, 0, :]


def conv1d_backward(delta: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int = 1,
                    padding: int = 0, dilation: int = 1, groups: int = 1,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(∇x, ∇W, ∇b)`` of `conv1d_forward`."""
    dx, dW, db = conv2d_backward(delta[:, :, None, :], x[:, :, None, :], W[:, :, None, :],
                                 (1, stride), (0, padding), (1, dilation), groups)
    return dx[:, :, 0, :], dW[:, :, 0, :], db


def max_pool2d_forward(x: np.ndarray, kernel_size: Any, stride: Any = None,
                       padding: Any = 0) -> np.ndarray:
    """``y[n, c, i, j] = max_{p,q} x[n, c, s·i + p, s·j + q]`` (padding with −∞)."""
    k, s, p = _pool_window(kernel_size, stride, padding)
    win = windows(_pad(x, p, -np.inf), k, s)
    return win.max(axis=(4, 5))


def max_pool2d_backward(delta: np.ndarray, x: np.ndarray, kernel_size: Any,
                        stride: Any = None, padding: Any = 0) -> np.ndarray:
    """``∇x``: each window's δ routed to its arg-max (the first on a tie), 0 elsewhere."""
    k, s, p = _pool_window(kernel_size, stride, padding)
    xp = _pad(x, p, -np.inf)
    win = windows(xp, k, s)
    N, C, Ho, Wo = delta.shape
    arg = win.reshape(N, C, Ho, Wo, -1).argmax(axis=-1)
    u, v = np.divmod(arg, k[1])
    n, c, i, j = np.indices((N, C, Ho, Wo))
    dxp = np.zeros(xp.shape, dtype=delta.dtype)
    # overlapping windows can pick the same pixel: add, don't assign
    np.add.at(dxp, (n, c, s[0] * i + u, s[1] * j + v), delta)
    return dxp[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]]


def avg_pool2d_forward(x: np.ndarray, kernel_size: Any, stride: Any = None,
                       padding: Any = 0) -> np.ndarray:
    """``y = (1/k²) Σ_{p,q} x[n, c, s·i + p, s·j + q]`` (padded zeros counted)."""
    k, s, p = _pool_window(kernel_size, stride, padding)
    return windows(_pad(x, p), k, s).mean(axis=(4, 5))


def avg_pool2d_backward(delta: np.ndarray, x: np.ndarray, kernel_size: Any,
                        stride: Any = None, padding: Any = 0) -> np.ndarray:
    """``∇x``: every input of a window gets ``δ/k²`` of that window's δ."""
    k, s, p = _pool_window(kernel_size, stride, padding)
    xp_shape = (x.shape[0], x.shape[1], x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1])
    dxp = np.zeros(xp_shape, dtype=delta.dtype)
    Ho, Wo = delta.shape[2:]
    share = delta / (k[0] * k[1])
    for u in range(k[0]):
        for v in range(k[1]):
            dxp[:, :, u:u + s[0] * (Ho - 1) + 1:s[0], v:v + s[1] * (Wo - 1) + 1:s[1]] += share
    return dxp[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]]


# --------------------------------------------------------------------------- slips
def _pool_to_every_position(g: np.ndarray, out: np.ndarray, x: np.ndarray, *, kernel_size: Any,
                            stride: Any, padding: Any, dilation: Any = (1, 1)) -> Any:
    """Max pooling's δ sent to every position of its window, not only to the maximum."""
    if tuple(_pair(dilation)) != (1, 1):
        return None
    k = _pair(kernel_size)
    return avg_pool2d_backward(g, x, kernel_size, stride, padding) * (k[0] * k[1])


# The slips one makes in pooling's backward (`minigrad.reference.slips`), keyed by the
# registry's op names. (Correlation for convolution in ∇x is a kind of its own, ``flipped``.)
SLIPS: dict[str, tuple[Slip, ...]] = {
    "max_pool2d": (Slip("δ sent to every position of the window, not only to its maximum",
                        _pool_to_every_position),),
}
