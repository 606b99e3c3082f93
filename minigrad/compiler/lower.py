r"""Lowering: an op's forward or VJP, run once on stand-ins for its arrays, recorded as the
numpy calls it makes.

A registry rule such as tanh's VJP, ``g * (1.0 - out * out)``, is three numpy calls; called as
one Python function it allocates three arrays per step. Run on `Sym` stand-ins, numpy's own
dispatch protocols (``__array_ufunc__``, ``__array_function__``) hand every call to the
stand-in, which runs it on the real array and writes it down: ``square(out)``,
``subtract(1.0, ·)``, ``multiply(g, ·)``. The recording is the same rule, in the same order, on
the same values, with no second copy of it, and each ufunc call in it can be given an ``out=``
buffer by the memory plan.

A rule that asks Python for a value (``float(x)``, ``np.asarray(x)``), writes into an array
it did not make, or returns something other than an array cannot be recorded: `record` raises
`Unlowerable` and the rule stays one opaque call. So does a recording whose result differs in
any bit from the rule's own result on the trace's arrays.

A forward rule may branch on a truth value (``if big > 1e150:``, layer norm's guard against
overflow): the recording follows the branch the trace's values took and leaves a `Guard`, a
call that checks, at every replay, that the truth value comes out the same. When it does not,
the replay raises `GuardMiss` before anything outside its buffers has changed, and the call
runs eagerly instead (`minigrad.compile` says so when verbose).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Guard", "GuardMiss", "Ref", "Step", "Unlowerable", "leaves", "map_leaves", "record",
           "record_inplace", "replay", "same_bits"]


class Unlowerable(Exception):
    """A rule does something a recording cannot replay faithfully."""


class GuardMiss(Exception):
    """A replay met values on which a recorded rule branches the other way than it did on
    the trace's values: the recording does not hold for them."""


class Guard:
    """What a branch of a recorded rule leaves in the recording: ``bool(x)`` must come out
    `expected`, as it did on the trace's values, or the replay stops with `GuardMiss`."""

    def __init__(self, expected: bool, rule: str) -> None:
        self.expected, self.rule = expected, rule
        self.__name__ = "guard_true" if expected else "guard_false"

    def __call__(self, x: Any) -> Any:
        if bool(x) is not self.expected:
            raise GuardMiss(f"{self.rule} branches the other way on these values than on the "
                            f"values it was traced with")
        return np.True_

    def __repr__(self) -> str:
        return f"Guard({self.expected}, {self.rule!r})"


class Ref:
    """A reference, inside a step's arguments, to an array: an input (``("in", i)``) or the
    result of an earlier step (``("step", j)``)."""

    __slots__ = ("where", "index")

    def __init__(self, where: str, index: int) -> None:
        self.where, self.index = where, index

    def __repr__(self) -> str:
        return f"{self.where}{self.index}"


class Step:
    """One numpy call: ``fn(*args, **kwargs)``, or the attribute ``args[0].<attr>`` when
    `attr` is set. `out` is how the call takes an output buffer: ``"pos"`` (a ufunc, after its
    inputs), ``"kw"`` (``out=``), ``"dst"`` (first: ``np.copyto(dst, src)``, which
    `passes.materialize_operands` adds) or None; `inplace` is the `Ref` whose array the call writes
    into (``x += y`` on an array the rule made itself)."""

    __slots__ = ("fn", "args", "kwargs", "value", "out", "inplace", "attr")

    def __init__(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: Any,
                 out: str | None, inplace: Ref | None = None, attr: str | None = None) -> None:
        self.fn, self.args, self.kwargs, self.value = fn, args, kwargs, value
        self.out, self.inplace, self.attr = out, inplace, attr

    def refs(self) -> list[Ref]:
        return [r for r in leaves((self.args, self.kwargs)) if isinstance(r, Ref)]

    def __repr__(self) -> str:
        name = self.attr or getattr(self.fn, "__name__", repr(self.fn))
        return f"Step({name}, {self.args!r})"


def leaves(x: Any) -> list[Any]:
    if isinstance(x, (tuple, list)):
        return [y for v in x for y in leaves(v)]
    if isinstance(x, dict):
        return [y for v in x.values() for y in leaves(v)]
    return [x]


def map_leaves(x: Any, f: Callable[[Any], Any]) -> Any:
    """`x` with every leaf replaced by ``f(leaf)`` (through tuples, lists and dicts)."""
    if type(x) in (tuple, list):
        return type(x)(map_leaves(v, f) for v in x)
    if type(x) is dict:
        return {k: map_leaves(v, f) for k, v in x.items()}
    return f(x)


STATIC_ATTRS = frozenset({"shape", "ndim", "dtype", "size", "itemsize", "nbytes", "strides"})
VIEW_ATTRS = frozenset({"T", "mT", "real", "imag"})
# functions whose result is fixed by shapes and dtypes alone, so it may be handed back as is
STATIC_FUNCTIONS = frozenset({np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj,
                              np.isrealobj})
# numpy functions (not ufuncs) that can write their result into a buffer: how they take it
OUT_FUNCTIONS: dict[Any, str] = {np.take: "kw"}
REDUCING_METHODS = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}
NO_DTYPE = ("max", "min")  # ndarray.max(axis, out, keepdims) has no dtype argument


class _Recorder:
    """`guards`: the rule's name when it may branch on a value (a `Guard` is recorded), else
    None (a branch is `Unlowerable`)."""

    def __init__(self, guards: str | None = None) -> None:
        self.steps: list[Step] = []
        self.guards = guards

    def ref_of(self, x: Any) -> Any:
        if isinstance(x, Sym):
            if x.rec is not self:
                raise Unlowerable("a stand-in of another recording")
            return x.ref
        if isinstance(x, np.ndarray) and x.dtype == object:
            raise Unlowerable("an object array")
        return x

    def call(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: str | None,
             inplace: Sym | None = None, attr: str | None = None) -> Any:
        """Runs ``fn`` on the real arrays behind `args` and records it; returns a stand-in
        for an array result."""
        real_args = map_leaves(args, _value)
        real_kwargs = map_leaves(kwargs, _value)
        if attr is not None:
            value = getattr(real_args[0], attr)
        elif inplace is not None:
            value = fn(*real_args, out=inplace.value, **real_kwargs)
        else:
            value = fn(*real_args, **real_kwargs)
        if not isinstance(value, (np.ndarray, np.generic)) or value.dtype == object:
            raise Unlowerable(f"{getattr(fn, '__name__', attr)} returned "
                              f"{type(value).__name__}, not an array")
        if isinstance(fn, np.ufunc) and inplace is None:
            args = _typed_scalars(fn, args, real_args, real_kwargs, value)
        step = Step(fn, map_leaves(args, self.ref_of), map_leaves(kwargs, self.ref_of), value, out,
                    inplace.ref if inplace is not None else None, attr)
        self.steps.append(step)
        # the rule may write into an array it made: a ufunc's result, or any new array (not a
        # view of one of the rule's inputs)
        fresh = not any(isinstance(a, Sym) and np.may_share_memory(value, a.value)
                        for a in leaves((args, kwargs)))
        owned = inplace is None and attr is None and (out is not None or fresh)
        return Sym(self, value, Ref("step", len(self.steps) - 1), owned)


def _typed_scalars(ufunc: np.ufunc, args: tuple[Any, ...], real: tuple[Any, ...],
                   kwargs: dict[str, Any], value: Any) -> tuple[Any, ...]:
    """`args` with each Python number made a 0-d array of the dtype numpy casts it to.

    Converting a Python scalar costs a ufunc call as much as the call itself on a small array;
    a 0-d array of the same dtype selects the same loop with the same value. Kept only when the
    call gives the same bits (a loop of other types, e.g. ldexp's int exponent, keeps it)."""
    if not any(type(a) in (int, float, bool) for a in args):
        return args
    try:
        dt = np.result_type(*real)
        typed = tuple(np.asarray(a, dt) if type(a) in (int, float, bool) else a for a in args)
        again = ufunc(*[_value(a) for a in typed], **kwargs)
    except (TypeError, ValueError, OverflowError):
        return args
    return typed if same_bits(again, value) else args


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Sym) else x


def _ufunc_call(rec: _Recorder, ufunc: np.ufunc, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    out = kwargs.pop("out", None)
    # a ufunc's output may follow its inputs, which numpy parses faster than out=
    # (but maximum and minimum warn: a third argument there was once a third input)
    style = None if ufunc.nout != 1 else "kw" if ufunc in (np.maximum, np.minimum) else "pos"
    if out is None:
        return rec.call(ufunc, args, kwargs, style)
    if isinstance(out, tuple):
        if len(out) != 1:
            raise Unlowerable("a ufunc with several outputs written in place")
        out = out[0]
    if not (isinstance(out, Sym) and out.owned):
        raise Unlowerable(f"{ufunc.__name__} writes into an array the rule did not make")
    res = rec.call(ufunc, args, kwargs, style, inplace=out)
    out.ref = res.ref  # the name now stands for the array after the write
    return out


class Sym:
    """A stand-in for an array while a rule runs: it carries the real value and records every
    numpy call made on it. `owned` marks an array the rule made itself (and so may write into)."""

    __slots__ = ("rec", "value", "ref", "owned")
    __array_priority__ = 1000.0

    def __init__(self, rec: _Recorder, value: Any, ref: Ref, owned: bool = False) -> None:
        self.rec, self.value, self.ref, self.owned = rec, value, ref, owned

    # ---- numpy's protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "__call__":
            return _ufunc_call(self.rec, ufunc, args, kwargs)
        if method == "reduce" and "out" not in kwargs:
            return self.rec.call(getattr(ufunc, method), args, kwargs, "kw")
        if method in ("reduce", "accumulate", "outer") and "out" not in kwargs:
            return self.rec.call(getattr(ufunc, method), args, kwargs, None)
        raise Unlowerable(f"{ufunc.__name__}.{method} with these arguments")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in STATIC_FUNCTIONS:
            return func(*map_leaves(args, _value), **map_leaves(kwargs, _value))
        out = kwargs.pop("out", None) if "out" in kwargs else None
        if out is None:
            return self.rec.call(func, args, kwargs, OUT_FUNCTIONS.get(func))
        if not (isinstance(out, Sym) and out.owned):
            raise Unlowerable(f"{func.__name__} writes into an array the rule did not make")
        res = self.rec.call(func, args, kwargs, None, inplace=out)
        out.ref = res.ref
        return out

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        # a rule that asks isinstance(x, np.ndarray) takes its array path, the one it runs on
        # arrays (numpy's own C code checks the real type, which is Sym)
        return np.ndarray

    def __array__(self, *a: Any, **k: Any) -> Any:
        raise Unlowerable("the rule turns a value into a plain array (np.asarray, np.array…)")

    def __bool__(self) -> bool:
        if self.rec.guards is None:
            raise Unlowerable("the rule branches on a value")
        taken = bool(self.value)
        self.rec.call(Guard(taken, self.rec.guards), (self,), {}, None)
        return taken

    def __float__(self) -> float:
        raise Unlowerable("the rule asks for a value as a Python number")

    __int__ = __index__ = __complex__ = __float__  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Any:
        raise Unlowerable("the rule iterates over an array")

    # ---- attributes and methods: the shape is fixed, values are recorded
    def __getattr__(self, name: str) -> Any:
        if name in STATIC_ATTRS:
            return getattr(self.value, name)
        if name in VIEW_ATTRS:
            return self.rec.call(None, (self,), {}, None, attr=name)
        if name in REDUCING_METHODS:
            ufunc = REDUCING_METHODS[name]

            def reduce(axis: Any = None, *args: Any, **kw: Any) -> Any:
                names = ("out", "keepdims") if name in NO_DTYPE else ("dtype", "out", "keepdims")
                kw.update(zip(names, args))
                dtype, out, keepdims = kw.pop("dtype", None), kw.pop("out", None), \
                    kw.pop("keepdims", False)
                if out is not None or kw or len(args) > len(names):
                    raise Unlowerable(f".{name} with out= or {sorted(kw)}")
                extra = {"dtype": dtype} if dtype is not None else {}
                return self.rec.call(ufunc.reduce, (self,),
                                     {"axis": axis, "keepdims": keepdims, **extra}, "kw")
            return reduce
        if name.startswith("__array"):
            raise Unlowerable(f"the rule turns a value into a plain array (numpy asked for "
                              f"{name})")
        method = getattr(np.ndarray, name, None)
        if method is None or not callable(method) or name.startswith("_"):
            raise Unlowerable(f"the rule reads ndarray.{name}, which has no recorded form")
        if name in ("item", "tolist", "tobytes", "fill", "put", "itemset", "resize", "sort",
                    "partition", "setflags", "setfield", "byteswap", "dump", "dumps", "tofile",
                    "view", "__array__"):
            raise Unlowerable(f"ndarray.{name}")

        if not isinstance(self.value, np.ndarray):  # a numpy scalar (or a 0-d array next time)
            method = _method(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if "out" in kwargs:
                raise Unlowerable(f"ndarray.{name}(out=)")
            return self.rec.call(method, (self, *args), kwargs, None)
        return call

    def __getitem__(self, key: Any) -> Any:
        return self.rec.call(operator.getitem, (self, key), {}, None)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise Unlowerable("the rule writes into an array by index")

    # ---- operators, as ndarray's: each is its ufunc
    def __pow__(self, p: Any) -> Any:
        # ndarray's own shortcut for float arrays: x**2 is square(x), x**-1 reciprocal(x),
        # x**0.5 sqrt(x)
        if self.value.dtype.kind in "fc":
            if type(p) is int and p in (2, -1):
                return np.square(self) if p == 2 else np.reciprocal(self)
            if type(p) is float and p == 0.5:
                return np.sqrt(self)
        return np.power(self, p)


def _method(name: str) -> Callable[..., Any]:
    """``x.<name>(…)`` as a function, for numpy scalars and arrays alike."""
    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(x, name)(*args, **kwargs)
    call.__name__ = f"method_{name}"
    return call


def _binary(ufunc: np.ufunc) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    def op(self: Sym, other: Any) -> Any:
        return ufunc(self, other)

    def rop(self: Sym, other: Any) -> Any:
        return ufunc(other, self)

    def iop(self: Sym, other: Any) -> Any:
        return ufunc(self, other, out=(self,))
    return op, rop, iop


for _name, _uf in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                   ("mod", np.remainder), ("matmul", np.matmul), ("and", np.bitwise_and),
                   ("or", np.bitwise_or), ("xor", np.bitwise_xor)]:
    _op, _rop, _iop = _binary(_uf)
    setattr(Sym, f"__{_name}__", _op)
    setattr(Sym, f"__r{_name}__", _rop)
    setattr(Sym, f"__i{_name}__", _iop)
Sym.__rpow__ = lambda self, other: np.power(other, self)  # type: ignore[attr-defined]
for _name, _uf in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                   ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(Sym, f"__{_name}__", _binary(_uf)[0])
Sym.__hash__ = None  # type: ignore[assignment]
for _name, _uf in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                   ("invert", np.invert)]:
    setattr(Sym, f"__{_name}__", lambda self, _uf=_uf: _uf(self))


def same_bits(a: Any, b: Any) -> bool:
    """True when `a` and `b` are arrays (or numpy scalars) of one dtype and shape holding the
    same bytes: -0.0 differs from 0.0, and a NaN equals only the same NaN."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def record(f: Callable[..., Any], inputs: Sequence[Any], expected: Any,
           guards: str | None = None) -> tuple[list[Step], Any]:
    """Runs ``f(*stand-ins)`` where input i is ``inputs[i]`` (an array, or anything else,
    passed through as a constant); returns the numpy calls it made and the `Ref` of its
    result (a tuple of them when `expected` is a tuple: an op's output and what it keeps).
    With `guards` (the rule's name), a branch on a value becomes a `Guard` step. Raises
    `Unlowerable` when it cannot be recorded or when its result is not `expected` bit for
    bit."""
    rec = _Recorder(guards)
    args = [Sym(rec, x, Ref("in", i)) if isinstance(x, (np.ndarray, np.generic)) else x
            for i, x in enumerate(inputs)]
    with np.errstate(all="ignore"):  # the real calls already ran once, warnings and all
        try:
            result = f(*args)
        except Unlowerable:
            raise
        except Exception as e:  # a rule that needs a real array somewhere
            raise Unlowerable(f"{type(e).__name__}: {e}") from e
    if isinstance(expected, tuple):  # an op that keeps a value for its VJP: (out, kept)
        results, expected_all = result, expected
        if not isinstance(results, tuple) or len(results) != len(expected):
            raise Unlowerable("the rule returns something other than its recorded arrays")
    else:
        results, expected_all = (result,), (expected,)
    for r, want in zip(results, expected_all):
        if not isinstance(r, Sym) or r.rec is not rec:
            raise Unlowerable("the rule returns something other than a recorded array")
        if not same_bits(r.value, want):
            raise Unlowerable("the recording does not reproduce the rule's result bit for bit")
    refs = tuple(r.ref for r in results)
    _check_other_values(f, rec.steps, refs if isinstance(expected, tuple) else refs[0], inputs)
    return rec.steps, (refs if isinstance(expected, tuple) else refs[0])


def record_inplace(f: Callable[..., Any], inputs: Sequence[Any], n_mutable: int,
                   reference: Callable[..., Any]) -> list[Step]:
    """Records ``f(*stand-ins)``, a rule that returns nothing and updates its first
    `n_mutable` inputs in place (an optimizer's update: the parameter and its state).

    The recording runs on copies; `reference`, the rule as eager mode calls it, runs on other
    copies, and every updated array must come out with the same bits, on these values and on
    values nudged by a part in a thousand (where ``f`` itself is the reference). Returns every
    call the rule made, in order: each may matter, as each may write."""
    rec = _Recorder()
    mine = [np.array(x, copy=True) if i < n_mutable else x for i, x in enumerate(inputs)]
    args = [Sym(rec, x, Ref("in", i), owned=i < n_mutable)
            if isinstance(x, (np.ndarray, np.generic)) else x for i, x in enumerate(mine)]
    with np.errstate(all="ignore"):
        try:
            f(*args)
        except Unlowerable:
            raise
        except Exception as e:
            raise Unlowerable(f"{type(e).__name__}: {e}") from e
        want = [np.array(x, copy=True) if i < n_mutable else x for i, x in enumerate(inputs)]
        reference(*want)
        if not all(same_bits(a, b) for a, b in zip(mine[:n_mutable], want[:n_mutable])):
            raise Unlowerable("the recording does not reproduce the update bit for bit")
        rng = np.random.default_rng(0)
        other = [np.asarray(x * (1.0 + 1e-3 * rng.standard_normal(np.shape(x))), x.dtype)
                 if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim else x
                 for x in inputs]
        a = [np.array(x, copy=True) if i < n_mutable else x for i, x in enumerate(other)]
        b = [np.array(x, copy=True) if i < n_mutable else x for i, x in enumerate(other)]
        try:
            f(*a)
            replay(rec.steps, Ref("in", 0), b)
        except Exception as e:
            raise Unlowerable(f"the update cannot be checked on other values ({e})") from e
    if not all(same_bits(x, y) for x, y in zip(a[:n_mutable], b[:n_mutable])):
        raise Unlowerable("the recording and the update differ on other values")
    return rec.steps


def _check_other_values(f: Callable[..., Any], steps: list[Step], result: Any,
                        inputs: Sequence[Any]) -> None:
    """Replays the recording on other values and compares it with the rule there.

    Value-dependent Python control flow cannot hide in a recording (the stand-ins refuse to
    be branched on), but a rule can take another path for stand-ins than for arrays
    (``if isinstance(a, np.ndarray)``) that rounds alike on one set of values and not on
    another. Every floating input is nudged by about one part in a thousand."""
    rng = np.random.default_rng(0)
    other = []
    for x in inputs:
        if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f":
            nudge = 1.0 + 1e-3 * rng.standard_normal(np.shape(x))
            x = np.asarray(np.asarray(x) * nudge, dtype=x.dtype)
        other.append(x)
    with np.errstate(all="ignore"):
        try:
            want = f(*other)
            got = replay(steps, result, other)
        except Exception as e:  # the rule refuses these values: the recording stays unproven
            raise Unlowerable(f"the rule cannot be checked on other values ({e})") from e
    pairs = zip(got, want) if isinstance(result, tuple) else [(got, want)]
    if not all(same_bits(a, b) for a, b in pairs):
        raise Unlowerable("the recording and the rule differ on other values (the rule takes "
                          "another path for arrays than for stand-ins)")


def replay(steps: list[Step], result: Any, inputs: Sequence[Any], buffers: bool = True) -> Any:
    """Runs a recording on new `inputs`. With `buffers`, each call that takes an output
    buffer writes into a new one, as a plan's preallocated buffers are written."""
    values: list[Any] = []

    def get(x: Any) -> Any:
        if isinstance(x, Ref):
            return inputs[x.index] if x.where == "in" else values[x.index]
        return x

    for s in steps:
        args, kwargs = map_leaves(s.args, get), map_leaves(s.kwargs, get)
        if s.attr is not None:
            v = getattr(args[0], s.attr)
        elif s.inplace is not None:
            v = s.fn(*args, out=get(s.inplace), **kwargs)
        elif buffers and s.out and type(s.value) is np.ndarray and s.value.flags.c_contiguous:
            buf = np.empty(s.value.shape, s.value.dtype)
            v = s.fn(*args, buf, **kwargs) if s.out == "pos" else s.fn(*args, out=buf, **kwargs)
        else:
            v = s.fn(*args, **kwargs)
        values.append(v)
    return tuple(get(r) for r in result) if isinstance(result, tuple) else get(result)
