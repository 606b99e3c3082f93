"""The ``minigrad`` command line, run as a real subprocess: output and exit codes."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILES = {
    "graph.svg": "minigrad.visualize.render",
    "backward.html": "minigrad.visualize.backward_steps",
    "grad_flow.png": "minigrad.visualize.grad_flow",
    "training.png": "minigrad.visualize.plot_history",
    "decision_boundary.png": "minigrad.visualize.decision_boundary",
    "model.npz": "minigrad.io.save",
}


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "minigrad", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env,
    )


def built(dotted: str) -> bool:
    """Whether a part of the project has landed: its module imports and has the function."""
    module, _, attr = dotted.rpartition(".")
    try:
        return hasattr(importlib.import_module(module), attr)
    except ImportError:
        return False


# --------------------------------------------------------------------------- compare
def test_compare_prints_the_table_and_exits_0():
    r = run("compare", "--sizes", "3,3,3,2", "--activation", "sigmoid", "--loss", "ce",
            "--batch", "1", "--seed", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    for q in ("∇a_3", "∇W_3", "∇b_3", "∇h_2", "∇a_2", "∇W_2", "∇a_1", "∇W_1", "∇h_0"):
        assert f"  {q}  " in r.stdout
    assert "✗" not in r.stdout and "all 18 rows match" in r.stdout
    assert "rank" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--activation", "relu", "--loss", "mse", "--batch", "8"),
        ("--activation", "tanh", "--dtype", "float32", "--batch", "4", "--reduction", "sum"),
        ("--sizes", "2,5,3", "--activation", "linear", "--loss", "mse", "--seed", "3"),
    ],
    ids=["relu-mse-8", "tanh-float32-sum", "linear-mse"],
)
def test_compare_variants_pass(args):
    r = run("compare", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rows match" in r.stdout


@pytest.mark.parametrize("model", ["transformer", "cnn"])
def test_compare_example_models(model):
    r = run("compare", "--model", model, "--batch", "2")
    cls = {"cnn": "minigrad.models.cnn.DigitsCNN",
           "transformer": "minigrad.models.transformer.TinyTransformer"}[model]
    if not built(cls):
        assert r.returncode == 1 and f"missing: {cls}" in r.stdout
        return
    assert r.returncode == 0, r.stdout + r.stderr
    assert "layer by layer" in r.stdout and "rows match" in r.stdout
    j = run("compare", "--model", model, "--json")
    d = json.loads(j.stdout)
    assert j.returncode == 0 and d["ok"] is True
    assert all(row["status"] == "match" for row in d["rows"])


def test_compare_json():
    r = run("compare", "--json", "--batch", "2")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["ok"] is True and d["batch"] == 2 and d["sizes"] == [3, 3, 3, 2]
    assert {row["quantity"] for row in d["rows"]} >= {"∇W_1", "∇b_1", "∇a_1", "∇h_0"}


def test_compare_render_writes_the_graph(tmp_path):
    path = tmp_path / "graph.svg"
    r = run("compare", "--render", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert path.exists() and path.read_text().lstrip().startswith(("<?xml", "<svg"))
    again = run("compare", "--render", str(path))  # no --overwrite: refuses, one line
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.startswith("minigrad: error:") and len(again.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "args, words",
    [
        (("compare", "--sizes", "3,-1"), "positive integer"),
        (("compare", "--sizes", "3,x,2"), "comma-separated"),
        (("compare", "--sizes", "3"), "at least an input and an output"),
        (("compare", "--activation", "swish"), "invalid choice: 'swish'"),
        (("compare", "--dtype", "float8"), "invalid choice: 'float8'"),
        (("compare", "--loss", "hinge"), "invalid choice"),
        (("compare", "--batch", "0"), "positive integer"),
        (("compare", "--seed", "-3"), "non-negative"),
        (("demo", "--epochs", "ten"), "positive integer"),
        (("render", "--sizes", "0,2"), "positive integer"),
        (("check", "--frobnicate"), "unrecognized arguments"),
        (("launch",), "invalid choice: 'launch'"),
        ((), "required"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_bad_arguments_give_one_line_and_exit_2(args, words):
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("minigrad: error: ") and words in lines[0]


@pytest.mark.parametrize("sub", [(), ("compare",), ("check",), ("render",), ("demo",)],
                         ids=["minigrad", "compare", "check", "render", "demo"])
def test_help_everywhere(sub):
    r = run(*sub, "--help")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: minigrad") and "--help" in r.stdout


def test_main_returns_the_exit_code_without_raising(capsys):
    from minigrad.cli import main

    assert main(["compare", "--sizes", "3,-1"]) == 2
    assert main(["compare", "--batch", "2"]) == 0
    assert "rows match" in capsys.readouterr().out


# --------------------------------------------------------------------------- check
def test_commands_run_with_one_blas_thread(monkeypatch):
    """minigrad's matrices are small: a command limits BLAS to one thread (threadpoolctl)
    while it runs, and gives the pool back afterwards."""
    from threadpoolctl import threadpool_info

    from minigrad import cli

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    seen: list[list[int]] = []
    monkeypatch.setattr(cli, "cmd_check", lambda args: seen.append(blas_threads()) or 0)
    before = blas_threads()
    assert cli.main(["check"]) == 0
    assert seen and seen[0] and set(seen[0]) == {1}
    assert blas_threads() == before


def test_check_gradchecks_every_op_in_the_registry():
    # the built-in ops, as a fresh process sees them (this one may hold ops other tests made)
    names = subprocess.run(
        [sys.executable, "-c", "import minigrad; print(' '.join(minigrad.REGISTRY))"],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.split()
    assert {"matmul", "linear", "sigmoid", "cross_entropy"} <= set(names)
    r = run("check")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["op", "cases"]
    for name in names:
        assert any(ln.split()[0] == name and ln.rstrip().endswith("✓") for ln in lines), name
    assert f"all {len(names)} ops pass" in r.stdout


def test_check_one_op_and_an_unknown_one():
    r = run("check", "--op", "matmul", "--op", "sigmoid")
    assert r.returncode == 0 and "all 2 ops pass" in r.stdout
    r = run("check", "--op", "nope")
    assert r.returncode == 1 and r.stderr.startswith("minigrad: error: unknown op 'nope'")


def test_check_reports_a_wrong_vjp(capsys):
    """The self-test must be able to fail: a sigmoid whose VJP forgot the (1 − σ) factor."""
    from minigrad.cli import _check_op
    from minigrad.ops.activation import SIGMOID

    original = SIGMOID.vjps
    object.__setattr__(SIGMOID, "vjps", (lambda g, out, a: g * out,))  # Op is frozen
    try:
        import numpy as np

        n, shapes, worst, verdict = _check_op(SIGMOID, np.random.default_rng(0))
    finally:
        object.__setattr__(SIGMOID, "vjps", original)
    assert verdict.startswith("FAIL") and worst > 1e-2


# --------------------------------------------------------------------------- render
def test_render_writes_the_svg(tmp_path):
    out = tmp_path / "g.svg"
    r = run("render", "--sizes", "3,3,3,2", "--activation", "sigmoid", "--loss", "ce",
            "--out", str(out), "--backward")
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.exists() and "<svg" in out.read_text()
    assert str(out) in r.stdout
    r = run("render", "--out", str(out))  # exists, no --overwrite
    assert r.returncode == 1 and r.stderr.startswith("minigrad: error:")
    assert run("render", "--out", str(out), "--overwrite").returncode == 0


def test_render_steps_page(tmp_path):
    steps = tmp_path / "backward.html"
    r = run("render", "--out", str(tmp_path / "g.svg"), "--steps", str(steps))
    assert "missing:" not in r.stdout
    assert r.returncode == 0, r.stdout + r.stderr
    assert steps.exists() and "<html" in steps.read_text().lower()


def test_render_direction_and_colour_options_reach_the_diagram(tmp_path):
    out = tmp_path / "g.dot"
    r = run("render", "--out", str(out), "--direction", "TB", "--color-by", "grad",
            "--backward", "--title", "my <net>")
    assert r.returncode == 0, r.stdout + r.stderr
    dot = out.read_text()
    assert "rankdir=TB" in dot and "my &lt;net&gt;" in dot and "log₁₀ ‖grad‖" in dot
    r = run("render", "--out", str(out), "--direction", "up")
    assert r.returncode == 2 and "Traceback" not in r.stderr


# --------------------------------------------------------------------------- demo
@pytest.mark.slow
def test_demo_writes_every_file_it_lists(tmp_path):
    out = tmp_path / "demo"
    r = run("demo", "--epochs", "20", "--out", str(out), "--seed", "1")
    assert "Traceback" not in r.stderr, r.stderr
    assert "accuracy: train" in r.stdout and "rows match" in r.stdout
    assert "missing:" not in r.stdout and "failed:" not in r.stdout, r.stdout
    for name in DEMO_FILES:
        assert (out / name).exists() and (out / name).stat().st_size > 0, name
        assert f"wrote {out / name}" in r.stdout
    assert r.returncode == 0, r.stdout
    # the demo owns its folder: a second run replaces the files instead of refusing
    again = run("demo", "--epochs", "5", "--out", str(out), "--seed", "1")
    assert "Traceback" not in again.stderr and "failed:" not in again.stdout, again.stdout
    assert again.returncode == 0


def test_demo_names_missing_parts_and_fakes_nothing(tmp_path, monkeypatch, capsys):
    """With the pictures' makers absent, the demo says so, writes no stand-ins, still trains,
    compares and saves the model, and exits with 1."""
    from minigrad import cli

    real = cli._optional
    monkeypatch.setattr(
        cli, "_optional",
        lambda module, attr=None: (None if module == "minigrad.visualize"
                                   else real(module, attr)),
    )
    out = tmp_path / "demo"
    code = cli.main(["demo", "--epochs", "3", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 1
    for maker in ("minigrad.visualize.render", "minigrad.visualize.grad_flow",
                  "minigrad.visualize.backward_steps", "minigrad.visualize.plot_history",
                  "minigrad.visualize.decision_boundary"):
        assert f"missing: {maker} (not built yet)" in text
    assert sorted(p.name for p in out.iterdir()) == ["model.npz"]
    assert "rows match" in text and "incomplete: missing" in text
