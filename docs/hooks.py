"""Build hook for mkdocs: fills the placeholders of the reference pages from the code itself.

- ``<!-- registry-table -->``: one row per built-in op of ``minigrad.REGISTRY`` (forward
  formula, the VJP label of each input, description).
- ``<!-- cli-help -->``: the ``--help`` text of ``minigrad`` and each of its subcommands.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
from typing import Any

REGISTRY_MARK = "<!-- registry-table -->"
CLI_MARK = "<!-- cli-help -->"


def registry_table() -> str:
    import minigrad

    rows = []
    for op in minigrad.ops.registered():
        labels = "<br>".join(html.escape(f) for f in op.grad_formulas)
        rows.append(
            f"<tr><td><code>{html.escape(op.name)}</code></td>"
            f"<td>{html.escape(op.formula)}</td><td>{labels}</td>"
            f"<td>{html.escape(op.doc)}</td></tr>"
        )
    return (
        '<table class="docutils">\n<thead><tr><th>op</th><th>forward</th>'
        "<th>VJP label per input (δ: the gradient at the output)</th><th>what it is</th>"
        "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
    )


def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "96"}
    out = subprocess.run(
        [sys.executable, "-m", "minigrad", *args, "--help"],
        capture_output=True, text=True, check=True, env=env, timeout=60,
    )
    return out.stdout.rstrip()


def cli_help() -> str:
    parts = [f"## `minigrad`\n\n```text\n{_help()}\n```\n"]
    for cmd in ("demo", "compare", "render", "check"):
        parts.append(f"## `minigrad {cmd}`\n\n```text\n{_help(cmd)}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if REGISTRY_MARK in markdown:
        markdown = markdown.replace(REGISTRY_MARK, registry_table())
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_help())
    return markdown
