"""`minigrad.func` against `torch.func` on a small MLP: Jacobians both ways, a Hessian and
per-sample gradients.

    python bench/bench_func.py             # every scenario, each library alone, a few minutes
    python bench/bench_func.py --quick     # a few calls each, seconds (a smoke test)
    python bench/bench_func.py --write     # and write the table to bench/RESULTS-func.md

`make bench` (bench/run.py) runs it as an extra scenario module: `rows()` gives its rows,
`section()` the section of bench/RESULTS.md they make; ``python bench/run.py --only func
--update`` measures these scenarios alone and rewrites that section in place.

The network: 8 inputs, two tanh layers of 32, 4 outputs, float64 (`mlp`); a loss is the
cross-entropy of one example. Scenarios:

- ``jacrev``, ``jacfwd``: the 4 × 8 Jacobian of the network's output by its input.
- ``hessian``: the 8 × 8 Hessian of one example's loss by the input (forward over reverse).
- ``per-sample``: ``vmap(grad(loss))`` over 64 examples, every parameter's gradient per
  example, with ``functional_call``; ``per-sample-loop``: minigrad's ``grad`` called 64 times.

Targets: minigrad within 2× of torch.func on each; per-sample gradients through vmap at least
5× faster than minigrad's own loop.

Each library runs alone in a fresh process (as bench/solo.py does), three processes per
library in rotating order; each process times one scenario with the process's own CPU time
(``time.process_time``, one BLAS and one torch thread, so other programs sharing the machine
do not count) and reports the median call; the table shows the median of the processes.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SIZES = (8, 32, 32, 4)
BATCH = 64
NAMES = ("jacrev", "jacfwd", "hessian", "per-sample", "per-sample-loop")
ROUNDS = 3
TARGET_RATIO = 2.0  # minigrad ≤ 2 × torch.func
TARGET_SPEEDUP = 5.0  # vmap ≥ 5 × the loop


def data() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        params += [rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.1]
    return params, rng.standard_normal((BATCH, SIZES[0])), rng.integers(0, SIZES[-1], BATCH)


def _library(lib: str) -> tuple[Any, Any, Any, Callable[[Any], Any]]:
    """(the library, its func module, its functional module, array → tensor)."""
    if lib == "torch":
        import torch

        torch.set_num_threads(1)
        return torch, torch.func, torch.nn.functional, lambda a: torch.from_numpy(np.array(a))
    import minigrad

    return minigrad, minigrad.func, minigrad.nn.functional, minigrad.Tensor


def make(scenario: str, lib: str) -> Callable[[], Any]:
    """The call one timing repeats."""
    _, func, F, T = _library(lib)
    arrays, X, Y = data()
    P = [T(a) for a in arrays]

    def mlp(p: Any, x: Any) -> Any:
        h = x
        for i in range(0, len(p) - 2, 2):
            h = F.linear(h, p[i], p[i + 1]).tanh()
        return F.linear(h, p[-2], p[-1])

    def one_loss(p: Any, x: Any, y: Any) -> Any:
        return F.cross_entropy(mlp(p, x.unsqueeze(0)), y.unsqueeze(0))

    x0, y0, XX, YY = T(X[0]), T(Y[0]), T(X), T(Y)
    calls: dict[str, Callable[[], Any]] = {
        "jacrev": lambda: func.jacrev(lambda x: mlp(P, x))(x0),
        "jacfwd": lambda: func.jacfwd(lambda x: mlp(P, x))(x0),
        "hessian": lambda: func.hessian(lambda x: one_loss(P, x, y0))(x0),
        "per-sample": lambda: func.vmap(func.grad(one_loss), in_dims=(None, 0, 0))(P, XX, YY),
        "per-sample-loop": lambda: [func.grad(one_loss)(P, XX[i], YY[i]) for i in range(BATCH)],
    }
    return calls[scenario]


def time_calls(fn: Callable[[], Any], seconds: float, least: int) -> float:
    """The median CPU time of one call, over calls made for `seconds` (at least `least`)."""
    for _ in range(3):
        fn()
    times: list[float] = []
    end = time.process_time() + seconds
    while len(times) < least or time.process_time() < end:
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def _alone(scenario: str, lib: str, quick: bool) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", scenario, lib]
    if quick:
        cmd.append("--quick")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
    return float(json.loads(p.stdout.strip().splitlines()[-1]))


def processes(quick: bool) -> dict[tuple[str, str], list[float]]:
    """Seconds per call by (scenario, library), one number per process: each library alone,
    rounds in rotating order."""
    out: dict[tuple[str, str], list[float]] = {}
    for scenario in NAMES:
        libs = ["minigrad"] if scenario == "per-sample-loop" else ["minigrad", "torch"]
        for r in range(1 if quick else ROUNDS):
            for lib in libs[r % len(libs):] + libs[:r % len(libs)]:
                out.setdefault((scenario, lib), []).append(_alone(scenario, lib, quick))
                print(f"  {scenario:16} {lib:9} {out[(scenario, lib)][-1] * 1e6:10,.0f} µs",
                      flush=True)
    return out


def measure(quick: bool) -> dict[tuple[str, str], float]:
    """The median over the processes of `processes`."""
    return {k: statistics.median(ts) for k, ts in processes(quick).items()}


# ------------------------------------------------------------------ as a module of bench/run.py
PREFIX = "func-"
SCENARIOS = {  # for bench/run.py
    PREFIX + "jacrev": "minigrad.func.jacrev: the 4 × 8 Jacobian of an 8-32-32-4 tanh MLP "
                       "(float64) by its input",
    PREFIX + "jacfwd": "minigrad.func.jacfwd: the same Jacobian by forward mode",
    PREFIX + "hessian": "minigrad.func.hessian: the 8 × 8 Hessian of one example's "
                        "cross-entropy by the input",
    PREFIX + "per-sample": f"vmap(grad(loss)): every parameter's gradient for each of {BATCH} "
                           "examples",
    PREFIX + "per-sample-loop": f"grad(loss) called {BATCH} times (minigrad only)",
}
SECTION = "Function transforms: minigrad.func against torch.func"


def rows(quick: bool) -> list[dict[str, Any]]:
    """One row per scenario and library for bench/run.py: the median of the processes, in
    seconds, with their min – max (each library alone in a fresh process)."""
    out = []
    for (scenario, lib), ts in processes(quick).items():
        out.append({"scenario": PREFIX + scenario, "library": lib,
                    "value": statistics.median(ts), "unit": "s", "mode": "solo",
                    "spread": (min(ts), max(ts)),
                    "note": "process CPU time, 1 thread" + (", torch.func" if lib == "torch"
                                                            else "")})
    return out


def _results(got: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(d["scenario"][len(PREFIX):], d["library"]): d["value"] for d in got
            if d.get("value") is not None}


def targets(got: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for bench/run.py's table of targets."""
    res = _results(got)
    out = []
    for s in NAMES[:-1]:
        if (s, "minigrad") in res and (s, "torch") in res:
            r = res[(s, "minigrad")] / res[(s, "torch")]
            out.append((f"func {s}: minigrad ≤ {TARGET_RATIO:g}× torch.func", f"{r:.2f}×",
                        "met" if r <= TARGET_RATIO else "missed"))
    if ("per-sample", "minigrad") in res and ("per-sample-loop", "minigrad") in res:
        up = res[("per-sample-loop", "minigrad")] / res[("per-sample", "minigrad")]
        out.append((f"func per-sample gradients: vmap ≥ {TARGET_SPEEDUP:g}× a loop of grad",
                     f"{up:.1f}×", "met" if up >= TARGET_SPEEDUP else "missed"))
    return out


def section(got: list[dict[str, Any]]) -> list[str]:
    """The section of bench/RESULTS.md: what was measured and the two tables."""
    return [f"Measured {datetime.date.today().isoformat()} at commit {_commit()} by "
            "`python bench/run.py --only func --update` (or `make bench`).",
            f"bench/bench_func.py: a {'-'.join(map(str, SIZES))} tanh MLP in float64; the "
            "Jacobian of its output by its input (4 × 8) both ways,",
            "the Hessian of one example's cross-entropy by the input (8 × 8), and every "
            f"parameter's gradient for each of {BATCH} examples.",
            f"Each library alone in a fresh process, {ROUNDS} processes each in rotating "
            "order; the median call by process CPU time",
            "(one BLAS and one torch thread), the median of the processes.", "",
            table(_results(got))]


def table(res: dict[tuple[str, str], float]) -> str:
    lines = ["| scenario | minigrad (µs) | torch.func (µs) | minigrad ÷ torch.func | target "
             "| met |", "|---|---:|---:|---:|---|---|"]
    for s in NAMES[:-1]:
        ours, ref = res[(s, "minigrad")], res[(s, "torch")]
        ok = ours <= TARGET_RATIO * ref
        lines.append(f"| {s} | {ours * 1e6:,.0f} | {ref * 1e6:,.0f} | {ours / ref:.2f} | "
                     f"≤ {TARGET_RATIO:g}× | {'✓' if ok else '✗'} |")
    loop, vec = res[("per-sample-loop", "minigrad")], res[("per-sample", "minigrad")]
    lines += ["", "| per-sample gradients, 64 examples | minigrad (µs) | speed-up | target | met |",
              "|---|---:|---:|---|---|",
              f"| a loop of grad | {loop * 1e6:,.0f} | 1.0 | | |",
              f"| vmap(grad) | {vec * 1e6:,.0f} | {loop / vec:.1f} | ≥ {TARGET_SPEEDUP:g}× | "
              f"{'✓' if loop >= TARGET_SPEEDUP * vec else '✗'} |"]
    return "\n".join(lines)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "minigrad"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (with uncommitted changes to minigrad/)" if dirty else "")


def write(text: str) -> None:
    import platform

    import torch

    import minigrad

    head = (f"# minigrad.func against torch.func\n\n"
            f"`python bench/bench_func.py --write`, {datetime.date.today().isoformat()}, commit "
            f"{_commit()}; minigrad {getattr(minigrad, '__version__', '?')}, torch "
            f"{torch.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores.\n\n"
            f"A {'-'.join(map(str, SIZES))} tanh MLP in float64: the Jacobian of its output by "
            f"its input (4 × 8) both ways, the Hessian of one example's cross-entropy by the "
            f"input (8 × 8), and every parameter's gradient for each of {BATCH} examples. Each "
            f"library alone in a fresh process, {ROUNDS} processes each in rotating order; "
            f"the median call by process CPU time, one thread; the median of the processes.\n\n")
    with open(os.path.join(HERE, "RESULTS-func.md"), "w", encoding="utf-8") as f:
        f.write(head + text + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action="store_true", help="write bench/RESULTS-func.md")
    ap.add_argument("--worker", nargs=2, metavar=("SCENARIO", "LIB"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        scenario, lib = args.worker
        fn = make(scenario, lib)
        print(json.dumps(time_calls(fn, 0.05 if args.quick else 2.0, 2 if args.quick else 20)))
        return 0
    text = table(measure(args.quick))
    print(text)
    if args.write:
        write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
