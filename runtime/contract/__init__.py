"""The pod contract shared by the agent and the host side; stdlib only.

What both sides of an agent pod must agree on: the environment variables and paths
of the pod (:mod:`.pod`), the branch-name and repository-URL rules (:mod:`.refs`),
the statuses and their exit codes (:mod:`.exit_codes`, :mod:`.outcome`), the result
line (:mod:`.outcome`) and how secrets are kept out of output (:mod:`.redact`).
The agent image ships this package and ``runtime/agent/`` only.
"""
