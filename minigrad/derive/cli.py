r"""The ``minigrad derive`` command: a derivation printed for an example model or for a loss
of your own.

    minigrad derive                                  # the lecture's 3-3-3-2 sigmoid network
    minigrad derive --sizes 4,8,3 --activation relu --loss mse --batch 8
    minigrad derive --model cnn                      # minigrad.models' DigitsCNN
    minigrad derive --model transformer --level op
    minigrad derive --from my_net.py:build --latex   # build() returns a loss (and what to
                                                     # differentiate: a model or tensors)

The command line (`minigrad.cli`) adds it with one line, ``derive_cli.add_parser(sub)``; the
parsed arguments come back to `run`, which prints and returns the exit code (0). Errors in the
arguments or in the user's file are ``ValueError``s with one line saying what to fix.
``python -m minigrad.derive.cli [options]`` runs the same command on its own (`main`).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_parser", "run", "build", "main"]

MODELS = ("mlp", "cnn", "transformer")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 3,3,3,2, got {text!r}") from None
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"need at least two positive widths (like 3,2), got {text!r}")
    return sizes


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``derive`` to an argparse subparsers object; `run` is its ``func`` default."""
    from minigrad import reference

    p = subparsers.add_parser(
        "derive", help="derive the gradients of a network as formulas, step by step",
        description="Builds a model (the lecture's MLP by default, or an example model), "
                    "computes its loss on a random batch and prints the derivation of every "
                    "parameter's gradient from the recorded graph, in the lecture's notation: "
                    "δ_k = (W_(k+1)ᵀ δ_(k+1)) ⊙ g′(a_k), ∇W_k L = δ_k · h_(k−1)ᵀ, ∇b_k L = δ_k. "
                    "--from FILE.py:FUNCTION derives a loss of your own.",
    )
    p.add_argument("--model", choices=MODELS, default="mlp",
                   help="mlp: the lecture's MLP (--sizes, --activation); cnn: DigitsCNN on "
                        "8×8 images; transformer: TinyTransformer (default: mlp)")
    p.add_argument("--sizes", type=_sizes, default=[3, 3, 3, 2], metavar="N0,N1,…,NL",
                   help="layer widths of the MLP (default: 3,3,3,2)")
    p.add_argument("--activation", choices=sorted(reference.ACTIVATIONS), default="sigmoid",
                   help="g for the MLP's hidden layers (default: sigmoid)")
    p.add_argument("--loss", choices=("ce", "mse"), default="ce",
                   help="ce: softmax + cross-entropy; mse: squared error (default: ce)")
    p.add_argument("--batch", type=_positive, default=1,
                   help="examples in the batch (default: 1, the lecture's single example)")
    p.add_argument("--level", choices=("module", "op"), default="module",
                   help="module: one step per layer, the formula book's formulas; op: one "
                        "step per op, every δ named (default: module)")
    p.add_argument("--from", dest="source", default=None, metavar="FILE.py:FUNCTION",
                   help="derive what FUNCTION() in FILE.py returns: a scalar loss, or (loss, "
                        "model) or (loss, [tensors])")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true",
                     help="print the formulas as one LaTeX aligned block (KaTeX-ready)")
    out.add_argument("--markdown", action="store_true",
                     help="print the derivation as Markdown with display math")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=run)
    return p


def _load(source: str) -> tuple[Any, Any]:
    """``FILE.py:FUNCTION`` → what the function returns, as (loss, wrt)."""
    from minigrad.tensor import Tensor

    path, sep, name = source.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"--from: expected FILE.py:FUNCTION, got {source!r}")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--from: no file {path!r}")
    spec = importlib.util.spec_from_file_location(f"minigrad_derive_user_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ValueError(f"--from: {path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"--from: {path!r} has no function {name!r}")
    got = fn()
    if isinstance(got, Tensor):
        return got, None
    if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], Tensor):
        return got[0], got[1]
    raise ValueError(f"--from: {name}() must return a loss Tensor or (loss, model or tensors), "
                     f"got {type(got).__name__}")


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """The loss and what to differentiate, for the example model the arguments name."""
    import minigrad
    import minigrad.functional as F
    from minigrad import nn

    minigrad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    N = args.batch
    model: Any
    if args.model == "mlp":
        model = nn.MLP(args.sizes, activation=args.activation, dtype="float64")
        n0 = args.sizes[0]
        x = minigrad.tensor(rng.normal(size=(n0,) if N == 1 else (N, n0)), dtype="float64",
                            name="x")
        out = model(x)
    elif args.model == "cnn":
        from minigrad.models.cnn import DigitsCNN

        model = DigitsCNN(channels=(4, 8), dtype="float64")
        out = model(minigrad.tensor(rng.normal(size=(N, 1, 8, 8)), dtype="float64", name="x"))
    else:
        from minigrad.models.transformer import TinyTransformer

        model = TinyTransformer(vocab_size=10, block_size=6, embed_dim=8, num_heads=2,
                                num_layers=1, dtype="float64")
        out = model(rng.integers(0, 10, size=(N, 6)))
        out = out.reshape((-1, out.shape[-1]))
    if args.loss == "ce":
        C = out.shape[-1]
        target = rng.integers(0, C, size=out.shape[:-1])
        loss = F.cross_entropy(out, minigrad.tensor(np.asarray(target), name="ℓ"))
    else:
        loss = F.mse_loss(out, minigrad.tensor(rng.normal(size=out.shape), dtype="float64",
                                               name="y"))
    return loss, model


def run(args: argparse.Namespace) -> int:
    """Prints the derivation the arguments ask for; returns the exit code."""
    import minigrad

    loss, wrt = _load(args.source) if args.source else build(args)
    d = minigrad.derive(loss, wrt, level=args.level)
    if args.latex:
        print(d.latex())
    elif args.markdown:
        print(d.markdown())
    else:
        print(d)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m minigrad.derive.cli [options]``: the command on its own. A bad argument
    or a `ValueError` is one line, ``minigrad derive: error: …``, and exit code 2 or 1."""
    parser = argparse.ArgumentParser(prog="minigrad")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["derive", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args)
    except ValueError as e:
        print(f"minigrad derive: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
