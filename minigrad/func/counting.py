"""How many passes the transforms make, counted by minigrad itself.

A forward pass pushes one tangent vector through a function (`jvp`); a reverse pass pulls
one cotangent vector back (`vjp`). `jacfwd` needs one forward pass per input entry, `jacrev`
one reverse pass per output entry; vmap runs many passes as one *sweep* over a batch, so
both are counted::

    with func.count_passes() as n:
        func.jacfwd(f)(x)
    n.forward, n.forward_sweeps          # e.g. 4 tangents pushed, in 1 vectorized sweep
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Passes", "count", "count_passes"]


@dataclass
class Passes:
    """Tangent vectors pushed forward and cotangent vectors pulled back, and the sweeps
    (runs of the function or of the backward) that carried them."""

    forward: int = 0
    reverse: int = 0
    forward_sweeps: int = 0
    reverse_sweeps: int = 0

    def __sub__(self, other: Passes) -> Passes:
        return Passes(self.forward - other.forward, self.reverse - other.reverse,
                      self.forward_sweeps - other.forward_sweeps,
                      self.reverse_sweeps - other.reverse_sweeps)


count = Passes()
"""The running totals since minigrad was imported."""


@contextmanager
def count_passes() -> Iterator[Passes]:
    """The passes made inside the block (filled in when it ends)."""
    start = Passes(**vars(count))
    result = Passes()
    try:
        yield result
    finally:
        for k, v in vars(count - start).items():
            setattr(result, k, v)
