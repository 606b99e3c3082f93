r"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Group, Optimizer, ParamsT, State, with_weight_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, step for step PyTorch's ``torch.optim.SGD``.

    With `g_t = ∇θ L` (for a layer's weight, the lecture's `∇W_k L = Σ_i δ_i h_iᵀ`), each step:

    * weight decay λ: `g_t ← g_t + λ θ_{t−1}` (an L2 penalty `½λ‖θ‖²` in the loss);
    * momentum μ > 0: `b_1 = g_1`, then `b_t = μ b_{t−1} + (1 − τ) g_t` (τ = dampening);
      Nesterov: `g_t ← g_t + μ b_t`, otherwise `g_t ← b_t`;
    * `θ_t = θ_{t−1} − η g_t` (η = lr).

    Args:
        params: Parameters or param groups (see `Optimizer`).
        lr: η, the learning rate.
        momentum: μ (0 disables momentum and keeps no state).
        dampening: τ.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        weight_decay: λ.
    """

    def __init__(self, params: ParamsT, lr: float, momentum: float = 0, dampening: float = 0,
                 nesterov: bool = False, weight_decay: float = 0) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_hyper(self, h: Mapping[str, Any]) -> None:
        super()._check_hyper(h)
        if h.get("nesterov") and (h.get("momentum", 0) <= 0 or h.get("dampening", 0) != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")

    def _apply(self, w: np.ndarray, g: np.ndarray, state: State, group: Group,
               scalars: dict[str, float]) -> None:
        mu = group["momentum"]
        g = with_weight_decay(g, w, group["weight_decay"])
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # np.array, not g.copy(): for a 0-d parameter g may be a numpy scalar,
                # and the buffer must be an array that later steps update in place
                buf = state["momentum_buffer"] = np.array(g, dtype=w.dtype)
            else:
                buf *= mu
                tau = group["dampening"]
                buf += g if tau == 0 else (1 - tau) * g  # (1 − 0)·g is g: no temporary
            g = g + mu * buf if group["nesterov"] else buf
        w -= group["lr"] * g
