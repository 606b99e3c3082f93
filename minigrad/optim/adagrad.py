r"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

import numpy as np

from minigrad.optim.optimizer import Group, Optimizer, ParamsT, State, with_weight_decay
from minigrad.tensor import Tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, step for step PyTorch's ``torch.optim.Adagrad``.

    With `g_t = ∇θ L` and step count t, each step (all operations elementwise):

    * weight decay λ: `g_t ← g_t + λ θ_{t−1}`;
    * `η_t = η / (1 + (t − 1) κ)` (κ = lr_decay);
    * `s_t = s_{t−1} + g_t²` (s_0 = initial_accumulator_value);
    * `θ_t = θ_{t−1} − η_t g_t / (√s_t + ε)`.

    Coordinates that have seen large gradients take small steps from then on.

    Args:
        params: Parameters or param groups (see `Optimizer`).
        lr: η.
        lr_decay: κ.
        weight_decay: λ.
        eps: ε, added to the denominator.
        initial_accumulator_value: s_0.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, eps: float = 1e-10,
                 initial_accumulator_value: float = 0) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                        initial_accumulator_value=initial_accumulator_value)
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: Group) -> State:
        return {"step": 0, "sum": np.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, w: np.ndarray, g: np.ndarray, state: State, group: Group) -> None:
        self._step_scalars(state, group)  # t ← t + 1
        step = state["step"]
        g = with_weight_decay(g, w, group["weight_decay"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        std = np.sqrt(s)
        std += group["eps"]
        upd = -clr * g
        upd /= std
        w += upd
