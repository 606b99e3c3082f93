r"""Tracing: one eager call of a function, recorded as a `networkx.DiGraph`.

While a function runs under a `Tracer`, every op that `minigrad.function.apply` runs reports
itself (and so do the few history-free numpy results: comparisons, argmax, sign). The trace is
the graph of that one call, with the node and edge attributes of `minigrad.graph` (``tensor``,
``op``, ``shape``, ``dtype``, ``name``, ``is_leaf``, ``requires_grad``, ``module``; edges
``argnums``, ``op``, ``formulas``) plus what a compiler needs:

- ``kind``: ``input`` (an argument of the call), ``param`` (a captured tensor that requires
  grad, read afresh at every replay), ``const`` (a captured tensor or literal that does not
  vary), ``op`` (an op of the registry) or ``raw`` (a history-free numpy function);
- ``fn`` and ``params``: the op (an `Op`) or numpy function and its keyword parameters;
- ``value``: the array this call computed (used by constant folding and by the shape pass);
- ``order``: the position in the call.

Graph attributes: ``inputs`` and ``outputs`` (node keys) and ``loss`` (the first output that
requires grad).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import networkx as nx
import numpy as np

from minigrad import creation
from minigrad.function import _creation_site
from minigrad.modes import state
from minigrad.ops.registry import Op
from minigrad.tensor import Tensor, Version, as_array

__all__ = ["TraceError", "Tracer", "trace"]

VARYING = ("input", "param")


class TraceError(RuntimeError):
    """A function does something that a trace cannot replay faithfully."""


class _NoRandom:
    """Stands in for minigrad's random generator while a function is traced: a draw would be
    made once and baked into every replay."""

    def __getattr__(self, name: str) -> Any:
        raise TraceError(
            f"minigrad.compile: the traced function draws random numbers (generator().{name}, "
            f"e.g. Dropout in training mode) at {_creation_site()}. A compiled step would replay "
            f"the same draw every time; call model.eval(), or draw outside and pass the mask "
            f"as an argument."
        )


class Tracer:
    """Records the ops of one call into a DiGraph (see the module docstring)."""

    def __init__(self, args: Sequence[Any]) -> None:
        self.G = nx.DiGraph()
        self.ids: dict[int, int] = {}  # id(tensor) → node key
        self.arrays: dict[int, int] = {}  # id(ndarray) of an argument → node key
        self.keep: list[Any] = []  # every traced object stays alive, so ids stay unique
        self.inputs: list[int] = []
        self.made_inside: set[int] = set()  # ids of tensors the function constructed
        for k, a in enumerate(args):
            if isinstance(a, Tensor):
                key = self._add_node(a, "input", None, a.data, index=k)
                self.ids[id(a)] = key
                self.arrays[id(a.data)] = key
            elif isinstance(a, np.ndarray):
                key = self._add_node(None, "input", None, a, index=k)
                self.arrays[id(a)] = key
            else:
                continue
            self.keep.append(a)
            self.inputs.append(key)

    # ------------------------------------------------------------------ nodes
    def _add_node(self, t: Tensor | None, kind: str, fn: Any, value: Any, **extra: Any) -> int:
        key = self.G.number_of_nodes()
        G = self.G
        opname = fn.name if isinstance(fn, Op) else getattr(fn, "__name__", None)
        G.add_node(
            key,
            tensor=t,
            op=opname if kind in ("op", "raw") else None,
            shape=np.shape(value),
            dtype=np.asarray(value).dtype,
            name=None if t is None else t.name,
            is_leaf=kind not in ("op", "raw"),
            requires_grad=False if t is None else t.requires_grad,
            module=None if t is None else t.module,
            kind=kind,
            fn=fn,
            params=extra.pop("params", {}),
            value=value,
            order=key,
            varying=kind in VARYING,
            **extra,
        )
        return key

    def _key(self, arg: Any, t: Tensor) -> int:
        """The node of an op's argument `arg` (lifted to tensor `t` by apply)."""
        if isinstance(arg, Tensor):
            key = self.ids.get(id(arg))
            if key is not None:
                return key
        key = self.arrays.get(id(t.data))
        if key is not None:  # the array of a traced value, outside its tensor (.data, detach)
            if self.G.nodes[key]["requires_grad"]:  # cut off from backward, as in eager mode
                key = self._raw_node(np.asarray, t, key, {})
            return key
        if isinstance(arg, Tensor):
            if arg._ctx is not None and arg.requires_grad:
                raise TraceError(
                    f"minigrad.compile: the traced function uses a tensor with history made "
                    f"outside it (op '{arg.op}', shape {arg.shape}) at {_creation_site()}; "
                    f"compute it inside the function, or pass .detach() of it."
                )
            kind = "param" if arg.requires_grad else "const"
            key = self._add_node(arg, kind, None, arg.data, version=arg.version)
            self.ids[id(arg)] = key
            self.keep.append(arg)
            return key
        view = self._view_of_input(t.data)
        if view is not None:  # numpy's own reshape or slice of an argument (``y.reshape(-1)``)
            src, params = view
            key = self._add_node(t, "raw", view_of, t.data, params=params, literals=(None,),
                                 args=(src,))
            self.G.nodes[key]["varying"] = True
            self._edges([src], key, "view_of", lambda i: "—")
            self.keep.append(t)
            return key
        key = self._add_node(t, "const", None, t.data)
        self.keep.append(t)
        return key

    def _view_of_input(self, arr: np.ndarray) -> tuple[int, dict[str, Any]] | None:
        for k in self.inputs:
            base = self.G.nodes[k]["value"]
            if base.flags.c_contiguous and np.may_share_memory(arr, base):
                offset = arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]
                return k, {"shape": arr.shape, "strides": arr.strides, "offset": offset}
        return None

    def _raw_node(self, fn: Callable[..., Any], t: Tensor, src: int, kw: dict[str, Any]) -> int:
        """A history-free copy or view of node `src` (``Tensor(x)``, ``x.detach()``)."""
        key = self._add_node(t, "raw", fn, t.data, params=kw, literals=(None,), args=(src,))
        G = self.G
        G.nodes[key].update(requires_grad=False, varying=G.nodes[src]["varying"])
        self._edges([src], key, G.nodes[key]["op"], lambda i: "—")
        self.ids[id(t)] = key
        self.arrays[id(t.data)] = key
        self.keep.append(t)
        return key

    def _edges(self, keys: Sequence[int], out: int, name: str, label: Callable[[int], str]) -> None:
        argnums: dict[int, list[int]] = {}
        for i, k in enumerate(keys):
            argnums.setdefault(k, []).append(i)
        for k, nums in argnums.items():
            self.G.add_edge(k, out, argnums=tuple(nums), op=name,
                            formulas=tuple(label(i) for i in nums))

    def record(self, op: Op, args: tuple[Any, ...], inputs: tuple[Tensor, ...],
               params: dict[str, Any], out: Tensor, saved: Any) -> None:
        """Called by `apply` after an op ran."""
        keys = [self._key(a, t) for a, t in zip(args, inputs)]
        key = self._add_node(out, "op", op, out.data, params=dict(params), saved=saved,
                             args=tuple(keys), where=_creation_site() if state.anomaly else None)
        self.G.nodes[key]["varying"] = any(self.G.nodes[k]["varying"] for k in keys)
        self._edges(keys, key, op.name, op.grad_formula)
        self.ids[id(out)] = key
        self.arrays[id(out.data)] = key
        self.keep.append(out)

    def record_raw(self, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any],
                   out: Tensor) -> None:
        """Called for a history-free result (``x > 0``, ``x.argmax()``): its tensor arguments
        become edges, the rest are kept as literals."""
        keys: list[int] = []
        spec: list[Any] = []
        for a in args:
            if isinstance(a, Tensor):
                spec.append(None)
                keys.append(self._key(a, a))
            else:
                spec.append(a)
        key = self._add_node(out, "raw", fn, out.data, params=dict(kw), literals=tuple(spec),
                             args=tuple(keys))
        self.G.nodes[key]["varying"] = any(self.G.nodes[k]["varying"] for k in keys)
        self._edges(keys, key, self.G.nodes[key]["op"], lambda i: "—")
        self.ids[id(out)] = key
        self.arrays[id(out.data)] = key
        self.keep.append(out)

    def made(self, t: Tensor, data: Any, dtype: Any) -> None:
        """Called by ``Tensor(data, dtype=…)`` while tracing: a copy of a traced value is
        recorded, so that a replay copies the new value."""
        if isinstance(data, Tensor):
            src = self.ids.get(id(data), self.arrays.get(id(data.data)))
        else:
            src = self.arrays.get(id(data)) if isinstance(data, np.ndarray) else None
        if src is None:
            self.made_inside.add(id(t))
            self.keep.append(t)
            return
        if t.requires_grad:
            raise TraceError(
                f"minigrad.compile: a new tensor that requires grad is made from a traced value "
                f"at {_creation_site()}; a leaf made inside a compiled function has no "
                f"gradient to keep. Make it outside, or use the value itself.")
        self._raw_node(as_array, t, src, {"dtype": dtype})

    def concrete(self, t: Tensor, what: str) -> None:
        """Called when Python asks for a tensor's value (``bool(t)``, ``t.item()``)."""
        key = self.ids.get(id(t))
        if key is not None and self.G.nodes[key]["varying"]:
            raise TraceError(
                f"minigrad.compile: {what} on a traced tensor (shape {t.shape}) at "
                f"{_creation_site()}. Its value changes from call to call, so Python control "
                f"flow on it cannot be compiled: keep the branch outside the compiled "
                f"function, or write it with tensor ops (e.g. minigrad.where)."
            )


def view_of(x: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...],
            offset: int) -> np.ndarray:
    """The view of argument `x` that numpy code in the traced function made (a reshape, a
    slice), made again on this call's argument (same shape, dtype and layout: the guards)."""
    return np.ndarray(shape, x.dtype, buffer=x, offset=offset, strides=strides)


@contextmanager
def _watching(tracer: Tracer) -> Iterator[None]:
    """While a function is traced, Tensor's constructor reports each new tensor to the tracer
    (a copy of a traced value is replayed as a copy), and the methods that hand Python a
    tensor's value (``item``, ``tolist``, ``bool``) report that too. The class is restored
    afterwards: eager code runs Tensor's own methods, with no tracing check in them."""
    own = {name: getattr(Tensor, name) for name in ("__init__", "item", "tolist", "__bool__")}

    def made(self: Tensor, data: Any, requires_grad: bool = False, dtype: Any = None,
             name: str | None = None) -> None:
        own["__init__"](self, data, requires_grad, dtype, name)
        tracer.made(self, data, dtype)

    def asks(method: str, what: str) -> Callable[[Tensor], Any]:
        def concrete(self: Tensor) -> Any:
            tracer.concrete(self, what)
            return own[method](self)
        return concrete

    watched = {"__init__": made, "item": asks("item", "item()"),
               "tolist": asks("tolist", "tolist()"), "__bool__": asks("__bool__", "bool()")}
    for name, f in watched.items():
        setattr(Tensor, name, f)
    try:
        yield
    finally:
        for name, f in own.items():
            setattr(Tensor, name, f)


def trace(fn: Callable[..., Any], args: Sequence[Any]) -> tuple[nx.DiGraph, Any]:
    """Runs ``fn(*args)`` once, eagerly, recording it. Returns the trace and fn's result."""
    if state.tracer is not None:
        raise TraceError("minigrad.compile: a compiled function called while tracing another")
    tracer = Tracer(args)
    epoch = Version.epoch
    state.tracer = tracer
    creation._override = _NoRandom()  # every generator, the default and any passed one
    try:
        with _watching(tracer):
            result = fn(*args)
    finally:
        state.tracer = None
        creation._override = None
    if Version.epoch != epoch:
        raise TraceError(
            "minigrad.compile: the traced function changed a tensor in place (add_, "
            "__setitem__, an optimizer step…); a compiled function must be pure. Keep the "
            "update outside it, or write it out of place (x = x + y)."
        )
    G = tracer.G
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    keys = []
    for o in outs:
        if not isinstance(o, Tensor):
            raise TraceError(
                f"minigrad.compile: the function must return a Tensor or a tuple of Tensors, "
                f"got {type(o).__name__}"
            )
        key = tracer.ids.get(id(o))
        keys.append(tracer._key(o, o) if key is None else key)
    for _, d in G.nodes(data=True):
        t = d["tensor"]
        if d["kind"] in ("op", "raw") and t is not None and (t._hooks or t._retain):
            raise TraceError(
                "minigrad.compile: a hook or retain_grad() on a tensor inside the compiled "
                "function; the compiled backward keeps no intermediate tensors. Register it "
                "on a parameter or run eagerly."
            )
    _check_copied_inputs(G, tracer.inputs, tracer.made_inside)
    G.graph["inputs"] = list(tracer.inputs)
    G.graph["outputs"] = keys
    G.graph["tuple"] = isinstance(result, (tuple, list))
    loss = next((k for k, o in zip(keys, outs) if o.requires_grad and o._ctx is not None), None)
    G.graph["loss"] = loss
    return G, result


def _check_copied_inputs(G: nx.DiGraph, inputs: list[int], made: set[int]) -> None:
    """A literal array or a tensor made inside the function that equals an argument (and is
    not a constant fill) is almost surely a copy of it (``Tensor(np.array(x))``, ``x + 0`` in
    numpy): replaying would bake the first call's data in."""
    arrays = [G.nodes[k]["value"] for k in inputs]
    for _, d in G.nodes(data=True):
        lifted = "version" not in d  # a literal, not a tensor the function captured
        if d["kind"] != "const" or not (lifted or id(d["tensor"]) in made):
            continue
        v = d["value"]
        if v.size < 2 or np.all(v == v.flat[0]):
            continue
        for k, a in zip(inputs, arrays):
            if a.shape == v.shape and a.dtype == v.dtype and np.array_equal(a, v):
                raise TraceError(
                    f"minigrad.compile: argument {G.nodes[k]['index']} is copied into a new "
                    f"tensor inside the function (e.g. minigrad.Tensor(x)); the compiled step "
                    f"would replay the first call's data. Pass a Tensor and use it directly."
                )
