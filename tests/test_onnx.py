"""minigrad.onnx.export: the files pass onnx.checker, and ONNX Runtime computes what minigrad
computes (to 1e-5 in float32) on random inputs, at the example's batch size and at others;
parameters are initializers under their state dict names; an op without a mapping is an error
naming it, and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.models.transformer import TinyTransformer
from minigrad.onnx import ExportError, export, supported_ops

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = dict(rtol=1e-5, atol=1e-5)


def _run(path, *inputs, names=None):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = names or [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, inputs)))


def _ops_in(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def _initializers(path) -> list[str]:
    return [i.name for i in onnx.load(str(path)).graph.initializer]


def _x(shape, dtype="float32", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _check_file(path):
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------- the MLP
@pytest.mark.parametrize("activation, output", [
    ("relu", None), ("tanh", "softmax"), ("sigmoid", "sigmoid"), ("gelu", None),
    ("leaky_relu", None), ("softplus", None), ("linear", None)])
def test_mlp_matches_under_onnx_runtime_at_any_batch_size(tmp_path, activation, output):
    mg.manual_seed(1)
    model = nn.MLP([4, 16, 8, 3], activation=activation, output=output)
    path = export(model, _x((5, 4)), tmp_path / "mlp.onnx")
    proto = _check_file(path)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 4
    n = len(model.state_dict())
    assert _initializers(path)[:n] == list(model.state_dict())  # then constants (gelu's)
    for batch in (5, 1, 13):
        x = _x((batch, 4), seed=batch)
        np.testing.assert_allclose(_run(path, x)[0], model(mg.tensor(x)).data, **TOL)


def test_float64_model_and_names(tmp_path):
    mg.manual_seed(2)
    model = nn.MLP([3, 6, 2], activation="tanh", dtype="float64")
    path = export(model, _x((2, 3), "float64"), tmp_path / "m.onnx", input_names=["features"],
                  output_names=["logits"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["features"]
    assert [o.name for o in sess.get_outputs()] == ["logits"]
    x = _x((4, 3), "float64")
    np.testing.assert_allclose(sess.run(None, {"features": x})[0], model(mg.tensor(x)).data,
                               rtol=1e-12, atol=1e-12)


def test_fixed_batch_when_asked(tmp_path):
    model = nn.Linear(3, 2)
    path = export(model, _x((4, 3)), tmp_path / "m.onnx", dynamic_batch=False)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 3]
    np.testing.assert_allclose(_run(path, _x((4, 3)))[0], model(mg.tensor(_x((4, 3)))).data,
                               **TOL)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        _run(path, _x((5, 3)))


# --------------------------------------------------------------------------- layers and models
def _cnn(dtype=None):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, dtype=dtype), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding="same", groups=2, dtype=dtype),
        nn.LeakyReLU(0.1), nn.AvgPool2d(2, padding=1), nn.Flatten(),
        nn.Linear(72, 16, dtype=dtype), nn.BatchNorm1d(16, dtype=dtype), nn.Tanh(),
        nn.Dropout(0.3), nn.Linear(16, 10, dtype=dtype))


def test_cnn_with_batch_norm_exports_in_evaluation_mode(tmp_path):
    mg.manual_seed(3)
    model = _cnn()
    for seed in range(3):  # running statistics away from 0 and 1
        model(mg.tensor(_x((8, 1, 8, 8), seed=seed) * 2 + 1))
    before = {k: v.data.copy() for k, v in model.state_dict().items()}
    path = export(model, _x((4, 1, 8, 8)), tmp_path / "cnn.onnx")
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k], err_msg=k)
    _check_file(path)
    names = _initializers(path)
    assert {"0.weight", "1.weight", "1.running_mean", "1.running_var", "9.running_var"} <= set(
        names)
    assert {"Conv", "BatchNormalization", "MaxPool", "AveragePool", "Reshape"} <= _ops_in(path)
    model.eval()
    for batch in (4, 1, 6):
        x = _x((batch, 1, 8, 8), seed=10 + batch)
        np.testing.assert_allclose(_run(path, x)[0], model(mg.tensor(x)).data, **TOL)


def test_conv1d_sequence_model(tmp_path):
    mg.manual_seed(4)
    model = nn.Sequential(nn.Conv1d(3, 6, 3, padding=2, dilation=2), nn.GELU(),
                          nn.Conv1d(6, 4, 1, bias=False), nn.LayerNorm(9), nn.Flatten())
    path = export(model, _x((2, 3, 9)), tmp_path / "seq.onnx")
    _check_file(path)
    for batch in (2, 5):
        x = _x((batch, 3, 9), seed=batch)
        np.testing.assert_allclose(_run(path, x)[0], model(mg.tensor(x)).data, **TOL)


def test_tiny_transformer_matches_under_onnx_runtime(tmp_path):
    mg.manual_seed(5)
    model = TinyTransformer(11, 8, embed_dim=16, num_heads=2, num_layers=2)
    with mg.no_grad():
        for p in model.parameters():  # layer norms' γ and β off 1 and 0
            p.data += np.random.default_rng(6).uniform(-0.1, 0.1, p.shape).astype(p.dtype)
    tokens = np.random.default_rng(7).integers(0, 11, size=(3, 8))
    path = export(model, tokens, tmp_path / "tiny.onnx")
    _check_file(path)
    assert _initializers(path)[:len(model.state_dict())] == list(model.state_dict())
    assert {"Gather", "LayerNormalization", "Softmax", "Where", "MatMul"} <= _ops_in(path)
    for batch in (3, 1, 6):
        x = np.random.default_rng(batch).integers(0, 11, size=(batch, 8))
        np.testing.assert_allclose(_run(path, x)[0], model(x).data, **TOL)


def test_causal_self_attention_alone(tmp_path):
    mg.manual_seed(8)
    attn = nn.CausalSelfAttention(8, 4)
    path = export(attn, _x((2, 5, 8)), tmp_path / "attn.onnx")
    for batch in (2, 3):
        x = _x((batch, 5, 8), seed=batch)
        np.testing.assert_allclose(_run(path, x)[0], attn(mg.tensor(x)).data, **TOL)


def test_a_function_of_many_ops(tmp_path):
    """A function (not a Module) using the shape, reduction, elementwise and attention ops:
    its leaf parameters become initializers named after the tensors."""
    rng = np.random.default_rng(9)
    W = mg.tensor(rng.standard_normal((6, 6)).astype("float32"), requires_grad=True, name="W")
    mask = mg.tensor(np.triu(np.ones((4, 4), bool), 1))
    keep = np.tril(np.ones((4, 4), bool))
    bias = mg.tensor(rng.standard_normal((4, 4)).astype("float32"))
    positive = rng.random((4, 4)) > 0.5  # a constant mask: comparisons are not recorded ops

    def fn(x, y):
        h = x @ W                                               # (B, 4, 6)
        h = h.reshape((h.shape[0], 4, 3, 2)).transpose((0, 2, 1, 3))  # (B, 3, 4, 2)
        q = h[:, 0]
        k = h[:, 1:2].squeeze(1)
        v = mg.stack([h[:, 2], h[:, 0]], axis=1).mean(axis=1)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        b = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        c = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)
        z = mg.cat([a, b, c], axis=-1)                          # (B, 4, 6)
        z = F.masked_fill(z[:, :, :4], mask, 0.5) * 2 - z[..., 2:] / 3
        z = mg.where(positive, mg.exp(mg.clip(z, -3, 3)), mg.log(mg.abs(z) + 1))
        z = mg.maximum(z, mg.sqrt(mg.abs(z))) + mg.minimum(z, 0.1) ** 2
        s = F.softmax(z, axis=-1) + F.log_softmax(z, axis=1) + mg.tanh(-z)
        r = (s.sum(axis=-1) + s.amax(axis=2) + s.min(axis=-1).values + s.var(axis=-1, ddof=1)
             + s.std(axis=-1) + F.logsumexp(s, axis=-1))        # (B, 4)
        r = F.pad(r.unsqueeze(1), (1, 2)) + F.broadcast_to(y[:, None, None],
                                                          (y.shape[0], 1, 7))  # (B, 1, 7)
        return r.astype("float64").squeeze(1), s.mean(axis=(1, 2), keepdims=True)

    x, y = _x((3, 4, 6)), _x((3,))
    path = export(fn, (x, y), tmp_path / "fn.onnx")
    _check_file(path)
    assert "W" in _initializers(path)
    for batch in (3, 1, 5):
        xs, ys = _x((batch, 4, 6), seed=batch), _x((batch,), seed=batch + 1)
        got = _run(path, xs, ys)
        want = fn(mg.tensor(xs), mg.tensor(ys))
        assert got[0].dtype == np.float64 and got[0].shape == want[0].shape
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.data, **TOL)


def test_every_mapped_op_is_exported_by_some_test(tmp_path):
    """The models and the function above between them use every op `export` maps (so each
    mapping has been run against ONNX Runtime)."""
    mg.manual_seed(10)
    made: set[str] = set()

    def ops(f, *xs):
        out = f(*[mg.tensor(x, requires_grad=x.dtype.kind == "f") for x in xs])
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            made.update(d["op"] for _, d in mg.graph(o).nodes(data=True) if d["op"])

    cnn = _cnn().eval()
    ops(cnn, _x((2, 1, 8, 8)))
    for act in ("relu", "tanh", "sigmoid", "gelu", "softplus", "leaky_relu"):
        ops(nn.MLP([3, 4, 2], activation=act, output="softmax"), _x((2, 3)))
    ops(TinyTransformer(5, 4, embed_dim=8, num_heads=2, num_layers=1).eval(),
        np.zeros((1, 4), np.int64))
    ops(nn.Sequential(nn.Conv1d(2, 2, 1), nn.LayerNorm(3)), _x((1, 2, 3)))
    # the ops of test_a_function_of_many_ops
    made |= {"matmul", "reshape", "transpose", "getitem", "squeeze", "stack", "mean",
             "scaled_dot_product_attention", "concatenate", "masked_fill", "mul", "sub", "div",
             "where", "exp", "clip", "log", "abs", "add", "maximum", "sqrt", "minimum",
             "pow", "softmax", "log_softmax", "tanh", "neg", "sum", "max", "min", "var", "std",
             "logsumexp", "pad", "unsqueeze", "astype", "broadcast_to"}
    assert set(supported_ops()) <= made, sorted(set(supported_ops()) - made)


# --------------------------------------------------------------------------- errors and files
def test_an_op_without_a_mapping_names_the_op_and_writes_nothing(tmp_path):
    mg.manual_seed(11)
    model = nn.MLP([3, 4, 2])
    y = np.array([0, 1])
    path = tmp_path / "loss.onnx"
    with pytest.raises(ExportError) as info:
        export(lambda x: F.cross_entropy(model(x), y), _x((2, 3)), path)
    assert "'cross_entropy'" in str(info.value) and "supported ops" in str(info.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_an_unmapped_op_inside_a_module_is_named_with_its_module(tmp_path):
    class Sub(nn.Module):
        def forward(self, x):
            return F.cross_entropy(x, np.zeros(2, dtype=np.int64))

    model = nn.Sequential(nn.Linear(3, 3), Sub())
    with pytest.raises(ExportError, match=r"op 'cross_entropy' in module '1'"):
        export(model, _x((2, 3)), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_training_mode_dropout_called_explicitly_is_refused(tmp_path):
    model = nn.Linear(3, 3)
    with pytest.raises(ExportError, match="dropout"):
        export(lambda x: F.dropout(model(x), 0.5, training=True), _x((2, 3)),
               tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"earlier")
    model = nn.Linear(3, 2)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export(model, _x((2, 3)), path)
    assert path.read_bytes() == b"earlier"
    export(model, _x((2, 3)), path, overwrite=True)
    _check_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left


def test_missing_folder_and_bad_arguments(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export(model, _x((2, 3)), tmp_path / "no" / "m.onnx")
    with pytest.raises(IsADirectoryError):
        export(model, _x((2, 3)), tmp_path)
    with pytest.raises(ValueError, match="input_names needs 1 distinct names"):
        export(model, _x((2, 3)), tmp_path / "m.onnx", input_names=["a", "b"])
    with pytest.raises(TypeError, match="Module or a function"):
        export(42, _x((2, 3)), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_reshape_that_moves_the_batch_axis_needs_a_fixed_batch(tmp_path):
    W = mg.tensor(_x((3, 3)), requires_grad=True)

    def fn(x):
        return (x @ W).reshape((3, -1))  # (B, 3) → (3, B): the batch leaves the front

    with pytest.raises(ExportError, match="dynamic_batch=False"):
        export(fn, _x((2, 3)), tmp_path / "m.onnx")
    path = export(fn, _x((2, 3)), tmp_path / "m.onnx", dynamic_batch=False)
    x = _x((2, 3), seed=1)
    np.testing.assert_allclose(_run(path, x)[0], fn(mg.tensor(x)).data, **TOL)


def test_a_value_computed_outside_the_ops_is_refused(tmp_path):
    """``x > 0`` is not a recorded op: its result would be frozen into the file."""
    W = mg.tensor(_x((3, 3)), requires_grad=True)

    def fn(x):
        h = x @ W
        return mg.where(h > 0, h, h * 0.1)

    with pytest.raises(ExportError, match="op 'where'.*changes with the input values"):
        export(fn, _x((4, 3)), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_digits_cnn_matches_under_onnx_runtime(tmp_path):
    cnn = pytest.importorskip("minigrad.models.cnn")
    mg.manual_seed(12)
    model = cnn.DigitsCNN()
    path = export(model, _x((4, 1, 8, 8)), tmp_path / "cnn.onnx")
    _check_file(path)
    n = len(model.state_dict())
    assert _initializers(path)[:n] == list(model.state_dict())  # then Flatten's target shape
    for batch in (4, 1, 9):
        x = _x((batch, 1, 8, 8), seed=batch)
        np.testing.assert_allclose(_run(path, x)[0], model(mg.tensor(x)).data, **TOL)


# --------------------------------------------------------------------------- load
def _grads(out, w):
    (out * mg.tensor(w)).sum().backward()


@pytest.mark.parametrize("which", ["mlp", "cnn", "transformer"])
def test_load_gives_a_minigrad_function_with_the_same_outputs_and_gradients(tmp_path, which):
    from minigrad.onnx import load

    mg.manual_seed(13)
    if which == "mlp":
        model = nn.MLP([4, 8, 3], activation="gelu", output="softmax", dtype="float64")
        x = _x((5, 4), "float64")
    elif which == "cnn":
        model = _cnn("float64")
        model(mg.tensor(_x((8, 1, 8, 8), "float64") + 1))  # running statistics move
        model.eval()
        x = _x((3, 1, 8, 8), "float64")
    else:
        model = TinyTransformer(7, 6, embed_dim=8, num_heads=2, num_layers=1, dtype="float64")
        x = np.random.default_rng(0).integers(0, 7, size=(2, 6))
    path = export(model, x, tmp_path / "m.onnx")
    f = load(path)
    params = dict(model.named_parameters())
    assert set(f.parameters) == set(params)
    out = f(x)
    want = model(x if which == "transformer" else mg.tensor(x))
    np.testing.assert_allclose(out.data, want.data, rtol=1e-10, atol=1e-12)
    w = _x(out.shape, "float64", seed=14)
    _grads(out, w)
    model.zero_grad()
    _grads(model(x if which == "transformer" else mg.tensor(x)), w)
    for name, p in params.items():
        np.testing.assert_allclose(f.parameters[name].grad.data, p.grad.data, rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    assert mg.graph(out).number_of_nodes() > len(params)


def test_load_names_an_op_it_does_not_know(tmp_path):
    from minigrad.onnx import LoadError, load

    h = onnx.helper
    graph = h.make_graph([h.make_node("Erf", ["x"], ["y"], name="erf_1")], "g",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
    path = tmp_path / "erf.onnx"
    onnx.save(h.make_model(graph), str(path))
    with pytest.raises(LoadError, match="'erf_1' is an 'Erf' op"):
        load(path)
