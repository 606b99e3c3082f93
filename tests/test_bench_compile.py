"""Smoke run of bench/bench_compile.py on tiny sizes: every scenario and library reports a
row. No timing is asserted (timings belong to the benchmark, not to the tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_compile_quick_reports_every_scenario() -> None:
    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_compile.py"), "--quick", "--same-only",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    rows = json.loads(p.stdout)
    seen = {(r["scenario"], r["library"]) for r in rows}
    for scenario in ("mlp-small", "chain", "mlp-large"):
        for lib in ("numpy", "compiled", "minigrad"):
            assert (scenario, lib) in seen
    assert ("transformer-compile", "compiled") in seen
    for r in rows:
        if r["library"] == "numpy":
            assert r["ratio"] == 1.0
        assert r["us"] > 0
