r"""Saving and loading state dicts as ``.npz`` files, without pickle.

A checkpoint is a standard numpy ``.npz`` archive (a zip of ``.npy`` files) that ``np.load``
opens with ``allow_pickle=False``:

* the arrays are stored as ``arr_0.npy … arr_{n−1}.npy``, in the order of the state dict;
* their names are stored separately, as UTF-8 JSON in a uint8 array under the reserved key
  ``__minigrad_names__``, so that any string works as a name: dotted paths (``"0.weight"``),
  unicode (``"δ"``), spaces, even names that are not valid Python identifiers or file names.

Dtype and shape are kept exactly, 0-d and empty arrays included. Nothing is ever pickled, so
loading a checkpoint can never run code: a file holding pickled or object data is refused
with `CheckpointError` before anything is unpickled.

Example::

    minigrad.save(model.state_dict(), "model.npz")
    state = minigrad.load("model.npz")     # OrderedDict[str, np.ndarray]
    model.load_state_dict(state)
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from minigrad.files import write_atomic
from minigrad.tensor import Tensor

__all__ = ["save", "load", "CheckpointError", "NAMES_KEY"]

NAMES_KEY = "__minigrad_names__"
"""The reserved archive member holding the names of the arrays (UTF-8 JSON as uint8)."""

PathLike = str | os.PathLike[str]


class CheckpointError(ValueError):
    """A file that is not a readable minigrad checkpoint: empty, truncated, corrupt, not an
    ``.npz`` archive, or holding pickled/object data. The message names the path."""


# --- saving ----------------------------------------------------------------------------------


def _to_array(name: Any, value: Any) -> np.ndarray:
    if not isinstance(name, str):
        raise TypeError(f"save: state dict keys must be str, got {name!r} ({type(name).__name__})")
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
    elif isinstance(value, (bool, int, float, complex)):
        arr = np.asarray(value)
    else:
        raise TypeError(
            f"save: value of {name!r} must be a Tensor or a numpy array, got {type(value).__name__}"
        )
    if arr.dtype.hasobject:
        # object arrays can only be stored by pickling, and loading a pickle can run code
        raise TypeError(
            f"save: value of {name!r} has dtype {arr.dtype} (Python objects), which cannot be "
            f"saved without pickle; convert it to a numeric dtype"
        )
    return arr


def _write_npz(fh: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """Writes `arrays` to the open binary file `fh` as an ``.npz`` archive, never pickling.

    The same layout as ``np.savez``, written by hand because ``np.savez`` only takes
    ``allow_pickle`` from numpy 2.1 on.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            # force_zip64: the member's size is unknown when its header is written
            with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


def save(state_dict: Mapping[str, Any], path: PathLike) -> None:
    r"""Saves a state dict (name → Tensor or array) to `path` as a pickle-free ``.npz``.

    The write is atomic: the archive is written to a temporary file in the same folder,
    flushed to disk (fsync) and then renamed over `path` with `os.replace`. A crash or error
    midway leaves any previous file at `path` intact and removes the temporary file.

    Args:
        state_dict: an ordered mapping of str names to Tensors (their data is saved, not their
            gradients or history), numpy arrays or numpy/Python scalars. Order is kept.
        path: the file to write. Used exactly as given: no ``.npz`` suffix is added.

    Raises:
        TypeError: a key that is not a str, or a value that is not numeric data (e.g. an
            object array, which could only be stored with pickle).
        FileNotFoundError: the folder of `path` does not exist.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"save: expected a state dict (a mapping of names to arrays), got "
            f"{type(state_dict).__name__}"
        )
    names = list(state_dict.keys())
    arrays: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        arrays[f"arr_{i}"] = _to_array(name, state_dict[name])
    names_json = json.dumps(names, ensure_ascii=False).encode("utf-8")
    arrays[NAMES_KEY] = np.frombuffer(names_json, dtype=np.uint8)

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"save: cannot write {path!r}: the folder {folder!r} does not exist "
            f"(create it first, e.g. os.makedirs({folder!r}, exist_ok=True))"
        )
    write_atomic(path, lambda fh: _write_npz(fh, arrays), overwrite=True, op="save: ")


# --- loading ---------------------------------------------------------------------------------


def _member(path: str, npz: Any, key: str) -> np.ndarray:
    value = npz[key]
    # NpzFile hands back the raw bytes of a member that is not an .npy file
    if not isinstance(value, np.ndarray):
        raise CheckpointError(f"{path!r}: archive member {key!r} is not a .npy array")
    return value


def _read(path: str, fh: IO[bytes]) -> OrderedDict[str, np.ndarray]:
    loaded = np.load(fh, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        raise CheckpointError(
            f"{path!r} is a single .npy array of shape {loaded.shape}, not a checkpoint "
            f"(.npz archive of named arrays); save state dicts with minigrad.save"
        )
    with loaded as npz:
        keys = list(npz.files)
        if NAMES_KEY not in keys:
            # a plain np.savez(path, **arrays) archive: its keys are the names
            return OrderedDict((k, _member(path, npz, k)) for k in keys)
        raw = _member(path, npz, NAMES_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise CheckpointError(f"{path!r}: the {NAMES_KEY} entry is not a uint8 vector")
        names = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CheckpointError(f"{path!r}: the {NAMES_KEY} entry is not a list of names")
        if len(set(names)) != len(names):
            raise CheckpointError(f"{path!r}: the {NAMES_KEY} entry repeats a name")
        expected = {f"arr_{i}" for i in range(len(names))} | {NAMES_KEY}
        if set(keys) != expected:
            raise CheckpointError(
                f"{path!r}: {len(names)} names but archive members {sorted(keys)}; "
                f"the file is damaged or was not written by minigrad.save"
            )
        return OrderedDict((name, _member(path, npz, f"arr_{i}")) for i, name in enumerate(names))


def load(path: PathLike) -> OrderedDict[str, np.ndarray]:
    r"""Loads a state dict written by `save` (or a plain pickle-free ``np.savez`` archive).

    The file is read with ``np.load(..., allow_pickle=False)``: pickled data is refused before
    it is unpickled, so a malicious file cannot run code. All arrays are read into memory and
    the file is closed before returning.

    Args:
        path: the ``.npz`` file.

    Returns:
        An ``OrderedDict`` of name → numpy array, in the order they were saved, with their
        dtypes and shapes.

    Raises:
        FileNotFoundError: `path` does not exist.
        CheckpointError: (a ValueError) the file is empty, truncated, corrupt, a plain
            ``.npy``, not an ``.npz`` at all, or holds pickled/object data. The message names
            the path and the problem.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        try:
            return _read(path, fh)
        except CheckpointError:
            raise
        except EOFError as e:
            raise CheckpointError(f"{path!r} is empty or truncated: {e}") from e
        except zipfile.BadZipFile as e:
            raise CheckpointError(
                f"{path!r} is not a valid .npz archive (corrupt or truncated): {e}"
            ) from e
        except ValueError as e:
            if "pickle" in str(e) or "Object arrays" in str(e):
                raise CheckpointError(
                    f"{path!r} holds pickled (object) data, which minigrad refuses to load "
                    f"because unpickling can run arbitrary code"
                ) from e
            raise CheckpointError(f"{path!r} is not a readable checkpoint: {e}") from e
        except (OSError, KeyError, zipfile.LargeZipFile, zlib.error) as e:
            raise CheckpointError(
                f"{path!r} is not a readable checkpoint ({type(e).__name__}: {e})"
            ) from e
