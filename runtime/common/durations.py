"""Durations as people type them (``90m``, ``1h30m``, ``1d``) and as kubectl prints them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
EXAMPLES = "e.g. 90s, 30m, 2h, 1h30m, 1d or 3600"


def parse_duration(text: str) -> int:
    """Parse ``3600``, ``45s``, ``90m``, ``2h``, ``1h30m`` or ``1d`` into seconds.

    Raises:
        ValueError: ``text`` is not such a duration.
    """
    value = text.strip()
    if value.isdigit():
        return int(value)
    match = _DURATION.match(value)
    if not value or match is None:
        raise ValueError(f"invalid duration {text!r} ({EXAMPLES})")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def human_duration(seconds: int | float | None) -> str:
    """Format like kubectl: ``42s``, ``3m12s``, ``2h5m``, ``4d3h``; ``-`` for unknown."""
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
