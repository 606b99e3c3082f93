r"""The transforms that are active, innermost last, and the one place every op meets them.

While a `jvp` or a `vmap` runs, `minigrad.function.apply` hands each op to `dispatch`
(through ``minigrad.modes.state.interpose``) instead of running it. `dispatch` passes the op
down a chain of handlers, one per active transform:

1. every ``vmap`` level, innermost first: each turns an op on per-example tensors (its
   `BatchedTensor`\ s) into the same op on the whole batch, with its axes shifted (a batching
   rule), and hands that *physical* op on;
2. every ``jvp`` level, innermost first: each runs the op, then computes the result's
   tangent from its inputs' tangents with the op's JVP (`minigrad.forward`);
3. the engine's own `apply`, which runs the forward in numpy and records the history.

A handler's own work (a batching rule's reshapes, a JVP's products) goes through the
handlers below it only, so an outer ``jvp`` sees an inner ``jvp``'s tangent computations and
differentiates them too (nested forward mode), and forward mode sees the ops of a backward
pass that `grad` records (forward-over-reverse: Hessian-vector products). The jvp levels sit
below every vmap level: they, the reverse sweep and every VJP and JVP rule work on whole
batches (plain tensors), so a rule never meets a per-example view.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from minigrad.function import _one_dtype, _promote, _same_float, apply
from minigrad.modes import state
from minigrad.ops.registry import Op
from minigrad.tensor import Tensor, lift

__all__ = ["Level", "push", "pop", "active", "dispatch", "run", "at", "physical", "below"]


class Level:
    """One active transform. `kind` is ``"vmap"``, ``"jvp"`` or ``"grad"`` (grad takes no
    part in dispatch: reverse mode works on the recorded graph)."""

    kind = "grad"

    def __init__(self) -> None:
        self.active = True
        self.depth = len(_stack.levels)

    def claims(self, inputs: tuple[Tensor, ...], params: dict[str, Any]) -> bool:
        """Whether this level has something to do for an op on `inputs`."""
        return False

    def process(self, op: Op, inputs: tuple[Tensor, ...], params: dict[str, Any],
                below: int) -> Tensor:
        """Runs `op` at this level; `below` is where the handlers under this one start."""
        raise NotImplementedError


class _Stack(threading.local):
    def __init__(self) -> None:
        self.levels: list[Level] = []
        self.chain: list[Level] = []
        self.start = 0


_stack = _Stack()


def active(kind: str | None = None) -> list[Level]:
    """The active levels (of one kind), outermost first."""
    return [lv for lv in _stack.levels if kind is None or lv.kind == kind]


def push(level: Level) -> None:
    if _stack.start:
        raise RuntimeError("minigrad.func: a transform cannot start inside a batching rule or "
                           "a JVP rule; call it from your own code")
    _stack.levels.append(level)
    _rebuild()


def pop(level: Level) -> None:
    level.active = False
    _stack.levels.remove(level)
    _rebuild()


def _rebuild() -> None:
    levels = _stack.levels
    _stack.chain = ([lv for lv in reversed(levels) if lv.kind == "vmap"]
                    + [lv for lv in reversed(levels) if lv.kind == "jvp"])
    _stack.start = 0
    state.interpose = dispatch if _stack.chain else None


def _set_start(k: int) -> int:
    prev = _stack.start
    _stack.start = k
    state.interpose = dispatch if k < len(_stack.chain) else None
    return prev


@contextmanager
def at(k: int) -> Iterator[None]:
    """Ops inside go to the handlers from position `k` of the chain on (past the end: to
    the engine directly)."""
    prev = _set_start(k)
    try:
        yield
    finally:
        _set_start(prev)


def physical() -> int:
    """The position of the first handler below every vmap level: ops made there work on
    whole batches."""
    return sum(1 for lv in _stack.chain if lv.kind == "vmap")


def below(level: Level) -> int:
    """The position just below `level` in the chain."""
    return _stack.chain.index(level) + 1


def normalize(op: Op, args: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """`args` as the engine's `apply` would see them: promoted to one dtype where the op
    asks for it (the casts are ops too, so the transforms see them), numbers and arrays made
    constant tensors."""
    if op.promote:
        same = _same_float(*args) if len(args) == 2 else _one_dtype(args)
        if not same:
            args = _promote(op, args)
    like = next((a for a in args if isinstance(a, Tensor)), None)
    return tuple([a if isinstance(a, Tensor) else lift(a, like) for a in args])


def dispatch(op: Op, args: tuple[Any, ...], params: dict[str, Any]) -> Tensor:
    """The engine's `apply` while a transform is active (``state.interpose``)."""
    return run(_stack.start, op, normalize(op, args), params)


def run(k: int, op: Op, inputs: tuple[Tensor, ...], params: dict[str, Any]) -> Tensor:
    """`op` on `inputs`, handed to the first handler from position `k` on that claims it;
    none does: the engine runs it."""
    chain = _stack.chain
    for j in range(k, len(chain)):
        h = chain[j]
        if h.claims(inputs, params):
            prev = _set_start(j + 1)
            try:
                return h.process(op, inputs, params, j + 1)
            finally:
                _set_start(prev)
    prev = _set_start(len(chain))
    try:
        return apply(op, *inputs, **params)
    finally:
        _set_start(prev)
