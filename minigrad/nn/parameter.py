r"""`Parameter`: a leaf tensor that a `Module` owns and an optimizer updates (a `W_k` or `b_k`)."""

from __future__ import annotations

from typing import Any

from minigrad.tensor import DTypeLike, Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    r"""A leaf Tensor that requires grad: one of a model's weights `W_k` or biases `b_k`.

    Assigning a Parameter as an attribute of a `Module` registers it, so it shows up in
    ``parameters()``, ``named_parameters()`` and ``state_dict()``.

    Args:
        data: a number, nested list, numpy array or Tensor; always copied, so the Parameter
            never shares memory with what it was made from. Python floats and lists become
            float32 unless `dtype` says otherwise; numpy arrays keep their dtype.
        name: shown in reprs and diagrams; a Module names an unnamed Parameter after the
            attribute it is assigned to (``"weight"``).
        dtype: a floating point numpy dtype or its name.
        requires_grad: False freezes it (backward then gives it no ``.grad``).

    Raises:
        TypeError: for integer or boolean data: only floating point tensors have gradients.
    """

    __slots__ = ()

    def __init__(
        self,
        data: Any,
        name: str | None = None,
        *,
        dtype: DTypeLike = None,
        requires_grad: bool = True,
    ) -> None:
        super().__init__(data, dtype=dtype, name=name)
        if self.data.dtype.kind != "f":
            raise TypeError(
                f"Parameter: data must be floating point to have a gradient, got "
                f"{self.data.dtype}; pass dtype='float32' or convert it first"
            )
        self.requires_grad = bool(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
