"""The CoreV1 calls this tool makes, as plain JSON over the official client's transport.

The generated ``kubernetes.client.CoreV1Api`` builds some 250 pydantic models when it
is imported: 0.6 s, more than everything else a spawn does.  This class keeps the
official client's ``ApiClient`` (kubeconfig, auth plugins, TLS, the retry policy
of :mod:`runtime.kube.client`) and its ``ApiException``, and answers with the JSON dicts the
rest of the code works with (:func:`runtime.follow.classify.as_plain` passes them through).

Method names and arguments are those of ``CoreV1Api``, so the unit tests' fakes and
``kubernetes.watch.Watch`` work with either.  With ``_preload_content=False`` the
urllib3 response is returned for streaming (watches, ``follow`` logs).
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
# a list of the objects' metadata only (PartialObjectMetadataList), not their data
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
_OPTIONS = ("_preload_content", "_request_timeout")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _query(params: dict[str, Any]) -> list[tuple[str, str]]:
    query = []
    for key, value in params.items():
        if value is None or key in _OPTIONS:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        query.append((_camel(key), text))
    return query


class JsonCoreApi:
    """``CoreV1Api``'s pod, log, event, ConfigMap and ResourceQuota calls, answering dicts."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        body: Any = None,
        content_type: str = JSON,
        text: bool = False,
        accept: str = JSON,
    ) -> Any:
        headers = {"Accept": accept}  # JSON for logs too: the API server refuses text/plain (406)
        if body is not None:
            headers["Content-Type"] = content_type
        _, url, headers, body, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=_query(params),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(
            method, url, header_params=headers, body=body,
            _request_timeout=params.get("_request_timeout"),
        )  # fmt: skip
        raw = response.response  # the urllib3 response
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException(http_resp=response)
        if params.get("_preload_content", True) is False:
            return raw
        data = response.read()
        if text:
            return data.decode("utf-8", errors="replace")
        return json.loads(data) if data else {}

    @staticmethod
    def _pods(namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/pods" + (f"/{name}" if name else "")

    @staticmethod
    def _configmaps(namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")

    def read_namespaced_pod(self, name: str, namespace: str, **params: Any) -> Any:
        """GET one pod."""
        return self._call("GET", self._pods(namespace, name), params)

    def list_namespaced_pod(self, namespace: str, **params: Any) -> Any:
        """GET the pods (``watch=True`` + ``_preload_content=False``: the event stream)."""
        return self._call("GET", self._pods(namespace), params)

    def create_namespaced_pod(self, namespace: str, body: Any, **params: Any) -> Any:
        """POST a pod."""
        return self._call("POST", self._pods(namespace), params, body)

    def delete_namespaced_pod(self, name: str, namespace: str, **params: Any) -> Any:
        """DELETE a pod (``grace_period_seconds`` optional)."""
        return self._call("DELETE", self._pods(namespace, name), params)

    def patch_namespaced_pod(self, name: str, namespace: str, body: Any, **params: Any) -> Any:
        """JSON merge-patch a pod."""
        return self._call("PATCH", self._pods(namespace, name), params, body, MERGE_PATCH)

    def read_namespaced_pod_log(self, name: str, namespace: str, **params: Any) -> Any:
        """GET a container's log: text, or the urllib3 response to stream."""
        path = self._pods(namespace, name) + "/log"
        return self._call("GET", path, params, text=True)

    def list_namespaced_event(self, namespace: str, **params: Any) -> Any:
        """GET the events (``field_selector`` e.g. ``involvedObject.name=…``)."""
        return self._call("GET", f"/api/v1/namespaces/{namespace}/events", params)

    def create_namespaced_config_map(self, namespace: str, body: Any, **params: Any) -> Any:
        """POST a ConfigMap."""
        return self._call("POST", self._configmaps(namespace), params, body)

    def read_namespaced_config_map(self, name: str, namespace: str, **params: Any) -> Any:
        """GET one ConfigMap."""
        return self._call("GET", self._configmaps(namespace, name), params)

    def list_namespaced_config_map_metadata(self, namespace: str, **params: Any) -> Any:
        """GET the ConfigMaps' metadata only (``label_selector``): none of their data.

        Not a ``CoreV1Api`` call: a PartialObjectMetadataList, ``{"items": [{"metadata":
        …}]}``, so that a sweep does not download every task's prompt and context files.
        """
        return self._call("GET", self._configmaps(namespace), params, accept=METADATA_LIST)

    def patch_namespaced_config_map(
        self, name: str, namespace: str, body: Any, **params: Any
    ) -> Any:
        """JSON merge-patch a ConfigMap (a ``metadata.resourceVersion`` in it is a precondition)."""
        return self._call("PATCH", self._configmaps(namespace, name), params, body, MERGE_PATCH)

    def delete_namespaced_config_map(
        self, name: str, namespace: str, body: Any = None, **params: Any
    ) -> Any:
        """DELETE a ConfigMap (``body``: DeleteOptions, e.g. ``{"preconditions": {"uid": …}}``)."""
        return self._call("DELETE", self._configmaps(namespace, name), params, body)

    def list_namespaced_resource_quota(self, namespace: str, **params: Any) -> Any:
        """GET the ResourceQuotas (hard and used: how many more pods fit)."""
        return self._call("GET", f"/api/v1/namespaces/{namespace}/resourcequotas", params)
