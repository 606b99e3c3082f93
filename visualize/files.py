"""Writing pictures safely: one file, written atomically, never clobbered by accident, and
Graphviz's `dot` run without a shell and with a timeout.

A file is first written to a temporary name in the destination folder and then moved into
place with one rename, so a reader (a browser reloading the SVG, a notebook) never sees half a
file and an interrupted render leaves no partial file behind. When overwriting is not allowed
the final step is a hard link, which fails atomically if the name was taken in the meantime.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = [
    "INSTALL_HINT",
    "GraphvizNotFound",
    "check_destination",
    "find_dot",
    "run_dot",
    "write_atomic",
]

INSTALL_HINT = (
    "Install Graphviz, then run again:\n"
    "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "  Fedora:         sudo dnf install graphviz\n"
    "  conda:          conda install -c conda-forge graphviz\n"
    "  Homebrew:       brew install graphviz"
)


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` program is not on PATH.

    Attributes:
        dot_path: where the DOT source was saved instead (None if it could not be).
    """

    def __init__(self, message: str, dot_path: Path | None = None) -> None:
        super().__init__(message)
        self.dot_path = dot_path


def find_dot() -> str | None:
    """The path of the `dot` program, or None."""
    return shutil.which("dot")


def check_destination(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """`path` as a Path, after checking that its folder exists and is writable and that it
    may be written.

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
        raise IsADirectoryError(f"{p} is a folder; give a file name such as {p / 'graph.svg'}")
    if not parent.exists():
        raise FileNotFoundError(
            f"cannot write {p}: the folder {parent} does not exist (create it first, e.g. "
            f"mkdir -p {parent})"
        )
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {p}: the folder {parent} is not writable")
    if p.exists() and not overwrite:
        raise FileExistsError(
            f"{p} already exists; pass overwrite=True to replace it, or choose another name"
        )
    return p


def write_atomic(path: Path, data: bytes, overwrite: bool) -> Path:
    """Writes `data` to `path` through a temporary file in the same folder.

    Raises:
        FileExistsError: `path` exists (or appeared meanwhile) and `overwrite` is False.
        PermissionError: the folder is not writable.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except PermissionError as e:
        raise PermissionError(f"cannot write {path}: the folder {path.parent} is not writable "
                              f"({e.strerror})") from e
    except OSError as e:
        if e.errno == errno.EROFS:
            raise PermissionError(
                f"cannot write {path}: {path.parent} is on a read-only file system"
            ) from e
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); a picture gets the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_exclusive(Path(tmp), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def _publish_exclusive(tmp: Path, path: Path) -> None:
    """Moves `tmp` to `path` only if `path` does not exist, atomically where links work."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True to replace it, or choose another name"
        ) from None
    except OSError:
        # file systems without hard links (some network and FAT mounts): check, then rename
        if path.exists():
            raise FileExistsError(
                f"{path} already exists; pass overwrite=True to replace it"
            ) from None
        os.replace(tmp, path)


def run_dot(source: str, fmt: str, timeout: float, *, dot: str | None = None) -> bytes:
    """Runs ``dot -T<fmt>`` on `source` (through stdin, no shell) and returns its output.

    Raises:
        GraphvizNotFound: `dot` is not on PATH.
        TimeoutError: dot took longer than `timeout` seconds (it is killed).
        RuntimeError: dot failed; the message carries its error output.
    """
    exe = dot or find_dot()
    if exe is None:
        raise GraphvizNotFound("Graphviz's `dot` program was not found on PATH.\n" + INSTALL_HINT)
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(
            f"Graphviz's dot did not finish within {timeout:g} s. Draw a smaller graph: "
            f"collapse='module' or a lower max_nodes, or raise timeout="
        ) from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"Graphviz's dot failed (exit code {proc.returncode}):\n{err}")
    return proc.stdout
