"""The workloads the suite times, written once for each library.

Every library gets the same weights, batch and constants (copied, so no library sees
another's updates). The MLP is written with tensor ops in every library (``h @ W + b``, relu,
cross-entropy) with an in-place SGD update (``p.sub_(p.grad * lr)`` under no_grad), so the
suite depends on nothing but the engine.

Libraries: "numpy" (hand-written: the lecture's formulas vectorised over the batch),
"minigrad", "torch" and "autograd" (HIPS autograd); the last two only where installed.

Imported by bench/run.py, bench/memprobe.py and bench/profile_chain.py, which set the thread
environment variables before numpy is first imported.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

LIBRARIES = ("numpy", "minigrad", "torch", "autograd")
_MODULE = {"numpy": "numpy", "minigrad": "minigrad", "torch": "torch", "autograd": "autograd"}
_DIST = {"numpy": "numpy", "minigrad": "minigrad", "torch": "torch", "autograd": "autograd"}


def installed(lib: str) -> bool:
    return importlib.util.find_spec(_MODULE[lib]) is not None


def lib_version(lib: str) -> str | None:
    if not installed(lib):
        return None
    try:
        return version(_DIST[lib])
    except PackageNotFoundError:
        mod = __import__(_MODULE[lib])
        return str(getattr(mod, "__version__", "?"))


def available_libraries() -> list[str]:
    return [lib for lib in LIBRARIES if installed(lib)]


def pin_torch_threads() -> None:
    """Gives torch's intra-op pool the same size as the BLAS pools (from OMP_NUM_THREADS)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


# ----------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """Problem sizes; `quick` shrinks everything for the smoke run (seconds in all)."""

    quick: bool = False

    @property
    def mlp_large(self) -> tuple[int, ...]:
        return (784, 32, 32, 10) if self.quick else (784, 512, 512, 10)

    @property
    def batch_large(self) -> int:
        return 16 if self.quick else 256

    @property
    def mlp_small(self) -> tuple[int, ...]:
        return (64, 64, 64, 10)

    @property
    def batch_small(self) -> int:
        return 32

    @property
    def chain_short(self) -> int:
        return 90 if self.quick else 2_000

    @property
    def chain_long(self) -> int:
        return 900 if self.quick else 100_000

    @property
    def render_nodes(self) -> int:
        return 60 if self.quick else 5_000

    @property
    def train_steps(self) -> tuple[int, int]:
        """(warm-up steps before the first reading, steps in all)."""
        return (50, 200) if self.quick else (1_000, 10_000)


LR = 0.01

# ----------------------------------------------------------------------------- MLP data


def mlp_data(
    sizes: Sequence[int], batch: int, dtype: Any, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """He-initialised weights W_k of shape (in, out) and biases b_k, a batch X and labels y.

    The models compute ``h @ W + b`` (rows are examples), so W_k is the transpose of the
    lecture's (out × in) matrix. Returns ``([W1, b1, W2, b2, ...], X, y)``.
    """
    rng = np.random.default_rng(seed)
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        params.append(W.astype(dtype))
        params.append((rng.standard_normal(fan_out) * 0.01).astype(dtype))
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    return params, X, y


class NumpyMLP:
    r"""Hand-written numpy, the lecture's formulas vectorised over the batch (rows are examples):

    forward   A_k = H_{k−1} W_k + b_k,  H_k = relu(A_k),  L = mean_i −log softmax(A_L)_{i,ℓ_i}
    backward  Δ_L = (softmax(A_L) − onehot(ℓ)) / N
              ∇W_k = H_{k−1}ᵀ Δ_k,  ∇b_k = Σ_i Δ_k,  ∇H_{k−1} = Δ_k W_kᵀ,  Δ_{k−1} = ∇H ⊙ 1[A>0]
    update    W ← W − lr ∇W, in place.
    """

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        self.params = [p.copy() for p in params]
        self.X, self.y, self.lr = X, y, lr
        self.rows = np.arange(len(y))

    def grads(self) -> tuple[float, list[np.ndarray]]:
        p, y, rows = self.params, self.y, self.rows
        n_layers = len(p) // 2
        n = len(y)
        hs = [self.X]
        acts = []
        h = self.X
        for k in range(n_layers):
            a = h @ p[2 * k]
            a += p[2 * k + 1]
            acts.append(a)
            if k < n_layers - 1:
                h = np.maximum(a, 0)
                hs.append(h)
        z = a - a.max(axis=1, keepdims=True)  # stable softmax cross-entropy
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.log(s).mean() - z[rows, y].mean())
        d = e / s
        d[rows, y] -= 1
        d /= n
        gs: list[Any] = [None] * len(p)
        for k in reversed(range(n_layers)):
            gs[2 * k] = hs[k].T @ d
            gs[2 * k + 1] = d.sum(axis=0)
            if k > 0:
                dh = d @ p[2 * k].T
                dh *= acts[k - 1] > 0
                d = dh
        return loss, gs

    def step(self) -> float:
        loss, gs = self.grads()
        lr = self.lr
        for w, g in zip(self.params, gs):
            w -= lr * g
        return loss

    def weights(self) -> list[np.ndarray]:
        return self.params


class NumpyMLPInPlace:
    r"""`NumpyMLP` as a careful person writes it for speed: every array allocated once (the
    activations, the softmax, the gradients, the masks), every numpy call writing into one
    of them (``out=``), elementwise steps in place, and each layer's SGD update made as soon
    as its gradients are ready (after the gradient flowing down, which reads W). The same
    formulas and the same numpy calls as `NumpyMLP`, so the same loss to rounding.
    """

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        self.params = [p.copy() for p in params]
        self.X, self.y, self.lr = X, y, lr
        n, dt = len(y), X.dtype
        ws = self.params[::2]
        self.acts = [np.empty((n, w.shape[1]), dt) for w in ws]      # A_k
        self.hs = [X] + [np.empty_like(a) for a in self.acts[:-1]]  # H_k = relu(A_k)
        self.grads = [np.empty_like(p) for p in self.params]
        self.deltas = [np.empty_like(a) for a in self.acts]          # Δ_k
        self.masks = [np.empty(a.shape, bool) for a in self.acts]
        C = ws[-1].shape[1]
        self.classes = np.arange(C)
        self.rowmax = np.empty((n, 1), dt)
        self.sums = np.empty((n, 1), dt)
        self.logs = np.empty(n, dt)
        self.flat = np.empty(n, np.int64)
        self.picked = np.empty(n, dt)
        self.offsets = np.arange(0, n * C, C)
        self.lr_ = np.asarray(lr, dt)  # 0-d: no conversion of the Python float at each call
        self.n_ = np.asarray(n, dt)

    def _loss(self, a: np.ndarray, d: np.ndarray) -> Any:
        """Softmax cross-entropy of logits `a` (overwritten with z = a − max a); ŷ into `d`."""
        np.maximum.reduce(a, axis=1, keepdims=True, out=self.rowmax)
        np.subtract(a, self.rowmax, a)
        np.exp(a, d)
        np.add.reduce(d, axis=1, keepdims=True, out=self.sums)
        np.log(self.sums[:, 0], self.logs)
        np.add(self.offsets, self.y, self.flat)
        np.take(a.reshape(-1), self.flat, out=self.picked)
        np.subtract(self.logs, self.picked, self.logs)
        loss = np.add.reduce(self.logs, axis=None) / self.n_
        np.divide(d, self.sums, d)
        return loss

    def step(self) -> Any:
        p, acts, hs, deltas, masks, gs = (self.params, self.acts, self.hs, self.deltas,
                                          self.masks, self.grads)
        L = len(acts)
        for k in range(L):
            np.matmul(hs[k], p[2 * k], acts[k])
            np.add(acts[k], p[2 * k + 1], acts[k])
            if k < L - 1:
                np.maximum(acts[k], 0, out=hs[k + 1])
        d = deltas[-1]
        loss = self._loss(acts[-1], d)
        np.equal(self.y[:, None], self.classes, masks[-1])  # e(ℓ): Δ = (ŷ − e(ℓ)) / N
        np.subtract(d, 1, out=d, where=masks[-1])
        np.divide(d, self.n_, d)
        lr = self.lr_
        for k in reversed(range(L)):
            gw, gb = gs[2 * k], gs[2 * k + 1]
            np.matmul(hs[k].T, d, gw)
            np.add.reduce(d, axis=0, out=gb)
            if k > 0:
                dh = deltas[k - 1]
                np.matmul(d, p[2 * k].T, dh)
                np.greater(acts[k - 1], 0, masks[k - 1])
                np.multiply(dh, masks[k - 1], dh)
                d = dh
            np.multiply(gw, lr, gw)
            np.subtract(p[2 * k], gw, p[2 * k])
            np.multiply(gb, lr, gb)
            np.subtract(p[2 * k + 1], gb, p[2 * k + 1])
        return loss

    def weights(self) -> list[np.ndarray]:
        return self.params


class MinigradMLP:
    """The same model from minigrad Tensors and tensor ops (``h @ W + b``, relu,
    cross_entropy); SGD in place, ``p.sub_(p.grad * lr)`` under no_grad()."""

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        import minigrad as mg
        import minigrad.functional as F

        self.mg, self.F = mg, F
        self.params = [mg.Tensor(p, requires_grad=True) for p in params]
        self.X = mg.Tensor(X)
        self.y, self.lr = y, lr

    def _loss_backward(self) -> Any:
        F, p = self.F, self.params
        h = self.X
        n_layers = len(p) // 2
        for k in range(n_layers - 1):
            h = F.relu(h @ p[2 * k] + p[2 * k + 1])
        loss = F.cross_entropy(h @ p[-2] + p[-1], self.y)
        loss.backward()
        return loss

    def grads(self) -> tuple[float, list[np.ndarray]]:
        loss = self._loss_backward()
        gs = []
        for w in self.params:
            gs.append(w.grad.data.copy())
            w.grad = None
        return float(loss.item()), gs

    def step(self) -> Any:
        loss = self._loss_backward()
        lr = self.lr
        with self.mg.no_grad():
            for w in self.params:
                w.sub_(w.grad * lr)
                w.grad = None
        return loss

    def weights(self) -> list[np.ndarray]:
        return [w.data for w in self.params]


class TorchMLP:
    """The same model with torch tensor ops; SGD in place, ``p.sub_(p.grad * lr)`` under
    torch.no_grad()."""

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        self.params = [torch.tensor(p, requires_grad=True) for p in params]
        self.X = torch.tensor(X)
        self.y = torch.tensor(y)
        self.lr = lr

    def _loss_backward(self) -> Any:
        F, p = self.F, self.params
        h = self.X
        n_layers = len(p) // 2
        for k in range(n_layers - 1):
            h = F.relu(h @ p[2 * k] + p[2 * k + 1])
        loss = F.cross_entropy(h @ p[-2] + p[-1], self.y)
        loss.backward()
        return loss

    def grads(self) -> tuple[float, list[np.ndarray]]:
        loss = self._loss_backward()
        gs = []
        for w in self.params:
            gs.append(w.grad.numpy().copy())
            w.grad = None
        return float(loss.item()), gs

    def step(self) -> Any:
        loss = self._loss_backward()
        lr = self.lr
        with self.torch.no_grad():
            for w in self.params:
                w.sub_(w.grad * lr)
                w.grad = None
        return loss

    def weights(self) -> list[np.ndarray]:
        return [w.detach().numpy() for w in self.params]


class AutogradMLP:
    """HIPS autograd: `value_and_grad` of the same loss written with autograd.numpy."""

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        import autograd.numpy as anp
        from autograd import value_and_grad

        rows = np.arange(len(y))

        def loss_fn(ps: list[Any], X: np.ndarray, y: np.ndarray) -> Any:
            h = X
            n_layers = len(ps) // 2
            for k in range(n_layers - 1):
                h = anp.maximum(anp.dot(h, ps[2 * k]) + ps[2 * k + 1], 0.0)
            a = anp.dot(h, ps[-2]) + ps[-1]
            z = a - anp.max(a, axis=1, keepdims=True)
            logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
            return -anp.mean(logp[rows, y])

        self.vg = value_and_grad(loss_fn)
        self.params = [p.copy() for p in params]
        self.X, self.y, self.lr = X, y, lr

    def grads(self) -> tuple[float, list[np.ndarray]]:
        loss, gs = self.vg(self.params, self.X, self.y)
        return float(loss), [np.asarray(g) for g in gs]

    def step(self) -> Any:
        loss, gs = self.vg(self.params, self.X, self.y)
        lr = self.lr
        for w, g in zip(self.params, gs):
            w -= lr * g
        return loss

    def weights(self) -> list[np.ndarray]:
        return self.params


MLPS: dict[str, Callable[..., Any]] = {
    "numpy": NumpyMLP, "minigrad": MinigradMLP, "torch": TorchMLP, "autograd": AutogradMLP,
}


def make_mlp(lib: str, params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> Any:
    return MLPS[lib](params, X, y)


# ----------------------------------------------------------------------------- op chain


def chain_data(dtype: Any = np.float32, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (the input that requires grad), and the constants a (added) and b (multiplied), 4×4.

    a ≈ 0 and b ≈ 1, so that over 100,000 ops neither the values nor the gradients drift
    into overflow or subnormal numbers (subnormals would slow numpy and distort the timings).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.1, 0.1, (4, 4)).astype(dtype)
    a = rng.uniform(-1e-6, 1e-6, (4, 4)).astype(dtype)
    b = (1.0 + rng.uniform(-1e-5, 1e-5, (4, 4))).astype(dtype)
    return x, a, b


class NumpyChain:
    """Hand-written: forward keeps the tanh outputs on a list; backward applies δ, δ ⊙ b and
    δ ⊙ (1 − y²) in reverse."""

    def __init__(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
        self.x, self.a, self.b, self.n = x, a, b, n

    def forward(self) -> Any:
        a, b, tanh = self.a, self.b, np.tanh
        h = self.x
        tape = []
        for i in range(self.n):
            r = i % 3
            if r == 0:
                h = h + a
            elif r == 1:
                h = h * b
            else:
                h = tanh(h)
                tape.append(h)
        return h.sum(), tape

    def backward(self, state: Any) -> np.ndarray:
        _, tape = state
        b = self.b
        g = np.ones_like(self.x)
        for i in reversed(range(self.n)):
            r = i % 3
            if r == 1:
                g = g * b
            elif r == 2:
                y = tape.pop()
                g = g * (1 - y * y)
        return g

    def run(self) -> np.ndarray:
        return self.backward(self.forward())


class NumpyChainInPlace:
    """`NumpyChain` as a careful person writes it for speed: the loop unrolled by the
    pattern's period (add, mul, tanh), every array allocated once (the tanh outputs the
    backward reads, a scratch array, δ), every call writing into one of them, constants as
    0-d arrays of the dtype (no conversion of a Python number at each call)."""

    def __init__(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
        self.x, self.a, self.b, self.n = x, a, b, n
        self.tape = [np.empty_like(x) for _ in range(n // 3)]
        self.h = np.empty_like(x)
        self.t = np.empty_like(x)
        self.g = np.empty_like(x)
        self.one = np.ones((), x.dtype)

    def forward(self) -> Any:
        a, b, h, tanh, add, mul = self.a, self.b, self.h, np.tanh, np.add, np.multiply
        y = self.x
        for out in self.tape:
            add(y, a, h)
            mul(h, b, h)
            y = tanh(h, out)
        rest = self.n % 3
        if rest:
            add(y, a, h)
            y = h
            if rest == 2:
                mul(h, b, h)
        return np.add.reduce(y, axis=None)

    def backward(self, state: Any) -> np.ndarray:
        b, t, g, one, mul, sub = self.b, self.t, self.g, self.one, np.multiply, np.subtract
        g[...] = 1
        if self.n % 3 == 2:
            mul(g, b, g)
        for y in reversed(self.tape):
            mul(y, y, t)
            sub(one, t, t)
            mul(g, t, g)
            mul(g, b, g)
        return g

    def run(self) -> np.ndarray:
        return self.backward(self.forward())


class MinigradChain:
    def __init__(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
        import minigrad as mg

        self.mg = mg
        self.x = mg.Tensor(x, requires_grad=True)
        self.a, self.b, self.n = mg.Tensor(a), mg.Tensor(b), n

    def forward(self) -> Any:
        a, b, tanh = self.a, self.b, self.mg.tanh
        h = self.x
        for i in range(self.n):
            r = i % 3
            if r == 0:
                h = h + a
            elif r == 1:
                h = h * b
            else:
                h = tanh(h)
        return h.sum()

    def backward(self, s: Any) -> np.ndarray:
        s.backward()
        g = self.x.grad.data
        self.x.grad = None
        return g

    def run(self) -> np.ndarray:
        return self.backward(self.forward())


class TorchChain:
    def __init__(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
        import torch

        self.torch = torch
        self.x = torch.tensor(x, requires_grad=True)
        self.a, self.b, self.n = torch.tensor(a), torch.tensor(b), n

    def forward(self) -> Any:
        a, b, tanh = self.a, self.b, self.torch.tanh
        h = self.x
        for i in range(self.n):
            r = i % 3
            if r == 0:
                h = h + a
            elif r == 1:
                h = h * b
            else:
                h = tanh(h)
        return h.sum()

    def backward(self, s: Any) -> np.ndarray:
        s.backward()
        g = self.x.grad.numpy()
        self.x.grad = None
        return g

    def run(self) -> np.ndarray:
        return self.backward(self.forward())


class AutogradChain:
    """HIPS autograd: `make_vjp` records the forward, calling the vjp runs the backward."""

    def __init__(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
        import autograd.numpy as anp
        from autograd import make_vjp

        def f(h: Any) -> Any:
            tanh = anp.tanh
            for i in range(n):
                r = i % 3
                if r == 0:
                    h = h + a
                elif r == 1:
                    h = h * b
                else:
                    h = tanh(h)
            return anp.sum(h)

        self.x = x
        self.make = make_vjp(f)

    def forward(self) -> Any:
        return self.make(self.x)

    def backward(self, state: Any) -> np.ndarray:
        vjp, ans = state
        return np.asarray(vjp(np.ones_like(ans)))

    def run(self) -> np.ndarray:
        return self.backward(self.forward())


CHAINS: dict[str, Callable[..., Any]] = {
    "numpy": NumpyChain, "minigrad": MinigradChain, "torch": TorchChain, "autograd": AutogradChain,
}


def make_chain(lib: str, n: int, dtype: Any = np.float32) -> Any:
    x, a, b = chain_data(dtype)
    return CHAINS[lib](x, a, b, n)


# ----------------------------------------------------------------------------- render graph


def render_graph(n_nodes: int) -> Any:
    """A minigrad output whose history has about `n_nodes` nodes: a deep stack of tiny
    tanh(linear) blocks, each under its own module scope (``blocks.i``), ending in a sum.
    Each block adds 4 nodes (W, b, linear, tanh)."""
    import minigrad as mg
    import minigrad.functional as F
    from minigrad.modes import scope

    rng = np.random.default_rng(2)
    h = mg.Tensor(rng.standard_normal((2, 4)).astype(np.float32), name="x")
    for i in range((n_nodes - 2) // 4):
        with scope(f"blocks.{i}"):
            W = mg.Tensor(rng.standard_normal((4, 4)).astype(np.float32) * 0.5,
                          requires_grad=True, name="W")
            b = mg.Tensor(np.zeros(4, np.float32), requires_grad=True, name="b")
            h = F.tanh(F.linear(h, W, b))
    return h.sum()
