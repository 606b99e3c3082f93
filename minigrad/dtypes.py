r"""dtypes: PyTorch's names for numpy's dtypes, and PyTorch's type promotion.

A minigrad tensor's dtype is a numpy dtype; ``minigrad.float32``, ``minigrad.long`` and the
other names below are numpy's scalar types, so ``x.dtype == minigrad.long`` reads as in
PyTorch and ``np.zeros(3, minigrad.float)`` works too.

When an elementwise op meets operands of different dtypes, the result's dtype is PyTorch's
(``torch.result_type``), not numpy's. The operands fall into three groups, by priority:
tensors with at least one dimension, 0-d tensors, and Python numbers. Within a group the
dtypes combine with `promote_types`. Across groups a lower group only counts when it is of
a higher category (bool < integer < floating < complex), and a Python float stands for the
default float dtype, float32. So ``int64 tensor * float32 tensor`` is float32 (numpy says
float64), ``float32 tensor * float64 0-d tensor`` stays float32, ``int64 tensor * 0.5`` is
float32, and ``int32 tensor + 1`` stays int32.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

__all__ = [
    "float16", "half", "float32", "float", "float64", "double", "complex64", "cfloat",
    "complex128", "cdouble", "uint8", "int8", "int16", "short", "int32", "int", "int64", "long",
    "bool", "get_default_dtype", "promote_types", "result_type",
]

float16 = half = np.float16
float32 = float = np.float32
float64 = double = np.float64
complex64 = cfloat = np.complex64
complex128 = cdouble = np.complex128
uint8 = np.uint8
int8 = np.int8
int16 = short = np.int16
int32 = int = np.int32
int64 = long = np.int64
bool = np.bool_

DEFAULT_FLOAT = np.dtype(np.float32)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_COMPLEX_OF: dict[builtins.int, np.dtype] = {
    2: np.dtype(np.complex64), 4: np.dtype(np.complex64), 8: np.dtype(np.complex128)}
_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


def get_default_dtype() -> np.dtype:
    """The dtype of Python floats and float factories: float32, as PyTorch's default."""
    return DEFAULT_FLOAT


def promote_types(a: Any, b: Any) -> np.dtype:
    """The smallest dtype both `a` and `b` convert to, as ``torch.promote_types``: the
    dtype of the higher category wins (int64 with float16 gives float16, numpy says
    float64); within a category, the wider one (with numpy's rules for mixed signedness)."""
    a, b = np.dtype(a), np.dtype(b)
    if a == b:
        return a
    ca, cb = _CATEGORY.get(a.kind), _CATEGORY.get(b.kind)
    if ca is None or cb is None:
        raise TypeError(f"promote_types: minigrad has no promotion rule for {a} and {b}")
    if ca != cb and max(ca, cb) < 3:
        return a if ca > cb else b
    out = np.promote_types(a, b)
    if _CATEGORY.get(out.kind) != max(ca, cb):  # uint64 with int64: numpy gives a float
        raise TypeError(f"promote_types: {a} and {b} have no common dtype (as in PyTorch); "
                        f"convert one of them first")
    return out


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """A group of higher priority meets one of lower priority (PyTorch's combine_categories)."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "c":
        return higher
    if lower.kind == "c":
        return _COMPLEX_OF.get(higher.itemsize, np.dtype(np.complex64)) if higher.kind == "f" \
            else lower
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def operand_dtype(x: Any) -> tuple[builtins.int, np.dtype]:
    """The group (0: a tensor with dimensions, 1: a 0-d tensor, 2: a Python number) and the
    dtype by which `x` takes part in promotion. numpy scalars count as Python numbers, as
    in PyTorch; numpy arrays and lists as tensors."""
    if isinstance(x, (builtins.bool, np.bool_)):
        return 2, _BOOL
    if isinstance(x, (builtins.int, np.integer)):
        return 2, _INT64
    if isinstance(x, (builtins.float, np.floating)):
        return 2, DEFAULT_FLOAT
    if isinstance(x, (builtins.complex, np.complexfloating)):
        return 2, np.dtype(np.complex64)
    if isinstance(getattr(x, "dtype", None), np.dtype):  # a Tensor or a numpy array
        dtype, ndim = x.dtype, x.ndim
    else:  # a list: the dtype of the tensor made from it (Python floats give the default)
        data = np.asarray(x)
        dtype, ndim = (DEFAULT_FLOAT if data.dtype == np.float64 else data.dtype), data.ndim
    if dtype.kind not in _CATEGORY:
        raise TypeError(f"an operand of dtype {dtype} ({type(x).__name__}) is not a number")
    return (0 if ndim else 1), dtype


def result_type(*operands: Any) -> np.dtype:
    """The dtype of an elementwise op on `operands` (tensors, arrays, numbers), as
    ``torch.result_type``: see the module's docstring for the rule."""
    groups: list[np.dtype | None] = [None, None, None]
    for x in operands:
        g, dt = operand_dtype(x)
        cur = groups[g]
        groups[g] = dt if cur is None else promote_types(cur, dt)
    out = _combine(groups[0], _combine(groups[1], groups[2]))
    if out is None:
        raise TypeError("result_type() needs at least one operand")
    return out
