"""The table: for each built-in op, by name, its sample inputs, its PyTorch counterpart and the
ways a user calls it. The ops' maths is in `minigrad.ops`; this says how to test it."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad import ops
from minigrad.opinfo.calls import (
    Call,
    call,
    compose,
    defaults,
    extreme_calls,
    negative_axis,
    only,
    reduction_calls,
    softmax_calls,
    spread_calls,
    torch_names,
)
from minigrad.opinfo.samples import (
    Examples,
    away_from_zero,
    binary,
    cases,
    rand,
    reduction,
    unary,
)
from minigrad.ops.registry import REGISTRY
from minigrad.tensor import Tensor


@dataclass(frozen=True)
class OpInfo:
    """How to test one op.

    Attributes:
        name: the op's name in `minigrad.REGISTRY`.
        cases: ``cases(rng, dtype) -> [(inputs, params), ...]``, the samples every registry
            walk runs the op on (gradient checks, second order, float32, compile, derive).
        torch: ``torch(*tensors, **params)``, PyTorch's version of the op, or None.
        calls: the op's calling conventions (`minigrad.opinfo.calls.Call`).
    """

    name: str
    cases: Examples
    torch: Callable[..., Any] | None = None
    calls: tuple[Call, ...] = ()


TABLE: dict[str, OpInfo] = {}


def entry(name: str, cases: Examples, torch: Callable[..., Any] | None = None,
          calls: tuple[Call, ...] = ()) -> None:
    if name in TABLE:
        raise ValueError(f"the op table has two entries for {name!r}")
    TABLE[name] = OpInfo(name, cases, torch, tuple(calls))


def _torch() -> Any:
    import torch

    return torch


def _tF() -> Any:
    import torch.nn.functional as tF

    return tF


# --------------------------------------------------------------------------- elementwise
entry("add", binary(), torch=lambda a, b: a + b,
      calls=(call("{0} + {1}", lambda a, b: a + b),
             call("minigrad.ops.add({0}, {1})", lambda a, b: ops.add(a, b)),
             call("{1}.__radd__({0})", lambda a, b: b.__radd__(a))))
entry("sub", binary(), torch=lambda a, b: a - b,
      calls=(call("{0} - {1}", lambda a, b: a - b),
             call("{1}.__rsub__({0})", lambda a, b: b.__rsub__(a))))
entry("mul", binary(), torch=lambda a, b: a * b,
      calls=(call("{0} * {1}", lambda a, b: a * b),
             call("{1}.__rmul__({0})", lambda a, b: b.__rmul__(a))))
entry("div", binary(lo2=0.5, hi2=2.0), torch=lambda a, b: a / b,
      calls=(call("{0} / {1}", lambda a, b: a / b),
             call("{1}.__rtruediv__({0})", lambda a, b: b.__rtruediv__(a))))
entry("neg", unary(), torch=lambda x: -x, calls=(call("-{0}", lambda x: -x),))
entry("pow", binary(lo=0.5, hi=2.0), torch=lambda x, p: x ** p,
      calls=(call("{0} ** {1}", lambda x, p: x ** p), call("{0}.pow({1})", lambda x, p: x.pow(p)),
             call("{1}.__rpow__({0})", lambda x, p: p.__rpow__(x))))
entry("exp", unary(), torch=lambda x: x.exp(), calls=(call("{0}.exp()", lambda x: x.exp()),))
entry("log", unary(0.2, 3.0), torch=lambda x: x.log(),
      calls=(call("{0}.log()", lambda x: x.log()),))
entry("sqrt", unary(0.2, 3.0), torch=lambda x: x.sqrt(),
      calls=(call("{0}.sqrt()", lambda x: x.sqrt()), call("{0} ** 0.5", lambda x: x ** 0.5)))
entry("abs", unary(kink=True), torch=lambda x: x.abs(),
      calls=(call("abs({0})", lambda x: builtins.abs(x)), call("{0}.abs()", lambda x: x.abs())))


def _clip_examples(rng, dtype):
    return [((away_from_zero(rand(rng, s, dtype), 0.05) * 1.0,), {"min": -1.0, "max": 1.0})
            for s in ((), (3,), (2, 3))] + [((rand(rng, (2, 3), dtype),), {"min": 0.5})]


entry("clip", _clip_examples, torch=lambda x, min=None, max=None: x.clamp(min, max),
      calls=(call("{0}.clip({min}, {max})", lambda x, min=None, max=None: x.clip(min, max)),
             call("{0}.clamp(min={min}, max={max})",
                  lambda x, min=None, max=None: x.clamp(min=min, max=max))))
entry("maximum", binary(distinct=True), torch=lambda a, b: a.maximum(b),
      calls=(call("{0}.maximum({1})", lambda a, b: a.maximum(b)),))
entry("minimum", binary(distinct=True), torch=lambda a, b: a.minimum(b),
      calls=(call("{0}.minimum({1})", lambda a, b: a.minimum(b)),))


def _where_examples(rng, dtype):
    def case(sc, sa, sb):
        return ((rng.random(sc) > 0.5, rand(rng, sa, dtype), rand(rng, sb, dtype)), {})

    return [case((), (), ()), case((3,), (3,), (3,)), case((2, 3), (2, 3), (1, 3)),
            case((2, 1), (1, 3), ())]


entry("where", _where_examples, torch=lambda c, a, b: _torch().where(c, a, b),
      calls=(call("{1}.where({0}, {2})", lambda c, a, b: a.where(c, b)),
             call("minigrad.ops.where({0}, {1}, {2})", lambda c, a, b: ops.where(c, a, b))))


def _astype_examples(rng, dtype):
    return [((rand(rng, (2, 3), dtype),), {"dtype": np.dtype(dtype)})]


entry("astype", _astype_examples,
      torch=lambda x, dtype: x.to(getattr(_torch(), np.dtype(dtype).name)),
      calls=(call("{0}.astype({dtype})", lambda x, dtype: x.astype(dtype)),
             call("{0}.double()", lambda x: x.double(), only(dtype=np.dtype("float64"))),
             call("{0}.float()", lambda x: x.float(), only(dtype=np.dtype("float32")))))

# --------------------------------------------------------------------------- activations
entry("relu", unary(kink=True), torch=lambda a: a.relu(),
      calls=(call("{0}.relu()", lambda a: a.relu()),))
entry("leaky_relu", unary(kink=True, negative_slope=0.1),
      torch=lambda a, negative_slope=0.01: _tF().leaky_relu(a, negative_slope))
entry("sigmoid", unary(-4, 4), torch=lambda a: a.sigmoid(),
      calls=(call("{0}.sigmoid()", lambda a: a.sigmoid()),))
entry("tanh", unary(), torch=lambda a: a.tanh(), calls=(call("{0}.tanh()", lambda a: a.tanh()),))
entry("softplus", unary(-4, 4), torch=lambda a: _tF().softplus(a))
entry("gelu", unary(), torch=lambda a: _tF().gelu(a, approximate="tanh"))


# --------------------------------------------------------------------------- reductions
def _dims(x: Any, axis: Any) -> Any:
    return tuple(range(x.dim())) if axis is None else axis


def _torch_reduce(method: str, **fixed: Any):
    """PyTorch's counterpart of a reduction."""

    def f(x: Any, axis: Any = None, keepdims: bool = False, ddof: int | None = None) -> Any:
        kw = dict(fixed) if ddof is None else {"correction": ddof}
        return getattr(x, method)(dim=_dims(x, axis), keepdim=keepdims, **kw)

    return f


def _spread_examples(rng: np.random.Generator, dtype: Any) -> list[Any]:
    """Every axis case with d = 0, and Bessel's correction d = 1 where n ≥ 2."""
    unbiased = (((3,), None), ((3,), -1), ((2, 3), 1), ((2, 3), (0, 1)), ((2, 3, 4), (0, 2)))
    return reduction(ddof=0)(rng, dtype) + [
        ((rand(rng, shape, dtype),), {"axis": axis, "keepdims": keep, "ddof": 1})
        for shape, axis in unbiased for keep in (False, True)]


entry("sum", reduction(), torch=_torch_reduce("sum"), calls=reduction_calls("sum"))
entry("mean", reduction(), torch=_torch_reduce("mean"), calls=reduction_calls("mean"))
entry("max", reduction(distinct=True), torch=_torch_reduce("amax"), calls=extreme_calls("max"))
entry("min", reduction(distinct=True), torch=_torch_reduce("amin"), calls=extreme_calls("min"))
entry("var", _spread_examples, torch=_torch_reduce("var"), calls=spread_calls("var"))
entry("std", _spread_examples, torch=_torch_reduce("std"), calls=spread_calls("std"))
entry("logsumexp", reduction(), torch=_torch_reduce("logsumexp"),
      calls=reduction_calls("logsumexp"))


# --------------------------------------------------------------------------- shapes
def _two_inputs(p, shapes):
    """Conventions written for two inputs."""
    return p if len(shapes) == 2 else None


def _when_given(key):
    """Conventions that need the parameter `key`."""
    return lambda p, shapes: p if p.get(key) is not None else None


def _case(shape_or_fn, **params):
    """A sample: one random input of a shape, with the op's `params`."""
    return lambda rng, dt: ((rand(rng, shape_or_fn, dt),), params)


entry("reshape",
      cases(_case((2, 3), shape=(3, 2)), _case((2, 3), shape=(-1,)),
            _case((), shape=(1, 1)), _case((4,), shape=(2, 2)),
            _case((2, 0, 3), shape=(0, 3)), _case((2, 3), shape=(3, -1))),
      torch=lambda x, shape: x.reshape(shape),
      calls=(call("{0}.reshape({shape})", lambda x, shape: x.reshape(shape)),
             call("{0}.reshape(*{shape})", lambda x, shape: x.reshape(*shape)),
             call("{0}.view({shape})", lambda x, shape: x.view(shape)),
             call("{0}.flatten()", lambda x: x.flatten(), only(shape=(-1,)))))


def _swap_of(axes: tuple[int, ...] | None, n: int) -> tuple[int, int] | None:
    """The two axes a permutation swaps, when it swaps exactly two."""
    if axes is None:
        return (0, 1) if n == 2 else None
    moved = [i for i, a in enumerate(axes) if a != i]
    return (moved[0], moved[1]) if len(moved) == 2 else None


def _a_swap(p, shapes):
    """A permutation that swaps two axes, written as ``transpose(d0, d1)``."""
    pair = _swap_of(p.get("axes"), len(shapes[0]))
    return None if pair is None else {"d0": pair[0], "d1": pair[1]}


def _negative_swap(p, shapes):
    n = len(shapes[0])
    return {"d0": p["d0"] - n, "d1": p["d1"] - n}


def _last_two(p, shapes):
    """``x.mT``: the permutation that swaps the last two axes."""
    n = len(shapes[0])
    if n < 2:
        return None
    want = tuple(range(n - 2)) + (n - 1, n - 2)
    axes = p.get("axes")
    return {} if (axes if axes is not None else tuple(reversed(range(n)))) == want else None


entry("transpose",
      cases(_case((2, 3)), _case((3,)), _case(()), _case((2, 3, 4), axes=(1, 2, 0)),
            _case((2, 3, 4)), _case((2, 0, 3), axes=(2, 0, 1)), _case((1, 3), axes=(1, 0)),
            _case((2, 3, 4), axes=(0, 2, 1)), _case((2, 3, 4, 2), axes=(2, 1, 0, 3))),
      torch=lambda x, axes=None: x.permute(
          tuple(axes) if axes is not None else tuple(reversed(range(x.dim())))),
      calls=(call("{0}.T", lambda x: x.T, only(axes=None)),
             call("{0}.transpose()", lambda x: x.transpose(), only(axes=None)),
             call("{0}.transpose(None)", lambda x: x.transpose(None), only(axes=None)),
             call("{0}.transpose({axes})", lambda x, axes: x.transpose(axes),
                  _when_given("axes")),
             call("{0}.permute(*{axes})", lambda x, axes: x.permute(*axes), _when_given("axes")),
             call("{0}.permute({axes})", lambda x, axes: x.permute(axes), _when_given("axes")),
             call("{0}.transpose({d0}, {d1})", lambda x, d0, d1: x.transpose(d0, d1), _a_swap),
             call("{0}.swapaxes({d0}, {d1})", lambda x, d0, d1: x.swapaxes(d0, d1), _a_swap),
             call("{0}.mT", lambda x: x.mT, _last_two),
             call("minigrad.ops.permute({0}, {axes})", lambda x, axes: ops.permute(x, axes),
                  negative_axis("axes", reverse=False)),
             call("minigrad.transpose({0}, {d0}, {d1})",
                  lambda x, d0, d1: ops.transpose(x, d0, d1), compose(_a_swap, _negative_swap))))
entry("broadcast_to",
      cases(_case((3,), shape=(2, 3)), _case((), shape=(2, 2)),
            _case((3, 1), shape=(2, 3, 4)), _case((1, 3), shape=(0, 3))),
      torch=lambda x, shape: x.expand(*shape),
      calls=(call("{0}.broadcast_to({shape})", lambda x, shape: x.broadcast_to(shape)),
             call("{0}.expand({shape})", lambda x, shape: x.expand(shape))))
entry("squeeze",
      cases(_case((2, 1, 3)), _case((1, 3), axis=0), _case((1,)), _case((2, 1), axis=1),
            _case((1, 0, 1))),
      torch=lambda x, axis=None: x.squeeze() if axis is None else x.squeeze(axis),
      calls=(call("{0}.squeeze({axis})", lambda x, axis=None: x.squeeze(axis)),
             call("{0}.squeeze(dim={dim})", lambda x, dim=None: x.squeeze(dim=dim),
                  torch_names(axis="dim")),
             call("{0}.squeeze({axis})", lambda x, axis=None: x.squeeze(axis), negative_axis()),
             call("minigrad.ops.squeeze({0}, {axis})",
                  lambda x, axis=None: ops.squeeze(x, axis))))
entry("unsqueeze",
      cases(_case((3,), axis=0), _case((2, 3), axis=-1), _case((), axis=0),
            _case((2, 3), axis=1), _case((0, 2), axis=2)),
      torch=lambda x, axis: x.unsqueeze(axis),
      calls=(call("{0}.unsqueeze({axis})", lambda x, axis: x.unsqueeze(axis)),
             call("{0}.expand_dims({axis})", lambda x, axis: x.expand_dims(axis)),
             call("{0}.unsqueeze({axis})", lambda x, axis: x.unsqueeze(axis),
                  negative_axis(extra=1)),
             call("{0}.unsqueeze(dim={dim})", lambda x, dim: x.unsqueeze(dim=dim),
                  torch_names(axis="dim"))))


def _cat_cases(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (1, 3), dt), rand(rng, (4, 3), dt)), {"axis": 0})


def _cat_cases1(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (2, 1), dt)), {"axis": 1})


def _stack_cases(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (2, 3), dt), rand(rng, (2, 3), dt)), {"axis": 1})


def _cat_cases_empty(rng, dt):
    return ((rand(rng, (2, 3), dt), rand(rng, (0, 3), dt)), {"axis": 0})


def _stack_cases0(rng, dt):
    return ((rand(rng, (), dt), rand(rng, (), dt)), {"axis": 0})


entry("concatenate", cases(_cat_cases, _cat_cases1, _cat_cases_empty),
      torch=lambda *xs, axis=0: _torch().cat(xs, dim=axis),
      calls=(call("minigrad.ops.cat([{0}, {1}], axis={axis})",
                  lambda *xs, axis=0: ops.concatenate(list(xs), axis=axis), _two_inputs),
             call("minigrad.ops.concatenate([{0}, {1}], axis={axis})",
                  lambda *xs, axis=0: ops.concatenate(xs, axis=axis),
                  compose(_two_inputs, negative_axis())),
             call("minigrad.cat(({0}, {1}), dim={dim})",
                  lambda *xs, dim=0: ops.concatenate(xs, dim=dim),
                  compose(_two_inputs, torch_names(axis="dim"))),
             call("minigrad.cat([{0}, {1}], {axis})",
                  lambda *xs, axis=0: ops.concatenate(list(xs), axis),
                  compose(_two_inputs, negative_axis()))))
entry("stack", cases(_stack_cases, _stack_cases0),
      torch=lambda *xs, axis=0: _torch().stack(xs, dim=axis),
      calls=(call("minigrad.ops.stack([{0}, {1}], axis={axis})",
                  lambda *xs, axis=0: ops.stack(list(xs), axis=axis), _two_inputs),
             call("minigrad.ops.stack([{0}, {1}], axis={axis})",
                  lambda *xs, axis=0: ops.stack(xs, axis=axis),
                  compose(_two_inputs, negative_axis(extra=1))),
             call("minigrad.stack([{0}, {1}], dim={dim})",
                  lambda *xs, dim=0: ops.stack(list(xs), dim=dim),
                  compose(_two_inputs, negative_axis(extra=1), torch_names(axis="dim")))))


def _has_int_array(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)


def _torch_index(index: Any) -> Any:
    """The same index for a torch tensor."""
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    return _torch().as_tensor(index) if isinstance(index, np.ndarray) else index


def _torch_scatter_add(x: Any, index: Any, shape: tuple[int, ...]) -> Any:
    torch = _torch()
    out = torch.zeros(shape, dtype=x.dtype)
    if _has_int_array(index):
        idx = index if isinstance(index, tuple) else (index,)
        return out.index_put(tuple(torch.as_tensor(i) for i in idx), x, accumulate=True)
    out[_torch_index(index)] = x
    return out


def _torch_setitem(x: Any, v: Any, index: Any) -> Any:
    y = x.clone()
    y[_torch_index(index)] = v
    return y


def _index_as_list(p, shapes):
    """An integer-array index written as a Python list."""
    i = p["index"]
    if isinstance(i, np.ndarray) and i.dtype.kind in "iu":
        return {"index": i.tolist()}
    return None


def _array_index(p, shapes):
    i = p["index"]
    return p if isinstance(i, np.ndarray) else None


def _assign(x: Any, v: Any, index: Any) -> Tensor:
    """``y = x.copy(); y[index] = v``: setitem recorded in place on a copy."""
    y = x.copy()
    y[index] = v
    return y


def _getitem_cases():
    idx = [
        np.s_[1], np.s_[:, 1:], np.s_[..., ::2], np.s_[None, 0],
        np.array([0, 1, 1, 0]),  # repeated rows: their gradients add up
        (np.array([0, 1, 1]), np.array([2, 0, 2])),
        np.array([[True, False, True], [False, False, True]]),
        np.s_[-1], np.s_[0, -1], np.s_[..., None], np.s_[1:1], np.s_[:, np.array([2, -1])],
        np.zeros((2, 3), dtype=bool),  # selects nothing: an empty result
    ]
    return cases(*[_case((2, 3), index=i) for i in idx])


entry("getitem", _getitem_cases(), torch=lambda x, index: x[_torch_index(index)],
      calls=(call("{0}[{index}]", lambda x, index: x[index]),
             call("{0}[{index}]", lambda x, index: x[index], _index_as_list),
             call("{0}[minigrad.Tensor({index})]", lambda x, index: x[Tensor(index)],
                  _array_index)))
entry("scatter_add",
      cases(lambda rng, dt: ((rand(rng, (4, 3), dt),),
                             {"index": np.array([0, 1, 1, 0]), "shape": (2, 3)}),
            lambda rng, dt: ((rand(rng, (3,), dt),), {"index": np.s_[1], "shape": (2, 3)})),
      torch=_torch_scatter_add)
entry("setitem",
      cases(lambda rng, dt: ((rand(rng, (2, 3), dt), rand(rng, (3,), dt)), {"index": np.s_[1]}),
            lambda rng, dt: ((rand(rng, (2, 3), dt), rand(rng, (), dt)), {"index": Ellipsis})),
      torch=_torch_setitem,
      calls=(call("_setitem_in_place({0}, {1}, {index})",
                  lambda x, v, index: _assign(x, v, index)),))


# --------------------------------------------------------------------------- matrix products
def _operands(sa, sb):
    """A sample: two random operands of shapes `sa` and `sb`."""
    return lambda rng, dt: ((rand(rng, sa, dt), rand(rng, sb, dt)), {})


def _with_bias(bias: bool):
    return lambda p, shapes: p if (len(shapes) == 3) == bias else None


entry("matmul",
      cases(_operands((2, 3), (3, 4)), _operands((3,), (3,)), _operands((2, 3), (3,)),
            _operands((3,), (3, 2)), _operands((2, 2, 3), (3, 4)),
            _operands((2, 1, 2, 3), (3, 3, 2)), _operands((4,), (2, 4, 3))),
      torch=lambda a, b: a @ b,
      calls=(call("{0} @ {1}", lambda a, b: a @ b),
             call("{0}.matmul({1})", lambda a, b: a.matmul(b)),
             call("{1}.__rmatmul__({0})", lambda a, b: b.__rmatmul__(a))))
entry("linear",
      cases(lambda rng, dt: ((rand(rng, (4, 3), dt), rand(rng, (2, 3), dt),
                              rand(rng, (2,), dt)), {}),
            lambda rng, dt: ((rand(rng, (3,), dt), rand(rng, (2, 3), dt),
                              rand(rng, (2,), dt)), {}),
            lambda rng, dt: ((rand(rng, (5, 4, 3), dt), rand(rng, (2, 3), dt)), {})),
      torch=lambda h, W, b=None: _tF().linear(h, W, b),
      # the same layer written out by hand, through W.T: second order crosses a transpose
      calls=(call("{0} @ {1}.T + {2}", lambda h, W, b: h @ W.T + b, _with_bias(True)),
             call("{0} @ {1}.T", lambda h, W: h @ W.T, _with_bias(False)),
             call("minigrad.ops.linear({0}, {1}, {2})", lambda h, W, b: ops.linear(h, W, b),
                  _with_bias(True))))


# --------------------------------------------------------------------------- convolution
def _conv_torch(d: int) -> Any:
    def f(x, W, b=None, *, stride, padding, dilation, groups):
        conv = _tF().conv1d if d == 1 else _tF().conv2d
        return conv(x, W, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    return f


def _conv_case(xs: tuple[int, ...], ws: tuple[int, ...], bias: bool = True,
               **params: Any) -> Any:
    d = len(xs) - 2
    p = {"stride": (1,) * d, "padding": (0,) * d, "dilation": (1,) * d, "groups": 1}
    p.update({k: (v if k == "groups" else (v,) * d if isinstance(v, int) else tuple(v))
              for k, v in params.items()})

    def case(rng, dt):
        arrs = (rand(rng, xs, dt), rand(rng, ws, dt))
        if bias:
            arrs += (rand(rng, (ws[0],), dt),)
        return arrs, dict(p)

    return case


_CONV2D_CASES = (
    _conv_case((2, 3, 5, 5), (4, 3, 3, 3)),  # the plain case
    _conv_case((1, 2, 6, 5), (3, 2, 2, 3), stride=(2, 1), padding=(1, 2)),  # batch of 1
    _conv_case((2, 2, 4, 4), (2, 2, 1, 1), bias=False),  # 1×1 kernel
    _conv_case((1, 2, 3, 4), (2, 2, 5, 6), padding=1),  # kernel as large as the padded input
    _conv_case((2, 4, 4, 4), (6, 2, 3, 3), padding=2, groups=2),  # padding > kernel/2, groups
    _conv_case((1, 2, 7, 6), (2, 1, 2, 2), stride=2, padding=1, dilation=(2, 1), groups=2),
    _conv_case((2, 2, 5, 5), (3, 2, 3, 2), stride=(2, 3), padding=(0, 1), dilation=2),
)
_CONV1D_CASES = (
    _conv_case((2, 3, 7), (4, 3, 3)),
    _conv_case((1, 2, 6), (4, 1, 2), stride=2, padding=3, dilation=2, groups=2),
    _conv_case((2, 2, 4), (3, 2, 1), bias=False),
    _conv_case((1, 1, 3), (2, 1, 5), padding=1),
)

entry("conv2d", cases(*_CONV2D_CASES), torch=_conv_torch(2))
entry("conv1d", cases(*_CONV1D_CASES), torch=_conv_torch(1))


def _torch_input_grad(g, W, *, input_shape, stride, padding, dilation, groups):
    torch = _torch()
    x0 = torch.zeros(input_shape, dtype=g.dtype, requires_grad=True)
    y = _conv_torch(len(stride))(x0, W, stride=stride, padding=padding, dilation=dilation,
                                 groups=groups)
    gx = torch.autograd.grad(y, x0, g, create_graph=True)[0]
    return gx if g.requires_grad or W.requires_grad else gx.detach()


def _torch_weight_grad(x, g, *, kernel_size, stride, padding, dilation, groups):
    torch = _torch()
    W0 = torch.zeros((g.shape[1], x.shape[1] // groups) + tuple(kernel_size), dtype=g.dtype,
                     requires_grad=True)
    y = _conv_torch(len(stride))(x, W0, stride=stride, padding=padding, dilation=dilation,
                                 groups=groups)
    gW = torch.autograd.grad(y, W0, g, create_graph=True)[0]
    return gW if x.requires_grad or g.requires_grad else gW.detach()


def _grad_cases(which: str) -> Any:
    """Samples for the two VJP ops, from the convolution's: (δ, W) or (x, δ)."""
    out = []
    for c in _CONV2D_CASES + _CONV1D_CASES:
        def case(rng, dt, c=c):
            (x, W, *_), p = c(rng, dt)
            y = REGISTRY[f"conv{len(p['stride'])}d"].forward(x, W, **p)
            g = rand(rng, y.shape, dt)
            if which == "input":
                return (g, W), {**p, "input_shape": x.shape}
            return (x, g), {**p, "kernel_size": W.shape[2:]}

        out.append(case)
    return cases(*out)


entry("conv_input_grad", _grad_cases("input"), torch=_torch_input_grad)
entry("conv_weight_grad", _grad_cases("weight"), torch=_torch_weight_grad)


def _pool_case(xs: tuple[int, ...], distinct: bool = False, **params: Any) -> Any:
    p = {k: (v, v) if isinstance(v, int) else tuple(v) for k, v in params.items()}
    p.setdefault("stride", p["kernel_size"])
    p.setdefault("padding", (0, 0))

    def case(rng, dt):
        if distinct:  # values well apart, so no window's maximum is a near tie
            x = rng.permutation(np.arange(math.prod(xs))).reshape(xs) * 0.37 - 1.0
            return (x.astype(dt),), dict(p)
        return (rand(rng, xs, dt),), dict(p)

    return case


def _torch_max_pool(x, *, kernel_size, stride, padding, dilation=(1, 1)):
    return _tF().max_pool2d(x, kernel_size, stride, padding, dilation)


def _torch_avg_pool(x, *, kernel_size, stride, padding):
    return _tF().avg_pool2d(x, kernel_size, stride, padding)


entry("max_pool2d",
      cases(_pool_case((2, 3, 4, 4), True, kernel_size=2),
            _pool_case((1, 2, 5, 7), True, kernel_size=(3, 2), stride=(1, 2), padding=(1, 1)),
            _pool_case((1, 1, 5, 5), True, kernel_size=3, stride=1, padding=1),  # overlaps add
            _pool_case((2, 1, 3, 3), True, kernel_size=3),  # kernel as large as the input
            _pool_case((1, 2, 6, 5), True, kernel_size=2, stride=2, padding=1, dilation=(2, 1))),
      torch=_torch_max_pool)
entry("avg_pool2d",
      cases(_pool_case((2, 3, 4, 4), kernel_size=2),
            _pool_case((1, 2, 5, 7), kernel_size=(3, 2), stride=(1, 2), padding=(1, 1)),
            _pool_case((1, 1, 5, 5), kernel_size=3, stride=1, padding=1),
            _pool_case((2, 1, 3, 3), kernel_size=3)),
      torch=_torch_avg_pool)
entry("flat_scatter_add",
      cases(lambda rng, dt: ((rand(rng, (2, 3), dt),),
                             {"index": np.array([[0, 4, 4], [7, 1, 0]]), "shape": (2, 4)})),
      torch=lambda g, *, index, shape: _torch().zeros(math.prod(shape), dtype=g.dtype).index_add(
          0, _torch().as_tensor(index.ravel()), g.reshape(-1)).reshape(shape))
entry("flat_gather",
      cases(lambda rng, dt: ((rand(rng, (2, 4), dt),),
                             {"index": np.array([[0, 4, 4], [7, 1, 0]])})),
      torch=lambda x, *, index: x.reshape(-1)[_torch().as_tensor(index)])
entry("pad",
      cases(lambda rng, dt: ((rand(rng, (2, 3), dt),), {"pad": (1, 2)}),
            lambda rng, dt: ((rand(rng, (1, 2, 3, 4), dt),), {"pad": (1, 0, 2, 3), "value": 1.5}),
            lambda rng, dt: ((rand(rng, (2, 5, 4), dt),), {"pad": (-1, 2, 0, -2)})),  # crops
      torch=lambda x, *, pad, value=0.0: _tF().pad(x, pad, value=value))


# --------------------------------------------------------------------------- softmax, losses
def _axis_case(shape, axis):
    return lambda rng, dt: ((rand(rng, shape, dt),), {"axis": axis})


def _axis_cases(shape_axes):
    return cases(*[_axis_case(s, a) for s, a in shape_axes])


_SOFTMAX_CASES = [((3,), -1), ((2, 3), -1), ((2, 3), 0), ((2, 3, 4), 1)]
entry("softmax", _axis_cases(_SOFTMAX_CASES), torch=lambda x, axis=-1: x.softmax(axis),
      calls=softmax_calls("softmax"))
entry("log_softmax", _axis_cases(_SOFTMAX_CASES), torch=lambda x, axis=-1: x.log_softmax(axis),
      calls=softmax_calls("log_softmax"))


def _ce_cases():
    def cls(shape, reduction):
        def f(rng, dt):
            return ((rand(rng, shape, dt), rng.integers(0, shape[-1], size=shape[:-1])),
                    {"reduction": reduction})
        return f

    def prob(rng, dt):
        return ((rand(rng, (4, 3), dt), ops.stable_softmax(rand(rng, (4, 3), dt))), {})

    return cases(cls((4, 3), "mean"), cls((4, 3), "sum"), cls((4, 3), "none"), cls((3,), "mean"),
                 prob)


entry("cross_entropy", _ce_cases(),
      torch=lambda a, t, reduction="mean": _tF().cross_entropy(a, t, reduction=reduction),
      calls=(call("minigrad.ops.cross_entropy({0}, {1}, reduction={reduction})",
                  lambda a, t, reduction="mean": ops.cross_entropy(a, t, reduction),
                  defaults(reduction="mean")),))
entry("nll_loss",
      cases(lambda rng, dt: ((ops.stable_log_softmax(rand(rng, (4, 3), dt)),
                              rng.integers(0, 3, size=4)), {})),
      torch=lambda lp, t, reduction="mean": _tF().nll_loss(lp, t, reduction=reduction),
      calls=(call("minigrad.ops.nll_loss({0}, {1}, reduction={reduction})",
                  lambda lp, t, reduction="mean": ops.nll_loss(lp, t, reduction),
                  defaults(reduction="mean")),))
entry("mse_loss",
      cases(lambda rng, dt: ((rand(rng, (4, 2), dt), rand(rng, (4, 2), dt)), {}),
            lambda rng, dt: ((rand(rng, (3,), dt), rand(rng, (3,), dt)), {"reduction": "sum"})),
      torch=lambda p, t, reduction="mean": _tF().mse_loss(p, t, reduction=reduction),
      calls=(call("minigrad.ops.mse_loss({0}, {1}, reduction={reduction})",
                  lambda p, t, reduction="mean": ops.mse_loss(p, t, reduction),
                  defaults(reduction="mean")),))
entry("binary_cross_entropy_with_logits",
      cases(lambda rng, dt: ((rand(rng, (4,), dt), rng.random(4).astype(dt)), {}),
            lambda rng, dt: ((rand(rng, (2, 3), dt), rng.random((2, 3)).astype(dt)),
                             {"reduction": "none"})),
      torch=lambda z, y, reduction="mean": _tF().binary_cross_entropy_with_logits(
          z, y, reduction=reduction),
      calls=(call("minigrad.ops.binary_cross_entropy_with_logits({0}, {1}, "
                  "reduction={reduction})",
                  lambda z, y, reduction="mean": ops.binary_cross_entropy_with_logits(
                      z, y, reduction),
                  defaults(reduction="mean")),))


# --------------------------------------------------------------------------- layers
def _batch_norm_cases():
    def case(shape, training, affine=True, bias=True, momentum=0.1, eps=1e-5, stats=True):
        def f(rng, dt):
            C = shape[1]
            inputs = [rand(rng, shape, dt)]
            if affine:
                inputs.append(rand(rng, (C,), dt, 0.5, 1.5))
                if bias:
                    inputs.append(rand(rng, (C,), dt))
            params = {"training": training, "momentum": momentum, "eps": eps}
            if stats:
                params.update(running_mean=rand(rng, (C,), dt, -0.5, 0.5),
                              running_var=rand(rng, (C,), dt, 0.5, 2.0))
            return tuple(inputs), params
        return f

    return cases(
        case((4, 3), True), case((4, 3), False), case((5, 2), True, affine=False),
        case((3, 2), True, bias=False, momentum=0.5, stats=False),
        case((2, 3, 4), True), case((2, 3, 4), False, eps=1e-3),
        case((1, 2, 3, 2), True),  # N = 1: the spatial axes still give 6 values per channel
        case((2, 2, 3, 3), False, bias=False),
        case((3, 2, 2, 3), True),
    )


def _torch_batch_norm(x, w=None, b=None, running_mean=None, running_var=None, training=False,
                      momentum=0.1, eps=1e-5):
    torch = _torch()
    # copies: PyTorch updates its own buffers, the test's arrays stay as minigrad left them
    rm = None if running_mean is None else torch.tensor(np.array(running_mean))
    rv = None if running_var is None else torch.tensor(np.array(running_var))
    if training and x.numel():
        # PyTorch's kernel on x − c, c each channel's mean (constant, computed in two passes):
        # in training the output does not depend on a shift, so this is the same function
        # with the same derivatives, without PyTorch's own rounding of a large mean (a channel
        # of seven −1e30 comes out at 3.4e15 instead of 0). Only the output is a reference:
        # the running statistics above are copies, updated here with the shifted mean.
        dims = (0, *range(2, x.ndim))
        c = x.detach().mean(dims, keepdim=True)
        c = c + (x.detach() - c).mean(dims, keepdim=True)
        return torch.nn.functional.batch_norm(x - c, rm, rv, w, b, training, momentum, eps)
    return torch.nn.functional.batch_norm(x, rm, rv, w, b, training, momentum, eps)


entry("batch_norm", _batch_norm_cases(), torch=_torch_batch_norm)


def _layer_norm_case(shape: tuple[int, ...], n: int, affine: str = "wb", eps: float = 1e-5):
    def f(rng: np.random.Generator, dt: Any) -> Any:
        ns = tuple(shape[len(shape) - n:])
        xs = [rand(rng, shape, dt)]
        if "w" in affine:
            xs.append(rand(rng, ns, dt, 0.5, 1.5))
        elif "b" in affine:
            xs.append(np.ones(ns, dt))  # bias without weight: γ = 1, a constant
        if "b" in affine:
            xs.append(rand(rng, ns, dt))
        return tuple(xs), {"normalized_shape": ns, "eps": eps}
    return f


def _torch_layer_norm(x: Any, w: Any = None, b: Any = None,
                      normalized_shape: tuple[int, ...] = (), eps: float = 1e-5) -> Any:
    """PyTorch's layer norm on x − c, c each row's mean (a constant, in two passes): the same
    function with the same derivatives, as normalization ignores a shift, without PyTorch's
    rounding of x̂ = x·(1/σ) − μ·(1/σ) in its backward. For a constant row of 1.625 and
    γ = −1e150 that rounding gives a Hessian-vector product of 1e139 where the true one is
    below 500."""
    if not x.numel():
        return _tF().layer_norm(x, normalized_shape, w, b, eps)
    dims = tuple(range(-len(normalized_shape), 0))
    c = x.detach().mean(dims, keepdim=True)
    c = c + (x.detach() - c).mean(dims, keepdim=True)
    return _tF().layer_norm(x - c, normalized_shape, w, b, eps)


entry("layer_norm",
      cases(_layer_norm_case((3,), 1, ""), _layer_norm_case((4, 3), 1, "w"),
            _layer_norm_case((1, 5), 1), _layer_norm_case((2, 3, 4), 2),
            _layer_norm_case((2, 2, 3), 1, "b", eps=0.1), _layer_norm_case((3, 4), 1)),
      torch=_torch_layer_norm)


def _dropout_case(shape: tuple[int, ...], p: float):
    def f(rng: np.random.Generator, dt: Any) -> Any:
        return (rand(rng, shape, dt), rng.random(shape) >= p), {"p": p}
    return f


entry("dropout",
      cases(_dropout_case((3,), 0.5), _dropout_case((2, 3), 0.2), _dropout_case((1, 4), 0.0),
            _dropout_case((2, 5), 0.7)),
      torch=lambda x, m, p=0.5: x * m.to(x.dtype) / (1.0 - p))


def _embedding_case(ishape: tuple[int, ...], n: int, d: int, repeated: bool = False):
    def f(rng: np.random.Generator, dt: Any) -> Any:
        idx = rng.integers(0, n, size=ishape)
        if repeated:
            idx.flat[: max(1, idx.size // 2)] = 1  # the same row looked up many times
        return (idx, rand(rng, (n, d), dt)), {}
    return f


entry("embedding",
      cases(_embedding_case((3,), 5, 2), _embedding_case((2, 4), 4, 3, repeated=True),
            _embedding_case((1, 1), 3, 2), _embedding_case((), 3, 4),
            _embedding_case((2, 3), 4, 2, repeated=True)),
      torch=lambda i, w: _tF().embedding(i, w))


# --------------------------------------------------------------------------- attention
entry("masked_fill",
      cases(lambda rng, dt: ((rand(rng, (2, 3), dt), rng.random((2, 3)) > 0.5), {"value": 0.0}),
            lambda rng, dt: ((rand(rng, (4, 4), dt), np.triu(np.ones((4, 4), bool), 1)),
                             {"value": -1e4}),
            lambda rng, dt: ((rand(rng, (2, 3, 4), dt), rng.random((3, 1)) > 0.5),
                             {"value": 2.5}),
            lambda rng, dt: ((rand(rng, (1, 3), dt), np.array([True, False, False])),
                             {"value": -3.0})),
      torch=lambda x, m, value=0.0: x.masked_fill(m, value))


def _attention_case(qs, ks, vs, mask: Any = None, **params: Any):
    def f(rng: np.random.Generator, dt: Any) -> Any:
        xs = [rand(rng, qs, dt), rand(rng, ks, dt), rand(rng, vs, dt)]
        if mask is not None:
            xs.append(mask(rng, dt))
        return tuple(xs), dict(params)
    return f


def _bool(shape, dead_row: int | None = None):
    def f(rng: np.random.Generator, dt: Any) -> np.ndarray:
        m = rng.random(shape) > 0.4
        m[..., 0] = True  # at least one allowed key per row
        if dead_row is not None:
            m[..., dead_row, :] = False  # a query that may attend nowhere
        return m
    return f


def _float(shape):
    return lambda rng, dt: rand(rng, shape, dt, -1.0, 1.0)


def _torch_attention(q: Any, k: Any, v: Any, m: Any = None, is_causal: bool = False,
                     scale: float | None = None) -> Any:
    """PyTorch's attention on its math backend: the fused CPU kernel (flash attention) has no
    double backward, and the math backend is the same formula in differentiable ops."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return _tF().scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=is_causal,
                                                  scale=scale)


entry("scaled_dot_product_attention",
      cases(_attention_case((3, 2), (4, 2), (4, 3)),
            _attention_case((2, 3, 2), (2, 3, 2), (2, 3, 2), is_causal=True),
            _attention_case((1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 2), is_causal=True,
                            scale=0.3),
            _attention_case((2, 3, 2), (2, 4, 2), (2, 4, 3), mask=_bool((3, 4))),
            _attention_case((2, 2, 3, 2), (2, 2, 4, 2), (2, 2, 4, 2), mask=_bool((2, 1, 3, 4))),
            _attention_case((2, 3, 2), (2, 4, 2), (2, 4, 1), mask=_float((3, 4))),
            _attention_case((2, 2, 3, 2), (2, 4, 2), (4, 2), mask=_float((2, 1, 1, 4))),
            _attention_case((1, 3, 2), (1, 4, 2), (1, 4, 2), mask=_bool((3, 4), dead_row=1))),
      torch=_torch_attention)
