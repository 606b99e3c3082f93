"""The CNN and transformer training steps, compiled and eager minigrad against PyTorch eager,
each library alone in a fresh process.

    python bench/steps_alone.py                 # every scenario, 5 processes per library
    python bench/steps_alone.py --rounds 3 --seconds 1 --only cnn
    python bench/steps_alone.py --worker SCENARIO LIBRARY   # one process: prints one JSON line
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 python bench/steps_alone.py --same cnn-step
                                                # the four libraries in one process

Scenarios (the workloads of bench/bench_cnn.py and bench/bench_transformer.py, same sizes,
same weights, same thread counts: 2 for the convolutions, 1 for the transformer):

- ``conv2d-fwd-bwd``: `F.conv2d` forward and backward on x (32, 16, 28, 28), 32 filters 3×3;
- ``cnn-step``: one DigitsCNN training step (batch 32, cross-entropy, backward, Adam);
- ``transformer-step``: one TinyTransformer training step (batch 64, 12 tokens, E = 64, Adam);
- ``transformer-compile``: the first call of the compiled transformer loss (trace + compile).

Libraries: ``torch`` (PyTorch eager), ``minigrad`` (eager), ``compiled`` (the loss function
under `minigrad.compile`; backward and the optimizer step as in eager mode) and
``compiled-step`` (the whole step under ``minigrad.compile(…, optimizer=opt)``: forward,
backward and the update in one plan).

Each worker warms up, then times single steps until `--seconds` have passed (at least 20) and
reports their median, min and max. The driver starts `--rounds` workers per library in a
rotating order, so that the machine's drift from minute to minute reaches every library alike,
and prints per library the median of the workers' medians, the range of those medians
(min–max) and the ratio to PyTorch's median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = ("conv2d-fwd-bwd", "cnn-step", "transformer-step", "transformer-compile")
LIBRARIES = ("torch", "minigrad", "compiled", "compiled-step")
THREADS = {"conv2d-fwd-bwd": "2", "cnn-step": "2", "transformer-step": "1",
           "transformer-compile": "1"}
TARGETS = {"cnn-step": ("compiled-step", "≤ 1.0× PyTorch eager"),
           "transformer-step": ("compiled-step", "≤ 0.7× PyTorch eager"),
           "transformer-compile": ("compiled", "≤ 1 s")}


def _cnn_step(lib: str) -> Any:
    import bench_cnn as b

    s = b.StepCase(**b.STEP_SIZES)
    if lib == "torch":
        return s.torch_step
    if lib == "minigrad":
        return s.minigrad_step
    import minigrad

    if lib == "compiled-step":
        whole = minigrad.compile(lambda x, y: s.loss_fn(s.model(x), y), optimizer=s.opt)
        return lambda: whole(s.x, s.y)
    loss = minigrad.compile(lambda x, y: s.loss_fn(s.model(x), y))

    def step() -> None:
        s.opt.zero_grad()
        loss(s.x, s.y).backward()
        s.opt.step()

    return step


def _transformer(lib: str) -> tuple[Any, Any]:
    """The step, and for ``compiled`` the compiled loss and its arguments (for the
    trace + compile time)."""
    import bench_transformer as b

    s = b.Steps(**b.DEFAULTS)
    if lib == "torch":
        return s.torch_step, None
    if lib == "minigrad":
        return s.minigrad_step, None
    import minigrad

    n = s.n
    if lib == "compiled-step":
        whole = minigrad.compile(lambda x, y: s.loss_fn(s.model(x)[:, n:], y), optimizer=s.opt)
        return (lambda: whole(s.x, s.y)), None
    loss = minigrad.compile(lambda x, y: s.loss_fn(s.model(x)[:, n:], y))

    def step() -> None:
        s.opt.zero_grad()
        loss(s.x, s.y).backward()
        s.opt.step()

    return step, (loss, s.x, s.y)


def _conv(lib: str) -> Any:
    import bench_cnn as b

    c = b.ConvCase(**b.CONV_SHAPE)
    return c.torch if lib == "torch" else c.minigrad


def worker(scenario: str, lib: str, seconds: float, clock: str = "wall") -> dict[str, float]:
    """Times `scenario` for `lib` in this process. `clock`: "wall" (perf_counter) or "cpu"
    (the process's CPU time, all threads: steadier than wall time on a busy machine, and
    with one thread per library the same measure for each)."""
    sys.path.insert(0, HERE)
    sys.path.insert(1, os.path.dirname(HERE))
    if lib == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", THREADS[scenario])))
    now = time.process_time if clock == "cpu" else time.perf_counter
    if scenario == "transformer-compile":
        _, (loss, x, y) = _transformer("compiled")
        t0 = now()
        loss(x, y)
        t = now() - t0
        return {"median": t, "min": t, "max": t, "steps": 1}
    if scenario == "conv2d-fwd-bwd":
        fn = _conv(lib)
    elif scenario == "cnn-step":
        fn = _cnn_step(lib)
    else:
        fn = _transformer(lib)[0]
    for _ in range(5):
        fn()
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(times) < 20 or time.perf_counter() < t_end:
        t0 = now()
        fn()
        times.append(now() - t0)
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "steps": len(times)}


def same_process(scenario: str, rounds: int, clock: str = "wall") -> list[dict[str, Any]]:
    """The four libraries in this one process, `rounds` interleaved rounds in a rotating
    order (a batch of steps each): ratios from the same minutes of the machine's drift.
    Thread pools: as set by OMP_NUM_THREADS before numpy and torch loaded."""
    sys.path.insert(0, HERE)
    sys.path.insert(1, os.path.dirname(HERE))
    import gc

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", THREADS[scenario])))
    make = _cnn_step if scenario == "cnn-step" else (lambda lib: _transformer(lib)[0])
    fns = {lib: make(lib) for lib in LIBRARIES}
    per = 20 if scenario == "cnn-step" else 5
    now = time.process_time if clock == "cpu" else time.perf_counter
    for fn in fns.values():
        for _ in range(5):
            fn()
    samples: dict[str, list[float]] = {lib: [] for lib in LIBRARIES}
    for r in range(rounds):
        for lib in LIBRARIES[r % len(LIBRARIES):] + LIBRARIES[:r % len(LIBRARIES)]:
            gc.collect()
            t0 = now()
            for _ in range(per):
                fns[lib]()
            samples[lib].append((now() - t0) / per)
    base = statistics.median(samples["torch"])
    return [{"scenario": scenario, "library": lib, "median": statistics.median(v),
             "min": min(v), "max": max(v), "ratio": statistics.median(v) / base,
             "processes": 1} for lib, v in samples.items()]


def _alone(scenario: str, lib: str, seconds: float, threads: str = "", clock: str = "wall"
           ) -> dict[str, float]:
    threads = threads or THREADS[scenario]
    env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", scenario, lib,
           "--seconds", str(seconds), "--clock", clock]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True, env=env)
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def run(scenarios: list[str], rounds: int, seconds: float, threads: str = "",
        clock: str = "wall") -> list[dict[str, Any]]:
    """Per scenario and library: the median of the workers' medians, their min and max, and
    the ratio to PyTorch's median."""
    out: list[dict[str, Any]] = []
    for scenario in scenarios:
        libs = ["compiled"] if scenario == "transformer-compile" else \
            [lib for lib in LIBRARIES
             if not (scenario == "conv2d-fwd-bwd" and lib.startswith("compiled"))]
        meds: dict[str, list[float]] = {lib: [] for lib in libs}
        for r in range(rounds):
            for lib in libs[r % len(libs):] + libs[:r % len(libs)]:
                meds[lib].append(_alone(scenario, lib, seconds, threads, clock)["median"])
        base = statistics.median(meds["torch"]) if "torch" in meds else None
        for lib, ms in meds.items():
            med = statistics.median(ms)
            out.append({"scenario": scenario, "library": lib, "median": med, "min": min(ms),
                        "max": max(ms), "ratio": None if base is None else med / base,
                        "processes": len(ms)})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | library | median | min–max (processes or rounds) | × PyTorch "
             "| target |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        target = TARGETS.get(r["scenario"], ("", ""))
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['scenario']} | {r['library']} | {r['median'] * 1e3:.2f} ms | "
                     f"{r['min'] * 1e3:.2f}–{r['max'] * 1e3:.2f} ms | {ratio} | "
                     f"{target[1] if target[0] == r['library'] else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("SCENARIO", "LIBRARY"))
    parser.add_argument("--rounds", type=int, default=5, help="processes per library")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per process")
    parser.add_argument("--only", default="", help="scenarios whose names start with this")
    parser.add_argument("--threads", default="", help="BLAS / torch threads for every scenario "
                        "(default: 2 for the convolutions, 1 for the transformer)")
    parser.add_argument("--same", metavar="SCENARIO", choices=("cnn-step", "transformer-step"),
                        help="the four libraries in this process, interleaved (set the "
                             "threads with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or the process's CPU time (steadier when the machine "
                             "is busy; use it with --threads 1)")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.seconds, args.clock)))
        return 0
    if args.same:
        print(table(same_process(args.same, max(args.rounds, 15), args.clock)))
        return 0
    scenarios = [s for s in SCENARIOS if s.startswith(args.only)]
    print(table(run(scenarios, args.rounds, args.seconds, args.threads, args.clock)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
