r"""Forwards that write into a given buffer (numpy's ``out=``), for the buffer plan.

An op qualifies when its forward is a numpy ufunc called without parameters (``add`` is
``np.add``: ``np.add(a, b, out=buf)`` runs the same loop on the same values), or when it is
listed in `OUT_FORMS`: the same numpy calls as the registry's forward, with the result written
into ``out``. tests/test_compile.py checks each of them against the registry's forward, bit for
bit, on the op's own examples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.ops.registry import Op

__all__ = ["OUT_FORMS", "out_form"]


def _matmul_out(W: np.ndarray, h: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.matmul(W, h, out=out)


def _linear_out(h: np.ndarray, W: np.ndarray, b: np.ndarray | None = None, *,
                out: np.ndarray) -> np.ndarray:
    np.matmul(h, W.T, out=out)  # the registry's `a = h @ W.T; a += b`, into out
    if b is not None:
        out += b
    return out


def _matmul_fits(args: Sequence[Any]) -> bool:
    return len(args) == 2 and args[0].ndim >= 2 and args[1].ndim >= 2


def _linear_fits(args: Sequence[Any]) -> bool:
    if args[0].ndim < 2 or args[1].ndim != 2:
        return False
    dt = np.result_type(args[0], args[1])
    return len(args) == 2 or args[2].dtype == dt


# op name → (kernel, when it applies to these input arrays)
OUT_FORMS: dict[str, tuple[Callable[..., np.ndarray], Callable[[Sequence[Any]], bool]]] = {
    "matmul": (_matmul_out, _matmul_fits),
    "linear": (_linear_out, _linear_fits),
}


def out_form(op: Op, params: dict[str, Any], args: Sequence[Any]) -> Callable[..., Any] | None:
    """A callable ``f(*arrays, out=buffer)`` equal to ``op.forward(*arrays, **params)``, or
    None when the op (or these arguments) has none."""
    f = op.forward
    if isinstance(f, np.ufunc):
        return f if not params and f.nin == len(args) and f.nout == 1 else None
    entry = OUT_FORMS.get(op.name)
    if entry is None or params:
        return None
    kernel, fits = entry
    return kernel if fits(args) else None
