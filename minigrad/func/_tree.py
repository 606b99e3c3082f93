"""Nested containers of tensors (tuples, lists, dicts), flattened to a list of leaves and
rebuilt, as torch.func's pytrees: ``grad`` of a function of a dict of parameters returns a
dict of gradients, ``in_dims=(None, 0)`` lines up with a function's arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Spec", "flatten", "unflatten", "broadcast_prefix"]

Spec = Any
"""How to rebuild: None for a leaf, or ``(kind, keys_or_len, [child specs])``."""


def flatten(tree: Any) -> tuple[list[Any], Spec]:
    """The leaves of `tree`, left to right (dicts in their own order), and its structure."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> Spec:
    if isinstance(tree, dict):
        return ("dict", list(tree), [_flatten(v, leaves) for v in tree.values()])
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a named tuple
        return (type(tree), len(tree), [_flatten(v, leaves) for v in tree])
    if isinstance(tree, (tuple, list)):
        kind = "tuple" if isinstance(tree, tuple) else "list"
        return (kind, len(tree), [_flatten(v, leaves) for v in tree])
    leaves.append(tree)
    return None


def unflatten(leaves: list[Any], spec: Spec) -> Any:
    """Rebuilds the structure `spec` from `leaves` (as many as `flatten` gave)."""
    it = iter(leaves)
    return _unflatten(it, spec)


def _unflatten(it: Any, spec: Spec) -> Any:
    if spec is None:
        return next(it)
    kind, keys, children = spec
    values = [_unflatten(it, c) for c in children]
    if kind == "dict":
        return dict(zip(keys, values))
    if kind == "tuple":
        return tuple(values)
    if kind == "list":
        return values
    return kind(*values)


def leaf_count(spec: Spec) -> int:
    if spec is None:
        return 1
    return sum(leaf_count(c) for c in spec[2])


def broadcast_prefix(prefix: Any, tree: Any, what: str,
                     is_leaf: Callable[[Any], bool] = lambda x: x is None or isinstance(x, int)
                     ) -> list[Any]:
    """One entry of `prefix` per leaf of `tree`: an int or None in `prefix` stands for every
    leaf below it (torch.func's ``in_dims``). `what` names the argument in errors."""
    out: list[Any] = []
    _broadcast(prefix, tree, what, is_leaf, out, "")
    return out


def _broadcast(prefix: Any, tree: Any, what: str, is_leaf: Callable[[Any], bool],
               out: list[Any], where: str) -> None:
    if is_leaf(prefix):
        out.extend([prefix] * leaf_count(flatten(tree)[1]))
        return
    if isinstance(prefix, dict) and isinstance(tree, dict):
        if set(prefix) != set(tree):
            raise ValueError(f"{what}{where}: keys {sorted(prefix)} do not match the "
                             f"argument's keys {sorted(tree)}")
        for k, v in tree.items():
            _broadcast(prefix[k], v, what, is_leaf, out, f"{where}[{k!r}]")
        return
    if isinstance(prefix, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(prefix) != len(tree):
            raise ValueError(f"{what}{where} has {len(prefix)} entries but there are "
                             f"{len(tree)} arguments there; give one per argument (or one int "
                             f"for all)")
        for i, (p, t) in enumerate(zip(prefix, tree)):
            _broadcast(p, t, what, is_leaf, out, f"{where}[{i}]")
        return
    raise ValueError(f"{what}{where}: {prefix!r} does not match the structure of the "
                     f"argument there ({type(tree).__name__}); use an int, None, or a "
                     f"tuple/dict of them shaped like the arguments")
