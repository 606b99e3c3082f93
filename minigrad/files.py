"""Writing a file atomically: the one writer behind checkpoints, ONNX files and pictures.

A file is first written to a temporary name in the destination folder, flushed to disk
(fsync), and then moved into place with one rename, so a reader (a browser reloading an SVG,
a training script reading a checkpoint) never sees half a file, and an error or interrupt
midway leaves the file that was there before exactly as it was and no temporary file behind.
When overwriting is not allowed the final step is a hard link, which fails atomically if the
name was taken in the meantime.

This module imports nothing from minigrad, so every part of it (`io`, `onnx`, `visualize`)
can use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["check_destination", "write_atomic"]

Writer = Callable[[IO[bytes]], None]
"""Writes a file's content to the open binary file it is given."""


def _exists_message(path: Path, op: str) -> str:
    return (f"{op}{path} already exists; pass overwrite=True to replace it, or choose another "
            f"name")


def check_destination(path: str | os.PathLike[str], overwrite: bool, *, op: str = "",
                      example: str = "graph.svg") -> Path:
    """`path` as a Path, after checking that its folder exists and is writable and that it
    may be written.

    Args:
        path: the file to write; ``~`` is expanded.
        overwrite: whether an existing file may be replaced.
        op: what is writing, as a prefix of the error messages (``"export: "``).
        example: a file name that the error for a folder given as `path` suggests.

    Raises:
        FileExistsError: the file exists and `overwrite` is False.
        FileNotFoundError: the folder does not exist.
        NotADirectoryError: the folder is a file.
        PermissionError: the folder is not writable.
        IsADirectoryError: `path` is a folder.
    """
    p = Path(path).expanduser()
    parent = p.parent
    if p.is_dir():
        raise IsADirectoryError(f"{op}{p} is a folder; give a file name such as {p / example}")
    if not parent.exists():
        raise FileNotFoundError(
            f"{op}cannot write {p}: the folder {parent} does not exist (create it first, e.g. "
            f"mkdir -p {parent})"
        )
    if not parent.is_dir():
        raise NotADirectoryError(f"{op}cannot write {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{op}cannot write {p}: the folder {parent} is not writable")
    if p.exists() and not overwrite:
        raise FileExistsError(_exists_message(p, op))
    return p


def write_atomic(path: str | os.PathLike[str], data: bytes | Writer, overwrite: bool, *,
                 op: str = "") -> Path:
    """Writes `data` to `path` through a temporary file in the same folder.

    The temporary file is flushed to disk (fsync), given the permissions a plain
    ``open(path, "w")`` would give, and renamed over `path` (``os.replace``); without
    `overwrite` it is hard-linked to `path` instead, which fails if the name exists. The
    rename itself is then made durable (fsync of the folder, where folders can be opened).
    On any error, or an interrupt, the temporary file is removed and `path` is untouched.

    Args:
        path: the file to write.
        data: the bytes to write, or a function that writes them to the open binary file
            it is given (for content streamed by a library, such as a zip archive).
        overwrite: whether an existing file may be replaced.
        op: what is writing, as a prefix of the error messages (``"export: "``).

    Returns:
        `path`, as a Path.

    Raises:
        FileExistsError: `path` exists (or appeared meanwhile) and `overwrite` is False.
        PermissionError: the folder is not writable.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except PermissionError as e:
        raise PermissionError(f"{op}cannot write {path}: the folder {path.parent} is not "
                              f"writable ({e.strerror})") from e
    except OSError as e:
        if e.errno == errno.EROFS:
            raise PermissionError(
                f"{op}cannot write {path}: {path.parent} is on a read-only file system"
            ) from e
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode())
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_exclusive(Path(tmp), path, op)
    finally:
        # after a rename there is nothing left to remove; after a link, the temporary name
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def _new_file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give (mkstemp's are 0600)."""
    # umask can only be read by setting it; 0o077 is the safe value to hold for an instant
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def _publish_exclusive(tmp: Path, path: Path, op: str) -> None:
    """Moves `tmp` to `path` only if `path` does not exist, atomically where links work."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(_exists_message(path, op)) from None
    except OSError:
        # file systems without hard links (some network and FAT mounts): check, then rename
        if path.exists():
            raise FileExistsError(_exists_message(path, op)) from None
        os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    """Makes the rename itself durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the data itself is already synced
    finally:
        os.close(fd)
