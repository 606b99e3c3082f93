"""Writing pictures safely: one file, written atomically, never clobbered by accident (the
writer all of minigrad shares, `minigrad.files`), and Graphviz's `dot` run without a shell and
with a timeout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from minigrad.files import check_destination, write_atomic

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
