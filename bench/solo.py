"""One library alone in a fresh process: times one scenario and counts its page faults.

    python bench/solo.py SCENARIO LIBRARY [--quick] [--seconds S]

prints one JSON line: the median, min and max seconds per step (per op for the chains) over
the timed steps, and the minor page faults per step (``getrusage(RUSAGE_SELF).ru_minflt``
deltas over the same steps). bench/run.py starts it once per library and round, in the
environment a user has (no thread pinning, the C library's allocator as the library leaves
it), so each library pays for its own allocations and nothing another library did to the
process.

Scenarios: mlp-large-f32, mlp-large-f64, mlp-small-f32 (one SGD step), chain-2000
(forward + backward, per op), chain-100k (forward and backward, whole chain).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import workloads as wl  # noqa: E402

SCENARIOS = ("mlp-large-f32", "mlp-large-f64", "mlp-small-f32", "chain-2000", "chain-100k")


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_steps(fn: Any, seconds: float, warmup: int, min_steps: int) -> dict[str, float]:
    """Each call timed on its own until `seconds` have passed (at least `min_steps` calls)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    f0 = _faults()
    t_end = time.perf_counter() + seconds
    while len(times) < min_steps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    faults = (_faults() - f0) / len(times)
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "faults": faults, "steps": len(times)}


def main(argv: list[str]) -> dict[str, Any]:
    scenario, lib = argv[0], argv[1]
    quick = "--quick" in argv
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else (
        0.05 if quick else 1.0)
    sizes = wl.Sizes(quick=quick)
    __import__(lib)
    if scenario.startswith("mlp-"):
        large = scenario.startswith("mlp-large")
        dtype = np.float64 if scenario.endswith("f64") else np.float32
        params, X, y = wl.mlp_data(sizes.mlp_large if large else sizes.mlp_small,
                                   sizes.batch_large if large else sizes.batch_small, dtype)
        model = wl.make_mlp(lib, params, X, y)
        return time_steps(model.step, seconds, 3 if quick else 20, 3 if quick else 20)
    if scenario == "chain-2000":
        n = sizes.chain_short
        chain = wl.make_chain(lib, n)
        r = time_steps(chain.run, seconds, 1 if quick else 5, 3 if quick else 10)
        for k in ("median", "min", "max"):
            r[k] /= n
        r["faults"] /= n
        return r
    if scenario == "chain-100k":
        n = sizes.chain_long
        wl.make_chain(lib, 300).run()  # the library's one-time set-up is not per op
        chain = wl.make_chain(lib, n)
        fwd, bwd = [], []
        for _ in range(2):
            gc.collect()
            t0 = time.perf_counter()
            state = chain.forward()
            t1 = time.perf_counter()
            chain.backward(state)
            t2 = time.perf_counter()
            del state
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
        return {"forward": min(fwd), "backward": min(bwd), "ops": n}
    raise SystemExit(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
