"""nn: registration and naming, modes, state dicts, module scopes, layers, init, training."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.modes import state as mode_state

MLP_NAMES = [
    "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
    "layers.4.weight", "layers.4.bias",
]


# ---------------------------------------------------------------------- registration, naming
def test_mlp_named_parameters_order_names_and_shapes() -> None:
    model = nn.MLP([2, 16, 16, 3])
    named = list(model.named_parameters())
    assert [n for n, _ in named] == MLP_NAMES
    assert [p.shape for _, p in named] == [(16, 2), (16,), (16, 16), (16,), (3, 16), (3,)]
    assert all(isinstance(p, nn.Parameter) and p.is_leaf and p.requires_grad for _, p in named)
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in named]
    assert model.sizes == [2, 16, 16, 3] and model.activation == "relu"


def test_children_and_modules() -> None:
    model = nn.MLP([2, 16, 16, 3])
    assert [n for n, _ in model.named_children()] == ["layers"]
    assert list(model.children()) == [model.layers]
    names = [n for n, _ in model.named_modules()]
    assert names == ["", "layers"] + [f"layers.{i}" for i in range(5)]
    kinds = [type(m).__name__ for m in model.modules()]
    assert kinds == ["MLP", "Sequential", "Linear", "ReLU", "Linear", "ReLU", "Linear"]


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(np.ones((2, 2)))
        self.first = nn.Linear(2, 3)
        self.scale = nn.Parameter([2.0])
        self.plain = mg.tensor([1.0], requires_grad=True)  # a plain Tensor is not registered

    def forward(self, x: mg.Tensor) -> mg.Tensor:
        return self.first(x @ self.w) * self.scale


def test_registration_follows_assignment_order_and_updates() -> None:
    m = Custom()
    # as PyTorch: a module's own parameters, in assignment order, then each child's
    assert [n for n, _ in m.named_parameters()] == ["w", "scale", "first.weight", "first.bias"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["w", "scale"]
    new_w = nn.Parameter(np.zeros((2, 2)))
    m.w = new_w  # replacing keeps the position
    assert next(iter(m.parameters())) is new_w
    assert m.w.name == "w"  # an unnamed Parameter takes its attribute name
    del m.scale
    assert [n for n, _ in m.named_parameters()] == ["w", "first.weight", "first.bias"]
    m.first.bias = None
    assert [n for n, _ in m.named_parameters()] == ["w", "first.weight"]
    with pytest.raises(TypeError, match="Parameter"):
        m.w = mg.tensor(np.ones((2, 2)))
    m.first = None  # type: ignore[assignment]
    assert [n for n, _ in m.named_parameters()] == ["w"]


def test_shared_parameters_and_modules_appear_once() -> None:
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3
    x = mg.randn(2, 3)
    np.testing.assert_allclose(model(x).data, lin(lin(x).tanh()).data)


def test_assignment_before_super_init_is_explained() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_parameter_copies_and_checks_dtype() -> None:
    a = np.arange(3.0)
    p = nn.Parameter(a)
    a[0] = 99
    assert p.data[0] == 0 and p.dtype == np.float64 and p.requires_grad and p.is_leaf
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert nn.Parameter([1, 2], dtype="float64").dtype == np.float64
    assert repr(nn.Parameter([1.0])).startswith("Parameter containing:")
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter([1, 2])
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.array([True]))


# ---------------------------------------------------------------------- repr
def test_repr_is_pytorch_like() -> None:
    model = nn.MLP([2, 16, 3], activation="tanh")
    assert repr(model) == (
        "MLP(\n"
        "  (layers): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=16, bias=True)\n"
        "    (1): Tanh()\n"
        "    (2): Linear(in_features=16, out_features=3, bias=True)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Linear(4, 1, bias=False)) == "Linear(in_features=4, out_features=1, bias=False)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
    assert repr(nn.Softmax()) == "Softmax(axis=-1)"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss("sum")) == "MSELoss(reduction='sum')"


def test_describe_labels() -> None:
    assert nn.Linear(2, 16).describe() == "Linear(2→16)"
    assert nn.MLP([2, 16, 3]).describe() == "MLP(2→16→3)"
    assert nn.ReLU().describe() == "ReLU"


# ---------------------------------------------------------------------- train / eval, Dropout
def test_train_eval_recurse() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[1][0].training


def test_dropout_eval_is_identity() -> None:
    d = nn.Dropout(0.5).eval()
    x = mg.randn(10, 10, requires_grad=True)
    assert d(x) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8], ids=lambda p: f"p={p}")
def test_dropout_train_scales_kept_values_and_preserves_mean(p: float) -> None:
    mg.manual_seed(0)
    n = 200_000
    x = mg.ones(n, requires_grad=True)
    y = nn.Dropout(p)(x)
    vals = np.unique(y.data)
    np.testing.assert_allclose(vals, [0.0, 1.0 / (1.0 - p)], rtol=1e-6)
    assert y.dtype == np.float32
    kept = y.data != 0
    # the fraction dropped and the mean are binomial: allow 5 standard deviations
    assert abs((1 - kept.mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)
    sd_mean = math.sqrt(p / (1 - p) / n)
    assert abs(y.data.mean() - 1.0) < 5 * sd_mean
    y.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, y.data)  # same mask and scale on the way back


def test_dropout_zero_p_identity_and_validation() -> None:
    x = mg.randn(3)
    assert nn.Dropout(0.0)(x) is x
    for bad in (1.0, -0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="p must"):
            nn.Dropout(bad)  # type: ignore[arg-type]


def test_dropout_mask_follows_seed() -> None:
    x = mg.ones(50)
    mg.manual_seed(7)
    a = nn.Dropout(0.5)(x).data
    mg.manual_seed(7)
    b = nn.Dropout(0.5)(x).data
    assert np.array_equal(a, b) and not np.array_equal(a, nn.Dropout(0.5)(x).data)


# ---------------------------------------------------------------------- state dicts
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_dict_round_trip_is_exact(dtype: str) -> None:
    mg.manual_seed(0)
    a = nn.MLP([3, 5, 2], activation="tanh", dtype=dtype)
    mg.manual_seed(1)
    b = nn.MLP([3, 5, 2], activation="tanh", dtype=dtype)
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict) and list(sd) == [n for n, _ in a.named_parameters()]
    for name, t in sd.items():
        p = dict(a.named_parameters())[name]
        assert isinstance(t, mg.Tensor) and not isinstance(t, nn.Parameter)
        assert t.is_leaf and not t.requires_grad and t.dtype == np.dtype(dtype)
        assert not np.shares_memory(t.data, p.data)
    params_b = list(b.parameters())
    b.load_state_dict(sd)
    assert list(b.parameters()) == params_b  # same objects, loaded in place
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert pa.data.tobytes() == pb.data.tobytes() and pb.dtype == np.dtype(dtype)
    x = mg.randn(4, 3, dtype=dtype)
    assert np.array_equal(a(x).data, b(x).data)
    # a snapshot: training on does not change it, and changing it does not touch the model
    first = next(iter(a.parameters()))
    before = sd["layers.0.weight"].data.copy()
    with mg.no_grad():
        first.add_(1.0)
    assert np.array_equal(sd["layers.0.weight"].data, before)


def test_load_state_dict_accepts_numpy_and_casts_float() -> None:
    model = nn.Linear(2, 3)
    w = np.arange(6, dtype=np.float64).reshape(3, 2) / 7
    model.load_state_dict({"weight": w, "bias": np.ones(3, dtype=np.float32)})
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, w.astype(np.float32))
    np.testing.assert_array_equal(model.bias.data, np.ones(3))  # type: ignore[union-attr]


def test_load_state_dict_lists_every_problem_and_changes_nothing() -> None:
    model = nn.MLP([2, 16, 16, 3])
    before = {n: (p.data.tobytes(), p.version) for n, p in model.named_parameters()}
    sd: dict[str, Any] = {k: v.data + 1 for k, v in model.state_dict().items()}
    del sd["layers.2.bias"]  # missing
    sd["layers.9.weight"] = np.zeros(3)  # unexpected
    sd["layers.0.weight"] = np.zeros((2, 16))  # transposed: wrong shape
    sd["layers.4.bias"] = np.zeros(3, dtype=np.int64)  # wrong dtype kind
    with pytest.raises(ValueError) as info:
        model.load_state_dict(sd)
    msg = str(info.value)
    for key in ("layers.2.bias", "layers.9.weight", "layers.0.weight", "layers.4.bias"):
        assert key in msg
    assert "missing" in msg and "unexpected" in msg and "(2, 16)" in msg and "int64" in msg
    assert len(info.value.problems) == 4  # type: ignore[attr-defined]
    assert isinstance(info.value, KeyError)
    after = {n: (p.data.tobytes(), p.version) for n, p in model.named_parameters()}
    assert after == before  # not even the valid entries were written


def test_load_state_dict_non_strict() -> None:
    model = nn.Linear(2, 2)
    w = np.full((2, 2), 0.5, dtype=np.float32)
    res = model.load_state_dict({"weight": w, "extra": np.zeros(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.weight.data, w)
    with pytest.raises(KeyError, match="shape"):
        model.load_state_dict({"weight": np.zeros(3)}, strict=False)


def test_load_state_dict_keeps_optimizer_working() -> None:
    mg.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.5)
    model.load_state_dict({"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.0])})
    x = mg.tensor([[1.0, 1.0]])
    model(x).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.weight.data, [[0.5, 1.5]])
    np.testing.assert_allclose(model.bias.data, [-0.5])  # type: ignore[union-attr]


def test_save_and_load_files(tmp_path: Any) -> None:
    pytest.importorskip("minigrad.io")
    mg.manual_seed(0)
    a = nn.MLP([2, 4, 3], dtype="float64")
    b = nn.MLP([2, 4, 3], dtype="float64")
    path = tmp_path / "model.npz"
    a.save(path)
    b.load(path)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa.data.tobytes() == pb.data.tobytes()


# ---------------------------------------------------------------------- module scopes
def _modules_by_op(loss: mg.Tensor) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {}
    for _, d in mg.graph(loss).nodes(data=True):
        if d["op"] is not None:
            out.setdefault(d["op"], set()).add(d["module"])
    return out


def test_graph_nodes_carry_module_paths() -> None:
    model = nn.MLP([2, 16, 16, 3])
    x = mg.randn(4, 2)
    logits = model(x)
    loss = F.cross_entropy(logits, np.array([0, 1, 2, 0]))
    G = mg.graph(loss)
    by_module = {d["module"] for _, d in G.nodes(data=True) if d["op"] == "linear"}
    assert by_module == {"layers.0", "layers.2", "layers.4"}
    assert _modules_by_op(loss)["relu"] == {"layers.1", "layers.3"}
    assert G.nodes[id(logits)]["module"] == "layers.4"
    assert G.nodes[id(loss)]["module"] is None  # made outside any module
    assert mode_state.scope is None


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.MLP([2, 3, 2], activation="tanh")
        self.head = nn.Linear(2, 1)

    def forward(self, x: mg.Tensor) -> mg.Tensor:
        return self.head(self.block(x) * 2.0)


def test_nested_scopes_root_adds_no_prefix() -> None:
    model = Outer()
    out = model(mg.randn(3, 2))
    mods = _modules_by_op(out)
    assert mods["linear"] == {"block.layers.0", "block.layers.2", "head"}
    assert mods["tanh"] == {"block.layers.1"}
    assert mods["mul"] == {""}  # made in the root's own forward
    # a child called on its own is the outermost module of that call
    inner = model.block(mg.randn(3, 2))
    assert inner.module == "layers.2"
    assert model.head(mg.randn(1, 2)).module == ""


def test_scope_names_survive_slicing_and_sharing() -> None:
    model = nn.MLP([2, 3, 2])
    first = model.layers[0]
    for _ in range(3):
        head = model.layers[:1]  # registers the same Linear in a new Sequential
    assert first._scope_name == "0"
    assert head(mg.randn(1, 2)).module == "0"
    outer = nn.Sequential(nn.Identity(), model)
    out = outer(mg.randn(1, 2))
    assert out.module == "1.layers.2"


def test_scope_restored_after_an_error() -> None:
    with pytest.raises(ValueError):
        nn.MLP([2, 3])(mg.randn(4, 5))
    assert mode_state.scope is None


# ---------------------------------------------------------------------- Linear
def test_linear_forward_matches_numpy() -> None:
    lin = nn.Linear(3, 4)
    x = mg.randn(5, 3)
    b = lin.bias
    assert b is not None
    expected = x.data @ lin.weight.data.T + b.data
    np.testing.assert_allclose(lin(x).data, expected, rtol=1e-6)
    assert lin(x).op == "linear"  # one fused op, a = W h + b
    no_bias = nn.Linear(3, 4, bias=False)
    np.testing.assert_allclose(no_bias(x).data, x.data @ no_bias.weight.data.T, rtol=1e-6)


def test_linear_gradient_is_sum_of_outer_products() -> None:
    lin = nn.Linear(3, 4, dtype="float64")
    rng = np.random.default_rng(0)
    H = mg.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    Delta = rng.standard_normal((5, 4))  # δ_i = ∇a L for each example i
    (lin(H) * Delta).sum().backward()
    expected_W = sum(np.outer(Delta[i], H.data[i]) for i in range(5))  # Σ_i δ_i h_iᵀ
    assert lin.weight.grad is not None and lin.bias is not None and lin.bias.grad is not None
    np.testing.assert_allclose(lin.weight.grad.data, expected_W, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.data, Delta.sum(0), rtol=1e-12)
    assert H.grad is not None
    np.testing.assert_allclose(H.grad.data, Delta @ lin.weight.data, rtol=1e-12)  # W_kᵀ δ


def test_linear_gradient_for_one_example_is_rank_one() -> None:
    lin = nn.Linear(3, 4, dtype="float64")
    h = mg.tensor(np.array([0.5, -1.0, 2.0]))
    delta = np.array([1.0, 2.0, -1.0, 0.5])
    (lin(h) * delta).sum().backward()
    assert lin.weight.grad is not None
    g = lin.weight.grad.data
    np.testing.assert_allclose(g, np.outer(delta, h.data))
    assert np.linalg.matrix_rank(g) == 1


def test_linear_validation() -> None:
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="init"):
        nn.Linear(2, 2, init="orthogonal")
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(2, 2, dtype="int32")


# ---------------------------------------------------------------------- init
def test_xavier_uniform_statistics() -> None:
    mg.manual_seed(0)
    lin = nn.Linear(400, 300)
    r = math.sqrt(6 / (400 + 300))
    w = lin.weight.data.astype(np.float64)
    assert np.abs(w).max() <= r and np.abs(w).max() > 0.99 * r
    assert w.var() == pytest.approx(r * r / 3, rel=0.02)  # 2 / (fan_in + fan_out)
    assert abs(w.mean()) < 0.01 * r
    assert lin.bias is not None and not lin.bias.data.any()


def test_he_normal_statistics() -> None:
    mg.manual_seed(0)
    lin = nn.Linear(400, 300, init="he")
    w = lin.weight.data.astype(np.float64)
    assert w.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert np.abs(w).max() > math.sqrt(6 / 700)  # normal tails, not a uniform's bound


@pytest.mark.parametrize("activation,rule", [("relu", "he"), ("leaky_relu", "he"),
                                             ("gelu", "he"), ("tanh", "xavier"),
                                             ("sigmoid", "xavier"), (nn.ReLU, "he"),
                                             (nn.Tanh, "xavier")],
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_mlp_auto_init_picks_rule(activation: Any, rule: str) -> None:
    mg.manual_seed(0)
    model = nn.MLP([300, 200, 100], activation=activation)
    w = model.layers[2].weight.data.astype(np.float64)  # type: ignore[union-attr]
    if rule == "he":
        assert w.std() == pytest.approx(math.sqrt(2 / 200), rel=0.03)
    else:
        assert np.abs(w).max() <= math.sqrt(6 / 300)
        assert w.std() == pytest.approx(math.sqrt(2 / 300), rel=0.03)


def test_seeding_makes_init_reproducible() -> None:
    def weights(seed: int) -> list[np.ndarray]:
        mg.manual_seed(seed)
        return [p.data.copy() for p in nn.MLP([3, 8, 2]).parameters()]

    a, b, c = weights(1), weights(1), weights(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_init_helpers_and_apply() -> None:
    model = nn.MLP([3, 4, 2])

    def zero_linear(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    assert model.apply(zero_linear) is model
    assert not any(p.data.any() for p in model.parameters())
    assert nn.init.fans((5, 3)) == (3, 5)


# ---------------------------------------------------------------------- MLP
def test_mlp_structure_and_output_modules() -> None:
    m = nn.MLP([2, 4, 4, 3], activation="gelu")
    assert [type(x).__name__ for x in m.layers] == ["Linear", "GELU", "Linear", "GELU", "Linear"]
    x = mg.randn(5, 2)
    probs = nn.MLP([2, 4, 3], output="softmax")(x)
    np.testing.assert_allclose(probs.data.sum(-1), np.ones(5), rtol=1e-6)
    p = nn.MLP([2, 4, 1], output="sigmoid")(x)
    assert np.all((p.data > 0) & (p.data < 1))
    assert type(nn.MLP([2, 3], output="sigmoid").layers[-1]) is nn.Sigmoid
    assert len(nn.MLP([2, 3]).layers) == 1  # one layer: logits only, no activation
    assert type(nn.MLP([2, 3, 3], activation=nn.Tanh).layers[1]) is nn.Tanh


def test_mlp_validation() -> None:
    with pytest.raises(ValueError, match="relu") as info:
        nn.MLP([2, 3, 1], activation="swish")
    assert "tanh" in str(info.value) and "swish" in str(info.value)
    with pytest.raises(ValueError, match="sizes"):
        nn.MLP([2])
    with pytest.raises(ValueError, match="output"):
        nn.MLP([2, 2], output="log_softmax")
    with pytest.raises(ValueError, match="positive"):
        nn.MLP([2, 0, 1])


def test_activations_table() -> None:
    assert set(nn.ACTIVATIONS) == {"sigmoid", "tanh", "relu", "leaky_relu", "gelu", "softplus",
                                   "linear", "identity"}
    x = mg.tensor(np.linspace(-3, 3, 13))
    expected = {
        "sigmoid": F.sigmoid(x), "tanh": F.tanh(x), "relu": F.relu(x),
        "leaky_relu": F.leaky_relu(x), "gelu": F.gelu(x), "softplus": F.softplus(x),
        "linear": x, "identity": x,
    }
    for name, cls in nn.ACTIVATIONS.items():
        assert issubclass(cls, nn.Module)
        np.testing.assert_array_equal(cls()(x).data, expected[name].data, err_msg=name)
    np.testing.assert_array_equal(nn.Softmax(axis=0)(x).data, F.softmax(x, axis=0).data)


def _blobs(n: int = 48) -> tuple[mg.Tensor, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    X = centers[y] + 0.5 * rng.standard_normal((n, 2))
    return mg.tensor(X.astype(np.float32)), y


@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_mlp_trains_with_each_activation(activation: str) -> None:
    mg.manual_seed(0)
    model = nn.MLP([2, 8, 3], activation=activation)
    opt = optim.Adam(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    x, y = _blobs()
    first = loss_fn(model(x), y).item()
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    last = loss.item()
    assert last < 0.3 * first, f"{activation}: loss {first:.3f} → {last:.3f}"
    with mg.no_grad():
        acc = (model(x).data.argmax(-1) == y).mean()
    assert acc > 0.9


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "softplus"])
def test_gradcheck_through_mlp(activation: str) -> None:
    mg.manual_seed(0)
    model = nn.MLP([3, 4, 2], activation=activation, dtype="float64")
    x = mg.randn(2, 3, dtype="float64", requires_grad=True)
    assert mg.gradcheck(lambda t: model(t), [x])
    # the parameters' gradients, against central differences on each entry
    y = np.array([0, 1])
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        assert p.grad is not None
        num = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            old = p.data[i]
            vals = []
            for shift in (eps, -eps):
                p.data[i] = old + shift
                with mg.no_grad():
                    vals.append(F.cross_entropy(model(x), y).item())
            p.data[i] = old
            num[i] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(p.grad.data, num, rtol=1e-5, atol=1e-8, err_msg=name)


TORCH_ACTS = {
    "relu": lambda nn_: nn_.ReLU(), "tanh": lambda nn_: nn_.Tanh(),
    "sigmoid": lambda nn_: nn_.Sigmoid(), "leaky_relu": lambda nn_: nn_.LeakyReLU(0.01),
    "gelu": lambda nn_: nn_.GELU(approximate="tanh"), "softplus": lambda nn_: nn_.Softplus(),
}


@pytest.mark.parametrize("activation", sorted(TORCH_ACTS))
def test_mlp_matches_torch(activation: str) -> None:
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    model = nn.MLP([3, 5, 4, 2], activation=activation, dtype="float64")
    layers: list[Any] = []
    for m in model.layers:
        if isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight.data))
                t.bias.copy_(torch.from_numpy(m.bias.data))  # type: ignore[union-attr]
            layers.append(t)
        else:
            layers.append(TORCH_ACTS[activation](torch.nn))
    tmodel = torch.nn.Sequential(*layers)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    y = rng.integers(0, 2, size=6)
    x = mg.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    loss = F.cross_entropy(model(x), y)
    tloss = torch.nn.functional.cross_entropy(tmodel(tx), torch.from_numpy(y))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
        assert p.grad is not None
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-10, atol=1e-14,
                                   err_msg=name)


# ---------------------------------------------------------------------- losses, Sequential
def test_loss_modules_wrap_functional() -> None:
    rng = np.random.default_rng(0)
    z = mg.tensor(rng.standard_normal((4, 3)))
    y = np.array([0, 2, 1, 1])
    t = rng.standard_normal((4, 3))
    b = rng.random((4, 3))
    assert nn.CrossEntropyLoss()(z, y).item() == F.cross_entropy(z, y).item()
    assert nn.CrossEntropyLoss("sum")(z, y).item() == F.cross_entropy(z, y, "sum").item()
    assert nn.CrossEntropyLoss("none")(z, y).shape == (4,)
    assert nn.MSELoss()(z, t).item() == F.mse_loss(z, t).item()
    assert nn.BCEWithLogitsLoss()(z, b).item() == F.binary_cross_entropy_with_logits(z, b).item()
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("avg")


def test_sequential_container() -> None:
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b)
    assert s.append(c) is s
    assert len(s) == 3 and list(s) == [a, b, c]
    assert s[0] is a and s[-1] is c
    assert list(s[1:]) == [b, c]
    with pytest.raises(IndexError, match="out of range"):
        s[3]
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(a, "relu")  # type: ignore[arg-type]
    named = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias"]
    x = mg.randn(4, 2)
    np.testing.assert_allclose(s(x).data, c(b(a(x))).data)


def test_zero_grad_and_freezing() -> None:
    model = nn.MLP([2, 3, 1])
    model(mg.randn(4, 2)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.layers[0].requires_grad_(False)
    model(mg.randn(4, 2)).sum().backward()
    assert [p.grad is None for p in model.parameters()] == [True, True, False, False]


def test_nn_functional_reexports() -> None:
    from minigrad.nn import functional as nnF

    assert nnF.relu is F.relu and nnF.cross_entropy is F.cross_entropy
