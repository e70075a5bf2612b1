"""Render the task ConfigMap and the agent Pod as plain dicts (and YAML).

Pure functions: everything comes in through ``PodSpecInput``; nothing here talks
to the cluster, reads the clock or the disk.  The shapes follow the agent pod
contract in docs/architecture.md.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import yaml

from runtime.common.timestamps import rfc3339
from runtime.contract import pod
from runtime.contract.cost import Price, plain
from runtime.contract.pod import Env
from runtime.contract.start import StartPoint, encode
from runtime.kube import labels
from runtime.spawn.context import ContextFile
from runtime.spawn.names import configmap_name, repo_id
from runtime.spawn.resources import Resources as Resources
from runtime.spawn.resources import cpu_millis as cpu_millis
from runtime.spawn.resources import memory_bytes as memory_bytes
from runtime.spawn.resources import resources_with_limits as resources_with_limits

DEFAULT_IMAGE = "ghcr.io/speckit-pods/agent:0.1.0"
SERVICE_ACCOUNT = "speckit-pods-agent"
AGENT_CONFIG_MAP = "speckit-pods-agent-config"
CONTAINER = pod.AGENT_CONTAINER
GIT_CONTAINER = pod.GIT_CONTAINER
UID = pod.UID
TASK_DIR = pod.TASK_DIR
OPENCODE_DIR = pod.OPENCODE_DIR
GIT_CREDENTIALS_DIR = pod.GIT_CREDENTIALS_DIR
WORKSPACE = pod.WORKSPACE
HOME = pod.HOME
GRACE_SECONDS = 60  # SIGTERM -> SIGKILL, shared: the agent stops in seconds, git pushes the WIP
DEFAULT_AUTHOR = (pod.DEFAULT_AUTHOR_NAME, pod.DEFAULT_AUTHOR_EMAIL)
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
PROBE_PERIOD_SECONDS = 1
# A pod whose node goes NotReady or unreachable is evicted after this long, not after the
# DefaultTolerationSeconds admission plugin's 300 s: the pod is lost anyway (its work since
# the last checkpoint with it), and the sooner it is deleted the sooner its follower says so
# and a rerun can start elsewhere.  Long enough for a kubelet restart or a short network blip.
NODE_LOST_TOLERATION_SECONDS = 20
NODE_LOST_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
# emptyDir size limits; each container's ephemeral-storage limit covers its share, so the
# pod's total (the sum of the containers' limits) is above the sum of the volumes
VOLUME_SIZES = {
    "workspace": "4Gi",
    "gitdir": "2Gi",
    "handoff": "64Mi",
    "agent-home": "2Gi",
    "agent-tmp": "1Gi",
    "git-home": "16Mi",
    "git-tmp": "256Mi",
    "llm-usage": "1Mi",
}
AGENT_STORAGE = {"requests": "1Gi", "limits": "8Gi"}
GIT_STORAGE = {"requests": "256Mi", "limits": "2Gi"}
PROXY_STORAGE = {"requests": "1Mi", "limits": "64Mi"}
PROXY_RESOURCES = {
    "requests": {"cpu": "20m", "memory": "32Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},  # streams pass through, never buffered
}
GIT_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},  # git clone of a large repository
}


@dataclasses.dataclass(frozen=True)
class PodSpecInput:
    """Everything the ConfigMap and Pod are rendered from."""

    name: str
    namespace: str
    run_id: str
    task_id: str
    task_title: str
    task_label: str  # sanitised task id
    feature_label: str  # sanitised feature name
    repo_url: str
    branch: str
    base: str
    tasks_file: str
    prompt: str
    context: tuple[ContextFile, ...]
    created_at: datetime.datetime
    timeout_s: int
    stall_s: int = pod.DEFAULT_STALL_SECONDS
    checkpoint_s: int = pod.DEFAULT_CHECKPOINT_SECONDS  # the git side's interval; 0: none
    setup_s: int = pod.DEFAULT_SETUP_SECONDS  # the repository's setup script's time limit
    max_tokens: int | None = None  # the LLM proxy's token budget (llm-proxy only); None: none
    llm_price: Price | None = None  # the developer's price (llm-proxy only); None: cost unknown
    max_cost: Decimal | None = None  # the LLM proxy's cost budget, US dollars (llm-proxy only)
    keep_for_s: int = 24 * 3600
    cleanup: str = "on-success"
    image: str = DEFAULT_IMAGE  # every container's, but the agent's with a toolchain image
    # the repository's toolchain (FROM image): the untrusted agent container's image only, so
    # no image of the repository's ever runs the trusted side; "": image
    toolchain_image: str = ""
    model: str = ""
    git_secret: str = "speckit-pods-git"
    llm_secret: str = "speckit-pods-llm"
    requested_by: str = ""
    resources: Resources = Resources()
    allow_insecure_http: bool = False  # let the trusted side send secrets over http://
    start_points: tuple[StartPoint, ...] = ()  # the prerequisites' work the run starts from
    integrate: bool = False  # an integration pod: start_points merged into branch, no agent
    test_command: str = ""  # an integration pod's tests (the agent container runs them)
    feature: str = ""  # the feature's name: the git side's session ref (contract.session)


def deadline_margin(timeout_s: int) -> int:
    """Seconds between the agent's own deadline, the requested timeout and the pod's."""
    return max(1, min(60, timeout_s // 4))


def agent_deadline(timeout_s: int) -> int:
    """``AGENT_DEADLINE_SECONDS``: the entrypoint stops the agent (and reports timeout) here."""
    return timeout_s - deadline_margin(timeout_s)


def pod_deadline(timeout_s: int) -> int:
    """``activeDeadlineSeconds``: the kubelet's hard stop, a margin after the timeout."""
    return timeout_s + deadline_margin(timeout_s)


def expires_at(spec: PodSpecInput) -> str:
    """RFC 3339 time after which a kept pod may be swept: deadline plus keep-for."""
    when = spec.created_at + datetime.timedelta(
        seconds=pod_deadline(spec.timeout_s) + spec.keep_for_s
    )
    return rfc3339(when)


def object_labels(spec: PodSpecInput) -> dict[str, str]:
    """Labels shared by the Pod and its ConfigMap."""
    return {
        labels.MANAGED_BY: labels.TOOL_NAME,
        labels.COMPONENT: "agent",
        labels.TASK: spec.task_label,
        labels.FEATURE: spec.feature_label,
        labels.REPO_ID: repo_id(spec.repo_url),
        labels.RUN: spec.run_id,
    }


def _annotations(spec: PodSpecInput) -> dict[str, str]:
    return {
        labels.REPO: spec.repo_url,
        labels.BRANCH: spec.branch,
        labels.BASE: spec.base,
        labels.TASK_TITLE: spec.task_title,
        labels.CLEANUP: spec.cleanup,
        labels.EXPIRES_AT: expires_at(spec),
        labels.TASKS_FILE: spec.tasks_file,
        **({labels.STARTED_FROM: encode(spec.start_points)} if spec.start_points else {}),
        DEFAULT_CONTAINER_ANNOTATION: GIT_CONTAINER,  # `kubectl logs <pod>` shows the result
    }


def render_configmap(spec: PodSpecInput, owner_uid: str | None = None) -> dict[str, Any]:
    """Render the task ConfigMap: ``prompt.md`` plus one ``ctx.<n>`` key per context file.

    With ``owner_uid`` the ConfigMap is owned by the pod and garbage-collected with it.
    """
    data = {"prompt.md": spec.prompt}
    binary: dict[str, str] = {}
    for item in spec.context:
        if item.is_text:
            data[item.key] = item.content.decode("utf-8")
        else:
            binary[item.key] = base64.b64encode(item.content).decode("ascii")
    metadata: dict[str, Any] = {
        "name": configmap_name(spec.name, spec.run_id),
        "namespace": spec.namespace,
        "labels": object_labels(spec),
    }
    if owner_uid:
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Pod", "name": spec.name, "uid": owner_uid}
        ]
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    body["data"] = data
    if binary:
        body["binaryData"] = binary
    return body


def _listed(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in values.items() if value]


def _git_env(spec: PodSpecInput) -> list[dict[str, str]]:
    """The trusted side's environment: what to clone, where to push, who commits."""
    return _listed(
        {
            Env.TASK_ID: spec.task_id,
            Env.TASK_TITLE: spec.task_title,
            Env.REPO_URL: spec.repo_url,
            Env.BASE_BRANCH: spec.base,
            Env.TASK_BRANCH: spec.branch,
            Env.FEATURE: spec.feature,
            Env.TASK_DIR: TASK_DIR,
            Env.WORKSPACE: WORKSPACE,
            Env.CLONE_GIT_DIR: pod.GIT_DIR,
            Env.HANDOFF_DIR: pod.HANDOFF_DIR,
            Env.HOME: pod.GIT_HOME,
            Env.GIT_CREDENTIALS_DIR: GIT_CREDENTIALS_DIR,
            Env.ALLOW_INSECURE_HTTP: "1" if spec.allow_insecure_http else "",
            Env.GIT_AUTHOR_NAME: DEFAULT_AUTHOR[0],
            Env.GIT_AUTHOR_EMAIL: DEFAULT_AUTHOR[1],
            Env.REQUESTED_BY: spec.requested_by,
            Env.LLM_USAGE_DIR: pod.LLM_USAGE_DIR,
            Env.START_POINTS: encode(spec.start_points),
            Env.INTEGRATE: "1" if spec.integrate else "",
            Env.CHECKPOINT_SECONDS: "" if spec.integrate else str(spec.checkpoint_s),
        }
    )


def _proxy_env(spec: PodSpecInput) -> list[dict[str, str]]:
    """The LLM proxy's own settings; its keys and upstreams come from the LLM Secret."""
    return _listed(
        {
            Env.LLM_USAGE_DIR: pod.LLM_USAGE_DIR,
            Env.ALLOW_INSECURE_HTTP: "1" if spec.allow_insecure_http else "",
            # enforced here, the trusted side; the agent never sees them
            Env.LLM_TOKEN_BUDGET: str(spec.max_tokens) if spec.max_tokens else "",
            Env.LLM_PRICE_PER_MTOK: str(spec.llm_price) if spec.llm_price else "",
            Env.LLM_COST_BUDGET: plain(spec.max_cost) if spec.max_cost else "",
        }
    )


def _agent_env(spec: PodSpecInput) -> list[dict[str, str]]:
    """The untrusted side's environment: no repository URL, no credentials."""
    return _listed(
        {
            Env.TASK_ID: spec.task_id,
            Env.TASK_TITLE: spec.task_title,
            Env.MODEL: spec.model,
            Env.TASK_DIR: TASK_DIR,
            Env.WORKSPACE: WORKSPACE,
            Env.HANDOFF_DIR: pod.HANDOFF_DIR,
            Env.HOME: HOME,
            Env.AGENT_DEADLINE_SECONDS: str(agent_deadline(spec.timeout_s)),
            Env.AGENT_STALL_SECONDS: str(spec.stall_s),
            Env.AGENT_SETUP_SECONDS: str(spec.setup_s),
            Env.OPENCODE_CONFIG: f"{OPENCODE_DIR}/opencode.json",
            # the only way to the LLM: the proxy adds the key the agent never sees
            Env.LLM_PROXY_URL: pod.LLM_PROXY_URL,
            # the repository's own opencode.json / .opencode/ cannot override the operator's
            "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
            # `git status/diff/log` in the work tree: the git dir belongs to the git side
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
            Env.INTEGRATE: "1" if spec.integrate else "",
            Env.TEST_COMMAND: spec.test_command,
        }
    )


def _volumes(spec: PodSpecInput) -> list[dict[str, Any]]:
    task_items = [{"key": "prompt.md", "path": "prompt.md"}]
    task_items += [{"key": f.key, "path": f"context/{f.rel_path}"} for f in spec.context]
    empty = [{"name": name, "emptyDir": {"sizeLimit": size}} for name, size in VOLUME_SIZES.items()]
    return [
        *empty,
        {
            "name": "task",
            "configMap": {
                "name": configmap_name(spec.name, spec.run_id),
                "items": task_items,
                "defaultMode": 0o444,
            },
        },
        {
            "name": "opencode",
            "configMap": {
                "name": AGENT_CONFIG_MAP,
                "items": [{"key": "opencode.json", "path": "opencode.json"}],
                "defaultMode": 0o444,
            },
        },
        # 0440 + fsGroup: root:10001, readable by the group; mounted in the git container only
        {
            "name": "git-credentials",
            "secret": {"secretName": spec.git_secret, "defaultMode": 0o440},
        },
    ]


GIT_MOUNTS = (
    ("workspace", pod.WORK_TREE, False),
    ("gitdir", pod.GIT_DIR_MOUNT, False),
    ("handoff", pod.HANDOFF_DIR, False),
    ("git-home", pod.GIT_HOME, False),
    ("git-tmp", "/tmp", False),
    ("task", TASK_DIR, True),
    ("git-credentials", GIT_CREDENTIALS_DIR, True),
    ("llm-usage", pod.LLM_USAGE_DIR, True),  # the proxy's counts, for the result line
)
PROXY_MOUNTS = (("llm-usage", pod.LLM_USAGE_DIR, False),)
AGENT_MOUNTS = (
    ("workspace", pod.WORK_TREE, False),
    ("gitdir", pod.GIT_DIR_MOUNT, True),  # the agent reads the history, never writes it
    ("handoff", pod.HANDOFF_DIR, False),
    ("agent-home", HOME, False),
    ("agent-tmp", "/tmp", False),
    ("task", TASK_DIR, True),
    ("opencode", OPENCODE_DIR, True),
)


def _mounts(mounts: tuple[tuple[str, str, bool], ...]) -> list[dict[str, Any]]:
    return [
        {"name": name, "mountPath": path, "readOnly": True}
        if ro
        else {"name": name, "mountPath": path}
        for name, path, ro in mounts
    ]


def _security_context(uid: int | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    if uid is not None:
        context["runAsUser"] = uid
    return context


def _git_container(spec: PodSpecInput) -> dict[str, Any]:
    """The trusted side: a native sidecar, started first, stopped after the agent."""
    limits = {**GIT_RESOURCES["limits"], "ephemeral-storage": GIT_STORAGE["limits"]}
    requests = {**GIT_RESOURCES["requests"], "ephemeral-storage": GIT_STORAGE["requests"]}
    ready = f"{pod.HANDOFF_DIR}/{pod.Handoff.READY}"
    return {
        "name": GIT_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "restartPolicy": "Always",
        "args": ["git-side"],
        "env": _git_env(spec),
        "resources": {"requests": requests, "limits": limits},
        # holds the agent container until the clone is ready (or has failed)
        "startupProbe": {
            "exec": {"command": ["test", "-e", ready]},
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "failureThreshold": pod.CLONE_BUDGET_SECONDS // PROBE_PERIOD_SECONDS,
        },
        "securityContext": {**_security_context(pod.GIT_UID), "runAsGroup": pod.GID},
        "volumeMounts": _mounts(GIT_MOUNTS),
    }


def _proxy_container(spec: PodSpecInput) -> dict[str, Any]:
    """Trusted: the LLM key's only holder, a native sidecar on the pod's loopback.

    Started first and without a startup probe, so it costs the pod no start time: it is
    listening long before the clone is ready and the agent starts.
    """
    limits = {**PROXY_RESOURCES["limits"], "ephemeral-storage": PROXY_STORAGE["limits"]}
    requests = {**PROXY_RESOURCES["requests"], "ephemeral-storage": PROXY_STORAGE["requests"]}
    return {
        "name": pod.LLM_PROXY_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "restartPolicy": "Always",
        "args": ["llm-proxy"],
        "env": _proxy_env(spec),
        "envFrom": [{"secretRef": {"name": spec.llm_secret, "optional": True}}],
        "resources": {"requests": requests, "limits": limits},
        "securityContext": {
            **_security_context(pod.LLM_PROXY_UID),
            "runAsGroup": pod.LLM_PROXY_UID,
        },
        "volumeMounts": _mounts(PROXY_MOUNTS),
    }


def _agent_container(spec: PodSpecInput) -> dict[str, Any]:
    """The untrusted side: opencode, no git credentials, no LLM key (the proxy adds it).

    The only container that runs the repository's toolchain image, when there is one.
    """
    res = spec.resources
    return {
        "name": CONTAINER,
        "image": spec.toolchain_image or spec.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["run"],
        "env": _agent_env(spec),
        "resources": {
            "requests": {
                "cpu": res.cpu_request,
                "memory": res.memory_request,
                "ephemeral-storage": AGENT_STORAGE["requests"],
            },
            "limits": {
                "cpu": res.cpu_limit,
                "memory": res.memory_limit,
                "ephemeral-storage": AGENT_STORAGE["limits"],
            },
        },
        "securityContext": _security_context(),
        "volumeMounts": _mounts(AGENT_MOUNTS),
    }


# agent pods spread over the nodes (soft: a full node never keeps one waiting)
_SPREAD: dict[str, Any] = {
    "maxSkew": 1,
    "topologyKey": "kubernetes.io/hostname",
    "whenUnsatisfiable": "ScheduleAnyway",
    "labelSelector": {
        "matchLabels": {labels.MANAGED_BY: labels.TOOL_NAME, labels.COMPONENT: "agent"}
    },
}


def tolerations() -> list[dict[str, Any]]:
    """Evict the pod :data:`NODE_LOST_TOLERATION_SECONDS` after its node is lost."""
    return [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": NODE_LOST_TOLERATION_SECONDS,
        }
        for key in NODE_LOST_TAINTS
    ]


def render_pod(spec: PodSpecInput) -> dict[str, Any]:
    """Render the bare agent Pod (``restartPolicy: Never``, pod-level deadline).

    Three containers of one image: ``llm-proxy`` and ``git`` (trusted, native sidecars)
    and ``agent`` (untrusted; the repository's toolchain image instead, if it has one); no
    shared process namespace, so no agent process outlives its container and none reads
    another's environment.
    """
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": object_labels(spec),
            "annotations": _annotations(spec),
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": pod_deadline(spec.timeout_s),
            "terminationGracePeriodSeconds": GRACE_SECONDS,
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": UID,
                "runAsGroup": pod.GID,
                "fsGroup": pod.GID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "topologySpreadConstraints": [_SPREAD],
            "tolerations": tolerations(),
            "initContainers": [_proxy_container(spec), _git_container(spec)],
            "containers": [_agent_container(spec)],
            "volumes": _volumes(spec),
        },
    }


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing multi-line strings as literal blocks (``|``).

    PyYAML (YAML 1.1) leaves ``589e12``, ``1e3`` or ``0o17`` unquoted, which the Go YAML
    of ``kubectl`` reads as numbers: a label holding a hash like ``589e12`` then fails
    to decode.  Every string a YAML 1.2 reader could take for a number is quoted.
    """


_NUMBERISH = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0o[0-7]+|0x[0-9a-fA-F]+|0b[01]+)$"
)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else ("'" if _NUMBERISH.match(value) else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(documents: Sequence[dict[str, Any]]) -> str:
    """Render ``documents`` as one multi-document YAML stream (``kubectl apply -f -`` ready)."""
    return yaml.dump_all(
        list(documents), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )
