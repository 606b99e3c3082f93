"""minigrad's benchmark suite (issues 6 and 12): minigrad against hand-written numpy and its
peers, each library alone in its own process and all of them interleaved in one.

    python bench/run.py                 # the full suite (several minutes); writes bench/RESULTS.md
    python bench/run.py --quick         # smoke run: tiny sizes and rounds, seconds
    python bench/run.py --only chain    # scenarios whose name starts with "chain"
    python bench/run.py --only solo     # only the solo-process scenarios
    python bench/run.py --threads 1     # BLAS / OpenMP / torch pool size (default 2)
    python bench/run.py --only func --update  # rewrite only the func section of RESULTS.md

Scenarios: solo-mlp-large-f32, solo-mlp-small-f32, solo-chain-2000, solo-chain-100k (each
library alone in a fresh process), mlp-large-f32, mlp-large-f64, mlp-small-f32, chain-2000,
chain-100k (all libraries interleaved in this process), peak-memory, render, train-memory,
and the scenarios of the extra modules (below). Libraries: hand-written numpy (the
reference: ratio 1.00), minigrad, PyTorch and HIPS autograd where installed
(`pip install -r bench/requirements.txt`).

Solo mode (bench/solo.py): every library runs in a fresh `subprocess` with the environment
the suite was started with (no thread pinning, the allocator as the library leaves it), one
process per library and round, the libraries' order rotating from round to round; the table
gives the median over the rounds of each process's median step, and the minor page faults
per step. Two more variants run there: "numpy-nofault", the same hand-written numpy with
glibc told to keep freed memory (`MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_`, what
numpy costs without page faults), and "minigrad-system", minigrad with its allocator
setting turned off (`MINIGRAD_ALLOCATOR=system`).

Interleaved mode: each library is warmed up, then timed in several rounds; in each round every
library runs once (a batch of calls sized to take about `target` seconds) in an order that
rotates from round to round, so drifts of the machine hit all alike. In the MLP scenarios each
batch starts after a short rest, so that no thread pool is still spinning from the library
before. The table gives the median over the rounds and its ratio to hand-written numpy
measured in the same run, and the minor page faults per call. Memory is measured in a
separate process per library (bench/memprobe.py). Correctness is checked as it goes: every
library's first gradients and first updated weights must equal numpy's to float tolerance.

Extra scenario modules: each name in `EXTRA_MODULES` that exists as ``bench/<name>.py`` is
imported and run after the built-in scenarios. Such a module defines ``SCENARIOS`` (a dict,
scenario name → one-line description; or ``SCENARIO``, one name, described by the module
docstring's first line) and ``rows(quick: bool) -> list[dict]``, one dict per
result with the keys ``scenario``, ``library``, ``value`` and ``unit`` ("s", "us/op", "B/op",
"B") and optionally ``spread`` ((min, max)), ``faults``
(minor page faults per step), ``mode`` ("solo" or "interleaved", the default) and ``note``;
optionally also ``targets(rows) -> list[(target, measured, verdict)]``, and ``SECTION`` (a
title) with ``section(rows) -> list[str]``: its rows then make a section of RESULTS.md of their
own, which ``--update`` rewrites in place after a partial run. The suite computes
the ratios to numpy and to torch itself, from the rows of those libraries in the same
scenario. It may keep a ``main()`` of its own for running it alone.
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv: list[str]) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 2  # the machine's cores


# The environment as the suite found it: the solo-process mode runs each library in it.
ORIGINAL_ENV = dict(os.environ)
# Thread pools are pinned before numpy (or torch) is first imported: they read these once.
THREADS = _threads_from_argv(sys.argv[1:])
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
for _var in THREAD_VARS:
    os.environ[_var] = str(THREADS)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import workloads as wl  # noqa: E402

SCENARIOS = {
    "solo-mlp-large-f32": "MLP 784-512-512-10, batch 256, written with tensor ops (h @ W + b, "
                          "relu, cross-entropy), one SGD step (forward, backward, in-place "
                          "update), float32; each library alone in a fresh process",
    "solo-mlp-small-f32": "MLP 64-64-64-10, batch 32, one SGD step, float32; each library alone "
                          "in a fresh process",
    "solo-chain-2000": "chain of 2,000 ops cycling add/mul/tanh on 4×4 float32 tensors, forward + "
                       "backward, per op; each library alone in a fresh process",
    "solo-chain-100k": "chain of 100,000 such ops, forward and backward (best of 2 passes per "
                       "process); each library alone in a fresh process",
    "mlp-large-f32": "MLP 784-512-512-10, batch 256, relu, softmax cross-entropy, one SGD step "
                     "(forward, backward, update), float32",
    "mlp-large-f64": "the same, float64",
    "mlp-small-f32": "MLP 64-64-64-10, batch 32, one SGD step, float32",
    "chain-2000": "chain of 2,000 ops cycling add/mul/tanh on 4×4 float32 tensors, "
                  "forward + backward, per op",
    "chain-100k": "chain of 100,000 such ops: forward and backward times; memory per op "
                  "(RSS in a separate process: held by the recorded graph after forward, and "
                  "peak over forward + backward)",
    "peak-memory": "peak RSS of 3 SGD steps of the large MLP, float32, above the baseline "
                   "after imports and data (separate process per library); for numpy and "
                   "minigrad also the peak over 10,000 steps (flat: the same peak)",
    "render": "visualize.render of a ~5,000-node graph to SVG",
    "train-memory": "RSS growth of the small MLP over 10,000 SGD steps (after 1,000 warm-up "
                    "steps), separate process",
}

# Standalone scenario modules in bench/ (see the module docstring); missing ones are skipped.
EXTRA_MODULES = ("bench_cnn", "bench_transformer", "bench_func")

# Solo-mode variants: (library to import, environment variables added for its process).
SOLO_VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "numpy": ("numpy", {}),
    "numpy-nofault": ("numpy", {"MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
                                "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024)}),
    "minigrad": ("minigrad", {}),
    "minigrad-system": ("minigrad", {"MINIGRAD_ALLOCATOR": "system"}),
    "torch": ("torch", {}),
}


@dataclass
class Plan:
    """Rounds and batch durations (seconds) for the full and the quick run."""

    quick: bool

    @property
    def rounds(self) -> int:
        return 2 if self.quick else 15

    @property
    def pause(self) -> float:
        """Seconds of rest before each timed batch of the multi-threaded (MLP) scenarios, so
        the previous library's idle BLAS / OpenMP threads have stopped spinning (OpenBLAS
        spins about 0.1 s after a call): without it, PyTorch timed right after a numpy-based
        library measured about 2× slower than alone."""
        return 0.0 if self.quick else 0.15

    @property
    def target(self) -> float:
        return 0.002 if self.quick else 0.08

    @property
    def warmup(self) -> int:
        return 1 if self.quick else 2

    @property
    def long_rounds(self) -> int:
        return 1 if self.quick else 5

    @property
    def render_rounds(self) -> int:
        return 1 if self.quick else 3

    @property
    def solo_rounds(self) -> int:
        """Fresh processes per library in the solo mode (the 100k chain: 3)."""
        return 1 if self.quick else 5


@dataclass
class Row:
    scenario: str
    library: str
    value: float | None
    unit: str  # "s", "us/op", "B/op", "B"
    ratio: float | None = None
    spread: tuple[float, float] | None = None
    note: str = ""
    faults: float | None = None  # minor page faults per call
    mode: str = "interleaved"  # or "solo"
    torch_ratio: float | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: dict[str, tuple[float, float]] = field(default_factory=dict)  # seconds, other cores
    train_objects: dict[str, int] = field(default_factory=dict)
    profile: list[str] = field(default_factory=list)
    extra_targets: list[tuple[str, str, str]] = field(default_factory=list)
    # sections of their own (an extra module's SECTION): title → (lines, scenario names)
    sections: dict[str, tuple[list[str], set[str]]] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def check(self, msg: str) -> None:
        print("  " + msg, flush=True)
        self.checks.append(msg)

    def get(self, scenario: str, library: str, mode: str | None = None) -> Row | None:
        for r in self.rows:
            if r.scenario == scenario and r.library == library and mode in (None, r.mode):
                return r
        return None


# ----------------------------------------------------------------------------- formatting


def fmt_time(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_bytes(b: float) -> str:
    if abs(b) >= 1024**2:
        return f"{b / 1024**2:.1f} MiB"
    if abs(b) >= 1024:
        return f"{b / 1024:.1f} KiB"
    return f"{b:.0f} B"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "s":
        return fmt_time(value)
    if unit == "us/op":
        return f"{value:.2f} µs/op"
    if unit == "B/op":
        return f"{value:.0f} B/op"
    if unit == "B":
        return fmt_bytes(value)
    return f"{value:.3g} {unit}"


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}×"


def fmt_spread(row: Row) -> str:
    if row.spread is None:
        return ""
    lo, hi = row.spread
    return f"{fmt_value(lo, row.unit)} – {fmt_value(hi, row.unit)}"


def fmt_faults(f: float | None) -> str:
    if f is None:
        return ""
    return f"{f:,.0f}" if f >= 10 else f"{f:.2g}"


def table_lines(rows: list[Row], markdown: bool) -> list[str]:
    head = ["scenario", "library", "median", "ratio to numpy", "ratio to torch",
            "minor faults/step", "rounds min – max", "note"]
    body = [[r.scenario, r.library, fmt_value(r.value, r.unit), fmt_ratio(r.ratio),
             fmt_ratio(r.torch_ratio), fmt_faults(r.faults), fmt_spread(r), r.note]
            for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return lines
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(row) for row in body]


# ----------------------------------------------------------------------------- timing


def _cpu_busy_seconds() -> float:
    """CPU time all processes of the machine spent busy (or stolen by the hypervisor)."""
    vals = [int(v) for v in _read("/proc/stat").splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = vals
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """How many cores other processes kept busy while a scenario ran (the suite can't stop
    them, so the results say how quiet the machine was)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0, self.own0 = _cpu_busy_seconds(), _own_cpu_seconds()

    def read(self) -> tuple[float, float]:
        dt = time.perf_counter() - self.t0
        other = (_cpu_busy_seconds() - self.busy0) - (_own_cpu_seconds() - self.own0)
        return dt, max(0.0, other) / max(dt, 1e-9)


def _minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_interleaved(
    fns: dict[str, Callable[[], Any]], plan: Plan, pause: float = 0.0,
    faults: dict[str, float] | None = None,
) -> dict[str, tuple[float, float, float]]:
    """Median, min and max seconds per call of each function, over `plan.rounds` rounds in
    a rotating order. Each sample is a batch of calls lasting about `plan.target` seconds,
    after `pause` seconds of rest. When `faults` is given, it receives each function's
    median minor page faults per call."""
    reps: dict[str, int] = {}
    for lib, fn in fns.items():
        for _ in range(plan.warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        one = time.perf_counter() - t0
        reps[lib] = max(1, min(100_000, round(plan.target / max(one, 1e-9))))
    samples: dict[str, list[float]] = {lib: [] for lib in fns}
    flt: dict[str, list[float]] = {lib: [] for lib in fns}
    libs = list(fns)
    for r in range(plan.rounds):
        k = r % len(libs)
        for lib in libs[k:] + libs[:k]:
            fn, n = fns[lib], reps[lib]
            gc.collect()
            if pause:
                time.sleep(pause)
            f0 = _minflt()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[lib].append((time.perf_counter() - t0) / n)
            flt[lib].append((_minflt() - f0) / n)
    if faults is not None:
        faults.update({lib: statistics.median(v) for lib, v in flt.items()})
    return {lib: (statistics.median(s), min(s), max(s)) for lib, s in samples.items()}


def ratio_rows(scenario: str, results: dict[str, tuple[float, float, float]], unit: str,
               scale: float = 1.0, notes: dict[str, str] | None = None,
               faults: dict[str, float] | None = None, mode: str = "interleaved") -> list[Row]:
    base = results.get("numpy")
    tb = results.get("torch")
    rows = []
    for lib, (med, lo, hi) in results.items():
        ratio = med / base[0] if base else None
        rows.append(Row(scenario, lib, med * scale, unit, ratio, (lo * scale, hi * scale),
                        (notes or {}).get(lib, ""), (faults or {}).get(lib), mode,
                        med / tb[0] if tb else None))
    return rows


# ----------------------------------------------------------------------------- scenarios


def _max_rel(a: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.max(np.abs(ref))) or 1.0
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - ref))) / scale


def check_mlp(key: str, libs: list[str], params: list[np.ndarray], X: np.ndarray, y: np.ndarray,
              dtype: Any, report: Report) -> None:
    """Every library's first gradients and first updated weights equal numpy's."""
    f32 = np.dtype(dtype) == np.float32
    gtol, wtol = (1e-4, 1e-6) if f32 else (1e-10, 1e-13)
    loss_ref, g_ref = wl.NumpyMLP(params, X, y).grads()
    ref = wl.NumpyMLP(params, X, y)
    ref.step()
    for lib in libs:
        if lib == "numpy":
            continue
        loss, gs = wl.make_mlp(lib, params, X, y).grads()
        dtypes = {str(g.dtype) for g in gs}
        if lib == "minigrad":
            assert dtypes == {np.dtype(dtype).name}, f"minigrad's gradients are {dtypes}"
        gerr = max(_max_rel(g, r) for g, r in zip(gs, g_ref))
        assert abs(loss - loss_ref) <= gtol * max(1.0, abs(loss_ref)), (lib, loss, loss_ref)
        assert gerr <= gtol, f"{lib}: gradients differ from numpy's by {gerr:.2e} (max rel)"
        m = wl.make_mlp(lib, params, X, y)
        m.step()
        werr = max(_max_rel(w, r) for w, r in zip(m.weights(), ref.weights()))
        assert werr <= wtol, f"{lib}: first updated weights differ from numpy's by {werr:.2e}"
        report.check(f"✓ {key}, {lib}: first update equals numpy's ({np.dtype(dtype).name}; "
                     f"gradients max rel diff {gerr:.1e}, weights {werr:.1e}; "
                     f"gradient dtype {'/'.join(sorted(dtypes))})")


def run_mlp(key: str, sizes: tuple[int, ...], batch: int, dtype: Any, libs: list[str],
            plan: Plan, report: Report) -> None:
    params, X, y = wl.mlp_data(sizes, batch, dtype)
    check_mlp(key, libs, params, X, y, dtype, report)
    models = {lib: wl.make_mlp(lib, params, X, y) for lib in libs}
    faults: dict[str, float] = {}
    res = time_interleaved({lib: m.step for lib, m in models.items()}, plan, plan.pause, faults)
    for row in ratio_rows(key, res, "s", faults=faults):
        report.add(row)


def run_chain_short(libs: list[str], n: int, plan: Plan, report: Report) -> None:
    chains = {lib: wl.make_chain(lib, n) for lib in libs}
    g_ref = chains["numpy"].run()
    for lib in libs:
        if lib == "numpy":
            continue
        g = chains[lib].run()
        err = _max_rel(g, g_ref)
        assert err <= 1e-3, f"{lib}: chain gradient differs from numpy's by {err:.2e}"
        report.check(f"✓ chain-2000, {lib}: {n}-op chain gradient equals numpy's "
                     f"(max rel diff {err:.1e})")
    res = time_interleaved({lib: c.run for lib, c in chains.items()}, plan)
    for row in ratio_rows("chain-2000", res, "us/op", scale=1e6 / n):
        report.add(row)
    import profile_chain

    report.profile = profile_chain.profile(ops=n, reps=2 if plan.quick else 5, top=15)


def run_chain_long(libs: list[str], n: int, plan: Plan, report: Report, quick: bool) -> None:
    chains = {lib: wl.make_chain(lib, n) for lib in libs}
    for lib in libs:  # warm-up on a short chain
        wl.make_chain(lib, 300).run()
    fwd: dict[str, list[float]] = {lib: [] for lib in libs}
    bwd: dict[str, list[float]] = {lib: [] for lib in libs}
    for r in range(plan.long_rounds):
        k = r % len(libs)
        for lib in libs[k:] + libs[:k]:
            c = chains[lib]
            gc.collect()
            t0 = time.perf_counter()
            state = c.forward()
            t1 = time.perf_counter()
            c.backward(state)
            t2 = time.perf_counter()
            del state  # the graph's teardown is in neither figure
            fwd[lib].append(t1 - t0)
            bwd[lib].append(t2 - t1)
    stat = lambda s: (statistics.median(s), min(s), max(s))
    for phase, data in (("forward", fwd), ("backward", bwd)):
        res = {lib: stat(s) for lib, s in data.items()}
        for row in ratio_rows(f"chain-100k {phase}", res, "s"):
            report.add(row)
    mems = {lib: memprobe("chain", lib, quick) for lib in probe_libs(libs, quick)}
    for what in ("held", "peak"):
        base = mems.get("numpy")
        for lib, m in mems.items():
            if m is None:
                continue
            per_op = m[what] / m["ops"]
            ratio = per_op / (base[what] / base["ops"]) if base and base[what] > 0 else None
            label = "held after forward" if what == "held" else "peak fwd+bwd"
            report.add(Row(f"chain-100k memory/op ({label})", lib, per_op, "B/op", ratio))
    if mems.get("minigrad"):
        report.notes.append(f"Memory method: {mems['minigrad']['method']}.")


def solo_variants(libs: list[str], quick: bool) -> list[str]:
    """The solo-mode variants whose library is installed (in the quick run numpy and
    minigrad only: a process that imports torch costs seconds)."""
    out = [v for v, (lib, _env) in SOLO_VARIANTS.items() if lib in libs]
    return [v for v in out if not quick or SOLO_VARIANTS[v][0] in ("numpy", "minigrad")]


def solo_run(scenario: str, variant: str, quick: bool) -> dict[str, Any] | None:
    """bench/solo.py for one variant, in a fresh process with the suite's starting
    environment (plus the variant's own variables)."""
    lib, extra = SOLO_VARIANTS[variant]
    env = dict(ORIGINAL_ENV)
    env.update(extra)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, os.path.join(HERE, "solo.py"), scenario, lib]
    if quick:
        cmd.append("--quick")
    elif SOLO_STEPS is not None:
        cmd += ["--steps", str(SOLO_STEPS)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if p.returncode != 0:
        print(f"  solo {scenario} {variant} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_solo(key: str, libs: list[str], plan: Plan, report: Report, quick: bool) -> None:
    """Each variant alone in a fresh process, `plan.solo_rounds` processes per variant in
    a rotating order; the median over the processes of each one's median step."""
    scenario = key[len("solo-"):]
    variants = solo_variants(libs, quick)
    rounds = SOLO_ROUNDS or plan.solo_rounds
    rounds = rounds if scenario != "chain-100k" else min(rounds, 3)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(rounds):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            res = solo_run(scenario, v, quick)
            if res is not None:
                runs[v].append(res)
    runs = {v: rs for v, rs in runs.items() if rs}
    med = statistics.median
    if scenario == "chain-100k":
        for phase in ("forward", "backward", "total"):
            res = {}
            for v, rs in runs.items():
                xs = [x["forward"] + x["backward"] if phase == "total" else x[phase] for x in rs]
                res[v] = (med(xs), min(xs), max(xs))
            for row in ratio_rows(f"chain-100k {phase}", res, "s", mode="solo"):
                report.add(row)
        return
    res = {}
    faults = {}
    for v, rs in runs.items():
        xs = [x["median"] for x in rs]
        res[v] = (med(xs), min(xs), max(xs))
        faults[v] = med([x["faults"] for x in rs])
    unit, scale = ("us/op", 1e6) if scenario == "chain-2000" else ("s", 1.0)
    for row in ratio_rows(scenario, res, unit, scale=scale, faults=faults, mode="solo"):
        report.add(row)


def run_extra(name: str, quick: bool, report: Report, extra_targets: list[Any]) -> None:
    """One extra scenario module (see the module docstring): its rows join the report."""
    try:
        mod = importlib.import_module(name)
        got = mod.rows(quick)
    except Exception as e:  # noqa: BLE001  (a broken extra module is reported, not fatal)
        report.add(Row(name, "–", None, "s", note=f"failed: {type(e).__name__}: {e}"[:200]))
        return
    added = []
    # ratios are recomputed here, to numpy and to torch in the same scenario, whatever
    # baseline the module's own table uses
    base: dict[tuple[str, str, str], float] = {}
    for d in got:
        if d.get("library") in ("numpy", "torch") and d.get("value"):
            base[(d["scenario"], d.get("mode", "interleaved"), d["library"])] = d["value"]
    for d in got:
        spread = d.get("spread")
        mode = d.get("mode", "interleaved")
        v = d.get("value")
        bn = base.get((d["scenario"], mode, "numpy"))
        bt = base.get((d["scenario"], mode, "torch"))
        row = Row(d["scenario"], d["library"], v, d.get("unit", "s"),
                  v / bn if v is not None and bn else None,
                  tuple(spread) if spread else None, d.get("note", ""),
                  d.get("faults"), mode, v / bt if v is not None and bt else None)
        report.add(row)
        added.append(d)
    if hasattr(mod, "targets"):
        try:
            extra_targets.extend(mod.targets(added))
        except Exception as e:  # noqa: BLE001
            extra_targets.append((f"{name} targets", f"{type(e).__name__}: {e}", "not measured"))
    if hasattr(mod, "section"):
        try:
            lines = mod.section(added)
        except Exception as e:  # noqa: BLE001
            lines = [f"(could not be rendered: {type(e).__name__}: {e})"]
        report.sections[mod.SECTION] = (lines, {d["scenario"] for d in added})


def section_lines(report: Report) -> list[str]:
    """The extra modules' sections of RESULTS.md, each with its own targets."""
    out: list[str] = []
    for title, (lines, _) in report.sections.items():
        out += ["", f"## {title}", "", *lines]
    return out


def update_sections(path: str, report: Report) -> None:
    """Rewrites the sections of this run's extra modules in the results file at `path`,
    leaving the rest of it as the last full run wrote it (a section not there yet goes
    before the targets)."""
    with open(path, encoding="utf-8") as f:
        text = f.read().rstrip("\n").split("\n")
    for title, (lines, _) in report.sections.items():
        new = [f"## {title}", "", *lines, ""]
        if f"## {title}" in text:
            start = text.index(f"## {title}")
            end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")),
                       len(text))
            text[start:end] = new
        else:
            at = text.index("## Targets (issue 12)") if "## Targets (issue 12)" in text \
                else len(text)
            text[at:at] = new
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")


def extra_modules() -> dict[str, dict[str, str]]:
    """The extra scenario modules present in bench/, with their scenarios."""
    found: dict[str, dict[str, str]] = {}
    for name in EXTRA_MODULES:
        if not os.path.exists(os.path.join(HERE, name + ".py")):
            continue
        try:
            mod = importlib.import_module(name)
            if hasattr(mod, "SCENARIOS"):
                found[name] = dict(mod.SCENARIOS)
            else:  # one scenario: SCENARIO, described by the module's first docstring line
                found[name] = {mod.SCENARIO: (mod.__doc__ or name).strip().split("\n")[0]}
        except Exception as e:  # noqa: BLE001
            found[name] = {name: f"(could not be imported: {type(e).__name__}: {e})"}
    return found


def probe_libs(libs: list[str], quick: bool) -> list[str]:
    """Libraries to start a memory probe for: in the quick run only numpy and minigrad (a
    process that imports torch costs seconds)."""
    return [lib for lib in libs if not quick or lib in ("numpy", "minigrad")]


LONG_STEPS = 10_000  # steps of the large MLP's peak-memory run (--long-steps)
SOLO_STEPS: int | None = None  # warm-up and least timed steps per solo process (--solo-steps)
SOLO_ROUNDS: int | None = None  # processes per library in the solo mode (--solo-rounds)


def memprobe(kind: str, lib: str, quick: bool) -> dict[str, Any] | None:
    cmd = [sys.executable, os.path.join(HERE, "memprobe.py"), kind, lib]
    if quick:
        cmd.append("--quick")
    elif kind == "mlp-long":
        cmd += ["--steps", str(LONG_STEPS)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(f"  memprobe {kind} {lib} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_peak_memory(libs: list[str], report: Report, quick: bool) -> None:
    peaks = {lib: memprobe("mlp", lib, quick) for lib in probe_libs(libs, quick)}
    base = peaks.get("numpy")
    for lib, m in peaks.items():
        if m is None:
            report.add(Row("peak-memory", lib, None, "B", note="probe failed"))
            continue
        ratio = m["peak"] / base["peak"] if base and base["peak"] > 0 else None
        report.add(Row("peak-memory", lib, m["peak"], "B", ratio))
    longs = {lib: memprobe("mlp-long", lib, quick) for lib in ("numpy", "minigrad")}
    lb = longs.get("numpy")
    for lib, m in longs.items():
        if m is None:
            report.add(Row("peak-memory over many steps", lib, None, "B", note="probe failed"))
            continue
        ratio = m["peak"] / lb["peak"] if lb and lb["peak"] > 0 else None
        report.add(Row("peak-memory over many steps", lib, m["peak"], "B", ratio,
                       note=f"peak after {m['marks'][0][0]:,} steps "
                            f"{fmt_bytes(m['marks'][0][1])}, after {m['steps']:,} steps "
                            f"{fmt_bytes(m['peak'])}; minor faults/step "
                            f"{m['faults']:.2g}"))


def run_train_memory(report: Report, quick: bool) -> None:
    for lib in ("numpy", "minigrad"):
        m = memprobe("train", lib, quick)
        if m is None:
            report.add(Row("train-memory", lib, None, "B", note="probe failed"))
            continue
        growth = m["after_all"] - m["after_warmup"]
        marks = m["marks"]
        report.add(Row("train-memory", lib, growth, "B", None,
                       note=f"RSS after step {m['warm']:,}: {fmt_bytes(m['after_warmup'])}, "
                            f"then {fmt_bytes(min(marks))} – {fmt_bytes(max(marks))} up to step "
                            f"{m['steps']:,}; GC-tracked objects {m['objects_growth']:+d}; "
                            f"final loss {m['loss']:.2g}"))
        report.train_objects[lib] = m["objects_growth"]


def run_render(n_nodes: int, plan: Plan, report: Report) -> None:
    try:
        from minigrad.visualize import render
    except ImportError as e:
        report.add(Row("render", "minigrad+visualize", None, "s",
                       note=f"skipped: visualize.render is not importable ({e})"))
        return
    import minigrad as mg

    out = wl.render_graph(n_nodes)
    nodes = mg.graph(out).number_of_nodes()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            render(wl.render_graph(10), os.path.join(tmp, "warm.svg"))
            for i in range(plan.render_rounds):
                t0 = time.perf_counter()
                render(out, os.path.join(tmp, f"graph{i}.svg"))
                times.append(time.perf_counter() - t0)
            size = os.path.getsize(os.path.join(tmp, "graph0.svg"))
        except Exception as e:  # noqa: BLE001  (visualize is written elsewhere; report, go on)
            report.add(Row("render", "minigrad+visualize", None, "s",
                           note=f"skipped: render failed: {type(e).__name__}: {e}"[:200]))
            return
    report.add(Row("render", "minigrad+visualize", statistics.median(times), "s", None,
                   (min(times), max(times)), note=f"{nodes:,} nodes, SVG {fmt_bytes(size)}"))


# ----------------------------------------------------------------------------- targets


def targets(report: Report) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each of issue 12's targets that was measured."""
    out: list[tuple[str, str, str]] = []
    _mlp_targets(report, out)
    _chain_targets(report, out)
    _memory_targets(report, out)
    return out + report.extra_targets


def _verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def _value(r: Row | None) -> float | None:
    return None if r is None else r.value


def _mlp_targets(report: Report, out: list[tuple[str, str, str]]) -> None:
    """The MLP steps' speed against PyTorch and numpy, and their page faults."""
    mg_ = report.get("mlp-large-f32", "minigrad", "solo")
    tq = report.get("mlp-large-f32", "torch", "solo")
    nf = report.get("mlp-large-f32", "numpy-nofault", "solo")
    if mg_ and mg_.value is not None:
        if tq and tq.value:
            r = mg_.value / tq.value
            out.append(("Large MLP step alone in its process: ≤ 0.85× PyTorch",
                        f"{r:.2f}× ({fmt_time(mg_.value)} vs {fmt_time(tq.value)})",
                        _verdict(r <= 0.85)))
        if nf and nf.value:
            r = mg_.value / nf.value
            out.append(("Large MLP step alone in its process: ≤ 1.15× numpy with no page faults",
                        f"{r:.2f}× ({fmt_time(mg_.value)} vs {fmt_time(nf.value)})",
                        _verdict(r <= 1.15)))
        if mg_.faults is not None:
            out.append(("Large MLP step: ≤ 100 minor page faults per step",
                        f"{mg_.faults:.2g} per step", _verdict(mg_.faults <= 100)))
    sm = report.get("mlp-small-f32", "minigrad", "solo")
    if sm and sm.ratio is not None:
        out.append(("Small MLP step alone in its process: ≤ 2.5× hand-written numpy",
                    f"{sm.ratio:.2f}× ({fmt_time(sm.value or 0)})", _verdict(sm.ratio <= 2.5)))
        if sm.torch_ratio is not None:
            st = _value(report.get("mlp-small-f32", "torch", "solo"))
            out.append(("Small MLP step alone in its process: ahead of PyTorch",
                        f"{fmt_time(sm.value or 0)} vs {fmt_time(st or 0)} "
                        f"({sm.torch_ratio:.2f}×)", _verdict(sm.torch_ratio < 1.0)))


def _chain_targets(report: Report, out: list[tuple[str, str, str]]) -> None:
    """The op chains' time per op against PyTorch's, and the long chain's memory per op."""
    for mode in ("solo", "interleaved"):
        c = report.get("chain-2000", "minigrad", mode)
        if c and c.torch_ratio is not None:
            ct = _value(report.get("chain-2000", "torch", mode))
            out.append((f"Op chain ({mode}): ≤ 1.15× PyTorch's µs/op",
                        f"{c.torch_ratio:.2f}× ({c.value:.2f} vs {ct:.2f} µs/op)",
                        _verdict(c.torch_ratio <= 1.15)))
    for mode, key in (("solo", "chain-100k total"), ("interleaved", None)):
        if key:
            m, t = report.get(key, "minigrad", mode), report.get(key, "torch", mode)
            mv, tv = _value(m), _value(t)
        else:
            parts = [_value(report.get(f"chain-100k {ph}", lib, mode))
                     for lib in ("minigrad", "torch") for ph in ("forward", "backward")]
            if any(p is None for p in parts):
                continue
            mv, tv = parts[0] + parts[1], parts[2] + parts[3]  # type: ignore[operator]
        if mv is not None and tv:
            out.append((f"100,000-op chain ({mode}): total ≤ 1.2× PyTorch's",
                        f"{mv / tv:.2f}× ({fmt_time(mv)} vs {fmt_time(tv)})",
                        _verdict(mv / tv <= 1.2)))
    p = report.get("chain-100k memory/op (peak fwd+bwd)", "minigrad")
    h = report.get("chain-100k memory/op (held after forward)", "minigrad")
    if p and p.value is not None:
        held = f"; held after forward {h.value:.0f} B/op" if h and h.value is not None else ""
        tp = _value(report.get("chain-100k memory/op (peak fwd+bwd)", "torch"))
        tps = f"; PyTorch peak {tp:.0f} B/op" if tp is not None else ""
        out.append(("100,000-op chain: ≤ 1,000 B per op (peak over forward + backward)",
                    f"peak {p.value:.0f} B/op{held}{tps}", _verdict(p.value <= 1000)))


def _memory_targets(report: Report, out: list[tuple[str, str, str]]) -> None:
    """Peak memory, memory over a long training run, and the time to render a big graph."""
    r = report.get("peak-memory", "minigrad")
    if r and r.ratio is not None:
        out.append(("Peak memory of the large MLP step: ≤ 1.2× hand-written numpy",
                    f"{r.ratio:.2f}× ({fmt_value(r.value, r.unit)})", _verdict(r.ratio <= 1.2)))
    r = report.get("peak-memory over many steps", "minigrad")
    if r and r.value is not None and r.ratio is not None:
        out.append(("Large MLP peak memory flat over 10,000 steps, ≤ 1.2× numpy's",
                    f"{r.ratio:.2f}× ({r.note})", _verdict(r.ratio <= 1.2)))
    r = report.get("render", "minigrad+visualize")
    if r:
        if r.value is None:
            out.append(("Render a 5,000-node graph to SVG: ≤ 5 s", r.note, "not measured"))
        else:
            out.append(("Render a 5,000-node graph to SVG: ≤ 5 s",
                        f"{fmt_time(r.value)} ({r.note})", _verdict(r.value <= 5.0)))
    r = report.get("train-memory", "minigrad")
    if r and r.value is not None:
        objs = report.train_objects.get("minigrad", 0)
        out.append(("Training: no memory growth across 10,000 steps (RSS growth ≤ 1 MiB and "
                    "no growth in GC-tracked objects)",
                    f"RSS {fmt_bytes(r.value)}, objects {objs:+d}",
                    _verdict(r.value <= 1024**2 and objs <= 0)))


# ----------------------------------------------------------------------------- environment


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def environment(libs: list[str]) -> list[str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines()
                if ln.startswith("model name")), platform.processor() or "?")
    mem = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/meminfo").splitlines()
                if ln.startswith("MemTotal")), "?")
    if mem.endswith("kB"):
        mem = f"{int(mem.split()[0]) / 1024**2:.1f} GiB"
    lines = [
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu}, {mem} memory; "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        f"- Python {platform.python_version()}",
        "- Versions: " + ", ".join(f"{lib} {wl.lib_version(lib)}" for lib in libs)
        + f", networkx {wl.version('networkx')}",
    ]
    lines.append(f"- minigrad source: {git_state()}")
    missing = [lib for lib in wl.LIBRARIES if lib not in libs]
    if missing:
        lines.append(f"- Not installed, skipped: {', '.join(missing)}")
    thread_env = ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS)
    lines.append(f"- Threads: {thread_env}" + (
        f"; torch.set_num_threads({THREADS})" if "torch" in libs else ""))
    lines.append(f"- OPENBLAS_CORETYPE: {os.environ.get('OPENBLAS_CORETYPE') or 'unset'}"
                 f"{' (empty)' if os.environ.get('OPENBLAS_CORETYPE') == '' else ''}; "
                 f"OPENBLAS_L2_SIZE: {os.environ.get('OPENBLAS_L2_SIZE') or 'unset'} "
                 f"(left as found)")
    lines.append("- BLAS: " + blas_info(libs))
    return lines


def git_state() -> str:
    """The commit the measured engine is at, and whether minigrad/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "minigrad"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not head:
        return "not a git checkout"
    n = len(dirty.splitlines())
    return f"commit {head}" + (f", with uncommitted changes in {n} file(s) under minigrad/"
                               if n else ", minigrad/ clean")


def blas_info(libs: list[str]) -> str:
    parts = []
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        parts.append(f"numpy built with {cfg.get('name')} {cfg.get('version', '')}".strip())
    except Exception:  # noqa: BLE001  (older numpy has no dicts mode)
        pass
    try:
        from threadpoolctl import threadpool_info

        for p in threadpool_info():
            what = [p.get("internal_api"), p.get("version"), p.get("architecture")]
            parts.append(" ".join(str(w) for w in what if w) + f" ({p.get('num_threads')} "
                         f"threads, {os.path.basename(p['filepath'])})")
    except ImportError:
        parts.append("threadpoolctl not installed")
    if "torch" in libs:
        import torch

        cfg = torch.__config__.show()
        blas = re.search(r"BLAS_INFO=(\w+)", cfg)
        mkl = re.search(r"Math Kernel Library Version ([\w.]+)", cfg)
        parts.append(f"torch BLAS_INFO={blas.group(1) if blas else '?'}"
                     f"{' (MKL ' + mkl.group(1) + ')' if mkl else ''}, "
                     f"intra-op threads {torch.get_num_threads()}")
    return "; ".join(parts)


def write_results(path: str, report: Report, env: list[str], elapsed: float,
                  scenarios: dict[str, str]) -> None:
    now = datetime.datetime.now().astimezone()
    own = {s for _, names in report.sections.values() for s in names}
    solo = [r for r in report.rows if r.mode == "solo" and r.scenario not in own]
    inter = [r for r in report.rows if r.mode != "solo" and r.scenario not in own]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {now:%Y-%m-%d %H:%M %Z} by `make bench` (`bench/run.py`, {elapsed:.0f} s "
        "in all). Regenerate with `make bench`; this file is overwritten.",
        "",
        "## Machine and libraries",
        "",
        *env,
        "",
        "## Scenarios",
        "",
        *[f"- `{k}`: {v}" for k, v in scenarios.items()],
        "",
        "## Each library alone in its process",
        "",
        f"bench/solo.py, one fresh process per library and round ({Plan(False).solo_rounds} "
        "rounds, 3 for the 100k chain; the order rotates each round), in the environment the",
        "suite was started with (no thread pinning, each library's own allocator settings).",
        "Each process warms up, then times single steps for about 1 s; the table gives the",
        "median over the rounds of each process's median step, the min – max of those, and",
        "the median of the minor page faults per step. `numpy-nofault`: the same numpy with",
        "glibc keeping freed memory (`MALLOC_MMAP_THRESHOLD_=33554432`,",
        "`MALLOC_TRIM_THRESHOLD_=67108864`); `minigrad-system`: minigrad with its allocator",
        "setting off (`MINIGRAD_ALLOCATOR=system`).",
        "",
        *(table_lines(solo, markdown=True) if solo else ["(not run)"]),
        "",
        "## All libraries interleaved in one process",
        "",
        f"Medians over {Plan(False).rounds} interleaved rounds ({Plan(False).long_rounds} for "
        "the 100k chain; the order of libraries rotates each round), after warm-up; each",
        "round times a batch of calls of about 0.08 s per library (in the MLP scenarios after",
        f"{Plan(False).pause} s of rest, so no thread pool is still spinning from the library",
        "before). Ratios are to hand-written numpy in the same run. The cyclic GC stays on",
        "(its cost is part of each library's cost); objects made by the imports are frozen",
        "(`gc.freeze()`). Memory: RSS in a separate process per library, above a baseline",
        "taken after the imports and the data (bench/memprobe.py).",
        "",
        *table_lines(inter, markdown=True),
        *section_lines(report),
        "",
        "## Targets (issue 12)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *[f"| {t} | {m} | {v} |" for t, m, v in targets(report)],
        "",
        "## Correctness checked during the run",
        "",
        *[f"- {c}" for c in report.checks],
    ]
    lines += ["", "## Load from other processes during the run", "",
              "The machine is shared; CPU time that other processes used while each scenario "
              "ran (from /proc/stat, minus this run's own CPU time), in cores (of "
              f"{os.cpu_count()}):", "",
              *[f"- `{k}`: {other:.2f} cores over {dt:.0f} s" for k, (dt, other)
                in report.load.items()]]
    busy = [k for k, (_dt, other) in report.load.items() if other > 0.3]
    if busy:
        lines += ["", f"**Other processes kept more than 0.3 cores busy during {', '.join(busy)}:"
                  " their timings may be disturbed (multi-threaded BLAS suffers most); rerun on a "
                  "quiet machine to compare.**"]
    if report.profile:
        lines += ["", "## Where minigrad's time goes on the op chain", "",
                  "`bench/profile_chain.py` (top 15 by own time; per op = divided by ops × "
                  "passes):", "", "```", *report.profile, "```"]
    if report.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in report.notes]]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes and rounds")
    ap.add_argument("--only", default="",
                    help="comma-separated scenario names or prefixes (e.g. mlp,chain-2000)")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="size of every thread pool (read before numpy is imported)")
    ap.add_argument("--no-write", action="store_true", help="do not write the results file")
    ap.add_argument("--update", action="store_true",
                    help="after a partial run (--only), rewrite only the sections of the "
                         "extra modules it ran (e.g. --only func) in the results file")
    ap.add_argument("--out", default=None,
                    help="results file (default bench/RESULTS.md; written by full runs only, "
                         "unless --out is given)")
    ap.add_argument("--long-steps", type=int, default=LONG_STEPS,
                    help="steps of the large MLP's peak-memory run (default 10,000)")
    ap.add_argument("--solo-rounds", type=int, default=None,
                    help="fresh processes per library in the solo mode (default 5)")
    ap.add_argument("--solo-steps", type=int, default=None,
                    help="warm-up and least timed steps of each solo MLP process (default 20)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds of the interleaved mode (default 15; 5 for the 100k chain)")
    return ap


def main() -> int:
    ap = _parser()
    args = ap.parse_args()
    globals()["LONG_STEPS"] = args.long_steps
    globals()["SOLO_STEPS"] = args.solo_steps
    globals()["SOLO_ROUNDS"] = args.solo_rounds
    if args.rounds:
        Plan.rounds = property(lambda self: 2 if self.quick else args.rounds)  # type: ignore
        Plan.long_rounds = property(  # type: ignore
            lambda self: 1 if self.quick else max(1, args.rounds // 3))
    extras = extra_modules()
    scenarios = dict(SCENARIOS)
    for mod_scenarios in extras.values():
        scenarios.update(mod_scenarios)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if not any(k.startswith(w) for k in scenarios)]
    if unknown:
        ap.error(f"unknown scenario {unknown}; choose from {', '.join(scenarios)}")
    picked = lambda k: not wanted or any(k.startswith(w) for w in wanted)
    run = [k for k in SCENARIOS if picked(k)]
    run_extras = [m for m, sc in extras.items() if any(picked(k) for k in sc)]

    sizes, plan = wl.Sizes(quick=args.quick), Plan(quick=args.quick)
    libs = wl.available_libraries()
    if "torch" in libs:
        wl.pin_torch_threads()
    import minigrad  # noqa: F401  (imported up front so no scenario pays for it)

    for lib in libs:
        __import__(lib)
    # The imports' objects (torch's are many) go to the permanent generation: a full
    # collection then costs the same whichever libraries were imported.
    gc.collect()
    gc.freeze()

    env = environment(libs)
    print("minigrad benchmark suite" + (" (quick: tiny sizes, not comparable)" if args.quick
                                         else ""))
    print("\n".join(env), flush=True)
    report = Report()
    t_start = time.perf_counter()
    for key in run + run_extras:
        print(f"\n[{key}] {scenarios.get(key, 'extra scenario module bench/' + key + '.py')}",
              flush=True)
        load = OtherLoad()
        shown = len(report.rows)
        if key in run_extras:
            run_extra(key, args.quick, report, report.extra_targets)
        else:
            _run_scenario(key, libs, sizes, plan, report, args.quick)
        for r in report.rows[shown:]:
            print(f"  {r.scenario:<40} {r.library:<15} {fmt_value(r.value, r.unit):<14} "
                  f"{fmt_ratio(r.ratio):<8} {fmt_faults(r.faults):>7} {r.note}")
        report.load[key] = load.read()
        dt, other = report.load[key]
        print(f"  ({dt:.1f} s; other processes kept {other:.2f} of {os.cpu_count()} cores busy)",
              flush=True)
    elapsed = time.perf_counter() - t_start
    _print_results(report, args.quick, elapsed)

    partial = args.quick or bool(wanted)
    path = args.out or os.path.join(HERE, "RESULTS.md")
    if args.update and not args.quick and not args.no_write:
        update_sections(path, report)
        print(f"updated {', '.join(report.sections) or 'no section'} in {os.path.relpath(path)}")
    elif args.no_write or (partial and args.out is None):
        if not args.no_write:
            print("(partial or quick run: bench/RESULTS.md not written; pass --out to write)")
    else:
        write_results(path, report, env, elapsed, scenarios)
        print(f"wrote {os.path.relpath(path)}")
    return 0


def _run_scenario(key: str, libs: list[str], sizes: Any, plan: Plan, report: Report,
                  quick: bool) -> None:
    """Runs the built-in scenario `key`, adding its rows to `report`."""
    if key.startswith("solo-"):
        run_solo(key, libs, plan, report, quick)
    elif key == "mlp-large-f32":
        run_mlp(key, sizes.mlp_large, sizes.batch_large, np.float32, libs, plan, report)
    elif key == "mlp-large-f64":
        run_mlp(key, sizes.mlp_large, sizes.batch_large, np.float64, libs, plan, report)
    elif key == "mlp-small-f32":
        run_mlp(key, sizes.mlp_small, sizes.batch_small, np.float32, libs, plan, report)
    elif key == "chain-2000":
        run_chain_short(libs, sizes.chain_short, plan, report)
    elif key == "chain-100k":
        run_chain_long(libs, sizes.chain_long, plan, report, quick)
    elif key == "peak-memory":
        run_peak_memory(libs, report, quick)
    elif key == "render":
        run_render(sizes.render_nodes, plan, report)
    elif key == "train-memory":
        run_train_memory(report, quick)


def _print_results(report: Report, quick: bool, elapsed: float) -> None:
    """The results table of each mode, and the targets with their verdicts."""
    print("\nResults" + (" (quick sizes)" if quick else "") + ":")
    for mode in ("solo", "interleaved"):
        rows = [r for r in report.rows if r.mode == mode]
        if rows:
            print(f"\n{mode}:")
            print("\n".join(table_lines(rows, markdown=False)))
    tg = targets(report)
    if tg:
        print("\nTargets (issue 12)" + (": quick sizes, verdicts not meaningful" if quick
                                       else ":"))
        for t, m, v in tg:
            print(f"  [{v}] {t}: {m}")
    print(f"\n{elapsed:.1f} s in all")


if __name__ == "__main__":
    sys.exit(main())
