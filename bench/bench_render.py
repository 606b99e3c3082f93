"""How long a 5,000-tensor graph takes to draw and render to SVG (collapsed by module).

Run: ``.venv/bin/python bench/bench_render.py [--layers 1251] [--repeat 5]``. Prints the median
of a few runs for draw() alone (Python: graph, names, labels, collapse) and for the whole
render() to SVG (draw plus Graphviz's dot), and the size of the collapsed drawing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import nn, visualize


def deep_mlp_loss(layers: int) -> tuple[nn.Module, minigrad.Tensor]:
    """A tanh MLP `layers` deep on a batch of 8: about four tensors per layer."""
    minigrad.manual_seed(0)
    model = nn.MLP([4] * layers + [2], activation="tanh")
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32))
    loss = F.cross_entropy(model(x), minigrad.tensor(np.zeros(8, dtype=np.int64)))
    loss.backward()
    return model, loss


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=1251)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    model, loss = deep_mlp_loss(args.layers)
    n = minigrad.graph(loss).number_of_nodes()
    g = visualize.draw(loss, model=model, backward=True)
    drawn = sum(1 for line in g.body if re.match(r"\s*u\d+ \[", line))
    draw_s = median_seconds(lambda: visualize.draw(loss, model=model, backward=True), args.repeat)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "big.svg"
        render_s = median_seconds(
            lambda: visualize.render(loss, out, model=model, backward=True, overwrite=True),
            args.repeat)
        size = out.stat().st_size
    print(f"graph: {n:,} tensors ({args.layers} Linear layers + activations), "
          f"drawn collapsed as {drawn} nodes")
    print(f"draw():           median {draw_s:.3f} s over {args.repeat} runs")
    print(f"render() to SVG:  median {render_s:.3f} s over {args.repeat} runs ({size:,} bytes)")


if __name__ == "__main__":
    main()
