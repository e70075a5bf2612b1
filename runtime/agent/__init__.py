"""Runs inside the agent pod: clone, task branch, ``opencode run``, commit, push.

Standard library only (the image has Debian's python3 and no pip packages).
Entry point: ``python3 -m runtime.agent``; see :mod:`runtime.agent.main`.
"""

from __future__ import annotations

__all__: list[str] = []
