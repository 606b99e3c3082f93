r"""A model of your own, drawn and checked from the command line with ``--from``.

``minigrad render`` and ``minigrad compare`` import this file and call one of its functions
with no arguments (minigrad's random numbers seeded with ``--seed`` first):

- `loss` returns ``(loss, model)``: the scalar loss of one batch and the model, whose
  ``named_parameters()`` give the diagram its dotted names (``hidden.weight``).
- `model_and_batch` returns ``(model, x, y)``: the model, an input batch and its class
  indices. ``compare`` needs this form, since it runs the model itself beside the
  hand-derived formulas; ``render`` runs it with ``--loss`` (cross-entropy by default).

Run::

    minigrad render --from examples/my_model.py:loss --backward --out my_model.svg
    minigrad render --from examples/my_model.py:loss --steps my_model.html
    minigrad compare --from examples/my_model.py:model_and_batch

Copy the file and put your own model in `SpiralNet`'s place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import data, nn


class SpiralNet(nn.Module):
    r"""Two points' coordinates → 3 class scores: ``out(tanh(hidden(x)))``.

    Shapes: x ``(N, 2)`` → hidden ``(N, 8)`` → logits ``(N, 3)``.
    """

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, hidden, dtype="float64")
        self.act = nn.Tanh()
        self.out = nn.Linear(hidden, 3, dtype="float64")

    def forward(self, x: Any) -> Any:
        return self.out(self.act(self.hidden(x)))


def model_and_batch() -> tuple[SpiralNet, np.ndarray, np.ndarray]:
    """``(model, x, y)``: a fresh `SpiralNet` and four points of the spirals with their
    classes."""
    X, y = data.spirals(n_classes=3, n_per_class=20, seed=0)
    pick = np.array([0, 25, 45, 59])
    return SpiralNet(), X[pick], y[pick]


def loss() -> tuple[minigrad.Tensor, SpiralNet]:
    """``(loss, model)``: the cross-entropy of `model_and_batch`'s batch, before backward
    (``minigrad render`` runs it, keeping every intermediate's gradient)."""
    model, x, y = model_and_batch()
    L = F.cross_entropy(model(minigrad.Tensor(x, name="x")), minigrad.Tensor(y, name="ℓ"))
    L.name = "L"
    return L, model
