"""Where minigrad's time goes on the op chain: cProfile of the 2,000-op add/mul/tanh chain on
4×4 float32 tensors, forward + backward (the `chain-2000` scenario of bench/run.py).

    python bench/profile_chain.py                  # top 25 functions by own time
    python bench/profile_chain.py --sort cumulative --top 40 --reps 20 --ops 2000
    python bench/profile_chain.py --phase backward # profile only the backward sweeps

Prints the wall time per op without the profiler first (the profiler itself inflates every
Python call), then the table with each function's own and cumulative time per op in µs,
i.e. divided by ops × reps, so the rows add up to the profiled cost of one op.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))

import workloads as wl  # noqa: E402


def wall_per_op(chain: object, ops: int, reps: int) -> tuple[float, float]:
    """Median forward and backward µs per op, without the profiler."""
    fwd, bwd = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        s = chain.forward()  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        chain.backward(s)  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
        del s
    med = lambda xs: sorted(xs)[len(xs) // 2]
    return med(fwd) * 1e6 / ops, med(bwd) * 1e6 / ops


def profile(ops: int = 2_000, reps: int = 10, top: int = 25, sort: str = "tottime",
            phase: str = "both") -> list[str]:
    """The report as lines: wall time per op, then the top functions with µs per op."""
    chain = wl.make_chain("minigrad", ops)
    for _ in range(3):
        chain.run()
    gc.collect()
    f, b = wall_per_op(chain, ops, reps)
    lines = [
        f"minigrad, {ops}-op chain on 4×4 float32, median of {reps} passes "
        f"(no profiler, cyclic GC on):",
        f"  forward  {f:7.2f} µs/op",
        f"  backward {b:7.2f} µs/op",
        f"  total    {f + b:7.2f} µs/op",
    ]
    prof = cProfile.Profile()
    gc.collect()
    for _ in range(reps):
        if phase == "backward":
            s = chain.forward()
            prof.enable()
            chain.backward(s)
            prof.disable()
        elif phase == "forward":
            prof.enable()
            s = chain.forward()
            prof.disable()
            chain.backward(s)
        else:
            prof.enable()
            chain.backward(chain.forward())
            prof.disable()
        s = None
    st = pstats.Stats(prof)
    n_ops = ops * reps
    total = st.total_tt  # type: ignore[attr-defined]
    lines += [
        "",
        f"cProfile ({phase}, {reps} passes): {total / n_ops * 1e6:.2f} µs/op with the "
        f"profiler's overhead; top {top} by {sort}:",
        "",
        f"{'ncalls':>9} {'calls/op':>8} {'own µs/op':>9} {'own %':>6} {'cum µs/op':>9}  function",
    ]
    key = {"tottime": 2, "cumulative": 3, "ncalls": 1}[sort]
    stats = st.stats.items()  # type: ignore[attr-defined]
    for (file, line, name), (_cc, nc, tt, ct, _callers) in sorted(
        stats, key=lambda kv: kv[1][key], reverse=True
    )[:top]:
        where = name if file == "~" else f"{_short(file)}:{line}({name})"
        lines.append(f"{nc:>9} {nc / n_ops:>8.2f} {tt / n_ops * 1e6:>9.3f} "
                     f"{tt / total * 100:>5.1f}% {ct / n_ops * 1e6:>9.3f}  {where}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=2_000, help="ops in the chain")
    ap.add_argument("--reps", type=int, default=10, help="forward+backward passes to profile")
    ap.add_argument("--top", type=int, default=25, help="rows to print")
    ap.add_argument("--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"])
    ap.add_argument("--phase", default="both", choices=["both", "forward", "backward"])
    args = ap.parse_args()
    print("\n".join(profile(args.ops, args.reps, args.top, args.sort, args.phase)))


def _short(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    for anchor in ("minigrad", "networkx", "numpy", "bench"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor):])
    return "/".join(parts[-2:])


if __name__ == "__main__":
    main()
