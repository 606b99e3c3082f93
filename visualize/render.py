"""`render`: save a diagram as .svg, .png, .pdf or .dot, as exactly one file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import graphviz

from .diagram import draw
from .files import (
    INSTALL_HINT,
    GraphvizNotFound,
    check_destination,
    find_dot,
    run_dot,
    write_atomic,
)

__all__ = ["render", "FORMATS"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def render(
    output: Any,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    timeout: float = 60,
    **draw_options: Any,
) -> Path:
    """Draws `output`'s graph (see `visualize.draw`) and saves it to `path`.

    The format comes from the suffix: ``.svg``, ``.png``, ``.pdf``, or ``.dot`` (the DOT
    source, which needs no Graphviz). Exactly one file is written (no ``.gv`` source left
    beside it), atomically: it appears complete or not at all. Graphviz's ``dot`` runs
    without a shell, reading the source from stdin, and is killed after `timeout` seconds.

    Args:
        output: the tensor to draw, or an already drawn `graphviz.Digraph`.
        path: where to save; its folder must exist.
        overwrite: replace an existing file (otherwise that is an error).
        timeout: seconds to wait for ``dot``.
        **draw_options: passed to `visualize.draw` (model, show, direction, title, backward,
            color_by, collapse, max_nodes).

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix.
        FileExistsError: `path` exists and `overwrite` is False.
        FileNotFoundError, NotADirectoryError, PermissionError: the folder is missing, not a
            folder, or read-only.
        GraphvizNotFound: ``dot`` is not installed. The DOT source is then saved beside
            `path` (same name, suffix ``.dot``) and the message says how to install Graphviz.
        TimeoutError: ``dot`` took longer than `timeout`.
    """
    p = Path(path).expanduser()
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"render(): cannot tell the format from {p.name!r}; use a name ending in "
            f"{', '.join(s for s in FORMATS if s != '.gv')}"
        )
    p = check_destination(p, overwrite)
    if isinstance(output, (graphviz.Digraph, graphviz.Graph)):
        if draw_options:
            raise TypeError(
                f"render(): draw options {sorted(draw_options)} apply to a tensor, not to an "
                f"already drawn Digraph"
            )
        source = output.source
    else:
        source = draw(output, **draw_options).source
    if fmt == "dot":
        return write_atomic(p, source.encode("utf-8"), overwrite)
    dot = find_dot()
    if dot is None:
        raise _missing_dot(p, source, overwrite)
    data = run_dot(source, fmt, timeout, dot=dot)
    return write_atomic(p, data, overwrite)


def _missing_dot(p: Path, source: str, overwrite: bool) -> GraphvizNotFound:
    """Saves the DOT source beside `p` and returns the error that says so."""
    dot_path = p.with_suffix(".dot")
    try:
        check_destination(dot_path, overwrite)
        write_atomic(dot_path, source.encode("utf-8"), overwrite)
    except OSError as e:
        return GraphvizNotFound(
            f"Graphviz's `dot` program was not found on PATH, so {p.name} could not be drawn, "
            f"and the DOT source could not be saved either: {e}\n{INSTALL_HINT}",
            None,
        )
    return GraphvizNotFound(
        f"Graphviz's `dot` program was not found on PATH, so {p.name} could not be drawn. "
        f"The DOT source was saved to {dot_path} instead; after installing Graphviz, "
        f"`dot -T{p.suffix.lstrip('.').lower()} {dot_path.name} -o {p.name}` draws it.\n"
        f"{INSTALL_HINT}",
        dot_path,
    )
