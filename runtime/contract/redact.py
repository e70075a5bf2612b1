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
