"""Learning-rate schedulers against ``torch.optim.lr_scheduler``: the same learning rates step
for step (exactly), with several optimizers and param groups; state dicts and resuming."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler

torch = pytest.importorskip("torch")


class Warmup:
    """A callable object: LambdaLR saves its attributes in the state dict."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, t: int) -> float:
        return min(1.0, (t + 1) / self.steps)


SCHEDULES: dict[str, tuple[str, dict[str, Any]]] = {
    "step": ("StepLR", {"step_size": 7, "gamma": 0.5}),
    "step-default": ("StepLR", {"step_size": 3}),
    "multistep": ("MultiStepLR", {"milestones": [5, 12, 12, 30], "gamma": 0.3}),
    "exponential": ("ExponentialLR", {"gamma": 0.93}),
    "cosine": ("CosineAnnealingLR", {"T_max": 10}),  # 50 steps: 2.5 periods, past the bottom
    "cosine-eta_min": ("CosineAnnealingLR", {"T_max": 17, "eta_min": 1e-3}),
    "lambda": ("LambdaLR", {"lr_lambda": lambda t: 0.95 ** t * (1 + t % 3)}),
    "lambda-list": ("LambdaLR", {"lr_lambda": [Warmup(10), lambda t: 1 / (1 + t)]}),
}
OPTIMIZERS = {
    "SGD": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "Adam": ("Adam", {"lr": 0.01}),
    "RMSprop": ("RMSprop", {"lr": 0.02}),
}


def _problem(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 2)), rng.normal(size=2)], rng.normal(size=(4, 3))


def _both(opt_name: str, sched: str) -> tuple[Any, Any, Any, Any, list[Any], list[Any]]:
    """The same two-group problem in minigrad and PyTorch, the second group at half the lr."""
    init, _ = _problem()
    kind, hyper = OPTIMIZERS[opt_name]
    lr = hyper["lr"]
    ps = [mg.nn.Parameter(a) for a in init]
    tps = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    opt = getattr(optim, kind)([{"params": [ps[0]]}, {"params": [ps[1]], "lr": lr / 2}], **hyper)
    topt = getattr(torch.optim, kind)([{"params": [tps[0]]}, {"params": [tps[1]], "lr": lr / 2}],
                                      **hyper)
    name, kw = SCHEDULES[sched]
    s = getattr(lr_scheduler, name)(opt, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    return opt, topt, s, ts, ps, tps


def _train_step(opt: Any, topt: Any, ps: list[Any], tps: list[Any], x: np.ndarray) -> None:
    opt.zero_grad()
    topt.zero_grad()
    (mg.Tensor(x) @ ps[0] + ps[1]).tanh().sum().backward()
    (torch.tensor(x) @ tps[0] + tps[1]).tanh().sum().backward()
    opt.step()
    topt.step()


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("sched", list(SCHEDULES))
def test_schedule_matches_torch_step_for_step(sched: str, opt_name: str) -> None:
    opt, topt, s, ts, ps, tps = _both(opt_name, sched)
    _, x = _problem()
    assert s.get_last_lr() == ts.get_last_lr() and s.last_epoch == ts.last_epoch == 0
    assert s.base_lrs == ts.base_lrs
    seen = set()
    for step in range(50):
        _train_step(opt, topt, ps, tps, x)
        s.step()
        ts.step()
        assert s.get_last_lr() == ts.get_last_lr(), f"step {step}"  # exactly, every bit
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert s.last_epoch == ts.last_epoch == step + 1
        seen.add(tuple(s.get_last_lr()))
    assert len(seen) > 2  # the schedule did change the rate
    for p, tp in zip(ps, tps):  # and the optimizer followed it
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sched", ["step", "multistep", "exponential", "cosine", "lambda-list"])
def test_state_dict_and_resume(sched: str) -> None:
    """Saving the optimizer and scheduler at step 20 and resuming in fresh objects continues
    the schedule as if uninterrupted; the state dict holds what PyTorch's does."""
    opt, topt, s, ts, ps, tps = _both("SGD", sched)
    for _ in range(20):
        opt.step()
        topt.step()
        s.step()
        ts.step()
    sd = s.state_dict()
    tsd = ts.state_dict()
    assert set(sd) == set(tsd)
    for k in sd:
        if k != "lr_lambdas":
            assert sd[k] == tsd[k], k
    if sched == "lambda-list":
        assert sd["lr_lambdas"] == tsd["lr_lambdas"] == [{"steps": 10}, None]
    opt_sd = opt.state_dict()

    name, kw = SCHEDULES[sched]
    opt2 = optim.SGD([{"params": [mg.nn.Parameter(p.data)]} for p in ps], lr=0.1, momentum=0.9)
    opt2.load_state_dict(opt_sd)
    s2 = getattr(lr_scheduler, name)(opt2, **kw)
    s2.load_state_dict(sd)
    assert s2.get_last_lr() == s.get_last_lr()
    for _ in range(15):
        s.step()
        s2.step()
        ts.step()
        assert s2.get_last_lr() == s.get_last_lr() == ts.get_last_lr()


def test_resume_with_last_epoch_needs_initial_lr() -> None:
    p = mg.nn.Parameter(np.zeros(2))
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        lr_scheduler.StepLR(optim.SGD([p], lr=0.1), step_size=2, last_epoch=4)
    opt = optim.SGD([p], lr=0.1)
    opt.param_groups[0]["initial_lr"] = 1.0
    tp = torch.nn.Parameter(torch.zeros(2))
    topt = torch.optim.SGD([tp], lr=0.1)
    topt.param_groups[0]["initial_lr"] = 1.0
    s = lr_scheduler.CosineAnnealingLR(opt, T_max=8, last_epoch=4)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=8, last_epoch=4)
    for _ in range(10):
        assert s.get_last_lr() == ts.get_last_lr() and s.last_epoch == ts.last_epoch
        opt.step()
        topt.step()
        s.step()
        ts.step()


@pytest.mark.parametrize("sched", ["step", "multistep", "exponential", "cosine-eta_min"])
def test_step_with_epoch_uses_the_closed_form(sched: str) -> None:
    opt, topt, s, ts, _, _ = _both("SGD", sched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns that passing epoch is deprecated
        for epoch in (3, 17, 9, 40):
            s.step(epoch)
            ts.step(epoch)
            np.testing.assert_allclose(s.get_last_lr(), ts.get_last_lr(), rtol=1e-14)


def test_cosine_closed_form_by_hand() -> None:
    p = mg.nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.5)
    s = lr_scheduler.CosineAnnealingLR(opt, T_max=12, eta_min=0.1)
    for t in range(1, 30):
        s.step()
        want = 0.1 + 0.5 * (0.5 - 0.1) * (1 + math.cos(math.pi * t / 12))
        assert s.get_last_lr()[0] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_bad_arguments() -> None:
    opt = optim.SGD([mg.nn.Parameter(np.zeros(1)), ], lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR("sgd", step_size=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be a positive int"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="expected 1 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda t: 1.0, lambda t: 2.0])
    assert opt.param_groups[0]["lr"] == 0.1 and "initial_lr" not in opt.param_groups[0]
