"""minigrad.func against torch.func: forward mode on every registered op (first and second
order), vmap on every registered op, Jacobians both ways, the Hessian of an MLP loss,
per-sample gradients, random programs, errors and the pass counter."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad
from minigrad import func, opinfo
from minigrad.function import apply
from minigrad.ops import REGISTRY

torch = pytest.importorskip("torch")
# minigrad's own ops: what other test files register at module level (a custom Function,
# collected before or after this file by each pytest-xdist worker) must not change the ids
BUILTIN = sorted(name for name, op in REGISTRY.items() if op.builtin)


# --------------------------------------------------------------------------- the op table
# How to test each op (its cases and its PyTorch counterpart) is read through these two
# accessors only, so that they can follow the table wherever it lives.
def op_cases(name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The op's test cases, ``[(inputs, params), ...]``, in float64."""
    return opinfo.cases(name, np.random.default_rng(0), np.float64)


def _conv_t(d: int, **p: Any) -> Any:
    conv = torch.nn.functional.conv1d if d == 1 else torch.nn.functional.conv2d
    return lambda x, W: conv(x, W, **p)


def _torch_input_grad(g: Any, W: Any, *, input_shape: Any, **p: Any) -> Any:
    x0 = torch.zeros(input_shape, dtype=g.dtype)
    return torch.func.vjp(lambda x: _conv_t(len(p["stride"]), **p)(x, W), x0)[1](g)[0]


def _torch_weight_grad(x: Any, g: Any, *, kernel_size: Any, **p: Any) -> Any:
    W0 = torch.zeros((g.shape[1], x.shape[1] // p["groups"]) + tuple(kernel_size),
                     dtype=g.dtype)
    return torch.func.vjp(lambda W: _conv_t(len(p["stride"]), **p)(x, W), W0)[1](g)[0]


def _torch_attention(q: Any, k: Any, v: Any, m: Any = None, is_causal: bool = False,
                     scale: float | None = None) -> Any:
    """Attention written out (PyTorch's fused kernel has no forward mode), with its masks
    and its zero row where nothing is allowed."""
    s = q @ k.transpose(-2, -1) * (q.shape[-1] ** -0.5 if scale is None else scale)
    L, S = s.shape[-2:]
    blocked = ~torch.ones(L, S, dtype=torch.bool).tril() if is_causal else None
    if m is not None and m.dtype == torch.bool:
        blocked = ~m if blocked is None else blocked | ~m
    elif m is not None:
        s = s + m
    if blocked is None:
        return s.softmax(-1) @ v
    blocked = blocked.expand(s.shape)
    dead = blocked.all(-1, keepdim=True).expand(s.shape)
    s = s.masked_fill(blocked, float("-inf")).masked_fill(dead, 0.0)
    return s.softmax(-1).masked_fill(dead, 0.0) @ v


# PyTorch counterparts that torch.func can transform, where the registry's go through
# torch.autograd (which torch.func's tangents and batches do not pass through) or through a
# kernel without forward mode
TRANSFORMABLE = {"conv_input_grad": _torch_input_grad, "conv_weight_grad": _torch_weight_grad,
                 "scaled_dot_product_attention": _torch_attention}


def op_torch(name: str) -> Callable[..., Any] | None:
    """PyTorch's version of the op, ``f(*tensors, **params)`` (None: there is none)."""
    found = opinfo.find(name)
    f = TRANSFORMABLE.get(name) or (None if found is None else found.torch)
    if f is None:
        return None
    if name in ("sum", "mean", "logsumexp"):  # torch wants every dim named for a full reduction
        return lambda x, axis=None, **p: f(x, axis=axis if axis is not None else None, **p)
    return f


def _is_float(a: Any) -> bool:
    return np.asarray(a).dtype.kind == "f"


def _split(inputs: tuple[Any, ...]) -> tuple[list[int], list[np.ndarray]]:
    """The positions and arrays of the floating point (differentiable) inputs."""
    pos = [i for i, a in enumerate(inputs) if _is_float(a)]
    return pos, [np.asarray(inputs[i], dtype=np.float64) for i in pos]


def _with(inputs: tuple[Any, ...], pos: list[int], diff: tuple[Any, ...],
          convert: Callable[[Any], Any]) -> list[Any]:
    full = [convert(a) for a in inputs]
    for i, d in zip(pos, diff):
        full[i] = d
    return full


def _of_diff(op: Any, inputs: tuple[Any, ...], pos: list[int], params: dict[str, Any],
             convert: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """The op as a function of its floating point inputs (the others fixed)."""
    convert = convert or _mg
    run = (lambda *a: apply(op, *a, **params)) if convert is _mg else op

    def f(*d: Any) -> Any:
        return run(*_with(inputs, pos, d, convert), **({} if convert is _mg else params))

    return f


def _scalar_of_diff(op: Any, inputs: tuple[Any, ...], pos: list[int], params: dict[str, Any],
                    w: np.ndarray) -> Callable[..., Any]:
    """``s = ⟨op(x), w⟩ + ½‖op(x)‖²`` as a function of the floating point inputs."""
    f = _of_diff(op, inputs, pos, params)
    return lambda *d: _objective(f(*d), _mg(w))


def _mg(a: Any) -> Any:
    return minigrad.Tensor(np.asarray(a)) if isinstance(a, np.ndarray) or np.ndim(a) else \
        minigrad.Tensor(np.asarray(a))


def _th(a: Any) -> Any:
    return torch.from_numpy(np.array(a))


def _close(ours: Any, ref: Any, what: str, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    a = ours.data if isinstance(ours, minigrad.Tensor) else np.asarray(ours)
    b = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape}, reference {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


# --------------------------------------------------------------------------- jvp, every op
@pytest.mark.parametrize("name", BUILTIN)
def test_jvp_of_every_op_matches_torch(name: str) -> None:
    """``func.jvp`` of the op equals ``torch.func.jvp`` on every case, float64."""
    tf = op_torch(name)
    if tf is None:
        pytest.skip(f"{name} has no PyTorch counterpart declared")
    op = REGISTRY[name]
    rng = np.random.default_rng(5)
    for k, (inputs, params) in enumerate(op_cases(name)):
        pos, diff = _split(inputs)
        if not pos:
            continue
        vs = [rng.standard_normal(d.shape) for d in diff]
        out, tan = func.jvp(_of_diff(op, inputs, pos, params),
                            tuple(_mg(d) for d in diff), tuple(_mg(v) for v in vs))
        tout, ttan = torch.func.jvp(_of_diff(tf, inputs, pos, params, _th),
                                    tuple(_th(d) for d in diff), tuple(_th(v) for v in vs))
        _close(out, tout, f"{name} case {k}: forward")
        _close(tan, ttan, f"{name} case {k}: tangent")


def _objective(y: Any, w: Any) -> Any:
    """⟨y, w⟩ + ½‖y‖²: the square makes the second derivative of a linear op non-zero."""
    return (y * w).sum() + 0.5 * (y * y).sum()


def _hvp_reverse(op: Any, inputs: tuple[Any, ...], params: dict[str, Any], pos: list[int],
                 diff: list[np.ndarray], w: np.ndarray, vs: list[np.ndarray]) -> list[Any]:
    """The Hessian-vector product by reverse over reverse (create_graph), the oracle for the
    ops whose PyTorch counterpart has no forward-over-reverse."""
    xs = [minigrad.Tensor(d, requires_grad=True) for d in diff]
    y = apply(op, *_with(inputs, pos, xs, _mg), **params)
    gs = minigrad.grad(_objective(y, minigrad.Tensor(w)), xs, create_graph=True,
                       allow_unused=True)
    s = sum(((g * minigrad.Tensor(v)).sum() for g, v in zip(gs, vs)
             if g is not None and g.requires_grad), minigrad.Tensor(np.zeros(())))
    if not s.requires_grad:
        return [np.zeros(d.shape) for d in diff]
    hs = minigrad.grad(s, xs, allow_unused=True)
    return [np.zeros(d.shape) if h is None else h.data for h, d in zip(hs, diff)]


@pytest.mark.parametrize("name", BUILTIN)
def test_jvp_of_grad_of_every_op(name: str) -> None:
    """Second order in forward mode: ``jvp(grad(s))`` is the Hessian-vector product of
    ``s = ⟨op(x), w⟩ + ½‖op(x)‖²``: torch.func's, or (where PyTorch's op has no forward
    mode over its backward) minigrad's reverse-over-reverse one."""
    op = REGISTRY[name]
    tf = op_torch(name)
    rng = np.random.default_rng(6)
    for k, (inputs, params) in enumerate(op_cases(name)):
        pos, diff = _split(inputs)
        if not pos or not all(np.size(d) for d in diff):
            continue
        w = rng.standard_normal(np.shape(apply(op, *[_mg(a) for a in inputs], **params)))
        vs = [rng.standard_normal(d.shape) for d in diff]
        nums = tuple(range(len(diff)))
        s = _scalar_of_diff(op, inputs, pos, params, w)
        _, hv = func.jvp(func.grad(s, argnums=nums), tuple(_mg(d) for d in diff),
                         tuple(_mg(v) for v in vs))
        ref = _hvp_torch(tf, inputs, params, pos, diff, w, vs) if tf is not None else None
        if ref is None:
            ref = _hvp_reverse(op, inputs, params, pos, diff, w, vs)
        for i, (a, b) in enumerate(zip(hv, ref)):
            _close(a, b, f"{name} case {k}: H·v for input {pos[i]}", rtol=1e-9, atol=1e-10)


def _hvp_torch(tf: Any, inputs: tuple[Any, ...], params: dict[str, Any], pos: list[int],
               diff: list[np.ndarray], w: np.ndarray, vs: list[np.ndarray]) -> Any:
    f = _of_diff(tf, inputs, pos, params, _th)

    def ts(*d: Any) -> Any:
        return _objective(f(*d), _th(w))

    try:
        _, hv = torch.func.jvp(torch.func.grad(ts, argnums=tuple(range(len(diff)))),
                               tuple(_th(d) for d in diff), tuple(_th(v) for v in vs))
    except (RuntimeError, NotImplementedError):
        return None
    return hv


@pytest.mark.parametrize("name", [n for n in BUILTIN if REGISTRY[n].jvps is not None])
def test_explicit_jvp_equals_the_derived_one(name: str) -> None:
    """Where an op declares its JVPs, they agree with the JVP derived from its VJPs."""
    from minigrad.forward import tangent_of_op

    op = REGISTRY[name]
    rng = np.random.default_rng(8)
    for k, (inputs, params) in enumerate(op_cases(name)):
        xs = [_mg(a) for a in inputs]
        out = apply(op, *xs, **params)
        ts = [_mg(rng.standard_normal(np.shape(a))) if _is_float(a) else None for a in inputs]
        explicit = dict(tangent_of_op(op, out, xs, ts, params))
        saved, op.__dict__["jvps"] = op.jvps, None  # the dataclass is frozen: go around it
        try:
            derived = dict(tangent_of_op(op, out, xs, ts, params, apart=True))
        finally:
            op.__dict__["jvps"] = saved
        for i, t in explicit.items():
            ref = derived.get(i)
            _close(t, np.zeros(out.shape) if ref is None else ref.data,
                   f"{name} case {k}: term of input {i}")


# --------------------------------------------------------------------------- vmap, every op
B = 3


def _batched(d: np.ndarray, axis: int) -> np.ndarray:
    """B variants of `d` (scaled, so signs, kinks and order are kept) stacked on `axis`."""
    return np.stack([d * (1.0 + 0.1 * b) for b in range(B)], axis=axis)


def _variants(diff: list[np.ndarray]) -> list[list[Any]]:
    """Which inputs carry the batch, and along which axis: all along 0; the first alone
    along its last axis; the last alone along 0 (the others shared)."""
    out: list[list[Any]] = [[0] * len(diff)]
    if len(diff) > 1:
        out.append([-1] + [None] * (len(diff) - 1))
        out.append([None] * (len(diff) - 1) + [0])
    else:
        out.append([-1])
    return out


def _expected_fallback(name: str, caught: list[Any]) -> list[str]:
    return [str(w.message) for w in caught if f"op '{name}'" in str(w.message)]


# ops whose rule covers the registry's cases but runs once per example on some other inputs
# (setitem with separated advanced indices, embedding with an index out of range, batch
# norm updating running statistics under nested vmaps): none on these cases
PARTLY_LOOPED: set[str] = set()


@pytest.mark.parametrize("name", BUILTIN)
def test_vmap_of_every_op_matches_a_loop(name: str) -> None:
    """vmap of the op (batched inputs in three arrangements) equals the op run on each
    example; an op with a batching rule does not fall back to a loop."""
    op = REGISTRY[name]
    for k, (inputs, params) in enumerate(op_cases(name)):
        pos, diff = _split(inputs)
        if not pos:
            continue
        f = _of_diff(op, inputs, pos, params)
        for dims in _variants(diff):
            args = [_mg(d) if a is None else _mg(_batched(d, a)) for d, a in zip(diff, dims)]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = func.vmap(f, in_dims=tuple(dims))(*args)
            ref = np.stack([f(*[_mg(d) if a is None else _mg(np.take(_batched(d, a), b, axis=a))
                                 for d, a in zip(diff, dims)]).data for b in range(B)])
            _close(out, ref, f"{name} case {k}, in_dims {dims}")
            looped = _expected_fallback(name, caught)
            if name in func.batched_ops() and name not in PARTLY_LOOPED:
                assert not looped, f"{name} case {k}: {looped}"
            if name not in func.batched_ops():
                assert looped, f"{name}: no batching rule, but no warning either"


@pytest.mark.parametrize("name", BUILTIN)
def test_vmap_of_grad_of_every_op_matches_a_loop(name: str) -> None:
    """Per-example gradients, ``vmap(grad(s))``, equal a loop of ``grad(s)``."""
    op = REGISTRY[name]
    rng = np.random.default_rng(9)
    for k, (inputs, params) in enumerate(op_cases(name)):
        pos, diff = _split(inputs)
        if not pos:
            continue
        w = rng.standard_normal(np.shape(apply(op, *[_mg(a) for a in inputs], **params)))
        nums = tuple(range(len(diff)))
        s = _scalar_of_diff(op, inputs, pos, params, w)
        batch = [_batched(d, 0) for d in diff]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gs = func.vmap(func.grad(s, argnums=nums))(*[_mg(b) for b in batch])
        for b in range(B):
            ref = func.grad(s, argnums=nums)(*[_mg(x[b]) for x in batch])
            for i, (g, r) in enumerate(zip(gs, ref)):
                _close(g.data[b], r.data, f"{name} case {k}: example {b}, input {pos[i]}")


@pytest.mark.parametrize("name", BUILTIN)
def test_jacrev_equals_jacfwd_for_every_op(name: str) -> None:
    """The Jacobian by reverse passes (cotangents batched through the op's VJPs) equals the
    one by forward passes (tangents batched through its JVP)."""
    op = REGISTRY[name]
    for k, (inputs, params) in enumerate(op_cases(name)):
        pos, diff = _split(inputs)
        if not pos or not all(np.size(d) for d in diff):
            continue
        nums = tuple(range(len(diff)))
        f = _of_diff(op, inputs, pos, params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jr = func.jacrev(f, argnums=nums)(*[_mg(d) for d in diff])
            jf = func.jacfwd(f, argnums=nums)(*[_mg(d) for d in diff])
        for i, (a, b) in enumerate(zip(jr, jf)):
            _close(a, b.data, f"{name} case {k}: Jacobian for input {pos[i]}")


# --------------------------------------------------------------------------- networks
def _mlp_arrays(rng: np.random.Generator, sizes: tuple[int, ...] = (4, 8, 3)) -> list[Any]:
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out += [rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.1]
    return out


def _mlp(params: Any, x: Any, lib: Any) -> Any:
    """Linear, tanh, linear, in minigrad or PyTorch (lib: minigrad.nn.functional or
    torch.nn.functional): the lecture's a_1 = W_1 x + b_1, h_1 = tanh(a_1), a_2 = W_2 h_1 + b_2."""
    W1, b1, W2, b2 = params
    return lib.linear(lib.linear(x, W1, b1).tanh(), W2, b2)


MF = minigrad.nn.functional
TF = torch.nn.functional


def test_jacfwd_equals_jacrev_equals_torch_on_an_mlp() -> None:
    rng = np.random.default_rng(1)
    p = _mlp_arrays(rng)
    x = rng.standard_normal(4)
    f = lambda x: _mlp([_mg(a) for a in p], x, MF)  # noqa: E731
    tf = lambda x: _mlp([_th(a) for a in p], x, TF)  # noqa: E731
    jr, jf = func.jacrev(f)(_mg(x)), func.jacfwd(f)(_mg(x))
    ref = torch.func.jacrev(tf)(_th(x))
    assert jr.shape == jf.shape == (3, 4)
    _close(jr, ref, "jacrev")
    _close(jf, ref, "jacfwd")
    # with respect to a weight matrix: output (3,) by W1 (8, 4)
    g = lambda W1, x: _mlp([W1] + [_mg(a) for a in p[1:]], x, MF)  # noqa: E731
    tg = lambda W1, x: _mlp([W1] + [_th(a) for a in p[1:]], x, TF)  # noqa: E731
    ref = torch.func.jacrev(tg)(_th(p[0]), _th(x))
    _close(func.jacrev(g)(_mg(p[0]), _mg(x)), ref, "jacrev by W1")
    _close(func.jacfwd(g)(_mg(p[0]), _mg(x)), ref, "jacfwd by W1")


def _mlp_loss(params: Any, x: Any, y: Any, lib: Any) -> Any:
    return lib.cross_entropy(_mlp(params, x, lib), y)


def test_hessian_of_an_mlp_loss_matches_torch() -> None:
    rng = np.random.default_rng(2)
    p = _mlp_arrays(rng)
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, size=5)
    loss = lambda x: _mlp_loss([_mg(a) for a in p], x, _mg(y), MF)  # noqa: E731
    tloss = lambda x: _mlp_loss([_th(a) for a in p], x, _th(y), TF)  # noqa: E731
    H = func.hessian(loss)(_mg(X))
    assert H.shape == (5, 4, 5, 4)
    _close(H, torch.func.hessian(tloss)(_th(X)), "Hessian by the inputs", rtol=1e-9)
    # by every parameter at once: a nested tuple of blocks, as torch.func's
    lp = lambda *ps: _mlp_loss(list(ps), _mg(X), _mg(y), MF)  # noqa: E731
    tlp = lambda *ps: _mlp_loss(list(ps), _th(X), _th(y), TF)  # noqa: E731
    nums = (0, 1, 2, 3)
    Hp = func.hessian(lp, argnums=nums)(*[_mg(a) for a in p])
    ref = torch.func.hessian(tlp, argnums=nums)(*[_th(a) for a in p])
    for i in nums:
        for j in nums:
            _close(Hp[i][j], ref[i][j], f"Hessian block ({i}, {j})", rtol=1e-9, atol=1e-11)


def test_a_hessian_vector_product_without_the_hessian() -> None:
    """Forward over reverse: ``jvp(grad(L), (x,), (v,))`` is H·v, one forward pass through
    the gradient's computation, never building the Hessian."""
    rng = np.random.default_rng(3)
    p = _mlp_arrays(rng)
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, size=5)
    v = rng.standard_normal((5, 4))
    loss = lambda x: _mlp_loss([_mg(a) for a in p], x, _mg(y), MF)  # noqa: E731
    g, hv = func.jvp(func.grad(loss), (_mg(X),), (_mg(v),))
    H = func.hessian(loss)(_mg(X)).data.reshape(20, 20)
    _close(hv, (H @ v.reshape(20)).reshape(5, 4), "H·v")
    _close(g, func.grad(loss)(_mg(X)), "the gradient itself")


def test_per_sample_gradients_match_torch_and_a_loop() -> None:
    """``vmap(grad(loss))`` with `functional_call`, the classic per-example gradients: the
    same as torch.func's and as a loop of grad, one example at a time."""
    rng = np.random.default_rng(4)
    model = minigrad.nn.Sequential(minigrad.nn.Linear(4, 8), minigrad.nn.Tanh(),
                                   minigrad.nn.Linear(8, 3)).double()
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3)).double()
    tmodel.load_state_dict({k: _th(v.data) for k, v in model.state_dict().items()})
    X, Y = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
    params = {k: v.detach() for k, v in model.named_parameters()}
    tparams = {k: v.detach() for k, v in tmodel.named_parameters()}

    def loss(p: Any, x: Any, y: Any) -> Any:
        out = func.functional_call(model, p, (x.unsqueeze(0),))
        return MF.cross_entropy(out, y.unsqueeze(0))

    def tloss(p: Any, x: Any, y: Any) -> Any:
        out = torch.func.functional_call(tmodel, p, (x.unsqueeze(0),))
        return TF.cross_entropy(out, y.unsqueeze(0))

    ours = func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, _mg(X), _mg(Y))
    ref = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tparams, _th(X), _th(Y))
    assert set(ours) == set(ref)
    for k in ref:
        assert ours[k].shape == (6,) + tuple(params[k].shape)
        _close(ours[k], ref[k], f"per-sample gradient of {k}")
        for i in range(6):
            one = func.grad(loss)(params, _mg(X[i]), _mg(Y[i]))
            _close(ours[k].data[i], one[k].data, f"{k}, example {i}")
    assert all(p.grad is None for p in model.parameters())  # .grad is not touched


def test_functional_call_puts_the_parameters_back() -> None:
    lin = minigrad.nn.Linear(3, 2).double()
    W = lin.weight
    other = {"weight": _mg(np.ones((2, 3))), "bias": _mg(np.zeros(2))}
    out = func.functional_call(lin, other, _mg(np.arange(3.0)))
    _close(out, np.array([3.0, 3.0]), "output with the given parameters")
    assert lin.weight is W
    with pytest.raises(ValueError, match="not a parameter or buffer"):
        func.functional_call(lin, {"wieght": W}, (_mg(np.ones(3)),))


# --------------------------------------------------------------------------- composition
def _f(x: Any, lib: Any = None) -> Any:
    return (x.sin() if hasattr(x, "sin") and lib is torch else x.tanh()) * x


def test_nested_jvp_gives_second_directional_derivatives() -> None:
    """``jvp`` of ``jvp``: uᵀ H v, the outer level differentiating the inner one's tangent
    computations."""
    rng = np.random.default_rng(10)
    x, u, v = (rng.standard_normal(5) for _ in range(3))
    f = lambda x: (x.tanh() * x).sum()  # noqa: E731
    inner = lambda x: func.jvp(f, (x,), (_mg(v),))[1]  # noqa: E731
    _, second = func.jvp(inner, (_mg(x),), (_mg(u),))
    tinner = lambda x: torch.func.jvp(lambda x: (x.tanh() * x).sum(), (x,), (_th(v),))[1]  # noqa
    _, ref = torch.func.jvp(tinner, (_th(x),), (_th(u),))
    _close(second, ref, "uᵀ H v")


def test_grad_of_jvp_and_grad_of_grad() -> None:
    rng = np.random.default_rng(11)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x: (x.exp() * x).sum()  # noqa: E731
    tf = lambda x: (x.exp() * x).sum()  # noqa: E731
    g = func.grad(lambda x: func.jvp(f, (x,), (_mg(v),))[1])(_mg(x))
    ref = torch.func.grad(lambda x: torch.func.jvp(tf, (x,), (_th(v),))[1])(_th(x))
    _close(g, ref, "reverse over forward")
    gg = func.grad(lambda x: func.grad(f)(x).sum())(_mg(x))
    _close(gg, torch.func.grad(lambda x: torch.func.grad(tf)(x).sum())(_th(x)), "grad of grad")


def test_vmap_in_dims_out_dims_and_nesting_match_torch() -> None:
    rng = np.random.default_rng(12)
    A, b = rng.standard_normal((3, 5, 4)), rng.standard_normal((5, 2))
    f = lambda a, b: (a @ b).softmax(-1)  # noqa: E731
    ours = func.vmap(func.vmap(f, in_dims=(1, None), out_dims=1), in_dims=(0, None))(
        _mg(A), _mg(b))
    ref = torch.func.vmap(torch.func.vmap(f, in_dims=(1, None), out_dims=1),
                          in_dims=(0, None))(_th(A), _th(b))
    _close(ours, ref, "vmap of vmap")
    # a pytree of arguments, a shared one, and an output per example and one shared
    g = lambda d, c: ({"s": d["x"].sum(0) * c, "m": d["y"].max()}, c * 2.0)  # noqa: E731
    d = {"x": rng.standard_normal((2, 3)), "y": rng.standard_normal((3, 2))}
    out = func.vmap(g, in_dims=({"x": 1, "y": 0}, None), out_dims=(0, None))(
        {k: _mg(v) for k, v in d.items()}, _mg(np.array(1.5)))
    tout = torch.func.vmap(g, in_dims=({"x": 1, "y": 0}, None), out_dims=(0, None))(
        {k: _th(v) for k, v in d.items()}, _th(np.array(1.5)))
    for k in ("s", "m"):
        _close(out[0][k], tout[0][k], f"output {k}")
    _close(out[1], tout[1], "the unbatched output")


def test_vmap_of_jacrev_and_jacfwd_of_vmap() -> None:
    """Per-example Jacobians, and the Jacobian of a batched function."""
    rng = np.random.default_rng(13)
    W = rng.standard_normal((3, 4))
    f = lambda x: (_mg(W) @ x).tanh()  # noqa: E731
    tf = lambda x: (_th(W) @ x).tanh()  # noqa: E731
    X = rng.standard_normal((5, 4))
    ref = torch.func.vmap(torch.func.jacrev(tf))(_th(X))
    _close(func.vmap(func.jacrev(f))(_mg(X)), ref, "vmap(jacrev)")
    _close(func.vmap(func.jacfwd(f))(_mg(X)), ref, "vmap(jacfwd)")
    _close(func.jacfwd(func.vmap(f))(_mg(X)), torch.func.jacfwd(torch.func.vmap(tf))(_th(X)),
           "jacfwd(vmap)")


def test_vmap_randomness_policies() -> None:
    X = _mg(np.ones((4, 6)))
    f = lambda x: MF.dropout(x, p=0.5)  # noqa: E731
    with pytest.raises(RuntimeError, match="randomness='different'"):
        func.vmap(f)(X)
    minigrad.manual_seed(0)
    same = func.vmap(f, randomness="same")(X).data
    assert (same == same[0]).all()
    minigrad.manual_seed(0)
    diff = func.vmap(f, randomness="different")(X).data
    assert not (diff == diff[0]).all()
    assert set(np.unique(diff)) <= {0.0, 2.0}
    with pytest.raises(RuntimeError, match="randn"):
        func.vmap(lambda x: x + minigrad.randn(6))(X)
    assert minigrad.randn(2).shape == (2,)  # the generator is back


def test_a_batched_tensor_reports_one_example() -> None:
    seen = {}

    def f(x: Any) -> Any:
        seen["shape"], seen["len"], seen["ndim"] = x.shape, len(x), x.ndim
        mask = x > 0  # a comparison: every example's own
        return x.where(mask, 0.0).sum()

    X = np.array([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    out = func.vmap(f)(_mg(X))
    assert seen == {"shape": (3,), "len": 3, "ndim": 1}
    _close(out, np.array([4.0, 2.0]), "x where x > 0, summed")
    with pytest.raises(RuntimeError, match=r"item\(\)"):
        func.vmap(lambda x: x.sum().item())(_mg(X))


# --------------------------------------------------------------------------- errors
def test_errors_name_the_argument_and_the_shapes() -> None:
    x = _mg(np.ones(3))
    f = lambda x: x * 2.0  # noqa: E731
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\).*shape \(3,\)"):
        func.jvp(f, (x,), (_mg(np.ones(2)),))
    with pytest.raises(TypeError, match="tangent 0 has dtype float32.*float64"):
        func.jvp(f, (x,), (_mg(np.ones(3, dtype=np.float32)),))
    with pytest.raises(TypeError, match="primals must be a tuple"):
        func.jvp(f, x, (x,))
    with pytest.raises(TypeError, match="output of func must be a minigrad Tensor, got float"):
        func.jvp(lambda x: 1.0, (x,), (x,))
    with pytest.raises(ValueError, match=r"argument 0 of shape \(3, 2\) has 3.*argument 1 of "
                                         r"shape \(4,\) has 4"):
        func.vmap(lambda a, b: a)(_mg(np.ones((3, 2))), _mg(np.ones(4)))
    with pytest.raises(ValueError, match=r"in_dims 2 is out of range for argument 0 of shape"):
        func.vmap(f, in_dims=2)(_mg(np.ones((3, 2))))
    with pytest.raises(ValueError, match="every in_dims is None"):
        func.vmap(f, in_dims=None)(x)
    with pytest.raises(TypeError, match="output 0 is a float"):
        func.vmap(lambda x: 1.0)(x)
    with pytest.raises(ValueError, match=r"scalar \(0-d\) Tensor, got shape \(3,\)"):
        func.grad(f)(x)
    with pytest.raises(TypeError, match="got tuple"):
        func.grad(lambda x: (x, x))(x)
    _, fn = func.vjp(f, x)
    with pytest.raises(ValueError, match=r"cotangent 0 has shape \(2,\) but the output has "
                                         r"shape \(3,\)"):
        fn(_mg(np.ones(2)))
    with pytest.raises(TypeError, match="dtype int64"):
        func.grad(lambda x: x.sum())(_mg(np.ones(3, dtype=np.int64)))
    with pytest.raises(ValueError, match="randomness must be one of"):
        func.vmap(f, randomness="sometimes")


# --------------------------------------------------------------------------- counting passes
def test_passes_are_counted_n_forward_versus_m_reverse() -> None:
    W = _mg(np.random.default_rng(0).standard_normal((3, 4)))
    f = lambda x: (W @ x).tanh()  # noqa: E731  (ℝ⁴ → ℝ³: n = 4, m = 3)
    x = _mg(np.ones(4))
    with func.count_passes() as fwd:
        func.jacfwd(f)(x)
    with func.count_passes() as rev:
        func.jacrev(f)(x)
    with func.count_passes() as loop:
        func.jacfwd(f, chunk_size=1)(x)
    assert (fwd.forward, fwd.forward_sweeps, fwd.reverse) == (4, 1, 0)
    assert (rev.reverse, rev.reverse_sweeps, rev.forward) == (3, 1, 0)
    assert (loop.forward, loop.forward_sweeps) == (4, 4)
    with func.count_passes() as g:
        func.grad(lambda x: f(x).sum())(x)
    assert (g.reverse, g.reverse_sweeps) == (1, 1)


# --------------------------------------------------------------------------- random programs
# Random chains of ops, run by minigrad and by PyTorch under jvp, vmap and vmap(grad). (The
# differential fuzzer in tests/test_fuzz.py is being reworked; these programs are drawn
# here.)
UNARY = ("tanh", "sigmoid", "exp", "neg", "relu", "softmax", "log_softmax", "transpose")
BINARY = ("add", "sub", "mul")


@st.composite
def _programs(draw: Any) -> tuple[list[np.ndarray], list[tuple[str, dict[str, Any], int]]]:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    leaves = [rng.uniform(-1.5, 1.5, size=shape)]
    steps: list[tuple[str, dict[str, Any], int]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("unary", "binary", "sum", "matmul")))
        if kind == "unary":
            name = draw(st.sampled_from(UNARY))
            params = {"axis": -1} if "softmax" in name else {"axes": None} if (
                name == "transpose") else {}
            steps.append((name, params, -1))
        elif kind == "binary":
            other = shape[draw(st.integers(0, len(shape))):]
            leaves.append(rng.uniform(-1.5, 1.5, size=other))
            steps.append((draw(st.sampled_from(BINARY)), {}, len(leaves) - 1))
        elif kind == "sum":
            steps.append(("sum", {"axis": (draw(st.integers(0, len(shape) - 1)),),
                                  "keepdims": True}, -1))
        else:
            leaves.append(rng.uniform(-1.0, 1.0, size=(shape[-1], draw(st.integers(1, 3)))))
            steps.append(("matmul", {}, len(leaves) - 1))
        shape = _run(steps, [np.asarray(a) for a in leaves], None).shape
    return leaves, steps


def _run(steps: list[tuple[str, dict[str, Any], int]], leaves: list[Any], lib: Any) -> Any:
    """The program on `leaves`: numpy shapes (lib None), minigrad ops or PyTorch's."""
    y = leaves[0]
    for name, params, other in steps:
        if lib is None:
            y = np.asarray(apply(REGISTRY[name], *(_mg(a) for a in (
                [y] if other < 0 else [y, leaves[other]])), **params).data)
            continue
        args = [y] if other < 0 else [y, leaves[other]]
        f = opinfo.info(name).torch if lib is torch else (
            lambda *a, name=name, **p: apply(REGISTRY[name], *a, **p))
        if name == "transpose" and lib is torch:
            y = args[0].permute(*reversed(range(args[0].ndim)))
        else:
            y = f(*args, **params)
    return y


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(_programs())
def test_random_programs_under_jvp_vmap_and_per_example_grad(prog: Any) -> None:
    leaves, steps = prog
    rng = np.random.default_rng(0)
    vs = [rng.standard_normal(a.shape) for a in leaves]
    f = lambda *xs: _run(steps, list(xs), minigrad)  # noqa: E731
    tf = lambda *xs: _run(steps, list(xs), torch)  # noqa: E731
    out, tan = func.jvp(f, tuple(_mg(a) for a in leaves), tuple(_mg(v) for v in vs))
    tout, ttan = torch.func.jvp(tf, tuple(_th(a) for a in leaves), tuple(_th(v) for v in vs))
    _close(out, tout, f"forward of {steps}")
    _close(tan, ttan, f"tangent of {steps}")
    X = np.stack([leaves[0] * (1 + 0.2 * b) for b in range(3)])
    dims = (0,) + (None,) * (len(leaves) - 1)
    args = [_mg(X)] + [_mg(a) for a in leaves[1:]]
    targs = [_th(X)] + [_th(a) for a in leaves[1:]]
    _close(func.vmap(f, in_dims=dims)(*args), torch.func.vmap(tf, in_dims=dims)(*targs),
           f"vmap of {steps}")
    s = lambda *xs: (f(*xs) ** 2).sum()  # noqa: E731
    ts = lambda *xs: (tf(*xs) ** 2).sum()  # noqa: E731
    nums = tuple(range(len(leaves)))
    ours = func.vmap(func.grad(s, argnums=nums), in_dims=dims)(*args)
    ref = torch.func.vmap(torch.func.grad(ts, argnums=nums), in_dims=dims)(*targs)
    for i, (a, b) in enumerate(zip(ours, ref)):
        _close(a, b, f"per-example gradient of leaf {i} of {steps}", rtol=1e-9, atol=1e-11)


# --------------------------------------------------------------------------- diagrams
def test_a_jvp_drawn_with_its_tangents() -> None:
    """``draw(out, tangents=True)``: the forward edges carry each term of the tangent with its
    value, the op's edge to its result the JVP formula, each tensor its tangent."""
    from minigrad import visualize

    rng = np.random.default_rng(14)
    layer = minigrad.nn.Linear(2, 3).double()
    x, v = _mg(rng.standard_normal(2)), _mg(np.array([1.0, 0.0]))
    out, tan = func.jvp(lambda x: layer(x).sigmoid(), (x,), (v,), keep=True)
    record = func.tangents_of(out)
    assert record is not None and record.tangent(out) is not None
    _close(record.tangent(out), tan.data, "the kept tangent of the output")
    src = visualize.draw(out, tangents=True).source
    assert "W ḣ = [" in src  # the input's term, with its value
    assert "ȧ ⊙ σ(1 − σ) = [" in src
    assert "ḣ = ȧ ⊙ σ(1 − σ)" in src  # sigmoid's JVP formula on its edge to the result
    assert src.count(">tangent<") == 3  # x, a and h carry a tangent; W and b do not
    with pytest.raises(ValueError, match="keep=True"):
        visualize.draw(func.jvp(lambda x: x.exp(), (x,), (v,))[0], tangents=True)


# --------------------------------------------------------------------------- the rule table
EXPLICIT = {"add", "sub", "mul", "div", "neg", "matmul", "linear", "exp", "log", "tanh",
            "sigmoid", "relu", "pow", "sum", "mean", "reshape", "transpose", "broadcast_to",
            "getitem", "softmax", "log_softmax", "cross_entropy", "mse_loss"}


def test_the_lectures_ops_have_explicit_jvps_and_the_rest_are_listed_as_derived() -> None:
    missing = sorted(n for n in EXPLICIT if REGISTRY[n].derived_jvp)
    assert not missing, f"ops without an explicit JVP: {missing}"
    assert set(func.derived_jvps()) == {n for n, op in REGISTRY.items() if op.jvps is None}
    assert func.jvp_formula(REGISTRY["matmul"]) == "ȧ = Ẇ h + W ḣ"
    assert func.jvp_formula(REGISTRY["sigmoid"]) == "ḣ = ȧ ⊙ σ(1 − σ)"
    assert func.jvp_formula(REGISTRY["conv2d"]).endswith("(derived from the VJP)")


def test_a_custom_function_gets_a_derived_jvp_and_a_looped_vmap(registered: Any) -> None:
    class Cube(minigrad.Function):
        name = "func_test_cube"  # test_tensor.py's module-level Cube holds "cube"
        formula = "y = x³"
        grads = ("δ ⊙ 3x²",)

        @staticmethod
        def forward(x: Any) -> Any:
            return x ** 3

        @staticmethod
        def vjp_x(g: Any, out: Any, x: Any) -> Any:
            return g * 3.0 * x * x

    x, v = np.array([1.0, -2.0, 0.5]), np.array([0.3, 1.0, -1.0])
    _, t = func.jvp(Cube.apply, (_mg(x),), (_mg(v),))
    _close(t, 3 * x ** 2 * v, "the derived JVP of a custom op")
    with pytest.warns(UserWarning, match="op 'func_test_cube' has no batching rule"):
        out = func.vmap(Cube.apply)(_mg(np.stack([x, 2 * x])))
    _close(out, np.stack([x, 2 * x]) ** 3, "the looped vmap of a custom op")


def test_aux_outputs_and_an_output_that_does_not_depend_on_the_input() -> None:
    x = _mg(np.array([1.0, 2.0]))
    f = lambda x: ((x * x).sum(), x * 3.0)  # noqa: E731
    g, aux = func.grad(f, has_aux=True)(x)
    _close(g, np.array([2.0, 4.0]), "grad with aux")
    _close(aux, np.array([3.0, 6.0]), "its aux")
    (g, (value, aux)) = func.grad_and_value(f, has_aux=True)(x)
    _close(value, np.array(5.0), "the value")
    h = lambda x: (x * x, x.sum())  # noqa: E731
    J, aux = func.jacrev(h, has_aux=True)(x)
    _close(J, np.diag([2.0, 4.0]), "jacrev with aux")
    _close(aux, np.array(3.0), "jacrev's aux")
    J, aux = func.jacfwd(h, has_aux=True)(x)
    _close(J, np.diag([2.0, 4.0]), "jacfwd with aux")
    _close(aux, np.array(3.0), "jacfwd's aux")
    _close(func.grad(lambda x: _mg(np.array(1.0)))(x), np.zeros(2), "an unused input")


def test_changing_a_tangent_carrying_tensor_in_place_is_an_error() -> None:
    def f(x: Any) -> Any:
        h = x * 2.0
        h += 1.0
        return h * h

    with pytest.raises(RuntimeError, match="changed in place"):
        func.jvp(f, (_mg(np.ones(3)),), (_mg(np.ones(3)),))


def test_writing_a_batch_into_a_shared_tensor_in_place_is_an_error() -> None:
    def f(x: Any) -> Any:
        y = _mg(np.zeros(3))
        y += x
        return y

    with pytest.raises(RuntimeError, match="writes a batched tensor into a tensor that is not"):
        func.vmap(f)(_mg(np.ones((2, 3))))

    def g(x: Any) -> Any:
        y = _mg(np.zeros(3))
        y[...] = x
        return y

    with pytest.raises(RuntimeError, match="writes a batched tensor into a tensor that is not"):
        func.vmap(g)(_mg(np.ones((2, 3))))
    # in place on the batched tensor itself is fine: it now shows the result
    h = lambda x: x.add_(1.0) * 2.0  # noqa: E731
    _close(func.vmap(h)(_mg(np.ones((2, 3)))), np.full((2, 3), 4.0), "x.add_(1) inside vmap")


def test_the_op_walks_cover_every_builtin_op_and_no_test_op(registered: Any) -> None:
    """The walks above take minigrad's own ops (`Op.builtin`), so that ops other test files
    register at module level do not change the collected ids between pytest-xdist workers;
    they still cover every op a fresh `import minigrad` declares."""
    import subprocess
    import sys

    fresh = subprocess.run(
        [sys.executable, "-c", "import minigrad.func; from minigrad.ops import REGISTRY; "
                               "print(' '.join(sorted(REGISTRY)))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert BUILTIN == fresh

    class Halve(minigrad.Function):
        name = "func_test_halve"
        formula = "y = x/2"

        @staticmethod
        def forward(x: Any) -> Any:
            return x / 2

        @staticmethod
        def vjp_x(g: Any, out: Any, x: Any) -> Any:
            return g / 2

    half = minigrad.defop("func_test_half", lambda x: x / 2, lambda g, o, x: g / 2,
                          formula="y = x/2", grads="δ/2")
    assert Halve.op.module == __name__ and not Halve.op.builtin and not half.builtin
    assert REGISTRY["conv2d"].module == "minigrad.ops.conv" and REGISTRY["conv2d"].builtin
