"""Runs inside the agent pod, in two containers of one image.

``git-side`` (:mod:`runtime.agent.git_side`, trusted): clone, then after the agent has
exited commit, push and print the result line.  ``run`` (:mod:`runtime.agent.agent_side`,
untrusted): ``opencode run`` in the work tree, a claimed verdict in the handoff dir.

Standard library only (the image has Debian's python3 and no pip packages).
Entry point: ``python3 -m runtime.agent {git-side|llm-proxy|run}``; see :mod:`runtime.agent.main`.
"""

from __future__ import annotations

__all__: list[str] = []
