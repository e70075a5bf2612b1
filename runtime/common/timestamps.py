"""RFC 3339 timestamps as the Kubernetes API writes them (``2026-12-01T09:00:00Z``)."""

from __future__ import annotations

import datetime


def rfc3339(moment: datetime.datetime) -> str:
    """Format ``moment`` in UTC to the second, e.g. ``2026-12-01T09:00:00Z``."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp (``Z`` or an offset); ``None`` when it is not one."""
    if not text or not text.strip():
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
