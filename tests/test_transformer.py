"""TinyTransformer against its PyTorch twin (same state_dict, same outputs and gradients), its
causality, the sorting example with short settings, and the benchmark's rows."""

from __future__ import annotations

import importlib.util
import shutil
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigrad
from minigrad.models.transformer import TinyTransformer

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> types.ModuleType:
    return _load(ROOT / "bench" / "bench_transformer.py", "bench_transformer")


@pytest.fixture(scope="module")
def example() -> types.ModuleType:
    return _load(ROOT / "examples" / "train_transformer.py", "examples_train_transformer")


def test_torch_twin_gives_the_same_logits_and_gradients(bench, rng):
    """A PyTorch state_dict (of the same architecture) loaded into TinyTransformer gives
    PyTorch's logits and every parameter's gradient, in float64 to 1e-10."""
    torch = pytest.importorskip("torch")
    tm = bench.torch_model(vocab=7, block_size=8, embed_dim=16, heads=2, layers=2).double()
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(torch.randn(p.shape, dtype=torch.float64) * 0.1)  # biases and γ off 0 and 1
    m = TinyTransformer(7, 8, embed_dim=16, num_heads=2, num_layers=2, dtype=np.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.integers(0, 7, size=(3, 8))
    out, tout = m(x), tm(torch.from_numpy(x))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-10)
    w = rng.standard_normal(out.shape)
    (out * w).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.data, tp[name].grad.numpy(), rtol=1e-10, atol=1e-10,
                                   err_msg=name)


def test_logits_at_t_do_not_see_later_tokens(rng):
    m = TinyTransformer(5, 6, embed_dim=8, num_heads=2, num_layers=2, dtype=np.float64)
    x = rng.integers(0, 5, size=(1, 6))
    a = m(x).data
    x[0, 3] = (x[0, 3] + 1) % 5
    b = m(x).data
    np.testing.assert_array_equal(a[0, :3], b[0, :3])
    assert not np.allclose(a[0, 3:], b[0, 3:])


def test_too_long_a_sequence_is_a_clear_error():
    m = TinyTransformer(5, 4, embed_dim=8, num_heads=2)
    with pytest.raises(ValueError, match=r"tokens of shape \(2, 5\).*block_size=4"):
        m(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(IndexError, match="embedding: index 9 .*num_embeddings=5"):
        m(np.array([[1, 9]]))


def test_generate_appends_greedy_tokens(rng):
    m = TinyTransformer(5, 8, embed_dim=8, num_heads=2)
    seq = rng.integers(0, 5, size=(2, 3))
    out = m.generate(seq, 4)
    assert out.shape == (2, 7)
    np.testing.assert_array_equal(out[:, :3], seq)
    np.testing.assert_array_equal(out[:, 3], m(seq).data[:, -1].argmax(-1))


def test_make_batch_sorts_and_leaves_out_the_held_out_set(example):
    rng = np.random.default_rng(0)
    test = example.make_batch(rng, 300, 2)
    seqs = example.make_batch(rng, 500, 2, exclude={r[:2].tobytes() for r in test})
    assert seqs.shape[1] == 5 and np.all(seqs[:, 2] == example.SEP)
    np.testing.assert_array_equal(seqs[:, 3:], np.sort(seqs[:, :2], axis=1))
    assert not {r[:2].tobytes() for r in seqs} & {r[:2].tobytes() for r in test}


def test_example_has_docstring_and_help(example, capsys):
    assert example.__doc__ and example.main.__doc__
    with pytest.raises(SystemExit) as info:
        example.main(["--help"])
    assert info.value.code == 0 and "--steps" in capsys.readouterr().out


@pytest.mark.slow
def test_example_learns_with_short_settings(example, tmp_path, capsys):
    """Sorting 3 digits for a few hundred steps already gets most held-out sequences right;
    the pictures are written where asked."""
    result = example.main(["--digits", "3", "--steps", "250", "--test-size", "200",
                           "--no-progress", "--diagram", str(tmp_path / "model.png"),
                           "--grad-flow", str(tmp_path / "grads.png")])
    out = capsys.readouterr().out
    assert result["accuracy"] >= 0.9, out
    assert "held-out exact-match accuracy" in out and "training took" in out
    assert (tmp_path / "grads.png").stat().st_size > 0
    assert str(tmp_path / "grads.png") in result["pictures"]
    if shutil.which("dot"):  # the diagram needs Graphviz's binary; a second run overwrites
        assert (tmp_path / "model.png").stat().st_size > 0
        again = example.main(["--digits", "2", "--steps", "2", "--test-size", "5",
                              "--no-progress", "--diagram", str(tmp_path / "model.png"),
                              "--grad-flow", str(tmp_path / "grads.png")])
        assert str(tmp_path / "model.png") in again["pictures"]


@pytest.mark.slow
def test_bench_rows(bench):
    pytest.importorskip("torch")
    rows: list[dict[str, Any]] = bench.rows(quick=True, n=2, batch=4, embed_dim=8, heads=2,
                                            layers=1)
    assert [r["library"] for r in rows] == ["minigrad", "torch"]
    for r in rows:
        assert r["scenario"] == "transformer-step" and r["unit"] == "s" and r["value"] > 0
        assert r["spread"][0] <= r["value"] <= r["spread"][1]
    assert rows[1]["ratio"] == 1.0


def test_module_tree_names_follow_pytorch_conventions():
    m = TinyTransformer(11, 12)
    names = [n for n, _ in m.named_parameters()]
    assert names[:2] == ["tok_emb.weight", "pos_emb.weight"]
    assert "blocks.1.attn.in_proj_weight" in names and names[-1] == "head.bias"
    assert minigrad.nn.Module.describe(m) == "TinyTransformer"  # the base's, for comparison
    assert m.describe().startswith("TinyTransformer(2 blocks")
