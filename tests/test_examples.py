"""Runs the scripts in examples/: each through its ``main(argv)`` with small settings, the
spirals one also with its defaults, and a few as real subprocesses."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import minigrad
from minigrad import opinfo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = ["xor", "train_spirals", "train_digits", "train_cnn_digits", "custom_op"]
_LOADED: dict[str, types.ModuleType] = {}


def example(name: str) -> types.ModuleType:
    """Imports examples/<name>.py once per process: custom_op registers an op, and a second
    registration under the same name is an error."""
    if name not in _LOADED:
        spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED[name] = module
    return _LOADED[name]


def _run_script(name: str, *args: str, cwd: Path, env: dict | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_has_docstring_and_main(name):
    mod = example(name)
    assert mod.__doc__ and len(mod.__doc__.strip().splitlines()) >= 3
    assert callable(mod.main) and mod.main.__doc__


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_has_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        example(name).main(["--help"])
    assert info.value.code == 0
    assert "--epochs" in capsys.readouterr().out


# --- xor -------------------------------------------------------------------------------------


def test_xor_reaches_100_percent(capsys):
    result = example("xor").main([])
    out = capsys.readouterr().out
    assert result["accuracy"] == 1.0
    assert "accuracy: 100%" in out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_xor_other_seeds(seed):
    assert example("xor").main(["--seed", str(seed)])["accuracy"] == 1.0


def test_xor_as_script(tmp_path):
    proc = _run_script("xor", "--epochs", "300", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "accuracy: 100%" in proc.stdout


# --- spirals ---------------------------------------------------------------------------------


def test_spirals_defaults_reach_95_percent_test_accuracy(tmp_path, monkeypatch, capsys):
    """The documented promise, with the default settings (run in a scratch folder, because
    the defaults write spirals_model.npz, and maybe a plot, to the current folder)."""
    monkeypatch.chdir(tmp_path)
    result = example("train_spirals").main([])
    out = capsys.readouterr().out
    assert result["test_acc"] >= 0.95, out
    assert "test accuracy:" in out
    saved = tmp_path / "spirals_model.npz"
    assert saved.exists()
    state = minigrad.load(saved)
    assert [v.shape for v in state.values()] == [(64, 2), (64,), (64, 64), (64,), (3, 64), (3,)]
    assert "reloaded copy predicts the same: True" in out
    if result["plot_path"] is None:
        assert "skipped" in out
    else:
        assert (tmp_path / result["plot_path"]).exists()


def test_spirals_small_run_saves_model(tmp_path, capsys):
    out_path = tmp_path / "sub" / "m.npz"
    out_path.parent.mkdir()
    result = example("train_spirals").main(
        ["--epochs", "20", "--out", str(out_path), "--no-plot", "--no-progress"]
    )
    out = capsys.readouterr().out
    assert out_path.exists()
    assert result["model_path"] == str(out_path)
    assert result["plot_path"] is None
    assert f"train accuracy: {result['train_acc']:.2%}" in out
    assert f"test accuracy: {result['test_acc']:.2%}" in out
    assert result["train_acc"] > 0.6  # well above chance (1/3) even after 20 epochs
    state = minigrad.load(out_path)
    model = example("train_spirals").build_model(64, 3)
    model.load_state_dict(state)
    assert list(state) == list(model.state_dict())


def _fake_visualize(monkeypatch, module):
    """Makes `from minigrad import visualize` give `module` (None: fail to import): the
    package attribute, set by any earlier import, is looked up before sys.modules."""
    monkeypatch.setitem(sys.modules, "minigrad.visualize", module)
    if module is None:
        monkeypatch.delattr(minigrad, "visualize", raising=False)
    else:
        monkeypatch.setattr(minigrad, "visualize", module, raising=False)


def test_spirals_plot_skipped_without_visualize(tmp_path, monkeypatch, capsys):
    _fake_visualize(monkeypatch, None)
    result = example("train_spirals").main(
        [
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "m.npz"),
            "--no-progress",
            "--plot",
            str(tmp_path / "b.png"),
        ]
    )
    assert result["plot_path"] is None
    assert "skipped" in capsys.readouterr().out
    assert not (tmp_path / "b.png").exists()


def test_spirals_plot_skipped_when_function_missing(tmp_path, monkeypatch, capsys):
    _fake_visualize(monkeypatch, types.ModuleType("minigrad.visualize"))
    result = example("train_spirals").main(
        ["--epochs", "1", "--out", str(tmp_path / "m.npz"), "--no-progress"]
    )
    assert result["plot_path"] is None
    assert "skipped" in capsys.readouterr().out


def test_spirals_plot_uses_visualize_decision_boundary(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("minigrad.visualize")
    fake.decision_boundary = lambda model, X, y, path: calls.append((model, X.shape, y.shape, path))
    _fake_visualize(monkeypatch, fake)
    plot = str(tmp_path / "b.png")
    result = example("train_spirals").main(
        ["--epochs", "1", "--out", str(tmp_path / "m.npz"), "--no-progress", "--plot", plot]
    )
    assert result["plot_path"] == plot
    assert len(calls) == 1 and calls[0][1:] == ((225, 2), (225,), plot)


def test_spirals_progress_bar_shows_loss_and_accuracy(tmp_path, capsys):
    example("train_spirals").main(["--epochs", "2", "--out", str(tmp_path / "m.npz"), "--no-plot"])
    err = capsys.readouterr().err
    assert "loss=" in err and "acc=" in err


def test_spirals_missing_output_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        example("train_spirals").main(
            [
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "nope" / "m.npz"),
                "--no-plot",
                "--no-progress",
            ]
        )


# --- digits ----------------------------------------------------------------------------------


def test_digits_reaches_95_percent(capsys):
    pytest.importorskip("sklearn")
    result = example("train_digits").main([])
    out = capsys.readouterr().out
    assert result["test_acc"] >= 0.95, out
    assert f"test accuracy: {result['test_acc']:.2%}" in out


def test_digits_without_sklearn_explains_and_exits_1(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(SystemExit) as info:
        example("train_digits").main(["--epochs", "1"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "pip install -e '.[examples]'" in err and "pip install scikit-learn" in err


def test_digits_without_sklearn_as_script(tmp_path):
    # a sitecustomize-free way to hide sklearn: a package of that name that fails to import
    fake = tmp_path / "fake"
    (fake / "sklearn").mkdir(parents=True)
    (fake / "sklearn" / "__init__.py").write_text("raise ImportError('hidden for the test')\n")
    proc = _run_script("train_digits", cwd=tmp_path, env={"PYTHONPATH": str(fake)}, timeout=60)
    assert proc.returncode == 1
    assert "pip install scikit-learn" in proc.stderr


# --- digits CNN ------------------------------------------------------------------------------


@pytest.mark.slow
def test_cnn_digits_short_run_learns_and_draws(tmp_path):
    """Three epochs, as a script (the full default run is timed by hand, not here): the CNN
    already beats chance by far, prints its accuracy and time, and writes both pictures."""
    pytest.importorskip("sklearn")
    proc = _run_script("train_cnn_digits", "--epochs", "3", "--no-progress", "--diagram",
                       "model.png", "--grad-flow", "flow.png", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("test accuracy: "))
    assert float(line.split()[-1].rstrip("%")) >= 90.0, proc.stdout
    assert "trained in" in proc.stdout and "done in" in proc.stdout
    assert (tmp_path / "flow.png").read_bytes()[:4] == b"\x89PNG"
    if "model diagram written" in proc.stdout:  # needs Graphviz's dot
        assert (tmp_path / "model.png").read_bytes()[:4] == b"\x89PNG"


def test_cnn_digits_model_shapes():
    from minigrad.models.cnn import DigitsCNN

    model = DigitsCNN((4, 6))
    out = model(minigrad.tensor(np.zeros((3, 1, 8, 8)), dtype="float32"))
    assert out.shape == (3, 10)
    assert [n for n, _ in model.named_children()] == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc"]
    assert model.fc.weight.shape == (10, 6 * 2 * 2)
    with pytest.raises(ValueError, match="DigitsCNN: size must be a multiple of 4"):
        DigitsCNN(size=10)


def test_cnn_digits_without_sklearn_explains_and_exits_1(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(SystemExit) as info:
        example("train_cnn_digits").main(["--epochs", "1"])
    assert info.value.code == 1
    assert "pip install scikit-learn" in capsys.readouterr().err


# --- custom op -------------------------------------------------------------------------------


def test_custom_op_is_registered_with_labels():
    mod = example("custom_op")
    op = minigrad.REGISTRY["swish"]
    assert op is mod.Swish.op
    assert op.formula == "y = x · σ(x)"
    assert opinfo.find(op) is not None


def test_custom_op_gradchecks_in_float64():
    mod = example("custom_op")
    mod.check_gradients(seed=3)
    x = minigrad.tensor(np.linspace(-30, 30, 13), dtype="float64", requires_grad=True)
    assert minigrad.gradcheck(mod.Swish.apply, [x])


def test_custom_op_matches_torch_silu():
    torch = pytest.importorskip("torch")
    mod = example("custom_op")
    x0 = np.linspace(-10, 10, 41)
    x = minigrad.tensor(x0, dtype="float64", requires_grad=True)
    mod.swish(x).sum().backward()
    tx = torch.tensor(x0, requires_grad=True)
    torch.nn.functional.silu(tx).sum().backward()
    np.testing.assert_allclose(
        mod.swish(x).data, torch.nn.functional.silu(tx).detach().numpy(), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_custom_op_float32_stays_float32_and_no_overflow_warning():
    mod = example("custom_op")
    x = minigrad.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = mod.swish(x)
        y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 1000.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 1.0])


def test_custom_op_model_trains(capsys):
    result = example("custom_op").main(["--epochs", "40"])
    out = capsys.readouterr().out
    assert "gradcheck" in out
    assert result["test_acc"] >= 0.9, out
    assert f"test accuracy: {result['test_acc']:.2%}" in out


def test_custom_op_as_script(tmp_path):
    proc = _run_script("custom_op", "--epochs", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy:" in proc.stdout


class _Stop(Exception):
    pass


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_trains_with_one_blas_thread(name, monkeypatch):
    """The examples' matrices are tiny, so main limits numpy's BLAS to one thread
    (threadpoolctl) while it runs and gives the pool back afterwards. Seen from inside, where
    main seeds the model."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
        # numpy's own BLAS, which minigrad's matmuls use (scikit-learn may load scipy's too)
        numpy_pools = [p for p in pools if "numpy" in p["filepath"]]
        return [p["num_threads"] for p in numpy_pools or pools]

    seen: list[list[int]] = []

    def seed_and_stop(seed):
        seen.append(blas_threads())
        raise _Stop

    before = blas_threads()
    monkeypatch.setattr(minigrad, "manual_seed", seed_and_stop)
    with pytest.raises(_Stop):
        example(name).main(["--epochs", "1"])
    assert seen and seen[0] and set(seen[0]) == {1}
    assert blas_threads() == before
