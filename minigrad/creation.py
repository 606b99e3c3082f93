"""Factories: tensors made from shapes, ranges and random generators, with PyTorch's names
and arguments (``generator=``, ``dtype=``, ``device=``, ``requires_grad=``).

Random numbers come from a `Generator`: the one passed as ``generator=``, or else the
default generator that `manual_seed` seeds. ``g = minigrad.Generator().manual_seed(42)``
and ``minigrad.randn(3, generator=g)`` give the same numbers on every run; they are not
PyTorch's numbers (numpy draws them), so to compare a model with PyTorch's, start both from
the same arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.device import check_device
from minigrad.dtypes import DEFAULT_FLOAT
from minigrad.tensor import DTypeLike, Tensor, resolve_dtype

__all__ = [
    "Generator", "default_generator", "manual_seed", "seed", "initial_seed", "generator",
    "tensor", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like",
    "empty_like", "randn", "rand", "randint", "randn_like", "rand_like", "randperm",
    "multinomial", "arange", "linspace", "eye",
]


def _fresh_seed() -> int:
    """A seed from the operating system's entropy."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0]) % 2**63


class Generator:
    """A source of random numbers, as ``torch.Generator``.

    ``Generator().manual_seed(2147483647)`` seeds it and returns it, so one line makes a
    reproducible generator to pass as ``generator=`` to `randn`, `rand`, `randint`,
    `randperm`, `multinomial`, dropout and the ``nn.init`` functions.
    """

    def __init__(self, device: Any = "cpu") -> None:
        check_device(device, "Generator")
        self._seed = _fresh_seed()
        self._np = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        """Restarts the sequence from `seed`; returns this generator."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: the seed must be an integer, got {seed!r}")
        self._seed = int(seed)
        self._np = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Seeds from the operating system's entropy; returns the seed."""
        return self.manual_seed(_fresh_seed())._seed

    def initial_seed(self) -> int:
        """The seed the current sequence started from."""
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """The generator's state (numpy's bit generator state), for `set_state`."""
        return dict(self._np.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> Generator:
        self._np.bit_generator.state = state
        return self

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def numpy(self) -> np.random.Generator:
        """The numpy generator that draws the numbers."""
        return self._np

    def __repr__(self) -> str:
        return f"<minigrad.Generator seed={self._seed}>"


default_generator = Generator()
"""The generator that random functions use when given no ``generator=``."""

# While `minigrad.compile` traces a function, a stand-in that raises on any draw: a draw
# would be made once and baked into every replay.
_override: Any = None


def manual_seed(seed: int) -> Generator:
    """Seeds the default generator (behind `randn`, `rand`, dropout and layer
    initialisation when no ``generator=`` is given); returns it, as ``torch.manual_seed``."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seeds the default generator from the operating system; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the default generator."""
    return default_generator.initial_seed()


def _numpy_rng(g: Generator | None = None) -> np.random.Generator:
    """The numpy generator that draws for ``generator=g``: g's, or the default one's."""
    if _override is not None:
        return _override  # type: ignore[no-any-return]
    if g is None:
        return default_generator._np
    if not isinstance(g, Generator):
        raise TypeError(f"generator= must be a minigrad.Generator, got {type(g).__name__}; "
                        f"make one with minigrad.Generator().manual_seed(seed)")
    return g._np


generator = _numpy_rng  # the name the layers and ops import


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(int(n) < 0 for n in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return tuple(int(n) for n in shape)


def _make(arr: np.ndarray, requires_grad: bool, name: str | None = None) -> Tensor:
    t = Tensor._wrap(arr)
    t.name = name
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dt(dtype: DTypeLike) -> np.dtype:
    return resolve_dtype(dtype) or DEFAULT_FLOAT


def _size_of(shape: tuple[Any, ...], size: Any, where: str) -> tuple[int, ...]:
    if size is not None:
        if shape:
            raise TypeError(f"{where}: give the shape once, as arguments or as size=")
        shape = (size,)
    return _shape(shape)


def tensor(data: Any, requires_grad: bool = False, dtype: DTypeLike = None,
           name: str | None = None, device: Any = None) -> Tensor:
    """A tensor holding a copy of `data` (see `Tensor`)."""
    check_device(device, "tensor")
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def zeros(*shape: Any, size: Any = None, dtype: DTypeLike = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    check_device(device, "zeros")
    return _make(np.zeros(_size_of(shape, size, "zeros"), _dt(dtype)), requires_grad)


def ones(*shape: Any, size: Any = None, dtype: DTypeLike = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    check_device(device, "ones")
    return _make(np.ones(_size_of(shape, size, "ones"), _dt(dtype)), requires_grad)


def empty(*shape: Any, size: Any = None, dtype: DTypeLike = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` whose values are zeros (PyTorch leaves them unset)."""
    check_device(device, "empty")
    return _make(np.zeros(_size_of(shape, size, "empty"), _dt(dtype)), requires_grad)


def full(shape: Any, fill_value: float, dtype: DTypeLike = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` filled with `fill_value`; its dtype is the value's (a Python
    float gives float32, an int int64, a bool bool), as PyTorch's."""
    check_device(device, "full")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dt = resolve_dtype(dtype) or np.asarray(Tensor(fill_value).data).dtype
    return _make(np.full(_shape(shape), fill_value, dt), requires_grad)


def _like(t: Any) -> np.ndarray:
    return t.data if isinstance(t, Tensor) else np.asarray(t)


def zeros_like(t: Any, dtype: DTypeLike = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    check_device(device, "zeros_like")
    a = _like(t)
    return _make(np.zeros(a.shape, resolve_dtype(dtype) or a.dtype), requires_grad)


def ones_like(t: Any, dtype: DTypeLike = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    check_device(device, "ones_like")
    a = _like(t)
    return _make(np.ones(a.shape, resolve_dtype(dtype) or a.dtype), requires_grad)


def empty_like(t: Any, dtype: DTypeLike = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t: Any, fill_value: float, dtype: DTypeLike = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    check_device(device, "full_like")
    a = _like(t)
    return _make(np.full(a.shape, fill_value, resolve_dtype(dtype) or a.dtype), requires_grad)


def randn(*shape: Any, size: Any = None, generator: Generator | None = None,
          dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, `N(0, 1)`: ``randn(27, 10, generator=g)`` or
    ``randn((27, 10))``."""
    check_device(device, "randn")
    rng = _numpy_rng(generator)
    return _make(rng.standard_normal(_size_of(shape, size, "randn")).astype(_dt(dtype)),
                 requires_grad)


def rand(*shape: Any, size: Any = None, generator: Generator | None = None,
         dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    check_device(device, "rand")
    rng = _numpy_rng(generator)
    return _make(rng.random(_size_of(shape, size, "rand")).astype(_dt(dtype)), requires_grad)


def randn_like(t: Any, generator: Generator | None = None, dtype: DTypeLike = None,
               device: Any = None, requires_grad: bool = False) -> Tensor:
    a = _like(t)
    return randn(a.shape, generator=generator, dtype=dtype or a.dtype, device=device,
                 requires_grad=requires_grad)


def rand_like(t: Any, generator: Generator | None = None, dtype: DTypeLike = None,
              device: Any = None, requires_grad: bool = False) -> Tensor:
    a = _like(t)
    return rand(a.shape, generator=generator, dtype=dtype or a.dtype, device=device,
                requires_grad=requires_grad)


def randint(low: int, high: Any = None, size: Any = None, *,
            generator: Generator | None = None, dtype: DTypeLike = None, device: Any = None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high), as ``torch.randint``:
    ``randint(high, size)`` or ``randint(low, high, size)``; int64 unless `dtype` says
    otherwise. `size` is a tuple: ``randint(0, 27, (32,), generator=g)``."""
    check_device(device, "randint")
    if size is None:
        if high is None or isinstance(high, (int, np.integer)):
            raise TypeError("randint: give a size, e.g. randint(0, 10, (3,)) or randint(10, (3,))")
        low, high, size = 0, low, high
    if isinstance(size, (int, np.integer)):
        raise TypeError(f"randint: size must be a tuple, e.g. ({size},), as in PyTorch")
    if high is None or int(high) <= int(low):
        raise ValueError(f"randint: the range [{low}, {high}) is empty; high must exceed low")
    dt = resolve_dtype(dtype) or np.dtype(np.int64)
    rng = _numpy_rng(generator)
    arr = rng.integers(int(low), int(high), size=_shape(tuple(size)), dtype=np.int64)
    return _make(arr.astype(dt, copy=False), requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype: DTypeLike = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 … n − 1 (int64)."""
    check_device(device, "randperm")
    rng = _numpy_rng(generator)
    arr = rng.permutation(int(n)).astype(resolve_dtype(dtype) or np.int64)
    return _make(arr, requires_grad)


def multinomial(input: Any, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Category indices drawn with probabilities proportional to the rows of `input`
    (non-negative weights, not necessarily summing to 1), as ``torch.multinomial``.

    Args:
        input: weights of shape (C,) or (N, C).
        num_samples: draws per row; without replacement at most the number of categories
            with a weight above 0.
        replacement: draw with replacement.
        generator: the `Generator` to draw from (default: the seeded default one).

    Returns:
        An int64 tensor of shape (num_samples,) or (N, num_samples).
    """
    w = np.asarray(input.data if isinstance(input, Tensor) else input)
    if w.ndim not in (1, 2) or w.shape[-1] == 0:
        raise ValueError(f"multinomial: input must be a 1-D or 2-D tensor of weights with at "
                         f"least one category, got shape {w.shape}")
    if w.dtype.kind not in "fc":
        raise TypeError(f"multinomial: input must be floating point, got {w.dtype}")
    n = int(num_samples)
    if n < 1:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    rows = np.atleast_2d(w).astype(np.float64)
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise ValueError("multinomial: the weights must be finite and non-negative "
                         "(softmax the logits first)")
    totals = rows.sum(axis=1)
    if np.any(totals <= 0):
        raise ValueError("multinomial: a row of weights sums to 0; nothing can be drawn")
    if not replacement and np.any((rows > 0).sum(axis=1) < n):
        raise ValueError(f"multinomial: cannot draw {n} samples without replacement from a "
                         f"row with fewer categories of weight > 0; pass replacement=True")
    rng = _numpy_rng(generator)
    out = np.stack([rng.choice(rows.shape[1], size=n, replace=bool(replacement), p=r / r.sum())
                    for r in rows]).astype(np.int64)
    return _make(out if w.ndim == 2 else out[0], False)


def arange(start: float, end: float | None = None, step: float = 1, dtype: DTypeLike = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``: integers give int64, floats float32,
    unless `dtype` says otherwise."""
    check_device(device, "arange")
    arr = np.arange(start, end, step) if end is not None else np.arange(start)
    if dtype is not None:
        arr = arr.astype(resolve_dtype(dtype))
    elif arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return _make(arr, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: DTypeLike = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from `start` to `end`, both included (float32)."""
    check_device(device, "linspace")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    start, end = (float(v.item()) if isinstance(v, Tensor) else v for v in (start, end))
    return _make(np.linspace(start, end, int(steps)).astype(_dt(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    check_device(device, "eye")
    return _make(np.eye(n, m, dtype=_dt(dtype)), requires_grad)
