"""The image's entrypoint: ``tini -- python3 -m runtime.agent <side>``.

``git-side`` runs the trusted container ``git`` (:mod:`runtime.agent.git_side`),
``llm-proxy`` the trusted container ``llm-proxy`` (:mod:`runtime.agent.llm_proxy`),
``run`` the untrusted container ``agent`` (:mod:`runtime.agent.agent_side`); the pod
manifest gives each container its argument.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from runtime.agent import agent_side, git_side, llm_proxy
from runtime.contract.exit_codes import ExitCode

SIDES: dict[str, Callable[[], int]] = {
    "git-side": git_side.main,
    "llm-proxy": llm_proxy.main,
    "run": agent_side.main,
}
USAGE = "usage: python3 -m runtime.agent {git-side|llm-proxy|run}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the side named by the first argument; 2 for anything else."""
    args = list(sys.argv[1:] if argv is None else argv)
    side = SIDES.get(args[0]) if len(args) == 1 else None
    if side is None:
        print(USAGE, file=sys.stderr)
        return ExitCode.USAGE
    return side()
