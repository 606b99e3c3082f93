"""visualize's matplotlib plots and lecture_net."""

from __future__ import annotations

import os

import numpy as np
import pytest
from matplotlib import image

import minigrad
import minigrad.functional as F
from minigrad import nn, visualize


def png_ok(path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = image.imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0.01
    return img


def trained_mlp(sizes=(2, 8, 3), seed=0):
    minigrad.manual_seed(seed)
    model = nn.MLP(list(sizes), activation="tanh")
    X, y = minigrad.data.blobs(seed=seed) if sizes[-1] > 1 else minigrad.data.moons(seed=seed)
    loss = F.cross_entropy(model(minigrad.tensor(X.astype(np.float32))), minigrad.tensor(y))
    loss.backward()
    return model, X, y


# --------------------------------------------------------------------------- grad_flow
def test_grad_flow_writes_a_png(tmp_path):
    model, _, _ = trained_mlp()
    p = visualize.grad_flow(model, tmp_path / "flow.png")
    assert p == tmp_path / "flow.png"
    png_ok(p)
    assert os.listdir(tmp_path) == ["flow.png"]


def test_grad_flow_overwrites_by_default_and_can_refuse(tmp_path):
    model, _, _ = trained_mlp()
    p = visualize.grad_flow(model, tmp_path / "flow.png")
    visualize.grad_flow(model, p)  # plots are redrawn every epoch
    with pytest.raises(FileExistsError):
        visualize.grad_flow(model, p, overwrite=False)
    assert os.listdir(tmp_path) == ["flow.png"]


def test_grad_flow_handles_zero_and_missing_gradients(tmp_path):
    model, _, _ = trained_mlp()
    model.layers[0].bias.grad.data[...] = 0.0
    model.layers[2].weight.grad = None
    png_ok(visualize.grad_flow(model, tmp_path / "f.png"))


def test_grad_flow_before_backward_says_so(tmp_path):
    minigrad.manual_seed(0)
    model = nn.MLP([2, 3, 2])
    with pytest.raises(ValueError, match="backward"):
        visualize.grad_flow(model, tmp_path / "f.png")
    assert os.listdir(tmp_path) == []


def test_grad_flow_svg_and_bad_suffix(tmp_path):
    model, _, _ = trained_mlp()
    assert b"<svg" in visualize.grad_flow(model, tmp_path / "f.svg").read_bytes()
    with pytest.raises(ValueError, match="cannot save a plot"):
        visualize.grad_flow(model, tmp_path / "f.xyz")


# --------------------------------------------------------------------------- plot_history
def test_plot_history_loss_and_accuracy(tmp_path):
    h = {"loss": [1.0, 0.6, 0.3, 0.2], "train_accuracy": [0.4, 0.6, 0.8, 0.9],
         "test_accuracy": [0.3, 0.5, 0.7, 0.85]}
    wide = png_ok(visualize.plot_history(h, tmp_path / "h.png"))
    narrow = png_ok(visualize.plot_history({"loss": h["loss"]}, tmp_path / "l.png"))
    assert wide.shape[1] > 1.5 * narrow.shape[1]  # a second panel for accuracy


def test_plot_history_needs_loss(tmp_path):
    with pytest.raises(ValueError, match="loss"):
        visualize.plot_history({"accuracy": [0.5]}, tmp_path / "h.png")
    with pytest.raises(ValueError, match="empty"):
        visualize.plot_history({"loss": []}, tmp_path / "h.png")


# --------------------------------------------------------------------------- decision_boundary
def test_decision_boundary_multiclass(tmp_path):
    model, X, y = trained_mlp()
    png_ok(visualize.decision_boundary(model, X, y, tmp_path / "db.png", resolution=60))


def test_decision_boundary_calls_the_model_without_grad_in_eval_mode(tmp_path):
    model, X, y = trained_mlp()
    seen = []
    inner = model.forward

    def spy(x):
        seen.append((minigrad.is_grad_enabled(), model.training, x.shape))
        return inner(x)

    model.forward = spy
    model.train()
    visualize.decision_boundary(model, X, y, tmp_path / "db.png", resolution=30)
    assert seen and all(not g and not training for g, training, _ in seen)
    assert seen[0][2] == (900, 2)
    assert model.training  # restored


def test_decision_boundary_single_logit_uses_sigmoid(tmp_path):
    calls = []

    def model(x):  # class 1 right of x = 0.2: logit x − 0.2
        calls.append(x.shape)
        return x[:, 0:1] - 0.2

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(50, 2))
    y = (X[:, 0] > 0.2).astype(np.int64)
    png_ok(visualize.decision_boundary(model, X, y, tmp_path / "db.png", resolution=20))
    from minigrad.visualize.plots import _predict

    np.testing.assert_array_equal(_predict(model, X, np.float64), y)


def test_decision_boundary_rejects_non_2d(tmp_path):
    model, _, _ = trained_mlp()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        visualize.decision_boundary(model, np.zeros((4, 3)), np.zeros(4), tmp_path / "d.png")


# --------------------------------------------------------------------------- lecture_net
def test_lecture_net_is_ready_to_draw():
    model, loss = visualize.lecture_net((3, 3, 3, 2), "sigmoid", "ce", seed=0)
    assert loss.shape == () and loss.name == "L"
    assert [n for n, _ in model.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
        "layers.4.weight", "layers.4.bias"]
    assert all(p.grad is not None for p in model.parameters())
    G = minigrad.graph(loss)
    for _, d in G.nodes(data=True):
        if d["tensor"].requires_grad:
            assert d["tensor"].grad is not None  # δ at every a_k and h_k, for the diagram
    # seeded: the same network and example every time
    _, again = visualize.lecture_net((3, 3, 3, 2), "sigmoid", "ce", seed=0)
    assert again.item() == loss.item()
    _, other = visualize.lecture_net((3, 3, 3, 2), "sigmoid", "ce", seed=1)
    assert other.item() != loss.item()


def test_lecture_net_mse_and_errors():
    model, loss = visualize.lecture_net((2, 4, 3), "tanh", "mse")
    assert loss.op == "mse_loss"
    with pytest.raises(ValueError, match="sizes"):
        visualize.lecture_net((3,))
    with pytest.raises(ValueError, match="activation"):
        visualize.lecture_net(activation="swish")
    with pytest.raises(ValueError, match="loss"):
        visualize.lecture_net(loss="hinge")
