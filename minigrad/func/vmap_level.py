r"""One active `vmap`: the handler that turns each op on per-example tensors into the same
op on the whole batch.

For an op, the level unwraps its `BatchedTensor` inputs into whole batches with a batch axis
(`bdim`) each, and calls the op's batching rule (`minigrad.func.batching`): usually the same
op with its axes shifted by one (``sum(x, axis=1)`` of one example is ``sum(X, axis=2)`` of
the batch). The rule's own ops go to the handlers below, so they are recorded as ordinary
ops on whole batches: a reverse sweep through them gives every example's gradient at once.

An op without a rule runs once per example and the results are stacked, with a warning
naming the op; random numbers drawn inside follow the `randomness` policy
(``"error"``, ``"different"``, ``"same"``), as torch.func's.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import creation
from minigrad.func.batched import BatchedTensor, example_source, wrap
from minigrad.levels import Level, at, run
from minigrad.ops.registry import REGISTRY, Op
from minigrad.tensor import Tensor

__all__ = ["VmapLevel", "Ctx", "RANDOMNESS"]

RANDOMNESS = ("error", "different", "same")

Rule = Callable[..., tuple[Tensor, "int | None"]]
RULES: dict[str, Rule] = {}
"""Batching rules by op name, filled by `minigrad.func.batching`."""


class VmapLevel(Level):
    """The handler of one `vmap` over a batch of `size` examples."""

    kind = "vmap"

    def __init__(self, size: int, randomness: str) -> None:
        super().__init__()
        self.size = size
        self.randomness = randomness
        self.warned: set[str] = set()

    def claims(self, inputs: tuple[Tensor, ...], params: dict[str, Any]) -> bool:
        for x in inputs:
            if type(x) is BatchedTensor:
                if x._level is self:
                    return True
            elif self._source(x._data, "an input") is not None:
                return True
        return any(self._source(v, f"its parameter {k}") is not None
                   for k, v in params.items() if isinstance(v, (np.ndarray, tuple)))

    def _source(self, value: Any, what: str) -> BatchedTensor | None:
        """The batched tensor of this level that `value` (an array, or a tuple holding
        arrays) is one example's view of, if it is one."""
        if isinstance(value, tuple):
            for v in value:
                found = self._source(v, what)
                if found is not None:
                    return found
            return None
        if not isinstance(value, np.ndarray):
            return None
        seen, src = example_source(value)
        if seen and src is None:
            raise RuntimeError(
                f"vmap: {what} is an array computed with numpy from a batched tensor's .data, "
                f"which holds the first example only; compute it with minigrad ops instead "
                f"(x > 0, x.where(...), x.sum(...)), which run on every example")
        return src if src is not None and src._level is self else None

    def _resolve(self, value: Any) -> Any:
        """`value` with each array that is one example's view replaced by its batch."""
        if isinstance(value, tuple):
            return tuple(self._resolve(v) for v in value)
        src = self._source(value, "a value")
        return value if src is None else src

    def process(self, op: Op, inputs: tuple[Tensor, ...], params: dict[str, Any],
                below: int) -> Tensor:
        inputs = tuple(x if type(x) is BatchedTensor else self._resolve(x._data)
                       if self._source(x._data, "an input") is not None else x for x in inputs)
        params = {k: self._resolve(v) if isinstance(v, (np.ndarray, tuple)) else v
                  for k, v in params.items()}
        vals = [x._inner if type(x) is BatchedTensor and x._level is self else x
                for x in inputs]
        bdims = [x._bdim if type(x) is BatchedTensor and x._level is self else None
                 for x in inputs]
        ctx = Ctx(self, op, below)
        rule = RULES.get(op.name)
        batched_params = any(isinstance(v, BatchedTensor) or (
            isinstance(v, tuple) and any(isinstance(u, BatchedTensor) for u in v))
            for v in params.values())
        bdim: int | None
        if rule is None or batched_params:
            out, bdim = ctx.loop(vals, bdims, params)
        else:
            out, bdim = rule(ctx, vals, bdims, params)
        return out if bdim is None else wrap(out, bdim, self)


class Ctx:
    """What a batching rule works with: the batch size `B`, the op, and helpers that run
    ops on whole batches (below this level)."""

    def __init__(self, level: VmapLevel, op: Op, below: int) -> None:
        self.level, self.op, self.below = level, op, below
        self.B = level.size

    def apply(self, op: Op | str, *vals: Tensor, **params: Any) -> Tensor:
        """`op` on whole batches, run by the handlers below this level."""
        o = REGISTRY[op] if isinstance(op, str) else op
        return run(self.below, o, tuple(vals), params)

    def same(self, vals: Sequence[Tensor], **params: Any) -> Tensor:
        return self.apply(self.op, *vals, **params)

    def front(self, v: Tensor, bdim: int | None) -> Tensor:
        """`v` with its batch axis first (`v` itself when it is there already)."""
        if bdim is None or bdim == 0:
            return v
        axes = (bdim,) + tuple(i for i in range(v.ndim) if i != bdim)
        return self.apply("transpose", v, axes=axes)

    def materialize(self, v: Tensor, bdim: int | None) -> Tensor:
        """`v` with a batch axis first: repeated B times if it had none."""
        if bdim is not None:
            return self.front(v, bdim)
        v1 = self.apply("reshape", v, shape=(1,) + tuple(v.shape))
        return self.apply("broadcast_to", v1, shape=(self.B,) + tuple(v.shape))

    def align(self, vals: Sequence[Tensor], bdims: Sequence[int | None],
              rank: int | None = None) -> list[Tensor]:
        """Inputs of a broadcasting op lined up for numpy: the batched ones with the batch
        axis first and size-1 axes up to the largest rank of one example (`rank`), so the
        batch axis never meets an axis of an unbatched input."""
        R = rank if rank is not None else max(
            (v.ndim - (d is not None) for v, d in zip(vals, bdims)), default=0)
        out = []
        for v, d in zip(vals, bdims):
            if d is None:
                out.append(v)
                continue
            v = self.front(v, d)
            r = v.ndim - 1
            if r < R:
                v = self.apply("reshape", v, shape=(self.B,) + (1,) * (R - r) + tuple(v.shape[1:]))
            out.append(v)
        return out

    def logical(self, fn: Callable[..., Tensor], vals: Sequence[Any],
                bdims: Sequence[int | None]) -> tuple[Tensor, int | None]:
        """`fn` on one example's view of `vals`, through this level again: a rule written
        as a composition of other ops, each batched by its own rule."""
        lv = self.level
        views = [wrap(v, d, lv) if d is not None else v for v, d in zip(vals, bdims)]
        with at(self.below - 1):
            r = fn(*views)
        if type(r) is BatchedTensor and r._level is lv:
            return r._inner, r._bdim
        return r, None

    def loop(self, vals: Sequence[Tensor], bdims: Sequence[int | None],
             params: dict[str, Any]) -> tuple[Tensor, int]:
        """The fallback: the op once per example, the results stacked (with a warning)."""
        lv, name = self.level, self.op.name
        if name not in lv.warned:
            lv.warned.add(name)
            warnings.warn(f"vmap: op '{name}' has no batching rule for these inputs; it runs "
                          f"once per example ({self.B} times) and the results are stacked, "
                          f"which is correct but slow", stacklevel=_user_level())
        outs = []
        for b in range(self.B):
            args = [v if d is None else self.apply("getitem", v, index=(slice(None),) * d + (b,))
                    for v, d in zip(vals, bdims)]
            outs.append(self.apply(self.op, *args, **_example_params(params, b)))
        return self.apply("stack", *outs, axis=0), 0


def _example_params(params: dict[str, Any], b: int) -> dict[str, Any]:
    def pick(v: Any) -> Any:
        if isinstance(v, tuple):
            return tuple(pick(u) for u in v)
        if isinstance(v, BatchedTensor):
            inner = v._inner
            if isinstance(inner, BatchedTensor):
                raise RuntimeError("vmap: an index batched by two nested vmaps is not "
                                   "supported; index with a tensor batched by one vmap")
            return np.take(inner._data, b, axis=v._bdim)
        return v

    return {k: pick(v) for k, v in params.items()}


def _user_level() -> int:
    """The stack level of the first frame outside minigrad, for warnings."""
    f: Any = sys._getframe(1)
    n = 1
    while f is not None and "/minigrad/" in f.f_code.co_filename.replace("\\", "/"):
        f, n = f.f_back, n + 1
    return n


# ------------------------------------------------------------------ random numbers
class _RandomGuard:
    """Stands in for the random generator while a vmap runs: a draw is an error unless the
    vmap says how examples share random numbers."""

    def __init__(self, policy: str, previous: Any) -> None:
        self.policy, self.previous = policy, previous

    def __getattr__(self, name: str) -> Any:
        caller = sys._getframe(1)
        who = caller.f_code.co_name
        module = caller.f_globals.get("__name__", "")
        if self.policy == "different" and module == "minigrad.ops.dropout":
            return getattr(self._generator(), name)  # the dropout rule draws per example
        if self.policy == "error":
            raise RuntimeError(
                f"vmap: {who} draws random numbers inside vmap, and vmap was not told how the "
                f"examples share them; pass randomness='different' (each example its own "
                f"draw) or randomness='same' (one draw for all), as torch.func.vmap")
        raise RuntimeError(
            f"vmap: {who} draws random numbers inside vmap with randomness='different', "
            f"which minigrad supports for dropout only; draw the numbers before vmap, with "
            f"the batch axis, and pass them in")

    def _generator(self) -> Any:
        if self.previous is not None:
            return self.previous
        return creation.default_generator.numpy


def guard_random(policy: str) -> Any:
    """Installs the guard for `policy` (none for 'same'); returns what to restore."""
    previous = creation._override
    if policy != "same":
        creation._override = _RandomGuard(policy, previous)
    return previous


def restore_random(previous: Any) -> None:
    creation._override = previous


def draw_mask(shape: tuple[int, ...], p: float) -> np.ndarray:
    """A keep-mask for dropout, one per example (``randomness='different'``)."""
    return np.asarray(creation.default_generator.numpy.random(shape) >= p)
