r"""Sorting digits: a small decoder-only transformer learns to sort a sequence of digits.

Each training sequence is generated on the fly: ``n`` random digits, a separator token, then
the same digits sorted, e.g. ``3 1 4 1 5 9 | 1 1 3 4 5 9``. The model
(`minigrad.models.transformer.TinyTransformer`: token + position embeddings, pre-LN blocks
of causal self-attention + MLP with residuals, a final layer norm and a linear head) is
trained to predict every token of the sorted half from the tokens before it (cross-entropy
on those positions only). It is then asked to sort held-out sequences, never seen in
training, by greedy decoding: a sequence counts as right only if all ``n`` output digits are
(exact match). With the default settings it reaches at least 99% exact-match accuracy.

The script also draws the model (``visualize.draw`` with one box per module) and the
gradient per parameter (``visualize.grad_flow``) to PNG files, when Graphviz and matplotlib
are installed.

Run::

    python examples/train_transformer.py
    python examples/train_transformer.py --steps 300 --digits 4
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

import minigrad
from minigrad import nn, optim
from minigrad.models.transformer import TinyTransformer

BASE = 10  # the digits 0 … 9; token 10 is the separator
SEP = BASE


def make_batch(rng: np.random.Generator, batch: int, n: int,
               exclude: set[bytes] | None = None) -> np.ndarray:
    """`batch` sequences ``digits, SEP, sorted digits`` of length 2n + 1, as int64 rows,
    leaving out any whose digits are in `exclude` (the held-out set)."""
    digits = rng.integers(0, BASE, size=(batch, n))
    if exclude:
        keep = np.array([row.tobytes() not in exclude for row in digits])
        digits = digits[keep]
    sep = np.full((len(digits), 1), SEP)
    return np.concatenate([digits, sep, np.sort(digits, axis=1)], axis=1)


def exact_match(model: TinyTransformer, seqs: np.ndarray, n: int, batch: int = 500) -> float:
    """The fraction of sequences whose n sorted digits the model generates all correctly."""
    model.eval()
    right = 0
    for i in range(0, len(seqs), batch):
        s = seqs[i:i + batch]
        out = model.generate(s[:, :n + 1], n)
        right += int(np.all(out[:, n + 1:] == s[:, n + 1:], axis=1).sum())
    model.train()
    return right / len(seqs)


def draw_pictures(model: TinyTransformer, batch: np.ndarray, n: int, diagram: str,
                  grads: str) -> list[str]:
    """The model's diagram (one box per module) and its gradient per parameter, as PNGs."""
    try:
        from minigrad import visualize
    except ImportError as e:
        print(f"pictures skipped: {e}")
        return []
    model.zero_grad()
    loss = nn.CrossEntropyLoss()(model(batch[:, :-1])[:, n:], batch[:, n + 1:])
    loss.backward()
    written = []
    try:
        written.append(str(visualize.render(
            loss, diagram, model=model, collapse="module", show=("shape",), direction="TB",
            title="TinyTransformer: one box per module", overwrite=True)))
    except Exception as e:  # Graphviz's binary may be missing; the training result stands
        print(f"model diagram skipped: {e}")
    written.append(str(visualize.grad_flow(model, grads, title="gradient per parameter")))
    model.zero_grad()
    return written


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Trains the transformer to sort digits and reports held-out exact-match accuracy.

    Args:
        argv: command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        ``{"accuracy", "loss", "seconds", "steps", "pictures"}``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=6, help="sequence length n to sort")
    parser.add_argument("--steps", type=int, default=1000, help="training steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak Adam learning rate")
    parser.add_argument("--test-size", type=int, default=2000, help="held-out sequences")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--diagram", default="transformer_model.png", help="model diagram")
    parser.add_argument("--grad-flow", default="transformer_grad_flow.png",
                        help="gradient-per-parameter plot")
    parser.add_argument("--no-plot", action="store_true", help="skip both pictures")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    n = args.digits

    minigrad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    test = make_batch(rng, args.test_size, n)
    held_out = {row[:n].tobytes() for row in test}
    print(f"sorting {n} digits: {len(test)} held-out sequences, training sequences drawn "
          f"fresh at every step")

    model = TinyTransformer(BASE + 1, 2 * n, embed_dim=args.embed_dim, num_heads=args.heads,
                            num_layers=args.layers)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    warmup = max(1, args.steps // 20)

    loss_value = float("nan")
    # the matrices here are small: BLAS threads cost more than they save, and on a busy
    # 2-core machine they slow every product down many times over
    with threadpool_limits(limits=1, user_api="blas"):
        bar = tqdm(range(1, args.steps + 1), desc="transformer", unit="step",
                   disable=args.no_progress)
        for step in bar:
            # linear warm-up, then cosine decay to 5% of the peak
            t = (step - warmup) / max(1, args.steps - warmup)
            scale = step / warmup if step <= warmup else 0.05 + 0.475 * (1 + np.cos(np.pi * t))
            opt.param_groups[0]["lr"] = args.lr * scale
            seq = make_batch(rng, args.batch_size, n, held_out)
            opt.zero_grad()
            # positions n … 2n−1 (the separator and the sorted digits so far) predict the next
            loss = loss_fn(model(seq[:, :-1])[:, n:], seq[:, n + 1:])
            loss.backward()
            opt.step()
            loss_value = 0.9 * loss_value + 0.1 * float(loss.item()) if step > 1 else float(
                loss.item())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_value:.4f}")
        bar.close()
        train_seconds = time.perf_counter() - start
        acc = exact_match(model, test, n)

    example = test[:1]
    out = model.generate(example[:, :n + 1], n)[0]
    print(f"model: {model.describe()}, {sum(p.numel() for p in model.parameters()):,} parameters")
    print(f"example: {' '.join(map(str, example[0, :n]))} -> {' '.join(map(str, out[n + 1:]))}")
    print(f"final loss: {loss_value:.4f}")
    print(f"held-out exact-match accuracy: {acc:.2%}")
    print(f"training took {train_seconds:.1f} s")
    pictures = [] if args.no_plot else draw_pictures(
        model, make_batch(rng, 2, n), n, args.diagram, args.grad_flow)
    for p in pictures:
        print(f"wrote {p}")
    seconds = time.perf_counter() - start
    print(f"done in {seconds:.1f} s")
    return {"accuracy": acc, "loss": loss_value, "seconds": seconds, "steps": args.steps,
            "pictures": pictures}


if __name__ == "__main__":
    main()
