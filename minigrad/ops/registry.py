r"""The op registry: every differentiable primitive is declared here once, as data.

An `Op` holds its name, its forward (on numpy arrays), one vector-Jacobian product (VJP) per
input, the formula labels that diagrams print, its role in a network (activation, loss) and
what its VJPs read. Notation follows the lecture: the upstream gradient arriving at an op's
output is `δ` (the lecture's `∇a_k L` when the output is `a_k`).

A VJP is called as ``vjp(g, out, *inputs, **params)`` and returns the gradient for its input,
before broadcasting is undone (the engine sums it back to the input's shape in one place).

A JVP, the forward-mode rule, is its mirror: ``jvp(t, out, *inputs, **params)`` takes the
tangent `ẋ` of one input and returns that input's term of the output's tangent, `J_i ẋ`
(`minigrad.forward` broadcasts each term to the output's shape and adds them up:
matmul's `ȧ = Ẇ h + W ḣ`). An op declared without JVPs has one derived from its VJPs by
linearity (see `minigrad.forward`), listed by `derived_jvps`.
The arguments are numpy arrays during an ordinary backward and Tensors under
``create_graph=True``, so each rule is written once with operators and methods that both
share (``*``, ``@``, ``.sum``, ``.reshape``) and with the helpers of `minigrad.ops.either`.

How each op is tested (its sample inputs, its PyTorch counterpart, the ways a user calls it)
is not here: `minigrad.opinfo` keeps that, keyed by op name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

VJP = Callable[..., Any]

ROLES = ("activation", "loss", "pass-through")
"""What an op is to a network, for the diagrams: an activation ``h_k = g(a_k)``, a loss ``L``,
or a pass-through that only re-views its input (a reshape, a transpose, a cast), followed
back to find which leaf is a layer's weight."""

OUT = -1
"""In what an op saves: its output (the inputs are 0, 1, …)."""


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive: forward, VJP per input, formula labels and what the VJPs read.

    Attributes:
        name: numpy's name for the op (``matmul``, ``exp``, ``sum``).
        forward: ``forward(*arrays, **params) -> np.ndarray``.
        vjps: one VJP per input position (None: that input takes no gradient, e.g. a mask).
            A variadic op (``concatenate``) gives one VJP, called with ``argnum=i``.
        formula: the forward in the lecture's notation, e.g. ``a = W h``.
        grad_formulas: one label per input for its backward edge, e.g. ``δ·hᵀ``.
        reads: per VJP (a variadic op: one for all), the values it reads: input positions,
            and `OUT` for the output. The forward saves them; an in-place change to one
            before backward is an error, unless no VJP that runs reads it (mul's VJP for a
            reads only b, so ``h.mul_(3)`` stays differentiable although it overwrites h).
        keeps: the forward returns ``(output, extra)`` and the VJPs receive ``saved=extra``
            (softmax probabilities for cross-entropy, say), dropped after backward.
        view: the output may share memory with input 0 (reshape, transpose, indexing), so the
            two share one version counter.
        variadic: takes any number of tensor inputs.
        role: one of `ROLES`, or None: what the op is to a network, which the diagrams read
            to name its result (an activation's is ``h_k``, a loss's ``L``).
        promote: the inputs converted to one dtype by PyTorch's promotion before the forward
            runs (`minigrad.dtypes.result_type`): True for all of them, or their positions.
        to_float: an integer or boolean result becomes the default float dtype instead
            (true division, exp, log…), as in PyTorch.
        doc: one line for tables and docs.
        jvps: one forward-mode rule per input, each a pair ``(label, jvp)`` with the label of
            that input's term of the tangent (``"Ẇ h"``), or None for an input that carries
            no tangent (a mask, class indices); a variadic op gives one pair, called with
            ``argnum=i``. None for the whole: the JVP is derived from the VJPs.
        module: the module that declared the op (``minigrad.ops.conv`` for a built-in one,
            the user's module for a `Function` subclass or a `defop` of their own), so that
            a walk over the built-in ops does not depend on what else is registered.
    """

    name: str
    forward: Callable[..., Any]
    vjps: tuple[VJP | None, ...]
    formula: str
    grad_formulas: tuple[str, ...]
    reads: tuple[tuple[int, ...], ...] = ()
    keeps: bool = False
    view: bool = False
    variadic: bool = False
    role: str | None = None
    promote: bool | tuple[int, ...] = False
    to_float: bool = False
    doc: str = ""
    jvps: tuple[tuple[str, Callable[..., Any]] | None, ...] | None = None
    module: str = ""

    @property
    def builtin(self) -> bool:
        """Whether minigrad itself declares the op (not a user or a test)."""
        return self.module.startswith("minigrad.")

    @cached_property
    def saves(self) -> tuple[int, ...]:
        """The input positions some VJP reads, whose versions the forward records."""
        return tuple(sorted({i for r in self.reads for i in r if i != OUT}))

    @cached_property
    def saves_output(self) -> bool:
        """Whether some VJP reads the output."""
        return any(OUT in r for r in self.reads)

    def reads_of(self, argnum: int) -> tuple[int, ...]:
        """The input positions that the VJP for `argnum` reads."""
        if not self.reads:
            return ()
        return tuple(i for i in self.reads[0 if self.variadic else argnum] if i != OUT)

    def vjp(self, argnum: int) -> VJP | None:
        if self.variadic:
            return self.vjps[0]
        return self.vjps[argnum]

    def call_vjp(self, argnum: int, g: Any, out: Any, args: Sequence[Any],
                 params: dict[str, Any], saved: Any = None) -> Any:
        """Input `argnum`'s VJP (which must exist) applied to δ = `g`, called as every sweep
        calls it: with ``argnum=`` for a variadic op, with the forward's ``saved`` extra for an
        op that keeps one. The result may still need summing back to the input's shape."""
        f = self.vjp(argnum)
        assert f is not None, f"op '{self.name}' has no VJP for input {argnum}"
        if self.variadic:
            return f(g, out, *args, argnum=argnum, **params)
        if self.keeps:
            return f(g, out, *args, saved=saved, **params)
        return f(g, out, *args, **params)

    def grad_formula(self, argnum: int) -> str:
        if self.variadic:
            return self.grad_formulas[0].replace("{i}", str(argnum))
        return self.grad_formulas[argnum]

    @property
    def derived_jvp(self) -> bool:
        """Whether the forward-mode rule is derived from the VJPs (no explicit `jvps`)."""
        return self.jvps is None

    def jvp(self, argnum: int) -> Callable[..., Any] | None:
        """The explicit forward-mode rule for input `argnum` (None: derived, or no tangent)."""
        if self.jvps is None:
            return None
        entry = self.jvps[0] if self.variadic else self.jvps[argnum]
        return None if entry is None else entry[1]

    def jvp_label(self, argnum: int) -> str:
        """The label of input `argnum`'s term of the output's tangent (``Ẇ h``)."""
        if self.jvps is None:
            return f"J{_sub(argnum)} ẋ{_sub(argnum)}"  # derived from the VJP: no formula
        entry = self.jvps[0] if self.variadic else self.jvps[argnum]
        if entry is None:
            return "—"
        return entry[0].replace("{i}", str(argnum))

    def __repr__(self) -> str:
        return f"Op({self.name}: {self.formula})"


REGISTRY: dict[str, Op] = {}

Saves = tuple[int, ...] | tuple[tuple[int, ...], ...]


def defop(
    name: str,
    forward: Callable[..., Any],
    *vjps: VJP | None,
    formula: str,
    grads: tuple[str, ...] | str,
    saves: Saves | None = None,
    keeps: bool = False,
    view: bool = False,
    variadic: bool = False,
    role: str | None = None,
    promote: bool | tuple[int, ...] = False,
    to_float: bool = False,
    doc: str = "",
    jvps: tuple[tuple[str, Callable[..., Any]] | None, ...] | None = None,
    module: str | None = None,
) -> Op:
    """Declares an op and adds it to the registry.

    Args:
        name: unique name; a second declaration under the same name is an error.
        forward: computes the output from numpy arrays.
        *vjps: one VJP per input (see the module docstring).
        formula: forward formula label, e.g. ``h = tanh(a)``.
        grads: backward edge label per input, e.g. ``("δ ⊙ (1 − h²)",)``.
        saves: what the VJPs read: input positions and `OUT` (the output), e.g. ``(OUT,)``
            for tanh; or one such tuple per VJP, e.g. ``((1,), (0,))`` for mul. Default: every
            input.
        keeps: the forward returns ``(output, extra)``; the VJPs get ``saved=extra``.
        view: the output may alias input 0.
        variadic: any number of inputs share one VJP (called with ``argnum=``).
        role: ``"activation"``, ``"loss"`` or ``"pass-through"`` (see `ROLES`), or None.
        promote: which inputs share one dtype by PyTorch's type promotion (True: all).
        to_float: integer results become float32 (true division, exp, …).
        doc: a one-line description.
        jvps: one ``(label, jvp)`` pair per input (or None for an input without a tangent),
            the forward-mode rules; omitted, the JVP is derived from the VJPs.
        module: the declaring module's name; omitted, the caller's.

    Returns:
        The registered `Op`.
    """
    if name in REGISTRY:
        raise ValueError(f"an op named {name!r} is already registered; pick another name")
    grads = (grads,) if isinstance(grads, str) else tuple(grads)
    if not variadic and len(grads) != len(vjps):
        raise ValueError(f"op {name!r}: {len(vjps)} VJPs but {len(grads)} formula labels")
    if role is not None and role not in ROLES:
        raise ValueError(f"op {name!r}: role {role!r} is not one of {ROLES} (or None)")
    if jvps is not None:
        _check_jvps(name, jvps, 1 if variadic else len(vjps))
    op = Op(
        name=name,
        forward=forward,
        vjps=tuple(vjps),
        formula=formula,
        grad_formulas=grads,
        reads=_reads(name, saves, len(vjps)),
        keeps=keeps,
        view=view,
        variadic=variadic,
        role=role,
        promote=promote if isinstance(promote, bool) else tuple(promote),
        to_float=to_float,
        doc=doc,
        jvps=None if jvps is None else tuple(jvps),
        module=module if module is not None else sys._getframe(1).f_globals.get("__name__", ""),
    )
    REGISTRY[name] = op
    return op


def _reads(name: str, saves: Saves | None, n: int) -> tuple[tuple[int, ...], ...]:
    """`saves` as one tuple per VJP."""
    if saves is None:
        return (tuple(range(n)),) * n
    per_vjp = tuple(s for s in saves if isinstance(s, tuple))
    if not per_vjp:
        return (tuple(s for s in saves if not isinstance(s, tuple)),) * n
    if len(per_vjp) != len(saves) or len(saves) != n:
        raise ValueError(f"op {name!r}: saves gives {len(saves)} entries for {n} VJPs; give "
                         f"one tuple per VJP, or one tuple of positions that every VJP reads")
    return per_vjp


def _sub(i: int) -> str:
    return "".join("₀₁₂₃₄₅₆₇₈₉"[int(c)] for c in str(i))


def _check_jvps(name: str, jvps: Any, n: int) -> None:
    if len(jvps) != n:
        raise ValueError(f"op {name!r}: {n} inputs take a JVP but {len(jvps)} were given")
    for i, entry in enumerate(jvps):
        if entry is not None and not (isinstance(entry, tuple) and len(entry) == 2
                                      and isinstance(entry[0], str) and callable(entry[1])):
            raise TypeError(f"op {name!r}: JVP {i} must be a pair (label, function) or None, "
                            f"e.g. (\"Ẇ h\", lambda t, out, W, h: t @ h)")


def derived_jvps() -> list[str]:
    """The ops whose forward-mode rule is derived from their VJPs (they declare no JVPs)."""
    return [name for name, op in REGISTRY.items() if op.jvps is None]


def role_of(name: str | None) -> str | None:
    """The role of the registered op called `name` (None for an unknown op or a leaf)."""
    op = REGISTRY.get(name) if name is not None else None
    return None if op is None else op.role


def registered() -> Iterator[Op]:
    """Every declared op, built-in and user-defined, in declaration order."""
    return iter(list(REGISTRY.values()))


_Rule = TypeVar("_Rule")


def rule_for(table: dict[str, _Rule], *names: str) -> Callable[[_Rule], _Rule]:
    """A decorator that files the function it decorates in `table` under each op name in
    `names`: how a table of rules kept beside the registry (ONNX export's handlers) is
    filled."""

    def file(f: _Rule) -> _Rule:
        for n in names:
            table[n] = f
        return f

    return file
