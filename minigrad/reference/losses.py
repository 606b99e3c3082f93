r"""The output layer and the losses: softmax + cross-entropy, squared error, and the others.

Softmax + cross-entropy (the lecture's classifier), one example: ``ŷ = softmax(a_L)``,
``L = −log ŷ_ℓ``. With ``ŷ_c = e^{a_c} / Σ_j e^{a_j}``, ``−log ŷ_ℓ = log Σ_j e^{a_j} − a_ℓ``, so
``∂L/∂a_c = ŷ_c − 1[c = ℓ]``::

    ∇a_L L = ŷ − e(ℓ) = −(e(ℓ) − ŷ)

A batch of N rows with the mean divides every row by N.

Negative log-likelihood on log-probabilities ``s = log ŷ``: ``L = −s_ℓ``, ``∇s = −e(ℓ)``.

Squared error, the lecture's ``L = ½‖ŷ − y‖²`` with identity output: ``∇a_L L = ŷ − y``.
minigrad's ``mse_loss`` follows PyTorch instead, ``mean over all n elements of (ŷ − y)²``, whose
gradient is ``2(ŷ − y)/n`` (`mse_backward`); the factor between the two is `loss_scale`.

Binary cross-entropy on a logit z with target y ∈ [0, 1]: ``L = −[y log σ(z) + (1 − y)
log(1 − σ(z))]``; with ``σ′ = σ(1 − σ)`` the two terms give ``∂L/∂z = σ(z) − y``.

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.reference.dense import sigmoid
from minigrad.reference.slips import Slip

__all__ = [
    "LOSSES", "REDUCTIONS", "SLIPS", "bce_with_logits_backward", "bce_with_logits_forward",
    "cross_entropy_backward", "cross_entropy_forward", "log_softmax_rows", "loss_scale",
    "mse_backward", "mse_forward", "nll_backward", "nll_forward", "one_hot", "softmax",
    "softmax_rows",
]

LOSSES = ("ce", "mse")
REDUCTIONS = ("mean", "sum")


def as_targets(y: Any, loss: str, N: int, nL: int, single: bool) -> np.ndarray:
    """Class indices ℓ_i (``ce``, shape (N,)) or target vectors y_i (``mse``, shape (N, n_L))."""
    Y = np.asarray(getattr(y, "data", y))
    if loss == "ce":
        Y = Y.reshape(-1)
        if Y.shape != (N,) or Y.dtype.kind not in "iu":
            raise ValueError(
                f"y: cross-entropy needs one integer class index per example, shape ({N},); "
                f"got {Y.dtype} of shape {np.shape(getattr(y, 'data', y))}"
            )
        if N and (Y.min() < 0 or Y.max() >= nL):
            raise ValueError(f"y: class indices must lie in [0, {nL}), got {Y.min()}…{Y.max()}")
        return Y.astype(np.intp)
    Y = Y.astype(np.float64).reshape(1, -1) if single else Y.astype(np.float64)
    if Y.shape != (N, nL):
        raise ValueError(f"y: squared error needs targets of shape ({N}, {nL}), got {Y.shape}")
    return Y


def check_loss(loss: str, reduction: str) -> None:
    """A ValueError unless `loss` is one of `LOSSES` and `reduction` one of `REDUCTIONS`."""
    if loss not in LOSSES:
        raise ValueError(f"loss: must be one of {LOSSES} ('ce': softmax + cross-entropy, "
                         f"'mse': identity + squared error), got {loss!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: must be one of {REDUCTIONS}, got {reduction!r}")


def softmax(a: np.ndarray) -> np.ndarray:
    """``ŷ_c = e^{a_c} / Σ_j e^{a_j}`` over the column, computed as ``e^{a − max a}`` so no
    exponent overflows (the shift cancels in the ratio)."""
    e = np.exp(a - a.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def one_hot(ell: int, n: int) -> np.ndarray:
    """``e(ℓ)``: the column with 1 at position ℓ and 0 elsewhere."""
    e = np.zeros((n, 1))
    e[ell, 0] = 1.0
    return e


def loss_scale(loss: str, reduction: str, n_out: int) -> float:
    r"""The factor c with ``minigrad's loss = c · the lecture's loss`` (same reduction).

    - ``ce``: ``F.cross_entropy`` is ``−log ŷ_ℓ`` per example: ``c = 1``.
    - ``mse``, mean: ``F.mse_loss`` averages over all ``N·n_L`` elements and has no ½:
      ``(1/(N n_L)) Σ_i ‖ŷ_i − y_i‖² = (2/n_L) · (1/N) Σ_i ½‖ŷ_i − y_i‖²``, so ``c = 2/n_L``.
    - ``mse``, sum: ``Σ_i ‖ŷ_i − y_i‖² = 2 · Σ_i ½‖ŷ_i − y_i‖²``, so ``c = 2``.

    Every gradient of the loss scales by the same c.
    """
    check_loss(loss, reduction)
    if loss == "ce":
        return 1.0
    return 2.0 / n_out if reduction == "mean" else 2.0


# --------------------------------------------------------------------------- batch forms
def _reduce(per_example: np.ndarray, reduction: str) -> Any:
    if reduction == "mean":
        return float(per_example.mean())
    if reduction == "sum":
        return float(per_example.sum())
    return per_example


def _mean_factor(reduction: str, n: int) -> float:
    """The factor a mean puts on every gradient (1/n), or 1 for a sum or no reduction."""
    return 1.0 / n if reduction == "mean" else 1.0


def softmax_rows(a: np.ndarray) -> np.ndarray:
    """``ŷ = softmax(a)`` along the last axis (rows are examples), max shifted out."""
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax_rows(a: np.ndarray) -> np.ndarray:
    """``log ŷ = a − log Σ_j e^{a_j}`` along the last axis."""
    m = a.max(axis=-1, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=-1, keepdims=True))


def _onehot_rows(target: np.ndarray, C: int) -> np.ndarray:
    e = np.zeros((target.shape[0], C))
    e[np.arange(target.shape[0]), target] = 1.0
    return e


def cross_entropy_forward(logits: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
    """``L_i = −log ŷ_{i,ℓ_i} = log Σ_j e^{a_ij} − a_{i,ℓ_i}``, reduced over the N rows."""
    logits = logits.reshape(-1, logits.shape[-1])
    target = np.asarray(target).reshape(-1)
    per = -log_softmax_rows(logits)[np.arange(target.shape[0]), target]
    return _reduce(per, reduction)


def cross_entropy_backward(
    logits: np.ndarray, target: np.ndarray, reduction: str = "mean"
) -> np.ndarray:
    """``∇a_L L = ŷ − e(ℓ)`` per row (÷ N for the mean), in the shape of `logits`."""
    A = logits.reshape(-1, logits.shape[-1])
    t = np.asarray(target).reshape(-1)
    g = softmax_rows(A) - _onehot_rows(t, A.shape[1])
    return (g * _mean_factor(reduction, A.shape[0])).reshape(logits.shape)


def nll_forward(logp: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
    """``L_i = −s_{i,ℓ_i}`` for log-probabilities s."""
    per = -logp[np.arange(logp.shape[0]), np.asarray(target).reshape(-1)]
    return _reduce(per, reduction)


def nll_backward(logp: np.ndarray, target: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """``∇s = −e(ℓ)`` per row (÷ N for the mean)."""
    return -_onehot_rows(np.asarray(target).reshape(-1), logp.shape[1]) * _mean_factor(
        reduction, logp.shape[0])


def mse_forward(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
    """minigrad's (PyTorch's) squared error: ``(ŷ − y)²`` averaged over all n elements."""
    return _reduce(((pred - target) ** 2).reshape(-1), reduction)


def mse_backward(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """``∇ŷ = 2(ŷ − y)`` (÷ n, the number of elements, for the mean)."""
    return 2.0 * (pred - target) * _mean_factor(reduction, pred.size)


def bce_with_logits_forward(z: np.ndarray, y: np.ndarray, reduction: str = "mean") -> Any:
    """``L = −[y log σ(z) + (1 − y) log(1 − σ(z))] = max(z, 0) − z y + log(1 + e^{−|z|})``."""
    per = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return _reduce(per.reshape(-1), reduction)


def bce_with_logits_backward(z: np.ndarray, y: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """``∂L/∂z = σ(z) − y`` (÷ n for the mean)."""
    return (sigmoid(z) - y) * _mean_factor(reduction, z.size)


# --------------------------------------------------------------------------- slips
def _ce_without_onehot(g: Any, out: Any, logits: np.ndarray, target: np.ndarray,
                       reduction: str = "mean") -> np.ndarray:
    """``ŷ`` (÷ N for the mean) where ``ŷ − e(ℓ)`` belongs: the one-hot never subtracted."""
    y_hat = softmax_rows(logits)
    if reduction == "none":
        return np.asarray(g)[..., None] * y_hat
    return np.asarray(g) * y_hat * _mean_factor(reduction, logits.size // logits.shape[-1])


# The slips one makes in the output layer's backward (`minigrad.reference.slips`), keyed by
# the registry's op names; each ``vjp(δ, out, *inputs, **params)`` is the wrong rule.
SLIPS: dict[str, tuple[Slip, ...]] = {
    "cross_entropy": (Slip("ŷ without − e(ℓ) (the one-hot not subtracted)", _ce_without_onehot),),
    "softmax": (
        Slip("ŷ ⊙ δ, the Jacobian diag(ŷ) without its outer-product term − ŷŷᵀ",
             lambda g, y, a, axis=-1: y * g),
    ),
    "log_softmax": (
        Slip("δ, the Jacobian I without its term − ŷ 1ᵀ", lambda g, s, a, axis=-1: g),
    ),
}
