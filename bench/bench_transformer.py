"""One training step of the example transformer, minigrad against PyTorch in the same run.

The step is the one of ``examples/train_transformer.py``: forward of `TinyTransformer` on a
batch of token sequences, cross-entropy on the second half of the positions, backward, one
Adam update. PyTorch runs the same architecture (`TorchTinyTransformer`, whose state_dict
keys are minigrad's, with `nn.MultiheadAttention` under a causal mask) from the same
weights; before timing, the first step's loss and gradients are checked to agree.

Run standalone::

    python bench/bench_transformer.py            # prints the table
    python bench/bench_transformer.py --quick    # a few rounds, for a smoke test

or call `rows()`, which returns one dict per library with the fields of bench/run.py's `Row`
(scenario, library, value, unit, ratio, spread, note); the ratio is to PyTorch's median.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # thread pools are read once, when numpy and torch load
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SCENARIO = "transformer-step"
DEFAULTS = {"vocab": 11, "n": 6, "batch": 64, "embed_dim": 64, "heads": 4, "layers": 2}


def torch_model(vocab: int, block_size: int, embed_dim: int, heads: int, layers: int) -> Any:
    """The PyTorch twin of `TinyTransformer`: same modules, same state_dict keys."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(embed_dim)
            self.attn = nn.MultiheadAttention(embed_dim, heads, batch_first=True)
            self.ln_2 = nn.LayerNorm(embed_dim)
            self.mlp = nn.Sequential(nn.Linear(embed_dim, 4 * embed_dim),
                                     nn.GELU(approximate="tanh"),
                                     nn.Linear(4 * embed_dim, embed_dim), nn.Dropout(0.0))

        def forward(self, h: Any) -> Any:
            L = h.shape[-2]
            blocked = torch.ones(L, L, dtype=torch.bool).triu(1)  # True = may not attend
            a = self.ln_1(h)
            h = h + self.attn(a, a, a, attn_mask=blocked, need_weights=False)[0]
            return h + self.mlp(self.ln_2(h))

    class TorchTinyTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok_emb = nn.Embedding(vocab, embed_dim)
            self.pos_emb = nn.Embedding(block_size, embed_dim)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(embed_dim)
            self.head = nn.Linear(embed_dim, vocab)

        def forward(self, tokens: Any) -> Any:
            pos = torch.arange(tokens.shape[-1])
            h = self.tok_emb(tokens) + self.pos_emb(pos)
            return self.head(self.ln_f(self.blocks(h)))

    return TorchTinyTransformer()


class Steps:
    """The same training step for minigrad and PyTorch, from the same weights and batch."""

    def __init__(self, vocab: int, n: int, batch: int, embed_dim: int, heads: int,
                 layers: int, seed: int = 0) -> None:
        import torch

        import minigrad
        from minigrad import nn, optim
        from minigrad.models.transformer import TinyTransformer

        minigrad.manual_seed(seed)
        self.n = n
        self.model = TinyTransformer(vocab, 2 * n, embed_dim, heads, layers)
        self.tmodel = torch_model(vocab, 2 * n, embed_dim, heads, layers)
        self.tmodel.load_state_dict({k: torch.from_numpy(v.data.copy())
                                     for k, v in self.model.state_dict().items()})
        rng = np.random.default_rng(seed)
        self.x = rng.integers(0, vocab, size=(batch, 2 * n))
        self.y = rng.integers(0, vocab, size=(batch, n))
        self.tx, self.ty = torch.from_numpy(self.x), torch.from_numpy(self.y)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = optim.Adam(self.model.parameters(), lr=1e-3)
        self.topt = torch.optim.Adam(self.tmodel.parameters(), lr=1e-3)

    def minigrad_loss(self) -> Any:
        return self.loss_fn(self.model(self.x)[:, self.n:], self.y)

    def torch_loss(self) -> Any:
        import torch

        logits = self.tmodel(self.tx)[:, self.n:]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 self.ty.reshape(-1))

    def minigrad_step(self) -> None:
        self.opt.zero_grad()
        self.minigrad_loss().backward()
        self.opt.step()

    def torch_step(self) -> None:
        self.topt.zero_grad()
        self.torch_loss().backward()
        self.topt.step()

    def check(self, tol: float = 1e-4) -> float:
        """The first loss and every gradient agree; returns the largest relative difference."""
        self.model.zero_grad()
        self.tmodel.zero_grad()
        loss, tloss = self.minigrad_loss(), self.torch_loss()
        loss.backward()
        tloss.backward()
        worst = abs(float(loss.item()) - float(tloss.item())) / abs(float(tloss.item()))
        tp = dict(self.tmodel.named_parameters())
        for name, p in self.model.named_parameters():
            ref = tp[name].grad.numpy()
            worst = max(worst, float(np.abs(p.grad.data - ref).max() / (np.abs(ref).max() or 1)))
        if worst > tol:
            raise AssertionError(f"{SCENARIO}: minigrad and PyTorch differ by {worst:.1e}")
        return worst


def _median_times(fns: dict[str, Callable[[], Any]], rounds: int,
                  per_round: int) -> dict[str, tuple[float, float, float]]:
    """Median, min and max seconds per call, rounds interleaved in a rotating order."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(per_round):
                fns[name]()
            samples[name].append((time.perf_counter() - t0) / per_round)
    return {k: (statistics.median(s), min(s), max(s)) for k, s in samples.items()}


def rows(quick: bool = False, **sizes: int) -> list[dict[str, Any]]:
    """Times one training step in minigrad and in PyTorch; one dict per library, with the
    fields of bench/run.py's `Row` (value in seconds per step, ratio to PyTorch)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cfg = {**DEFAULTS, **sizes}
    steps = Steps(**cfg)
    diff = steps.check()
    res = _median_times({"minigrad": steps.minigrad_step, "torch": steps.torch_step},
                        rounds=3 if quick else 15, per_round=1 if quick else 3)
    base = res["torch"][0]
    shape = (f"batch {cfg['batch']}, length {2 * cfg['n']}, E={cfg['embed_dim']}, "
             f"{cfg['heads']} heads, {cfg['layers']} blocks")
    return [{"scenario": SCENARIO, "library": lib, "value": med, "unit": "s",
             "ratio": med / base, "spread": (lo, hi),
             "note": f"{shape}; first-step gradients agree to {diff:.1e}"}
            for lib, (med, lo, hi) in res.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only")
    args = parser.parse_args(argv)
    result = rows(quick=args.quick)
    print(f"{'scenario':<18} {'library':<9} {'median/step':>12} {'min':>9} {'max':>9} "
          f"{'× torch':>8}")
    for r in result:
        lo, hi = r["spread"]
        print(f"{r['scenario']:<18} {r['library']:<9} {r['value'] * 1e3:>10.2f}ms "
              f"{lo * 1e3:>7.2f}ms {hi * 1e3:>7.2f}ms {r['ratio']:>8.2f}")
    print(result[0]["note"])
    ratio = next(r["ratio"] for r in result if r["library"] == "minigrad")
    print(f"target ≤ 3× PyTorch: {'met' if ratio <= 3 else 'NOT met'} ({ratio:.2f}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
