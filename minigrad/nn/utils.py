r"""Gradient clipping, PyTorch's ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``.

Between ``loss.backward()`` and ``optimizer.step()``, clipping bounds the step a single bad
batch can cause. With g the gradients of all parameters seen as one long vector,
`clip_grad_norm_` rescales every ``p.grad`` by `min(1, max_norm / (‖g‖ + 10⁻⁶))`, so the
direction is kept and ‖g‖ ends at most `max_norm`; `clip_grad_value_` clamps every entry to
`[−clip_value, clip_value]`, which can change the direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(owner: str, parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The parameters' gradient Tensors (skipping parameters without one), checked first."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: parameter {i} is a {type(p).__name__}, not a Tensor")
    return [p.grad for p in params if p.grad is not None]


def _norm_type(owner: str, norm_type: Any) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.floating)):
        raise TypeError(f"{owner}: norm_type must be a number or 'inf', got {norm_type!r}")
    p = float(norm_type)
    if not (p > 0):  # also rejects NaN
        raise ValueError(f"{owner}: norm_type must be > 0 (or inf), got {norm_type!r}")
    return p


def _vector_norm(a: np.ndarray, p: float) -> np.ndarray:
    """‖a‖_p of a flattened, in a's dtype (0-d)."""
    a = np.abs(a.reshape(-1))
    if p == math.inf:
        return a.max() if a.size else np.zeros((), a.dtype)
    if p == 2.0:
        return np.sqrt(np.dot(a, a))
    if p == 1.0:
        return a.sum()
    return (a ** p).sum() ** (1.0 / p)


def _write(g: Tensor, values: np.ndarray) -> None:
    """Writes `values` into the gradient in place (a gradient with history is replaced)."""
    if g._ctx is None and g.data.flags.writeable:
        np.copyto(g.data, values, casting="same_kind")
        g._version.n += 1
    else:
        g.data = values.astype(g.data.dtype, copy=False)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    r"""Rescales the gradients in place so that their joint norm is at most `max_norm`.

    ‖g‖_p = ‖(‖∇θ₁ L‖_p, ‖∇θ₂ L‖_p, …)‖_p over the parameters with a gradient (p = ∞: the
    largest |entry|), then every gradient is multiplied by `min(1, max_norm / (‖g‖_p + 10⁻⁶))`.

    Args:
        parameters: Parameters (``model.parameters()``) or one Tensor; those whose ``.grad`` is
            None are skipped.
        max_norm: the largest norm allowed.
        norm_type: p, a positive number or ``"inf"``/``math.inf``.
        error_if_nonfinite: raise instead of clipping when ‖g‖ is NaN or infinite (the
            gradients are then left as they were).
        foreach: accepted for PyTorch's signature; there is one numpy implementation.

    Returns:
        ‖g‖_p before clipping, a 0-d Tensor (0.0 when no parameter has a gradient).
    """
    owner = "clip_grad_norm_"
    p = _norm_type(owner, norm_type)
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.floating)):
        raise TypeError(f"{owner}: max_norm must be a number, got {max_norm!r}")
    grads = _grads(owner, parameters)
    if not grads:
        return Tensor(np.zeros((), np.float32))
    norms = [_vector_norm(g.data, p) for g in grads]
    dtype = np.result_type(*norms)
    total = _vector_norm(np.array(norms, dtype=dtype), p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"{owner}: the total norm of order {norm_type} of the gradients is {float(total)}, "
            f"so they cannot be clipped; set error_if_nonfinite=False to scale them by it anyway"
        )
    coef = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    with np.errstate(invalid="ignore"):  # ∞·0 = NaN, as in PyTorch, not a warning
        for g in grads:  # multiplied even when coef is 1, as PyTorch does (NaN spreads alike)
            _write(g, g.data * coef.astype(g.data.dtype))
    return Tensor(np.asarray(total, dtype=dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    r"""Clamps every gradient entry in place to `[−clip_value, clip_value]`.

    Args:
        parameters: Parameters or one Tensor; those whose ``.grad`` is None are skipped.
        clip_value: the bound, ≥ 0.
        foreach: accepted for PyTorch's signature; there is one numpy implementation.
    """
    owner = "clip_grad_value_"
    if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float, np.floating)):
        raise TypeError(f"{owner}: clip_value must be a number, got {clip_value!r}")
    c = float(clip_value)
    for g in _grads(owner, parameters):
        _write(g, np.clip(g.data, -c, c))
