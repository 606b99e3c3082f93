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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.reference.dense import Activation, ActivationSpec, hidden_activations
from minigrad.reference.losses import as_targets, check_loss, one_hot, softmax

__all__ = [
    "Forward", "Gradients", "Params", "backward", "forward", "init_params", "loss_value",
]

# W_1 … W_L and b_1 … b_L as a sequence of (W_k, b_k) pairs, k = 1 … L.
Params = Sequence[tuple[Any, Any]]


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
    g = hidden_activations(activation, len(P))
    X, single = _examples(x, P[0][0].shape[1])
    runs = [_forward_one(P, X[i][:, None], g, output) for i in range(X.shape[0])]
    return Forward(
        a={k: _rows([r[0][k] for r in runs], single) for k in runs[0][0]} if runs else {},
        h={k: _rows([r[1][k] for r in runs], single) for k in runs[0][1]} if runs else {},
        y_hat=_rows([r[2] for r in runs], single) if runs else np.zeros((0, P[-1][0].shape[0])),
    )


def loss_value(
    params: Params, x: Any, y: Any, activation: ActivationSpec = "sigmoid", loss: str = "ce",
    reduction: str = "mean",
) -> float:
    """The lecture's loss, per example ``L_i = −log ŷ_ℓ`` (ce) or ``L_i = ½‖ŷ − y‖²`` (mse),
    summed or averaged over the batch.

    ``−log ŷ_ℓ`` is computed as ``log Σ_j e^{a_j} − a_ℓ`` (with the max shifted out), which
    stays finite where ``ŷ_ℓ`` underflows to 0.
    """
    check_loss(loss, reduction)
    P = _params(params)
    g = hidden_activations(activation, len(P))
    X, single = _examples(x, P[0][0].shape[1])
    nL = P[-1][0].shape[0]
    Y = as_targets(y, loss, X.shape[0], nL, single)
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
    params: Params, x: Any, y: Any, activation: ActivationSpec = "sigmoid", loss: str = "ce",
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
    check_loss(loss, reduction)
    P = _params(params)
    g = hidden_activations(activation, len(P))
    X, single = _examples(x, P[0][0].shape[1])
    N, L = X.shape[0], len(P)
    if N == 0:
        raise ValueError("x: the batch is empty")
    Y = as_targets(y, loss, N, P[-1][0].shape[0], single)
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
