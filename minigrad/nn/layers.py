r"""Layers and containers: `Linear`, `Sequential`, `MLP`, `Dropout`.

In the lecture's notation a feedforward network computes, for k = 1 … L,
`a_k = b_k + W_k h_{k−1}` (a `Linear`), then `h_k = g(a_k)` (an activation) for the hidden
layers, and leaves `a_L` as the logits. Rows are examples here (batch first), so a `Linear`
computes `A_k = H_{k−1} W_kᵀ + b_k`: the same map applied to each row.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from minigrad import functional as F
from minigrad.nn import init as _init
from minigrad.nn.activation import ACTIVATIONS, Sigmoid, Softmax
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import DTypeLike, Tensor, resolve_dtype

__all__ = ["Linear", "Sequential", "ModuleList", "ModuleDict", "MLP", "Dropout"]

_HE_ACTIVATIONS = ("relu", "leaky_relu", "gelu")


def _float_dtype(owner: str, dtype: DTypeLike) -> np.dtype:
    dt = resolve_dtype(dtype) or np.dtype(np.float32)
    if dt.kind != "f":
        raise TypeError(f"{owner}: dtype must be floating point, got {dt}")
    return dt


def _positive_int(owner: str, what: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {n!r}")
    return int(n)


class Linear(Module):
    r"""A dense layer, `a_k = W_k h_{k−1} + b_k`, applied to each row of a batch.

    The weight has shape (out_features, in_features) = (n_k, n_{k−1}), as in the lecture:
    ``weight[i, j]`` joins neuron j of layer k−1 to neuron i of layer k. The forward is one
    fused op, ``F.linear(x, W, b)``, so a diagram shows a single node whose backward edges
    carry the lecture's formulas: `∇W_k L = Σ_i δ_i h_iᵀ` (one outer product per example,
    `δ = ∇a_k L`), `∇b_k L = Σ_i δ_i` and `∇h_{k−1} L = W_kᵀ δ`.

    Initialisation (from the generator that `minigrad.manual_seed` seeds):

    * ``init="auto"`` or ``"xavier"``/``"glorot"``: Xavier/Glorot uniform,
      `W_k[i, j] ~ U(−√(6/(n_{k−1} + n_k)), +√(6/(n_{k−1} + n_k)))`, suited to tanh and
      sigmoid.
    * ``init="he"``/``"kaiming"``: He normal, `W_k[i, j] ~ N(0, 2/n_{k−1})`, suited to relu
      (`MLP` picks it for relu, leaky_relu and gelu when given "auto").
    * the bias starts at zero.

    Args:
        in_features: n_{k−1}, the size of each input row.
        out_features: n_k, the number of neurons.
        bias: whether to add `b_k` (False registers ``bias = None``).
        init: "auto", "xavier", "glorot", "he" or "kaiming".
        dtype: a floating dtype for the parameters (float32 by default).

    Shapes:
        input (..., in_features) → output (..., out_features).
    """

    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "auto",
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        if init not in _init.INITS:
            raise ValueError(f"Linear: unknown init {init!r}; use one of {_init.INITS}")
        dt = _float_dtype("Linear", dtype)
        self.init = init
        w = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if init in ("he", "kaiming"):
            _init.he_normal_(w)
        else:
            _init.xavier_uniform_(w)
        self.weight = w
        self.bias = Parameter(np.zeros(self.out_features, dtype=dt)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )

    def describe(self) -> str:
        return f"Linear({self.in_features}→{self.out_features})"


class Sequential(Module):
    r"""Runs its modules one after another: ``Sequential(f, g)(x) == g(f(x))``.

    The children are named "0", "1", … (or by the keys of a single ordered dict argument), so
    their parameters read ``0.weight``, ``2.bias``; indexing, ``len`` and iteration work as
    on a list.
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, mod in modules[0].items():
                self.add_module(name, mod)
            return
        for i, m in enumerate(modules):
            if not isinstance(m, Module):  # also an OrderedDict that is not the only argument
                raise TypeError(
                    f"Sequential: argument {i} is a {type(m).__name__}, not a Module"
                )
            self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
        """Adds `module` at the end, named by its position; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    @overload
    def __getitem__(self, idx: int) -> Module: ...

    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    def __getitem__(self, idx: int | slice) -> Module | Sequential:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        try:
            return mods[idx]
        except IndexError:
            raise IndexError(
                f"Sequential index {idx} out of range for {len(mods)} modules"
            ) from None


class ModuleList(Module):
    r"""A list of modules whose parameters belong to the owner, as ``nn.ModuleList``:
    ``self.heads = nn.ModuleList([Head(16) for _ in range(4)])``. Children are named "0",
    "1", …; it has no forward of its own (iterate over it, or index it)."""

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        for m in modules or ():
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Any) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        try:
            return mods[idx]
        except IndexError:
            raise IndexError(f"ModuleList index {idx} out of range for {len(mods)} "
                             f"modules") from None

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(range(len(self))[idx]), module)


class ModuleDict(Module):
    r"""A dict of named modules whose parameters belong to the owner, as
    ``nn.ModuleDict``: ``self.layers = nn.ModuleDict({"enc": enc, "dec": dec})``."""

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules: Any) -> None:
        items = modules.items() if hasattr(modules, "items") else modules
        for name, m in items:
            self[name] = m

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict[{name!r}]: expected a Module, got "
                            f"{type(module).__name__}")
        self.add_module(name, module)

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Any:
        return self._modules.keys()

    def values(self) -> Any:
        return self._modules.values()

    def items(self) -> Any:
        return self._modules.items()


class MLP(Module):
    r"""A multilayer perceptron: the lecture's feedforward network.

    ``MLP([n_0, n_1, …, n_L])`` builds
    ``layers = Sequential(Linear(n_0, n_1), g, Linear(n_1, n_2), g, …, Linear(n_{L−1}, n_L))``:
    for k < L, `a_k = W_k h_{k−1} + b_k` and `h_k = g(a_k)`; the last layer gives the logits
    `a_L` with no activation after it (pair them with `CrossEntropyLoss`, which applies the
    softmax). `output` appends an output module O(a_L) when probabilities are wanted.

    Args:
        sizes: layer widths ``[n_0, …, n_L]`` (at least two).
        activation: g for the hidden layers, one of `ACTIVATIONS` ("relu", "tanh", "sigmoid",
            "leaky_relu", "gelu", "softplus", "linear"/"identity"), or a Module class.
        output: None (logits), "softmax" or "sigmoid".
        dtype: a floating dtype for the parameters (float32 by default).
        init: "auto" gives He normal for relu, leaky_relu and gelu and Xavier uniform
            otherwise (see `Linear`); or any name `Linear` accepts, for every layer.

    Attributes:
        sizes: the layer widths, as a list.
        activation: the activation as given.
        layers: the `Sequential` that `forward` runs.
    """

    layers: Sequential

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | type[Module] = "relu",
        output: str | None = None,
        dtype: DTypeLike = None,
        init: str = "auto",
    ) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"MLP: sizes needs at least an input and an output width, got {sizes}"
            )
        sizes = [_positive_int("MLP", "every size", n) for n in sizes]
        act_cls = _activation_class(activation)
        if output not in (None, "softmax", "sigmoid"):
            raise ValueError(f"MLP: output must be None, 'softmax' or 'sigmoid', got {output!r}")
        if init == "auto" and act_cls in tuple(ACTIVATIONS[a] for a in _HE_ACTIVATIONS):
            init = "he"
        self.sizes = sizes
        self.activation = activation
        self.output = output
        mods: list[Module] = []
        for k in range(1, len(sizes)):
            mods.append(Linear(sizes[k - 1], sizes[k], init=init, dtype=dtype))
            if k < len(sizes) - 1:
                mods.append(act_cls())
        if output == "softmax":
            mods.append(Softmax())
        elif output == "sigmoid":
            mods.append(Sigmoid())
        self.layers = Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.layers(x)
        return out

    def describe(self) -> str:
        return "MLP(" + "→".join(map(str, self.sizes)) + ")"


def _activation_class(activation: str | type[Module]) -> type[Module]:
    if isinstance(activation, type) and issubclass(activation, Module):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ValueError(
        f"MLP: unknown activation {activation!r}; valid names are {sorted(ACTIVATIONS)} "
        f"(or pass a Module class)"
    )


class Dropout(Module):
    r"""Inverted dropout: in training, `h = m ⊙ a / (1 − p)` with `m_i ~ Bernoulli(1 − p)`,
    so `E[h] = a`; in evaluation (`eval()`), `h = a`.

    The gradient is `∇a L = m ⊙ ∇h L / (1 − p)`: dropped units pass no gradient. The mask
    comes from the generator that `minigrad.manual_seed` seeds.

    Args:
        p: the probability of dropping each unit, in [0, 1).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must lie in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
