"""The built site as a reader sees it: its formulas typeset by the KaTeX it ships (no other
host is asked for anything), the op table typeset from the registry, the notebooks shown with
their outputs, and the tutorial opened in headless Chromium, with a screenshot kept in
``build/test-artifacts/``."""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocs_jupyter")
    out = tmp_path_factory.mktemp("site") / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site over HTTP on localhost, as `mkdocs serve` or any static host would give it."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


_EXTERNAL = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""")


def test_no_page_asks_another_host(site: Path):
    bad = [p.relative_to(site).as_posix() for p in site.rglob("*.html")
           if _EXTERNAL.search(p.read_text("utf-8"))]
    assert not bad, f"pages that load scripts, styles or pictures from another host: {bad}"
    assert (site / "assets" / "katex" / "katex.min.js").exists()
    assert list((site / "assets" / "katex" / "fonts").glob("*.woff2"))


def test_the_tutorial_marks_its_math_for_katex(site: Path):
    page = (site / "tutorial" / "index.html").read_text("utf-8")
    assert page.count('class="arithmatex"') >= 20
    assert r"\nabla_{W_k} L = \nabla_{a_k} L \cdot h_{k-1}^\top" in html.unescape(page)


def test_the_op_table_is_typeset_from_the_registry(site: Path):
    page = html.unescape((site / "reference" / "ops" / "index.html").read_text("utf-8"))
    assert r"\delta \cdot h^{\top}" in page  # matmul's VJP for its weight, typeset
    assert "δ·hᵀ" in page                     # and the label the diagrams print
    # the built-in ops, as a fresh process sees them (tests here register ops of their own)
    builtin = subprocess.run(
        [sys.executable, "-c", "import minigrad; print(*minigrad.REGISTRY)"],
        capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert len(builtin) > 50
    for name in builtin:
        assert f"<code>{name}</code>" in page


def test_the_notebooks_are_pages_with_their_outputs(site: Path):
    page = (site / "notebooks" / "tutorial" / "index.html").read_text("utf-8")
    assert "jp-OutputArea" in page and "all 18 rows match" in page


def test_the_gallery_has_a_card_per_example(site: Path):
    page = (site / "gallery" / "index.html").read_text("utf-8")
    for script in ("xor.py", "train_spirals.py", "train_digits.py", "train_cnn_digits.py",
                   "train_transformer.py", "custom_op.py", "backprop_exercise.ipynb",
                   "bench_compile.py"):
        assert script in page
    for img in re.findall(r'<img [^>]*src="([^"]+)"', page):
        assert (site / "gallery" / img).resolve().exists(), img


def _chromium(profile: Path) -> list[str]:
    return [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--window-size=1280,1600", "--virtual-time-budget=15000"]


def _visible_text(dom: str) -> str:
    """The text a reader sees: no scripts or styles, no code blocks (which may hold `$`),
    and not the MathML copy that KaTeX keeps for screen readers."""
    for pattern in (r"<script\b.*?</script>", r"<style\b.*?</style>", r"<pre\b.*?</pre>",
                    r"<code\b.*?</code>", r'<span class="katex-mathml">.*?</math></span>'):
        dom = re.sub(pattern, " ", dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package "
                    "`chromium`), so the page cannot be opened in a real browser")
@pytest.mark.parametrize(("page", "least"), [("tutorial", 20), ("convolution", 5),
                                             ("attention", 8), ("backprop_exercise", 7),
                                             ("reference/ops", 60)])
def test_the_math_is_typeset_in_chromium(served: str, tmp_path: Path, page: str, least: int):
    dom = subprocess.run(_chromium(tmp_path / "profile") + ["--dump-dom", f"{served}/{page}/"],
                         capture_output=True, text=True, timeout=180, check=True).stdout
    rendered = dom.count('class="katex"')
    assert rendered >= least, f"KaTeX rendered {rendered} formulas on {page}, expected {least}+"
    assert "katex-error" not in dom, re.findall(r'katex-error"[^>]*>[^<]*', dom)[:3]
    text = _visible_text(dom)
    for raw in ("\\frac", "\\nabla", "\\delta", "\\(", "\\[", "$$"):
        assert raw not in text, f"raw LaTeX {raw!r} is visible on {page}"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package "
                    "`chromium`), so the page cannot be opened in a real browser")
def test_a_screenshot_of_the_typeset_tutorial(served: str, tmp_path: Path):
    url = f"{served}/tutorial/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "tutorial_typeset.png"
    subprocess.run(_chromium(tmp_path / "profile2")
                   + [f"--screenshot={shot}", url],
                   capture_output=True, timeout=180, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
