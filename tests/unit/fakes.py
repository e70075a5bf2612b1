"""In-memory stand-ins for the Kubernetes API, shared by the unit tests.

Sections are owned by the module they serve; add classes, do not rewrite others'.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from runtime.kube import labels
from runtime.kube.client import Kube
from runtime.kube.pods import Clock as SpawnClockType

Pod = dict[str, Any]

# --- watching side: podwatch, logs, follow, cleanup, status -------------------------------


class FakeClock:
    """A monotonic clock that only moves when told to (``sleep`` advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def stamp(second: int, nanos: int = 0) -> str:
    """An RFC3339Nano timestamp ``second`` seconds after 2025-01-01T00:00:00Z."""
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=second)
    fraction = f".{nanos:09d}".rstrip("0").rstrip(".") if nanos else ""
    return base.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def stamp_ns(second: int, nanos: int = 0) -> int:
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=second)
    return int(base.timestamp()) * 1_000_000_000 + nanos


def make_pod(
    name: str,
    *,
    task: str = "T012",
    feature: str = "001-demo",
    phase: str = "Running",
    container: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    reason: str = "",
    message: str = "",
    conditions: list[dict[str, Any]] | None = None,
    created: str = "2025-01-01T00:00:00Z",
    namespace: str = "ns",
    repo_id: str = "",
    git: dict[str, Any] | None = None,
) -> Pod:
    """An agent pod dict in the API's JSON shape; ``container`` is the agent's state.

    ``git`` is the state of the ``git`` sidecar: given, the pod has two containers as
    spawn makes them; without it, it is a pod of one ``agent`` container (older ones).
    """
    status: dict[str, Any] = {"phase": phase, "startTime": created}
    if container is not None:
        status["containerStatuses"] = [{"name": "agent", "image": "agent:1", "state": container}]
    if git is not None:
        status["initContainerStatuses"] = [{"name": "git", "image": "agent:1", "state": git}]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    if conditions:
        status["conditions"] = conditions
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": "1",
            "creationTimestamp": created,
            "labels": {
                labels.MANAGED_BY: labels.TOOL_NAME,
                labels.TASK: task,
                labels.FEATURE: feature,
                **({labels.REPO_ID: repo_id} if repo_id else {}),
            },
            "annotations": dict(annotations or {}),
        },
        "spec": _spec(git is not None),
        "status": status,
    }


def _spec(two_containers: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "agent", "resources": {"limits": {"memory": "2Gi"}}}]
    }
    if two_containers:
        limits = {"memory": "1Gi"}
        spec["initContainers"] = [
            {"name": "git", "restartPolicy": "Always", "resources": {"limits": limits}}
        ]
    return spec


def running() -> dict[str, Any]:
    return {"running": {"startedAt": "2025-01-01T00:00:01Z"}}


def exited(code: int, reason: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": code,
        "startedAt": "2025-01-01T00:00:01Z",
        "finishedAt": "2025-01-01T00:00:43Z",
    }
    if reason:
        state["reason"] = reason
    return {"terminated": state}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


@dataclasses.dataclass
class Cut:
    """One follow connection: deliver lines up to index ``upto`` then drop.

    ``partial`` also sends half of the next line before dropping; ``error`` ends with
    a ``ProtocolError`` instead of a clean EOF.
    """

    upto: int
    partial: bool = False
    error: bool = False


class FakeLogResponse:
    """Stands in for the urllib3 response of a ``_preload_content=False`` request."""

    def __init__(self, data: bytes, chunk: int, error: bool) -> None:
        self.data, self.chunk, self.error = data, chunk, error
        self.released = False

    def stream(self, amt: int) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            yield self.data[start : start + self.chunk]
        if self.error:
            raise ProtocolError("Connection broken: IncompleteRead")

    def release_conn(self) -> None:
        self.released = True


class FakeClusterCore:
    """The CoreV1Api calls of the watching side, over in-memory pods, logs and events."""

    def __init__(self, namespace: str = "ns") -> None:
        self.namespace = namespace
        self.pods: dict[str, Pod] = {}
        self.logs: dict[str, list[tuple[int, str]]] = {}  # name -> [(ns timestamp, text)]
        self.cuts: dict[str, list[Cut]] = {}
        self.final: dict[str, Pod] = {}  # pod state set once its log is fully delivered
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.log_calls: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.refused: dict[str, ApiException] = {}  # annotation key -> error of a patch setting it
        self.delivered: dict[str, int] = {}  # name -> lines sent on follow connections
        self.chunk = 7
        self.quotas: list[dict[str, Any]] = []  # ResourceQuota objects of the namespace
        self.configmaps: dict[str, dict[str, Any]] = {}  # name -> metadata
        self.deleted_configmaps: list[str] = []

    def list_namespaced_resource_quota(self, namespace: str, **_: Any) -> dict[str, Any]:
        return {"items": copy.deepcopy(self.quotas)}

    # pods
    def add(self, pod: Pod) -> None:
        self.pods[pod["metadata"]["name"]] = pod

    def read_namespaced_pod(self, name: str, namespace: str) -> Pod:
        if name not in self.pods:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.pods[name])

    def list_namespaced_pod(
        self, namespace: str, label_selector: str = "", **_: Any
    ) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        items = [
            copy.deepcopy(pod)
            for pod in self.pods.values()
            if all(pod["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]
        return {"items": items}

    def list_namespaced_event(self, namespace: str, field_selector: str = "") -> dict[str, Any]:
        name = field_selector.split("=", 1)[1]
        return {"items": copy.deepcopy(self.events.get(name, []))}

    def delete_namespaced_pod(self, name: str, namespace: str) -> None:
        if name not in self.pods:
            raise ApiException(status=404, reason="Not Found")
        del self.pods[name]
        self.deleted.append(name)

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        if name not in self.pods:
            raise ApiException(status=404, reason="Not Found")
        for key in body["metadata"]["annotations"]:
            if key in self.refused:
                raise self.refused[key]
        self.patches.append((name, body))
        meta = self.pods[name]["metadata"]
        meta.setdefault("annotations", {}).update(body["metadata"]["annotations"])

    # task ConfigMaps (the orphan sweep): metadata dicts by name
    def list_namespaced_config_map_metadata(self, namespace: str, **kw: Any) -> dict[str, Any]:
        selector = str(kw.get("label_selector") or "")
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        items = [
            {"metadata": copy.deepcopy(meta)}
            for meta in self.configmaps.values()
            if all((meta.get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        return {"items": items}

    def delete_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> None:
        if name not in self.configmaps:
            raise ApiException(status=404, reason="Not Found")
        uid = ((kw.get("body") or {}).get("preconditions") or {}).get("uid")
        if uid is not None and uid != self.configmaps[name].get("uid"):
            raise ApiException(status=409, reason="Conflict")
        del self.configmaps[name]
        self.deleted_configmaps.append(name)

    # logs
    def _since(self, name: str, since_seconds: int | None) -> int:
        """Index of the first line the API returns: second precision, like the kubelet."""
        if since_seconds is None or not self.logs[name]:
            return 0
        server_now = self._delivered_ts(name)
        cutoff = (server_now // 1_000_000_000 - since_seconds) * 1_000_000_000
        return next((i for i, (ts, _) in enumerate(self.logs[name]) if ts >= cutoff), 0)

    def _delivered_ts(self, name: str) -> int:
        delivered = self.delivered.get(name, 0)
        lines = self.logs[name]
        return lines[max(0, min(delivered, len(lines)) - 1)][0]

    def _mark_delivered(self, name: str, upto: int) -> None:
        self.delivered[name] = max(self.delivered.get(name, 0), upto)

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Any:
        self.log_calls.append(kw)
        if name not in self.pods:
            raise ApiException(status=404, reason="Not Found")
        lines = self.logs.get(name, [])
        if kw.get("tail_lines"):
            return "".join(f"{text}\n" for _, text in lines[-kw["tail_lines"] :])
        start = self._since(name, kw.get("since_seconds"))
        cut = self.cuts[name].pop(0) if kw.get("follow") and self.cuts.get(name) else None
        upto = len(lines) if cut is None else cut.upto
        data = "".join(f"{stamp_text(ts, text)}\n" for ts, text in lines[start:upto])
        if cut is not None and cut.partial and upto < len(lines):
            whole = stamp_text(*lines[upto])
            data += whole[: len(whole) // 2]
        self._mark_delivered(name, upto)
        if cut is None and kw.get("follow") and name in self.final:
            self.pods[name] = copy.deepcopy(self.final[name])
        return FakeLogResponse(data.encode(), self.chunk, bool(cut and cut.error))


def stamp_text(ts: int, text: str) -> str:
    moment = datetime.datetime.fromtimestamp(ts // 1_000_000_000, tz=datetime.UTC)
    nanos = ts % 1_000_000_000
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z " + text


class FakeWatch:
    """``kubernetes.watch.Watch`` over scripted batches; an empty batch = a timeout.

    Each ``stream`` call takes the next batch, applies it to the fake core (so a re-read
    sees it) and advances ``clock`` by ``timeout_seconds`` when the batch is empty.
    """

    def __init__(self, core: FakeClusterCore, clock: FakeClock, batches: list[Any]) -> None:
        self.core, self.clock, self.batches = core, clock, batches
        self.calls: list[dict[str, Any]] = []
        self.stopped = 0

    def __call__(self) -> FakeWatch:  # used as the watch factory
        return self

    def stream(self, func: Any, namespace: str, **kw: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(kw)
        batch = self.batches.pop(0) if self.batches else []
        if isinstance(batch, BaseException):
            raise batch
        if not batch:
            self.clock.now += kw["timeout_seconds"]
        for kind, pod in batch:
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                self.core.pods.pop(name, None)
            else:
                self.core.pods[name] = copy.deepcopy(pod)
            yield {"type": kind, "raw_object": copy.deepcopy(pod)}

    def stop(self) -> None:
        self.stopped += 1


# --- spawn side: runtime.kube.pods, runtime.spawn.create (SpawnCore, SpawnClock, feature_repo) --


def api_exception(status: int, reason: str, message: str = "") -> ApiException:
    """An ``ApiException`` with a JSON Status body, as the client raises them."""
    err = ApiException(status=status, reason=reason)
    err.body = json.dumps({"kind": "Status", "message": message or reason, "code": status})
    return err


def spawn_pod(
    name: str,
    phase: str = "Running",
    pod_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = "speckit-pods",
) -> Pod:
    """A pod as the API returns it (camelCase dict), for the spawn tests."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "labels": dict(pod_labels or {}),
            "annotations": dict(annotations or {}),
        },
        "status": {"phase": phase},
    }


def _selected(obj: Pod, selector: str) -> bool:
    have = obj["metadata"].get("labels") or {}
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
    return all(have.get(k) == v for k, v in wanted.items())


@dataclasses.dataclass
class SpawnCore:
    """Pods and ConfigMaps of one namespace: 404/409, selectors, graceful delete, GC.

    ``graceful_reads``: reads a gracefully deleted pod survives (0 = gone at once).
    ``collect_garbage``: delete owned ConfigMaps with their pod (False = a late GC).
    ``fail``: method name -> exception raised by the next call of that method.
    """

    namespace: str = "speckit-pods"
    pods: dict[str, Pod] = dataclasses.field(default_factory=dict)
    configmaps: dict[str, Pod] = dataclasses.field(default_factory=dict)
    graceful_reads: int = 0
    collect_garbage: bool = True
    fail: dict[str, BaseException] = dataclasses.field(default_factory=dict)
    calls: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    _countdown: dict[str, int] = dataclasses.field(default_factory=dict)
    _next_uid: int = 0
    _next_cm_uid: int = 0

    def add(self, obj: Pod) -> Pod:
        self.pods[obj["metadata"]["name"]] = obj
        return obj

    def _enter(self, method: str, name: str, namespace: str) -> None:
        self.calls.append((method, name))
        if method in self.fail:
            raise self.fail.pop(method)
        if namespace != self.namespace:
            raise api_exception(404, "Not Found", f'namespaces "{namespace}" not found')

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> dict[str, Any]:
        selector = str(kw.get("label_selector") or "")
        self._enter("list_namespaced_pod", selector, namespace)
        return {"items": [copy.deepcopy(p) for p in self.pods.values() if _selected(p, selector)]}

    def read_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> Pod:
        self._enter("read_namespaced_pod", name, namespace)
        if name in self._countdown:
            self._countdown[name] -= 1
            if self._countdown[name] < 0:
                self._remove_pod(name)
        if name not in self.pods:
            raise api_exception(404, "Not Found", f'pods "{name}" not found')
        return copy.deepcopy(self.pods[name])

    def create_namespaced_pod(self, namespace: str, body: Pod, **kw: Any) -> Pod:
        name = body["metadata"]["name"]
        self._enter("create_namespaced_pod", name, namespace)
        if name in self.pods:
            raise api_exception(409, "Conflict", f'pods "{name}" already exists')
        self._next_uid += 1
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = f"uid-{self._next_uid}"
        obj["status"] = {"phase": "Pending"}
        self.pods[name] = obj
        return copy.deepcopy(obj)

    def delete_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> dict[str, Any]:
        self._enter("delete_namespaced_pod", name, namespace)
        if name not in self.pods:
            raise api_exception(404, "Not Found", f'pods "{name}" not found')
        if kw.get("grace_period_seconds") == 0 or self.graceful_reads == 0:
            self._remove_pod(name)
        else:
            self.pods[name]["metadata"]["deletionTimestamp"] = "2026-11-25T12:00:00Z"
            self._countdown.setdefault(name, self.graceful_reads)
        return {"kind": "Status"}

    def patch_namespaced_pod(self, name: str, namespace: str, body: Pod, **kw: Any) -> Pod:
        self._enter("patch_namespaced_pod", name, namespace)
        if name not in self.pods:
            raise api_exception(404, "Not Found", f'pods "{name}" not found')
        meta = self.pods[name]["metadata"]
        meta.setdefault("annotations", {}).update(body["metadata"]["annotations"])
        return copy.deepcopy(self.pods[name])

    def _remove_pod(self, name: str) -> None:
        gone = self.pods.pop(name, None)
        self._countdown.pop(name, None)
        if gone is None or not self.collect_garbage:
            return
        uid = gone["metadata"].get("uid")
        for cm_name, cm in list(self.configmaps.items()):
            if any(ref.get("uid") == uid for ref in cm["metadata"].get("ownerReferences") or []):
                del self.configmaps[cm_name]

    def read_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> Pod:
        self._enter("read_namespaced_config_map", name, namespace)
        if name not in self.configmaps:
            raise api_exception(404, "Not Found", f'configmaps "{name}" not found')
        return copy.deepcopy(self.configmaps[name])

    def list_namespaced_config_map_metadata(self, namespace: str, **kw: Any) -> dict[str, Any]:
        selector = str(kw.get("label_selector") or "")
        self._enter("list_namespaced_config_map_metadata", selector, namespace)
        found = [cm for cm in self.configmaps.values() if _selected(cm, selector)]
        return {"items": [{"metadata": copy.deepcopy(cm["metadata"])} for cm in found]}

    def create_namespaced_config_map(self, namespace: str, body: Pod, **kw: Any) -> Pod:
        name = body["metadata"]["name"]
        self._enter("create_namespaced_config_map", name, namespace)
        if name in self.configmaps:
            raise api_exception(409, "Conflict", f'configmaps "{name}" already exists')
        self._next_cm_uid += 1
        obj = copy.deepcopy(body)
        obj["metadata"].update(uid=f"cm-uid-{self._next_cm_uid}", resourceVersion="1")
        obj["metadata"].setdefault("creationTimestamp", "2026-11-25T12:00:00Z")
        self.configmaps[name] = obj
        return copy.deepcopy(obj)

    def patch_namespaced_config_map(self, name: str, namespace: str, body: Pod, **kw: Any) -> Pod:
        """A JSON merge patch of ``metadata``; its ``resourceVersion`` is a precondition."""
        self._enter("patch_namespaced_config_map", name, namespace)
        if name not in self.configmaps:
            raise api_exception(404, "Not Found", f'configmaps "{name}" not found')
        meta = self.configmaps[name]["metadata"]
        changes = dict(body["metadata"])
        version = changes.pop("resourceVersion", None)
        if version is not None and version != meta.get("resourceVersion"):
            raise api_exception(409, "Conflict", "the object has been modified")
        meta.update(changes)
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)
        return copy.deepcopy(self.configmaps[name])

    def delete_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> Any:
        self._enter("delete_namespaced_config_map", name, namespace)
        if name not in self.configmaps:
            raise api_exception(404, "Not Found", f'configmaps "{name}" not found')
        uid = ((kw.get("body") or {}).get("preconditions") or {}).get("uid")
        if uid is not None and uid != self.configmaps[name]["metadata"].get("uid"):
            raise api_exception(409, "Conflict", "Precondition failed: UID in precondition")
        del self.configmaps[name]
        return {"kind": "Status"}

    def connector(self) -> Callable[[str | None, str | None], Kube]:
        """A ``runtime.kube.client.connect`` replacement handing out this fake."""

        def connect(namespace: str | None, context: str | None) -> Kube:
            return Kube(core=self, namespace=namespace or self.namespace)

        return connect


@dataclasses.dataclass
class SpawnClock:
    """Deterministic time for ``runtime.kube.pods.Clock``: ``sleep`` advances ``monotonic``."""

    at: datetime.datetime = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)
    mono: float = 1000.0
    slept: list[float] = dataclasses.field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += seconds

    def as_clock(self) -> SpawnClockType:
        return SpawnClockType(now=lambda: self.at, monotonic=lambda: self.mono, sleep=self.sleep)


SPAWN_TASKS_MD = """\
---
description: "Task list for the photo albums feature"
---

# Tasks: Photo Albums

**Input**: Design documents from `/specs/001-photo-albums/`

## Format: `[ID] [P?] [SYNC/ASYNC] [Story] Description`

## Phase 1: Setup (Shared Infrastructure)

- [x] T001 Create the project structure per the implementation plan
- [ ] T002 [P] [SYNC] Configure linting in pyproject.toml

## Phase 3: User Story 1 - Create an album (Priority: P1)

- [ ] T012 [P] [ASYNC] [US1] Create the Album model in src/models/album.py
  with fields id, title and created_at (depends on T001).
  SCRIPTED_LLM: write-file
- [ ] T013 [ASYNC] [US1] Add the albums endpoint in `src/api/albums.py`
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def feature_repo(
    root: Path, origin: str | None = "https://git.example.com/acme/photos.git"
) -> Path:
    """A spec-kit style git repo on branch ``001-photo-albums``; returns the feature dir."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "001-photo-albums")
    git(root, "config", "user.name", "Ada Lovelace")
    git(root, "config", "user.email", "ada@example.com")
    if origin:
        git(root, "remote", "add", "origin", origin)
    feature = root / "specs" / "001-photo-albums"
    (feature / "contracts" / "v1").mkdir(parents=True)
    (feature / "tasks.md").write_text(SPAWN_TASKS_MD, encoding="utf-8")
    (feature / "spec.md").write_text("# Feature Specification: Photo Albums\n", encoding="utf-8")
    (feature / "plan.md").write_text("# Implementation Plan\n", encoding="utf-8")
    (feature / "contracts" / "v1" / "albums.yaml").write_text("openapi: 3.0.3\n", "utf-8")
    return feature
