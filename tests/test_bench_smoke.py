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
    "func-jacrev",
    "func-per-sample",
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


def test_bench_update_rewrites_only_the_sections_it_ran(tmp_path):
    """`--update` after `--only func`: the func section is replaced (or added before the
    targets), and every other line of the results file stays as the full run wrote it."""
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Solo\n\nold solo table\n\n"
                       "## Targets (issue 12)\n\n| t | m | v |\n")
    snippet = (
        "import sys; sys.path.insert(0, 'bench'); import run\n"
        "r = run.Report()\n"
        "r.sections['Function transforms'] = (['| a | b |', '| 1 | 2 |'], {'func-x'})\n"
        f"run.update_sections({str(results)!r}, r)\n"
        "r.sections['Function transforms'] = (['| a | b |', '| 3 | 4 |'], {'func-x'})\n"
        f"run.update_sections({str(results)!r}, r)\n")
    p = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    assert results.read_text() == (
        "# Benchmark results\n\n## Solo\n\nold solo table\n\n"
        "## Function transforms\n\n| a | b |\n| 3 | 4 |\n\n"
        "## Targets (issue 12)\n\n| t | m | v |\n")
