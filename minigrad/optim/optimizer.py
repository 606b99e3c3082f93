r"""`Optimizer`: the base class. It holds param groups and per-parameter state, and applies a
subclass's update rule `θ ← θ − (step from ∇θ L)` in place to every parameter with a gradient.

Updates write straight into ``p.data`` with numpy's in-place operations: no graph is
recorded, the parameter stays the same leaf object (so a model and an optimizer can share it),
its dtype never changes, and its version counter is bumped so that a graph built from the old
value refuses to backward through the new one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from minigrad.modes import enable_grad
from minigrad.tensor import Tensor, Version

__all__ = ["Optimizer", "ParamsT"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]
Group = dict[str, Any]
"""A param group: ``"params"`` and the hyperparameters of its update rule."""
State = dict[str, Any]
"""A parameter's state: its buffers and, for the rules that use it, its step count ``"step"``."""


class Optimizer:
    r"""Base class of the optimizers.

    Args:
        params: an iterable of Parameters (or leaf Tensors), or of dicts ("param groups")
            each holding ``"params"`` and optionally its own hyperparameters, e.g.
            ``[{"params": model.layers[0].parameters(), "lr": 0.1}, {"params": rest}]``.
        defaults: the hyperparameters a group takes when it does not set them.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list) and every hyperparameter;
            change ``group["lr"]`` between steps to schedule the learning rate.
        state: Parameter → dict of its state (momentum buffers, moment estimates, step count),
            created at the parameter's first update.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self._check_hyper(defaults)
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors or of dicts, "
                f"got a single Tensor; wrap it in a list, e.g. [w]"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be ordered (a list), not a set")
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Adds a group of parameters with its own hyperparameters (others from defaults)."""
        if not isinstance(group, dict):
            raise TypeError(
                f"{type(self).__name__}: a param group must be a dict, got {type(group).__name__}"
            )
        ps = group.get("params")
        if ps is None:
            raise ValueError(f"{type(self).__name__}: a param group needs a 'params' entry")
        if isinstance(ps, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be ordered (a list), not a set")
        params = [ps] if isinstance(ps, Tensor) else list(ps)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} (shape {p.shape}) was made by op "
                    f"'{p.op}', not a leaf; optimise the leaves (e.g. model.parameters())"
                )
            if p.dtype.kind != "f":
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} has dtype {p.dtype}; only floating "
                    f"point tensors can be optimised"
                )
        new = {id(p) for p in params}
        if len(new) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears twice in one group")
        for g in self.param_groups:
            if any(id(p) in new for p in g["params"]):
                raise ValueError(
                    f"{type(self).__name__}: some parameters appear in more than one group"
                )
        full = {k: v for k, v in group.items() if k != "params"}
        unknown = set(full) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown hyperparameter(s) {sorted(unknown)}; "
                f"valid: {sorted(self.defaults)}"
            )
        for k, v in self.defaults.items():
            full.setdefault(k, v)
        self._check_hyper(full)
        full["params"] = params
        self.param_groups.append(full)

    def _check_hyper(self, h: Mapping[str, Any]) -> None:
        """Raises ValueError naming the first invalid hyperparameter (subclasses extend)."""
        name = type(self).__name__
        for key in ("lr", "weight_decay", "eps", "momentum", "lr_decay", "alpha",
                    "dampening", "initial_accumulator_value"):
            if key in h:
                v = h[key]
                if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)):
                    raise ValueError(f"{name}: {key} must be a number, got {v!r}")
                if not v >= 0:  # also rejects NaN
                    raise ValueError(f"{name}: invalid {key} {v!r}: must be >= 0")

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradient of every parameter: to None (default) or to zeros in place."""
        from minigrad.nn.module import _zero_grad

        for group in self.param_groups:
            for p in group["params"]:
                _zero_grad(p, set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Updates every parameter that has a gradient, once; a parameter whose ``.grad`` is
        None is left untouched (and gets no state).

        Args:
            closure: optionally, a function that recomputes the loss (zero_grad, forward,
                backward) and returns it; it runs first, with grad mode on.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        stale = False  # Version.epoch bumped: every node made before the step checks versions
        for group in self.param_groups:
            hyper = _python_numbers(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                w, g = p.data, p.grad.data
                if g.shape != w.shape:
                    raise ValueError(
                        f"{type(self).__name__}: gradient of shape {g.shape} for a parameter of "
                        f"shape {w.shape}"
                    )
                if g.dtype != w.dtype:
                    g = g.astype(w.dtype)
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = self._init_state(p, hyper)
                if not stale:  # once per step: bumping the class attribute is not free
                    Version.epoch += 1
                    stale = True
                self._update(w, g, st, hyper)
                p._shared_version().n += 1
        return loss

    def _init_state(self, p: Tensor, group: Group) -> State:
        """The state of a parameter before its first update."""
        return {}

    def _update(self, w: np.ndarray, g: np.ndarray, state: State, group: Group) -> None:
        """Updates the parameter array `w` in place from its gradient `g` (read only).

        Optimizers written in two parts, `_step_scalars` and `_apply`, can also run inside a
        compiled training step (``minigrad.compile(fn, optimizer=opt)``): the compiled step
        calls `_step_scalars` at every step and replays `_apply` as the numpy calls it makes.
        """
        self._apply(w, g, state, group, self._step_scalars(state, group))

    def _step_scalars(self, state: State, group: Group) -> dict[str, float]:
        """Advances the state's step count t (``state["step"]``, 1 at the first update) where
        it keeps one, and returns the Python numbers of this step's update that change from
        step to step (bias corrections; none here). Everything else `_apply` reads from the
        group is the same at every step."""
        if "step" in state:
            state["step"] += 1
        return {}

    def _apply(self, w: np.ndarray, g: np.ndarray, state: State, group: Group,
               scalars: dict[str, float]) -> None:
        """The array part of the update: `w` and the state's arrays, in place; the numbers of
        `scalars` enter only as operands of numpy calls."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as PyTorch lays it out: ``{"state": {index: {...}},
        "param_groups": [{hyperparameters, "params": [index, ...]}]}``, where parameters are
        numbered in group order. Arrays are copies (numpy), so the dict stays as it was
        while training goes on."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = ids
            groups.append(g)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = copy.deepcopy(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores what `state_dict` saved, into an optimizer over parameters of the same
        shapes and grouping. Arrays are copied and cast to each parameter's dtype."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: {len(groups)} param groups saved, "
                f"{len(self.param_groups)} in this optimizer"
            )
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            self._check_hyper(saved)
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {i} has {len(saved['params'])} parameters "
                    f"saved, {len(own['params'])} here"
                )
        by_index: dict[Any, Tensor] = {}
        for saved, own in zip(groups, self.param_groups):
            by_index.update(zip(saved["params"], own["params"]))
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, st in state_dict["state"].items():
            if k not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter {k!r}")
            p = by_index[k]
            entry: dict[str, Any] = {}
            for key, v in st.items():
                if isinstance(v, Tensor):
                    v = v.data
                if isinstance(v, np.ndarray):
                    if v.shape == p.data.shape:
                        v = v.astype(p.data.dtype, copy=True)
                    elif v.ndim == 0:  # a step count saved as a 0-d array
                        v = v.item()
                    else:
                        raise ValueError(
                            f"{name}.load_state_dict: state {key!r} of parameter {k} has shape "
                            f"{v.shape}, the parameter {p.data.shape}"
                        )
                else:
                    v = copy.deepcopy(v)
                entry[key] = v
            new_state[p] = entry
        self.state = new_state
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = v

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


_PLAIN = frozenset({float, int, bool, str, type(None)})


def _python_numbers(group: dict[str, Any]) -> dict[str, Any]:
    """The group's hyperparameters with numpy scalars turned into Python numbers: under
    numpy 2's promotion rules ``np.float64(0.1) * w32`` is float64, while ``0.1 * w32`` stays
    float32, so a learning rate set from numpy would otherwise upcast every update."""
    out: dict[str, Any] = {}
    for k, v in group.items():
        if type(v) in _PLAIN:  # nearly every value: nothing to convert
            out[k] = v
            continue
        if k == "params":
            continue
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        elif isinstance(v, tuple):
            v = tuple(x.item() if isinstance(x, (np.floating, np.integer)) else x for x in v)
        out[k] = v
    return out


def with_weight_decay(g: np.ndarray, w: np.ndarray, wd: float) -> np.ndarray:
    """`g + λ θ`: the loss's gradient plus that of the L2 penalty `½λ‖θ‖²` (a new array; `g`
    itself when λ = 0)."""
    return g if wd == 0 else g + wd * w


def lerp_(a: np.ndarray, b: np.ndarray, w: float) -> None:
    """``a ← a + w (b − a)`` in place, rounded as PyTorch's ``lerp_`` does (which switches to
    ``b − (b − a)(1 − w)`` for w ≥ ½), so running averages match it bit for bit."""
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        np.subtract(b, (b - a) * (1 - w), out=a)
