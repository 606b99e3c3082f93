"""minigrad's benchmark suite (issue 6): minigrad against hand-written numpy and its peers.

    python bench/run.py                 # the full suite (a few minutes); writes bench/RESULTS.md
    python bench/run.py --quick         # smoke run: tiny sizes and rounds, seconds
    python bench/run.py --only chain    # scenarios whose name starts with "chain"
    python bench/run.py --threads 1     # BLAS / OpenMP / torch pool size (default 2)

Scenarios: mlp-large-f32, mlp-large-f64, mlp-small-f32, chain-2000, chain-100k, peak-memory,
render, train-memory. Libraries: hand-written numpy (the reference: ratio 1.00), minigrad,
PyTorch and HIPS autograd where installed (`pip install -r bench/requirements.txt`).

Timing: each library is warmed up, then timed in several rounds; in each round every library
runs once (a batch of calls sized to take about `target` seconds) in an order that rotates from
round to round, so drifts of the machine hit all alike. In the MLP scenarios each batch starts
after a short rest, so that no thread pool is still spinning from the library before. The
table gives the median over the rounds and its ratio to hand-written numpy measured in the
same run. Memory is measured in a separate process per library (bench/memprobe.py).
Correctness is checked as it goes: every library's first gradients and first updated weights
must equal numpy's to float tolerance.
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
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
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
                   "after imports and data (separate process per library)",
    "render": "visualize.render of a ~5,000-node graph to SVG",
    "train-memory": "RSS growth of the small MLP over 10,000 SGD steps (after 1,000 warm-up "
                    "steps), separate process",
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


@dataclass
class Row:
    scenario: str
    library: str
    value: float | None
    unit: str  # "s", "us/op", "B/op", "B"
    ratio: float | None = None
    spread: tuple[float, float] | None = None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: dict[str, tuple[float, float]] = field(default_factory=dict)  # seconds, other cores
    train_objects: dict[str, int] = field(default_factory=dict)
    profile: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def check(self, msg: str) -> None:
        print("  " + msg, flush=True)
        self.checks.append(msg)

    def get(self, scenario: str, library: str) -> Row | None:
        for r in self.rows:
            if r.scenario == scenario and r.library == library:
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


def table_lines(rows: list[Row], markdown: bool) -> list[str]:
    head = ["scenario", "library", "median", "ratio to numpy", "rounds min – max", "note"]
    body = [[r.scenario, r.library, fmt_value(r.value, r.unit), fmt_ratio(r.ratio),
             fmt_spread(r), r.note] for r in rows]
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


def time_interleaved(
    fns: dict[str, Callable[[], Any]], plan: Plan, pause: float = 0.0
) -> dict[str, tuple[float, float, float]]:
    """Median, min and max seconds per call of each function, over `plan.rounds` rounds in
    a rotating order. Each sample is a batch of calls lasting about `plan.target` seconds,
    after `pause` seconds of rest."""
    reps: dict[str, int] = {}
    for lib, fn in fns.items():
        for _ in range(plan.warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        one = time.perf_counter() - t0
        reps[lib] = max(1, min(100_000, round(plan.target / max(one, 1e-9))))
    samples: dict[str, list[float]] = {lib: [] for lib in fns}
    libs = list(fns)
    for r in range(plan.rounds):
        k = r % len(libs)
        for lib in libs[k:] + libs[:k]:
            fn, n = fns[lib], reps[lib]
            gc.collect()
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[lib].append((time.perf_counter() - t0) / n)
    return {lib: (statistics.median(s), min(s), max(s)) for lib, s in samples.items()}


def ratio_rows(scenario: str, results: dict[str, tuple[float, float, float]], unit: str,
               scale: float = 1.0, notes: dict[str, str] | None = None) -> list[Row]:
    base = results.get("numpy")
    rows = []
    for lib, (med, lo, hi) in results.items():
        ratio = med / base[0] if base else None
        rows.append(Row(scenario, lib, med * scale, unit, ratio, (lo * scale, hi * scale),
                        (notes or {}).get(lib, "")))
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
    res = time_interleaved({lib: m.step for lib, m in models.items()}, plan, plan.pause)
    for row in ratio_rows(key, res, "s"):
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


def probe_libs(libs: list[str], quick: bool) -> list[str]:
    """Libraries to start a memory probe for: in the quick run only numpy and minigrad (a
    process that imports torch costs seconds)."""
    return [lib for lib in libs if not quick or lib in ("numpy", "minigrad")]


def memprobe(kind: str, lib: str, quick: bool) -> dict[str, Any] | None:
    cmd = [sys.executable, os.path.join(HERE, "memprobe.py"), kind, lib]
    if quick:
        cmd.append("--quick")
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
    """(target, measured, verdict) for each of the issue's targets that was measured."""
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    for key, dt in (("mlp-large-f32", "float32"), ("mlp-large-f64", "float64")):
        r = report.get(key, "minigrad")
        if r and r.ratio is not None:
            out.append((f"Large MLP step, {dt}: ≤ 1.05× hand-written numpy",
                        f"{r.ratio:.2f}× ({fmt_value(r.value, r.unit)})", verdict(r.ratio <= 1.05)))
    r = report.get("mlp-small-f32", "minigrad")
    if r and r.ratio is not None:
        out.append(("Small MLP step: ≤ 2.5× hand-written numpy",
                    f"{r.ratio:.2f}× ({fmt_value(r.value, r.unit)})", verdict(r.ratio <= 2.5)))
    r = report.get("chain-2000", "minigrad")
    if r and r.value is not None:
        out.append(("Op chain on 4×4, forward + backward: ≤ 6 µs per op",
                    fmt_value(r.value, r.unit), verdict(r.value <= 6.0)))
    f = report.get("chain-100k forward", "minigrad")
    b = report.get("chain-100k backward", "minigrad")
    if f and b and f.value is not None and b.value is not None:
        total = f.value + b.value
        out.append(("100,000-op chain: forward + backward ≤ 1 s",
                    f"{fmt_time(total)} ({fmt_time(f.value)} + {fmt_time(b.value)})",
                    verdict(total <= 1.0)))
    p = report.get("chain-100k memory/op (peak fwd+bwd)", "minigrad")
    h = report.get("chain-100k memory/op (held after forward)", "minigrad")
    if p and p.value is not None:
        held = f"; held after forward {h.value:.0f} B/op" if h and h.value is not None else ""
        out.append(("100,000-op chain: memory per op ≤ 1.2 kB (judged on the peak)",
                    f"peak {p.value:.0f} B/op{held}", verdict(p.value <= 1200)))
    r = report.get("peak-memory", "minigrad")
    if r and r.ratio is not None:
        out.append(("Peak memory of the large MLP step: ≤ 1.2× hand-written numpy",
                    f"{r.ratio:.2f}× ({fmt_value(r.value, r.unit)})", verdict(r.ratio <= 1.2)))
    r = report.get("render", "minigrad+visualize")
    if r:
        if r.value is None:
            out.append(("Render a 5,000-node graph to SVG: ≤ 5 s", r.note, "not measured"))
        else:
            out.append(("Render a 5,000-node graph to SVG: ≤ 5 s",
                        f"{fmt_time(r.value)} ({r.note})", verdict(r.value <= 5.0)))
    r = report.get("train-memory", "minigrad")
    if r and r.value is not None:
        objs = report.train_objects.get("minigrad", 0)
        out.append(("Training: no memory growth across 10,000 steps (RSS growth ≤ 1 MiB and "
                    "no growth in GC-tracked objects)",
                    f"RSS {fmt_bytes(r.value)}, objects {objs:+d}",
                    verdict(r.value <= 1024**2 and objs <= 0)))
    return out


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


def write_results(path: str, report: Report, env: list[str], elapsed: float) -> None:
    now = datetime.datetime.now().astimezone()
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
        *[f"- `{k}`: {v}" for k, v in SCENARIOS.items()],
        "",
        "## Results",
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
        *table_lines(report.rows, markdown=True),
        "",
        "## Targets (issue 6)",
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes and rounds")
    ap.add_argument("--only", default="",
                    help="comma-separated scenario names or prefixes (e.g. mlp,chain-2000)")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="size of every thread pool (read before numpy is imported)")
    ap.add_argument("--no-write", action="store_true", help="do not write the results file")
    ap.add_argument("--out", default=None,
                    help="results file (default bench/RESULTS.md; written by full runs only, "
                         "unless --out is given)")
    args = ap.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if not any(k.startswith(w) for k in SCENARIOS)]
    if unknown:
        ap.error(f"unknown scenario {unknown}; choose from {', '.join(SCENARIOS)}")
    run = [k for k in SCENARIOS if not wanted or any(k.startswith(w) for w in wanted)]

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
    for key in run:
        print(f"\n[{key}] {SCENARIOS[key]}", flush=True)
        load = OtherLoad()
        shown = len(report.rows)
        if key == "mlp-large-f32":
            run_mlp(key, sizes.mlp_large, sizes.batch_large, np.float32, libs, plan, report)
        elif key == "mlp-large-f64":
            run_mlp(key, sizes.mlp_large, sizes.batch_large, np.float64, libs, plan, report)
        elif key == "mlp-small-f32":
            run_mlp(key, sizes.mlp_small, sizes.batch_small, np.float32, libs, plan, report)
        elif key == "chain-2000":
            run_chain_short(libs, sizes.chain_short, plan, report)
        elif key == "chain-100k":
            run_chain_long(libs, sizes.chain_long, plan, report, args.quick)
        elif key == "peak-memory":
            run_peak_memory(libs, report, args.quick)
        elif key == "render":
            run_render(sizes.render_nodes, plan, report)
        elif key == "train-memory":
            run_train_memory(report, args.quick)
        for r in report.rows[shown:]:
            print(f"  {r.scenario:<40} {r.library:<10} {fmt_value(r.value, r.unit):<14} "
                  f"{fmt_ratio(r.ratio):<8} {r.note}")
        report.load[key] = load.read()
        dt, other = report.load[key]
        print(f"  ({dt:.1f} s; other processes kept {other:.2f} of {os.cpu_count()} cores busy)",
              flush=True)
    elapsed = time.perf_counter() - t_start

    print("\nResults" + (" (quick sizes)" if args.quick else "") + ":")
    print("\n".join(table_lines(report.rows, markdown=False)))
    tg = targets(report)
    if tg:
        print("\nTargets (issue 6)" + (": quick sizes, verdicts not meaningful" if args.quick
                                       else ":"))
        for t, m, v in tg:
            print(f"  [{v}] {t}: {m}")
    print(f"\n{elapsed:.1f} s in all")

    partial = args.quick or bool(wanted)
    path = args.out or os.path.join(HERE, "RESULTS.md")
    if args.no_write or (partial and args.out is None):
        if not args.no_write:
            print("(partial or quick run: bench/RESULTS.md not written; pass --out to write)")
    else:
        write_results(path, report, env, elapsed)
        print(f"wrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
