"""Tests for minigrad.data: built-in data sets, train_test_split and DataLoader."""

import numpy as np
import pytest

import minigrad
from minigrad import data

# (name, function, kwargs, expected n, expected n_classes, n_features)
DATASETS = [
    ("spirals", data.spirals, {}, 300, 3, 2),
    ("spirals-5x7", data.spirals, {"n_classes": 5, "n_per_class": 7}, 35, 5, 2),
    ("moons", data.moons, {}, 200, 2, 2),
    ("moons-odd", data.moons, {"n": 11}, 11, 2, 2),
    ("circles", data.circles, {}, 200, 2, 2),
    ("xor", data.xor, {}, 200, 2, 2),
    ("xor-table", data.xor, {"n": 4}, 4, 2, 2),
    ("blobs", data.blobs, {}, 200, 3, 2),
    ("blobs-5d", data.blobs, {"n": 50, "centers": 4, "n_features": 5}, 50, 4, 5),
]
IDS = [d[0] for d in DATASETS]


@pytest.mark.parametrize("name,fn,kw,n,k,d", DATASETS, ids=IDS)
def test_shapes_dtypes_labels(name, fn, kw, n, k, d):
    X, y = fn(**kw)
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.shape == (n, d)
    assert y.shape == (n,)
    assert X.dtype == np.float64
    assert y.dtype == np.int64
    assert set(np.unique(y)) == set(range(k))
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("name,fn,kw,n,k,d", DATASETS, ids=IDS)
def test_class_balance(name, fn, kw, n, k, d):
    _, y = fn(**kw)
    counts = np.bincount(y, minlength=k)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("dtype", ["float32", np.float32, np.float16], ids=str)
@pytest.mark.parametrize("name,fn,kw,n,k,d", DATASETS, ids=IDS)
def test_dtype_argument(name, fn, kw, n, k, d, dtype):
    X, y = fn(**kw, dtype=dtype)
    assert X.dtype == np.dtype(dtype)
    assert y.dtype == np.int64
    X64, _ = fn(**kw)
    np.testing.assert_allclose(X, X64, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("fn", [data.spirals, data.moons, data.circles, data.xor, data.blobs])
def test_integer_dtype_refused(fn):
    with pytest.raises(TypeError, match="dtype"):
        fn(dtype="int64")


@pytest.mark.parametrize("name,fn,kw,n,k,d", DATASETS, ids=IDS)
def test_seed_reproducible(name, fn, kw, n, k, d):
    X1, y1 = fn(**kw, seed=123)
    X2, y2 = fn(**kw, seed=123)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize(
    "name,fn,kw,n,k,d",
    [c for c in DATASETS if c[0] != "xor-table"],
    ids=[i for i in IDS if i != "xor-table"],
)
def test_different_seeds_differ(name, fn, kw, n, k, d):
    X1, _ = fn(**kw, seed=1)
    X2, _ = fn(**kw, seed=2)
    assert not np.array_equal(X1, X2)


def test_default_seed_is_zero():
    np.testing.assert_array_equal(data.moons()[0], data.moons(seed=0)[0])


def test_datasets_do_not_touch_global_generator():
    minigrad.manual_seed(7)
    a = minigrad.randn(3).data
    minigrad.manual_seed(7)
    data.spirals(seed=5)
    data.blobs(seed=5)
    b = minigrad.randn(3).data
    np.testing.assert_array_equal(a, b)


def test_xor_truth_table():
    X, y = data.xor(n=4)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])


def test_xor_labels_match_nearest_corner():
    X, y = data.xor(n=400, noise=0.1)
    corner = (X > 0.5).astype(int)
    np.testing.assert_array_equal(corner[:, 0] ^ corner[:, 1], y)


def test_noise_zero_is_exact_geometry():
    X, y = data.circles(n=100, noise=0.0, factor=0.3)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)
    X, y = data.moons(n=50, noise=0.0)
    np.testing.assert_allclose(np.linalg.norm(X[y == 0], axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(X[y == 1] - [1.0, 0.5], axis=1), 1.0)


def test_spirals_radius_grows_along_each_arm():
    X, y = data.spirals(n_classes=3, n_per_class=50, noise=0.0)
    for j in range(3):
        r = np.linalg.norm(X[y == j], axis=1)
        np.testing.assert_allclose(r, np.linspace(0, 1, 50), atol=1e-12)


def test_blobs_explicit_centers():
    centers = np.array([[0.0, 0.0, 0.0], [100.0, 100.0, 100.0]])
    X, y = data.blobs(n=40, centers=centers, std=0.5)
    assert X.shape == (40, 3)
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [100, 100, 100], atol=1.0)
    with pytest.raises(ValueError, match="centers"):
        data.blobs(centers=np.zeros(3))


BAD_ARGS = [
    (data.spirals, {"n_classes": 0}, "n_classes"),
    (data.spirals, {"n_per_class": -1}, "n_per_class"),
    (data.spirals, {"noise": -0.1}, "noise"),
    (data.moons, {"n": 0}, "n"),
    (data.moons, {"noise": -1}, "noise"),
    (data.moons, {"noise": float("nan")}, "noise"),
    (data.circles, {"n": -5}, "n"),
    (data.circles, {"factor": 1.0}, "factor"),
    (data.circles, {"factor": 0.0}, "factor"),
    (data.circles, {"noise": -0.01}, "noise"),
    (data.xor, {"n": 0}, "n"),
    (data.xor, {"noise": -2.0}, "noise"),
    (data.blobs, {"n": 0}, "n"),
    (data.blobs, {"centers": 0}, "centers"),
    (data.blobs, {"std": -1.0}, "std"),
    (data.blobs, {"n_features": 0}, "n_features"),
    (data.moons, {"seed": -1}, "seed"),
]


@pytest.mark.parametrize(
    "fn,kw,argname", BAD_ARGS, ids=[f"{f.__name__}-{k}" for f, k, _ in BAD_ARGS]
)
def test_bad_arguments_raise_value_error_naming_argument(fn, kw, argname):
    with pytest.raises(ValueError) as info:
        fn(**kw)
    msg = str(info.value)
    assert argname in msg
    assert repr(next(iter(kw.values()))) in msg


@pytest.mark.parametrize("kw", [{"n": 2.5}, {"n": True}, {"noise": "0.1"}], ids=str)
def test_wrong_types_raise_type_error(kw):
    with pytest.raises(TypeError):
        data.moons(**kw)


# --- train_test_split ------------------------------------------------------------------------


def test_split_sizes_and_partition():
    X = np.arange(100, dtype=np.float64).reshape(50, 2)
    y = np.arange(50)
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, seed=0)
    assert X_tr.shape == (40, 2) and X_te.shape == (10, 2)
    assert y_tr.shape == (40,) and y_te.shape == (10,)
    # rows stay paired with their labels, and the two parts partition the data
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)
    np.testing.assert_array_equal(X_te[:, 0], 2 * y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(50))


def test_split_rounds_test_part_up():
    X, y = np.zeros((10, 1)), np.arange(10)
    _, X_te, _, _ = data.train_test_split(X, y, test_size=0.25)
    assert len(X_te) == 3


def test_split_seeding():
    X, y = data.moons(n=60)
    a = data.train_test_split(X, y, seed=3)
    b = data.train_test_split(X, y, seed=3)
    c = data.train_test_split(X, y, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])


@pytest.mark.parametrize("stratify", ["true", "array"])
def test_split_stratified_keeps_proportions(stratify):
    X, y = data.spirals(n_classes=3, n_per_class=40)
    strat = True if stratify == "true" else y
    _, _, y_tr, y_te = data.train_test_split(X, y, test_size=0.25, stratify=strat, seed=1)
    np.testing.assert_array_equal(np.bincount(y_te), [10, 10, 10])
    np.testing.assert_array_equal(np.bincount(y_tr), [30, 30, 30])
    # classes are mixed, not left in blocks
    assert not np.all(np.diff(y_te) >= 0)


def test_split_accepts_tensors():
    X, y = data.moons(n=20)
    X_tr, X_te, y_tr, y_te = data.train_test_split(minigrad.tensor(X, dtype="float64"), y)
    assert isinstance(X_tr, np.ndarray) and X_tr.dtype == np.float64
    assert len(X_tr) + len(X_te) == 20


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.5, 1.5], ids=str)
def test_split_bad_test_size(test_size):
    X, y = data.moons(n=20)
    with pytest.raises(ValueError, match=rf"test_size.*{test_size}"):
        data.train_test_split(X, y, test_size=test_size)


def test_split_mismatched_lengths():
    with pytest.raises(ValueError, match=r"len\(X\)=10.*len\(y\)=9"):
        data.train_test_split(np.zeros((10, 2)), np.zeros(9))


def test_split_would_leave_empty_part():
    with pytest.raises(ValueError, match="at least one sample"):
        data.train_test_split(np.zeros((1, 2)), np.zeros(1), test_size=0.5)


def test_split_bad_stratify_length():
    with pytest.raises(ValueError, match="stratify"):
        data.train_test_split(np.zeros((10, 2)), np.zeros(10), stratify=np.zeros(3))


# --- DataLoader ------------------------------------------------------------------------------


def _epoch_labels(loader):
    return np.concatenate([yb.data for _, yb in loader])


def test_loader_yields_tensors_with_paired_rows():
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10)
    for xb, yb in data.DataLoader(X, y, batch_size=4):
        assert isinstance(xb, minigrad.Tensor) and isinstance(yb, minigrad.Tensor)
        assert not xb.requires_grad
        np.testing.assert_array_equal(xb.data[:, 0], 2 * yb.data)


@pytest.mark.parametrize("n,bs", [(10, 3), (10, 5), (10, 10), (10, 32), (1, 1), (7, 1)])
def test_loader_covers_every_sample_once_per_epoch(n, bs):
    X, y = np.zeros((n, 3)), np.arange(n)
    loader = data.DataLoader(X, y, batch_size=bs)
    assert len(loader) == -(-n // bs)
    for _ in range(3):
        batches = list(loader)
        assert len(batches) == len(loader)
        assert all(len(yb) == bs for _, yb in batches[:-1])
        assert sorted(_epoch_labels(loader).tolist()) == list(range(n))


def test_loader_new_order_each_epoch_and_reproducible():
    X, y = np.zeros((50, 1)), np.arange(50)
    loader = data.DataLoader(X, y, batch_size=8, seed=11)
    orders = [_epoch_labels(loader) for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    again = data.DataLoader(X, y, batch_size=8, seed=11)
    for o in orders:
        np.testing.assert_array_equal(_epoch_labels(again), o)
    other = data.DataLoader(X, y, batch_size=8, seed=12)
    assert not np.array_equal(_epoch_labels(other), orders[0])


def test_loader_independent_of_global_seed():
    X, y = np.zeros((30, 1)), np.arange(30)
    minigrad.manual_seed(0)
    a = _epoch_labels(data.DataLoader(X, y, seed=5))
    minigrad.manual_seed(99)
    b = _epoch_labels(data.DataLoader(X, y, seed=5))
    np.testing.assert_array_equal(a, b)


def test_loader_no_shuffle_keeps_order():
    X, y = np.zeros((10, 1)), np.arange(10)
    loader = data.DataLoader(X, y, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(_epoch_labels(loader), np.arange(10))
    np.testing.assert_array_equal(_epoch_labels(loader), np.arange(10))


def test_loader_drop_last():
    X, y = np.zeros((10, 1)), np.arange(10)
    loader = data.DataLoader(X, y, batch_size=4, drop_last=True)
    assert len(loader) == 2
    for _ in range(2):
        batches = list(loader)
        assert [len(yb) for _, yb in batches] == [4, 4]
        assert len(np.unique(_epoch_labels(loader))) == 8
    assert len(data.DataLoader(X, y, batch_size=20, drop_last=True)) == 0
    assert list(data.DataLoader(X, y, batch_size=20, drop_last=True)) == []


def test_loader_dtype():
    X, y = data.moons(n=10)
    xb, yb = next(iter(data.DataLoader(X, y, dtype="float32")))
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    xb, _ = next(iter(data.DataLoader(X, y)))
    assert xb.dtype == np.float64


def test_loader_batches_do_not_alias_data():
    X, y = np.zeros((4, 2)), np.arange(4)
    loader = data.DataLoader(X, y, batch_size=4, shuffle=False)
    xb, _ = next(iter(loader))
    xb.data[:] = 1.0
    assert np.all(loader.X == 0)


@pytest.mark.parametrize("bs", [0, -3])
def test_loader_bad_batch_size(bs):
    with pytest.raises(ValueError, match=rf"batch_size={bs}"):
        data.DataLoader(np.zeros((4, 2)), np.zeros(4), batch_size=bs)


def test_loader_mismatched_lengths():
    with pytest.raises(ValueError, match=r"len\(X\)=4.*len\(y\)=5"):
        data.DataLoader(np.zeros((4, 2)), np.zeros(5))


def test_public_access_from_package():
    assert minigrad.data is data
