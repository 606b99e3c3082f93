"""`functional_call`: a module run with other tensors in place of its parameters and buffers,
so that a transform can take them as arguments (``grad`` with respect to a dict of
parameters, ``vmap`` over per-example copies)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["functional_call"]


def _owner(module: Any, name: str) -> tuple[Any, str]:
    *path, attr = name.split(".")
    m = module
    for part in path:
        sub = getattr(m, "_modules", {}).get(part)
        if sub is None:
            raise ValueError(f"functional_call: {name!r} names no submodule {part!r} of "
                             f"{type(m).__name__}")
        m = sub
    known = set(getattr(m, "_parameters", {})) | set(getattr(m, "_buffers", {}))
    if attr not in known:
        raise ValueError(f"functional_call: {name!r} is not a parameter or buffer of the "
                         f"module; its names are those of named_parameters() and "
                         f"named_buffers()")
    return m, attr


def functional_call(module: Any, parameter_and_buffer_dicts: Mapping[str, Any] | Sequence[
        Mapping[str, Any]], args: Any = None, kwargs: dict[str, Any] | None = None, *,
        tie_weights: bool = True, strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the tensors of the dicts (dotted names, as
    ``named_parameters()``) standing in for its parameters and buffers, which are put back
    afterwards, as ``torch.func.functional_call``.

    Raises:
        ValueError: a name is not a parameter or buffer of the module, a name appears in two
            dicts, or (with `strict`) a parameter or buffer is missing.
    """
    dicts = [parameter_and_buffer_dicts] if isinstance(parameter_and_buffer_dicts, Mapping) \
        else list(parameter_and_buffer_dicts)
    given: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            if k in given:
                raise ValueError(f"functional_call: {k!r} is given in more than one dict")
            given[k] = v
    if strict:
        names = [n for n, _ in module.named_parameters()] + [n for n, _ in
                                                             module.named_buffers()]
        missing = [n for n in names if n not in given]
        if missing:
            raise ValueError(f"functional_call(strict=True): missing {missing}")
    swaps = [(*_owner(module, k), v) for k, v in given.items()]
    saved = [(m, attr, m.__dict__.get(attr)) for m, attr, _ in swaps]
    for m, attr, v in swaps:
        object.__setattr__(m, attr, v)
    try:
        a = () if args is None else args if isinstance(args, tuple) else (args,)
        return module(*a, **(kwargs or {}))
    finally:
        for m, attr, old in saved:
            object.__setattr__(m, attr, old)
