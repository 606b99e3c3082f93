r"""Moving models between minigrad and PyTorch, weights included.

minigrad's layers keep PyTorch's state_dict keys, shapes and layouts (a `Linear`'s `W_k` is
(n_k, n_{k−1}) in both), so a state dict moves across unchanged; only the array type differs:

    torch_module.load_state_dict(state_dict_to_torch(model))   # minigrad → PyTorch
    model.load_state_dict(state_dict_from_torch(torch_module))  # PyTorch → minigrad

`to_torch(model)` and `from_torch(module)` build the other side's model themselves, layer by
layer: containers (`Sequential`, `MLP`) become containers with the same child names, so the
dotted parameter names (``layers.0.weight``) match, and each layer becomes its counterpart
with the same hyperparameters, dtype, training mode and a copy of its weights. A layer with
no counterpart, or a setting the other side cannot reproduce (PyTorch's exact-erf GELU: minigrad
has the tanh approximation), is an `UnsupportedLayerError` naming the layer and its dotted
path, raised before anything is built.

PyTorch is imported only when one of these functions runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from minigrad import nn
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
        raise ImportError(
            "minigrad.interop needs PyTorch: pip install torch"
        ) from e
    return torch


def _where(path: str) -> str:
    return f"layer {path!r}" if path else "the model itself"


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


# --------------------------------------------------------------------------- minigrad → torch
def _dtype_of(module: nn.Module, torch: Any) -> Any:
    """The torch dtype of `module`'s floating parameters (float32 when it has none)."""
    for p in module.parameters():
        return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}.get(
            p.data.dtype, torch.float32)
    return torch.float32


def _linear_to_torch(m: nn.Linear, torch: Any, path: str) -> Any:
    return torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None,
                           dtype=_dtype_of(m, torch))


def _leaky_relu_to_torch(m: nn.LeakyReLU, torch: Any, path: str) -> Any:
    return torch.nn.LeakyReLU(m.negative_slope)


def _softmax_to_torch(m: nn.Softmax, torch: Any, path: str) -> Any:
    return torch.nn.Softmax(dim=m.axis)


def _dropout_to_torch(m: nn.Dropout, torch: Any, path: str) -> Any:
    return torch.nn.Dropout(m.p)


def _plain(name: str, **kwargs: Any) -> Callable[[Any, Any, str], Any]:
    def make(m: Any, torch: Any, path: str) -> Any:
        return getattr(torch.nn, name)(**kwargs)

    return make


_TO_TORCH: dict[type, Callable[[Any, Any, str], Any]] = {
    nn.Linear: _linear_to_torch,
    nn.ReLU: _plain("ReLU"),
    nn.Tanh: _plain("Tanh"),
    nn.Sigmoid: _plain("Sigmoid"),
    nn.LeakyReLU: _leaky_relu_to_torch,
    nn.GELU: _plain("GELU", approximate="tanh"),
    nn.Softplus: _plain("Softplus"),
    nn.Identity: _plain("Identity"),
    nn.Softmax: _softmax_to_torch,
    nn.Dropout: _dropout_to_torch,
}
"""minigrad layer class → the function building its PyTorch counterpart (weights are copied
afterwards, for the whole model at once)."""

_CONTAINERS: tuple[type, ...] = (nn.Sequential, nn.MLP)


def _check_to_torch(m: nn.Module, path: str) -> None:
    if type(m) in _CONTAINERS:
        for name, child in m.named_children():
            _check_to_torch(child, f"{path}.{name}" if path else name)
    elif type(m) not in _TO_TORCH:
        raise UnsupportedLayerError(
            f"to_torch: {_where(path)} is a {type(m).__name__}, which has no PyTorch "
            f"counterpart here; supported: {_names(_TO_TORCH, _CONTAINERS)}"
        )


def _build_torch(m: nn.Module, torch: Any, path: str) -> Any:
    if type(m) in _CONTAINERS:
        # MLP holds its layers in `layers`: a one-child Sequential keeps the key prefix
        out = torch.nn.Sequential(OrderedDict(
            (name, _build_torch(child, torch, f"{path}.{name}" if path else name))
            for name, child in m.named_children()
        ))
    else:
        out = _TO_TORCH[type(m)](m, torch, path)
    out.training = m.training  # this module only: a child may differ from its parent
    return out


def to_torch(model: nn.Module) -> Any:
    """The PyTorch equivalent of a minigrad model, with a copy of its weights.

    `Sequential` and `MLP` become ``torch.nn.Sequential`` with the same child names (an MLP's
    parameters stay ``layers.0.weight`` …); each layer becomes its ``torch.nn`` counterpart
    with the same hyperparameters, dtype and training mode. For the same input both models
    compute the same outputs (in eval mode, or in training mode without dropout).

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
_NP_DTYPES = {"torch.float32": "float32", "torch.float64": "float64"}


def _np_dtype(t: Any, path: str) -> str:
    params = list(t.parameters())
    if not params:
        return "float32"
    name = str(params[0].dtype)
    if name not in _NP_DTYPES:
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} ({type(t).__name__}) holds {name} parameters; "
            f"minigrad models are float32 or float64"
        )
    return _NP_DTYPES[name]


def _linear_from_torch(t: Any, path: str) -> nn.Module:
    return nn.Linear(t.in_features, t.out_features, bias=t.bias is not None,
                     dtype=_np_dtype(t, path))


def _gelu_from_torch(t: Any, path: str) -> nn.Module:
    if t.approximate != "tanh":
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} is GELU(approximate={t.approximate!r}); minigrad's "
            f"GELU is the tanh approximation, torch.nn.GELU(approximate='tanh')"
        )
    return nn.GELU()


def _softplus_from_torch(t: Any, path: str) -> nn.Module:
    # above the threshold PyTorch returns a itself, where log(1 + eᵃ) differs by < e⁻²⁰
    if t.beta != 1 or t.threshold < 20:
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} is Softplus(beta={t.beta}, threshold={t.threshold}); "
            f"minigrad's Softplus is log(1 + eᵃ), PyTorch's with beta=1 and threshold ≥ 20"
        )
    return nn.Softplus()


def _softmax_from_torch(t: Any, path: str) -> nn.Module:
    if t.dim is None:
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} is Softmax(dim=None), whose axis PyTorch guesses "
            f"from the input; give it a dim"
        )
    return nn.Softmax(axis=t.dim)


_FROM_TORCH: dict[str, Callable[[Any, str], nn.Module]] = {
    "Linear": _linear_from_torch,
    "ReLU": lambda t, path: nn.ReLU(),
    "Tanh": lambda t, path: nn.Tanh(),
    "Sigmoid": lambda t, path: nn.Sigmoid(),
    "LeakyReLU": lambda t, path: nn.LeakyReLU(t.negative_slope),
    "GELU": _gelu_from_torch,
    "Softplus": _softplus_from_torch,
    "Identity": lambda t, path: nn.Identity(),
    "Softmax": _softmax_from_torch,
    "Dropout": lambda t, path: nn.Dropout(t.p),
}
"""``torch.nn`` class name → the function building its minigrad counterpart."""


def _build_minigrad(t: Any, torch: Any, path: str) -> nn.Module:
    name = type(t).__name__
    if type(t) is torch.nn.Sequential:
        out: nn.Module = nn.Sequential(OrderedDict(
            (child_name, _build_minigrad(child, torch, f"{path}.{child_name}" if path
                                         else child_name))
            for child_name, child in t.named_children()
        ))
    elif name in _FROM_TORCH and type(t) is getattr(torch.nn, name, None):
        out = _FROM_TORCH[name](t, path)
    else:
        raise UnsupportedLayerError(
            f"from_torch: {_where(path)} is a {type(t).__module__}.{name}, which has no "
            f"minigrad counterpart here; supported: Sequential, {', '.join(_FROM_TORCH)}"
        )
    out.training = t.training  # this module only: a child may differ from its parent
    return out


def from_torch(module: Any) -> nn.Module:
    """The minigrad equivalent of a PyTorch module, with a copy of its weights.

    ``torch.nn.Sequential`` becomes `Sequential` with the same child names, so the parameter
    names match; each layer becomes its `minigrad.nn` counterpart with the same
    hyperparameters, dtype and training mode.

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


def _names(table: Mapping[type, Any], containers: tuple[type, ...]) -> str:
    return ", ".join([c.__name__ for c in containers] + [c.__name__ for c in table])
