"""Convolution and the digits CNN's training step, minigrad against PyTorch in the same run.

Two scenarios, each timed as the median of interleaved rounds:

- ``conv2d-fwd-bwd``: ``F.conv2d`` forward and backward (gradients for the input, the weight
  and the bias) on x of shape (32, 16, 28, 28) with 32 filters of 3×3, padding 1, float32;
- ``cnn-step``: one training step of ``examples/train_cnn_digits.py``: `DigitsCNN` forward on
  a batch of 32 images of 1×8×8, cross-entropy, backward, one Adam update. PyTorch runs the
  same architecture (`torch_model`, whose state_dict keys are minigrad's) from the same
  weights.

Before timing, each scenario's outputs and gradients are checked to agree with PyTorch's.

Run standalone::

    python bench/bench_cnn.py                # prints the table (2 BLAS / torch threads)
    python bench/bench_cnn.py --threads 1
    python bench/bench_cnn.py --quick        # a few rounds, for a smoke test

or call `rows()`, which returns one dict per scenario and library with the fields of
bench/run.py's `Row` (scenario, library, value, unit, ratio, spread, note); the ratio is to
PyTorch's median.
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "2"


if __name__ == "__main__":  # thread pools are read once, when numpy and torch load
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads_from_argv(sys.argv[1:])
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

CONV = "conv2d-fwd-bwd"
STEP = "cnn-step"
SCENARIOS = {  # for bench/run.py, which runs this module after its own scenarios
    CONV: "conv2d forward + backward on x (32, 16, 28, 28) with 32 filters 3×3, float32",
    STEP: "one DigitsCNN training step (Adam), batch 32 of 1×8×8 digits, float32",
}
CONV_SHAPE = {"batch": 32, "in_channels": 16, "size": 28, "out_channels": 32, "kernel": 3}
STEP_SIZES = {"batch": 32, "c1": 16, "c2": 32}


def torch_model(c1: int, c2: int) -> Any:
    """The PyTorch twin of `DigitsCNN`: same layers, same state_dict keys."""
    from torch import nn

    class TorchDigitsCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
            self.relu1 = nn.ReLU()
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(2)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(c2 * 4, 10)

        def forward(self, x: Any) -> Any:
            h = self.pool1(self.relu1(self.conv1(x)))
            h = self.pool2(self.relu2(self.conv2(h)))
            return self.fc(self.flatten(h))

    return TorchDigitsCNN()


def _worst(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    return max(float(np.abs(a - b).max() / (np.abs(b).max() or 1)) for a, b in zip(ours, theirs))


class ConvCase:
    """conv2d forward + backward on the same arrays in both libraries."""

    def __init__(self, batch: int, in_channels: int, size: int, out_channels: int, kernel: int,
                 seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((batch, in_channels, size, size)).astype(np.float32)
        self.w = (rng.standard_normal((out_channels, in_channels, kernel, kernel))
                  / np.sqrt(in_channels * kernel * kernel)).astype(np.float32)
        self.b = rng.standard_normal(out_channels).astype(np.float32)
        self.g = np.ones((batch, out_channels, size, size), np.float32)
        self.pad = kernel // 2

    def minigrad(self) -> list[np.ndarray]:
        import minigrad
        import minigrad.functional as F

        x, w, b = (minigrad.Tensor(a, requires_grad=True) for a in (self.x, self.w, self.b))
        y = F.conv2d(x, w, b, padding=self.pad)
        y.backward(self.g)
        return [y.data, x.grad, w.grad, b.grad]

    def torch(self) -> list[np.ndarray]:
        import torch

        x, w, b = (torch.from_numpy(a).requires_grad_() for a in (self.x, self.w, self.b))
        y = torch.nn.functional.conv2d(x, w, b, padding=self.pad)
        y.backward(torch.from_numpy(self.g))
        return [y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]

    def check(self, tol: float = 1e-4) -> float:
        worst = _worst(self.minigrad(), self.torch())
        if worst > tol:
            raise AssertionError(f"{CONV}: minigrad and PyTorch differ by {worst:.1e}")
        return worst


class StepCase:
    """The digits CNN's training step for minigrad and PyTorch, from the same weights."""

    def __init__(self, batch: int, c1: int, c2: int, seed: int = 0) -> None:
        import torch

        import minigrad
        from minigrad import nn, optim
        from minigrad.models.cnn import DigitsCNN

        minigrad.manual_seed(seed)
        self.model = DigitsCNN((c1, c2))
        self.tmodel = torch_model(c1, c2)
        self.tmodel.load_state_dict({k: torch.from_numpy(v.data.copy())
                                     for k, v in self.model.state_dict().items()})
        rng = np.random.default_rng(seed)
        self.x = minigrad.tensor(rng.standard_normal((batch, 1, 8, 8)), dtype="float32")
        self.y = rng.integers(0, 10, size=batch)
        self.tx, self.ty = torch.from_numpy(self.x.data), torch.from_numpy(self.y)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = optim.Adam(self.model.parameters(), lr=1e-3)
        self.topt = torch.optim.Adam(self.tmodel.parameters(), lr=1e-3)

    def minigrad_step(self) -> None:
        self.opt.zero_grad()
        self.loss_fn(self.model(self.x), self.y).backward()
        self.opt.step()

    def torch_step(self) -> None:
        import torch

        self.topt.zero_grad()
        torch.nn.functional.cross_entropy(self.tmodel(self.tx), self.ty).backward()
        self.topt.step()

    def check(self, tol: float = 1e-4) -> float:
        """The first loss and every gradient agree; returns the largest relative difference."""
        import torch

        self.model.zero_grad()
        self.tmodel.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        tloss = torch.nn.functional.cross_entropy(self.tmodel(self.tx), self.ty)
        loss.backward()
        tloss.backward()
        tp = dict(self.tmodel.named_parameters())
        names = [n for n, _ in self.model.named_parameters()]
        worst = max(_worst([loss.data], [tloss.detach().numpy()]),
                    _worst([p.grad for _, p in self.model.named_parameters()],
                           [tp[n].grad.numpy() for n in names]))
        if worst > tol:
            raise AssertionError(f"{STEP}: minigrad and PyTorch differ by {worst:.1e}")
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


def _rows(scenario: str, res: dict[str, tuple[float, float, float]], note: str
          ) -> list[dict[str, Any]]:
    base = res["torch"][0]
    return [{"scenario": scenario, "library": lib, "value": med, "unit": "s",
             "ratio": med / base, "spread": (lo, hi), "note": note}
            for lib, (med, lo, hi) in res.items()]


def rows(quick: bool = False) -> list[dict[str, Any]]:
    """Times both scenarios in minigrad and in PyTorch; one dict per scenario and library,
    with the fields of bench/run.py's `Row` (value in seconds per call, ratio to PyTorch).
    Thread pools: as set by OMP_NUM_THREADS before numpy and torch loaded (torch's intra-op
    pool is set to the same number here)."""
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    out: list[dict[str, Any]] = []

    shape = dict(CONV_SHAPE, batch=4, size=12) if quick else CONV_SHAPE
    conv = ConvCase(**shape)
    diff = conv.check()
    res = _median_times({"minigrad": conv.minigrad, "torch": conv.torch},
                        rounds=3 if quick else 15, per_round=1)
    out += _rows(CONV, res, f"x ({shape['batch']}, {shape['in_channels']}, {shape['size']}, "
                            f"{shape['size']}), {shape['out_channels']} filters "
                            f"{shape['kernel']}×{shape['kernel']}, float32, {threads} threads; "
                            f"agree to {diff:.1e}")

    step = StepCase(**STEP_SIZES)
    diff = step.check()
    res = _median_times({"minigrad": step.minigrad_step, "torch": step.torch_step},
                        rounds=3 if quick else 15, per_round=1 if quick else 5)
    out += _rows(STEP, res, f"DigitsCNN({STEP_SIZES['c1']}, {STEP_SIZES['c2']}), batch "
                            f"{STEP_SIZES['batch']} of 1×8×8, Adam, {threads} threads; "
                            f"first-step gradients agree to {diff:.1e}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few rounds")
    parser.add_argument("--threads", default="2",
                        help="BLAS / OpenMP / torch pool size (read when run as a script)")
    args = parser.parse_args(argv)
    result = rows(quick=args.quick)
    print(f"{'scenario':<16} {'library':<9} {'median':>10} {'min':>10} {'max':>10} "
          f"{'× torch':>8}")
    for r in result:
        lo, hi = r["spread"]
        print(f"{r['scenario']:<16} {r['library']:<9} {r['value'] * 1e3:>8.2f}ms "
              f"{lo * 1e3:>8.2f}ms {hi * 1e3:>8.2f}ms {r['ratio']:>8.2f}")
    for scenario in (CONV, STEP):
        r = next(r for r in result if r["scenario"] == scenario and r["library"] == "minigrad")
        print(f"{scenario}: {r['note']}")
        print(f"  target ≤ 3× PyTorch: {'met' if r['ratio'] <= 3 else 'NOT met'} "
              f"({r['ratio']:.2f}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
