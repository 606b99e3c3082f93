r"""`minigrad.compile`: trace a function once, run the passes over its graph, replay the plan."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from minigrad.compiler.lower import GuardMiss
from minigrad.compiler.passes import PIPELINE, OptimizerError, training_pipeline
from minigrad.compiler.plan import STALE, Plan
from minigrad.compiler.trace import trace
from minigrad.modes import state
from minigrad.tensor import Tensor

__all__ = ["CompiledFunction", "compile", "compile_plan"]


def _signature(a: Any) -> tuple[Any, ...]:
    if isinstance(a, Tensor):
        return ("tensor", a.data.shape, a.data.dtype, a.requires_grad, a.data.strides)
    if isinstance(a, np.ndarray):
        return ("array", a.shape, a.dtype, a.strides)
    try:
        hash(a)
    except TypeError:
        raise TypeError(
            f"minigrad.compile: arguments must be Tensors, numpy arrays or hashable Python "
            f"values (which are baked into the trace), got {type(a).__name__}"
        ) from None
    return ("static", type(a).__name__, a)


def _describe(sig: tuple[Any, ...]) -> str:
    if sig[0] == "tensor":
        return f"Tensor {sig[1]} {np.dtype(sig[2])}" + (" requires_grad" if sig[3] else "")
    if sig[0] == "array":
        return f"array {sig[1]} {np.dtype(sig[2])}"
    return f"{sig[1]} {sig[2]!r}"


def compile_plan(fn: Callable[..., Any], args: Sequence[Any], name: str | None = None,
                 passes: Sequence[Callable[[nx.DiGraph], nx.DiGraph]] = PIPELINE) -> Plan:
    """Traces ``fn(*args)`` and runs `passes` over the trace; returns the `Plan`."""
    G, _ = trace(fn, args)
    stages = [("trace", G)]
    for p in passes:
        G = p(G)
        stages.append((p.__name__, G))
    return Plan(stages, anomaly=state.anomaly, name=name or str(getattr(fn, "__name__", "fn")))


class CompiledFunction:
    """What `compile` returns: call it like the function.

    The first call with a given signature (each argument's shape, dtype and requires_grad,
    the values of non-array arguments, grad mode and anomaly mode) traces and compiles; later
    calls with that signature replay the plan. Attributes: ``plan`` (the latest plan used),
    ``plans`` (by signature), ``traces`` (how many times it traced).
    """

    def __init__(self, fn: Callable[..., Any], verbose: bool = False,
                 optimizer: Any = None, keep_values: bool | None = None) -> None:
        self.fn = fn
        self.verbose = verbose
        self.optimizer = optimizer
        self.keep_values = optimizer is None if keep_values is None else keep_values
        self.plans: dict[tuple[Any, ...], Plan] = {}
        self.plan: Plan | None = None
        self.traces = 0
        self.eager_calls = 0  # calls a guard sent to eager mode
        self.__name__ = getattr(fn, "__name__", "fn")
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                f"minigrad.compile: {self.__name__} was called with keyword arguments "
                f"{sorted(kwargs)}; pass them positionally (or bind them with functools.partial)"
            )
        key = (tuple(_signature(a) for a in args), state.grad_enabled, state.anomaly)
        plan = self.plans.get(key)
        if self.optimizer is not None:
            return self._training_step(plan, args, key)
        if plan is not None:
            self.plan = plan
            try:
                out = plan.run(args)
            except GuardMiss as e:
                self._said_eager(e)
                return self.fn(*args)
            if out is not STALE:
                return out
            reason = "a captured parameter changed shape or dtype, or a captured constant " \
                     "was changed in place"
        else:
            reason = self._why(key)
        return self._compile(args, key, reason).run(args)

    def _said_eager(self, miss: GuardMiss) -> None:
        """A guard failed: this call runs eagerly (same bits as the plan would have given on
        values that took its branches); the plan stays for the calls whose values do."""
        self.eager_calls += 1
        if self.verbose:
            print(f"minigrad.compile: {self.__name__} runs eagerly on this call ({miss})")

    def _why(self, key: tuple[Any, ...]) -> str:
        if not self.plans:
            return "first call"
        sigs, grad, anomaly = key
        old_sigs, old_grad, old_anomaly = list(self.plans)[-1]
        diffs = []
        if len(sigs) != len(old_sigs):
            diffs.append(f"{len(sigs)} arguments instead of {len(old_sigs)}")
        for i, (s, o) in enumerate(zip(sigs, old_sigs)):
            if s != o:
                diffs.append(f"argument {i} is {_describe(s)}, traced with {_describe(o)}")
        if grad != old_grad:
            diffs.append("grad mode is " + ("on" if grad else "off (no_grad)"))
        if anomaly != old_anomaly:
            diffs.append("detect_anomaly is " + ("on" if anomaly else "off"))
        return "; ".join(diffs)

    def _compile(self, args: Sequence[Any], key: tuple[Any, ...], reason: str,
                 passes: Sequence[Callable[[nx.DiGraph], nx.DiGraph]] = PIPELINE) -> Plan:
        if self.verbose:
            what = "tracing" if not self.traces else "retracing"
            print(f"minigrad.compile: {what} {self.__name__} ({reason})")
        plan = compile_plan(self.fn, args, self.__name__, passes)
        if not self.keep_values:
            plan.release_values()
        self.traces += 1
        self.plans[key] = plan
        self.plan = plan
        return plan

    def _training_step(self, plan: Plan | None, args: Sequence[Any], key: tuple[Any, ...]) -> Any:
        """``compile(fn, optimizer=opt)``: a replay of the whole step, or, on the first call
        (and after a change that retraces), one eager step followed by the trace."""
        if plan is not None:
            self.plan = plan
            try:
                out = plan.step(args)
            except GuardMiss as e:  # raised in the forward, before any update
                self._said_eager(e)
                return self._eager_step(args)
            if out is not STALE:
                return out
            reason = "the optimizer's numbers (lr…), its state or a parameter changed"
        else:
            reason = self._why(key)
        if not state.grad_enabled:
            raise OptimizerError(
                f"minigrad.compile(optimizer=…): {self.__name__} was called under no_grad(); "
                f"a training step needs gradients")
        res = self._eager_step(args)
        self._compile(args, key, reason, training_pipeline(self.optimizer))
        return res

    def _eager_step(self, args: Sequence[Any]) -> Any:
        """``zero_grad(); out = fn(*args); loss.backward(); step(); zero_grad()``, eagerly."""
        opt = self.optimizer
        opt.zero_grad()
        out = self.fn(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        loss = next((o for o in outs if isinstance(o, Tensor) and o.requires_grad
                     and o._ctx is not None), None)
        if loss is None:
            raise OptimizerError(
                f"minigrad.compile(optimizer={type(opt).__name__}): {self.__name__} returns no "
                f"output that requires grad, so there is nothing to train")
        loss.backward()
        opt.step()
        opt.zero_grad()
        res = [Tensor._wrap(o.data) if isinstance(o, Tensor) else o for o in outs]
        return tuple(res) if isinstance(out, (tuple, list)) else res[0]

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {self.traces} trace(s)>"


def compile(fn: Callable[..., Any] | None = None, *, verbose: bool = False,
            optimizer: Any = None, keep_values: bool | None = None) -> Any:
    r"""Compiles `fn`: ``step = minigrad.compile(fn)``; ``loss = step(X, y)``.

    The first call runs `fn` once eagerly and records it (the trace: a `networkx.DiGraph`
    with `minigrad.graph`'s attributes), runs the passes (dead code, constant folding, the
    backward sweep, a static schedule, liveness, buffers) and replays the resulting plan;
    later calls replay it. ``loss.backward()`` replays the compiled backward: the registry's
    VJPs in eager backward's order, so forward values, ``.grad`` and optimizer updates equal
    eager mode bit for bit.

    Guards: other shapes, dtypes, requires_grad, grad mode or anomaly mode retrace (said
    aloud when `verbose`); ``bool(t)``, ``t.item()``, ``if t > 0:`` on a value that varies,
    random draws (Dropout in training) and in-place changes inside `fn` raise `TraceError`
    naming the line. Parameters (captured tensors that require grad) are read at every call,
    so optimizer steps are seen; other captured tensors are constants, retraced if changed in
    place. An op whose rule branches on its values (layer norm's overflow guards) keeps the
    branch the trace took; a call whose values would take the other one runs eagerly, with
    eager's bits (said aloud when `verbose`; ``eager_calls`` counts them).

    With ``optimizer=opt``, the compiled function is the whole training step: each call
    does what ``opt.zero_grad(); out = fn(*args); out.backward(); opt.step();
    opt.zero_grad()`` does eagerly, with the same bits, and returns `fn`'s outputs (new
    arrays, without history). The gradients live in the plan's buffers, so ``.grad`` stays
    None. The first call runs that eager step, then traces; a change of the optimizer's
    numbers (a learning-rate schedule) or state (``load_state_dict``) retraces.

    `keep_values`: whether the plan's graphs keep the arrays the trace computed (each node's
    ``value``), for inspection; by default they do, except for a training step, whose plan
    then holds its buffers and nothing else (`Plan.release_values`).

    Also usable as a decorator, with or without ``(verbose=True)``.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, verbose=verbose, optimizer=optimizer,
                                          keep_values=keep_values)
    return CompiledFunction(fn, verbose=verbose, optimizer=optimizer, keep_values=keep_values)
