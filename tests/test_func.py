"""minigrad.func against torch.func: forward mode on every registered op (first and second
order), vmap on every registered op, Jacobians both ways, the Hessian of an MLP loss,
per-sample gradients, random programs, errors and the pass counter."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad
from minigrad import func
from minigrad.function import apply
from minigrad.ops import REGISTRY

torch = pytest.importorskip("torch")
BUILTIN = sorted(REGISTRY)


# --------------------------------------------------------------------------- the op table
# How to test each op (its cases and its PyTorch counterpart) is read through these two
# accessors only, so that they can follow the table wherever it lives.
def op_cases(name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The op's test cases, ``[(inputs, params), ...]``, in float64."""
    return list(REGISTRY[name].examples(np.random.default_rng(0), np.float64))


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
    f = TRANSFORMABLE.get(name) or REGISTRY[name].torch
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


@pytest.mark.parametrize("name", BUILTIN)
def test_explicit_jvp_equals_the_derived_one(name: str) -> None:
    """Where an op declares its JVPs, they agree with the JVP derived from its VJPs."""
    from minigrad.forward import tangent_of_op

    op = REGISTRY[name]
    if op.jvps is None:
        pytest.skip(f"{name}: its JVP is the derived one")
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


# ops whose rule covers common inputs but, on some registry cases, runs once per example
# (per-example weights of a layer, batch statistics, separated advanced indices)
PARTLY_LOOPED = {"setitem", "embedding", "layer_norm", "conv2d", "conv1d", "max_pool2d",
                 "avg_pool2d"}


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
