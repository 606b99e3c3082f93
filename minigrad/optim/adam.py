r"""Adam and AdamW: bias-corrected running averages of the gradient and its square."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Group, Optimizer, ParamsT, State, lerp_, with_weight_decay
from minigrad.tensor import Tensor

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, step for step PyTorch's ``torch.optim.Adam``.

    With `g_t = ∇θ L` and step count t = 1, 2, …, each step (elementwise):

    * weight decay λ: `g_t ← g_t + λ θ_{t−1}` (L2, coupled into the moments; see `AdamW`);
    * `m_t = β₁ m_{t−1} + (1 − β₁) g_t`, `v_t = β₂ v_{t−1} + (1 − β₂) g_t²` (m_0 = v_0 = 0);
    * bias correction, since m and v start at 0: `m̂_t = m_t / (1 − β₁ᵗ)`,
      `v̂_t = v_t / (1 − β₂ᵗ)`; amsgrad uses `max(v_1 … v_t)` in place of v_t;
    * `θ_t = θ_{t−1} − η m̂_t / (√v̂_t + ε)`.

    Args:
        params: Parameters or param groups (see `Optimizer`).
        lr: η.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε.
        weight_decay: λ.
        amsgrad: use the running maximum of v.
    """

    _decoupled = False

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_hyper(self, h: Mapping[str, Any]) -> None:
        super()._check_hyper(h)
        if "betas" in h:
            betas = h["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"{type(self).__name__}: betas must be a pair, got {betas!r}")
            for i, b in enumerate(betas):
                if isinstance(b, bool) or not isinstance(b, (int, float, np.floating)) or not (
                    0.0 <= b < 1.0
                ):
                    raise ValueError(
                        f"{type(self).__name__}: invalid beta parameter at index {i}: {b!r} "
                        f"(must lie in [0, 1))"
                    )

    def _init_state(self, p: Tensor, group: Group) -> State:
        st: State = {
            "step": 0, "exp_avg": np.zeros_like(p.data), "exp_avg_sq": np.zeros_like(p.data),
        }
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = np.zeros_like(p.data)
        return st

    def _step_scalars(self, state: State, group: Group) -> dict[str, float]:
        """Advances the step count t; the bias corrections: η / (1 − β₁ᵗ) and √(1 − β₂ᵗ)."""
        super()._step_scalars(state, group)
        step = state["step"]
        beta1, beta2 = group["betas"]
        return {"step_size": group["lr"] / (1 - beta1**step),
                "bc2_sqrt": (1 - beta2**step) ** 0.5}

    def _apply(self, w: np.ndarray, g: np.ndarray, state: State, group: Group,
               scalars: dict[str, float]) -> None:
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not self._decoupled:
            g = with_weight_decay(g, w, wd)
        elif wd != 0:
            w *= 1 - lr * wd
        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, g, 1 - beta1)
        v *= beta2
        v += ((1 - beta2) * g) * g
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            denom = np.sqrt(vmax)
        else:
            denom = np.sqrt(v)
        denom /= scalars["bc2_sqrt"]
        denom += group["eps"]
        # θ − (η̂ m) / d: the same bits as θ + (−η̂ m) / d (negation is exact), with the
        # step-dependent η̂ an operand of a numpy call
        upd = np.multiply(scalars["step_size"], m)
        upd /= denom
        w -= upd


class AdamW(Adam):
    r"""Adam with decoupled weight decay, step for step PyTorch's ``torch.optim.AdamW``.

    The same as `Adam`, with the same arguments, except that weight decay shrinks the
    parameters directly, `θ ← (1 − η λ) θ`, before the Adam step, instead of adding `λ θ` to the
    gradient (where the moment estimates would rescale it); and λ, ``weight_decay``, is 0.01 by
    default.
    """

    _decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
