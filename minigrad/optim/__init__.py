r"""Optimizers: each step moves every parameter θ against its gradient, `θ ← θ − η · (update)`,
in place, following PyTorch's update rules exactly.

Typical loop::

    opt = optim.Adam(model.parameters(), lr=1e-2)
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

`lr_scheduler` changes the learning rate over time (StepLR, CosineAnnealingLR, LambdaLR, …).
"""

from minigrad.optim import lr_scheduler
from minigrad.optim.adagrad import Adagrad
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.rmsprop import RMSprop
from minigrad.optim.sgd import SGD

__all__ = ["lr_scheduler", "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]
