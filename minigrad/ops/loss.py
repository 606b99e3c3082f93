r"""Fused ops, kept whole for numerical stability and for readable diagrams: softmax,
log-softmax and the losses. For softmax with cross-entropy the lecture's result is
`∇a_L L = −(e(ℓ) − ŷ) = ŷ − e(ℓ)`, divided by N for a mean over a batch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import OUT, defop
from minigrad.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


# np.maximum.reduce / np.add.reduce are the reductions np.max / np.sum end in, without the
# Python-level dispatch that costs more than the arithmetic on a batch of logits.


def stable_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """`ŷ = exp(a − max a) / Σ exp(a − max a)` along `axis`."""
    e = np.exp(x - np.maximum.reduce(x, axis=axis, keepdims=True))
    return e / np.add.reduce(e, axis=axis, keepdims=True)


def stable_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """`log ŷ = z − log Σ exp z` with `z = a − max a` along `axis`."""
    z = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    return z - np.log(np.add.reduce(np.exp(z), axis=axis, keepdims=True))


def _softmax_jvp(t, out, x, axis=-1):
    """ŷ̇ = ŷ ⊙ (ȧ − ⟨ȧ, ŷ⟩): the Jacobian diag(ŷ) − ŷŷᵀ is symmetric, so this is the VJP's
    formula with ȧ for δ."""
    return out * (t - (t * out).sum(axis=axis, keepdims=True))


SOFTMAX = defop(
    "softmax", stable_softmax,
    lambda g, out, x, axis=-1: out * (g - (g * out).sum(axis=axis, keepdims=True)),
    formula="ŷ = softmax(a)", grads=("ŷ ⊙ (δ − ⟨δ, ŷ⟩)",), saves=(OUT,),
    doc="exp(a − max a) / Σ exp(a − max a)",
    jvps=(("ŷ ⊙ (ȧ − ⟨ȧ, ŷ⟩)", _softmax_jvp),),
)
def _log_softmax_jvp(t, out, x, axis=-1):
    return t - (either.exp(out) * t).sum(axis=axis, keepdims=True)


LOG_SOFTMAX = defop(
    "log_softmax", stable_log_softmax,
    lambda g, out, x, axis=-1: g - either.exp(out) * g.sum(axis=axis, keepdims=True),
    formula="log ŷ = a − logsumexp(a)", grads=("δ − ŷ Σ δ",), saves=(OUT,),
    doc="a − log Σ exp a, stable",
    jvps=(("ȧ − ⟨ŷ, ȧ⟩", _log_softmax_jvp),),
)


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.add.reduce(loss, axis=None) / loss.size if loss.size else loss.mean()
    if reduction == "sum":
        return np.add.reduce(loss, axis=None)
    return loss


def _upstream(g: Any, reduction: str, n: int, per_example_ndim: int) -> Any:
    """δ at each example's loss: the scalar δ (÷N for a mean) or the vector δ_i."""
    if reduction == "mean":
        return g / float(max(n, 1))
    if reduction == "sum":
        return g
    return g.reshape(g.shape + (1,) * per_example_ndim)


def _onehot(target: np.ndarray, C: int, dtype: Any) -> np.ndarray:
    return (target[..., None] == np.arange(C)).astype(dtype)


def _in_range(target: Any, C: int) -> Any:
    """Whether every class index lies in [0, C), as a 0-d bool (three ufunc calls, which a
    compiled step runs into its buffers, and one reduction)."""
    return np.logical_and(np.greater_equal(target, 0), np.less(target, C)).all()


def _check_classes(op: str, target: Any, C: int) -> None:
    """Class indices must lie in [0, C). Checked in the rule itself, so that a compiled replay
    checks them too: there the test is a guard, and a call with a bad index runs eagerly,
    which raises this error."""
    if target.dtype.kind in "iu" and target.size and not _in_range(target, C):
        raise ValueError(
            f"{op}: class indices must lie in [0, {C}) for {C} classes; got values from "
            f"{target.min()} to {target.max()}"
        )


def _ce_forward(logits: np.ndarray, target: np.ndarray, reduction: str = "mean"):
    """The losses `L_i = log Σ_c exp z_ic − z_iℓ` with `z = a − max a` and, kept for the VJP,
    the softmax probabilities ŷ = exp z / Σ exp z (one exp for both)."""
    _check_classes("cross_entropy", target, logits.shape[-1])
    z = logits - np.maximum.reduce(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    s = np.add.reduce(e, axis=-1, keepdims=True)
    if target.dtype.kind in "iub":
        # z at each example's class: a gather with np.take, which, unlike indexing, can write
        # into a buffer when compiled; the classes are checked above, so mode="clip" changes
        # nothing but spares numpy a copy of the output it makes for mode="raise"
        C = logits.shape[-1]
        flat = np.add(np.arange(0, target.size * C, C), target.reshape(-1))
        picked = np.take(z.reshape(-1), flat, mode="clip")
        loss = np.log(s[..., 0]) - picked.reshape(target.shape)
    else:
        loss = -np.add.reduce(target * (z - np.log(s)), axis=-1)
    return _reduce(loss, reduction), e / s


def _n_rows(x: Any) -> int:
    return math.prod(x.shape[:-1])


def _ce_vjp_logits(g, out, logits, target, reduction="mean", saved=None):
    """∇a = (ŷ − e(ℓ)) · δ_i, ÷N for the mean (ŷ Σ y − y for probability targets y)."""
    scale = _upstream(g, reduction, _n_rows(logits), 1)
    t = either.value(target)
    if isinstance(logits, Tensor):  # create_graph: ŷ must be a function of the logits
        C = logits.shape[-1]
        if t.dtype.kind in "iub":
            return scale * (either.softmax(logits, -1) - _onehot(t, C, logits.dtype))
        return scale * (either.softmax(logits, -1) * target.sum(axis=-1, keepdims=True) - target)
    if saved is None:  # called without the forward's record (e.g. by hand)
        saved = stable_softmax(logits, -1)
    if t.dtype.kind not in "iub":  # −Σ y log ŷ: ŷ Σ y − y, which is ŷ − y when Σ y = 1
        return scale * (saved * target.sum(axis=-1, keepdims=True) - target)
    # ŷ − e(ℓ), scaled: δ_i (the one scalar, or the per-row column of 'none') taken off at
    # each example's class only, where the mask e(ℓ) is true; one elementwise call, which a
    # compiled step replays into its buffers
    d = np.multiply(saved, scale, order="C")
    np.subtract(d, scale, out=d, where=t[..., None] == np.arange(logits.shape[-1]))
    return d


def _ce_vjp_target(g, out, logits, target, reduction="mean", saved=None):
    return _upstream(g, reduction, _n_rows(logits), 1) * -either.log_softmax(logits)


def _reduced(per: Any, reduction: str, n: int) -> Any:
    """Per-example tangents of a loss, reduced as the loss is (mean: ÷ n)."""
    if reduction == "none":
        return per
    total = per.sum()
    return total / float(max(n, 1)) if reduction == "mean" else total


def _ce_jvp_logits(t, out, logits, target, reduction="mean"):
    """L̇_i = ⟨ŷ_i − e(ℓ_i), ȧ_i⟩ (ŷ Σy − y for probability targets y)."""
    tv = either.value(target)
    p = either.softmax(logits, -1)
    if tv.dtype.kind in "iub":
        d = p - _onehot(tv, logits.shape[-1], either.value(logits).dtype)
    else:
        d = p * target.sum(axis=-1, keepdims=True) - target
    return _reduced((d * t).sum(axis=-1), reduction, _n_rows(logits))


def _ce_jvp_target(t, out, logits, target, reduction="mean"):
    return _reduced(-(t * either.log_softmax(logits)).sum(axis=-1), reduction, _n_rows(logits))


CROSS_ENTROPY = defop(
    "cross_entropy", _ce_forward, _ce_vjp_logits, _ce_vjp_target,
    role="loss",
    formula="L = −log softmax(a)_ℓ", grads=("ŷ − e(ℓ)  (÷N for a mean)", "−log ŷ"),
    keeps=True,
    doc="softmax + cross-entropy on logits; class-index or probability targets",
    jvps=(("⟨ŷ − e(ℓ), ȧ⟩  (÷N for a mean)", _ce_jvp_logits), ("−⟨ẏ, log ŷ⟩", _ce_jvp_target)),
)


def _nll_forward(logp: np.ndarray, target: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """`L_i = −log ŷ_iℓ`: row i's entry at its class ℓ_i."""
    _check_classes("nll_loss", target, logp.shape[-1])
    picked = logp.reshape(-1, logp.shape[-1])[np.arange(target.size), target.reshape(-1)]
    return _reduce(-picked.reshape(target.shape), reduction)


def _nll_jvp(t, out, logp, target, reduction="mean"):
    onehot = _onehot(either.value(target), logp.shape[-1], either.value(logp).dtype)
    return _reduced(-(t * onehot).sum(axis=-1), reduction, _n_rows(logp))


NLL_LOSS = defop(
    "nll_loss", _nll_forward,
    lambda g, out, logp, target, reduction="mean": _upstream(g, reduction, _n_rows(logp), 1)
    * -_onehot(either.value(target), logp.shape[-1], either.value(logp).dtype),
    None,
    role="loss",
    formula="L = −log ŷ_ℓ", grads=("−e(ℓ)", "—"), saves=(1,),
    doc="negative log-likelihood of log-probabilities",
    jvps=(("−(log ŷ)˙_ℓ", _nll_jvp), None),
)


def _mse_forward(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> np.ndarray:
    return _reduce((pred - target) ** 2, reduction)


def _mse_vjp(sign: float):
    def vjp(g, out, pred, target, reduction="mean"):
        if reduction == "mean":
            g = g / float(max(int(np.prod(np.broadcast_shapes(pred.shape, target.shape))), 1))
        return g * (2.0 * sign) * (pred - target)

    return vjp


def _size(a: Any, b: Any) -> int:
    return int(np.prod(np.broadcast_shapes(a.shape, b.shape)))


def _mse_jvp(sign: float):
    def jvp(t, out, pred, target, reduction="mean"):
        return _reduced((pred - target) * t * (2.0 * sign), reduction, _size(pred, target))

    return jvp


MSE_LOSS = defop(
    "mse_loss", _mse_forward, _mse_vjp(1.0), _mse_vjp(-1.0),
    role="loss",
    formula="L = mean (ŷ − y)²", grads=("2(ŷ − y)/n", "−2(ŷ − y)/n"),
    doc="squared error, mean over elements (PyTorch); the lecture's ½‖ŷ − y‖² is in reference",
    jvps=(("2⟨ŷ − y, ŷ̇⟩/n", _mse_jvp(1.0)), ("−2⟨ŷ − y, ẏ⟩/n", _mse_jvp(-1.0))),
)


def _bce_forward(z: np.ndarray, y: np.ndarray, reduction: str = "mean") -> np.ndarray:
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return _reduce(loss, reduction)


def _bce_scale(g, z, reduction):
    return g / float(max(int(np.prod(z.shape)), 1)) if reduction == "mean" else g


def _bce_jvp_z(t, out, z, y, reduction="mean"):
    return _reduced((either.sigmoid(z) - y) * t, reduction, _size(z, y))


def _bce_jvp_y(t, out, z, y, reduction="mean"):
    return _reduced(-z * t, reduction, _size(z, y))


BCE_WITH_LOGITS = defop(
    "binary_cross_entropy_with_logits", _bce_forward,
    lambda g, out, z, y, reduction="mean": _bce_scale(g, z, reduction) * (either.sigmoid(z) - y),
    lambda g, out, z, y, reduction="mean": _bce_scale(g, z, reduction) * -z,
    role="loss",
    formula="L = −[y log σ(z) + (1−y) log(1−σ(z))]", grads=("σ(z) − y", "−z"),
    doc="sigmoid + binary cross-entropy on logits, stable for any z",
    jvps=(("⟨σ(z) − y, ż⟩", _bce_jvp_z), ("−⟨z, ẏ⟩", _bce_jvp_y)),
)


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _softmax_dim(op: str, dim: Any, axis: Any, dtype: Any) -> int:
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}(): give dim= or axis=, not both")
        dim = axis
    if dtype is not None:
        raise TypeError(f"{op}(): dtype= is not supported; convert the input first, "
                        f"e.g. x.double()")
    return -1 if dim is None else int(dim)


def softmax(x: Any, dim: int | None = None, *, axis: int | None = None,
            dtype: Any = None) -> Tensor:
    """`ŷ = exp(a) / Σ exp(a)` along `dim` (the last by default; PyTorch asks for it).
    ∇a = ŷ ⊙ (δ − ⟨δ, ŷ⟩)."""
    return apply(SOFTMAX, x, axis=_softmax_dim("softmax", dim, axis, dtype))


def log_softmax(x: Any, dim: int | None = None, *, axis: int | None = None,
                dtype: Any = None) -> Tensor:
    """`log ŷ = a − logsumexp(a)` along `dim` (the last by default). ∇a = δ − ŷ Σ δ."""
    return apply(LOG_SOFTMAX, x, axis=_softmax_dim("log_softmax", dim, axis, dtype))


def _class_target(op: str, logits: Any, target: Any) -> Any:
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    shape = logits.shape
    if t.dtype.kind in "iu":
        if t.shape != shape[:-1]:
            raise ValueError(
                f"{op}: class targets of shape {t.shape} do not match logits of shape {shape}; "
                f"expected targets of shape {shape[:-1]} (one class index per row)"
            )
        return target if isinstance(target, Tensor) else t  # a named target keeps its node
    if t.dtype.kind == "f":
        if t.shape != shape:
            raise ValueError(
                f"{op}: probability targets of shape {t.shape} must match logits {shape}"
            )
        return target
    raise TypeError(f"{op}: targets must be integer class indices or float probabilities, "
                    f"got {t.dtype}")


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax + cross-entropy on logits `a` of shape (N, C) or (C,).

    `L_i = −log softmax(a_i)_{ℓ_i}` for class-index targets ℓ (or `−Σ_c y_c log ŷ_c` for
    probability targets), reduced by mean (over N), sum or none.
    ∇a = (ŷ − e(ℓ)) / N for the mean: the lecture's `−(e(ℓ) − ŷ)`.
    """
    _check_reduction("cross_entropy", reduction)
    if np.ndim(logits.data if isinstance(logits, Tensor) else logits) == 0:
        raise ValueError("cross_entropy: logits must have a class axis, got a 0-d tensor")
    target = _class_target("cross_entropy", logits, target)
    return apply(CROSS_ENTROPY, logits, target, reduction=reduction)


def nll_loss(logp: Any, target: Any, reduction: str = "mean") -> Tensor:
    """`L = −log ŷ_ℓ` from log-probabilities. ∇(log ŷ) = −e(ℓ) (÷N for a mean)."""
    _check_reduction("nll_loss", reduction)
    target = _class_target("nll_loss", logp, target)
    dt = np.asarray(either.value(target)).dtype
    if dt.kind not in "iu":  # log-probabilities are picked by class index only
        raise TypeError(
            f"nll_loss: targets must be integer class indices of shape {logp.shape[:-1]}, got "
            f"{dt} of shape {logp.shape}; for probability targets use cross_entropy on the "
            f"logits"
        )
    return apply(NLL_LOSS, logp, target, reduction=reduction)


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """`L = mean (ŷ − y)²` over elements (PyTorch's convention). ∇ŷ = 2(ŷ − y)/n."""
    _check_reduction("mse_loss", reduction)
    return apply(MSE_LOSS, pred, target, reduction=reduction)


def binary_cross_entropy_with_logits(z: Any, y: Any, reduction: str = "mean") -> Tensor:
    """`L = −[y log σ(z) + (1 − y) log(1 − σ(z))]`, computed stably from logits.
    ∇z = σ(z) − y (÷n for a mean)."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    return apply(BCE_WITH_LOGITS, z, y, reduction=reduction)
