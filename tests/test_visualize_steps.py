"""visualize.backward_steps: the gradients it shows, the page it writes, and the page in a real
headless chromium (clicks, keys, ?frame=N, screenshots)."""

from __future__ import annotations

import base64
import fcntl
import html
import json
import os
import re
import select
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import nn, visualize
from minigrad.derive import Step
from minigrad.visualize.diagram import build_scene
from minigrad.visualize.steps import CURRENT, GREY_FILL, _derive_html, sweep

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not on PATH")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
browser = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package "
                             "`chromium`), so the page cannot be tested in a real browser")
SVG = "{http://www.w3.org/2000/svg}"


def mlp_loss(sizes=(2, 4, 3), n=3, seed=0, backward=True):
    minigrad.manual_seed(seed)
    model = nn.MLP(list(sizes), activation="tanh")
    rng = np.random.default_rng(seed)
    x = minigrad.tensor(rng.normal(size=(n, sizes[0])).astype(np.float32))
    y = minigrad.tensor(rng.integers(0, sizes[-1], size=n))
    loss = F.cross_entropy(model(x), y)
    if backward:
        loss.backward(retain_graph=True)
    return model, loss


class Page(HTMLParser):
    """The frames of a written page: their attributes, and whether any tag loads something."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str | None]] = []
        self.loads: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("class") == "frame":
            self.frames.append(a)
        if tag == "script":
            self.scripts += 1
            if "src" in a:
                self.loads.append(f"script src={a['src']}")
        if tag in ("link", "img", "iframe", "object", "embed", "audio", "video", "source"):
            self.loads.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "data") and v and not v.startswith("#"):
                self.loads.append(f"{tag} {k}={v}")


def parse_page(path: Path) -> tuple[Page, str]:
    text = path.read_text(encoding="utf-8")
    p = Page()
    p.feed(text)
    return p, text


def frame_svgs(text: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", text, flags=re.S)]


def node_boxes(svg: ET.Element) -> dict[str, tuple[str, str, str]]:
    """Node id (its <title>) -> the outline's coordinates, fill and stroke."""
    out = {}
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        title = g.find(f"{SVG}title").text
        shape = g.find(f"{SVG}path")
        if shape is None:
            shape = g.find(f"{SVG}polygon")
        out[title] = (shape.get("d") or shape.get("points"), shape.get("fill"),
                      shape.get("stroke"))
    return out


# --------------------------------------------------------------------------- the gradients
def test_sweep_matches_the_engines_backward():
    model, loss = visualize.lecture_net()  # retains every intermediate gradient
    scene = build_scene(loss, model)
    sw = sweep(scene)
    checked = 0
    for nid, nd in scene.nodes.items():
        if nd.tensor.grad is not None:
            np.testing.assert_allclose(sw.grads[nid], nd.tensor.grad.data, rtol=1e-6, atol=1e-7)
            checked += 1
    assert checked == sum(1 for nd in scene.nodes.values() if nd.tensor.requires_grad)
    # each frame's δ is the total gradient of the op's result; its sends add up at the inputs
    for fr in sw.frames:
        np.testing.assert_allclose(fr.delta, sw.grads[fr.node], rtol=1e-6)
    # the last op of the sweep is the first layer, sending δ·hᵀ to W₁
    last = sw.frames[-1]
    w = scene.nodes[id(model.layers[0].weight)]
    send = next(s for s in last.sends if s.input == w.nid)
    assert send.formula == "δ·hᵀ"
    x = next(nd for nd in scene.nodes.values() if nd.name == "x").tensor.data
    np.testing.assert_allclose(send.grad, np.outer(last.delta, x), rtol=1e-5)


def test_sweep_adds_both_contributions_of_x_times_x():
    x = minigrad.tensor([1.0, -2.0], requires_grad=True, dtype="float64")
    y = (x * x * 3).sum()
    sw = sweep(build_scene(y))
    np.testing.assert_allclose(sw.grads[id(x)], 6 * x.data)
    mul = next(fr for fr in sw.frames if any(s.input == id(x) for s in fr.sends))
    (s,) = [s for s in mul.sends if s.input == id(x)]
    assert s.argnums == (0, 1) and s.formula == "δ ⊙ b + δ ⊙ a"


@needs_dot
def test_users_gradients_are_left_alone(tmp_path):
    model, loss = mlp_loss(backward=False)
    visualize.backward_steps(loss, tmp_path / "before.html", model=model)
    assert all(p.grad is None for p in model.parameters())  # nothing computed for the user
    loss.backward()
    before = {n: (p.grad, p.grad.data.copy()) for n, p in model.named_parameters()}
    visualize.backward_steps(loss, tmp_path / "after.html", model=model)
    for n, p in model.named_parameters():
        assert p.grad is before[n][0]
        np.testing.assert_array_equal(p.grad.data, before[n][1])


def test_hooks_do_not_run():
    model, loss = mlp_loss(backward=False)
    seen = []
    model.layers[0].weight.register_hook(lambda g: seen.append(g))
    sweep(build_scene(loss, model))
    assert seen == []


# --------------------------------------------------------------------------- the page
@needs_dot
def test_one_frame_per_op_in_sweep_order(tmp_path):
    model, loss = visualize.lecture_net()
    path = visualize.backward_steps(loss, tmp_path / "steps.html", model=model)
    assert os.listdir(tmp_path) == ["steps.html"]
    page, text = parse_page(path)
    G = minigrad.graph(loss)
    n_ops = sum(1 for _, d in G.nodes(data=True) if not d["is_leaf"])
    assert len(page.frames) == n_ops == 6
    assert len(frame_svgs(text)) == 1  # one drawing; every frame is data applied to it
    assert [f["data-op"] for f in page.frames] == [
        "cross_entropy", "linear", "sigmoid", "linear", "sigmoid", "linear"]
    assert [f["data-node"] for f in page.frames] == ["L", "a₃", "h₂", "a₂", "h₁", "a₁"]
    assert page.frames[0].get("hidden") is None
    assert all("hidden" in f for f in page.frames[1:])
    assert f'max="{n_ops}"' in text and "Prev" in text and "Next" in text


@needs_dot
def test_page_is_self_contained(tmp_path):
    model, loss = visualize.lecture_net()
    path = visualize.backward_steps(loss, tmp_path / "s.html", model=model)
    page, text = parse_page(path)
    assert page.loads == []
    assert page.scripts == 2  # the frames' data (JSON) and the code that applies it
    assert "@import" not in text and "url(" not in text
    # the only URLs are XML namespace names, which are never fetched
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@needs_dot
def test_captions_show_delta_and_what_each_input_receives(tmp_path):
    model, loss = visualize.lecture_net()
    _, text = parse_page(visualize.backward_steps(loss, tmp_path / "s.html", model=model))
    sections = re.findall(r'<section class="frame".*?</section>', text, flags=re.S)
    first = sections[-1]  # the first layer: the last step of the sweep
    assert "Step 6 of 6" in first and "a = W h + b" in first
    assert "δ arriving at" in first and "a₁" in first
    for who, formula in [("layers.0.weight", "δ·hᵀ"), ("layers.0.bias", "δ")]:
        assert re.search(rf"{re.escape(who)}.*?<td class=\"formula\">{re.escape(formula)}</td>",
                         first, flags=re.S), who
    w = model.layers[0].weight.grad.data
    assert f"<td>{w[0, 0]:.4g}</td>" in first  # the numbers sent, for a small tensor
    assert "backward starts here with δ = 1" in sections[0]


def page_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="steps-data">(.*?)</script>', text,
                  flags=re.S)
    return json.loads(m.group(1))


@needs_dot
def test_frames_are_data_on_one_drawing(tmp_path):
    model, loss = visualize.lecture_net()
    path = visualize.backward_steps(loss, tmp_path / "s.html", model=model)
    _, text = parse_page(path)
    (svg,) = frame_svgs(text)
    scene = build_scene(loss, model)
    ids = {nd.name: f"t{nd.index}" for nd in scene.nodes.values()}
    assert set(ids.values()) <= set(node_boxes(svg))  # every tensor is drawn, once
    data = page_data(text)
    items = {r[0]: r for r in data["items"]}  # title, op title, fired, reached, complete
    sw = sweep(scene)
    # the order of the sweep: L's op first, the first layer's last
    assert [data["items"][f[0]][0] for f in data["frames"]] == [
        f"t{scene.nodes[fr.node].index}" for fr in sw.frames]
    assert items[ids["L"]][2] == 0 and items[ids["a₁"]][2] == len(sw.frames) - 1
    # W₁ is reached by the last step, a₃ by the first (from the loss); x needs no gradient
    assert items[ids["layers.0.weight"]][3] == len(sw.frames) - 1
    assert items[ids["a₃"]][3] == 0
    assert ids["x"] not in items
    # step 1 sends to a₃ only (the labels are constants)
    assert [data["items"][i][0] for i in data["frames"][0][1:]] == [ids["a₃"]]


@needs_dot
def test_backward_steps_errors(tmp_path):
    model, loss = mlp_loss()
    p = visualize.backward_steps(loss, tmp_path / "s.html", model=model)
    with pytest.raises(FileExistsError):
        visualize.backward_steps(loss, p, model=model)
    visualize.backward_steps(loss, p, model=model, overwrite=True)
    with pytest.raises(ValueError, match=".html"):
        visualize.backward_steps(loss, tmp_path / "s.svg")
    with pytest.raises(ValueError, match="does not require grad"):
        visualize.backward_steps(minigrad.tensor([1.0]).sum(), tmp_path / "c.html")
    with pytest.raises(ValueError, match="by must be"):
        visualize.backward_steps(loss, tmp_path / "big.html", by="layer")
    assert sorted(os.listdir(tmp_path)) == ["s.html"]


def test_backward_steps_without_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    _, loss = mlp_loss()
    with pytest.raises(visualize.GraphvizNotFound, match="apt-get install graphviz"):
        visualize.backward_steps(loss, tmp_path / "s.html")
    assert os.listdir(tmp_path) == []


@needs_dot
def test_derive_puts_each_steps_derivation_in_its_frame(tmp_path):
    model, loss = visualize.lecture_net()
    plain = parse_page(visualize.backward_steps(loss, tmp_path / "p.html", model=model))[1]
    assert 'class="derive"' not in plain
    for by in ("op", "module"):
        path = visualize.backward_steps(loss, tmp_path / f"{by}.html", model=model,
                                        derive=True, by=by)
        page, text = parse_page(path)
        sections = re.findall(r'<section class="frame".*?</section>', text, flags=re.S)
        d = minigrad.derive(loss, model, level=by)
        assert len(sections) == len(d.steps) == 6  # one op per module in the lecture's net
        for section, step in zip(sections, d.steps):
            assert f"derivation, step {step.index}" in section
            assert f'<div class="rule">{html.escape(step.rule)}</div>' in section
            for name, sent in step.sends:
                assert f"→ {html.escape(name)}: " in section and html.escape(sent) in section
        assert "δ arriving: <span class=\"formula\">1 (the loss itself)" in sections[0]
    # a layer at a time, δ_2 is the sigmoid's share of what the third layer sent
    assert "δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)" in sections[3]
    assert "Sigmoid: ∇x = δ ⊙ σ′(a)" in sections[2]


def test_derive_text_is_escaped():
    step = Step(1, "a<b", "op", "m&n", "f: x < y & z", "δ", None, [("<x>", "1 > 0")])
    out = _derive_html(step, None, False)
    assert "f: x &lt; y &amp; z" in out and "[m&amp;n]" in out
    assert "&lt;x&gt;" in out and "1 &gt; 0" in out and "<x>" not in out


@needs_dot
def test_derive_needs_a_scalar_output(tmp_path):
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="must be a scalar"):
        visualize.backward_steps(x * 2.0, tmp_path / "s.html", derive=True)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- in a browser
def chromium_args(profile: Path) -> list[str]:
    return [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--window-size=1280,900"]


@pytest.fixture(scope="module")
def steps_page(tmp_path_factory) -> Path:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` not on PATH")
    model, loss = visualize.lecture_net()
    return visualize.backward_steps(loss, tmp_path_factory.mktemp("page") / "steps.html",
                                    model=model)


@browser
@pytest.mark.browser
def test_frame_url_parameter_in_chromium(steps_page, tmp_path):
    dom = subprocess.run(
        chromium_args(tmp_path / "profile") + ["--dump-dom", steps_page.as_uri() + "?frame=3"],
        capture_output=True, timeout=120, check=True).stdout.decode()
    assert re.search(r'<body[^>]*data-frame="3"', dom)
    visible = re.findall(r'<section class="frame" id="frame-(\d+)"(?![^>]*hidden)', dom)
    assert visible == ["3"]
    assert re.search(r'id="counter">step 3 of 6<', dom)


@browser
@pytest.mark.browser
def test_screenshot_in_chromium(steps_page, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(chromium_args(tmp_path / "profile") + [f"--screenshot={shot}",
                                                           steps_page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 900)
    from matplotlib import image

    img = image.imread(shot)
    assert img.std() > 0.05  # a picture, not a blank page


class DevTools:
    """A chromium driven over the DevTools protocol on a pipe (fds 3 and 4), with the
    standard library only: real mouse clicks and key presses, no extra package."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # park the child's ends high, so moving them to 3 and 4 cannot clobber each other
        hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 20)
        hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 20)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def wire() -> None:
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen(
            chromium_args(profile) + ["--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4, hi_r, hi_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(hi_r)
        os.close(hi_w)
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, timeout: float = 30, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self._events):
            self._events.append(self._read(deadline))
        self._events.clear()

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        r = self.call("Runtime.evaluate", session=True, expression=expression,
                      returnByValue=True)
        return r["result"].get("value")

    def click(self, selector: str) -> None:
        box = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                      ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];"
                      "})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session=True, type=kind, x=box[0], y=box[1],
                      button="left", clickCount=1)

    def key(self, name: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", session=True, type=kind, key=name, code=name,
                      windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", session=True)["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture
def chrome(tmp_path):
    d = DevTools(tmp_path / "profile")
    yield d
    d.close()


@browser
@pytest.mark.browser
def test_next_prev_keys_and_slider_in_chromium(steps_page, chrome):
    chrome.open(steps_page.as_uri())

    def state():
        return chrome.js("[document.body.dataset.frame, "
                         "document.querySelectorAll('section.frame:not([hidden])').length, "
                         "document.querySelector('section.frame:not([hidden])').id, "
                         "document.getElementById('counter').textContent, "
                         "document.getElementById('slider').value, "
                         "document.getElementById('prev').disabled]")

    assert state() == ["1", 1, "frame-1", "step 1 of 6", "1", True]
    shot1 = chrome.screenshot()
    chrome.click("#next")
    assert state() == ["2", 1, "frame-2", "step 2 of 6", "2", False]
    assert chrome.screenshot() != shot1  # the picture changed, not only the counter
    chrome.key("ArrowRight", 39)
    chrome.key("ArrowRight", 39)
    assert state()[:3] == ["4", 1, "frame-4"]
    chrome.key("ArrowLeft", 37)
    assert state()[:3] == ["3", 1, "frame-3"]
    chrome.click("#prev")
    assert state()[:3] == ["2", 1, "frame-2"]
    chrome.key("End", 35)
    assert state()[0] == "6" and chrome.js("document.getElementById('next').disabled")
    chrome.click("#next")  # disabled at the end: stays
    assert state()[0] == "6"
    # the slider, moved the way a user drags it
    chrome.js("(() => { const s = document.getElementById('slider'); s.value = '5';"
              " s.dispatchEvent(new Event('input')); })()")
    assert state()[:3] == ["5", 1, "frame-5"]
    # the one drawing highlights the op the visible frame names, and greys what is ahead
    assert chrome.js("document.querySelectorAll('.picture svg').length") == 1

    def fill_of(title):
        return chrome.js(
            "(() => { for (const t of document.querySelectorAll('.picture g.node > title'))"
            f" if (t.textContent === {json.dumps(title)}) return t.parentNode"
            ".querySelector('path,polygon').getAttribute('fill'); })()")

    current = chrome.js("document.querySelector('section.frame:not([hidden])').dataset.current")
    assert fill_of(current) == CURRENT
    first_layer = chrome.js("document.getElementById('frame-6').dataset.current")
    # step 5 of 6: the first layer's op is still ahead (its result a₁ was just reached)
    assert fill_of("o" + first_layer[1:]) == GREY_FILL
    chrome.key("End", 35)
    assert fill_of(first_layer) == CURRENT and fill_of(current) not in (CURRENT, GREY_FILL)


@browser
@pytest.mark.browser
def test_derivation_step_is_shown_on_its_frame_in_chromium(tmp_path, chrome):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` not on PATH")
    model, loss = visualize.lecture_net()
    path = visualize.backward_steps(loss, tmp_path / "d.html", model=model, derive=True,
                                    by="module")
    chrome.open(path.as_uri() + "?frame=4")
    shown = ("(() => { const s = document.querySelector('section.frame:not([hidden])');"
             " const d = s.querySelector('.derive'), r = d.getBoundingClientRect();"
             " return [s.id, d.innerText, r.width > 0 && r.height > 0]; })()")
    frame, words, visible = chrome.js(shown)
    assert frame == "frame-4" and visible
    assert "derivation, step 4" in words and "δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)" in words
    chrome.click("#next")
    frame, words, visible = chrome.js(shown)
    assert frame == "frame-5" and visible
    assert "∇h_1 L = W_2ᵀ δ_2" in words and "δ_2 = (W_3ᵀ δ_3)" not in words


# --------------------------------------------------------------------------- at model size
def transformer_sized_loss(blocks: int = 74):
    """A hand-written attention stack of ~2,000 tensors: per block, single-head attention
    (q, k, v projections, scaled scores, softmax, weighted sum, output projection) with a
    residual and an MLP with a residual, each a module."""

    class Attention(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

        def forward(self, x):
            q, k, v = self.q(x), self.k(x), self.v(x)
            w = (q @ k.transpose(-1, -2) * (1.0 / np.sqrt(q.shape[-1]))).softmax(-1)
            return x + self.o(w @ v)

    class MLPBlock(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.up, self.down = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

        def forward(self, x):
            return x + self.down(F.gelu(self.up(x)))

    class Stack(nn.Module):
        def __init__(self, d, n):
            super().__init__()
            self.blocks = nn.Sequential(*[m for _ in range(n) for m in (Attention(d),
                                                                         MLPBlock(d))])
            self.head = nn.Linear(d, 3)

        def forward(self, x):
            return self.head(self.blocks(x).mean(axis=0))

    minigrad.manual_seed(0)
    model = Stack(4, blocks)
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    loss = F.cross_entropy(model(x), minigrad.tensor(1))
    return model, loss


@pytest.fixture(scope="module")
def big_page(tmp_path_factory) -> tuple[Path, int]:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` not on PATH")
    model, loss = transformer_sized_loss()
    n = len(build_scene(loss, model).order)
    path = visualize.backward_steps(loss, tmp_path_factory.mktemp("big") / "steps.html",
                                    model=model)
    return path, n


@pytest.mark.slow
def test_transformer_sized_graph_is_one_drawing_of_modules(big_page):
    path, n = big_page
    assert n >= 1500  # transformer-sized: the page used to refuse anything above 150
    assert path.stat().st_size <= 5_000_000
    page, text = parse_page(path)
    (svg,) = frame_svgs(text)
    data = page_data(text)
    assert len(page.frames) == len(data["frames"])  # every op keeps its caption
    boxes = node_boxes(svg)
    assert 20 <= len(boxes) <= 160  # one box per module (or run of modules), not per tensor
    assert {r[0] for r in data["items"]} <= set(boxes)
    assert 'data-mode="module"' in text
    assert 1 < len(data["groups"]) < len(data["frames"])  # a step is a run of ops
    firsts = [g[1] for g in data["groups"]]
    assert firsts == sorted(firsts) and data["groups"][-1][2] == len(data["frames"]) - 1


@browser
@pytest.mark.browser
@pytest.mark.slow
def test_transformer_sized_page_steps_by_module_and_opens_one(big_page, chrome):
    path, _ = big_page
    chrome.open(path.as_uri())

    def state():
        return chrome.js("[document.body.dataset.step, document.body.dataset.frame, "
                         "document.getElementById('counter').textContent, "
                         "document.querySelectorAll('section.frame:not([hidden])').length, "
                         "document.getElementById('open').hidden, "
                         "document.getElementById('back').hidden]")

    data = page_data(path.read_text(encoding="utf-8"))
    groups = data["groups"]
    n = len(groups)
    g0 = groups[0]
    assert state() == ["1", str(g0[2] + 1), f"step 1 of {n}", g0[2] - g0[1] + 1, False, True]
    chrome.click("#next")
    chrome.key("ArrowRight", 39)
    g2 = groups[2]
    assert state()[:4] == ["3", str(g2[2] + 1), f"step 3 of {n}", g2[2] - g2[1] + 1]
    # the module's box is the current one, the input's box ahead is grey
    current_box = data["items"][data["frames"][g2[1]][0]][0]
    fill = chrome.js(
        "(() => { for (const t of document.querySelectorAll('.picture g.node > title'))"
        f" if (t.textContent === {json.dumps(current_box)}) return t.parentNode"
        ".querySelector('path,polygon').getAttribute('fill'); })()")
    assert fill == CURRENT
    # open it: its ops one by one, then back to the modules where we were
    chrome.click("#open")
    ops = g2[2] - g2[1] + 1
    assert state() == ["1", str(g2[1] + 1), f"step 1 of {ops}", 1, True, False]
    chrome.key("End", 35)
    assert state()[:3] == [str(ops), str(g2[2] + 1), f"step {ops} of {ops}"]
    chrome.click("#back")
    assert state()[:3] == ["3", str(g2[2] + 1), f"step 3 of {n}"]
    chrome.key("End", 35)
    assert state()[:3] == [str(n), str(len(data["frames"])), f"step {n} of {n}"]
