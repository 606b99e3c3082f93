"""`minigrad.compile` against hand-written numpy, eager minigrad and PyTorch eager.

    python bench/bench_compile.py            # every scenario, a few minutes
    python bench/bench_compile.py --quick    # tiny sizes and rounds, seconds
    python bench/bench_compile.py --json     # the rows as JSON

Scenarios (targets from the compile issues):

- ``mlp-small``: one SGD step (forward, backward, update) of a 64-64-64-10 MLP, batch 32,
  float32. Target: compiled ≤ 1.05× hand-written numpy.
- ``chain``: 2,000 elementwise ops on 4×4 arrays (add, mul, tanh), forward + backward.
  Target: compiled ≤ 1.0× hand-written numpy in every run, no page faults.
- ``mlp-large``: the same step for 784-512-512-10, batch 256, float32. Target: compiled ≤ 1.00×
  numpy, zero minor page faults per step after warm-up
  (``resource.getrusage(RUSAGE_SELF).ru_minflt``), zero bytes allocated per step, memory held
  ≤ 1.1× numpy's.
- ``transformer-compile``: trace + compile time of `minigrad.models.transformer` where it
  exists. Target ≤ 2 s.

Libraries: ``numpy`` is numpy written by hand as a careful person writes it for speed (every
array allocated once, every call writing into one: `workloads.NumpyMLPInPlace`,
`workloads.NumpyChainInPlace`), the baseline of every ratio; ``numpy-naive`` the same
formulas written plainly (a new array per call: `workloads.NumpyMLP`, `workloads.NumpyChain`);
``compiled`` the whole step compiled (``minigrad.compile(loss, optimizer=SGD)`` for the MLPs:
forward, backward and update in one replay; forward + backward for the chain);
``compiled-loss`` the loss compiled, the update eager (the MLPs); ``minigrad`` and ``torch``
eager.

Every timing is measured twice: all libraries in one process, round by round in rotating order
(``mode = same``: ratios against numpy from the same run), and each library alone in a fresh
process (``mode = alone``: three processes per library in rotating order, the median of
them). Times are the process's own CPU time (``time.process_time``, one
BLAS thread), so that other programs sharing the machine do not count; medians throughout.
Alone, each process also measures memory with `tracemalloc` (which numpy reports its arrays
to) on a second instance: ``alloc`` (the peak bytes above the start of one step, after
warm-up: transient arrays, and numpy's own small iterator allocations), and ``held`` (bytes
still allocated after warm-up, from before the instance was made: its arrays, buffers and, for
the compiled step, its plan). `rows()` returns the table for other tools.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # small matrices: a thread pool costs more than it saves

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from workloads import (  # noqa: E402
    LR,
    MinigradChain,
    MinigradMLP,
    NumpyChain,
    NumpyChainInPlace,
    NumpyMLP,
    NumpyMLPInPlace,
    TorchChain,
    TorchMLP,
    chain_data,
    installed,
    mlp_data,
)

TARGETS = {"mlp-small": "≤ 1.05× numpy", "chain": "≤ 1.0× numpy, 0 faults",
           "mlp-large": "≤ 1.00× numpy, 0 faults, 0 B/step, held ≤ 1.1× numpy",
           "transformer-compile": "≤ 2 s"}


class CompiledStepMLP(MinigradMLP):
    """`MinigradMLP`'s whole step compiled: forward, backward and ``optim.SGD``'s update
    (``w -= lr * g``, the same bits as ``w.sub_(w.grad * lr)``) in one replay."""

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        super().__init__(params, X, y, lr)
        F, ps = self.F, self.params

        def loss_fn(x: Any, t: Any) -> Any:
            h = x
            for k in range(len(ps) // 2 - 1):
                h = F.relu(h @ ps[2 * k] + ps[2 * k + 1])
            return F.cross_entropy(h @ ps[-2] + ps[-1], t)

        self.compiled = self.mg.compile(loss_fn, optimizer=self.mg.optim.SGD(ps, lr=lr))

    def step(self) -> Any:
        return self.compiled(self.X, self.y)


class CompiledMLP(MinigradMLP):
    """`MinigradMLP` (same model, same in-place SGD) with its loss compiled."""

    def __init__(self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, lr: float = LR):
        super().__init__(params, X, y, lr)
        F, ps = self.F, self.params

        def loss_fn(x: Any, t: Any) -> Any:  # MinigradMLP's forward, as a function
            h = x
            for k in range(len(ps) // 2 - 1):
                h = F.relu(h @ ps[2 * k] + ps[2 * k + 1])
            return F.cross_entropy(h @ ps[-2] + ps[-1], t)

        self.loss = self.mg.compile(loss_fn)

    def _loss_backward(self) -> Any:
        loss = self.loss(self.X, self.y)
        loss.backward()
        return loss


class CompiledChain(MinigradChain):
    def __init__(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int):
        super().__init__(x, a, b, n)
        self.compiled = self.mg.compile(lambda x: MinigradChain.forward(self))
        self._x = self.x

    def forward(self) -> Any:
        return self.compiled(self.x)


MLP_LIBS: dict[str, Callable[..., Any]] = {
    "numpy": NumpyMLPInPlace, "numpy-naive": NumpyMLP, "compiled": CompiledStepMLP,
    "compiled-loss": CompiledMLP, "minigrad": MinigradMLP, "torch": TorchMLP}
CHAIN_LIBS: dict[str, Callable[..., Any]] = {
    "numpy": NumpyChainInPlace, "numpy-naive": NumpyChain, "minigrad": MinigradChain,
    "compiled": CompiledChain, "torch": TorchChain}


def _libs(names: list[str]) -> list[str]:
    return [n for n in names if n != "torch" or installed("torch")]


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def make(scenario: str, lib: str, quick: bool) -> tuple[Callable[[], Any], int]:
    """The callable one round times, and how many ops it counts as (for µs per op)."""
    if lib == "torch":
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if scenario.startswith("mlp"):
        sizes = (64, 64, 64, 10) if scenario == "mlp-small" else (
            (784, 32, 32, 10) if quick else (784, 512, 512, 10))
        batch = 32 if scenario == "mlp-small" else (16 if quick else 256)
        params, X, y = mlp_data(sizes, batch, np.float32)
        return MLP_LIBS[lib](params, X, y).step, 1
    n = 90 if quick else 2_000
    x, a, b = chain_data()
    return CHAIN_LIBS[lib](x, a, b, n).run, n


def time_libs(scenario: str, libs: list[str], quick: bool) -> dict[str, dict[str, float]]:
    """Times `libs` in this process, round by round in rotating order; per library the
    median CPU seconds per call, per op, and the minor page faults per call after warm-up."""
    runs = {lib: make(scenario, lib, quick) for lib in libs}
    rounds = 5 if quick else (15 if scenario == "mlp-large" else 30)
    calls = 2 if quick else (3 if scenario == "mlp-large" else 20)
    for f, _ in runs.values():
        for _ in range(3 if quick else 10):
            f()
    times: dict[str, list[float]] = {lib: [] for lib in libs}
    faults = dict.fromkeys(libs, 0)
    for r in range(rounds):
        order = libs[r % len(libs):] + libs[:r % len(libs)]
        for lib in order:
            f, _ = runs[lib]
            f0 = _faults()
            t0 = time.process_time()
            for _ in range(calls):
                f()
            times[lib].append((time.process_time() - t0) / calls)
            faults[lib] += _faults() - f0
    out = {}
    for lib in libs:
        med = statistics.median(times[lib])
        out[lib] = {"seconds": med, "per_op": med / runs[lib][1],
                    "faults": faults[lib] / (rounds * calls)}
    return out


def memory(scenario: str, lib: str, quick: bool) -> dict[str, float]:
    """``alloc``: the median over 5 steps after warm-up of the peak bytes allocated above the
    step's start; ``held``: the bytes still allocated after warm-up by an instance made under
    `tracemalloc` (its arrays, buffers, plan)."""
    import gc
    import tracemalloc

    make(scenario, lib, True)[0]()  # the library's modules are imported before, not counted
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    f, _ = make(scenario, lib, quick)
    for _ in range(3):
        f()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    allocs = []
    for _ in range(5):
        r = None
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        r = f()
        allocs.append(tracemalloc.get_traced_memory()[1] - start)
        del r
    tracemalloc.stop()
    return {"alloc": statistics.median(allocs), "held": held}


def transformer_compile_seconds(quick: bool = False) -> float | None:
    """Trace + compile time (the first call) of the transformer example's training loss, at
    the example's default sizes (sorting 6 digits: vocabulary 11, E = 64, 4 heads, 2 blocks,
    batch 64), or None where `minigrad.models.transformer` has not landed."""
    try:
        from minigrad.models.transformer import TinyTransformer
    except ImportError:
        return None
    import minigrad as mg

    n, batch = (3, 8) if quick else (6, 64)
    mg.manual_seed(0)
    model = TinyTransformer(11, 2 * n, 64, 4, 2)
    loss_fn = mg.nn.CrossEntropyLoss()
    step = mg.compile(lambda x, y: loss_fn(model(x)[:, n:], y))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 11, (batch, 2 * n)), rng.integers(0, 11, (batch, n))
    t0 = time.perf_counter()
    step(x, y)
    return time.perf_counter() - t0


# glibc gives memory back to the system when the free space at the top of its heap passes a
# threshold, and serves large arrays with fresh mappings: both make page faults at the next
# allocation. Fixed thresholds (the same for every library) keep freed arrays for reuse.
KEEP_MALLOC = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_MMAP_THRESHOLD_": str(1 << 25)}


def _alone(scenario: str, lib: str, quick: bool,
           env: dict[str, str] | None = None) -> dict[str, float]:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", scenario, lib]
    if quick:
        cmd.append("--quick")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=True,
                       env={**os.environ, **(env or {})})
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


ALONE_ROUNDS = 3


def _alone_rounds(scenario: str, libs: list[str], quick: bool,
                  env: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Each library alone in a fresh process, `ALONE_ROUNDS` times in rotating order, and per
    library the median over its processes: the machine's speed drifts from minute to minute,
    and one process per library would catch each in another phase."""
    rounds = 1 if quick else ALONE_ROUNDS
    runs: dict[str, list[dict[str, float]]] = {lib: [] for lib in libs}
    for r in range(rounds):
        for lib in libs[r % len(libs):] + libs[:r % len(libs)]:
            runs[lib].append(_alone(scenario, lib, quick, env))
    return {lib: {k: statistics.median(x[k] for x in rs) for k in rs[0]}
            for lib, rs in runs.items()}


def rows(quick: bool = False, alone: bool = True,
         emit: Callable[[dict[str, Any]], None] | None = None,
         only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every scenario, as rows: scenario, library, mode ("same" or "alone"), µs per call,
    µs per op, ratio to numpy (same mode and run), faults per call, target. `emit`, if
    given, receives each row as soon as it is measured; `only` keeps the scenarios whose
    names start with one of its strings. The large MLP also runs alone with glibc's heap
    kept (``mode = alone, heap kept``: `KEEP_MALLOC`), to show which page faults come from
    the allocator returning memory rather than from the step."""
    out: list[dict[str, Any]] = []
    for scenario in ("mlp-small", "chain", "mlp-large"):
        if only and not scenario.startswith(only):
            continue
        libs = _libs(["numpy", "compiled", "numpy-naive", "minigrad", "torch"])
        if scenario.startswith("mlp"):
            libs.insert(2, "compiled-loss")
        if scenario == "mlp-large":
            libs = ["numpy", "compiled", "compiled-loss", "numpy-naive", "minigrad"]
        same = time_libs(scenario, libs, quick)
        modes = [("same", same)]
        if alone:
            modes.append(("alone", _alone_rounds(scenario, libs, quick)))
            if scenario == "mlp-large":
                modes.append(("alone, heap kept",
                              _alone_rounds(scenario, libs, quick, KEEP_MALLOC)))
        for mode, res in modes:
            base = res["numpy"]["seconds"]
            for lib in libs:
                r = res[lib]
                out.append({"scenario": scenario, "library": lib, "mode": mode,
                            "us": r["seconds"] * 1e6, "us_per_op": r["per_op"] * 1e6,
                            "ratio": r["seconds"] / base, "faults": r["faults"],
                            "alloc": r.get("alloc", float("nan")),
                            "held": r.get("held", float("nan")),
                            "target": TARGETS[scenario] if lib == "compiled" else ""})
                if emit is not None:
                    emit(out[-1])
    run_t = not only or "transformer-compile".startswith(only)
    t = transformer_compile_seconds(quick) if run_t else None
    if t is not None:
        out.append({"scenario": "transformer-compile", "library": "compiled", "mode": "same",
                    "us": t * 1e6, "us_per_op": float("nan"), "ratio": float("nan"),
                    "faults": float("nan"), "target": TARGETS["transformer-compile"]})
        if emit is not None:
            emit(out[-1])
    return out


def table(rs: list[dict[str, Any]]) -> str:
    lines = ["| scenario | library | mode | µs per call | µs per op | × numpy | faults/call | "
             "alloc B/step | held KB | target |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rs:
        per_op = "" if r["scenario"] != "chain" else f"{r['us_per_op']:.2f}"
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.2f}"
        faults = "" if r["faults"] != r["faults"] else f"{r['faults']:.1f}"
        alloc = r.get("alloc", float("nan"))
        held = r.get("held", float("nan"))
        alloc_s = "" if alloc != alloc else f"{alloc:,.0f}"
        held_s = "" if held != held else f"{held / 1024:,.0f}"
        lines.append(f"| {r['scenario']} | {r['library']} | {r['mode']} | {r['us']:,.0f} | "
                     f"{per_op} | {ratio} | {faults} | {alloc_s} | {held_s} | {r['target']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--same-only", action="store_true",
                    help="skip the one-process-per-library runs")
    ap.add_argument("--only", nargs="*", default=[], help="scenarios whose names start so")
    ap.add_argument("--worker", nargs=2, metavar=("SCENARIO", "LIB"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        scenario, lib = args.worker
        res = time_libs(scenario, [lib], args.quick)[lib]
        res.update(memory(scenario, lib, args.quick))
        print(json.dumps(res))
        return 0
    if args.json:
        print(json.dumps(rows(args.quick, alone=not args.same_only, only=tuple(args.only)),
                         indent=1))
    else:
        print(table([]))
        rows(args.quick, alone=not args.same_only, only=tuple(args.only),
             emit=lambda r: print(table([r]).split("\n")[-1], flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
