r"""Where a NaN came from: the first tensor of a graph whose value, or whose gradient, holds
a NaN or an infinity while everything it was computed from is finite.

Forward, in the order the values were computed: a leaf that holds one, or the op that made
one out of finite inputs (``log`` of 0, ``exp`` of 1000). If the forward is finite, backward,
in the order of the sweep from the output: the op whose rule turned a finite δ into a
non-finite gradient for one of its inputs (``sqrt`` at 0 sends δ / (2·0)). Ops created under
`minigrad.detect_anomaly` recorded the line of user code that created them (``ctx.where``):
the origin names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.reference.rules import Rules, RulesUnavailable

__all__ = ["Origin", "nan_origin"]


@dataclass
class Origin:
    """The first NaN or infinity of a graph.

    Attributes:
        tensor: the tensor where it first appears (its value, or its gradient).
        phase: ``"forward"`` (the value) or ``"backward"`` (the gradient).
        op: the op that produced it (None: a leaf that holds it).
        where: the line of user code that created that op, when recorded (anomaly mode).
        formula: the op's formula (forward) or the rule of its VJP (backward).
    """

    tensor: Any
    phase: str
    op: str | None
    where: str | None
    formula: str

    @property
    def text(self) -> str:
        """One sentence for the tensor's node: what, where, and how to see the line."""
        what = "value" if self.phase == "forward" else "gradient"
        return f"NaN/Inf first appears here, in the {what}" + self.cause

    @property
    def cause(self) -> str:
        """``": from op 'log' (y = log x), created at …"`` (or how to see the line)."""
        if self.op is None:
            return ", held by a leaf"
        how = (f"op '{self.op}' ({self.formula})" if self.phase == "forward"
               else f"the backward of op '{self.op}' ({self.formula})")
        where = re.sub(r'File "([^"]*[/\\])?([^"/\\]*)"', r'File "\2"', self.where or "")
        at = (f", created at {where}" if where else
              "; run the forward under minigrad.detect_anomaly() to see the line that made it")
        return f": from {how}{at}"


def _finite(a: Any) -> bool:
    a = np.asarray(a)
    return a.dtype.kind not in "fc" or bool(np.all(np.isfinite(a)))


def nan_origin(output: Any, backward: bool = True) -> Origin | None:
    """The first NaN or infinity in `output`'s graph (see the module docstring), or None
    when every value (and, with `backward`, every gradient from `output` down) is finite."""
    import minigrad
    from minigrad.graph import topological_order

    G = minigrad.graph(output)
    order = topological_order(G)
    for nid in order:
        t = G.nodes[nid]["tensor"]
        if _finite(t.data):
            continue
        ctx = t._ctx
        if ctx is None:
            return Origin(t, "forward", None, None, "")
        if all(_finite(x.data) for x in ctx.inputs):
            return Origin(t, "forward", ctx.op.name, getattr(ctx, "where", None),
                          ctx.op.formula)
    if not backward or not output.requires_grad:
        return None
    try:
        return _backward_origin(Rules(G, order), output)
    except RulesUnavailable:
        return None


def _backward_origin(rules: Rules, output: Any) -> Origin | None:
    """The first op whose rule makes a non-finite gradient out of a finite δ."""
    acc: dict[int, Any] = {id(output): np.ones(output.shape, dtype=output.data.dtype)}
    for nid in reversed(rules.order):
        g = acc.pop(nid, None)
        ctx = rules.tensor(nid)._ctx
        if g is None or ctx is None:
            continue
        for i, x in enumerate(ctx.inputs):
            if not x.requires_grad:
                continue
            gx = rules.local(nid, i, g)
            if not _finite(gx):
                return Origin(x, "backward", ctx.op.name, getattr(ctx, "where", None),
                              ctx.op.grad_formula(i))
            acc[id(x)] = acc[id(x)] + gx if id(x) in acc else gx
    return None
