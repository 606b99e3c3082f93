"""Griffe extension for the API reference: a Google-style ``Example:`` section made of doctest
lines (``>>>``) is read as an ``Examples:`` section, so it renders as code rather than as
Markdown text (where ``G.nodes[n]["op"]`` would look like a broken link)."""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:(\s*\n\s*>>>)", re.M)


class DoctestExamples(griffe.Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and "Example:" in doc.value:
            doc.value = _SINGULAR.sub(r"\1Examples:\2", doc.value)
