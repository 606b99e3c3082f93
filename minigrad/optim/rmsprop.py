r"""RMSprop: steps scaled by a running root mean square of the gradients."""

from __future__ import annotations

import numpy as np

from minigrad.optim.optimizer import Group, Optimizer, ParamsT, State, lerp_, with_weight_decay
from minigrad.tensor import Tensor

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, step for step PyTorch's ``torch.optim.RMSprop``.

    With `g_t = ∇θ L`, each step (elementwise):

    * weight decay λ: `g_t ← g_t + λ θ_{t−1}`;
    * `v_t = α v_{t−1} + (1 − α) g_t²` (v_0 = 0);
    * centered: `m_t = α m_{t−1} + (1 − α) g_t` and `d_t = √(v_t − m_t²) + ε` (the gradient's
      running standard deviation), otherwise `d_t = √v_t + ε`;
    * momentum μ > 0: `b_t = μ b_{t−1} + g_t / d_t`, `θ_t = θ_{t−1} − η b_t`;
      otherwise `θ_t = θ_{t−1} − η g_t / d_t`.

    Args:
        params: Parameters or param groups (see `Optimizer`).
        lr: η.
        alpha: α, the smoothing constant.
        eps: ε.
        weight_decay: λ.
        momentum: μ.
        centered: normalise by the estimated variance instead of the second moment.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: Group) -> State:
        st: State = {"step": 0, "square_avg": np.zeros_like(p.data)}
        if group["momentum"] > 0:
            st["momentum_buffer"] = np.zeros_like(p.data)
        if group["centered"]:
            st["grad_avg"] = np.zeros_like(p.data)
        return st

    def _update(self, w: np.ndarray, g: np.ndarray, state: State, group: Group) -> None:
        self._step_scalars(state, group)  # t ← t + 1
        alpha = group["alpha"]
        g = with_weight_decay(g, w, group["weight_decay"])
        v = state["square_avg"]
        v *= alpha
        v += ((1 - alpha) * g) * g
        if group["centered"]:
            m = state["grad_avg"]
            lerp_(m, g, 1 - alpha)
            d = np.sqrt(v - m * m)
        else:
            d = np.sqrt(v)
        d += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / d
            w -= group["lr"] * buf
        else:
            upd = -group["lr"] * g
            upd /= d
            w += upd
