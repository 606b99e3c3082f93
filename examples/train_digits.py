r"""Handwritten digits: an MLP on scikit-learn's 8×8 digit images (1797 samples, 10 classes).

The images come bundled with scikit-learn (`sklearn.datasets.load_digits`), so nothing is
downloaded. Pixel values 0…16 are scaled to [0, 1], each image is flattened to 64 inputs, and
a [64, 64, 10] ReLU MLP is trained with Adam on mini-batches; it reaches at least 95% test
accuracy on a stratified 75/25 split.

scikit-learn is an optional dependency. Without it this script prints how to install it
(``pip install -e '.[examples]'`` from a checkout, or ``pip install scikit-learn``) and exits
with status 1, so scripts that run every example notice that this one did not run.

Run::

    python examples/train_digits.py
    python examples/train_digits.py --epochs 5
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import minigrad
from minigrad import data, nn, optim

INSTALL_HINT = (
    "train_digits.py needs scikit-learn for the bundled 8x8 digits data set.\n"
    "Install it with one of:\n"
    "    pip install -e '.[examples]'    (from a minigrad checkout)\n"
    "    pip install scikit-learn"
)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits as ``X`` (1797, 64) float64 in [0, 1] and int64 labels ``y``.

    Raises:
        SystemExit: with status 1 when scikit-learn is not installed (after printing how to
            install it).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(1) from None
    digits = sklearn_load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    return X, y


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples whose largest logit is the true class."""
    with minigrad.no_grad():
        logits = model(minigrad.tensor(X, dtype="float32"))
    return float(np.mean(logits.data.argmax(axis=1) == y))


# the matrices are tiny: numpy's BLAS threads would cost more than they save
@threadpool_limits.wrap(limits=1, user_api="blas")
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Trains the digits MLP and reports train and test accuracy.

    Args:
        argv: command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        ``{"train_acc", "test_acc", "loss", "seconds"}``.

    Raises:
        SystemExit: status 1 when scikit-learn is missing.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units")
    parser.add_argument("--lr", type=float, default=0.003, help="Adam learning rate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    X, y = load_digits()
    minigrad.manual_seed(args.seed)
    X_train, X_test, y_train, y_test = data.train_test_split(
        X, y, test_size=0.25, seed=args.seed, stratify=True
    )
    print(f"digits: {len(y_train)} training and {len(y_test)} test images of 8x8 pixels")
    model = nn.MLP([64, args.hidden, 10], activation="relu")
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    loader = data.DataLoader(
        X_train, y_train, batch_size=args.batch_size, seed=args.seed, dtype="float32"
    )

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
        print(f"epoch {epoch:3d}  loss {loss_value:.4f}")

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
