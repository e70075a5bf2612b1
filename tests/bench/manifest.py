"""Baseline manifests: ``spawn-pod.sh --dry-run`` output, renamed for bare ``kubectl``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import yaml

from runtime.spawn.manifests import to_yaml
from tests.e2e.cluster import NAMESPACE, Kubectl
from tests.e2e.conftest import SPAWN, Feature, run_script

Doc = dict[str, Any]


def dry_run(feature: Feature, task_id: str, *extra: str) -> list[Doc]:
    """The Pod and ConfigMap spawn-pod.sh would apply for ``task_id``."""
    done = run_script(
        SPAWN, "--task-id", task_id, "--branch", feature.branch(task_id),
        "--repo", feature.remote_url, "--context-dir", str(feature.feature_dir),
        "--base", "main", "--dry-run", *extra, cwd=feature.clone,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def renamed(
    docs: list[Doc],
    name: str,
    edit: Callable[[Doc], None] | None = None,
    *,
    configmap_first: bool = True,
) -> str:
    """The same objects as YAML, the Pod called ``name`` and its ConfigMap ``name-task``.

    The ConfigMap comes first (``kubectl apply`` creates in order), as a careful user
    would write it: a Pod created first has its ConfigMap volume mount fail once and
    retried by the kubelet (``configmap_first=False`` measures that retry).
    """
    docs = copy.deepcopy(docs)
    out: list[Doc] = []
    for doc in docs:
        doc["metadata"].pop("ownerReferences", None)
        if doc["kind"] == "Pod":
            doc["metadata"]["name"] = name
            for volume in doc["spec"]["volumes"]:
                if volume["name"] == "task":  # spawn's own name carries its run id
                    volume["configMap"]["name"] = f"{name}-task"
            if edit is not None:
                edit(doc)
        else:
            doc["metadata"]["name"] = f"{name}-task"
        out.append(doc)
    out.sort(key=lambda doc: (doc["kind"] == "Pod") == configmap_first)
    return to_yaml(out)


def on(node: str, edit: Callable[[Doc], None] | None = None) -> Callable[[Doc], None]:
    """``edit`` (if any), and the Pod runs on ``node`` (a ``kubernetes.io/hostname`` selector)."""

    def pinned(pod: Doc) -> None:
        if edit is not None:
            edit(pod)
        pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}

    return pinned


def agent(pod: Doc) -> Doc:
    """The ``agent`` container of a Pod document."""
    containers: list[Doc] = pod["spec"]["containers"]
    return next(c for c in containers if c["name"] == "agent")


def delete_pods(kubectl: Kubectl, *pods: str) -> None:
    """Delete the bench's pods and their task ConfigMaps, waiting until they are gone."""
    objects = [obj for pod in pods for obj in (f"pod/{pod}", f"configmap/{pod}-task")]
    kubectl.run(
        "delete", *objects, "-n", NAMESPACE, "--grace-period=1", "--ignore-not-found",
        "--wait=true",
    )  # fmt: skip
