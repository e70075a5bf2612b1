"""Keep secrets out of output: one scrubber for the agent's lines and one for URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_SECRET_LENGTH = 8  # shorter "secrets" would mangle ordinary words when redacted
MASK = "***"
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret of at least :data:`MIN_SECRET_LENGTH` characters with ``***``."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """Hide the userinfo part of a URL (``https://***@host/...``)."""
    return _USERINFO.sub(rf"\1{MASK}@", url)


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks, clipboard
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS strings
    r"|\x1b."  # any other two-character escape
)
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: escape sequences and control characters removed.

    Agent output is untrusted: it must not move the cursor, rewrite earlier lines, set
    the window title or the clipboard, or reorder text with bidi overrides. Tabs stay.
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", text))
