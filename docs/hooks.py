"""Build hook for mkdocs: fills the placeholders of the reference pages from the code itself.

- ``<!-- registry-table -->``: one row per built-in op of ``minigrad.REGISTRY`` (forward
  formula, the VJP label of each input, description).
- ``<!-- cli-help -->``: the ``--help`` text of ``minigrad`` and each of its subcommands.

Before the build, every notebook of ``examples/notebooks/`` (stored without outputs) is run
top to bottom in a temporary folder and written with its outputs to ``docs/notebooks/``, which
mkdocs-jupyter turns into pages: the site shows each notebook as it really runs.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "examples" / "notebooks"
EXECUTED = ROOT / "docs" / "notebooks"
REGISTRY_MARK = "<!-- registry-table -->"
CLI_MARK = "<!-- cli-help -->"


def registry_table() -> str:
    import minigrad
    from minigrad.forward import jvp_formula

    rows = []
    for op in minigrad.ops.registered():
        labels = "<br>".join(html.escape(f) for f in op.grad_formulas)
        typeset = "<br>".join(math_html(f) for f in op.grad_formulas)
        rows.append(
            f"<tr><td><code>{html.escape(op.name)}</code></td>"
            f"<td>{math_html(op.formula)}<br><small>{html.escape(op.formula)}</small></td>"
            f"<td>{typeset}</td><td>{labels}</td>"
            f"<td>{html.escape(jvp_formula(op))}</td>"
            f"<td>{html.escape(op.doc)}</td></tr>"
        )
    return (
        '<table class="docutils">\n<thead><tr><th>op</th><th>forward</th>'
        "<th>VJP per input (δ: the gradient at the output)</th>"
        "<th>the labels diagrams print</th>"
        "<th>JVP (forward mode; ẋ: an input's tangent)</th><th>what it is</th>"
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


def _kernel(folder: Path) -> Any:
    """A kernel manager that starts ipykernel with this interpreter, whatever kernels the
    machine has registered."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / "minigrad-docs"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.log_level=ERROR"],  # its notices would read as build warnings
        "display_name": "minigrad docs", "language": "python", "env": {"MPLBACKEND": "Agg"},
    }), encoding="utf-8")
    ksm = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(kernel_name="minigrad-docs", kernel_spec_manager=ksm)


def execute_notebook(src: Path, dest: Path) -> None:
    """Runs `src` in an empty folder (the files it writes land there) and writes it with its
    outputs to `dest`; its pictures of docs/img are linked as the site serves them."""
    import nbclient
    import nbformat

    nb = nbformat.read(str(src), as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        nbclient.NotebookClient(
            nb, km=_kernel(Path(tmp)), timeout=600, startup_timeout=120,
            resources={"metadata": {"path": str(work)}},
        ).execute()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # the page of docs/notebooks/x.ipynb is served at notebooks/x/
            cell.source = re.sub(r"\(\.\./\.\./docs/img/", "(../../img/", cell.source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dest = dest.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp_dest))
    os.replace(tmp_dest, dest)


def on_pre_build(config: Any, **kwargs: Any) -> None:
    for src in sorted(NOTEBOOKS.glob("*.ipynb")):
        dest = EXECUTED / src.name
        if dest.exists() and dest.stat().st_mtime >= src.stat().st_mtime:
            continue  # already run since the notebook last changed
        execute_notebook(src, dest)


# ----------------------------------------------------------------- formula labels as LaTeX
_SYMBOLS = {
    "δ": r"\delta", "Δ": r"\Delta", "σ": r"\sigma", "Σ": r"\sum", "∇": r"\nabla",
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "μ": r"\mu", "π": r"\pi", "ℓ": r"\ell",
    "⊙": r"\odot", "·": r"\cdot", "⋆": r"\star", "∗": "*", "−": "-", "≤": r"\le",
    "≥": r"\ge", "¬": r"\neg", "⟨": r"\langle", "⟩": r"\rangle", "…": r"\dots",
    "½": r"\tfrac{1}{2}", "÷": r"\div", "′": "'", "#": r"\#", "%": r"\%",
    "&": r"\&", "{": r"\{", "}": r"\}", "—": r"\text{—}", "ŷ": r"\hat{y}",
    "x̂": r"\hat{x}", "ē": r"\bar{e}", "x̄": r"\bar{x}",
}
_SUPERSCRIPTS = dict(zip("ᵀ²³ᵖᵃˣ⁻¹ⁿ", ["\\top", "2", "3", "p", "a", "x", "-", "1", "n"]))
_SUBSCRIPTS = dict(zip("₀₁₂₃ᵢₖ", "012ik"[:3] + "3ik"))
_FUNCTIONS = {
    "relu", "tanh", "log", "exp", "softmax", "logsumexp", "sign", "clip", "max", "min",
    "flip", "rowsum", "reshape", "pad", "broadcast", "squeeze", "unsqueeze", "stack", "mean",
    "var", "leaky_relu", "gelu", "sum",
}
_WORDS = re.compile(r"[A-Za-z][A-Za-z_']+(?:[ ](?:[A-Za-z][A-Za-z_']+|[a-z](?=[ ][A-Za-z]{2})))*")


def latex(label: str) -> str:
    r"""A formula label of the registry (Unicode, as the diagrams print it) in LaTeX:
    ``δ·hᵀ`` → ``\delta \cdot h^{\top}``. Names of functions become operators, runs of
    words become text, superscript and subscript characters become ``^{…}`` and ``_{…}``."""
    out: list[str] = []
    i = 0
    while i < len(label):
        two = label[i:i + 2]
        ch = label[i]
        if two in _SYMBOLS:  # a letter with a combining mark
            out.append(_SYMBOLS[two] + " ")
            i += 2
            continue
        if ch == "√":  # the root covers the parenthesis or the one symbol that follows
            j = i + 1
            if label[j:j + 1] == "(":
                depth = 0
                for j in range(i + 1, len(label)):
                    depth += {"(": 1, ")": -1}.get(label[j], 0)
                    if depth == 0:
                        break
                out.append(r"\sqrt{" + latex(label[i + 2:j]) + "}")
                i = j + 1
            else:
                m = _WORDS.match(label, j)
                end = m.end() if m else j + 1
                out.append(r"\sqrt{" + latex(label[j:end]) + "}")
                i = end
            continue
        m = _WORDS.match(label, i)
        if m and (i == 0 or not label[i - 1].isalpha()):
            words = m.group(0)
            if words.isupper():  # matrices side by side: QK
                out.append(words)
            elif all(w in _FUNCTIONS for w in words.split()):
                out.append(" ".join(r"\operatorname{" + w.replace("_", r"\_") + "}"
                                    for w in words.split()) + " ")
            else:
                out.append(r"\;\text{" + words.replace("_", r"\_") + r"}\; ")
            i = m.end()
            continue
        if ch in _SUPERSCRIPTS:
            j = i
            while j < len(label) and label[j] in _SUPERSCRIPTS:
                j += 1
            out.append("^{" + "".join(_SUPERSCRIPTS[c] for c in label[i:j]) + "}")
            i = j
            continue
        if ch in _SUBSCRIPTS:
            out.append("_{" + _SUBSCRIPTS[ch] + "}")
        elif ch in _SYMBOLS:
            out.append(_SYMBOLS[ch] + " ")
        elif ch == "\\":
            out.append(r"\backslash ")
        else:
            out.append(ch)
        i += 1
    return "".join(out).strip()


def math_html(label: str) -> str:
    """A label typeset on the page (KaTeX renders the ``\\( … \\)`` span when it loads)."""
    return f'<span class="arithmatex">\\({html.escape(latex(label))}\\)</span>'
