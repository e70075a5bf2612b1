"""Label and annotation keys put on every object the tool creates.

Labels select (``kubectl get pods -l speckit-pods.dev/task=T012``); annotations
carry values that are not valid label values (repo URL, branch names).
"""

from __future__ import annotations

TOOL_NAME = "speckit-pods"
DOMAIN = "speckit-pods.dev"

# labels
MANAGED_BY = "app.kubernetes.io/managed-by"  # always TOOL_NAME
COMPONENT = "app.kubernetes.io/component"  # "agent"
TASK = f"{DOMAIN}/task"  # the task ID, e.g. "T012"
FEATURE = f"{DOMAIN}/feature"  # the feature dir name, sanitised, e.g. "001-photo-albums"
RUN = f"{DOMAIN}/run"  # one id per spawn

# annotations
REPO = f"{DOMAIN}/repo"  # annotation: the repository URL
REPO_ID = f"{DOMAIN}/repo-id"  # label: runtime.spawn.names.repo_id of that URL
BRANCH = f"{DOMAIN}/branch"
BASE = f"{DOMAIN}/base"
TASK_TITLE = f"{DOMAIN}/title"
CLEANUP = f"{DOMAIN}/cleanup"  # always | on-success | never
EXPIRES_AT = f"{DOMAIN}/expires-at"  # RFC 3339; kept pods are swept after this
TASKS_FILE = f"{DOMAIN}/tasks-file"  # local path of tasks.md, informational
STARTED_FROM = f"{DOMAIN}/started-from"  # runtime.contract.start.encode(): prerequisites' work
# set just before we delete a pod that may still run (cancel, --replace): the dispatcher
# then never reruns it as lost; the value says who (``run-async.sh cancel``)
DELETED_BY = f"{DOMAIN}/deleted-by"
# RFC 3339; set on a kept pod once its result was reported and its task marked done
# (tail-logs --mark-done, the dispatcher): a rerun of the task then spawns a new pod
# instead of re-attaching to this one and replaying its old result
REPORTED_AT = f"{DOMAIN}/reported-at"

SELECTOR = f"{MANAGED_BY}={TOOL_NAME}"
