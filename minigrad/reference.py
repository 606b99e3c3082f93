r"""The lecture's backpropagation for a feedforward network, executable: plain numpy, no autograd.

This module is the derivation of the lecture (``LECTURE.md``) written out as code, so that
`compare` can set it beside autograd's sweep over the graph, layer by layer.

Notation:
    - input ``x = h_0``; layers ``k = 1 … L``; layer k has ``n_k`` neurons;
    - ``a_k = b_k + W_k h_{k−1}`` with ``W_k`` of shape ``n_k × n_{k−1}`` (``W_k[i, j]`` joins
      neuron j of layer k−1 to neuron i of layer k) and ``b_k`` of length ``n_k``;
    - ``h_k = g(a_k)`` for the hidden layers ``k < L``; ``ŷ = O(a_L)``;
    - ``∇v L`` is the gradient of the scalar loss with respect to v (same shape as v), and the
      lecture's ``δ`` at layer k is ``∇a_k L``.

Output and loss pairs (``loss=``):
    - ``"ce"``: ``ŷ = softmax(a_L)``, ``L = −log ŷ_ℓ`` for the true class ℓ, and
      ``∇a_L L = −(e(ℓ) − ŷ)``;
    - ``"mse"``: ``ŷ = a_L`` (identity), ``L = ½‖ŷ − y‖²`` (the lecture's ½, so that the 2 of
      the square cancels), and ``∇a_L L = ŷ − y``.

The backward pass, for ``k = L … 1``::

    ∇W_k L     = ∇a_k L · h_{k−1}ᵀ               (an outer product: n_k × 1 times 1 × n_{k−1})
    ∇b_k L     = ∇a_k L
    ∇h_{k−1} L = W_kᵀ · ∇a_k L
    ∇a_{k−1} L = ∇h_{k−1} L ⊙ g′(a_{k−1})        (for k > 1)

Vectors and batches:
    For one example every vector is a column, as in the lecture; the code keeps it as an
    ``(n, 1)`` array so that ``W @ h`` and ``δ @ h.T`` read as written. A batch of N examples
    is handled one example at a time, and the public functions stack the examples as rows,
    as minigrad's models do: ``H_k`` is ``N × n_k`` with row i equal to ``h_{k,i}ᵀ``. The
    batch loss is the sum of the per-example losses (``reduction="sum"``) or their mean
    (``"mean"``), so ``∇W_k = Σ_i δ_i h_{k−1,i}ᵀ`` (``= Δ_kᵀ H_{k−1}`` with the δ_i stacked as
    rows) and ``∇b_k = Σ_i δ_i``, each divided by N for the mean; the returned ``∇a_k`` and
    ``∇h_k`` are the gradients of that batch loss, i.e. row i is ``δ_i`` (÷ N for the mean).
    All arithmetic is float64: this is the oracle.

Matching minigrad's losses (`loss_scale`):
    ``F.cross_entropy`` is exactly the lecture's loss, with the same reduction. ``F.mse_loss``
    (and ``nn.MSELoss``) follow PyTorch and average ``(ŷ − y)²`` over *all* ``N·n_L``
    elements, without the ½::

        mean:  (1/(N n_L)) Σ_i ‖ŷ_i − y_i‖² = (2/n_L) · (1/N) Σ_i ½‖ŷ_i − y_i‖²
        sum:   Σ_i ‖ŷ_i − y_i‖²             = 2 · Σ_i ½‖ŷ_i − y_i‖²

    Every gradient is linear in the loss, so `compare` multiplies the lecture's gradients by
    that factor (``2/n_L`` for the mean, ``2`` for the sum, ``1`` for cross-entropy) and
    prints it in the report's header.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS", "DERIVATIVES", "LOSSES", "REDUCTIONS", "Activation", "Forward", "Gradients",
    "Params", "Report", "Row", "backward", "compare", "forward", "init_params", "loss_scale",
    "loss_value", "tolerance",
]

# W_1 … W_L and b_1 … b_L as a sequence of (W_k, b_k) pairs, k = 1 … L.
Params = Sequence[tuple[Any, Any]]
LOSSES = ("ce", "mse")
REDUCTIONS = ("mean", "sum")


# --------------------------------------------------------------------------- g and g′
def sigmoid(a: np.ndarray) -> np.ndarray:
    """``σ(a) = 1 / (1 + e⁻ᵃ)``, computed from ``e^(−|a|)`` only, so it never overflows."""
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_prime(a: np.ndarray) -> np.ndarray:
    """``σ′(a) = σ(a)(1 − σ(a))``."""
    s = sigmoid(a)
    return s * (1.0 - s)


def tanh_prime(a: np.ndarray) -> np.ndarray:
    """``tanh′(a) = 1 − tanh²(a)``."""
    return 1.0 - np.tanh(a) ** 2


def relu(a: np.ndarray) -> np.ndarray:
    """``relu(a) = max(a, 0)``."""
    return np.maximum(a, 0.0)


def relu_prime(a: np.ndarray) -> np.ndarray:
    """``relu′(a) = 1[a > 0]``; at the kink ``relu′(0) = 0``, as minigrad and PyTorch."""
    return (a > 0).astype(np.float64)


def linear(a: np.ndarray) -> np.ndarray:
    """``g(a) = a``: no activation."""
    return a


def linear_prime(a: np.ndarray) -> np.ndarray:
    """``g′(a) = 1``."""
    return np.ones_like(a)


def leaky_relu(a: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``g(a) = a`` for ``a > 0``, else ``α a``."""
    return np.where(a > 0, a, negative_slope * a)


def leaky_relu_prime(a: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``g′(a) = 1[a > 0] + α 1[a ≤ 0]`` (α at the kink, as minigrad)."""
    return np.where(a > 0, 1.0, negative_slope)


def softplus(a: np.ndarray) -> np.ndarray:
    """``g(a) = log(1 + eᵃ)``, written as ``max(a, 0) + log(1 + e^(−|a|))`` to avoid overflow."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def softplus_prime(a: np.ndarray) -> np.ndarray:
    """``g′(a) = σ(a)``."""
    return sigmoid(a)


_C, _K = math.sqrt(2.0 / math.pi), 0.044715


def gelu(a: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation: ``g(a) = ½a(1 + tanh(c(a + k a³)))``, c = √(2/π), k = 0.044715."""
    return 0.5 * a * (1.0 + np.tanh(_C * (a + _K * a**3)))


def gelu_prime(a: np.ndarray) -> np.ndarray:
    """``g′(a) = ½(1 + t) + ½a(1 − t²) c (1 + 3k a²)`` with ``t = tanh(c(a + k a³))``."""
    t = np.tanh(_C * (a + _K * a**3))
    return 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * _C * (1.0 + 3 * _K * a * a)


# The rulebook, as data: the forward and the backward look a name up here when they run, so a
# test can swap one entry (say, a wrong g′ for sigmoid) and watch `compare` flag it.
ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": relu,
    "linear": linear,
    "leaky_relu": leaky_relu,
    "softplus": softplus,
    "gelu": gelu,
}
DERIVATIVES: dict[str, Callable[..., np.ndarray]] = {
    "sigmoid": sigmoid_prime,
    "tanh": tanh_prime,
    "relu": relu_prime,
    "linear": linear_prime,
    "leaky_relu": leaky_relu_prime,
    "softplus": softplus_prime,
    "gelu": gelu_prime,
}


@dataclass
class Activation:
    """One hidden layer's g, by name, with its parameters (``leaky_relu``: ``negative_slope``).

    A plain name (``"sigmoid"``) may stand for ``Activation("sigmoid")`` everywhere.
    """

    name: str
    params: dict[str, float] = field(default_factory=dict)

    def g(self, a: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.name](a, **self.params)

    def g_prime(self, a: np.ndarray) -> np.ndarray:
        return DERIVATIVES[self.name](a, **self.params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({args})" if args else self.name


ActivationSpec = str | Activation | Sequence[str | Activation]


def _activations(activation: ActivationSpec, L: int) -> list[Activation]:
    """One `Activation` per hidden layer ``k = 1 … L−1``."""
    specs: list[str | Activation]
    if isinstance(activation, (str, Activation)):
        specs = [activation] * (L - 1)
    else:
        specs = list(activation)
        if len(specs) != L - 1:
            raise ValueError(
                f"activation: {L} layers have {L - 1} hidden layers, so give one activation or "
                f"{L - 1} of them, not {len(specs)}"
            )
    out = [s if isinstance(s, Activation) else Activation(s) for s in specs]
    for s in out:
        if s.name not in ACTIVATIONS or s.name not in DERIVATIVES:
            raise ValueError(
                f"activation: unknown g {s.name!r}; choose one of {sorted(ACTIVATIONS)}"
            )
    return out


# --------------------------------------------------------------------------- parameters
def _params(params: Params) -> list[tuple[np.ndarray, np.ndarray]]:
    """Checks the shapes ``W_k: n_k × n_{k−1}``, ``b_k: n_k`` and converts to float64."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    if len(params) == 0:
        raise ValueError("params: need at least one layer (W_1, b_1)")
    for k, (W, b) in enumerate(params, start=1):
        W = np.asarray(W, dtype=np.float64)
        b = np.zeros(W.shape[0]) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(
                f"params: layer {k} has W_{k} of shape {W.shape} and b_{k} of shape {b.shape}; "
                f"W_k must be n_k × n_(k−1) and b_k must have n_k entries"
            )
        if out and out[-1][0].shape[0] != W.shape[1]:
            raise ValueError(
                f"params: W_{k} has {W.shape[1]} columns but layer {k - 1} has "
                f"{out[-1][0].shape[0]} neurons (W_k must be n_k × n_(k−1))"
            )
        out.append((W, b))
    return out


def init_params(sizes: Sequence[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random ``W_k`` (n_k × n_{k−1}, entries ~ N(0, 1/n_{k−1})) and ``b_k`` (~ N(0, 0.1²)) for
    layer sizes ``[n_0, n_1, …, n_L]``; for tests and examples that need no model."""
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((n, m)) / math.sqrt(m), 0.1 * rng.standard_normal(n))
        for m, n in zip(sizes[:-1], sizes[1:])
    ]


def _examples(x: Any, n0: int) -> tuple[np.ndarray, bool]:
    """The examples stacked as rows ``(N, n_0)``, and whether `x` was a single example."""
    X = np.asarray(getattr(x, "data", x), dtype=np.float64)
    single = X.ndim == 1
    X = X.reshape(1, -1) if single else X
    if X.ndim != 2 or X.shape[1] != n0:
        raise ValueError(
            f"x: expected one example of shape ({n0},) or a batch of rows (N, {n0}), "
            f"got shape {X.shape}"
        )
    return X, single


def _targets(y: Any, loss: str, N: int, nL: int, single: bool) -> np.ndarray:
    """Class indices ℓ_i (``ce``, shape (N,)) or target vectors y_i (``mse``, shape (N, n_L))."""
    Y = np.asarray(getattr(y, "data", y))
    if loss == "ce":
        Y = Y.reshape(-1)
        if Y.shape != (N,) or Y.dtype.kind not in "iu":
            raise ValueError(
                f"y: cross-entropy needs one integer class index per example, shape ({N},); "
                f"got {Y.dtype} of shape {np.shape(getattr(y, 'data', y))}"
            )
        if N and (Y.min() < 0 or Y.max() >= nL):
            raise ValueError(f"y: class indices must lie in [0, {nL}), got {Y.min()}…{Y.max()}")
        return Y.astype(np.intp)
    Y = Y.astype(np.float64).reshape(1, -1) if single else Y.astype(np.float64)
    if Y.shape != (N, nL):
        raise ValueError(f"y: squared error needs targets of shape ({N}, {nL}), got {Y.shape}")
    return Y


def _check(loss: str, reduction: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss: must be one of {LOSSES} ('ce': softmax + cross-entropy, "
                         f"'mse': identity + squared error), got {loss!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: must be one of {REDUCTIONS}, got {reduction!r}")


# --------------------------------------------------------------------------- forward
@dataclass
class Forward:
    """Every quantity of the forward pass, indexed as in the lecture.

    Attributes:
        a: ``a[k]`` for ``k = 1 … L``: the pre-activations ``a_k = b_k + W_k h_{k−1}``.
        h: ``h[k]`` for ``k = 0 … L−1``: ``h_0 = x``, ``h_k = g(a_k)``.
        y_hat: ``ŷ = O(a_L)`` (softmax or identity).

    One example: vectors of shape ``(n_k,)``. A batch: rows, shape ``(N, n_k)``.
    """

    a: dict[int, np.ndarray]
    h: dict[int, np.ndarray]
    y_hat: np.ndarray


def softmax(a: np.ndarray) -> np.ndarray:
    """``ŷ_c = e^{a_c} / Σ_j e^{a_j}`` over the column, computed as ``e^{a − max a}`` so no
    exponent overflows (the shift cancels in the ratio)."""
    e = np.exp(a - a.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _forward_one(
    params: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, g: list[Activation], output: str
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], np.ndarray]:
    """One example, column vectors ``(n, 1)``: ``a_k = b_k + W_k h_{k−1}``, ``h_k = g(a_k)``."""
    L = len(params)
    a: dict[int, np.ndarray] = {}
    h: dict[int, np.ndarray] = {0: x}
    for k in range(1, L + 1):
        W_k, b_k = params[k - 1]
        a[k] = b_k[:, None] + W_k @ h[k - 1]
        if k < L:
            h[k] = g[k - 1].g(a[k])
    y_hat = softmax(a[L]) if output == "softmax" else a[L]
    return a, h, y_hat


def _rows(columns: list[np.ndarray], single: bool) -> np.ndarray:
    """Stacks per-example columns ``(n, 1)`` as the rows of an ``(N, n)`` array (or returns
    the one example as a vector ``(n,)``)."""
    M = np.concatenate([c.T for c in columns], axis=0)
    return M[0] if single else M


def forward(
    params: Params, x: Any, activation: ActivationSpec = "sigmoid", output: str = "softmax"
) -> Forward:
    """The forward pass: ``h_0 = x``; ``a_k = b_k + W_k h_{k−1}``; ``h_k = g(a_k)`` for
    ``k < L``; ``ŷ = O(a_L)``.

    Args:
        params: ``[(W_1, b_1), …, (W_L, b_L)]``, ``W_k`` of shape ``n_k × n_{k−1}``.
        x: one example ``(n_0,)`` or a batch stacked as rows ``(N, n_0)``.
        activation: g for every hidden layer (a name in `ACTIVATIONS` or an `Activation`),
            or a sequence of L−1 of them, one per hidden layer.
        output: O, ``"softmax"`` (classification) or ``"identity"`` (squared error).

    Returns:
        a `Forward` with every ``a_k``, ``h_k`` and ``ŷ``.
    """
    if output not in ("softmax", "identity"):
        raise ValueError(f"output: must be 'softmax' or 'identity', got {output!r}")
    P = _params(params)
    g = _activations(activation, len(P))
    X, single = _examples(x, P[0][0].shape[1])
    runs = [_forward_one(P, X[i][:, None], g, output) for i in range(X.shape[0])]
    return Forward(
        a={k: _rows([r[0][k] for r in runs], single) for k in runs[0][0]} if runs else {},
        h={k: _rows([r[1][k] for r in runs], single) for k in runs[0][1]} if runs else {},
        y_hat=_rows([r[2] for r in runs], single) if runs else np.zeros((0, P[-1][0].shape[0])),
    )


def loss_value(
    params: Params,
    x: Any,
    y: Any,
    activation: ActivationSpec = "sigmoid",
    loss: str = "ce",
    reduction: str = "mean",
) -> float:
    """The lecture's loss, per example ``L_i = −log ŷ_ℓ`` (ce) or ``L_i = ½‖ŷ − y‖²`` (mse),
    summed or averaged over the batch.

    ``−log ŷ_ℓ`` is computed as ``log Σ_j e^{a_j} − a_ℓ`` (with the max shifted out), which
    stays finite where ``ŷ_ℓ`` underflows to 0.
    """
    _check(loss, reduction)
    P = _params(params)
    g = _activations(activation, len(P))
    X, single = _examples(x, P[0][0].shape[1])
    nL = P[-1][0].shape[0]
    Y = _targets(y, loss, X.shape[0], nL, single)
    total = 0.0
    for i in range(X.shape[0]):
        a, _, y_hat = _forward_one(P, X[i][:, None], g, "softmax" if loss == "ce" else "identity")
        a_L = a[len(P)][:, 0]
        if loss == "ce":
            m = a_L.max()
            total += float(m + np.log(np.exp(a_L - m).sum()) - a_L[Y[i]])
        else:
            total += float(0.5 * np.sum((y_hat[:, 0] - Y[i]) ** 2))
    return total / X.shape[0] if reduction == "mean" else total


# --------------------------------------------------------------------------- backward
@dataclass
class Gradients:
    """The backward pass, indexed as in the lecture.

    Attributes:
        a: ``a[k] = ∇a_k L`` for ``k = 1 … L`` (the lecture's δ at layer k).
        h: ``h[k] = ∇h_k L`` for ``k = 0 … L−1`` (``∇h_0 L = ∇x L``).
        W: ``W[k] = ∇W_k L``, shape ``n_k × n_{k−1}``.
        b: ``b[k] = ∇b_k L``, shape ``(n_k,)``.
        forward: the forward pass the gradients were computed from.
        loss: the value of the (reduced) loss.

    One example: ``a[k]``, ``h[k]`` are vectors ``(n_k,)``. A batch: rows ``(N, n_k)``, row i
    being example i's δ (÷ N for a mean), the gradient of the batch loss.
    """

    a: dict[int, np.ndarray]
    h: dict[int, np.ndarray]
    W: dict[int, np.ndarray]
    b: dict[int, np.ndarray]
    forward: Forward
    loss: float


def one_hot(ell: int, n: int) -> np.ndarray:
    """``e(ℓ)``: the column with 1 at position ℓ and 0 elsewhere."""
    e = np.zeros((n, 1))
    e[ell, 0] = 1.0
    return e


def _backward_one(
    params: list[tuple[np.ndarray, np.ndarray]],
    a: dict[int, np.ndarray],
    h: dict[int, np.ndarray],
    y_hat: np.ndarray,
    target: Any,
    g: list[Activation],
    loss: str,
) -> tuple[dict[int, np.ndarray], ...]:
    """One example, column vectors, exactly the lecture's loop.

    ``∇a_L L = −(e(ℓ) − ŷ)`` (ce) or ``ŷ − y`` (mse); then for ``k = L … 1``:
    ``∇W_k L = ∇a_k L · h_{k−1}ᵀ``, ``∇b_k L = ∇a_k L``, ``∇h_{k−1} L = W_kᵀ ∇a_k L`` and,
    for ``k > 1``, ``∇a_{k−1} L = ∇h_{k−1} L ⊙ g′(a_{k−1})``.
    """
    L = len(params)
    grad_a: dict[int, np.ndarray] = {}
    grad_h: dict[int, np.ndarray] = {}
    grad_W: dict[int, np.ndarray] = {}
    grad_b: dict[int, np.ndarray] = {}
    if loss == "ce":
        grad_a[L] = -(one_hot(int(target), y_hat.shape[0]) - y_hat)
    else:
        grad_a[L] = y_hat - np.reshape(target, (-1, 1))
    for k in range(L, 0, -1):
        W_k, _ = params[k - 1]
        grad_W[k] = grad_a[k] @ h[k - 1].T  # the outer product δ_k h_{k−1}ᵀ
        grad_b[k] = grad_a[k]
        grad_h[k - 1] = W_k.T @ grad_a[k]
        if k > 1:
            grad_a[k - 1] = grad_h[k - 1] * g[k - 2].g_prime(a[k - 1])
    return grad_a, grad_h, grad_W, grad_b


def backward(
    params: Params,
    x: Any,
    y: Any,
    activation: ActivationSpec = "sigmoid",
    loss: str = "ce",
    reduction: str = "mean",
) -> Gradients:
    r"""The backward pass by the lecture's formulas, per example, then summed or averaged.

    For each example (column vectors):

    - ``∇a_L L = −(e(ℓ) − ŷ)`` for softmax + cross-entropy, ``ŷ − y`` for identity +
      ``½‖ŷ − y‖²``;
    - for ``k = L … 1``: ``∇W_k L = ∇a_k L · h_{k−1}ᵀ``, ``∇b_k L = ∇a_k L``,
      ``∇h_{k−1} L = W_kᵀ ∇a_k L``, and for ``k > 1`` ``∇a_{k−1} L = ∇h_{k−1} L ⊙ g′(a_{k−1})``.

    For a batch the per-example results add up, ``∇W_k = Σ_i δ_i h_{k−1,i}ᵀ``,
    ``∇b_k = Σ_i δ_i``, and a mean divides everything by N.

    Args:
        params: ``[(W_1, b_1), …, (W_L, b_L)]``.
        x: one example ``(n_0,)`` or a batch of rows ``(N, n_0)``.
        y: the class ℓ (ce; one int per example) or the target vector y (mse; ``(n_L,)`` or
            ``(N, n_L)``).
        activation: g for the hidden layers (see `forward`).
        loss: ``"ce"`` or ``"mse"`` (with the lecture's ½).
        reduction: ``"mean"`` or ``"sum"`` over the batch.

    Returns:
        `Gradients` with every ``∇a_k``, ``∇h_k``, ``∇W_k``, ``∇b_k``, the forward pass and the
        loss value.
    """
    _check(loss, reduction)
    P = _params(params)
    g = _activations(activation, len(P))
    X, single = _examples(x, P[0][0].shape[1])
    N, L = X.shape[0], len(P)
    if N == 0:
        raise ValueError("x: the batch is empty")
    Y = _targets(y, loss, N, P[-1][0].shape[0], single)
    output = "softmax" if loss == "ce" else "identity"
    scale = 1.0 / N if reduction == "mean" else 1.0
    fwd, bwd = [], []
    for i in range(N):
        a, h, y_hat = _forward_one(P, X[i][:, None], g, output)
        fwd.append((a, h, y_hat))
        bwd.append(_backward_one(P, a, h, y_hat, Y[i], g, loss))
    grad_a = {k: scale * _rows([r[0][k] for r in bwd], single) for k in range(1, L + 1)}
    grad_h = {k: scale * _rows([r[1][k] for r in bwd], single) for k in range(L)}
    grad_W = {k: scale * np.sum([r[2][k] for r in bwd], axis=0)  # Σ_i δ_i h_{k−1,i}ᵀ
              for k in range(1, L + 1)}
    grad_b = {k: scale * np.sum([r[3][k][:, 0] for r in bwd], axis=0)  # Σ_i δ_i
              for k in range(1, L + 1)}
    forward_pass = Forward(
        a={k: _rows([f[0][k] for f in fwd], single) for k in range(1, L + 1)},
        h={k: _rows([f[1][k] for f in fwd], single) for k in range(L)},
        y_hat=_rows([f[2] for f in fwd], single),
    )
    return Gradients(
        a=grad_a, h=grad_h, W=grad_W, b=grad_b, forward=forward_pass,
        loss=loss_value(P, X, Y, g, loss, reduction),
    )


def loss_scale(loss: str, reduction: str, n_out: int) -> float:
    r"""The factor c with ``minigrad's loss = c · the lecture's loss`` (same reduction).

    - ``ce``: ``F.cross_entropy`` is ``−log ŷ_ℓ`` per example: ``c = 1``.
    - ``mse``, mean: ``F.mse_loss`` averages over all ``N·n_L`` elements and has no ½:
      ``(1/(N n_L)) Σ_i ‖ŷ_i − y_i‖² = (2/n_L) · (1/N) Σ_i ½‖ŷ_i − y_i‖²``, so ``c = 2/n_L``.
    - ``mse``, sum: ``Σ_i ‖ŷ_i − y_i‖² = 2 · Σ_i ½‖ŷ_i − y_i‖²``, so ``c = 2``.

    Every gradient of the loss scales by the same c.
    """
    _check(loss, reduction)
    if loss == "ce":
        return 1.0
    return 2.0 / n_out if reduction == "mean" else 2.0


# --------------------------------------------------------------------------- compare
def tolerance(dtype: Any) -> float:
    """The pass threshold for a model computing in `dtype`: 1e-10 for float64 (rounding is
    ~1e-16 per op), 1e-5 for float32 (~6e-8 per op, a few hundred ops deep), 1e-2 for
    float16. A row passes when ``max|Δ| ≤ tol · max(1, max|formula|)``: an absolute test for
    gradients of size below 1, a relative one above."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return 1e-10
    if dt == np.float32:
        return 1e-5
    if dt == np.float16:
        return 1e-2
    raise TypeError(f"compare: dtype must be float64, float32 or float16, got {dt}")


@dataclass
class Row:
    """One line of the report: one quantity of one layer.

    Attributes:
        layer: k.
        quantity: ``"a_k"``/``"h_k"``/``"L"`` (forward) or ``"∇W_k"``, ``"∇b_k"``, ``"∇a_k"``,
            ``"∇h_k"`` (backward).
        formula: the lecture's formula for it, e.g. ``"∇a_2·h_1ᵀ"`` for ``∇W_2``.
        kind: ``"forward"`` or ``"backward"``.
        shape: the shape compared (autograd's: batches are rows).
        max_abs: ``max |autograd − formula|`` (the formula run by this module on the same
            weights and inputs, from scratch).
        max_rel: ``max_abs / max |formula|`` (0 when both are 0).
        step_rel: backward rows only: the relative error of this one step of the sweep, the
            formula applied to autograd's own inputs of that step (e.g. ``∇a_k`` against
            ``∇h_k ⊙ g′(a_k)`` with autograd's ``∇h_k`` and ``a_k``). A wrong step shows up
            here only at the layer where it happens, while ``max_abs`` also flags every
            quantity computed from it.
        rank: ``∇W_k`` rows of a single example: the numerical rank of autograd's ``∇W_k``
            (the outer product ``δ h_{k−1}ᵀ`` has rank ≤ 1); None otherwise.
        tol: the tolerance used.
        passed: ``max_abs ≤ tol · max(1, max|formula|)``, the same for the step, and rank ≤ 1.
    """

    layer: int
    quantity: str
    formula: str
    kind: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    step_rel: float | None
    rank: int | None
    tol: float
    passed: bool


@dataclass
class Report:
    """The comparison of autograd with the lecture's formulas, one `Row` per quantity.

    ``str(report)`` is an aligned table; ``report.ok`` is True when every row passed.
    """

    rows: list[Row]
    loss: str
    reduction: str
    dtype: str
    batch: int
    sizes: list[int]
    activations: list[str]
    scale: float
    tol: float
    output: Any = field(default=None, repr=False, compare=False)
    """The loss tensor of the autograd run (after backward), e.g. to render its graph."""

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "output"}
        d["ok"] = self.ok
        for r in d["rows"]:
            r["shape"] = list(r["shape"])
        return d

    def __str__(self) -> str:
        acts = ", ".join(self.activations) if self.activations else "none"
        head = (
            f"autograd vs the lecture's formulas: sizes {self.sizes}, g = {acts}, "
            f"loss {self.loss} ({self.reduction}), batch {self.batch}, {self.dtype}, "
            f"tol {self.tol:g}"
        )
        lines = [head]
        if self.loss == "mse":
            lines.append(
                f"squared error: minigrad's mse_loss = {self.scale:g} × the lecture's "
                f"{'mean' if self.reduction == 'mean' else 'sum'} of ½‖ŷ − y‖², "
                f"so the formulas are scaled by {self.scale:g}"
            )
        with_rank = any(r.rank is not None for r in self.rows)
        table = [["", "", "shape", "max|Δ|", "rel", "step"] + (["rank"] if with_rank else [])
                 + [""]]
        for r in self.rows:
            table.append([
                r.quantity,
                "= " + r.formula,
                str(r.shape),
                f"{r.max_abs:.1e}",
                f"{r.max_rel:.1e}",
                "" if r.step_rel is None else f"{r.step_rel:.1e}",
                *(["" if r.rank is None else str(r.rank)] if with_rank else []),
                "✓" if r.passed else "✗ FAIL",
            ])
        widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
        kinds = [None] + [r.kind for r in self.rows]
        for i, t in enumerate(table):
            if i and kinds[i] != kinds[i - 1]:
                lines.append(f"{kinds[i]}:")
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
        lines.append("max|Δ| = max |autograd − formula|, rel = max|Δ| / max |formula|, "
                     "both on the same weights and x;")
        lines.append("step = that one step's formula applied to autograd's own inputs"
                     + ("; rank of autograd's ∇W_k (δ·hᵀ has rank ≤ 1)" if with_rank else ""))
        n_bad = len(self.failed)
        lines.append(
            f"all {len(self.rows)} rows match" if self.ok
            else f"{n_bad} of {len(self.rows)} rows differ: "
            + ", ".join(r.quantity for r in self.failed)
        )
        return "\n".join(lines)


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float, float]:
    """``max|Δ|``, ``max|Δ| / max|want|`` and the scale ``max(1, max|want|)``."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(f"compare: shapes differ, autograd {got.shape} vs formula {want.shape}")
    if got.size == 0:
        return 0.0, 0.0, 1.0
    d = float(np.max(np.abs(got - want)))
    m = float(np.max(np.abs(want)))
    if math.isnan(d):
        d = math.inf  # a NaN anywhere is a failure, never a pass by comparison
    rel = d / m if m > 0 else (0.0 if d == 0 else math.inf)
    return d, rel, max(1.0, m)


def _rank(M: np.ndarray, rtol: float) -> int | None:
    """The number of singular values above ``rtol · σ₁`` (0 for the zero matrix; None when
    M holds a NaN or an infinity, which has no rank)."""
    M = np.asarray(M, dtype=np.float64)
    if not np.all(np.isfinite(M)):
        return None
    s = np.linalg.svd(M, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > rtol * s[0]))


@dataclass
class _Layer:
    """A Linear layer k and the activation module after it (None: the last layer, or none)."""

    name: str
    linear: Any
    act_name: str | None
    act: Any
    g: Activation


def _activation_of(module: Any, nn: Any) -> Activation | None:
    """The reference's g for an activation module, by class (a subclass maps like its base,
    and its own forward then runs in autograd, where any difference shows)."""
    table = [
        ("LeakyReLU", "leaky_relu"), ("ReLU", "relu"), ("Sigmoid", "sigmoid"),
        ("Tanh", "tanh"), ("Identity", "linear"), ("Softplus", "softplus"), ("GELU", "gelu"),
    ]
    for cls_name, name in table:
        cls = getattr(nn, cls_name, None)
        if cls is not None and type(module) is cls:
            return _activation_named(name, module)
    for cls_name, name in table:
        cls = getattr(nn, cls_name, None)
        if cls is not None and isinstance(module, cls):
            return _activation_named(name, module)
    return None


def _activation_named(name: str, module: Any) -> Activation:
    if name == "leaky_relu":
        slope = getattr(module, "negative_slope", 0.01)
        return Activation(name, {"negative_slope": float(slope)})
    return Activation(name)


def _children(module: Any) -> list[tuple[str, Any]]:
    if hasattr(module, "named_children"):
        return list(module.named_children())
    return [(str(i), m) for i, m in enumerate(module)]


def _flatten(seq: Any, prefix: str, nn: Any) -> list[tuple[str, Any]]:
    """The Sequential's modules in order, nested Sequentials opened, with dotted names."""
    out: list[tuple[str, Any]] = []
    for name, m in _children(seq):
        full = f"{prefix}{name}"
        if isinstance(m, nn.Sequential):
            _own_forward(m, nn.Sequential, full)
            out += _flatten(m, full + ".", nn)
        else:
            out.append((full, m))
    return out


def _own_forward(module: Any, base: Any, name: str) -> None:
    if type(module).forward is not base.forward:
        raise ValueError(
            f"compare: layer '{name or '<model>'}' ({type(module).__name__}) overrides "
            f"forward(), so its computation is not known to be the chain of its layers "
            f"(a skip connection, say); compare maps only a plain nn.MLP or nn.Sequential of "
            f"Linear and activation modules"
        )


def _map_model(model: Any) -> list[_Layer]:
    """Reads the model as the lecture's network: Linear (activation Linear)* with the last
    Linear giving the logits a_L. Raises ValueError naming the first layer that does not fit."""
    try:
        from minigrad import nn
    except ImportError as e:  # pragma: no cover - until minigrad.nn lands
        raise ImportError("compare needs minigrad.nn, which is not available") from e
    if isinstance(model, nn.Sequential):
        _own_forward(model, nn.Sequential, "")
        mods = _flatten(model, "", nn)
    elif hasattr(nn, "MLP") and isinstance(model, nn.MLP):
        _own_forward(model, nn.MLP, "")
        mods = _flatten(model.layers, "layers.", nn)
    else:
        raise ValueError(
            f"compare: the model is a {type(model).__name__}; compare maps an nn.MLP or an "
            f"nn.Sequential of Linear and activation modules onto the lecture's formulas"
        )
    layers: list[_Layer] = []
    expect_in: int | None = None
    for i, (name, m) in enumerate(mods):
        kind = type(m).__name__
        if isinstance(m, nn.Linear):
            # two Linears in a row keep the default g = identity between them
            W = m.weight.data
            if W.ndim != 2:
                raise ValueError(f"compare: layer '{name}' ({kind}) has a weight of shape "
                                 f"{W.shape}; expected out_features × in_features")
            if expect_in is not None and W.shape[1] != expect_in:
                raise ValueError(
                    f"compare: layer '{name}' ({kind}) takes {W.shape[1]} inputs "
                    f"(in_features) but the layer before it gives {expect_in}: W_k must be "
                    f"n_k × n_(k−1)"
                )
            expect_in = W.shape[0]
            layers.append(_Layer(name, m, None, None, Activation("linear")))
            continue
        g = _activation_of(m, nn)
        if g is None and i == len(mods) - 1 and isinstance(m, getattr(nn, "Softmax", ())):
            raise ValueError(
                f"compare: the last layer '{name}' ({kind}) turns the logits into "
                f"probabilities; compare needs the logits a_L, since the loss applies the "
                f"softmax (build the MLP with output=None)"
            )
        if g is None:
            raise ValueError(
                f"compare: layer '{name}' ({kind}) is neither a Linear nor a known activation "
                f"(ReLU, Tanh, Sigmoid, LeakyReLU, GELU, Softplus, Identity), so it has no "
                f"place in the lecture's formulas a_k = b_k + W_k h_(k−1), h_k = g(a_k)"
            )
        if not layers:
            raise ValueError(f"compare: layer '{name}' ({kind}) comes before the first Linear; "
                             f"the network must start with a_1 = b_1 + W_1 x")
        if layers[-1].act is not None:
            raise ValueError(
                f"compare: layer '{name}' ({kind}) follows the activation "
                f"'{layers[-1].act_name}'; the formulas have one g per layer"
            )
        layers[-1].act, layers[-1].act_name, layers[-1].g = m, name, g
        if i == len(mods) - 1:
            raise ValueError(
                f"compare: the last layer '{name}' ({kind}) is an activation; the last layer "
                f"must be a Linear giving the logits a_L (softmax/identity is the loss's job)"
            )
    if not layers:
        raise ValueError("compare: the model has no Linear layer")
    return layers


def _as_dtype(dtype: Any) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"compare: dtype {dtype!r} is not a numpy dtype") from e


@contextmanager
def _grads_kept(tensors: list[Any], keep: bool) -> Iterator[None]:
    """Clears the parameters' ``.grad`` for the run (so what it reads is this run's alone)
    and puts the user's values back after, unless `keep`."""
    saved = [t.grad for t in tensors]
    for t in tensors:
        t.grad = None
    try:
        yield
    finally:
        if not keep:
            for t, g in zip(tensors, saved):
                t.grad = g


def compare(
    model: Any,
    x: Any,
    y: Any,
    loss: str = "ce",
    reduction: str = "mean",
    dtype: Any = None,
    keep_grads: bool = False,
) -> Report:
    r"""Runs `model` with autograd and the lecture's formulas on the same weights and inputs,
    and compares every ``a_k``, ``h_k``, ``∇a_k``, ``∇h_k``, ``∇W_k`` and ``∇b_k``.

    The model is an ``nn.MLP`` or an ``nn.Sequential`` of ``Linear`` and activation modules;
    Linear k gives ``a_k`` (its weight is the lecture's ``W_k``, ``n_k × n_{k−1}``, its bias
    ``b_k``), the activation after it gives ``h_k = g(a_k)``, and the last Linear gives the
    logits ``a_L``. Each module is called in turn with autograd on, ``retain_grad()`` keeps
    every ``a_k`` and ``h_k`` (and x, as ``h_0``, requires grad), the loss is minigrad's own
    (``F.cross_entropy`` or ``F.mse_loss`` with `reduction`), and one ``backward()`` fills
    all the gradients. The formulas (`backward`) then run in float64 on ``W_k =
    layer.weight.data`` and ``b_k = layer.bias.data``, their gradients multiplied by
    `loss_scale` (``2/n_L`` for a mean squared error; see the module docstring).

    Args:
        model: the network.
        x: a batch of rows ``(N, n_0)``, or one example ``(n_0,)`` (run as a batch of one).
        y: class indices ``(N,)`` for ``"ce"``, targets ``(N, n_L)`` for ``"mse"``.
        loss: ``"ce"`` (softmax + cross-entropy) or ``"mse"`` (identity + squared error).
        reduction: ``"mean"`` or ``"sum"`` over the batch.
        dtype: the dtype whose tolerance applies (`tolerance`); default: the weights' dtype.
            x is fed to the model in the weights' dtype.
        keep_grads: leave this run's gradients in the parameters' ``.grad`` (replacing what
            was there), as one training step would, e.g. to draw ``report.output`` with
            them. By default compare leaves every ``.grad`` as it found it.

    Returns:
        a `Report`; ``report.ok`` is True when every row is within tolerance (and, for one
        example, every ``∇W_k`` has rank ≤ 1).

    Raises:
        ValueError: the model cannot be mapped onto the formulas (the message names the
            layer by its dotted name and type, and why), or x/y do not fit it.
    """
    import minigrad.functional as F
    from minigrad.tensor import Tensor

    _check(loss, reduction)
    layers = _map_model(model)
    L = len(layers)
    W_dtype = layers[0].linear.weight.data.dtype
    dt = _as_dtype(dtype) if dtype is not None else W_dtype
    tol = tolerance(dt)
    X = np.asarray(getattr(x, "data", x))
    single = X.ndim == 1
    if single:
        X = X[None, :]
    n0 = layers[0].linear.weight.data.shape[1]
    if X.ndim != 2 or X.shape[1] != n0:
        raise ValueError(f"compare: x must be a batch of rows (N, {n0}) for layer "
                         f"'{layers[0].name}' (in_features {n0}); got shape {X.shape}")
    N = X.shape[0]
    nL = layers[-1].linear.weight.data.shape[0]
    Y = _targets(y, loss, N, nL, single)
    params = [(ly.linear.weight, getattr(ly.linear, "bias", None)) for ly in layers]
    tensors = [p for pair in params for p in pair if p is not None]

    # --- autograd, layer by layer, keeping every a_k and h_k
    with _grads_kept(tensors, keep_grads):
        h0 = Tensor(X.astype(W_dtype), requires_grad=True, name="x")
        a: dict[int, Any] = {}
        h: dict[int, Any] = {0: h0}
        for k, ly in enumerate(layers, start=1):
            a[k] = ly.linear(h[k - 1])
            a[k].retain_grad()
            if k < L:
                h[k] = ly.act(a[k]) if ly.act is not None else a[k]
                if h[k] is not a[k]:
                    h[k].retain_grad()
        if loss == "ce":
            out = F.cross_entropy(a[L], Tensor(Y, name="ℓ"), reduction=reduction)
        else:
            out = F.mse_loss(a[L], Tensor(Y.astype(W_dtype), name="y"), reduction=reduction)
        out.name = "L"
        out.retain_grad()
        out.backward()
        auto_W = {k: params[k - 1][0].grad for k in range(1, L + 1)}
        auto_b = {k: getattr(params[k - 1][1], "grad", None) for k in range(1, L + 1)}
    _same_as_model(model, h0, a[L], layers)

    # --- the formulas, from scratch, on the same weights and inputs
    P = [(np.asarray(W.data, np.float64),
          None if b is None else np.asarray(b.data, np.float64)) for W, b in params]
    g = [ly.g for ly in layers[:-1]]
    ref = backward(P, X.astype(np.float64), Y, g, loss, reduction)
    c = loss_scale(loss, reduction, nL)

    def arr(t: Any) -> np.ndarray:
        return np.asarray(t.data, dtype=np.float64)

    def grad_of(t: Any) -> np.ndarray:
        # no gradient at all means the sweep never reached t: NaN makes every check fail
        return np.full(t.shape, np.nan) if t.grad is None else arr(t.grad)

    rows: list[Row] = []

    def add(k: int, q: str, formula: str, kind: str, got: Any, want: np.ndarray,
            step: np.ndarray | None = None, rank_of: Any = None) -> None:
        got_a = np.full(np.shape(want), np.nan) if got is None else arr(got)
        d, rel, scale = _errors(got_a, want)
        ok = d <= tol * scale
        step_rel = None
        if step is not None:
            sd, srel, sscale = _errors(got_a, step)
            step_rel = srel
            ok = ok and sd <= tol * sscale
        rank = None
        if rank_of is not None:
            rank = _rank(got_a, rtol=max(tol, 1e3 * float(np.finfo(W_dtype).eps)))
            ok = ok and rank is not None and rank <= 1
        rows.append(Row(k, q, formula, kind, tuple(got_a.shape), d, rel, step_rel, rank, tol,
                        bool(ok)))

    # forward rows: the values autograd differentiated
    for k in range(1, L + 1):
        bias = f"b_{k} + " if P[k - 1][1] is not None else ""
        add(k, f"a_{k}", f"{bias}W_{k} h_{k - 1}", "forward", a[k], ref.forward.a[k])
        if k < L and h[k] is not a[k]:
            add(k, f"h_{k}", f"{_symbol(layers[k - 1].g)}(a_{k})", "forward", h[k],
                ref.forward.h[k])
    lecture_loss = "−log ŷ_ℓ" if loss == "ce" else "½‖ŷ − y‖²"
    add(L, "L", lecture_loss if c == 1 else f"{c:g} × {lecture_loss}", "forward", out,
        np.asarray(c * ref.loss))

    # backward rows, in the order of the sweep; "step" applies each formula to autograd's own
    # inputs of that step, which pins a wrong step to the layer where it happens
    ga = {k: grad_of(a[k]) for k in a}
    gh = {k: grad_of(h[k]) for k in h}
    aL = arr(a[L])
    if loss == "ce":
        e = np.zeros_like(aL)
        e[np.arange(N), Y] = 1.0
        shifted = np.exp(aL - aL.max(axis=1, keepdims=True))
        step_aL = -(e - shifted / shifted.sum(axis=1, keepdims=True))
    else:
        step_aL = aL - Y
    step_aL *= c / (N if reduction == "mean" else 1)
    top = "−(e(ℓ) − ŷ)" if loss == "ce" else "ŷ − y"
    add(L, f"∇a_{L}", top if c == 1 else f"{c:g} × ({top})", "backward", a[L].grad,
        c * ref.a[L], step=step_aL)
    for k in range(L, 0, -1):
        W_k = P[k - 1][0]
        h_prev = arr(h[k - 1])
        # h_{k−1} is a_{k−1} itself when no activation module sits between two Linears
        hn = f"h_{k - 1}" if k == 1 or h[k - 1] is not a[k - 1] else f"a_{k - 1}"
        add(k, f"∇W_{k}", f"∇a_{k}·{hn}ᵀ", "backward", auto_W[k], c * ref.W[k],
            step=ga[k].T @ h_prev, rank_of=auto_W[k] if N == 1 else None)
        if P[k - 1][1] is not None:
            add(k, f"∇b_{k}", f"∇a_{k}", "backward", auto_b[k], c * ref.b[k],
                step=ga[k].sum(axis=0))
        if hn.startswith("h"):
            add(k - 1, f"∇h_{k - 1}", f"W_{k}ᵀ·∇a_{k}", "backward", h[k - 1].grad,
                c * ref.h[k - 1], step=ga[k] @ W_k)
        if k > 1:
            g_k = layers[k - 2].g
            if hn.startswith("h"):
                formula = f"∇h_{k - 1} ⊙ {_symbol(g_k)}′(a_{k - 1})"
            else:
                formula = f"W_{k}ᵀ·∇a_{k}"
            step = gh[k - 1] * g_k.g_prime(arr(a[k - 1]))
            add(k - 1, f"∇a_{k - 1}", formula, "backward", a[k - 1].grad, c * ref.a[k - 1],
                step=step)

    return Report(
        rows=rows, loss=loss, reduction=reduction, dtype=str(np.dtype(dt)), batch=N,
        sizes=[n0] + [ly.linear.weight.data.shape[0] for ly in layers],
        activations=[str(ly.g) for ly in layers[:-1]], scale=c, tol=tol, output=out,
    )


_SYMBOLS = {"sigmoid": "σ", "linear": "id"}


def _symbol(g: Activation) -> str:
    """How g is written in a formula: σ for the sigmoid, its name otherwise."""
    return _SYMBOLS.get(g.name, g.name)


def _same_as_model(model: Any, x: Any, logits: Any, layers: list[_Layer]) -> None:
    """The layer-by-layer run must be what ``model(x)`` computes; if not, the model's forward
    is not the chain of its layers and the formulas would describe another network."""
    from minigrad.modes import no_grad

    with no_grad():
        y = model(x.detach())
    got = np.asarray(getattr(y, "data", y))
    want = np.asarray(logits.data)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-6,
                                                   equal_nan=True):
        raise ValueError(
            f"compare: model(x) differs from running its layers "
            f"{', '.join(repr(ly.name) for ly in layers)} one after another "
            f"({type(model).__name__}.forward does something else, a skip connection, say); "
            f"compare maps only the plain chain Linear → activation → … → Linear"
        )


def _mapping(model: Any) -> Mapping[str, str]:
    """Layer names and what they map to, e.g. ``{'layers.0': 'W_1, b_1', …}`` (for docs)."""
    out: dict[str, str] = {}
    for k, ly in enumerate(_map_model(model), start=1):
        out[ly.name] = f"a_{k} = b_{k} + W_{k} h_{k - 1}"
        if ly.act_name is not None:
            out[ly.act_name] = f"h_{k} = {ly.g}(a_{k})"
    return out
