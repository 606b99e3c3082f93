"""Calling conventions: the ways a user reaches an op besides ``apply`` (operators, Tensor
methods, functions, negative axes, PyTorch's keyword names, ``x.T``). The registry walk checks
each one against ``apply`` on every sample, to first and second order."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad import ops

Shapes = tuple[tuple[int, ...], ...]
Adapt = Callable[[dict[str, Any], Shapes], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Call:
    """One way a user reaches an op: an operator, a Tensor method, a function, an axis given
    as a negative number or a tuple, ``x.T``. Every such front end must give what ``apply``
    gives, to first and second order.

    Attributes:
        code: Python source with ``{0}``, ``{1}``… for the inputs and ``{name}`` for the
            repr of each parameter, e.g. ``"{0}.sum(axis={axis}, keepdims={keepdims})"``.
        fn: ``fn(*inputs, **params) -> Tensor``, the same call.
        adapt: maps the op's parameters (as ``apply`` takes them) and the input shapes to
            this convention's parameters (a positive axis to a negative one, say), or to None
            when the convention does not fit (``x.T`` needs no axes).
    """

    code: str
    fn: Callable[..., Any]
    adapt: Adapt | None = None

    def params_for(self, params: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
        return dict(params) if self.adapt is None else self.adapt(dict(params), shapes)

    def source(self, names: list[str], params: dict[str, Any]) -> str:
        code = re.sub(r"\{(\d+)", r"{_\1", self.code)  # format_map takes names only
        return code.format_map(_Spelt(names, params))


class _Spelt(dict):  # type: ignore[type-arg]
    """Parameters as source; one a case leaves out is at its default, None."""

    def __init__(self, names: list[str], params: dict[str, Any]) -> None:
        super().__init__({f"_{i}": n for i, n in enumerate(names)})
        self.update({k: _source(v) for k, v in params.items()})

    def __missing__(self, key: str) -> str:
        return "None"


def _source(v: Any) -> str:
    """Python source for a parameter value (numpy arrays and dtypes included)."""
    if isinstance(v, np.ndarray):
        return f"np.array({v.tolist()!r}, dtype=np.{v.dtype.name})"
    if isinstance(v, np.dtype):
        return f"np.dtype({v.name!r})"
    if isinstance(v, tuple):
        return "(" + "".join(_source(x) + ", " for x in v).rstrip(" ") + ")"
    if isinstance(v, slice):
        return f"slice({v.start!r}, {v.stop!r}, {v.step!r})"
    return repr(v)


def call(code: str, fn: Callable[..., Any], adapt: Adapt | None = None) -> Call:
    return Call(code, fn, adapt)


def only(**required: Any) -> Adapt:
    """The convention fits only when the parameters hold these values (and it takes none)."""

    def adapt(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
        if any(p.get(k) != v and not (p.get(k) is None and v is None) for k, v in required.items()):
            return None
        return {k: v for k, v in p.items() if k not in required}

    return adapt


def negative_axis(key: str = "axis", extra: int = 0, reverse: bool = True) -> Adapt:
    """The axis counted from the end (``-1`` for the last); `extra` axes are added by the op
    (unsqueeze, stack), so they count too. A tuple of axes is also reversed, unless its
    order means something (a permutation)."""

    def adapt(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
        a = p.get(key)
        n = len(shapes[0]) + extra
        if a is None or n == 0:
            return None
        if isinstance(a, (tuple, list)):
            p[key] = tuple(int(x) % n - n for x in (reversed(a) if reverse else a))
        else:
            p[key] = int(a) % n - n
        return p

    return adapt


def torch_names(**names: str) -> Adapt:
    """PyTorch's keyword names (``dim``, ``keepdim``) for numpy's (``axis``, ``keepdims``)."""

    def adapt(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
        return {names.get(k, k): v for k, v in p.items()}

    return adapt


def int_axis(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
    """One axis spelt the other way: a one-axis tuple as a plain int, an int as a tuple."""
    a = p.get("axis")
    if isinstance(a, tuple) and len(a) == 1:
        p["axis"] = a[0]
        return p
    if isinstance(a, (int, np.integer)):
        p["axis"] = (int(a),)
        return p
    return None


def defaults(**values: Any) -> Adapt:
    """Fills in the parameters a case leaves at their defaults, so the call can spell them."""

    def adapt(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
        return {**values, **p}

    return adapt


def compose(*fs: Adapt) -> Adapt:
    def adapt(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
        q: dict[str, Any] | None = p
        for f in fs:
            if q is None:
                return None
            q = f(q, shapes)
        return q

    return adapt


def reduction_calls(name: str) -> tuple[Call, ...]:
    """Method, function, PyTorch keywords, negative axis, int axis, for a reduction."""

    def fn_method(x: Any, **p: Any) -> Any:
        return getattr(x, name)(**p)

    def fn_pos(x: Any, axis: Any = None, keepdims: bool = False, **p: Any) -> Any:
        return getattr(x, name)(axis, keepdims, **p)

    def fn_ops(x: Any, **p: Any) -> Any:
        return getattr(ops, name)(x, **p)

    return (
        call(f"{{0}}.{name}({{axis}}, {{keepdims}})", fn_pos),
        call(f"minigrad.ops.{name}({{0}}, axis={{axis}}, keepdims={{keepdims}})", fn_ops),
        call(f"{{0}}.{name}(dim={{dim}}, keepdim={{keepdim}})", fn_method,
             torch_names(axis="dim", keepdims="keepdim")),
        call(f"{{0}}.{name}(axis={{axis}}, keepdims={{keepdims}})", fn_method,
             negative_axis()),
        call(f"{{0}}.{name}(axis={{axis}}, keepdims={{keepdims}})", fn_method, int_axis),
    )


def softmax_calls(name: str) -> tuple[Call, ...]:
    """`softmax` and `log_softmax`: the method with the axis positional, by PyTorch's ``dim=``
    or by ``axis=``, and the function with ``dim=`` or the axis positional."""

    def fn_method(x: Any, **p: Any) -> Any:
        return getattr(x, name)(**p)

    def fn_pos(x: Any, axis: int = -1) -> Any:
        return getattr(x, name)(axis)

    def fn_ops(x: Any, *a: Any, **p: Any) -> Any:
        return getattr(ops, name)(x, *a, **p)

    def fn_ops_pos(x: Any, axis: int = -1) -> Any:
        return fn_ops(x, axis)

    dims = torch_names(axis="dim")
    return (
        call(f"{{0}}.{name}({{axis}})", fn_pos),
        call(f"{{0}}.{name}(dim={{dim}})", fn_method, dims),
        call(f"{{0}}.{name}(axis={{axis}})", fn_method, negative_axis()),
        call(f"F.{name}({{0}}, dim={{dim}})", fn_ops, compose(negative_axis(), dims)),
        call(f"F.{name}({{0}}, {{axis}})", fn_ops_pos),
    )


def _unbiased(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
    """A correction of 0 or 1 spelt as PyTorch's ``unbiased`` flag."""
    d = p.pop("ddof", 1)
    if d not in (0, 1):
        return None
    p["unbiased"] = bool(d)
    return p


def spread_calls(name: str) -> tuple[Call, ...]:
    """`var` and `std`: PyTorch's positional ``(dim, unbiased, keepdim)``, ``correction=``
    and its default (unbiased), numpy's ``axis=``/``keepdims=``/``ddof=``."""

    def fn_method(x: Any, **p: Any) -> Any:
        return getattr(x, name)(**p)

    def fn_pos(x: Any, axis: Any = None, keepdims: bool = False, unbiased: bool = True) -> Any:
        return getattr(x, name)(axis, unbiased, keepdims)

    def fn_ops(x: Any, **p: Any) -> Any:
        return getattr(ops, name)(x, **p)

    dims = torch_names(axis="dim", keepdims="keepdim")
    return (
        call(f"{{0}}.{name}({{axis}}, {{unbiased}}, {{keepdims}})", fn_pos, _unbiased),
        call(f"minigrad.ops.{name}({{0}}, axis={{axis}}, keepdims={{keepdims}}, ddof={{ddof}})",
             fn_ops),
        call(f"{{0}}.{name}(dim={{dim}}, keepdim={{keepdim}}, correction={{correction}})",
             fn_method, compose(dims, torch_names(ddof="correction"))),
        call(f"{{0}}.{name}(dim={{dim}}, keepdim={{keepdim}})", fn_method,
             compose(only(ddof=1), dims)),
        call(f"{{0}}.{name}(axis={{axis}}, keepdims={{keepdims}}, ddof={{ddof}})", fn_method,
             negative_axis()),
        call(f"{{0}}.{name}(axis={{axis}}, keepdims={{keepdims}}, ddof={{ddof}})", fn_method,
             int_axis),
    )


def _one_dim(p: dict[str, Any], shapes: Shapes) -> dict[str, Any] | None:
    """A reduction over a single axis, given as an int."""
    a = p.get("axis")
    if isinstance(a, tuple) and len(a) == 1:
        a = a[0]
    if not isinstance(a, (int, np.integer)):
        return None
    return {**p, "axis": int(a)}


def extreme_calls(name: str) -> tuple[Call, ...]:
    """`max` and `min`: PyTorch's ``t.max()`` (the value), ``t.max(dim).values`` (one dim),
    ``t.amax(dims)`` (any dims), and numpy's keywords."""
    amax = "a" + name

    def fn_full(x: Any) -> Any:
        return getattr(x, name)()

    def fn_values(x: Any, axis: int = 0, keepdims: bool = False) -> Any:
        return getattr(x, name)(axis, keepdims).values

    def fn_dim_values(x: Any, dim: int = 0, keepdim: bool = False) -> Any:
        return getattr(x, name)(dim=dim, keepdim=keepdim)[0]

    def fn_amax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return getattr(x, amax)(axis, keepdims)

    def fn_method(x: Any, **p: Any) -> Any:
        return getattr(x, amax)(**p)

    def fn_ops(x: Any, **p: Any) -> Any:
        return getattr(ops, name)(x, **p)

    dims = torch_names(axis="dim", keepdims="keepdim")
    return (
        call(f"{{0}}.{name}()", fn_full, only(axis=None, keepdims=False)),
        call(f"{{0}}.{name}({{axis}}, {{keepdims}}).values", fn_values, _one_dim),
        call(f"{{0}}.{name}(dim={{dim}}, keepdim={{keepdim}})[0]", fn_dim_values,
             compose(_one_dim, negative_axis(), dims)),
        call(f"{{0}}.{amax}({{axis}}, {{keepdims}})", fn_amax),
        call(f"minigrad.ops.{name}({{0}}, axis={{axis}}, keepdims={{keepdims}})", fn_ops),
        call(f"{{0}}.{amax}(dim={{dim}}, keepdim={{keepdim}})", fn_method, dims),
        call(f"{{0}}.{amax}(axis={{axis}}, keepdims={{keepdims}})", fn_method, negative_axis()),
        call(f"{{0}}.{amax}(axis={{axis}}, keepdims={{keepdims}})", fn_method, int_axis),
    )
