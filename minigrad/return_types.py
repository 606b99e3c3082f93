"""Named tuples that functions return, as ``torch.return_types``: ``x.max(dim=1)`` gives
``max(values=…, indices=…)``, which unpacks as a pair or reads by name (``.values``)."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["max", "min", "histogram"]


class max(NamedTuple):  # PyTorch's lower-case names
    """The largest values along a dim and where they are (first of ties)."""

    values: Any
    indices: Any


class min(NamedTuple):
    """The smallest values along a dim and where they are (first of ties)."""

    values: Any
    indices: Any


class histogram(NamedTuple):
    """The counts (or densities) per bin and the bins' edges."""

    hist: Any
    bin_edges: Any
