r"""Moving models between minigrad and PyTorch, weights included.

minigrad's layers keep PyTorch's state_dict keys, shapes and layouts (a `Linear`'s `W_k` is
(n_k, n_{k−1}) in both, a `Conv2d`'s kernel (C_out, C_in/groups, kH, kW)), so a state dict moves
across unchanged; only the array type differs:

    torch_module.load_state_dict(state_dict_to_torch(model))   # minigrad → PyTorch
    model.load_state_dict(state_dict_from_torch(torch_module))  # PyTorch → minigrad

`to_torch(model)` and `from_torch(module)` build the other side's model themselves, layer by
layer, with the same hyperparameters, dtype, training mode and a copy of the weights (and of
the running statistics of batch norm):

- each layer becomes its ``torch.nn`` counterpart (`Linear`, `Conv1d`, `Conv2d`, `MaxPool2d`,
  `AvgPool2d`, `Flatten`, `BatchNorm1d`, `BatchNorm2d`, `LayerNorm`, `Embedding`, `Dropout`
  and the activations);
- `Sequential` becomes ``torch.nn.Sequential`` with the same child names;
- `MLP`, `CausalSelfAttention` and the example models (`minigrad.models`) become PyTorch twins
  defined here: ``torch.nn`` modules with the same children, so the same dotted parameter
  names (``blocks.0.attn.in_proj_weight``), and the same forward. `CausalSelfAttention`'s twin
  is a ``torch.nn.MultiheadAttention`` that applies the causal mask itself.

A layer with no counterpart, or a setting the other side cannot reproduce (PyTorch's exact-erf
GELU: minigrad has the tanh approximation), is an `UnsupportedLayerError` naming the layer by
its dotted path and class, raised before anything is built.

PyTorch is imported only when one of these functions runs.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from minigrad import nn
from minigrad.models import transformer as _transformer
from minigrad.tensor import Tensor

__all__ = [
    "to_torch",
    "from_torch",
    "state_dict_to_torch",
    "state_dict_from_torch",
    "UnsupportedLayerError",
]


class UnsupportedLayerError(TypeError):
    """A layer has no counterpart on the other side (or uses a setting it cannot reproduce)."""


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is in the test environment
        raise ImportError("minigrad.interop needs PyTorch: pip install torch") from e
    return torch


def _where(path: str) -> str:
    return f"layer {path!r}" if path else "the model itself"


def _child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --------------------------------------------------------------------------- state dicts
def state_dict_to_torch(state: nn.Module | Mapping[str, Any]) -> OrderedDict[str, Any]:
    """A minigrad state dict (or a model's) as PyTorch tensors, ready for
    ``torch_module.load_state_dict``. The tensors are copies: training either model on does
    not change the other.

    Args:
        state: a `Module`, or a mapping of name → Tensor or numpy array (``state_dict()``,
            ``minigrad.load(path)``).
    """
    torch = _torch()
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if not isinstance(state, Mapping):
        raise TypeError(
            f"state_dict_to_torch: expected a Module or a mapping of name → array, "
            f"got {type(state).__name__}"
        )
    out: OrderedDict[str, Any] = OrderedDict()
    for name, value in state.items():
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        out[name] = torch.from_numpy(np.array(arr, copy=True))
    return out


def state_dict_from_torch(state: Any) -> OrderedDict[str, np.ndarray]:
    """A PyTorch state dict (or a module's) as numpy arrays, ready for
    `Module.load_state_dict`. The arrays are copies.

    Args:
        state: a ``torch.nn.Module``, or a mapping of name → ``torch.Tensor``.
    """
    torch = _torch()
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    if not isinstance(state, Mapping):
        raise TypeError(
            f"state_dict_from_torch: expected a torch.nn.Module or a mapping of name → "
            f"torch.Tensor, got {type(state).__name__}"
        )
    return OrderedDict(
        (name, v.detach().cpu().numpy().copy() if isinstance(v, torch.Tensor) else np.array(v))
        for name, v in state.items()
    )


# --------------------------------------------------------------------------- PyTorch twins
_TWINS: dict[str, type] = {}


def _twins(torch: Any) -> dict[str, type]:
    """The PyTorch twins of minigrad's composite modules, made once, on first use (PyTorch is
    imported only then). Each has the minigrad module's children under the same names and its
    forward; `_FIELDS` lists the plain attributes copied across."""
    if _TWINS:
        return _TWINS
    tnn = torch.nn
    Module: Any = tnn.Module  # Any: mypy sees no torch types here
    MultiheadAttention: Any = tnn.MultiheadAttention

    class MLP(Module):
        """PyTorch twin of `minigrad.nn.MLP`: ``layers`` run in order."""

        def forward(self, x: Any) -> Any:
            return self.layers(x)

    class CausalSelfAttention(MultiheadAttention):
        """PyTorch twin of `minigrad.nn.CausalSelfAttention`: a batch-first
        MultiheadAttention over (…, L, E) that masks the future itself, then dropout on the
        output (``out_dropout``) as minigrad's does."""

        out_dropout: float

        def forward(self, x: Any) -> Any:  # type: ignore[override]
            L = x.shape[-2]
            blocked = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
            lead = x.shape[:-2]
            flat = x.reshape(-1, L, x.shape[-1]) if len(lead) != 1 else x
            y = super().forward(flat, flat, flat, attn_mask=blocked, need_weights=False)[0]
            y = tnn.functional.dropout(y, self.out_dropout, self.training)
            return y.reshape(x.shape) if len(lead) != 1 else y

    class Residual(Module):
        """PyTorch twin of `minigrad.models.transformer.Residual`: h + f(h)."""

        def forward(self, h: Any, fh: Any) -> Any:
            return h + fh

    class Block(Module):
        """PyTorch twin of `minigrad.models.transformer.Block` (pre-LN)."""

        def forward(self, h: Any) -> Any:
            h = self.res_1(h, self.attn(self.ln_1(h)))
            return self.res_2(h, self.mlp(self.ln_2(h)))

    class DigitsCNN(Module):
        """PyTorch twin of `minigrad.models.cnn.DigitsCNN`: its layers in order."""

        def forward(self, x: Any) -> Any:
            for layer in self.children():
                x = layer(x)
            return x

    class TinyTransformer(Module):
        """PyTorch twin of `minigrad.models.transformer.TinyTransformer`."""

        block_size: int

        def forward(self, tokens: Any) -> Any:
            L = tokens.shape[-1]
            if tokens.ndim < 1 or not 1 <= L <= self.block_size:
                raise ValueError(f"TinyTransformer: tokens of shape {tuple(tokens.shape)} do "
                                 f"not fit block_size={self.block_size}")
            pos = torch.arange(L, device=tokens.device)
            h = self.tok_emb(tokens) + self.pos_emb(pos)
            return self.head(self.ln_f(self.blocks(h)))

    for cls in (MLP, CausalSelfAttention, Residual, Block, DigitsCNN, TinyTransformer):
        cls.__module__ = __name__
        cls.__qualname__ = f"torch_twin.{cls.__name__}"
        _TWINS[cls.__name__] = cls
    return _TWINS


_COMPOSITES: dict[type[nn.Module], tuple[str, ...]] = {
    nn.MLP: ("sizes", "activation", "output"),
    _transformer.Residual: (),
    _transformer.Block: (),
    _transformer.TinyTransformer: ("vocab_size", "block_size"),
}
"""minigrad composite class → the plain attributes its twin carries (children go across
converted, under the same names)."""

try:  # the CNN of the examples, once it is part of minigrad.models
    _COMPOSITES[importlib.import_module("minigrad.models.cnn").DigitsCNN] = ("channels",)
except ImportError:  # pragma: no cover
    pass


def _composite_by_name() -> dict[str, type[nn.Module]]:
    return {cls.__name__: cls for cls in _COMPOSITES}


# --------------------------------------------------------------------------- dtypes
_TORCH_DTYPES = {"float32": "float32", "float64": "float64"}


def _floats(arrays: Iterator[np.dtype]) -> list[np.dtype]:
    return [d for d in arrays if d.kind == "f"]


def _mg_dtype(m: nn.Module) -> str:
    """The floating dtype of `m`'s own parameters and buffers (float32 when it has none)."""
    found = _floats(p.data.dtype for p in m.parameters())
    found += _floats(b.data.dtype for b in m.buffers())
    return str(found[0]) if found else "float32"


def _torch_dtype_name(t: Any, path: str) -> str:
    found = [str(p.dtype).removeprefix("torch.") for p in t.parameters()]
    found += [str(b.dtype).removeprefix("torch.") for b in t.buffers() if b.is_floating_point()]
    name = found[0] if found else "float32"
    if name not in _TORCH_DTYPES:
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} ({type(t).__name__}) holds {name} values; minigrad "
            f"models are float32 or float64 (convert with .float() or .double() first)"
        )
    return name


# --------------------------------------------------------------------------- minigrad → torch
def _conv_to_torch(m: Any, torch: Any, path: str) -> Any:
    cls = getattr(torch.nn, type(m).__name__)
    return cls(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
               dilation=m.dilation, groups=m.groups, bias=m.bias is not None,
               dtype=getattr(torch, _mg_dtype(m)))


def _batch_norm_to_torch(m: Any, torch: Any, path: str) -> Any:
    if m.affine and m.bias is None:
        raise UnsupportedLayerError(
            f"to_torch: {_where(path)} is a {type(m).__name__} with γ but no β (bias=False), "
            f"which torch.nn.{type(m).__name__} cannot express"
        )
    cls = getattr(torch.nn, type(m).__name__)
    return cls(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
               track_running_stats=m.track_running_stats, dtype=getattr(torch, _mg_dtype(m)))


def _attention_to_torch(m: Any, torch: Any, path: str) -> Any:
    twin = _twins(torch)["CausalSelfAttention"](
        m.embed_dim, m.num_heads, bias=m.in_proj_bias is not None, batch_first=True,
        dtype=getattr(torch, _mg_dtype(m)))
    twin.out_dropout = m.dropout
    return twin


_TO_TORCH: dict[type, Callable[[Any, Any, str], Any]] = {
    nn.Linear: lambda m, torch, path: torch.nn.Linear(
        m.in_features, m.out_features, bias=m.bias is not None,
        dtype=getattr(torch, _mg_dtype(m))),
    nn.ReLU: lambda m, torch, path: torch.nn.ReLU(),
    nn.Tanh: lambda m, torch, path: torch.nn.Tanh(),
    nn.Sigmoid: lambda m, torch, path: torch.nn.Sigmoid(),
    nn.LeakyReLU: lambda m, torch, path: torch.nn.LeakyReLU(m.negative_slope),
    nn.GELU: lambda m, torch, path: torch.nn.GELU(approximate="tanh"),
    nn.Softplus: lambda m, torch, path: torch.nn.Softplus(),
    nn.Identity: lambda m, torch, path: torch.nn.Identity(),
    nn.Softmax: lambda m, torch, path: torch.nn.Softmax(dim=m.axis),
    nn.Dropout: lambda m, torch, path: torch.nn.Dropout(m.p),
    nn.Conv1d: _conv_to_torch,
    nn.Conv2d: _conv_to_torch,
    nn.MaxPool2d: lambda m, torch, path: torch.nn.MaxPool2d(
        m.kernel_size, m.stride, m.padding, m.dilation),
    nn.AvgPool2d: lambda m, torch, path: torch.nn.AvgPool2d(
        m.kernel_size, m.stride, m.padding, count_include_pad=True),
    nn.Flatten: lambda m, torch, path: torch.nn.Flatten(m.start_dim, m.end_dim),
    nn.BatchNorm1d: _batch_norm_to_torch,
    nn.BatchNorm2d: _batch_norm_to_torch,
    nn.LayerNorm: lambda m, torch, path: torch.nn.LayerNorm(
        m.normalized_shape, eps=m.eps, elementwise_affine=m.elementwise_affine,
        bias=m.bias is not None or not m.elementwise_affine,
        dtype=getattr(torch, _mg_dtype(m))),
    nn.Embedding: lambda m, torch, path: torch.nn.Embedding(
        m.num_embeddings, m.embedding_dim, dtype=getattr(torch, _mg_dtype(m))),
    nn.CausalSelfAttention: _attention_to_torch,
}
"""minigrad layer class → the function building its PyTorch counterpart (the weights are
copied afterwards, for the whole model at once)."""


def _supported_to_torch() -> str:
    names = ["Sequential"] + [c.__name__ for c in _COMPOSITES] + [c.__name__ for c in _TO_TORCH]
    return ", ".join(dict.fromkeys(names))


def _check_to_torch(m: nn.Module, path: str) -> None:
    kind = type(m)
    if kind is nn.Sequential or kind in _COMPOSITES:
        for name, child in m.named_children():
            _check_to_torch(child, _child_path(path, name))
    elif kind not in _TO_TORCH:
        raise UnsupportedLayerError(
            f"to_torch: {_where(path)} is a {kind.__module__}.{kind.__name__}, which has no "
            f"PyTorch counterpart here; supported: {_supported_to_torch()}"
        )


def _build_torch(m: nn.Module, torch: Any, path: str) -> Any:
    kind = type(m)
    children = [] if kind in _TO_TORCH else [
        (name, _build_torch(child, torch, _child_path(path, name)))
        for name, child in m.named_children()]
    if kind is nn.Sequential:
        out = torch.nn.Sequential(OrderedDict(children))
    elif kind in _COMPOSITES:
        twin = _twins(torch)[kind.__name__]
        out = twin()
        for field in _COMPOSITES[kind]:
            setattr(out, field, getattr(m, field))
        for name, child in children:
            out.add_module(name, child)
    else:
        out = _TO_TORCH[kind](m, torch, path)
    out.training = m.training  # this module only: a child may differ from its parent
    return out


def to_torch(model: nn.Module) -> Any:
    """The PyTorch equivalent of a minigrad model, with a copy of its weights.

    For the same input both compute the same outputs (in eval mode, or in training mode
    without dropout), and their state dicts have the same keys, shapes and values.

    Raises:
        UnsupportedLayerError: a layer (named by its dotted path) has no counterpart.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"to_torch: expected a minigrad nn.Module, got {type(model).__name__}")
    _check_to_torch(model, "")
    torch = _torch()
    out = _build_torch(model, torch, "")
    out.load_state_dict(state_dict_to_torch(model), strict=True)
    return out


# --------------------------------------------------------------------------- torch → minigrad
def _refuse(path: str, t: Any, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(f"from_torch: {_where(path)} is {t!r}; {why}")


def _conv_from_torch(t: Any, path: str) -> nn.Module:
    if t.padding_mode != "zeros":
        raise _refuse(path, t, "minigrad pads convolutions with zeros only")
    cls = getattr(nn, type(t).__name__)
    return cls(t.in_channels, t.out_channels, t.kernel_size, stride=t.stride,
               padding=t.padding, dilation=t.dilation, groups=t.groups,
               bias=t.bias is not None, dtype=_torch_dtype_name(t, path))


def _max_pool_from_torch(t: Any, path: str) -> nn.Module:
    if t.ceil_mode or t.return_indices:
        raise _refuse(path, t, "minigrad's MaxPool2d has neither ceil_mode nor return_indices")
    return nn.MaxPool2d(t.kernel_size, t.stride, t.padding, t.dilation)


def _avg_pool_from_torch(t: Any, path: str) -> nn.Module:
    if t.ceil_mode or not t.count_include_pad or t.divisor_override is not None:
        raise _refuse(path, t, "minigrad's AvgPool2d divides by the whole window, padding "
                               "included (ceil_mode=False, count_include_pad=True, no "
                               "divisor_override)")
    return nn.AvgPool2d(t.kernel_size, t.stride, t.padding)


def _batch_norm_from_torch(t: Any, path: str) -> nn.Module:
    cls = getattr(nn, type(t).__name__)
    return cls(t.num_features, eps=t.eps, momentum=t.momentum, affine=t.affine,
               track_running_stats=t.track_running_stats, dtype=_torch_dtype_name(t, path))


def _layer_norm_from_torch(t: Any, path: str) -> nn.Module:
    return nn.LayerNorm(t.normalized_shape, eps=t.eps, elementwise_affine=t.elementwise_affine,
                        bias=t.bias is not None or not t.elementwise_affine,
                        dtype=_torch_dtype_name(t, path))


def _embedding_from_torch(t: Any, path: str) -> nn.Module:
    if (t.padding_idx is not None or t.max_norm is not None or t.scale_grad_by_freq
            or t.sparse):
        raise _refuse(path, t, "minigrad's Embedding is a plain lookup (no padding_idx, "
                               "max_norm, scale_grad_by_freq or sparse gradients)")
    return nn.Embedding(t.num_embeddings, t.embedding_dim, dtype=_torch_dtype_name(t, path))


def _gelu_from_torch(t: Any, path: str) -> nn.Module:
    if t.approximate != "tanh":
        raise _refuse(path, t, "minigrad's GELU is the tanh approximation, "
                               "torch.nn.GELU(approximate='tanh')")
    return nn.GELU()


def _softplus_from_torch(t: Any, path: str) -> nn.Module:
    # above the threshold PyTorch returns a itself, where log(1 + eᵃ) differs by < e⁻²⁰
    if t.beta != 1 or t.threshold < 20:
        raise _refuse(path, t, "minigrad's Softplus is log(1 + eᵃ), PyTorch's with beta=1 "
                               "and threshold ≥ 20")
    return nn.Softplus()


def _softmax_from_torch(t: Any, path: str) -> nn.Module:
    if t.dim is None:
        raise _refuse(path, t, "PyTorch guesses the axis of Softmax(dim=None) from the "
                               "input; give it a dim")
    return nn.Softmax(axis=t.dim)


def _attention_from_torch(t: Any, path: str) -> nn.Module:
    return nn.CausalSelfAttention(t.embed_dim, t.num_heads, dropout=t.out_dropout,
                                  bias=t.in_proj_bias is not None,
                                  dtype=_torch_dtype_name(t, path))


def _multihead_from_torch(t: Any, path: str) -> nn.Module:
    raise _refuse(path, t, "its mask is an argument of each call, so it is not a layer on "
                           "its own; minigrad has CausalSelfAttention, whose PyTorch twin "
                           "(see to_torch) converts back")


_FROM_TORCH: dict[str, Callable[[Any, str], nn.Module]] = {
    "Linear": lambda t, path: nn.Linear(t.in_features, t.out_features,
                                        bias=t.bias is not None,
                                        dtype=_torch_dtype_name(t, path)),
    "ReLU": lambda t, path: nn.ReLU(),
    "Tanh": lambda t, path: nn.Tanh(),
    "Sigmoid": lambda t, path: nn.Sigmoid(),
    "LeakyReLU": lambda t, path: nn.LeakyReLU(t.negative_slope),
    "GELU": _gelu_from_torch,
    "Softplus": _softplus_from_torch,
    "Identity": lambda t, path: nn.Identity(),
    "Softmax": _softmax_from_torch,
    "Dropout": lambda t, path: nn.Dropout(t.p),
    "Conv1d": _conv_from_torch,
    "Conv2d": _conv_from_torch,
    "MaxPool2d": _max_pool_from_torch,
    "AvgPool2d": _avg_pool_from_torch,
    "Flatten": lambda t, path: nn.Flatten(t.start_dim, t.end_dim),
    "BatchNorm1d": _batch_norm_from_torch,
    "BatchNorm2d": _batch_norm_from_torch,
    "LayerNorm": _layer_norm_from_torch,
    "Embedding": _embedding_from_torch,
    "MultiheadAttention": _multihead_from_torch,
}
"""``torch.nn`` class name → the function building its minigrad counterpart."""


def _build_minigrad(t: Any, torch: Any, path: str) -> nn.Module:
    kind = type(t)
    name = kind.__name__
    twins = _twins(torch)
    if kind is twins.get("CausalSelfAttention"):
        out = _attention_from_torch(t, path)
    elif kind in twins.values():
        cls = _composite_by_name()[name]
        out = cls.__new__(cls)
        nn.Module.__init__(out)
        for field in _COMPOSITES[cls]:
            setattr(out, field, getattr(t, field))
        for child_name, child in t.named_children():
            out.add_module(child_name, _build_minigrad(child, torch,
                                                       _child_path(path, child_name)))
    elif kind is torch.nn.Sequential:
        out = nn.Sequential(OrderedDict(
            (child_name, _build_minigrad(child, torch, _child_path(path, child_name)))
            for child_name, child in t.named_children()
        ))
    elif name in _FROM_TORCH and kind is getattr(torch.nn, name, None):
        out = _FROM_TORCH[name](t, path)
    else:
        supported = ", ".join(["Sequential", *(n for n in _FROM_TORCH
                                               if n != "MultiheadAttention")])
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} is a {kind.__module__}.{name}, which has no minigrad "
            f"counterpart here; supported: {supported} (and the twins to_torch makes)"
        )
    out.training = t.training  # this module only: a child may differ from its parent
    return out


def from_torch(module: Any) -> nn.Module:
    """The minigrad equivalent of a PyTorch module, with a copy of its weights.

    ``torch.nn.Sequential`` becomes `Sequential` with the same child names, so the parameter
    names match; each layer becomes its `minigrad.nn` counterpart with the same
    hyperparameters, dtype and training mode; a twin made by `to_torch` becomes the minigrad
    module it came from (an `MLP`, a `TinyTransformer`, …).

    Raises:
        UnsupportedLayerError: a layer (named by its dotted path and class) has no counterpart,
            or uses a setting minigrad does not reproduce.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    out = _build_minigrad(module, torch, "")
    out.load_state_dict(state_dict_from_torch(module), strict=True)
    return out
