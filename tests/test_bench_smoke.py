"""Smoke run of the benchmark suite: it runs end to end on tiny sizes and reports every
scenario. No timing is asserted (timings belong to `make bench`, not to the tests)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [
    "mlp-large-f32",
    "mlp-large-f64",
    "mlp-small-f32",
    "chain-2000",
    "chain-100k",
    "peak-memory",
    "render",
    "train-memory",
]


def test_bench_quick_runs_every_scenario():
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-write"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    table = p.stdout[p.stdout.index("\nResults"):]
    for name in SCENARIOS:
        assert name in table, f"scenario {name} missing from the table:\n{table}"
    for lib in ("numpy", "minigrad"):
        assert f" {lib} " in table
    assert "✓ mlp-large-f32, minigrad: first update equals numpy's" in p.stdout


def test_bench_only_selects_scenarios():
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-write",
         "--only", "chain-2000"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    table = p.stdout[p.stdout.index("\nResults"):]
    assert "chain-2000" in table
    assert "mlp-large-f32" not in table
