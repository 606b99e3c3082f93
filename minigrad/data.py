r"""Small built-in data sets, a train/test split and a mini-batch loader.

Every data set is generated on the spot from a seeded ``numpy.random.Generator`` (nothing is
downloaded) and returned as a pair of numpy arrays ``(X, y)``:

* ``X`` has shape ``(n, n_features)``, float64 unless ``dtype=`` says otherwise;
* ``y`` has shape ``(n,)``, int64 class labels ``0 … n_classes−1``.

Samples come out grouped by class, which makes them easy to inspect and plot;
`train_test_split` and `DataLoader` shuffle them.

Example::

    from minigrad import data

    X, y = data.spirals(n_classes=3, n_per_class=100, seed=0)
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=0.25, seed=0)
    for xb, yb in data.DataLoader(X_train, y_train, batch_size=32, seed=0):
        ...  # xb: Tensor (B, 2), yb: Tensor (B,)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigrad.tensor import DTypeLike, Tensor, resolve_dtype

__all__ = [
    "spirals",
    "moons",
    "circles",
    "xor",
    "blobs",
    "train_test_split",
    "DataLoader",
]


# --- argument checks -------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    # bool is an int subclass, but `n=True` is a typo, never a size
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return int(value)


def _check_nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return float(value)


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    dt = resolve_dtype(dtype)
    if dt is None or dt.kind != "f":
        raise TypeError(f"dtype must be a floating point dtype such as 'float32', got {dtype!r}")
    return dt


def _rng(seed: int | None) -> np.random.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got seed={seed!r}")
    return np.random.default_rng(seed)


def _cloud_args(
    n: Any, noise: Any, seed: int | None, dtype: DTypeLike, noise_name: str = "noise"
) -> tuple[int, float, np.dtype, np.random.Generator]:
    """The arguments of a cloud of ``n`` noisy points, checked in this order: ``n >= 1``, the
    noise's standard deviation ``>= 0``, a floating point dtype, and the seed (made a
    generator)."""
    return _check_int("n", n), _check_nonneg(noise_name, noise), _float_dtype(dtype), _rng(seed)


def _split_counts(n: int, k: int) -> np.ndarray:
    """`n` samples over `k` classes as evenly as possible (the first classes get the rest)."""
    counts = np.full(k, n // k, dtype=np.int64)
    counts[: n % k] += 1
    return counts


def _on_unit_circle(t: np.ndarray) -> np.ndarray:
    """The points ``(cos t, sin t)``, one row per angle."""
    return np.column_stack([np.cos(t), np.sin(t)])


def _two_classes(
    X0: np.ndarray, X1: np.ndarray, noise: float, rng: np.random.Generator, dt: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Class 0's points ``X0`` then class 1's ``X1``, Gaussian noise of standard deviation
    ``noise`` added to every coordinate, and their int64 labels."""
    X = np.concatenate([X0, X1])
    X += noise * rng.standard_normal(X.shape)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [len(X0), len(X1)])
    return X.astype(dt), y


# --- data sets -------------------------------------------------------------------------------


def spirals(
    n_classes: int = 3,
    n_per_class: int = 100,
    noise: float = 0.2,
    seed: int | None = 0,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Interleaved spiral arms, the CS231n classic that no linear classifier can separate.

    Arm ``j`` has ``n_per_class`` points with radius ``r`` evenly spaced in [0, 1] and angle
    ``θ = 4j + 4r + noise·ε`` (ε ~ N(0, 1)), at ``(r·sin θ, r·cos θ)``.

    Args:
        n_classes: number of arms (classes), >= 1.
        n_per_class: points per arm, >= 1.
        noise: standard deviation of the angular noise, in radians; >= 0.
        seed: seed of the generator (None: fresh entropy, not reproducible).
        dtype: floating point dtype of ``X``.

    Returns:
        ``X`` of shape ``(n_classes·n_per_class, 2)`` and ``y`` of shape
        ``(n_classes·n_per_class,)``, int64 labels grouped by class.

    Raises:
        ValueError: a size < 1 or ``noise < 0``.
    """
    k = _check_int("n_classes", n_classes)
    m = _check_int("n_per_class", n_per_class)
    noise = _check_nonneg("noise", noise)
    dt = _float_dtype(dtype)
    rng = _rng(seed)
    X = np.empty((k * m, 2))
    y = np.repeat(np.arange(k, dtype=np.int64), m)
    r = np.linspace(0.0, 1.0, m)
    for j in range(k):
        theta = np.linspace(4.0 * j, 4.0 * (j + 1), m) + noise * rng.standard_normal(m)
        X[j * m : (j + 1) * m] = np.column_stack([r * np.sin(theta), r * np.cos(theta)])
    return X.astype(dt), y


def moons(
    n: int = 200, noise: float = 0.1, seed: int | None = 0, dtype: DTypeLike = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    r"""Two interleaving half circles (as scikit-learn's ``make_moons``).

    Class 0 is the upper half circle ``(cos t, sin t)``, class 1 the lower one
    ``(1 − cos t, 0.5 − sin t)``, for ``t`` evenly spaced in [0, π]; Gaussian noise of standard
    deviation ``noise`` is added to both coordinates.

    Args:
        n: total number of points, >= 1 (class 0 gets the extra one when ``n`` is odd).
        noise: standard deviation of the Gaussian noise; >= 0.
        seed: seed of the generator (None: fresh entropy).
        dtype: floating point dtype of ``X``.

    Returns:
        ``X`` of shape ``(n, 2)`` and int64 labels ``y`` of shape ``(n,)``.

    Raises:
        ValueError: ``n < 1`` or ``noise < 0``.
    """
    n, noise, dt, rng = _cloud_args(n, noise, seed, dtype)
    n0, n1 = _split_counts(n, 2)
    upper = _on_unit_circle(np.linspace(0.0, np.pi, n0))
    lower = np.array([1.0, 0.5]) - _on_unit_circle(np.linspace(0.0, np.pi, n1))
    return _two_classes(upper, lower, noise, rng, dt)


def circles(
    n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int | None = 0,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    r"""A small circle inside a large one (as scikit-learn's ``make_circles``).

    Class 0 lies on the unit circle, class 1 on the circle of radius ``factor``; points are
    evenly spaced in angle and Gaussian noise of standard deviation ``noise`` is added.

    Args:
        n: total number of points, >= 1 (class 0 gets the extra one when ``n`` is odd).
        noise: standard deviation of the Gaussian noise; >= 0.
        factor: radius of the inner circle, in (0, 1).
        seed: seed of the generator (None: fresh entropy).
        dtype: floating point dtype of ``X``.

    Returns:
        ``X`` of shape ``(n, 2)`` and int64 labels ``y`` of shape ``(n,)``.

    Raises:
        ValueError: ``n < 1``, ``noise < 0`` or ``factor`` outside (0, 1).
    """
    n = _check_int("n", n)
    noise = _check_nonneg("noise", noise)
    factor = _check_nonneg("factor", factor)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor must be in (0, 1), got factor={factor!r}")
    dt = _float_dtype(dtype)
    rng = _rng(seed)
    n0, n1 = _split_counts(n, 2)
    outer = _on_unit_circle(np.linspace(0.0, 2.0 * np.pi, n0, endpoint=False))
    inner = factor * _on_unit_circle(np.linspace(0.0, 2.0 * np.pi, n1, endpoint=False))
    return _two_classes(outer, inner, noise, rng, dt)


_XOR_TABLE = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def xor(
    n: int = 200, noise: float = 0.1, seed: int | None = 0, dtype: DTypeLike = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    r"""The XOR problem: label ``x₁ ⊕ x₂`` of a corner of the unit square.

    With ``n == 4`` this is the exact truth table (no noise), rows ``00, 01, 10, 11`` with labels
    ``0, 1, 1, 0``. Otherwise the four corners take turns (so the classes are balanced), each
    point being its corner plus Gaussian noise of standard deviation ``noise``; the points are
    then grouped by class.

    Args:
        n: number of points, >= 1; 4 gives the truth table.
        noise: standard deviation of the Gaussian noise; >= 0 (ignored when ``n == 4``).
        seed: seed of the generator (None: fresh entropy; unused when ``n == 4``).
        dtype: floating point dtype of ``X``.

    Returns:
        ``X`` of shape ``(n, 2)``, the noisy corners grouped by class, and int64 labels
        ``y = x₁ ⊕ x₂`` of their corners, of shape ``(n,)``.

    Raises:
        ValueError: ``n < 1`` or ``noise < 0``.
    """
    n, noise, dt, rng = _cloud_args(n, noise, seed, dtype)
    if n == 4:
        X = _XOR_TABLE.copy()
        y = np.array([0, 1, 1, 0], dtype=np.int64)
        return X.astype(dt), y
    corner = np.arange(n) % 4
    X = _XOR_TABLE[corner] + noise * rng.standard_normal((n, 2))
    y = (_XOR_TABLE[corner, 0] != _XOR_TABLE[corner, 1]).astype(np.int64)
    order = np.argsort(y, kind="stable")
    return X[order].astype(dt), y[order]


def blobs(
    n: int = 200,
    centers: int | Any = 3,
    std: float = 1.0,
    seed: int | None = 0,
    n_features: int = 2,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Isotropic Gaussian blobs (as scikit-learn's ``make_blobs``).

    Args:
        n: total number of points, >= 1, shared as evenly as possible between the blobs.
        centers: the number of blobs, whose centres are drawn uniformly in [−10, 10]^d, or an
            array of shape ``(k, n_features)`` giving the centres (then ``n_features`` is
            taken from it).
        std: standard deviation of each blob; >= 0.
        seed: seed of the generator (None: fresh entropy).
        n_features: dimension ``d`` of the points, >= 1.
        dtype: floating point dtype of ``X``.

    Returns:
        ``X`` of shape ``(n, n_features)`` and int64 labels ``y`` of shape ``(n,)``.

    Raises:
        ValueError: a size < 1, ``std < 0`` or a badly shaped ``centers`` array.
    """
    n, std, dt, rng = _cloud_args(n, std, seed, dtype, noise_name="std")
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = _check_int("centers", centers)
        d = _check_int("n_features", n_features)
        C = rng.uniform(-10.0, 10.0, size=(k, d))
    else:
        C = np.asarray(centers, dtype=np.float64)
        if C.ndim != 2 or C.shape[0] < 1 or C.shape[1] < 1:
            raise ValueError(
                f"centers must be an int or an array of shape (k, n_features), got shape {C.shape}"
            )
        k, d = C.shape
    counts = _split_counts(n, k)
    y = np.repeat(np.arange(k, dtype=np.int64), counts)
    X = C[y] + std * rng.standard_normal((n, d))
    return X.astype(dt), y


# --- splitting and batching ------------------------------------------------------------------


def _as_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = X.data if isinstance(X, Tensor) else np.asarray(X)
    y = y.data if isinstance(y, Tensor) else np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"X and y must have a first (sample) axis, got shapes X {X.shape} and y {y.shape}"
        )
    if len(X) != len(y):
        raise ValueError(
            f"X and y must have the same number of samples, got len(X)={len(X)} and len(y)={len(y)}"
        )
    return X, y


def train_test_split(
    X: Any,
    y: Any,
    test_size: float = 0.25,
    seed: int | None = 0,
    stratify: Any = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Shuffles the samples and splits them into a training and a test part.

    Args:
        X: samples, array-like with the sample axis first.
        y: labels or targets, one per sample.
        test_size: fraction of the samples put in the test part, in (0, 1); the test part gets
            ``ceil(test_size·n)`` samples (``round`` per class when stratified).
        seed: seed of the shuffle (None: fresh entropy).
        stratify: ``True`` to keep the class proportions of ``y`` in both parts, or an array
            of group labels (one per sample) to stratify on, as scikit-learn's ``stratify=y``.
            ``False``/``None``: plain random split.

    Returns:
        ``X_train, X_test, y_train, y_test`` as numpy arrays, each part in shuffled order.

    Raises:
        ValueError: mismatched lengths, ``test_size`` outside (0, 1), or a split that would
            leave one part empty.
    """
    X, y = _as_xy(X, y)
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got test_size={test_size!r}")
    rng = _rng(seed)
    n = len(X)
    if stratify is None or stratify is False:
        perm = rng.permutation(n)
        n_test = math.ceil(test_size * n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        groups = y if stratify is True else np.asarray(stratify)
        if groups.shape[:1] != (n,):
            raise ValueError(
                f"stratify must hold one label per sample ({n}), got shape {groups.shape}"
            )
        test_parts, train_parts = [], []
        for g in np.unique(groups):
            idx = rng.permutation(np.flatnonzero(groups == g))
            k = int(round(test_size * len(idx)))
            test_parts.append(idx[:k])
            train_parts.append(idx[k:])
        # grouped by class above; mix the classes again so batches are not sorted by label
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    if len(test_idx) == 0 or len(train_idx) == 0:
        raise ValueError(
            f"test_size={test_size!r} on {n} samples leaves {len(train_idx)} for training and "
            f"{len(test_idx)} for testing: both parts need at least one sample"
        )
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


class DataLoader:
    r"""Iterates over ``(X_batch, y_batch)`` mini-batches as Tensors, PyTorch style.

    Each ``for`` loop over the loader is one epoch that visits every sample exactly once (all
    but the last incomplete batch with ``drop_last=True``). With ``shuffle=True`` every epoch
    draws a new permutation from the loader's own generator, seeded by ``seed``, so two loaders
    built alike give the same batches without touching the global `minigrad.manual_seed` state.

    Args:
        X: samples, array-like or Tensor with the sample axis first.
        y: labels or targets, one per sample.
        batch_size: samples per batch, >= 1.
        shuffle: draw a new order every epoch; otherwise keep the given order.
        seed: seed of the loader's generator (None: fresh entropy).
        drop_last: skip the last batch when it has fewer than ``batch_size`` samples.
        dtype: dtype of the ``X`` batches (None keeps that of ``X``); ``y`` keeps its dtype.

    Example::

        loader = DataLoader(X, y, batch_size=32, seed=0)
        for epoch in range(10):
            for xb, yb in loader:
                ...
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = 0,
        drop_last: bool = False,
        dtype: DTypeLike = None,
    ) -> None:
        X, y = _as_xy(X, y)
        self.batch_size = _check_int("batch_size", batch_size)
        dt = resolve_dtype(dtype)
        # converted once here so that every batch is a cheap slice, not a cast
        self.X = X.astype(dt) if dt is not None else X
        self.y = y
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = _rng(seed)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.X)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.X)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            # fancy indexing copies, so the batch tensors never alias the loader's arrays
            yield Tensor._wrap(self.X[idx]), Tensor._wrap(self.y[idx])

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.X)}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})"
        )
