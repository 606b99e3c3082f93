"""Colours and fonts shared by the diagrams and the step-through page.

The role colours are light fills from ColorBrewer's qualitative "Pastel1" set, so dark text
stays readable on every one of them and the four roles differ in hue, not only in lightness.
The gradient colour map is viridis (perceptually uniform, readable in grey and by people with
the common colour-vision deficiencies), kept here as a table so drawing a diagram does not
need to import matplotlib.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FONT = "DejaVu Sans,Helvetica,Arial,sans-serif"
MONO = "DejaVu Sans Mono,Menlo,Consolas,monospace"

FORWARD = "#4d4d4d"
BACKWARD = "#c0392b"  # the second colour: every backward edge and gradient row
MUTED = "#6b6b6b"
OP_FILL = "#ffffff"
OP_BORDER = "#7f7f7f"
CLUSTER_FILL = "#f6f6f6"
CLUSTER_BORDER = "#b0b0b0"

ROLE_FILL = {
    "parameter": "#fed9a6",  # orange: what the optimizer changes
    "input": "#b3cde3",  # blue: data
    "intermediate": "#f2f2f2",  # grey: values computed on the way
    "loss": "#fbb4ae",  # red: where backward starts
    "output": "#ccebc5",  # green: a non-scalar output
    "module": "#e5d8bd",  # a collapsed module
}
ROLE_TEXT = {
    "parameter": "parameter",
    "input": "input / constant",
    "intermediate": "intermediate",
    "loss": "loss (output)",
    "output": "output",
    "module": "module (collapsed)",
}
NO_GRAD_FILL = "#ffffff"
# `draw(check=…)`: a checked gradient that matches autograd's, one that does not, the rest
CHECK_PASS = "#a6dba0"
CHECK_FAIL = "#f4a582"
CHECK_BORDER = {"pass": "#1b7837", "fail": "#b2182b"}
FIRST_WRONG_PENWIDTH = "5"  # a first wrong step, beside the 2.5 of the rows that inherit
NAN_BORDER = "#7b3294"  # the tensor where the first NaN or infinity appeared
UNCHECKED_FILL = "#ffffff"

# matplotlib's viridis sampled at 0, 0.1, ..., 1
VIRIDIS = (
    "#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c",
    "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725",
)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def viridis(x: float) -> str:
    """The viridis colour at `x` in [0, 1] (clipped), interpolated linearly between samples."""
    if not math.isfinite(x):
        x = 0.0
    x = min(1.0, max(0.0, x)) * (len(VIRIDIS) - 1)
    i = min(int(x), len(VIRIDIS) - 2)
    t = x - i
    a, b = _rgb(VIRIDIS[i]), _rgb(VIRIDIS[i + 1])
    return "#" + "".join(f"{round(p + (q - p) * t):02x}" for p, q in zip(a, b))


def luminance(colour: str) -> float:
    """WCAG relative luminance of a ``#rrggbb`` colour, 0 (black) to 1 (white)."""

    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(fill: str) -> str:
    """Black or white, whichever contrasts more with `fill` (the WCAG crossover)."""
    return "#000000" if luminance(fill) > 0.179 else "#ffffff"


@dataclass(frozen=True)
class Ink:
    """The three text colours of a node: main text, secondary text, gradient rows."""

    text: str
    muted: str
    grad: str


def ink_on(fill: str) -> Ink:
    """Text colours that stay readable on `fill`. Grey secondary text and red gradient rows
    only on light fills; on the darker viridis colours everything is black or white."""
    if luminance(fill) > 0.45:
        return Ink("#000000", MUTED, BACKWARD)
    t = text_on(fill)
    return Ink(t, t, t)
