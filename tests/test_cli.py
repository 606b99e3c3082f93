"""The ``minigrad`` command line, run as a real subprocess: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILES = ("graph.svg", "backward.html", "grad_flow.png", "training.png",
              "decision_boundary.png", "model.npz")


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "minigrad", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env,
    )


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


def test_render_steps_page_with_the_derivation(tmp_path):
    steps = tmp_path / "backward.html"
    r = run("render", "--out", str(tmp_path / "g.dot"), "--steps", str(steps), "--derive")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "derivation, step 6" in steps.read_text(encoding="utf-8")
    r = run("render", "--out", str(tmp_path / "h.dot"), "--derive")
    assert r.returncode == 2 and "add --steps PATH" in r.stderr
    assert not (tmp_path / "h.dot").exists()


def test_render_direction_and_colour_options_reach_the_diagram(tmp_path):
    out = tmp_path / "g.dot"
    r = run("render", "--out", str(out), "--direction", "TB", "--color-by", "grad",
            "--backward", "--title", "my <net>")
    assert r.returncode == 0, r.stdout + r.stderr
    dot = out.read_text()
    assert "rankdir=TB" in dot and "my &lt;net&gt;" in dot and "log₁₀ ‖grad‖" in dot
    r = run("render", "--out", str(out), "--direction", "up")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("model, words", [("cnn", ("conv2d", "conv1.weight", "max_pool2d")),
                                           ("transformer", ("embedding", "blocks.1.attn",
                                                            "scaled_dot_product_attention"))])
def test_render_an_example_model_with_its_backward(tmp_path, model, words):
    out = tmp_path / f"{model}.svg"
    r = run("render", "--model", model, "--backward", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == f"wrote {out}\n"
    svg = out.read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    for w in words:
        assert w in svg, w


# --------------------------------------------------------------------------- --from
MODEL_FILE = """
import minigrad
import minigrad.functional as F
from minigrad import nn

from helper_beside import WIDTH  # a module in the same folder, as `python file.py` sees it

SEEN = []


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, WIDTH, dtype="float64")
        self.act = nn.ReLU()
        self.head = nn.Linear(WIDTH, 3, dtype="float64")

    def forward(self, x):
        return self.head(self.act(self.hidden(x)))


def batch():
    x = minigrad.randn(4, 2, dtype="float64")
    return Net(), x, minigrad.Tensor([0, 1, 2, 1])


def regression():
    return Net(), minigrad.randn(4, 2, dtype="float64"), minigrad.randn(4, 3, dtype="float64")


def loss_only():
    model, x, y = batch()
    return F.cross_entropy(model(x), y)


def loss_and_model():
    model, x, y = batch()
    return F.cross_entropy(model(x), y), model


def after_backward():
    model, x, y = batch()
    L = F.cross_entropy(model(x), y)
    L.backward()
    SEEN.append(model)
    return L, model


def raises():
    raise KeyError("no such data set")


def nothing():
    pass


def logits():
    model, x, y = batch()
    return model(x)


def needs_an_argument(path):
    return path
"""


@pytest.fixture
def model_file(tmp_path):
    (tmp_path / "helper_beside.py").write_text("WIDTH = 5\n")
    path = tmp_path / "my_net.py"
    path.write_text(MODEL_FILE)
    return path


def test_render_from_a_function_returning_the_loss(model_file, tmp_path):
    out = tmp_path / "g.dot"
    r = run("render", "--from", f"{model_file}:loss_only", "--backward", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    dot = out.read_text()
    assert "cross_entropy" in dot and "linear" in dot and "δ·hᵀ" in dot
    assert "hidden.weight" not in dot  # no model: no dotted names


def test_render_from_a_function_returning_loss_and_model(model_file, tmp_path):
    out = tmp_path / "g.svg"
    r = run("render", "--from", f"{model_file}:loss_and_model", "--backward", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    svg = out.read_text()
    for name in ("hidden.weight", "hidden.bias", "head.weight", "δ·hᵀ"):
        assert name in svg, name


def test_render_from_a_function_returning_model_x_y(model_file, tmp_path):
    out = tmp_path / "g.dot"
    r = run("render", "--from", f"{model_file}:regression", "--loss", "mse", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mse_loss" in out.read_text() and "head.weight" in out.read_text()


def test_render_from_keeps_a_backward_the_function_ran(model_file, tmp_path, capsys):
    """The function ran backward itself: render draws those gradients and does not add a
    second backward's to them."""
    import numpy as np

    from minigrad import cli

    code = cli.main(["render", "--from", f"{model_file}:after_backward", "--backward",
                     "--out", str(tmp_path / "g.dot")])
    assert code == 0, capsys.readouterr().err
    model = sys.modules["minigrad_from_my_net"].SEEN[-1]
    grads = {n: p.grad.data.copy() for n, p in model.named_parameters()}
    # the same seed, the same model and batch, one backward
    fresh = cli._call_from(cli.FromSpec(model_file, "after_backward"), 0)[1]
    for n, p in fresh.named_parameters():
        np.testing.assert_array_equal(p.grad.data, grads[n])


def test_render_from_with_steps(model_file, tmp_path):
    steps = tmp_path / "steps.html"
    r = run("render", "--from", f"{model_file}:loss_and_model", "--out", str(tmp_path / "g.dot"),
            "--steps", str(steps))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<html" in steps.read_text().lower() and "hidden.weight" in steps.read_text()
    assert r.stdout.splitlines() == [f"wrote {tmp_path / 'g.dot'}", f"wrote {steps}"]


@pytest.mark.parametrize("collapse, collapsed", [("module", True), ("none", False),
                                                 ("auto", False)])
def test_render_collapse(model_file, tmp_path, collapse, collapsed):
    out = tmp_path / "g.dot"
    r = run("render", "--from", f"{model_file}:loss_and_model", "--collapse", collapse,
            "--out", str(out), "--steps", str(tmp_path / "s.html"))
    assert r.returncode == 0, r.stdout + r.stderr
    dot = out.read_text()
    assert ("collapsed by module" in dot) is collapsed
    assert ("hidden.weight" in dot) is not collapsed  # a module's box replaces its tensors


def test_compare_from_a_function_returning_model_x_y(model_file):
    r = run("compare", "--from", f"{model_file}:batch")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "layer by layer: Net" in r.stdout and "float64" in r.stdout
    for layer in ("hidden (Linear)", "act (ReLU)", "head (Linear)"):
        assert layer in r.stdout
    assert "rows match" in r.stdout and "✗" not in r.stdout
    j = run("compare", "--from", f"{model_file}:regression", "--loss", "mse", "--json")
    assert j.returncode == 0 and json.loads(j.stdout)["ok"] is True


def test_compare_from_with_render(model_file, tmp_path):
    out = tmp_path / "g.dot"
    r = run("compare", "--from", f"{model_file}:batch", "--render", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "head.weight" in out.read_text()


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("minigrad: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "command, function, words",
    [
        ("render", "missing", ("has no function 'missing'", "it defines", "loss_only")),
        ("render", "raises", ("raises() raised KeyError", "no such data set", "--debug")),
        ("render", "nothing", ("nothing() returned None", "(loss, model)")),
        ("render", "logits", ("shape (4, 3)", "not a scalar loss")),
        ("render", "needs_an_argument", ("needs_an_argument(path) takes arguments",)),
        ("compare", "loss_and_model", ("must return (model, x, y)", "(Tensor, Net)")),
        ("compare", "nothing", ("must return (model, x, y)", "returned None")),
        ("compare", "raises", ("raises() raised KeyError",)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_from_bad_functions_give_one_line_and_exit_2(model_file, command, function, words):
    line = _one_error_line(run(command, "--from", f"{model_file}:{function}"))
    assert f"--from {model_file}:{function}: " in line
    for w in words:
        assert w in line, line


@pytest.mark.parametrize("command", ["render", "compare"])
def test_from_a_missing_file(tmp_path, command):
    missing = tmp_path / "nowhere.py"
    line = _one_error_line(run(command, "--from", f"{missing}:build"))
    assert f"there is no file {missing}" in line


def test_from_a_file_that_fails_to_import(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import minigrad\nraise RuntimeError('half written')\n")
    line = _one_error_line(run("render", "--from", f"{path}:build"))
    assert f"importing {path} raised RuntimeError: half written" in line


@pytest.mark.parametrize("args, words", [
    (("render", "--from", "model.py"), "expected FILE.py:FUNCTION"),
    (("compare", "--from", "model.py:"), "expected FILE.py:FUNCTION"),
    (("render", "--from", "examples/my_model.py:loss", "--model", "cnn"), "not allowed with"),
], ids=["no function", "empty function", "with --model"])
def test_from_bad_arguments(args, words):
    assert words in _one_error_line(run(*args))


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(model_file, where):
    args = ["render", "--from", f"{model_file}:raises"]
    r = run(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("Traceback") and "KeyError: 'no such data set'" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1] == (
        f"minigrad: error: --from {model_file}:raises: raises() raised KeyError: "
        f"'no such data set'")


def test_the_example_model_file(tmp_path):
    """examples/my_model.py, as its docstring and the docs use it."""
    out = tmp_path / "my_model.svg"
    r = run("render", "--from", "examples/my_model.py:loss", "--backward", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hidden.weight" in out.read_text()
    r = run("compare", "--from", "examples/my_model.py:model_and_batch")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SpiralNet" in r.stdout and "all 12 rows match" in r.stdout


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


def test_demo_reports_a_failed_picture_and_writes_the_others(tmp_path, monkeypatch, capsys):
    """A picture that fails is named, with its error; the demo still trains, compares, writes
    every other file, and exits with 1."""
    from minigrad import cli, visualize

    def broken(*args, **kwargs):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(visualize, "grad_flow", broken)
    out = tmp_path / "demo"
    code = cli.main(["demo", "--epochs", "3", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 1
    assert "failed: grad_flow.png: RuntimeError: no canvas" in text
    assert sorted(p.name for p in out.iterdir()) == sorted(set(DEMO_FILES) - {"grad_flow.png"})
    assert "rows match" in text and "failed: grad_flow.png\n" in text
