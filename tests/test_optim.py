"""Optimizers: step-for-step agreement with PyTorch, state handling, validation, memory."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

SHAPES = [(3, 4), (4,), (2, 3), ()]

# (optimizer name, hyperparameters): each row is compared with torch.optim step for step.
CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "lr_decay": 0.01}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "centered": True}),  # exercises lerp_'s w ≥ ½ form
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6}),  # exercises lerp_'s w ≥ ½ form
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "betas": (0.8, 0.99)}),
]


def _case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, kw = case
    return name + "-" + ("-".join(f"{k}={v}" for k, v in kw.items()) or "defaults")


def _grad_fn(w: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """A gradient that depends nonlinearly on the parameters, so trajectories must agree."""
    return w**3 - 0.5 * w + noise


def _params(seed: int = 0, dtype: Any = np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _set_grads(params: list[nn.Parameter], rng: np.random.Generator, skip: int | None) -> None:
    for i, p in enumerate(params):
        noise = rng.standard_normal(p.shape)
        p.grad = None if i == skip else mg.Tensor(_grad_fn(p.data, noise).astype(p.dtype))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch_step_for_step(case: tuple[str, dict[str, Any]]) -> None:
    torch = pytest.importorskip("torch")
    name, kw = case
    init = _params()
    ours = [nn.Parameter(a) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(optim, name)(ours, **kw)
    topt = getattr(torch.optim, name)(theirs, foreach=False, **kw)
    rng = np.random.default_rng(1)
    for step in range(20):
        # the last parameter has no gradient on even steps: both must leave it alone
        skip = len(SHAPES) - 1 if step % 2 == 0 else None
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            noise = rng.standard_normal(p.shape)
            if i == skip:
                p.grad, tp.grad = None, None
            else:
                p.grad = mg.Tensor(_grad_fn(p.data, noise))
                tp.grad = torch.tensor(_grad_fn(tp.detach().numpy(), noise))
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(
                p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14,
                err_msg=f"{name} {kw}: parameter {i} differs after step {step + 1}",
            )
    for p in ours:
        assert p.dtype == np.float64 and p.is_leaf


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_param_groups_match_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    init = _params(3)
    ours = [nn.Parameter(a) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    lr = 0.01
    extra = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}

    def groups(ps: list[Any]) -> list[dict[str, Any]]:
        return [{"params": ps[:2], "lr": lr * 3, **extra}, {"params": ps[2:], "weight_decay": 0.1}]

    opt = getattr(optim, name)(groups(ours), lr=lr)
    topt = getattr(torch.optim, name)(groups(theirs), lr=lr, foreach=False)
    rng = np.random.default_rng(2)
    for _ in range(10):
        for p, tp in zip(ours, theirs):
            noise = rng.standard_normal(p.shape)
            assert np.all(np.isfinite(p.data))
            p.grad = mg.Tensor(_grad_fn(p.data, noise))
            tp.grad = torch.tensor(_grad_fn(tp.detach().numpy(), noise))
        opt.step()
        topt.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


ALL = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
]
ALL_IDS = [n for n, _ in ALL]


@pytest.mark.parametrize("name,kw", ALL, ids=ALL_IDS)
def test_param_without_grad_is_untouched(name: str, kw: dict[str, Any]) -> None:
    ps = [nn.Parameter(a) for a in _params(dtype=np.float32)]
    frozen = ps[1]
    before, version = frozen.data.copy(), frozen.version
    opt = getattr(optim, name)(ps, **kw)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _set_grads(ps, rng, skip=1)
        opt.step()
    assert frozen.grad is None
    assert frozen.data.tobytes() == before.tobytes()
    assert frozen.version == version
    assert frozen not in opt.state
    assert all(p in opt.state for i, p in enumerate(ps) if i != 1) or name == "SGD"


@pytest.mark.parametrize("name,kw", ALL, ids=ALL_IDS)
def test_state_dict_round_trip_continues_identically(name: str, kw: dict[str, Any]) -> None:
    init = _params(5)
    a = [nn.Parameter(x) for x in init]
    opt_a = getattr(optim, name)(a, **kw)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _set_grads(a, rng, skip=None)
        opt_a.step()
    sd = opt_a.state_dict()
    saved_copy = {k: {s: np.copy(v) for s, v in st.items()} for k, st in sd["state"].items()}
    b = [nn.Parameter(p.data) for p in a]
    opt_b = getattr(optim, name)(b, lr=123.0)  # the state dict brings the real hyperparameters
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[0]["lr"] == kw["lr"]
    for _ in range(10):
        noise = [rng.standard_normal(p.shape) for p in a]
        for ps in (a, b):
            for p, n in zip(ps, noise):
                p.grad = mg.Tensor(_grad_fn(p.data, n))
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b):
        assert np.array_equal(p.data, q.data)
    # the state dict is a snapshot: later steps did not change it
    for k, st in sd["state"].items():
        for s, v in st.items():
            assert np.array_equal(np.asarray(v), saved_copy[k][s])


def test_state_dict_layout_follows_pytorch() -> None:
    ps = [nn.Parameter(x) for x in _params()]
    opt = optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1}])
    ps[0].grad = mg.Tensor(np.ones(ps[0].shape))
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2, 3]]
    assert sd["param_groups"][1]["lr"] == 0.1
    assert list(sd["state"]) == [0]
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["state"][0]["step"] == 1


def test_load_state_dict_rejects_mismatched_groups() -> None:
    ps = [nn.Parameter(x) for x in _params()]
    sd = optim.SGD(ps, lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameters"):
        optim.SGD(ps[:2], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="param groups"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1).load_state_dict(sd)


@pytest.mark.parametrize("name,kw", ALL, ids=ALL_IDS)
def test_params_stay_float32_leaves_updated_in_place(name: str, kw: dict[str, Any]) -> None:
    mg.manual_seed(0)
    model = nn.MLP([2, 5, 3])
    params = list(model.parameters())
    arrays = [p.data for p in params]
    versions = [p.version for p in params]
    opt = getattr(optim, name)(model.parameters(), **kw)
    x = mg.randn(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for p, arr, v in zip(model.parameters(), arrays, versions):
        assert p.is_leaf and p.requires_grad and isinstance(p, nn.Parameter)
        assert p.dtype == np.float32
        assert p.data is arr  # written in place: the model and optimizer share it
        assert p.version == v + 3
        for s in opt.state.get(p, {}).values():
            if isinstance(s, np.ndarray):
                assert s.dtype == np.float32
    assert params == list(model.parameters())


def test_step_invalidates_graph_built_before_it() -> None:
    lin = nn.Linear(3, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    x = mg.randn(4, 3)
    lin(x).sum().backward()
    stale = lin(x).sum()
    opt.step()  # changes the weight that `stale`'s linear op saved
    with pytest.raises(RuntimeError, match="in place"):
        stale.backward()


@pytest.mark.parametrize("name,kw", ALL, ids=ALL_IDS)
def test_minimises_a_quadratic(name: str, kw: dict[str, Any]) -> None:
    target = np.array([1.0, -2.0, 0.5])
    w = nn.Parameter(np.zeros(3))
    lr = {"SGD": 0.05, "Adagrad": 0.5, "RMSprop": 0.01, "Adam": 0.05, "AdamW": 0.05}[name]
    kw = dict(kw, lr=lr, weight_decay=0.0)
    opt = getattr(optim, name)([w], **kw)
    for _ in range(500):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.data, target, atol=0.05)


def test_zero_grad() -> None:
    w = nn.Parameter(np.ones(3))
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    g = w.grad
    assert g is not None
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and np.all(g.data == 0)
    opt.zero_grad()
    assert w.grad is None


def test_closure_and_learning_rate_change() -> None:
    w = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure() -> mg.Tensor:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 1.0
    assert w.data[0] == pytest.approx(0.8)  # 1 − 0.1 · 2
    opt.param_groups[0]["lr"] = 0.0
    opt.step(closure)
    assert w.data[0] == pytest.approx(0.8)


BAD = [
    ("SGD", {"lr": -0.1}, "lr"),
    ("SGD", {"lr": float("nan")}, "lr"),
    ("SGD", {"lr": 0.1, "momentum": -0.5}, "momentum"),
    ("SGD", {"lr": 0.1, "weight_decay": -1.0}, "weight_decay"),
    ("SGD", {"lr": 0.1, "nesterov": True}, "nesterov"),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov"),
    ("Adagrad", {"lr_decay": -1.0}, "lr_decay"),
    ("Adagrad", {"eps": -1e-10}, "eps"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ("RMSprop", {"alpha": -0.1}, "alpha"),
    ("RMSprop", {"momentum": -0.1}, "momentum"),
    ("Adam", {"lr": -1e-3}, "lr"),
    ("Adam", {"betas": (1.0, 0.999)}, "beta"),
    ("Adam", {"betas": (0.9, -0.1)}, "beta"),
    ("Adam", {"betas": 0.9}, "betas"),
    ("AdamW", {"weight_decay": -0.01}, "weight_decay"),
    ("AdamW", {"eps": -1.0}, "eps"),
]


@pytest.mark.parametrize("name,kw,word", BAD, ids=[f"{n}-{w}-{i}" for i, (n, _, w) in
                                                     enumerate(BAD)])
def test_bad_hyperparameters(name: str, kw: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        getattr(optim, name)([nn.Parameter(np.zeros(2))], **kw)


def test_bad_hyperparameter_in_a_group() -> None:
    w = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([{"params": [w], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        optim.SGD([{"params": [w], "learning_rate": 1.0}], lr=0.1)


def test_bad_params() -> None:
    w = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(TypeError, match="floating"):
        optim.SGD([mg.tensor([1, 2])], lr=0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.SGD([np.zeros(2)], lr=0.1)


def test_repr_lists_groups() -> None:
    opt = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_memory_flat_over_10000_steps(name: str) -> None:
    mg.manual_seed(0)
    model = nn.MLP([2, 8, 2])
    if name == "SGD":
        opt: optim.Optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    x = mg.Tensor(X)

    def train(steps: int) -> float:
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    train(1_000)
    # Collect cyclic garbage before each reading: backward's networkx graphs form reference
    # cycles that only the cyclic collector frees, at times of its choosing; what survives a
    # collection is what a leak would be. Tracing starts after the warm-up, so the traced
    # memory at the end is exactly what steps 1,000 to 10,000 left behind.
    gc.collect()
    tracemalloc.start()
    try:
        last = train(9_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert grown < 200_000, f"{name}: memory grew by {grown} bytes over 9,000 steps"
    assert last < 0.1, "the loop should also have trained"


@pytest.mark.parametrize("name,kw", ALL, ids=ALL_IDS)
def test_numpy_scalar_hyperparameters_do_not_upcast(name: str, kw: dict[str, Any]) -> None:
    """np.float64 hyperparameters give bit-for-bit the float32 updates of Python floats."""
    as_numpy = {k: np.float64(v) if isinstance(v, float) else v for k, v in kw.items()}
    if name in ("Adam", "AdamW"):
        as_numpy["betas"] = (np.float64(0.9), np.float64(0.999))
    runs = []
    for hyper in (kw, as_numpy):
        ps = [nn.Parameter(a) for a in _params(4, dtype=np.float32)]
        opt = getattr(optim, name)(ps, **hyper)
        rng = np.random.default_rng(0)
        for _ in range(5):
            _set_grads(ps, rng, skip=None)
            opt.step()
        assert all(p.dtype == np.float32 for p in ps)
        runs.append([p.data.copy() for p in ps])
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()
