r"""Forward mode: tangents carried alongside values, one op at a time.

While `minigrad.func.jvp` runs a function, every op meets the jvp level's handler here. It
runs the op, then computes the tangent of the result from the tangents of its inputs with
the op's JVP, and remembers it beside the result:

    ẏ = Σ_i J_i ẋ_i        (one term per input that has a tangent)

The terms come from the registry. An op that declares `jvps` has one explicit rule per input
(matmul: ``Ẇ h`` and ``W ḣ``, so ``ȧ = Ẇ h + W ḣ``); each term is broadcast to the result's
shape, the mirror of the reverse sweep summing a gradient back over broadcast axes. An op
without `jvps` gets its JVP *derived* from its VJPs by linearity: the VJP ``u ↦ Jᵀu`` is
linear in `u`, so with a dummy `u`

    s(u) = Σ_i ⟨vjp_i(u), ẋ_i⟩ = ⟨u, J ẋ⟩,   and   ∂s/∂u = J ẋ,

one reverse sweep through the VJP itself (the double-VJP trick). `derived_jvps` lists them.

The rules are written with minigrad ops and run through the handlers below this level, so a
tangent is itself a recorded value: an outer `jvp` differentiates it again (second order in
forward mode), an outer `grad` differentiates through it, and a `jvp` of a function that
runs a backward pass pushes its tangent through that backward too (forward-over-reverse,
the way `minigrad.func.hessian` works).

Only the tangents of live tensors are kept (weakly), so forward mode stores no tape: its
memory does not grow with the depth of the network. ``keep=True`` keeps every tangent, for
`minigrad.visualize.draw` (``tangents=True``).
"""

from __future__ import annotations

import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.autograd import grad as _grad
from minigrad.levels import Level, active, run
from minigrad.modes import enable_grad
from minigrad.ops import either
from minigrad.ops.registry import REGISTRY, Op
from minigrad.tensor import Tensor

__all__ = ["JvpLevel", "TangentRecord", "tangent_of_op", "derived_jvps", "tangents_of",
           "jvp_formula"]


def derived_jvps() -> list[str]:
    """The ops whose JVP is derived from their VJPs (they declare no explicit `jvps`)."""
    return [name for name, op in REGISTRY.items() if op.jvps is None]


def _dotted(symbol: str) -> str:
    """The tangent of a symbol of the lecture: ``a`` → ``ȧ``, ``ŷ`` → ``ŷ̇``."""
    if len(symbol.strip()) > 2:
        return f"d({symbol})"
    return unicodedata.normalize("NFC", symbol + "\u0307")  # ḣ as one character where it is


def jvp_formula(op: Op, argnums: Sequence[int] | None = None) -> str:
    """The op's forward-mode formula, ``ȧ = Ẇ h + W ḣ`` (the terms of `argnums` only)."""
    lhs = op.formula.split("=", 1)[0].strip() if "=" in op.formula else "y"
    note = "  (derived from the VJP)" if op.derived_jvp else ""
    if op.variadic and argnums is None:  # one rule for every input: a sum over them
        template = op.jvps[0][0] if op.jvps and op.jvps[0] else "Jᵢ ẋᵢ"
        return f"{_dotted(lhs)} = Σᵢ {template.replace('{i}', 'ᵢ')}{note}"
    idx = range(len(op.vjps)) if argnums is None else argnums
    terms = [op.jvp_label(i) for i in idx if op.jvp_label(i) != "—"]
    rhs = terms[0] if terms else "0"
    for t in terms[1:]:
        rhs += f" − {t[1:]}" if t.startswith("−") else f" + {t}"
    return f"{_dotted(lhs)} = {rhs}{note}"


@dataclass
class TangentRecord:
    """Every tangent of one `jvp(..., keep=True)`: by tensor, and each op's terms by edge
    (input, result), for the diagrams."""

    tensors: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    terms: dict[tuple[int, int], tuple[str, Tensor]] = field(default_factory=dict)

    def tangent(self, t: Tensor) -> Tensor | None:
        e = self.tensors.get(id(t))
        return None if e is None or e[0] is not t else e[1]

    def term(self, x: Tensor, y: Tensor) -> tuple[str, Tensor] | None:
        return self.terms.get((id(x), id(y)))


_RECORDS: dict[int, tuple[Any, TangentRecord]] = {}


def keep_record(out: Tensor, record: TangentRecord) -> None:
    """Files `record` under the output `out` (for as long as `out` lives)."""
    key, table = id(out), _RECORDS

    def forget(ref: Any) -> None:
        table.pop(key, None)

    _RECORDS[key] = (weakref.ref(out, forget), record)


def tangents_of(out: Tensor) -> TangentRecord | None:
    """The tangents a ``func.jvp(..., keep=True)`` that returned `out` kept (None: none)."""
    e = _RECORDS.get(id(out))
    return None if e is None or e[0]() is not out else e[1]


class JvpLevel(Level):
    """The handler of one `jvp`: each tensor's tangent, kept while the tensor lives."""

    kind = "jvp"

    def __init__(self, keep: bool = False) -> None:
        super().__init__()
        self._tangents: dict[int, tuple[Any, Tensor, int]] = {}
        self.record = TangentRecord() if keep else None

    def tangent(self, t: Tensor) -> Tensor | None:
        e = self._tangents.get(id(t))
        if e is None or e[0]() is not t:
            return None
        if t.version != e[2]:
            raise RuntimeError(
                f"jvp: a tensor of shape {tuple(t.shape)} that carries a tangent was changed in "
                f"place (t += u, t[i] = v, t.mul_(u)) inside the function; forward mode follows "
                f"values, not memory, so its tangent would be stale. Write the change out of "
                f"place (t = t + u)")
        return e[1]

    def set(self, t: Tensor, tangent: Tensor) -> None:
        key, table = id(t), self._tangents

        def forget(ref: Any) -> None:
            if table.get(key, (None,))[0] is ref:
                del table[key]

        table[key] = (weakref.ref(t, forget), tangent, t.version)
        if self.record is not None:
            self.record.tensors[key] = (t, tangent)

    def claims(self, inputs: tuple[Tensor, ...], params: dict[str, Any]) -> bool:
        table = self._tangents
        return any(id(x) in table for x in inputs)

    def process(self, op: Op, inputs: tuple[Tensor, ...], params: dict[str, Any],
                below: int) -> Tensor:
        out = run(below, op, inputs, params)
        ts = [self.tangent(x) for x in inputs]
        if all(t is None for t in ts) or out.dtype.kind not in "fc":
            return out
        graph = any(lv.depth < self.depth for lv in active("jvp"))
        terms = tangent_of_op(op, out, inputs, ts, params, graph, self.record is not None)
        if terms:
            self.set(out, _total(terms, out))
            if self.record is not None:
                for i, term in terms:
                    self.record.terms[(id(inputs[i]), id(out))] = (op.jvp_label(i), term)
        return out


def _total(terms: list[tuple[int, Tensor]], out: Tensor) -> Tensor:
    total = terms[0][1]
    for _, t in terms[1:]:
        total = total + t
    if total.dtype != out.dtype:
        total = total.astype(out.dtype)
    return total


def tangent_of_op(op: Op, out: Tensor, inputs: Sequence[Tensor], ts: Sequence[Tensor | None],
                  params: dict[str, Any], graph: bool = False,
                  apart: bool = False) -> list[tuple[int, Tensor]]:
    """The terms `J_i ẋ_i` of the result's tangent, each of the result's shape, for the
    inputs that have a tangent `ts[i]` (explicit rules, or derived ones: one term for all
    inputs, or with `apart` one per input). `graph`: record the derived ones, for an outer
    jvp level."""
    if op.jvps is None:
        if not apart:
            d = _derived(op, out, inputs, ts, params, graph)
            first = next(i for i, t in enumerate(ts) if t is not None)
            return [] if d is None else [(first, d)]
        terms = []
        for i, t in enumerate(ts):
            one = [t if j == i else None for j in range(len(ts))]
            d = None if t is None else _derived(op, out, inputs, one, params, graph)
            if d is not None:
                terms.append((i, d))
        return terms
    terms = []
    for i, t in enumerate(ts):
        f = None if t is None else op.jvp(i)
        if f is None:
            continue
        term = f(t, out, *inputs, argnum=i, **params) if op.variadic else f(
            t, out, *inputs, **params)
        if term.shape != out.shape:
            term = either.broadcast_to(term, out.shape)
            if term.shape != out.shape:
                raise RuntimeError(f"op '{op.name}': its JVP for input {i} gave shape "
                                   f"{term.shape}, but the output has shape {out.shape}")
        terms.append((i, term))
    return terms


def _saved(op: Op, out: Tensor, inputs: Sequence[Tensor], params: dict[str, Any]) -> Any:
    ctx = out._ctx
    if ctx is not None and not ctx.freed and ctx.saved is not None:
        return ctx.saved
    return op.forward(*[x._data for x in inputs], **params)[1]


def _call_vjp(op: Op, i: int, u: Tensor, out: Tensor, inputs: Sequence[Tensor],
              params: dict[str, Any], saved: Any) -> Any:
    if op.vjp(i) is None:
        return None
    g = op.call_vjp(i, u, out, inputs, params, saved)
    shape = inputs[i].shape
    return g if g.shape == shape else either.unbroadcast(g, shape)


def _derived(op: Op, out: Tensor, inputs: Sequence[Tensor], ts: Sequence[Tensor | None],
             params: dict[str, Any], graph: bool) -> Tensor | None:
    """`J ẋ` from the VJPs: ∂/∂u of Σ_i ⟨vjp_i(u), ẋ_i⟩, with u a dummy cotangent."""
    saved = _saved(op, out, inputs, params) if op.keeps else None
    graph = graph or any(x.requires_grad for x in inputs) or any(
        t is not None and t.requires_grad for t in ts)
    with enable_grad():
        u = Tensor._wrap(np.zeros(out.shape, dtype=out.dtype)).requires_grad_()
        s = None
        for i, t in enumerate(ts):
            g = None if t is None else _call_vjp(op, i, u, out, inputs, params, saved)
            if g is None or not isinstance(g, Tensor):
                continue
            term = (g * t).sum()
            s = term if s is None else s + term
        if s is None or not s.requires_grad:
            return None
        (ydot,) = _grad(s, [u], create_graph=graph, allow_unused=True)
    if ydot is None:
        return None
    return ydot
