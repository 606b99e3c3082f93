"""Tests for minigrad.io: pickle-free, atomic save/load of state dicts."""

import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minigrad
from minigrad import io as mio
from minigrad.io import NAMES_KEY, CheckpointError, load, save


def _assert_same(loaded, expected):
    assert isinstance(loaded, OrderedDict)
    assert list(loaded.keys()) == list(expected.keys())
    for name, value in expected.items():
        want = value.data if isinstance(value, minigrad.Tensor) else np.asarray(value)
        got = loaded[name]
        assert isinstance(got, np.ndarray), name
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def _files(folder):
    return sorted(os.listdir(folder))


# --- round trips -----------------------------------------------------------------------------


def test_round_trip_names_dtypes_shapes(tmp_path):
    rng = np.random.default_rng(0)
    state = OrderedDict(
        [
            ("0.weight", rng.standard_normal((3, 2)).astype(np.float32)),
            ("0.bias", rng.standard_normal(3)),
            ("layers.10.running_mean", np.arange(4, dtype=np.int64)),
            ("δ", np.array([1.5, -2.0], dtype=np.float64)),
            ("W_k ↦ h_k", np.ones((2, 2), dtype=np.int32)),
            ("not an identifier!", np.array(3.25)),  # 0-d
            ("step", np.array(7, dtype=np.int64)),  # 0-d int
            ("empty", np.zeros((0, 5), dtype=np.float32)),
            ("empty1d", np.zeros(0, dtype=np.int16)),
            ("", np.array([True, False])),  # empty name, bool
            ("arr_0", np.array([9.0])),  # collides with the storage key names
            (NAMES_KEY, np.array([1, 2], dtype=np.uint8)),  # even the reserved key
            ("a/b\\c:d*?.npy", np.array([1e300, -np.inf, np.nan])),
            ("half", np.array([1.0, 2.0], dtype=np.float16)),
            ("uint", np.array([0, 2**64 - 1], dtype=np.uint64)),
            ("complex", np.array([1 + 2j])),
            ("fortran", np.asfortranarray(np.arange(6.0).reshape(2, 3))),
            ("strided", np.arange(10.0)[::3]),
        ]
    )
    path = tmp_path / "ckpt.npz"
    save(state, path)
    _assert_same(load(path), state)


def test_round_trip_keeps_order(tmp_path):
    names = [f"p{i}" for i in (5, 1, 9, 0, 3, 12, 2)]
    state = OrderedDict((n, np.array([float(i)])) for i, n in enumerate(names))
    save(state, tmp_path / "m.npz")
    assert list(load(tmp_path / "m.npz")) == names


def test_tensor_values_saved_as_data(tmp_path):
    w = minigrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (w * w).sum().backward()
    state = OrderedDict([("w", w), ("b", minigrad.zeros(2, dtype="float64"))])
    save(state, tmp_path / "t.npz")
    loaded = load(tmp_path / "t.npz")
    assert loaded["w"].dtype == np.float32
    np.testing.assert_array_equal(loaded["w"], w.data)
    assert loaded["b"].dtype == np.float64


def test_scalars_accepted(tmp_path):
    save({"a": 3, "b": 2.5, "c": np.float32(1.25), "d": True}, tmp_path / "s.npz")
    loaded = load(tmp_path / "s.npz")
    assert loaded["a"].shape == () and loaded["a"] == 3
    assert loaded["c"].dtype == np.float32


def test_empty_state_dict(tmp_path):
    save({}, tmp_path / "e.npz")
    assert load(tmp_path / "e.npz") == OrderedDict()


def test_path_used_exactly_no_suffix_added(tmp_path):
    save({"a": np.ones(1)}, tmp_path / "model.ckpt")
    save({"a": np.ones(1)}, str(tmp_path / "plain"))
    assert _files(tmp_path) == ["model.ckpt", "plain"]
    assert load(str(tmp_path / "plain"))["a"][0] == 1.0


def test_file_is_a_standard_npz_loadable_without_pickle(tmp_path):
    save({"x.y": np.arange(3)}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(["arr_0", NAMES_KEY])
        np.testing.assert_array_equal(npz["arr_0"], [0, 1, 2])
        assert npz[NAMES_KEY].dtype == np.uint8


def test_plain_savez_archive_loads_with_its_keys(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(2), b=np.zeros(1))
    loaded = load(tmp_path / "plain.npz")
    assert set(loaded) == {"w", "b"}


def test_load_closes_file(tmp_path):
    save({"a": np.ones(3)}, tmp_path / "c.npz")
    with _NoResourceWarning():
        for _ in range(5):
            load(tmp_path / "c.npz")
    # closed handles let the file be removed and replaced right away (matters on Windows)
    os.remove(tmp_path / "c.npz")


class _NoResourceWarning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", ResourceWarning)

    def __exit__(self, *exc):
        import gc

        gc.collect()
        return self._cm.__exit__(*exc)


def test_saved_file_permissions_follow_umask(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0o022)
    try:
        save({"a": np.ones(1)}, tmp_path / "p.npz")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "p.npz").st_mode & 0o777) == 0o644


# --- refused inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        {1: np.ones(1)},
        {("a", "b"): np.ones(1)},
        {"a": np.array([object()], dtype=object)},
        {"a": np.array([[1], [1, 2]], dtype=object)},
        {"a": [1.0, 2.0]},
        {"a": "text"},
        {"a": None},
    ],
    ids=["int-key", "tuple-key", "object-array", "ragged-object", "list", "str", "none"],
)
def test_save_refuses_bad_keys_and_values(tmp_path, state):
    with pytest.raises(TypeError):
        save(state, tmp_path / "bad.npz")
    assert _files(tmp_path) == []


def test_save_refuses_non_mapping(tmp_path):
    with pytest.raises(TypeError, match="mapping"):
        save([np.ones(1)], tmp_path / "bad.npz")


def test_save_missing_folder(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "m.npz"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        save({"a": np.ones(1)}, target)
    assert str(tmp_path / "no" / "such" / "dir") in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")


# --- malicious and broken files --------------------------------------------------------------


class _Evil:
    """Unpickling this creates the marker file: proof that the payload ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _check_payload_is_real(payload, marker):
    # sanity check of the test itself: an unguarded pickle.loads does run the payload
    f = pickle.loads(payload)
    f.close()
    assert os.path.exists(marker)
    os.remove(marker)


def test_raw_pickle_file_refused_and_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Evil(marker))
    _check_payload_is_real(payload, marker)
    path = tmp_path / "evil.npz"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="pickle") as info:
        load(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_npz_with_object_array_refused_and_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.npz"
    arr = np.empty(1, dtype=object)
    arr[0] = _Evil(marker)
    np.savez(path, arr_0=arr, **{NAMES_KEY: np.frombuffer(b'["w"]', dtype=np.uint8)})
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="pickle") as info:
        load(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_plain_savez_with_object_array_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil2.npz"
    arr = np.empty(2, dtype=object)
    arr[1] = _Evil(marker)
    np.savez(path, w=arr)
    with pytest.raises(CheckpointError, match="pickle"):
        load(path)
    assert not marker.exists()


def test_npy_with_object_array_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = _Evil(marker)
    np.save(path, arr, allow_pickle=True)
    with pytest.raises(CheckpointError):
        load(path)
    assert not marker.exists()


def _valid_checkpoint_bytes(tmp_path):
    save({"w": np.arange(1000, dtype=np.float64), "b": np.ones(3)}, tmp_path / "good.npz")
    return (tmp_path / "good.npz").read_bytes()


BROKEN = {
    "empty": lambda good: b"",
    "random-bytes": lambda good: np.random.default_rng(0).bytes(512),
    "text": lambda good: b"hello, this is not a checkpoint\n",
    "truncated-half": lambda good: good[: len(good) // 2],
    "truncated-header": lambda good: good[:10],
    "truncated-tail": lambda good: good[:-5],
    "zip-magic-only": lambda good: b"PK\x03\x04",
    "corrupt-middle": lambda good: good[:200] + b"\xff" * 64 + good[264:],
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_file_gives_checkpoint_error_naming_path(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    path.write_bytes(BROKEN[kind](_valid_checkpoint_bytes(tmp_path)))
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_plain_npy_gives_checkpoint_error(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones((2, 3)))
    with pytest.raises(CheckpointError, match=r"\.npy") as info:
        load(path)
    assert str(path) in str(info.value)


def test_zip_that_is_not_npz(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError):
        load(path)


@pytest.mark.parametrize(
    "names",
    [b'["a", "b"]', b'{"a": 1}', b"[1]", b"not json", b"\xff\xfe", b'["a", "a"]'],
    ids=["count-mismatch", "dict", "non-str", "bad-json", "bad-utf8", "duplicate"],
)
def test_damaged_name_table(tmp_path, names):
    path = tmp_path / "d.npz"
    np.savez(path, arr_0=np.ones(1), **{NAMES_KEY: np.frombuffer(names, dtype=np.uint8)})
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert str(path) in str(info.value)


# --- atomicity -------------------------------------------------------------------------------


def test_existing_file_replaced(tmp_path):
    path = tmp_path / "m.npz"
    save({"a": np.zeros(2)}, path)
    save({"b": np.ones(3, dtype=np.float32)}, path)
    loaded = load(path)
    assert list(loaded) == ["b"]
    assert loaded["b"].dtype == np.float32
    assert _files(tmp_path) == ["m.npz"]


def test_replace_is_a_rename_of_a_complete_file(tmp_path, monkeypatch):
    """At the moment of os.replace the temp file is complete, synced, in the same folder."""
    path = tmp_path / "m.npz"
    save({"old": np.zeros(1)}, path)
    seen = {}
    real_replace, real_fsync = os.replace, os.fsync
    synced = []

    def spy_fsync(fd):
        synced.append(fd)
        return real_fsync(fd)

    def spy_replace(src, dst):
        seen["src"], seen["dst"] = src, dst
        seen["synced_before"] = len(synced)
        seen["complete"] = list(load(src)) == ["new"]
        assert list(load(dst)) == ["old"]  # old file still intact until the rename
        return real_replace(src, dst)

    monkeypatch.setattr(mio.os, "replace", spy_replace)
    monkeypatch.setattr(mio.os, "fsync", spy_fsync)
    save({"new": np.ones(1)}, path)
    assert os.path.dirname(seen["src"]) == str(tmp_path)
    assert os.fspath(seen["dst"]) == str(path)
    assert seen["synced_before"] >= 1 and seen["complete"]
    assert list(load(path)) == ["new"]
    assert _files(tmp_path) == ["m.npz"]


class _Crash(RuntimeError):
    pass


def _crash_after_partial_write(fh, arrays):
    fh.write(b"PK\x03\x04 partial garbage")
    fh.flush()
    raise _Crash("disk on fire")


def test_crash_mid_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    old = OrderedDict([("w", np.arange(5.0))])
    save(old, path)
    before = path.read_bytes()
    monkeypatch.setattr(mio, "_write_npz", _crash_after_partial_write)
    with pytest.raises(_Crash):
        save({"w": np.zeros(5)}, path)
    assert path.read_bytes() == before
    _assert_same(load(path), old)
    assert _files(tmp_path) == ["m.npz"]


def test_crash_in_numpy_writer_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save({"w": np.arange(5.0)}, path)
    before = path.read_bytes()
    calls = []
    real = np.lib.format.write_array

    def flaky_write_array(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first member is already written
            raise OSError(28, "No space left on device")
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", flaky_write_array)
    with pytest.raises(OSError, match="No space"):
        save({"a": np.ones(100), "b": np.ones(100)}, path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["m.npz"]


def test_crash_during_fsync_or_replace(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("I/O error")

    monkeypatch.setattr(mio.os, "replace", boom)
    with pytest.raises(OSError):
        save({"w": np.zeros(3)}, path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["m.npz"]


def test_keyboard_interrupt_mid_write_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"

    def interrupted(fh, arrays):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(mio, "_write_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save({"w": np.zeros(3)}, path)
    assert _files(tmp_path) == []


def test_refused_value_writes_nothing(tmp_path):
    path = tmp_path / "m.npz"
    save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save({"w": np.ones(3), "bad": np.array([None], dtype=object)}, path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["m.npz"]


def test_saving_onto_a_directory_fails_cleanly(tmp_path):
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError):
        save({"w": np.ones(1)}, tmp_path / "adir")
    assert _files(tmp_path) == ["adir"]


def test_exported_at_package_level():
    assert minigrad.save is save
    assert minigrad.load is load
    assert issubclass(CheckpointError, ValueError)
