"""speckit-pods: run spec-kit [ASYNC] tasks as OpenCode agents in Kubernetes pods.

The package is split by where code runs:

* ``runtime.agent`` runs inside the agent pod and uses the standard library only.
* everything else runs on the developer's machine (or CI) and talks to the cluster.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
