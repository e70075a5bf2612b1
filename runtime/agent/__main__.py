"""Entry point of both containers: ``tini -- python3 -m runtime.agent {git-side|llm-proxy|run}``."""

from __future__ import annotations

import sys

from runtime.agent.main import main

if __name__ == "__main__":
    sys.exit(main())
