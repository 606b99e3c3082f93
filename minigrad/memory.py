r"""How the process gets memory for large arrays: minigrad's allocator setting.

A training step makes the same large arrays every time: the activations `a_k`, `h_k`, the
gradients `∇W_k L`, `δ` at each layer. numpy takes their memory from the C library's
`malloc`, and glibc's `malloc` hands every block of 128 kB or more to the kernel as a fresh
mapping (or gives freed memory at the top of its heap back to the kernel soon after). The
next step then asks again, and the kernel zero-fills the new pages one by one: about 2,000
minor page faults per step of a 784-512-512-10 MLP at batch 256, which cost as much time as
the engine itself.

The ``"reuse"`` policy (the default on glibc, i.e. Linux) tells `malloc`, once at import, to
serve blocks of up to 32 MiB from its heap and to keep up to 64 MiB of freed memory at the
top of the heap instead of returning it (``mallopt(M_MMAP_THRESHOLD)`` and
``mallopt(M_TRIM_THRESHOLD)``). Freed arrays are then reused by the next step, without
page faults. Results do not change: only where the bytes live.

What it costs:

- The setting is for the whole process (numpy, and any other library in it, shares the same
  `malloc`).
- A process that frees large arrays keeps up to 64 MiB of them resident (RSS) for reuse
  instead of returning it at once; arrays of 128 kB – 32 MiB live in the heap, where a
  long-lived small allocation above freed memory can keep that memory from being returned
  (fragmentation). Peak memory is unchanged: the reused memory is the memory the last step
  freed.
- Arrays above 32 MiB are still mapped afresh each time.

Turn it off with the environment variable ``MINIGRAD_ALLOCATOR=system`` (read at import), or
at run time with ``minigrad.set_allocator("system")``, which restores glibc's default
thresholds (128 kB; glibc's own adaptive threshold stays off once set) and returns the
freed memory at once (``malloc_trim``). On a C library other than glibc both policies leave
`malloc` as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import warnings
from typing import Any

__all__ = ["set_allocator", "get_allocator", "ALLOCATORS"]

ALLOCATORS = ("reuse", "system")

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

REUSE_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for its adaptive threshold
REUSE_TRIM_THRESHOLD = 64 * 1024 * 1024  # twice that, as glibc's adaptive rule keeps
_SYSTEM_THRESHOLD = 128 * 1024  # glibc's defaults for both

_policy = "system"
_libc: Any = None


def _glibc() -> Any:
    """The C library, when it is glibc (the only one whose mallopt this module knows)."""
    global _libc
    if _libc is None:
        _libc = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = lib
            except (OSError, AttributeError):
                pass
    return _libc or None


def set_allocator(policy: str) -> None:
    """Chooses how large arrays get their memory, for the whole process.

    Args:
        policy: ``"reuse"`` (the default): freed memory is kept and reused by the next
            step, so repeated steps cause no page faults; ``"system"``: glibc's default
            thresholds, freed large blocks go back to the kernel.
    """
    global _policy
    if policy not in ALLOCATORS:
        raise ValueError(
            f"set_allocator: unknown policy {policy!r}; choose one of {', '.join(ALLOCATORS)}"
        )
    libc = _glibc()
    if libc is not None:
        if policy == "reuse":
            libc.mallopt(_M_MMAP_THRESHOLD, REUSE_MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, REUSE_TRIM_THRESHOLD)
        else:
            libc.mallopt(_M_MMAP_THRESHOLD, _SYSTEM_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, _SYSTEM_THRESHOLD)
            libc.malloc_trim(0)
    _policy = policy


def get_allocator() -> str:
    """The policy in force: ``"reuse"`` or ``"system"``."""
    return _policy


def _configure_from_environment() -> None:
    """At import: ``MINIGRAD_ALLOCATOR`` (``reuse`` or ``system``), default ``reuse``. An
    unknown value warns and leaves malloc alone rather than failing the import."""
    global _policy
    wanted = os.environ.get("MINIGRAD_ALLOCATOR", "reuse").strip().lower() or "reuse"
    if wanted == "reuse":
        set_allocator("reuse")
        return
    if wanted != "system":
        warnings.warn(
            f"MINIGRAD_ALLOCATOR={wanted!r} is not one of {', '.join(ALLOCATORS)}; malloc is "
            f"left as it is (system)", RuntimeWarning, stacklevel=2,
        )
    _policy = "system"  # nothing to undo: malloc was never changed (glibc stays adaptive)
