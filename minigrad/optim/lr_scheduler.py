r"""Learning-rate schedules, step for step PyTorch's ``torch.optim.lr_scheduler``.

A scheduler owns no parameters: it rewrites ``group["lr"]`` (η) of each param group of an
optimizer once per `step()`. Call it after ``optimizer.step()``, usually once per epoch::

    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)        # opt.step() inside
        sched.step()                       # η ← η·γ every 30 epochs

With t = ``last_epoch`` (the number of `step()` calls so far) and η₀ = a group's initial lr:

* `StepLR`: η_t = η₀ · γ^⌊t / step_size⌋
* `MultiStepLR`: η_t = η₀ · γ^(number of milestones ≤ t)
* `ExponentialLR`: η_t = η₀ · γ^t
* `CosineAnnealingLR`: η_t = η_min + ½(η₀ − η_min)(1 + cos(π t / T_max))
* `LambdaLR`: η_t = η₀ · λ(t)

Like PyTorch, the multiplicative and cosine schedules are applied recursively to the current
``group["lr"]`` (so a change made to it from outside carries on), which also makes them agree
with PyTorch's to the last bit.
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from minigrad.optim.optimizer import Optimizer

__all__ = [
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
]


class LRScheduler:
    r"""Base class: subclasses give `get_lr`, the next η of each param group.

    Args:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` are scheduled.
        last_epoch: −1 to start (each group's current lr is saved as ``"initial_lr"``); a
            later index resumes a schedule, which needs ``"initial_lr"`` in every group
            (restored with the optimizer's state dict).

    Attributes:
        base_lrs: η₀ of each group (its ``"initial_lr"``).
        last_epoch: t, the index of the last step taken (0 right after construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not an "
                            f"Optimizer")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{type(self).__name__}: last_epoch must be an int >= -1, got "
                             f"{last_epoch!r}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr', needed "
                        f"to resume at last_epoch={last_epoch}; load the optimizer's state dict "
                        f"saved with the schedule first, or start with last_epoch=-1"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._get_lr_called_within_step = False
        self._is_initial = True  # the first step, taken here, only sets t = last_epoch + 1
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group for step `last_epoch` (called by `step`)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` set, one per param group."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advances the schedule by one step (t ← t + 1) and writes the new η into every
        param group. Passing `epoch` jumps to that index with the closed form (deprecated in
        PyTorch; kept for old code)."""
        self._step_count += 1
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr: list[float] = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as PyTorch keeps it (``last_epoch``, ``base_lrs``,
        ``_last_lr``, ``_step_count`` and the schedule's own settings)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores what `state_dict` returned (also from a PyTorch scheduler of the same
        kind); restore the optimizer's state dict with it."""
        self.__dict__.update(state_dict)

    def _lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


def _check_gamma(owner: str, gamma: Any) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
        raise TypeError(f"{owner}: gamma must be a number, got {gamma!r}")
    return gamma


def _check_positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


class StepLR(LRScheduler):
    r"""η_t = η₀ · γ^⌊t / step_size⌋: the learning rate is multiplied by γ every `step_size`
    steps.

    Args:
        optimizer: the optimizer to schedule.
        step_size: the period, in steps, of the decay.
        gamma: γ, the factor applied at each decay.
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _check_positive_int("StepLR", "step_size", step_size)
        self.gamma = _check_gamma("StepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""η_t = η₀ · γ^(number of milestones ≤ t): multiplied by γ at each milestone step.

    Args:
        optimizer: the optimizer to schedule.
        milestones: the steps at which to decay (a repeated milestone decays twice).
        gamma: γ.
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = _check_gamma("MultiStepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        n = bisect_right(milestones, self.last_epoch)
        return [base * self.gamma ** n for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""η_t = η₀ · γ^t: multiplied by γ at every step.

    Args:
        optimizer: the optimizer to schedule.
        gamma: γ.
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check_gamma("ExponentialLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:  # resuming must not move the rate one step ahead
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""η_t = η_min + ½(η₀ − η_min)(1 + cos(π t / T_max)): from η₀ down to η_min in `T_max`
    steps along half a cosine, then back up (a cosine of period 2·T_max, without restarts).

    Computed as PyTorch does, recursively from the current lr:
    η_t = η_min + (η_{t−1} − η_min) · (1 + cos(π t/T_max)) / (1 + cos(π (t−1)/T_max)).

    Args:
        optimizer: the optimizer to schedule.
        T_max: the number of steps from η₀ to η_min.
        eta_min: η_min.
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and t > 0:
            return [lo + (base - lo) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # the bottom of the cosine, where the ratio is 0/0
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._lrs(), strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - lo) + lo for lr in self._lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * t / T)) / 2 for base in self.base_lrs]


class LambdaLR(LRScheduler):
    r"""η_t = η₀ · λ(t) for a function λ of the step index (one λ for all groups, or a list
    of one per group).

    Example: a linear warm-up over 10 steps, ``LambdaLR(opt, lambda t: min(1.0, (t + 1) / 10))``.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: λ, or a list of λs, one per param group.
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per param group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {f!r}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch)
                for f, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """As `LRScheduler.state_dict`, with ``lr_lambdas``: None for a plain function or
        lambda (code is not state), the attributes of a callable object."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(f.__dict__)
                             for f in self.lr_lambdas]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)  # the caller's dict stays as it was
        lambdas = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state)
        for f, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                f.__dict__.update(saved)
