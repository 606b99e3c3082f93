"""`lecture_net`: the lecture's feedforward network on one example, ready to draw.

Used by ``minigrad render --sizes 3,3,3,2 --activation sigmoid --loss ce``. The network is
``minigrad.nn.MLP``, so the diagram's names are the ones users meet in their own models
(``layers.0.weight``, boxes ``layers.0 · Linear(3→3)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import minigrad
from minigrad import nn
from minigrad.ops import cross_entropy, mse_loss
from minigrad.tensor import Tensor

__all__ = ["lecture_net", "ACTIVATIONS", "LOSSES"]

ACTIVATIONS = tuple(nn.ACTIVATIONS)
LOSSES = ("ce", "mse")


def lecture_net(
    sizes: Sequence[int] = (3, 3, 3, 2),
    activation: str = "sigmoid",
    loss: str = "ce",
    seed: int = 0,
) -> tuple[Any, Tensor]:
    r"""The lecture's network after one forward and backward on one random example.

    Builds ``MLP(sizes, activation)`` with seeded weights (activation after every layer but
    the last, which gives the logits), draws one example ``x`` (a vector of ``sizes[0]``
    numbers) and its target, computes the loss and calls ``backward()``. Every intermediate
    (``a_k``, ``h_k``) retains its gradient, so a diagram shows the lecture's ``δ = ∇a_k L``
    at every layer, not only the parameters' gradients.

    Args:
        sizes: layer widths n₀, n₁, …, n_L (at least two).
        activation: g, a name from ``nn.ACTIVATIONS`` (``"sigmoid"``, ``"tanh"``, ``"relu"``…).
        loss: ``"ce"`` (softmax + cross-entropy on a class ℓ) or ``"mse"`` (identity output,
            mean squared error against a random target vector).
        seed: seeds the weights and the example.

    Returns:
        ``(model, loss)``: the model (for parameter names) and the scalar loss tensor, whose
        graph is still available for drawing.
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"lecture_net(sizes=...): need at least two positive widths, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"lecture_net(activation=...): {activation!r} is not one of {ACTIVATIONS}")
    if loss not in LOSSES:
        raise ValueError(f"lecture_net(loss=...): {loss!r} is not one of {LOSSES}")
    minigrad.manual_seed(seed)
    model = nn.MLP(list(sizes), activation=activation)
    dtype = next(iter(model.parameters())).dtype
    rng = np.random.default_rng(seed + 1)
    x = Tensor(rng.normal(size=sizes[0]).astype(dtype), name="x")
    out = model(x)
    if loss == "ce":
        target = Tensor(np.asarray(int(rng.integers(0, sizes[-1])), dtype=np.int64), name="ℓ")
        L = cross_entropy(out, target)
    else:
        target = Tensor(rng.normal(size=sizes[-1]).astype(dtype), name="y")
        L = mse_loss(out, target)
    L.name = "L"
    for _, d in minigrad.graph(L).nodes(data=True):
        t = d["tensor"]
        if not d["is_leaf"]:
            t.retain_grad()
    L.backward(retain_graph=True)
    return model, L
