"""Thread-local switches that change how ops are recorded: grad mode, anomaly mode, module scope."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.scope: str | None = None
        # set by minigrad.compile while it traces a function: ops report themselves to it
        self.tracer: Any = None
        # set by minigrad.func while a transform (jvp, vmap) is active: every op goes to it
        # first, ``interpose(op, args, params)``, to carry tangents or a batch axis along
        self.interpose: Any = None


state = _State()


def is_grad_enabled() -> bool:
    """Whether ops currently record their history for backward."""
    return state.grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode and restores it, even on error."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled = self._prev

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):
    """Ops inside record no history: for evaluation and for optimizer updates."""

    enabled = False


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode()``: here the same as `no_grad` (nothing is recorded)."""

    enabled = False

    def __init__(self, mode: bool = True) -> None:
        self.enabled = not mode


class enable_grad(_GradMode):
    """Turns recording back on inside a `no_grad` block."""

    enabled = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside this block a NaN or Inf made by any op, forward or backward, raises at once.

    The error names the op and the line of user code that created it.
    """
    prev = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = prev


@contextmanager
def scope(name: str) -> Iterator[None]:
    """Tensors made inside carry `name` (dotted, nested scopes join with '.') as their `module`.

    `nn.Module.__call__` opens one per module so the graph can draw one box per layer.
    """
    prev = state.scope
    state.scope = name
    try:
        yield
    finally:
        state.scope = prev
