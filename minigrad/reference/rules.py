r"""A loss's graph with its local rules: each op's own VJP, applied one node at a time.

What the diagnoses of `minigrad.reference.diagnosis` need beyond two arrays: the gradient the
rules give at a tensor from the gradients above it (the learner's own, or autograd's), the
contribution of each use of a tensor used more than once, and how a change of the gradient at
one tensor carries down to another. Every rule is the engine's: ``t._ctx.vjp`` (the
registry's VJP, summed back to the input's shape), called on the tensors' own arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Consumer", "Rules", "RulesUnavailable", "SearchBudget"]


@dataclass(frozen=True)
class Consumer:
    """One use of a tensor: the op that reads it (as input `argnum`), the module that op ran
    in, and its result, written as the forward computed it (``xhat = mul(d, inv_sigma)``)."""

    op: str
    module: str | None
    output: str
    argnum: int = 0

    def __str__(self) -> str:
        return self.output + (f" in {self.module}" if self.module else "")

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "module": self.module, "output": self.output,
                "argnum": self.argnum}


class RulesUnavailable(Exception):
    """A local rule could not run (the graph's values are gone)."""


class SearchBudget(Exception):
    """A search called more local rules than its budget allows (`Rules.limit`)."""


@dataclass
class Rules:
    """A loss's graph (`minigrad.graph`) with its local rules: each op's VJP, applied one
    node at a time through the tensors' history (``t._ctx.vjp``: the registry's rule, summed
    back to the input's shape).

    Attributes:
        G: the graph; ``order`` its node ids in forward (topological) order.
        calls: how many local rules have run; past ``limit`` (when set) `local` raises
            `SearchBudget`, so that a search over a large graph stays short.
    """

    G: Any
    order: list[int]
    position: dict[int, int] = field(default_factory=dict)
    calls: int = 0
    limit: int | None = None
    _above: dict[int, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {n: i for i, n in enumerate(self.order)}

    def tensor(self, nid: int) -> Any:
        return self.G.nodes[nid]["tensor"]

    def local(self, nid: int, i: int, g: Any, args: Sequence[Any] | None = None) -> np.ndarray:
        """The gradient node `nid`'s op sends to its input `i` from δ = `g` (on `args`, the
        inputs' arrays, unless other arrays are given)."""
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise SearchBudget(f"{self.calls - 1} local rules")
        t = self.tensor(nid)
        ctx = t._ctx
        if args is None:
            args = [x.data for x in ctx.inputs]
        try:
            with np.errstate(all="ignore"):
                return np.asarray(ctx.vjp(i, np.asarray(g), t.data, list(args)))
        except Exception as e:  # a rule that cannot run now: no diagnosis needs guessing
            raise RulesUnavailable(f"op '{ctx.op.name}': {type(e).__name__}: {e}") from e

    def uses(self, nid: int) -> Iterator[tuple[int, int]]:
        """``(consumer, argnum)`` for every use of tensor `nid` by an op of the graph."""
        for c in self.G.successors(nid):
            if self.tensor(c)._ctx is None:
                continue
            for i in self.G.edges[nid, c]["argnums"]:
                yield c, i

    def contributions(self, nid: int, grads: dict[int, Any]) -> list[tuple[int, int, Any]]:
        """``(consumer, argnum, gradient)`` of each use of `nid`, from δ = ``grads[consumer]``
        (a consumer without a gradient contributes nothing)."""
        return [(c, i, self.local(c, i, grads[c])) for c, i in self.uses(nid) if c in grads]

    def sweep(self, root: int, seed: Any, given: dict[int, Any] | None = None,
              ) -> tuple[dict[int, Any], dict[int, Any]]:
        """Backward from `root`, node by node with the local rules. Returns ``up`` (what
        the rules give at each node from the gradients above it) and ``used`` (the gradient
        each node passes on: ``given[nid]`` where given, else ``up[nid]``)."""
        given = given or {}
        acc: dict[int, Any] = {root: np.asarray(seed)}
        up: dict[int, Any] = {}
        used: dict[int, Any] = {}
        for nid in reversed(self.order):
            if nid not in acc:
                continue
            up[nid] = acc.pop(nid)
            g = used[nid] = given.get(nid, up[nid])
            ctx = self.tensor(nid)._ctx
            if ctx is None:
                continue
            for i, x in enumerate(ctx.inputs):
                if x.requires_grad:
                    gx = self.local(nid, i, g)
                    acc[id(x)] = acc[id(x)] + gx if id(x) in acc else gx
        return up, used

    def above(self, nid: int) -> set[int]:
        """The tensors computed from `nid` (its descendants), `nid` included."""
        if nid not in self._above:
            seen = {nid}
            stack = [nid]
            while stack:
                for s in self.G.successors(stack.pop()):
                    if s not in seen:
                        seen.add(s)
                        stack.append(s)
            self._above[nid] = seen
        return self._above[nid]

    def carry(self, start: int, delta: Any, target: int) -> Any:
        """How a change `delta` of the gradient at `start` changes the gradient at
        `target` below it, through the local rules (they are linear in δ)."""
        if start == target:
            return delta
        between = self.above(target)
        acc: dict[int, Any] = {start: delta}
        for nid in reversed(self.order[self.position[target]:self.position[start] + 1]):
            if nid not in acc or nid == target:
                continue
            g = acc.pop(nid)
            ctx = self.tensor(nid)._ctx
            for i, x in enumerate(ctx.inputs):
                if x.requires_grad and id(x) in between:
                    gx = self.local(nid, i, g)
                    acc[id(x)] = acc[id(x)] + gx if id(x) in acc else gx
        if target not in acc:  # `start` is not above `target`: no change reaches it
            return np.zeros(self.tensor(target).shape)
        return acc[target]

    def region(self, nid: int, checked: set[int], limit: int = 400,
               ) -> tuple[list[int], list[int]]:
        """Where a mistake that shows at `nid` can have been made: the tensors whose
        gradient flows into it without passing a checked tensor (`nid` first), and the
        ops that read them (by their results' ids)."""
        tensors: list[int] = [nid]
        ops: list[int] = []
        seen_ops: set[int] = set()
        stack = [nid]
        while stack and len(ops) < limit:
            for s in self.G.successors(stack.pop()):
                if s in seen_ops or self.tensor(s)._ctx is None:
                    continue
                seen_ops.add(s)
                ops.append(s)
                if s not in checked:
                    tensors.append(s)
                    stack.append(s)
        return tensors, ops

    def consumer(self, c: int, i: int) -> Consumer:
        """The use of input `i` by the op that made node `c`, for a sentence: past ops that
        only re-view it (``W.T``), up to the op that computes with it."""
        while (self.tensor(c)._ctx.op.role == "pass-through" and not self.tensor(c).name
               and len(nxt := list(self.G.successors(c))) == 1):
            c = nxt[0]
        t = self.tensor(c)
        return Consumer(t._ctx.op.name, t.module, self.describe(c), i)

    def name(self, nid: int) -> str:
        """A tensor's name, or the call that made it (``pow(d, 2)``)."""
        return _short(self.tensor(nid), 2)

    def describe(self, nid: int) -> str:
        """The op that made a tensor, as a formula: ``h1 = tanh(z)``, ``pow(d, 2)``."""
        t = self.tensor(nid)
        if t._ctx is None:
            return self.name(nid)
        call = _call(t, 2)
        return f"{t.name} = {call}" if t.name else call


def _short(t: Any, depth: int) -> str:
    if t.name:
        return str(t.name)
    if t.data.size == 1 and t._ctx is None:
        return f"{t.data.item():g}"
    if t._ctx is None or depth <= 0:
        return "…"
    return _call(t, depth)


def _call(t: Any, depth: int) -> str:
    ctx = t._ctx
    return f"{ctx.op.name}({', '.join(_short(x, depth - 1) for x in ctx.inputs)})"
