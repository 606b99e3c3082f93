"""Tensor: a numpy array plus what autograd needs (grad, requires_grad, history, version).

Tensor's operators call the ops of `minigrad.ops`, and ops make Tensors: that is the one knot
inside the engine, tied at the bottom of this module.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.dispatch import engine
from minigrad.dispatch import ops as _ops
from minigrad.dtypes import result_type
from minigrad.modes import state

if TYPE_CHECKING:
    import networkx as nx

    from minigrad.function import Node

DTypeLike = Any
_FLOAT_KINDS = "f"


class Version:
    """A counter shared by a tensor and its views; every in-place change bumps it.

    `Version.epoch` counts the times any counter was handed out for bumping: a node made at
    the current epoch has seen no in-place change since, so backward can skip its checks.
    """

    __slots__ = ("n",)
    epoch = 0

    def __init__(self) -> None:
        self.n = 0


def resolve_dtype(dtype: DTypeLike) -> np.dtype | None:
    """Accepts numpy dtypes, their names (``"float64"``) and Python types; None stays None."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}: use e.g. 'float32' or np.float64") from e


def as_array(data: Any, dtype: DTypeLike = None, copy: bool = True) -> np.ndarray:
    """Converts user data: Python floats and lists become float32 unless `dtype` says otherwise;
    numpy arrays keep their dtype."""
    dt = resolve_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        return np.array(data, dtype=dt, copy=True) if copy or dt is not None else data
    if isinstance(data, np.generic):
        return np.array(data, dtype=dt)
    if isinstance(data, (list, tuple)):
        data = [d.data if isinstance(d, Tensor) else d for d in data]
    arr = np.array(data, dtype=dt)
    if dt is None and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    if arr.dtype == object:
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: got object data")
    return arr


def lift(value: Any, like: Tensor | None) -> Tensor:
    """A constant tensor for a non-Tensor operand. A Python number takes the dtype of the
    tensor it meets, so float32 stays float32; a Python float meeting an integer tensor is
    float32, PyTorch's default float (see `minigrad.dtypes`)."""
    return Tensor._wrap(lift_data(value, like))


def lift_data(value: Any, like: Tensor | None) -> np.ndarray:
    """The array `lift` wraps: for the engine's paths that need no tensor around it."""
    if type(value) is float and like is not None and like.data.dtype.kind in "fc":
        return np.asarray(value, dtype=like.data.dtype)  # the usual case: x * 0.5
    if isinstance(value, np.ndarray):
        return value
    if like is not None and isinstance(value, (int, float, complex, np.generic)):
        return np.asarray(value, dtype=result_type(like, value))
    return as_array(value, copy=False)


# While a VJP runs under create_graph=True, a check that raises when numpy turns one of the
# differentiable tensors into a plain array (np.sqrt(x) in a VJP): the second derivative
# would lose that path without a word. Empty otherwise, so the check costs one truth test.
_VJP_GUARD: list[Callable[[Any], None]] = []


class InplaceCastError(RuntimeError, TypeError):
    """An in-place op whose result has a dtype this tensor cannot hold (an integer tensor
    ``+=`` a float): PyTorch's RuntimeError, and a TypeError as every dtype error here."""


class RemovableHandle:
    """Returned by `Tensor.register_hook`; `.remove()` unregisters the hook."""

    def __init__(self, hooks: dict[int, Callable[..., Any]], key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Tensor:
    """An n-dimensional array that can record the ops applied to it and give their gradients.

    Args:
        data: a number, nested list, numpy array or Tensor (copied). Python floats and lists
            become float32 unless `dtype` is given; numpy arrays keep their dtype.
        requires_grad: whether backward should compute ``.grad`` for this tensor (floating
            point tensors only).
        dtype: a numpy dtype or its name.
        name: shown in reprs and diagrams.
    """

    __slots__ = (
        "_data",  # read and written as `data`
        "grad",
        "requires_grad",
        "name",
        "module",
        "_ctx",
        "_ver",
        "_hooks",
        "_retain",
        "__weakref__",
    )
    _data: np.ndarray
    grad: Tensor | None
    requires_grad: bool
    name: str | None
    module: str | None
    _ctx: Node | None
    _ver: Version | None
    _hooks: dict[int, Callable[..., Any]] | None
    _retain: bool

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: DTypeLike = None,
        name: str | None = None,
    ) -> None:
        self.data = as_array(data, dtype)
        self.grad = None
        self.requires_grad = False
        self.name = name
        self.module = None
        self._ctx = None
        self._ver = None
        self._hooks = None
        self._retain = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A tensor around `data` without copying or checks: the engine's fast path."""
        t = cls.__new__(cls)
        t._data = data
        t.grad = None
        t.requires_grad = False
        t.name = None
        t.module = None
        t._ctx = None
        t._ver = None
        t._hooks = None
        t._retain = False
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def data(self) -> np.ndarray:
        """The values, as a numpy array (shared memory, no history): changing it in place
        (``p.data += -lr * p.grad``) changes the tensor without recording anything, as
        PyTorch's ``.data``. Assigning a Tensor (``p.data = t``) stores that tensor's array,
        so ``.data`` is always an array."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor):
            value = value._data
        elif not isinstance(value, np.ndarray):
            if not isinstance(value, np.generic):
                raise TypeError(
                    f"Tensor.data must be a numpy array (or a Tensor, whose array is stored), "
                    f"got {type(value).__name__}; use np.asarray(value) or minigrad.tensor(value)")
            value = np.asarray(value)
        self._data = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def size(self, dim: int | None = None) -> Any:
        """The shape, as PyTorch's ``t.size()``; ``t.size(d)`` is the length of axis d. (The
        number of elements, numpy's ``size``, is `numel`.)"""
        shape = self.data.shape
        if dim is None:
            return shape
        try:
            return shape[dim]
        except (IndexError, TypeError):
            raise ValueError(f"size({dim!r}): a tensor of shape {shape} has {len(shape)} dims; "
                             f"dim must be an int in [{-len(shape)}, {len(shape) - 1}]") from None

    def numel(self) -> int:
        """The number of elements."""
        return self.data.size

    nelement = numel

    def dim(self) -> int:
        """The number of axes, as ``t.ndim``."""
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op that recorded history."""
        return self._ctx is None

    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor (None for leaves)."""
        return None if self._ctx is None else self._ctx.op.name

    @property
    def T(self) -> Tensor:
        """The axes reversed (a matrix's transpose; PyTorch allows it for any ndim too)."""
        return _ops.permute(self)

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped: a batch of matrices, each transposed."""
        if self.ndim < 2:
            raise ValueError(f"mT: needs at least 2 dims, got a tensor of shape {self.shape}")
        return _ops.permute(self, _ops.swap_dims(self.ndim, -2, -1))

    @property
    def graph(self) -> nx.DiGraph:
        """This tensor's history as a `networkx.DiGraph` (see `minigrad.graph`)."""
        return engine.build(self)

    @property
    def version(self) -> int:
        """How many in-place changes this tensor's memory has seen."""
        return 0 if self._ver is None else self._ver.n

    @property
    def _version(self) -> Version:
        """The counter, for code about to change this tensor in place (``t._version.n += 1``)."""
        Version.epoch += 1
        return self._shared_version()

    @_version.setter
    def _version(self, v: Version) -> None:
        self._ver = v

    def _shared_version(self) -> Version:
        # Made on first use: most tensors are never changed in place or viewed, and one
        # object fewer per op is a real saving for the garbage collector.
        v = self._ver
        if v is None:
            v = self._ver = Version()
        return v

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared memory, as in PyTorch)."""
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(
                f"item(): only a one-element tensor converts to a Python number; "
                f"this one has shape {self.shape}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if _VJP_GUARD and self.requires_grad:
            _VJP_GUARD[-1](self)  # numpy inside a VJP under create_graph: raises
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    # numpy passes a ufunc to this method when a Tensor is one of its operands.
    _REFLECTED = {np.add: "__radd__", np.subtract: "__rsub__", np.multiply: "__rmul__",
                  np.true_divide: "__rtruediv__", np.power: "__rpow__",
                  np.matmul: "__rmatmul__", np.less: "__gt__", np.less_equal: "__ge__",
                  np.greater: "__lt__", np.greater_equal: "__le__", np.equal: "__eq__",
                  np.not_equal: "__ne__"}

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``ndarray + Tensor`` is the Tensor's ``__radd__`` (a Tensor, with its history).
        Any other ufunc runs on the arrays: ``np.exp(t)`` gives an array, and an in-place
        operator on an array, ``p.data += -lr * p.grad``, writes into that array and
        leaves it an array, so everything holding it (the tensor, an optimizer) sees the
        change."""
        out = kwargs.get("out")
        if (out is None and method == "__call__" and len(inputs) == 2 and not kwargs
                and inputs[1] is self and not isinstance(inputs[0], Tensor)):
            reflected = Tensor._REFLECTED.get(ufunc)
            if reflected is not None:
                return getattr(self, reflected)(inputs[0])
        arrays = [np.asarray(x) if isinstance(x, Tensor) else x for x in inputs]
        if out is None:
            return getattr(ufunc, method)(*arrays, **kwargs)
        kwargs["out"] = tuple(o.data if isinstance(o, Tensor) else o for o in out)
        getattr(ufunc, method)(*arrays, **kwargs)
        for o in out:
            if isinstance(o, Tensor):
                o._version.n += 1  # changed in place, as by add_
        return out[0] if len(out) == 1 else out

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor's number, as PyTorch does."""
        if spec and self.data.size == 1:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """An integer tensor of one element as an index: ``data[i : i + block_size]``."""
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of a single element can be used as an "
                            f"index; this one is {self.data.dtype} of shape {self.shape}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                f"use .any() or .all()"
            )
        return bool(self.data)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extra = []
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extra.append(f"dtype={self.data.dtype}")
        if self.requires_grad:
            extra.append("requires_grad=True")
        if self._ctx is not None:
            extra.append(f"op={self._ctx.op.name}")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    def astype(self, dtype: DTypeLike) -> Tensor:
        return _ops.astype(self, dtype=resolve_dtype(dtype))

    def type(self, dtype: DTypeLike = None) -> Any:
        """``t.type(dtype)`` converts as `to`; ``t.type()`` names the dtype."""
        if dtype is None:
            return f"minigrad.{self.data.dtype.name}"
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        """As `other`'s dtype."""
        return self.to(other.dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``t.to(dtype)``, ``t.to(device)``, ``t.to(device, dtype)`` or ``t.to(other)``,
        as PyTorch: a differentiable conversion to another dtype, or this tensor itself when
        nothing changes (``copy=True`` asks for a copy). The only device is ``"cpu"``;
        another one is a `minigrad.device.DeviceError`."""
        from minigrad.device import to_arguments

        kwargs = dict(kwargs)
        copy = bool(kwargs.pop("copy", False))
        dtype = to_arguments(args, kwargs, "to")
        dt = resolve_dtype(dtype)
        if dt is not None and dt != self.data.dtype:
            return _ops.astype(self, dtype=dt)
        return self.clone() if copy else self

    def cpu(self) -> Tensor:
        """This tensor: it is on the CPU already."""
        return self

    def cuda(self, device: Any = None) -> Tensor:
        from minigrad.device import check_device

        check_device("cuda" if device is None else device, "cuda()")
        return self

    @property
    def device(self) -> Any:
        """``minigrad.device("cpu")``: every tensor lives on the CPU."""
        from minigrad.device import CPU

        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def copy(self) -> Tensor:
        return _ops.astype(self, dtype=self.data.dtype)

    clone = copy

    # ----------------------------------------------------------------- autograd
    def detach(self) -> Tensor:
        """The same data (shared memory and version counter) without history."""
        t = Tensor._wrap(self.data)
        t._ver = self._shared_version()
        t.name = self.name
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"only floating point tensors can require gradients; this one is "
                f"{self.data.dtype}. Convert it first, e.g. t.astype('float64')"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError(
                "requires_grad_(False) on a tensor made by an op; use .detach() instead"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retain = True

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Calls ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor
        replaces the gradient. Returns a handle whose ``.remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook() on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        key = max(self._hooks, default=-1) + 1
        self._hooks[key] = hook
        return RemovableHandle(self._hooks, key)

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool = False,
        create_graph: bool = False,
    ) -> None:
        """Computes the gradient of this tensor with respect to every leaf that requires grad
        and adds it to their ``.grad`` (see `minigrad.autograd.backward`)."""
        engine.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    # ----------------------------------------------------------------- in-place
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and self._ctx is None and state.grad_enabled:
            raise RuntimeError(
                f"{what}: a leaf tensor that requires grad cannot be changed in place while "
                f"gradients are recorded; wrap the update in `with minigrad.no_grad():`"
            )
        if not self.data.flags.writeable:
            raise RuntimeError(
                f"{what}: this tensor's memory is read-only (a broadcast view); "
                f"call .copy() first"
            )

    def _inplace(self, result: Tensor, what: str) -> Tensor:
        """Writes `result` into this tensor's memory; when result has history, this tensor
        takes it over (the old value is the op's input under a shared version counter).
        The result's dtype must cast to this tensor's within its kind (float64 into float32
        is fine, float into an integer tensor is an error), as PyTorch's in-place ops."""
        if not np.can_cast(result.data.dtype, self.data.dtype, "same_kind"):
            raise InplaceCastError(
                f"{what}: the result has dtype {result.data.dtype}, which cannot be stored in "
                f"place in this {self.data.dtype} tensor (shape {self.shape}); write it out of "
                f"place (t = t + u), or convert the tensor first (t = t.float())"
            )
        if result._ctx is not None:
            ctx = result._ctx
            if self._reads_old_value(ctx):
                # the backward of `y *= x` needs y's old value, which the write below would
                # overwrite: it keeps a copy (PyTorch's "original self"), at today's version
                old = Tensor._wrap(self.data.copy())
                old._ver = Version()
                old._ver.n = self.version
            else:
                old = Tensor._wrap(self.data)
                old._version = self._version
            old._ctx, old.requires_grad = self._ctx, self.requires_grad
            old.module, old.name = self.module, self.name
            ctx.inputs = tuple(old if t is self else t for t in ctx.inputs)
            np.copyto(self.data, result.data, casting="same_kind")
            self._version.n += 1
            if result._ctx.op.saves_output:  # the output the VJP reads is now this tensor
                result._ctx.versions = result._ctx.versions[:-1] + (self._version.n,)
            self._ctx = result._ctx
            self.requires_grad = True
        else:
            np.copyto(self.data, result.data, casting="same_kind")
            self._version.n += 1
        return self

    def _reads_old_value(self, ctx: Node) -> bool:
        """Whether a VJP of the in-place op `ctx` reads this tensor's value from before it."""
        op, inputs = ctx.op, ctx.inputs
        mine = {k for k, t in enumerate(inputs) if t is self}
        if op.variadic:
            return any(t.requires_grad for t in inputs) and bool(mine & set(op.saves))
        return any(mine & set(op.reads_of(j)) for j, t in enumerate(inputs) if t.requires_grad)

    def _in_place_unrecorded(self, ufunc: Any, other: Any, alpha: builtins.float = 1.0) -> bool:
        """`self ← ufunc(self, alpha·other)` written straight into this tensor's memory, when
        nothing is recorded (no_grad, or no operand requires grad) and the shapes already
        agree: one numpy call, no new array for the result and no copy back. The values are
        those of the recorded path (the same ufunc on operands of one dtype). Returns False
        when the general path must run."""
        if state.anomaly:
            return False
        o = other if isinstance(other, Tensor) else None
        if state.grad_enabled and (self.requires_grad or (o is not None and o.requires_grad)):
            return False
        if o is None and alpha != 1.0:
            return False  # a number scaled by alpha: the recorded path's dtype rules
        b = o.data if o is not None else lift_data(other, self)
        a = self.data
        if (b.shape != a.shape and b.ndim) or b.dtype != a.dtype:
            return False  # other dtypes: the recorded path promotes them as PyTorch does
        if alpha != 1.0:
            if b.dtype.kind not in "fc":
                return False
            b = np.multiply(b, np.asarray(alpha, dtype=b.dtype))  # as _ops.mul(other, alpha)
        try:
            ufunc(a, b, out=a)
        except TypeError:
            return False  # an integer tensor divided in place: the recorded path says why
        self._version.n += 1
        return True

    def add_(self, other: Any, alpha: builtins.float = 1.0) -> Tensor:
        self._check_inplace("add_")
        if self._in_place_unrecorded(np.add, other, alpha):
            return self
        o = other if alpha == 1.0 else _ops.mul(other, alpha)
        return self._inplace(_ops.add(self, o), "add_")

    def sub_(self, other: Any, alpha: builtins.float = 1.0) -> Tensor:
        self._check_inplace("sub_")
        if self._in_place_unrecorded(np.subtract, other, alpha):
            return self
        o = other if alpha == 1.0 else _ops.mul(other, alpha)
        return self._inplace(_ops.sub(self, o), "sub_")

    def mul_(self, other: Any) -> Tensor:
        self._check_inplace("mul_")
        if self._in_place_unrecorded(np.multiply, other):
            return self
        return self._inplace(_ops.mul(self, other), "mul_")

    def div_(self, other: Any) -> Tensor:
        self._check_inplace("div_")
        if self._in_place_unrecorded(np.divide, other):
            return self
        return self._inplace(_ops.div(self, other), "div_")

    def pow_(self, exponent: Any) -> Tensor:
        self._check_inplace("pow_")
        return self._inplace(_ops.pow(self, exponent), "pow_")

    # `t += u` changes t's memory, as PyTorch does: inside ``for p in params: p -= lr * g``
    # under no_grad, an out-of-place `-` would only rebind the loop variable, and the
    # parameters would never move.
    def __iadd__(self, o: Any) -> Tensor:
        return self.add_(o)

    def __isub__(self, o: Any) -> Tensor:
        return self.sub_(o)

    def __imul__(self, o: Any) -> Tensor:
        return self.mul_(o)

    def __itruediv__(self, o: Any) -> Tensor:
        return self.div_(o)

    def __ipow__(self, o: Any) -> Tensor:
        return self.pow_(o)

    def copy_(self, src: Any) -> Tensor:
        self._check_inplace("copy_")
        return self._inplace(_ops.setitem(self, src, index=Ellipsis), "copy_")

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        return self._inplace(_ops.setitem(self, 0.0, index=Ellipsis), "zero_")

    def fill_(self, value: builtins.float) -> Tensor:
        self._check_inplace("fill_")
        return self._inplace(_ops.setitem(self, value, index=Ellipsis), "fill_")

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        self._inplace(_ops.setitem(self, value, index=_ops.normalize_index(index)), "__setitem__")

    # ----------------------------------------------------------------- operators
    def __add__(self, o: Any) -> Tensor:
        return _ops.add(self, o)

    def __radd__(self, o: Any) -> Tensor:
        return _ops.add(o, self)

    def __sub__(self, o: Any) -> Tensor:
        return _ops.sub(self, o)

    def __rsub__(self, o: Any) -> Tensor:
        return _ops.sub(o, self)

    def __mul__(self, o: Any) -> Tensor:
        return _ops.mul(self, o)

    def __rmul__(self, o: Any) -> Tensor:
        return _ops.mul(o, self)

    def __truediv__(self, o: Any) -> Tensor:
        return _ops.div(self, o)

    def __rtruediv__(self, o: Any) -> Tensor:
        return _ops.div(o, self)

    def __pow__(self, o: Any) -> Tensor:
        return _ops.pow(self, o)

    def __rpow__(self, o: Any) -> Tensor:
        return _ops.pow(o, self)

    def __matmul__(self, o: Any) -> Tensor:
        return _ops.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return _ops.matmul(o, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index=_ops.normalize_index(index))

    # comparisons give bool tensors without history
    def _cmp(self, o: Any, f: Callable[..., Any]) -> Tensor:
        return _no_history(f, self, o)

    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(o, np.equal)

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(o, np.not_equal)

    def __lt__(self, o: Any) -> Tensor:
        return self._cmp(o, np.less)

    def __le__(self, o: Any) -> Tensor:
        return self._cmp(o, np.less_equal)

    def __gt__(self, o: Any) -> Tensor:
        return self._cmp(o, np.greater)

    def __ge__(self, o: Any) -> Tensor:
        return self._cmp(o, np.greater_equal)

    __hash__ = object.__hash__

    def __and__(self, o: Any) -> Tensor:
        return self._cmp(o, np.logical_and)

    def __or__(self, o: Any) -> Tensor:
        return self._cmp(o, np.logical_or)

    def __invert__(self) -> Tensor:
        return _no_history(np.logical_not, self)

    # non-differentiable queries
    def argmax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The index of the largest value along `dim` (of the flattened tensor when None)."""
        dim, keepdim = dim_alias("argmax", dim, keepdim, kw)
        return _no_history(np.argmax, self, axis=dim, keepdims=bool(keepdim and dim is not None))

    def argmin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The index of the smallest value along `dim` (of the flattened tensor when None)."""
        dim, keepdim = dim_alias("argmin", dim, keepdim, kw)
        return _no_history(np.argmin, self, axis=dim, keepdims=bool(keepdim and dim is not None))

    def any(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """Whether any value along `dim` (or at all) is non-zero: a bool tensor."""
        dim, keepdim = dim_alias("any", dim, keepdim, kw)
        return _no_history(np.any, self, axis=dim, keepdims=bool(keepdim))

    def all(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """Whether every value along `dim` (or at all) is non-zero: a bool tensor."""
        dim, keepdim = dim_alias("all", dim, keepdim, kw)
        return _no_history(np.all, self, axis=dim, keepdims=bool(keepdim))

    def isclose(self, other: Any, rtol: builtins.float = 1e-5, atol: builtins.float = 1e-8,
                equal_nan: bool = False) -> Tensor:
        """Elementwise ``|self − other| ≤ atol + rtol·|other|``, a bool tensor."""
        return _no_history(np.isclose, self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)

    def allclose(self, other: Any, rtol: builtins.float = 1e-5, atol: builtins.float = 1e-8,
                 equal_nan: bool = False) -> bool:
        """Whether every element is close to `other` (see `isclose`)."""
        o = other.data if isinstance(other, Tensor) else other
        return bool(np.allclose(self.data, o, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def sign(self) -> Tensor:
        return _no_history(np.sign, self)

    # ----------------------------------------------------------------- random
    def multinomial(self, num_samples: int, replacement: bool = False, *,
                    generator: Any = None) -> Tensor:
        """Indices drawn with probabilities proportional to this tensor's rows (see
        `minigrad.multinomial`)."""
        return engine.multinomial(self, num_samples, replacement, generator=generator)

    def uniform_(self, from_: builtins.float = 0.0, to: builtins.float = 1.0, *,
                 generator: Any = None) -> Tensor:
        """Fills this tensor with `U(from_, to)` samples, in place."""
        self._check_inplace("uniform_")
        rng = engine.generator(generator)
        return self._inplace(Tensor._wrap(rng.uniform(from_, to, self.shape)), "uniform_")

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *,
                generator: Any = None) -> Tensor:
        """Fills this tensor with `N(mean, std²)` samples, in place."""
        self._check_inplace("normal_")
        rng = engine.generator(generator)
        return self._inplace(Tensor._wrap(rng.normal(mean, std, self.shape)), "normal_")

    # ----------------------------------------------------------------- op methods
    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def clip(self, min: builtins.float | None = None, max: builtins.float | None = None) -> Tensor:
        return _ops.clip(self, min=min, max=max)

    clamp = clip

    def maximum(self, other: Any) -> Tensor:
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _ops.minimum(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """PyTorch's ``x.where(cond, y)``: x where cond holds, else y."""
        return _ops.where(condition, self, other)

    def masked_fill(self, mask: Any, value: builtins.float) -> Tensor:
        """PyTorch's ``x.masked_fill(mask, value)``: `value` where the boolean mask holds."""
        return _ops.masked_fill(self, mask, value)

    def masked_fill_(self, mask: Any, value: builtins.float) -> Tensor:
        """`masked_fill`, written into this tensor."""
        self._check_inplace("masked_fill_")
        return self._inplace(_ops.masked_fill(self, mask, value), "masked_fill_")

    def clamp_(self, min: builtins.float | None = None,
               max: builtins.float | None = None) -> Tensor:
        """`clamp`, written into this tensor."""
        self._check_inplace("clamp_")
        return self._inplace(_ops.clip(self, min=min, max=max), "clamp_")

    clip_ = clamp_

    def pow(self, exponent: Any) -> Tensor:
        return _ops.pow(self, exponent)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def softmax(self, dim: int | None = None, **kw: Any) -> Tensor:
        return _ops.softmax(self, dim, **kw)

    def log_softmax(self, dim: int | None = None, **kw: Any) -> Tensor:
        return _ops.log_softmax(self, dim, **kw)

    def log10(self) -> Tensor:
        """`log₁₀ x = log x / log 10`."""
        return _ops.log(self) / _LN10

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle of the last two axes (see `minigrad.tril`)."""
        return _ops.where(_tri_mask(self.shape, diagonal, lower=True), self, 0)

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle of the last two axes (see `minigrad.triu`)."""
        return _ops.where(_tri_mask(self.shape, diagonal, lower=False), self, 0)

    def matmul(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def sum(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return _ops.sum(self, axis=axis, keepdims=keepdims, **kw)

    def mean(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return _ops.mean(self, axis=axis, keepdims=keepdims, **kw)

    def max(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """As PyTorch: ``t.max()`` is the largest value; ``t.max(dim)`` (or ``dim=``,
        ``axis=``) the pair ``(values, indices)`` along one dim, ``values`` keeping it as
        size 1 with `keepdim`; ``t.max(u)`` the elementwise maximum. Tied maxima share δ
        evenly; `amax` reduces several dims at once."""
        return _extreme(self, "max", dim, keepdim, kw)

    def min(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """As `max`, for the smallest values."""
        return _extreme(self, "min", dim, keepdim, kw)

    def amax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The largest values over `dim` (an int, a tuple, or None for all): values only."""
        dim, keepdim = dim_alias("amax", dim, keepdim, kw)
        return _ops.max(self, axis=dim, keepdims=bool(keepdim))

    def amin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The smallest values over `dim` (an int, a tuple, or None for all): values only."""
        dim, keepdim = dim_alias("amin", dim, keepdim, kw)
        return _ops.min(self, axis=dim, keepdims=bool(keepdim))

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
            **kw: Any) -> Tensor:
        """The variance over `dim`, unbiased (1/(n − 1)) by default as PyTorch; pass
        ``unbiased=False`` or ``correction=0`` for 1/n (see `minigrad.ops.var`)."""
        return _ops.var(self, dim, unbiased, keepdim, **kw)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
            **kw: Any) -> Tensor:
        """The standard deviation over `dim`, unbiased by default as PyTorch (see `var`)."""
        return _ops.std(self, dim, unbiased, keepdim, **kw)

    def logsumexp(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return _ops.logsumexp(self, axis=axis, keepdims=keepdims, **kw)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape=shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merges axes `start_dim … end_dim` into one, as PyTorch (default: all of them)."""
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, *dims: Any) -> Tensor:
        """Swaps two axes, as PyTorch: ``k.transpose(-2, -1)`` swaps the last two.

        numpy's spellings that PyTorch does not accept are kept: ``t.transpose()`` reverses
        the axes (as ``t.T``) and ``t.transpose((1, 0, 2))`` permutes them (as `permute`)."""
        if len(dims) == 2:
            return _ops.transpose(self, dims[0], dims[1])
        if not dims or (len(dims) == 1 and (dims[0] is None or isinstance(dims[0], (tuple, list)))):
            return _ops.permute(self, None if not dims else dims[0])
        raise TypeError(
            f"transpose{dims}: give two dims to swap, e.g. t.transpose(0, 1); to reorder all "
            f"axes use t.permute{dims if len(dims) > 1 else '(...)'}"
        )

    def permute(self, *dims: Any) -> Tensor:
        """Reorders the axes: ``t.permute(2, 0, 1)`` or ``t.permute((2, 0, 1))``."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if not dims:
            raise TypeError("permute() needs the new order of the axes, e.g. t.permute(1, 0)")
        return _ops.permute(self, dims)

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        """Swaps two axes (numpy's name; the same as `transpose` with two dims)."""
        return _ops.transpose(self, axis0, axis1)

    swapdims = swapaxes

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return _ops.broadcast_to(self, shape=tuple(shape))

    def expand(self, *sizes: Any) -> Tensor:
        """Repeats size-1 axes without copying, as PyTorch: ``t.expand(4, 3)`` or
        ``t.expand((4, 3))``; -1 keeps an axis's size."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n
                      for i, n in enumerate(sizes))
        return _ops.broadcast_to(self, shape=shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def squeeze(self, dim: Any = None, **kw: Any) -> Tensor:
        return _ops.squeeze(self, dim, **kw)

    def unsqueeze(self, dim: int | None = None, **kw: Any) -> Tensor:
        return _ops.unsqueeze(self, dim, **kw)

    expand_dims = unsqueeze

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    reshape_as = view_as

    def t(self) -> Tensor:
        """The transpose of a matrix (a tensor of at most 2 dims), as PyTorch's ``t.t()``."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects at most 2 dims, got shape {self.shape}; use "
                             f"transpose(d0, d1) or mT")
        return _ops.permute(self)

    def contiguous(self) -> Tensor:
        """This tensor (numpy handles any memory layout)."""
        return self

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The slices along `dim`, each without that axis: ``a, b = t.unbind(1)``."""
        index = (slice(None),) * (dim % builtins.max(self.ndim, 1))
        return tuple(self[index + (i,)] for i in range(self.shape[dim]))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces along `dim`: of `split_size` each (the last may be shorter), or of the
        sizes in a list."""
        n = self.shape[dim]
        if isinstance(split_size, (int, np.integer)):
            step = builtins.max(int(split_size), 1)
            sizes = [builtins.min(step, n - i) for i in range(0, n, step)]
        else:
            sizes = [int(k) for k in split_size]
            if builtins.sum(sizes) != n:
                raise ValueError(f"split: sizes {sizes} do not add up to {n}, the length of "
                                 f"dim {dim} of a tensor of shape {self.shape}")
        index = (slice(None),) * (dim % builtins.max(self.ndim, 1))
        out, start = [], 0
        for k in sizes:
            out.append(self[index + (slice(start, start + k),)])
            start += k
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """At most `chunks` pieces of equal size along `dim` (the last may be smaller)."""
        return self.split(-(-self.shape[dim] // builtins.max(int(chunks), 1)), dim)

    # ----------------------------------------------------------------- dtypes
    # PyTorch's conversions: this tensor itself when it has the dtype already, as `to`.
    # Last in the class: below them, `int`, `float` and `bool` name these methods.
    def float(self) -> Tensor:
        """As float32 (the tensor itself if it is already)."""
        return self.to(np.float32)

    def double(self) -> Tensor:
        """As float64."""
        return self.to(np.float64)

    def half(self) -> Tensor:
        """As float16."""
        return self.to(np.float16)

    def long(self) -> Tensor:
        """As int64 (class indices, counts)."""
        return self.to(np.int64)

    def int(self) -> Tensor:
        """As int32."""
        return self.to(np.int32)

    def bool(self) -> Tensor:
        """As bool: True where non-zero."""
        return self.to(np.bool_)


_LN10 = 2.302585092994046  # log 10


def dim_alias(what: str, dim: Any, keepdim: Any, kw: dict[str, Any]) -> tuple[Any, Any]:
    """PyTorch's `dim`/`keepdim`, or numpy's `axis`/`keepdims` taken from `kw` (emptied;
    anything else left there is an error naming `what`)."""
    if "axis" in kw:
        if dim is not None:
            raise TypeError(f"{what}(): give dim= or axis=, not both")
        dim = kw.pop("axis")
    if "keepdims" in kw:
        keepdim = kw.pop("keepdims")
    if kw:
        raise TypeError(f"{what}() got unexpected arguments {sorted(kw)}")
    return dim, keepdim


def _tri_mask(shape: tuple[int, ...], diagonal: int, lower: bool) -> np.ndarray:
    if len(shape) < 2:
        raise ValueError(f"tril/triu: needs at least 2 dims, got shape {shape}")
    n, m = shape[-2:]
    lo = np.tri(n, m, int(diagonal), dtype=bool)
    return lo if lower else ~np.tri(n, m, int(diagonal) - 1, dtype=bool)


def _extreme(x: Tensor, which: str, dim: Any, keepdim: Any, kw: dict[str, Any]) -> Any:
    """`Tensor.max`/`min`: the value, the (values, indices) pair, or the elementwise op."""
    from minigrad import return_types

    if isinstance(dim, (Tensor, np.ndarray)):  # t.max(u), minigrad.max(t, u)
        if kw:
            raise TypeError(f"{which}(other): got unexpected arguments {sorted(kw)}")
        return (_ops.maximum if which == "max" else _ops.minimum)(x, dim)
    if "other" in kw:
        return _extreme(x, which, kw.pop("other"), keepdim, kw)
    dim, keepdim = dim_alias(which, dim, keepdim, kw)
    op = _ops.max if which == "max" else _ops.min
    if dim is None:
        return op(x)
    if not isinstance(dim, (builtins.int, np.integer)):
        raise TypeError(f"{which}(dim): dim must be one int, got {dim!r}; to reduce several "
                        f"dims at once use a{which}(dim={dim!r})")
    values = op(x, axis=builtins.int(dim), keepdims=bool(keepdim))
    arg = np.argmax if which == "max" else np.argmin
    indices = _no_history(arg, x, axis=builtins.int(dim), keepdims=bool(keepdim))
    pair = return_types.max if which == "max" else return_types.min
    return pair(values, indices)


def _no_history(f: Callable[..., Any], *args: Any, **kw: Any) -> Tensor:
    """A tensor from a numpy function that records no history (comparisons, argmax); while
    `minigrad.compile` traces, it is reported so that the replay computes it again."""
    out = Tensor._wrap(np.asarray(f(*[a.data if isinstance(a, Tensor) else a for a in args], **kw)))
    if state.tracer is not None:
        state.tracer.record_raw(f, args, kw, out)
    return out

