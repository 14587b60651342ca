"""Untrusted text made visible: Unicode's invisible format characters (bidi overrides and
isolates, zero-width characters, tags) escaped as \\uXXXX in everything people read — the
terminal, HTML, SVG and PNG plots, JUnit messages — so a crafted run id or tool name cannot
display as something else. The JSON report and the exports keep the text exact."""

from __future__ import annotations

import re

# Unicode's format characters (category Cf) that can change how text around them displays, and
# the tag characters; U+FE0F and other variation selectors stay (emoji use them).
FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def visible(text: str) -> str:
    """`text` with every format character written as \\uXXXX."""
    if text.isascii():
        return text
    return FORMAT_CHARACTERS.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
