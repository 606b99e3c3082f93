r"""Each of minigrad's layers (``nn`` modules) as its hand-derived formulas: the table that
`compare` reads to set any model beside autograd, module by module.

A `LayerFormula` runs one module's forward and backward in float64 numpy, from the formula
book (`dense`, `convolution`, `normalization`, `embedding`, `attention`, `dropout`), given
the module (for its parameters and settings) and the arrays of its inputs. The table is
keyed by the module's class name and looked up at run time, so a test can swap one entry
(or one formula function of the book) and watch `compare` flag exactly the rows it feeds.

Gradient keys: ``"x"`` for the module's input (``"x1"``, … for further inputs, in the order
its ops take them) and a parameter's name relative to the module (``"weight"``,
``"out_proj.bias"``). The transformer's ``Residual`` (``h + f(h)``, two inputs) sends δ to
both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.reference import attention as _attention
from minigrad.reference import convolution as _conv
from minigrad.reference import dense as _dense
from minigrad.reference import dropout as _dropout
from minigrad.reference import embedding as _embedding
from minigrad.reference import normalization as _norm

__all__ = ["LAYER_FORMULAS", "LayerFormula", "formula_for"]


@dataclass
class LayerFormula:
    """A layer's formulas.

    Attributes:
        forward: ``(module, inputs, autograd_output) -> (output, cache)``; the autograd output
            is given only for what no formula can know (dropout's random mask).
        backward: ``(module, inputs, cache, δ) -> {key: gradient}`` for the input(s) and
            every parameter.
        labels: the formula of each row, in the lecture's notation: ``"out"`` for the
            forward, then one per gradient key.
        applies: whether the formula covers this module's settings (e.g. a batch norm
            without running statistics in evaluation); by default always.
    """

    forward: Callable[[Any, list[np.ndarray], np.ndarray], tuple[np.ndarray, Any]]
    backward: Callable[[Any, list[np.ndarray], Any, np.ndarray], dict[str, np.ndarray]]
    labels: dict[str, str]
    applies: Callable[[Any], str | None] = field(default=lambda m: None)
    """Returns None when the formula applies, else why not."""


def _param(module: Any, name: str) -> np.ndarray | None:
    """A parameter (or buffer) of the module as float64, or None when absent."""
    t = getattr(module, name, None)
    return None if t is None else np.asarray(t.data, dtype=np.float64)


# --------------------------------------------------------------------------- dense
def _linear_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return _dense.linear_forward(xs[0], _param(m, "weight"), _param(m, "bias")), None  # type: ignore[arg-type]


def _linear_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    W = _param(m, "weight")
    assert W is not None
    dx, dW, db = _dense.linear_backward(delta, xs[0], W, bias=getattr(m, "bias", None) is not None)
    out = {"x": dx, "weight": dW}
    if db is not None:
        out["bias"] = db
    return out


def _activation(name: str, label: str) -> LayerFormula:
    def g(m: Any) -> _dense.Activation:
        if name == "leaky_relu":
            return _dense.Activation(name, {"negative_slope": float(getattr(m, "negative_slope",
                                                                            0.01))})
        return _dense.Activation(name)

    def fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
        return _dense.activation_forward(g(m), xs[0]), None

    def bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
        return {"x": _dense.activation_backward(g(m), delta, xs[0])}

    return LayerFormula(fwd, bwd, {"out": f"{label}(a)", "x": f"δ ⊙ {label}′(a)"})


def _flatten_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    x = xs[0]
    start = getattr(m, "start_dim", 1) % x.ndim
    end = getattr(m, "end_dim", -1) % x.ndim
    shape = x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:]
    return x.reshape(shape), x.shape


def _flatten_bwd(m: Any, xs: list[np.ndarray], shape: Any, delta: np.ndarray
                 ) -> dict[str, np.ndarray]:
    return {"x": delta.reshape(shape)}


# --------------------------------------------------------------------------- convolution
def _conv_args(m: Any) -> dict[str, Any]:
    return {k: getattr(m, k) for k in ("stride", "padding", "dilation", "groups")}


def _conv_applies(m: Any) -> str | None:
    if getattr(m, "padding_mode", "zeros") != "zeros":
        return f"padding_mode={m.padding_mode!r} (the formulas pad with zeros)"
    if isinstance(getattr(m, "padding", 0), str):
        return f"padding={m.padding!r} (the formulas take the padding as numbers)"
    return None


def _conv2d_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    out = _conv.conv2d_forward(xs[0], _param(m, "weight"), _param(m, "bias"),  # type: ignore[arg-type]
                               **_conv_args(m))
    return out, None


def _conv2d_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    dx, dW, db = _conv.conv2d_backward(delta, xs[0], _param(m, "weight"), **_conv_args(m))  # type: ignore[arg-type]
    out = {"x": dx, "weight": dW}
    if getattr(m, "bias", None) is not None:
        out["bias"] = db
    return out


def _as_int(v: Any) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def _conv1d_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    a = {k: _as_int(v) if k != "groups" else int(v) for k, v in _conv_args(m).items()}
    return _conv.conv1d_forward(xs[0], _param(m, "weight"), _param(m, "bias"), **a), None  # type: ignore[arg-type]


def _conv1d_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    a = {k: _as_int(v) if k != "groups" else int(v) for k, v in _conv_args(m).items()}
    dx, dW, db = _conv.conv1d_backward(delta, xs[0], _param(m, "weight"), **a)  # type: ignore[arg-type]
    out = {"x": dx, "weight": dW}
    if getattr(m, "bias", None) is not None:
        out["bias"] = db
    return out


def _pool_args(m: Any) -> tuple[Any, Any, Any]:
    return m.kernel_size, getattr(m, "stride", None), getattr(m, "padding", 0)


def _pool_applies(m: Any) -> str | None:
    if getattr(m, "ceil_mode", False):
        return "ceil_mode=True (the formulas take whole windows only)"
    if getattr(m, "dilation", 1) not in (1, (1, 1)):
        return "dilation ≠ 1"
    if getattr(m, "count_include_pad", True) is False:
        return "count_include_pad=False (the formulas divide by k²)"
    return None


def _maxpool_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return _conv.max_pool2d_forward(xs[0], *_pool_args(m)), None


def _maxpool_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": _conv.max_pool2d_backward(delta, xs[0], *_pool_args(m))}


def _avgpool_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return _conv.avg_pool2d_forward(xs[0], *_pool_args(m)), None


def _avgpool_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": _conv.avg_pool2d_backward(delta, xs[0], *_pool_args(m))}


# --------------------------------------------------------------------------- normalization
def _bn_uses_batch(m: Any) -> bool:
    return bool(m.training) or (getattr(m, "running_mean", None) is None
                                and getattr(m, "running_var", None) is None)


def _bn_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    batch = _bn_uses_batch(m)
    return _norm.batch_norm_forward(
        xs[0], _param(m, "weight"), _param(m, "bias"), float(m.eps), training=batch,
        running_mean=None if batch else _param(m, "running_mean"),
        running_var=None if batch else _param(m, "running_var"))


def _affine(m: Any, out: dict[str, np.ndarray], dg: np.ndarray, db: np.ndarray
            ) -> dict[str, np.ndarray]:
    if getattr(m, "weight", None) is not None:
        out["weight"] = dg
    if getattr(m, "bias", None) is not None:
        out["bias"] = db
    return out


def _bn_bwd(m: Any, xs: list[np.ndarray], cache: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    dx, dg, db = _norm.batch_norm_backward(delta, cache, _param(m, "weight"))
    return _affine(m, {"x": dx}, dg, db)


def _ln_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return _norm.layer_norm_forward(xs[0], tuple(m.normalized_shape), _param(m, "weight"),
                                    _param(m, "bias"), float(m.eps))


def _ln_bwd(m: Any, xs: list[np.ndarray], cache: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    dx, dg, db = _norm.layer_norm_backward(delta, cache, _param(m, "weight"))
    return _affine(m, {"x": dx}, dg, db)


# --------------------------------------------------------------------------- the rest
def _emb_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return _embedding.embedding_forward(xs[0].astype(np.intp), _param(m, "weight")), None  # type: ignore[arg-type]


def _emb_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray) -> dict[str, np.ndarray]:
    W = _param(m, "weight")
    assert W is not None
    return {"weight": _embedding.embedding_backward(delta, xs[0].astype(np.intp), W.shape[0])}


def _dropout_fwd(m: Any, xs: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, Any]:
    mask = _dropout.mask_from_output(xs[0], y)
    return _dropout.dropout_forward(xs[0], mask, m.p, m.training), mask


def _dropout_bwd(m: Any, xs: list[np.ndarray], mask: Any, delta: np.ndarray
                 ) -> dict[str, np.ndarray]:
    return {"x": _dropout.dropout_backward(delta, mask, m.p, m.training)}


def _csa_params(m: Any) -> tuple[Any, Any, Any, Any]:
    return (_param(m, "in_proj_weight"), _param(m, "in_proj_bias"), _param(m.out_proj, "weight"),
            _param(m.out_proj, "bias"))


def _csa_applies(m: Any) -> str | None:
    if m.training and getattr(m, "dropout", 0.0) > 0:
        return "dropout in training (its random mask is inside the layer)"
    return None


def _csa_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return _attention.causal_self_attention_forward(xs[0], *_csa_params(m), int(m.num_heads))


def _csa_bwd(m: Any, xs: list[np.ndarray], cache: Any, delta: np.ndarray
             ) -> dict[str, np.ndarray]:
    g = _attention.causal_self_attention_backward(delta, cache)
    out = {"x": g["x"], "in_proj_weight": g["W_in"], "out_proj.weight": g["W_out"]}
    if getattr(m, "in_proj_bias", None) is not None:
        out["in_proj_bias"] = g["b_in"]
    if getattr(m.out_proj, "bias", None) is not None:
        out["out_proj.bias"] = g["b_out"]
    return out


def _residual_fwd(m: Any, xs: list[np.ndarray], _: np.ndarray) -> tuple[np.ndarray, Any]:
    return xs[0] + xs[1], None


def _residual_bwd(m: Any, xs: list[np.ndarray], _: Any, delta: np.ndarray
                  ) -> dict[str, np.ndarray]:
    # a sum passes δ unchanged to both terms: the skip path is why deep residual nets train
    return {"x": delta, "x1": delta}


_NORM = "(γ/σ)/M·(M·δ − Σδ − x̂·Σ(δ⊙x̂))"

# The rulebook of layers, as data.
LAYER_FORMULAS: dict[str, LayerFormula] = {
    "Linear": LayerFormula(_linear_fwd, _linear_bwd, {
        "out": "b + W h", "x": "Wᵀ·δ", "weight": "δ·hᵀ", "bias": "Σ δ"}),
    "ReLU": _activation("relu", "relu"),
    "Tanh": _activation("tanh", "tanh"),
    "Sigmoid": _activation("sigmoid", "σ"),
    "LeakyReLU": _activation("leaky_relu", "leaky_relu"),
    "GELU": _activation("gelu", "gelu"),
    "Softplus": _activation("softplus", "softplus"),
    "Identity": _activation("linear", "id"),
    "Flatten": LayerFormula(_flatten_fwd, _flatten_bwd, {"out": "reshape(x)",
                                                         "x": "reshape(δ)"}),
    "Conv1d": LayerFormula(_conv1d_fwd, _conv1d_bwd, {
        "out": "b + W ⋆ x", "x": "δ ∗ flip(W)", "weight": "x ⋆ δ", "bias": "Σ δ"},
        _conv_applies),
    "Conv2d": LayerFormula(_conv2d_fwd, _conv2d_bwd, {
        "out": "b + W ⋆ x", "x": "δ ∗ flip(W)", "weight": "x ⋆ δ", "bias": "Σ δ"},
        _conv_applies),
    "MaxPool2d": LayerFormula(_maxpool_fwd, _maxpool_bwd, {
        "out": "max over each window", "x": "δ to the arg-max"}, _pool_applies),
    "AvgPool2d": LayerFormula(_avgpool_fwd, _avgpool_bwd, {
        "out": "mean over each window", "x": "δ/k² to each"}, _pool_applies),
    "BatchNorm1d": LayerFormula(_bn_fwd, _bn_bwd, {
        "out": "γ x̂ + β", "x": _NORM, "weight": "Σ δ⊙x̂", "bias": "Σ δ"}),
    "BatchNorm2d": LayerFormula(_bn_fwd, _bn_bwd, {
        "out": "γ x̂ + β", "x": _NORM, "weight": "Σ δ⊙x̂", "bias": "Σ δ"}),
    "LayerNorm": LayerFormula(_ln_fwd, _ln_bwd, {
        "out": "γ ⊙ x̂ + β", "x": "(1/σ)/M·(M·∇x̂ − Σ∇x̂ − x̂·Σ(∇x̂⊙x̂))", "weight": "Σ δ⊙x̂",
        "bias": "Σ δ"}),
    "Embedding": LayerFormula(_emb_fwd, _emb_bwd, {"out": "W[t]",
                                                   "weight": "δ rows added at t"}),
    "Residual": LayerFormula(_residual_fwd, _residual_bwd, {"out": "h + f(h)", "x": "δ",
                                                            "x1": "δ"}),
    "Dropout": LayerFormula(_dropout_fwd, _dropout_bwd, {"out": "x ⊙ m/(1−p)",
                                                         "x": "δ ⊙ m/(1−p)"}),
    "CausalSelfAttention": LayerFormula(_csa_fwd, _csa_bwd, {
        "out": "softmax(QKᵀ/√d + mask) V, projected",
        "x": "W_inᵀ·[∇Q ∇K ∇V], ∇S = P⊙(∇P − rowsum(∇P⊙P))",
        "in_proj_weight": "[∇Q ∇K ∇V]·xᵀ", "in_proj_bias": "Σ [∇Q ∇K ∇V]",
        "out_proj.weight": "δ·oᵀ", "out_proj.bias": "Σ δ"}, _csa_applies),
}


def formula_for(module: Any) -> tuple[str, LayerFormula] | tuple[str, None]:
    """The module's formula by class (a subclass maps like its base unless it overrides
    ``forward``), or None with the reason."""
    for cls in type(module).__mro__:
        f = LAYER_FORMULAS.get(cls.__name__)
        if f is None or not cls.__module__.startswith("minigrad."):
            continue
        if getattr(type(module), "forward", None) is not getattr(cls, "forward", None):
            return f"{type(module).__name__} overrides {cls.__name__}.forward", None
        why = f.applies(module)
        return (cls.__name__, f) if why is None else (why, None)
    return f"no formula for {type(module).__name__}", None
