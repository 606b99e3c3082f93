r"""`Module`: the base class of layers and models.

A module holds Parameters (its `W_k`, `b_k`), buffers (state that is not trained, such as
batch normalization's running statistics) and child modules as attributes; assignment
registers them in order, so ``named_parameters()`` gives dotted names such as
``layers.0.weight``. Calling a module runs its `forward` inside a module scope: every tensor
made there carries the module's dotted path in ``tensor.module``, which the graph and its
diagrams use to draw one box per layer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from minigrad.modes import state as _mode_state
from minigrad.nn.parameter import Parameter
from minigrad.tensor import Tensor

__all__ = ["Module", "StateDictError", "IncompatibleKeys"]


class StateDictError(KeyError, ValueError):
    """`load_state_dict` found problems (missing or unexpected keys, wrong shapes or dtypes).

    It is both a KeyError and a ValueError, so either ``except`` catches it. The message lists
    every problem, one per line, and `problems` holds them as a list.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:  # KeyError's own __str__ would print the list's repr
        n = len(self.problems)
        return (
            f"load_state_dict: {n} problem{'s' if n != 1 else ''}; nothing was loaded:\n  "
            + "\n  ".join(self.problems)
        )


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _addindent(s: str, spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _check_name(what: str, name: Any) -> None:
    """A KeyError unless `name` can name a parameter, module or buffer (`what`): a non-empty
    string without a dot, since dots join the names of nested modules."""
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{what} name must be a non-empty string without '.', got {name!r}")


class Module:
    r"""Base class for layers and models: subclass it, assign Parameters and submodules in
    ``__init__`` (after ``super().__init__()``), and write `forward`.

    Example::

        class TwoLayer(nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden = nn.Linear(2, 16)   # a_1 = W_1 x + b_1
                self.out = nn.Linear(16, 3)      # a_2 = W_2 h_1 + b_2

            def forward(self, x):
                return self.out(F.relu(self.hidden(x)))

    Calling ``model(x)`` runs `forward` inside a module scope named after the module's dotted
    path from the outermost module being called: tensors made inside ``model.hidden`` carry
    ``t.module == "hidden"``, inside ``model.layers[0]`` ``"layers.0"``. The outermost module
    adds no prefix of its own (its scope is ``""``).

    Attributes:
        training: True in training mode (Dropout active), False after `eval()`.
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Module]
    _scope_name: str | None

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these registries to exist already
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_scope_name", None)
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def _registries(self) -> tuple[dict[str, Parameter | None], dict[str, Module]]:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__, "
                f"before assigning parameters or submodules"
            )
        return d["_parameters"], d["_modules"]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        else:
            d = self.__dict__
            params = d.get("_parameters")
            if params is not None and name in params:
                if value is not None:
                    raise TypeError(
                        f"cannot assign a {type(value).__name__} to parameter {name!r} of "
                        f"{type(self).__name__}: use nn.Parameter(...) or None"
                    )
                params[name] = None
            elif name in d.get("_buffers", ()):
                if value is not None and not isinstance(value, Tensor):
                    raise TypeError(
                        f"cannot assign a {type(value).__name__} to buffer {name!r} of "
                        f"{type(self).__name__}: use a Tensor or None"
                    )
                d["_buffers"][name] = value
            else:
                mods = d.get("_modules")
                if mods is not None and name in mods:
                    mods.pop(name)._forget_name(name)
            object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        params, mods = self._registries()
        params.pop(name, None)
        self._forget_buffer(name)
        if name in mods:
            mods.pop(name)._forget_name(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Registers `param` under `name` (same as ``self.name = param``); None reserves the
        slot, as ``bias=False`` does."""
        params, mods = self._registries()
        _check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter({name!r}): expected nn.Parameter or None, got "
                f"{type(param).__name__}"
            )
        if name in mods:
            mods.pop(name)._forget_name(name)
        self._forget_buffer(name)
        if param is not None and param.name is None:
            param.name = name
        params[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Registers `module` as a child under `name` (same as ``self.name = module``)."""
        params, mods = self._registries()
        _check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        params.pop(name, None)
        self._forget_buffer(name)
        old = mods.pop(name, None)
        if old is not None:
            old._forget_name(name)
        if module is not None:
            module._remember_name(name)
            mods[name] = module
        object.__setattr__(self, name, module)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Registers `tensor` as a buffer: state that belongs to the module and is saved with
        it but is not a Parameter, so optimizers never see it (batch normalization's running
        mean and variance). Afterwards ``self.name`` reads it and ``self.name = t`` replaces it.

        Args:
            name: the attribute name (no ``.``); must not already name a parameter, a
                submodule or another attribute.
            tensor: the value, or None (then it is left out of `state_dict`).
            persistent: whether `state_dict` (and so `save`) includes it.
        """
        params, mods = self._registries()
        _check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}"
            )
        if name not in self._buffers and (name in params or name in mods or name in self.__dict__
                                          or hasattr(type(self), name)):
            raise KeyError(f"register_buffer({name!r}): attribute {name!r} already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        object.__setattr__(self, name, tensor)

    def _forget_buffer(self, name: str) -> None:
        bufs = self.__dict__.get("_buffers")
        if bufs is not None and name in bufs:
            del bufs[name]
            self._non_persistent_buffers_set.discard(name)

    # A module remembers the attribute name it is registered under, so that __call__ can
    # compose its dotted path from the caller's scope without walking up to the root. A module
    # registered twice (shared, or in a slice of a Sequential) keeps its first name: one name
    # only, so that re-registering in a loop cannot grow anything.
    def _remember_name(self, name: str) -> None:
        if self._scope_name is None:
            object.__setattr__(self, "_scope_name", name)

    def _forget_name(self, name: str) -> None:
        if self._scope_name == name:
            object.__setattr__(self, "_scope_name", None)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The same as `with minigrad.modes.scope(path):`, written out because this runs once
        # per module per training step and a generator-based context manager costs more.
        st = _mode_state
        prev = st.scope
        if prev is None:
            st.scope = ""  # the outermost module: its children are named from here
        elif self._scope_name is not None:
            st.scope = f"{prev}.{self._scope_name}" if prev else self._scope_name
        try:
            return self.forward(*args, **kwargs)
        finally:
            st.scope = prev

    # ------------------------------------------------------------------ traversal
    def _named_tensors(
        self, kind: str, prefix: str, recurse: bool
    ) -> Iterator[tuple[str, Any]]:
        """Yields ``(dotted name, tensor)`` from every module's `kind` dict (``_parameters``
        or ``_buffers``) in registration order, each tensor once (a shared one under the first
        name it is reached by; None entries skipped)."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mod_prefix, mod in modules:
            for name, t in getattr(mod, kind).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Yields ``(dotted name, Parameter)`` in registration order, each Parameter once
        (a shared one under the first name it is reached by)."""
        yield from self._named_tensors("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yields every Parameter once, in the order of `named_parameters`."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """Yields ``(dotted name, buffer)`` in registration order, each buffer once (None
        buffers skipped), persistent or not."""
        yield from self._named_tensors("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yields every buffer once, in the order of `named_buffers`."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yields ``(name, module)`` for the direct children, in registration order."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yields ``(dotted name, module)`` for this module (name `prefix`, ``""`` by default)
        and every descendant, depth first, each module once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Calls ``fn(m)`` on every descendant and then on this module (e.g. to re-initialise
        every Linear); returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Sets training mode (`mode` True) or evaluation mode on this module and every
        descendant; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``. Dropout becomes the identity."""
        return self.train(False)

    # ------------------------------------------------------------------ devices and dtypes
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``model.to(device)``, ``model.to(dtype)`` or both, as PyTorch; returns self.
        The device must be the CPU (``"cpu"``); a floating dtype converts every floating
        parameter and buffer in place (the Parameter objects stay, so an optimizer made
        before still holds them)."""
        from minigrad.device import to_arguments
        from minigrad.tensor import resolve_dtype

        dtype = to_arguments(args, dict(kwargs), f"{type(self).__name__}.to")
        dt = resolve_dtype(dtype)
        if dt is not None:
            if dt.kind != "f":
                raise TypeError(f"{type(self).__name__}.to: only floating dtypes convert a "
                                f"module, got {dt}")
            self._convert_floats(dt)
        return self

    def _convert_floats(self, dt: np.dtype) -> None:
        for t in list(self.parameters()) + list(self.buffers()):
            if t.data.dtype.kind == "f" and t.data.dtype != dt:
                t.data = t.data.astype(dt)
                if t.grad is not None:
                    t.grad.data = t.grad.data.astype(dt)
                t._version.n += 1

    def cpu(self) -> Module:
        """Self: every module lives on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        from minigrad.device import check_device

        check_device("cuda" if device is None else device, f"{type(self).__name__}.cuda()")
        return self

    def float(self) -> Module:
        """Floating parameters and buffers to float32; returns self."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Floating parameters and buffers to float64; returns self."""
        return self.to(np.float64)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freezes (False) or unfreezes every Parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every Parameter's ``.grad``: to None (the default, cheapest), or to zeros
        written in place."""
        for p in self.parameters():
            _zero_grad(p, set_to_none)

    # ------------------------------------------------------------------ state
    def _named_state(self) -> Iterator[tuple[str, Tensor]]:
        """What `state_dict` holds, PyTorch's order: module by module (depth first), each
        module's Parameters and then its persistent buffers; each tensor once."""
        seen: set[int] = set()
        for prefix, mod in self.named_modules():
            entries: list[tuple[str, Tensor | None]] = list(mod._parameters.items())
            entries += [(k, b) for k, b in mod._buffers.items()
                        if k not in mod._non_persistent_buffers_set]
            for name, t in entries:
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{name}" if prefix else name), t

    def state_dict(self) -> OrderedDict[str, Tensor]:
        """An ordered dict mapping each dotted parameter and persistent buffer name to a
        detached copy of its value, in PyTorch's order (per module: parameters, then buffers).

        The copies share no memory with the model, so training on afterwards does not change
        a state dict taken earlier (and changing the state dict does not touch the model).
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, p in self._named_state():
            t = Tensor._wrap(p.data.copy())
            t.name = name
            out[name] = t
        return out

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copies values from `state` into the Parameters and persistent buffers, in place.

        Everything is validated before anything is written: on any problem nothing changes
        and a `StateDictError` (a KeyError and a ValueError) lists every problem found. The
        Parameters and buffers stay the same objects, so an optimizer holding them keeps
        working.

        Args:
            state: name → Tensor or numpy array, e.g. from `state_dict()` or `minigrad.load`.
                A value of another dtype of the same kind is cast (float64 → float32 rounds;
                int32 → int64 for a counter such as ``num_batches_tracked``).
            strict: when True, missing and unexpected keys are problems; when False they are
                skipped and returned. Shape and dtype mismatches are problems either way.

        Returns:
            `IncompatibleKeys(missing_keys, unexpected_keys)`.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of name → array, got {type(state).__name__}"
            )
        own = dict(self._named_state())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems: list[str] = []
        if strict:
            problems += [f"missing key {k!r} (shape {own[k].shape})" for k in missing]
            problems += [f"unexpected key {k!r}" for k in unexpected]
        updates: list[tuple[Tensor, np.ndarray]] = []
        for name, p in own.items():
            if name not in state:
                continue
            value = state[name]
            arr = value.data if isinstance(value, Tensor) else np.asarray(value)
            if arr.shape != p.data.shape:
                problems.append(
                    f"{name!r}: shape {arr.shape} in the state dict, {p.data.shape} in the model"
                )
            elif arr.dtype.kind != p.data.dtype.kind:
                kind = "floating point" if p.data.dtype.kind == "f" else f"{p.data.dtype}"
                problems.append(
                    f"{name!r}: dtype {arr.dtype} in the state dict cannot be loaded into "
                    f"{p.data.dtype} ({kind} values needed)"
                )
            else:
                updates.append((p, arr))
        if problems:
            raise StateDictError(problems)
        for p, arr in updates:
            np.copyto(p.data, arr, casting="same_kind")
            p._version.n += 1
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: Any) -> None:
        """Writes `state_dict()` to `path` with `minigrad.io.save` (an ``.npz``, no pickle)."""
        from minigrad import io  # imported here: io is optional for using models

        io.save(self.state_dict(), path)

    def load(self, path: Any, strict: bool = True) -> IncompatibleKeys:
        """Loads parameters and buffers saved by `save` (see `load_state_dict`)."""
        from minigrad import io

        return self.load_state_dict(io.load(path), strict=strict)

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in its repr (its hyperparameters)."""
        return ""

    def describe(self) -> str:
        """A short label for diagrams, e.g. ``Linear(2→16)``."""
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({k}): " + _addindent(repr(m), 2) for k, m in self._modules.items()
        ]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


def _zero_grad(p: Tensor, set_to_none: bool) -> None:
    g = p.grad
    if g is None:
        return
    if set_to_none:
        p.grad = None
    elif g._ctx is None and g.data.flags.writeable:
        g.data.fill(0)
        g._version.n += 1
    else:  # a gradient with history (create_graph=True) is replaced, not overwritten
        p.grad = Tensor._wrap(np.zeros_like(g.data))
