"""`minigrad.derive` on large graphs: the time to derive every gradient of a loss whose graph
has about 1,000 nodes (target: under 2 s), and how the derivation grows with depth.

    python bench/bench_derive.py            # the three graphs below, a few seconds each
    python bench/bench_derive.py --quick    # smaller graphs, for a smoke test

Graphs:

- ``mlp``: an MLP of 250 tanh layers of width 8, batch 4, cross-entropy: 1,004 nodes
  (each layer is a linear op, its weight and bias, and an activation);
- ``chain``: 1,000 elementwise ops on a (4, 4) tensor (add, mul by a constant, tanh), summed;
- ``transformer``: TinyTransformer with enough blocks for about 1,000 nodes.

For each: nodes in ``minigrad.graph(loss)``, the median time of ``derive`` over a few rounds
(process CPU time: other programs on the machine do not count), the lines of ``print(d)``,
and the largest relative difference of ``evaluate()`` from autograd.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad import nn  # noqa: E402

TARGET_SECONDS = 2.0


def mlp(layers: int) -> tuple[Any, Any]:
    minigrad.manual_seed(0)
    model = nn.MLP([8] * layers + [3], activation="tanh", dtype="float64")
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(4, 8)), dtype="float64")
    return model, F.cross_entropy(model(x), minigrad.tensor(np.array([0, 1, 2, 1])))


def chain(ops: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.normal(size=(4, 4)), dtype="float64", requires_grad=True, name="x")
    y = x
    for i in range(ops):
        y = (y * 0.9, y + 0.1, y.tanh())[i % 3]
    return [x], y.sum()


def transformer(blocks: int) -> tuple[Any, Any]:
    from minigrad.models.transformer import TinyTransformer

    minigrad.manual_seed(0)
    model = TinyTransformer(vocab_size=11, block_size=6, embed_dim=8, num_heads=2,
                            num_layers=blocks, dtype="float64")
    rng = np.random.default_rng(0)
    logits = model(rng.integers(0, 11, size=(2, 6)))
    loss = F.cross_entropy(logits.reshape((-1, 11)), minigrad.tensor(rng.integers(0, 11, 12)))
    return model, loss


def measure(name: str, make: Callable[[], tuple[Any, Any]], rounds: int) -> dict[str, Any]:
    wrt, loss = make()
    nodes = minigrad.graph(loss).number_of_nodes()
    times = []
    d = None
    for _ in range(rounds):
        t0 = time.process_time()
        d = minigrad.derive(loss, wrt)
        times.append(time.process_time() - t0)
    assert d is not None
    tensors = [f.tensor for f in d]
    ref = minigrad.grad(loss, tensors, retain_graph=True)
    worst = 0.0
    for f, g in zip(d, ref):
        scale = max(float(np.max(np.abs(g.data))), 1e-300)
        worst = max(worst, float(np.max(np.abs(f.evaluate() - g.data))) / scale)
    return {"graph": name, "nodes": nodes, "seconds": statistics.median(times),
            "lines": len(d.lines()), "definitions": len(d.definitions), "max_rel": worst}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller graphs, one round")
    args = p.parse_args(argv)
    scale = 10 if args.quick else 1
    rounds = 1 if args.quick else 3
    cases = [("mlp", lambda: mlp(250 // scale)), ("chain", lambda: chain(1000 // scale)),
             ("transformer", lambda: transformer(max(1, 33 // scale)))]
    print(f"{'graph':<12} {'nodes':>6} {'derive (s)':>11} {'lines':>6} {'defs':>5} "
          f"{'max rel':>9}")
    ok = True
    for name, make in cases:
        r = measure(name, make, rounds)
        flag = "" if r["seconds"] < TARGET_SECONDS else f"  over the {TARGET_SECONDS} s target"
        ok = ok and not flag
        print(f"{r['graph']:<12} {r['nodes']:>6} {r['seconds']:>11.3f} {r['lines']:>6} "
              f"{r['definitions']:>5} {r['max_rel']:>9.1e}{flag}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
