r"""A user-defined op: Swish, `y = x · σ(x)`, written with `minigrad.Function`.

The recipe for a new op:

1. subclass `minigrad.Function`;
2. write ``forward`` on numpy arrays;
3. write one ``vjp_<input>`` per input: it receives the upstream gradient ``g`` (the lecture's
   δ = ∇y L), the output and the inputs, and returns the gradient for that input;
4. give the ``formula`` and ``grads`` labels that computation-graph diagrams print, and
   ``examples`` so minigrad's registry-wide gradient checks can exercise the op;
5. check it against finite differences with `minigrad.gradcheck` in float64.

Swish (also called SiLU) is smooth and non-monotonic. With `s = σ(x)`:

    y  = x·s
    y′ = s + x·s·(1 − s) = s + y·(1 − s)
    so the VJP is  ∇x L = δ ⊙ (s + y(1 − s)).

The VJP is written with operators and the helpers of `minigrad.ops.either`, which work both on
numpy arrays (ordinary backward) and on Tensors (``create_graph=True``), so the op also has a
second derivative, checked here with `minigrad.gradgradcheck`.

Finally the op is used as the activation of a small network trained on the two-moons data.

Run::

    python examples/custom_op.py             # gradcheck + train for 200 epochs
    python examples/custom_op.py --epochs 50
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import minigrad
from minigrad import data, nn, optim
from minigrad.ops import either


def _swish_examples(rng: np.random.Generator, dtype: Any) -> list[tuple[tuple[np.ndarray], dict]]:
    """Gradient-check cases: a scalar, a vector and a matrix, including large |x|."""
    return [
        ((np.asarray(rng.uniform(-3, 3), dtype=dtype),), {}),
        ((rng.uniform(-3, 3, size=5).astype(dtype),), {}),
        ((rng.uniform(-8, 8, size=(2, 3)).astype(dtype),), {}),
    ]


class Swish(minigrad.Function):
    r"""Swish / SiLU activation, `y = x · σ(x)`.

    Forward: `y = x σ(x)`. VJP: `∇x L = δ ⊙ (σ(x) + y (1 − σ(x)))`. Any shape; the output has
    the input's shape and dtype.
    """

    name = "swish"
    formula = "y = x · σ(x)"
    grads = ("δ ⊙ (σ(x) + y(1 − σ(x)))",)
    examples = _swish_examples
    saves_output = True  # the VJP reuses y instead of recomputing x·σ(x)

    @staticmethod
    def forward(x: np.ndarray) -> np.ndarray:
        # either.sigmoid on numpy is the overflow-free σ that minigrad's own sigmoid uses
        return x * either.sigmoid(x)

    @staticmethod
    def vjp_x(g: Any, out: Any, x: Any) -> Any:
        s = either.sigmoid(x)
        return g * (s + out * (1.0 - s))


def swish(x: Any) -> minigrad.Tensor:
    """Functional form: ``swish(x) == Swish.apply(x)``."""
    return Swish.apply(x)


class SwishLayer(nn.Module):
    """The op as a layer, so it can sit in `nn.Sequential` like `nn.ReLU`."""

    def forward(self, a: minigrad.Tensor) -> minigrad.Tensor:
        return Swish.apply(a)


def check_gradients(seed: int = 0) -> None:
    """Compares Swish's analytic first and second derivatives with finite differences."""
    rng = np.random.default_rng(seed)
    for (x0,), _ in _swish_examples(rng, np.float64):
        x = minigrad.tensor(x0, dtype="float64", requires_grad=True)
        minigrad.gradcheck(Swish.apply, [x])
        minigrad.gradgradcheck(Swish.apply, [x])
    # known values: swish(0) = 0, swish'(0) = σ(0) = 1/2
    x = minigrad.tensor([0.0], dtype="float64", requires_grad=True)
    Swish.apply(x).sum().backward()
    assert x.grad is not None and abs(float(x.grad.data[0]) - 0.5) < 1e-15


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of correctly classified samples."""
    with minigrad.no_grad():
        logits = model(minigrad.tensor(X, dtype="float32"))
    return float(np.mean(logits.data.argmax(axis=1) == y))


# the matrices are tiny: numpy's BLAS threads would cost more than they save
@threadpool_limits.wrap(limits=1, user_api="blas")
def main(argv: list[str] | None = None) -> dict[str, float]:
    """Gradchecks Swish, then trains a 2-32-32-2 Swish network on two moons.

    Args:
        argv: command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        ``{"train_acc", "test_acc", "seconds"}``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=200, help="passes over the training set")
    parser.add_argument("--hidden", type=int, default=32, help="units per hidden layer")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    parser.add_argument("--n", type=int, default=400, help="number of moon points")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    check_gradients(args.seed)
    print("gradcheck: Swish first and second derivatives match finite differences (float64)")

    minigrad.manual_seed(args.seed)
    X, y = data.moons(n=args.n, noise=0.2, seed=args.seed)
    X_train, X_test, y_train, y_test = data.train_test_split(
        X, y, test_size=0.25, seed=args.seed, stratify=True
    )
    h = args.hidden
    model = nn.Sequential(
        nn.Linear(2, h), SwishLayer(), nn.Linear(h, h), SwishLayer(), nn.Linear(h, 2)
    )
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    loader = data.DataLoader(X_train, y_train, batch_size=32, seed=args.seed, dtype="float32")
    loss_value = float("nan")
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(yb)
        loss_value = total / len(y_train)
        if epoch == 1 or epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs:
            print(f"epoch {epoch:4d}  loss {loss_value:.4f}")

    train_acc = accuracy(model, X_train, y_train)
    test_acc = accuracy(model, X_test, y_test)
    seconds = time.perf_counter() - start
    print(f"model: {model}")
    print(f"train accuracy: {train_acc:.2%}")
    print(f"test accuracy: {test_acc:.2%}")
    print(f"done in {seconds:.1f} s")
    return {"train_acc": train_acc, "test_acc": test_acc, "loss": loss_value, "seconds": seconds}


if __name__ == "__main__":
    main()
