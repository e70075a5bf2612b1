"""Entry point of the agent container: ``tini -- python3 -m runtime.agent``."""

from __future__ import annotations

import sys

from runtime.agent.main import main

if __name__ == "__main__":
    sys.exit(main())
