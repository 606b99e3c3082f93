r"""Classic slips: the wrong local rules learners write by hand, as data.

Each module of the formula book keeps, beside its formulas, a short table ``SLIPS`` from an
op's name (the registry's: ``tanh``, ``cross_entropy``, ``max_pool2d``) to the slips one
makes in that op's backward: ``σ(a)`` for ``σ′(a)``, ``1 − tanh(a)`` for ``1 − tanh²(a)``,
softmax's Jacobian without its outer-product term, … `minigrad.reference.diagnosis` tries
them on a wrong gradient to name the mistake (``row.diagnosis.kind == "wrong_rule"``).

Plain numpy; nothing here knows about the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Slip"]


@dataclass(frozen=True)
class Slip:
    """One wrong rule for one input of an op.

    Attributes:
        name: what was written instead of what, e.g. ``"1 − tanh(a) for 1 − tanh²(a)"``.
        vjp: the wrong rule, called as the op's own VJP is, on numpy arrays:
            ``vjp(g, out, *inputs, **params)`` with ``g`` = δ at the op's output; it returns
            the gradient it would send to input `argnum`, or None where the slip does not
            apply (a pooling with dilation, batch norm in evaluation).
        argnum: the input the rule is for.
    """

    name: str
    vjp: Callable[..., Any]
    argnum: int = 0
