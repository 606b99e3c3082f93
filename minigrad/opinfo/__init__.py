r"""How each op is tested, keyed by op name: its sample inputs, its PyTorch counterpart and the
ways a user calls it. `minigrad.ops` says what an op computes and how its gradient flows; this
says how to test it, as PyTorch keeps its OpInfo apart from ``derivatives.yaml``.

Whatever walks the registry (the test suite's gradient, second-order, float32, PyTorch, compile,
derive and fuzz walks, and ``minigrad check``) joins it with this table through `info`: an op
with no entry has no samples, and the walk fails for it; an entry naming no op is an error too
(`unmatched`). A `minigrad.Function` brings its own samples, the ``examples`` it declares.

Example::

    from minigrad import opinfo
    for inputs, params in opinfo.cases("matmul", np.random.default_rng(0), np.float64):
        ...
"""

from __future__ import annotations

from typing import Any

from minigrad.function import function_of
from minigrad.opinfo.calls import Call
from minigrad.opinfo.samples import Case
from minigrad.opinfo.table import TABLE, OpInfo
from minigrad.ops.registry import REGISTRY, Op

__all__ = ["Call", "Case", "MissingCases", "OpInfo", "TABLE", "cases", "find", "info",
           "unmatched"]


class MissingCases(LookupError):
    """An op with no samples to test it on."""


def find(op: Op | str) -> OpInfo | None:
    """The table's entry for `op` (an op or its name) or, for an op a `minigrad.Function`
    declared, one made from the class's ``examples``; None when there is neither."""
    name = op if isinstance(op, str) else op.name
    if name in TABLE:
        return TABLE[name]
    registered = REGISTRY.get(name) if isinstance(op, str) else op
    cls = None if registered is None else function_of(registered)
    if cls is None or cls.examples is None:
        return None
    return OpInfo(name, cls.examples)


def info(op: Op | str) -> OpInfo:
    """`find`, raising `MissingCases` (naming the op and the fix) when there is no entry."""
    found = find(op)
    if found is None:
        name = op if isinstance(op, str) else op.name
        raise MissingCases(
            f"op {name!r} has no samples to test it on: add an entry for it to "
            f"minigrad/opinfo/table.py, or, for a minigrad.Function, set its `examples` to a "
            f"function (rng, dtype) -> [(inputs, params), ...]")
    return found


def cases(op: Op | str, rng: Any, dtype: Any) -> list[Case]:
    """The samples of `op` drawn from `rng` in `dtype`: ``[(inputs, params), ...]``."""
    return list(info(op).cases(rng, dtype))


def unmatched() -> list[str]:
    """The table's entries that name no registered op."""
    return sorted(set(TABLE) - set(REGISTRY))
