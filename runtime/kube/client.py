"""Connecting to the cluster, with errors a user can act on.

Every module that talks to the API server gets its client here so that a missing
kubeconfig or an unreachable cluster is always reported the same way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from runtime.errors import ClusterUnreachableError, KubeApiError, KubeConfigError

DEFAULT_NAMESPACE = "speckit-pods"
# Ride out an API server restart (kubelet brings a static kube-apiserver back in
# ~10-30 s): refused or broken connections (a port forward accepts, then the TLS
# handshake fails), and 429/5xx answers to idempotent calls, are retried with
# backoff 0, 1, 2, 4, 8, 10, 10 ... s, about a minute in all.
OUTAGE_RETRIES = 10
OUTAGE_READ_RETRIES = 2  # a read error can also be a slow server: do not wait 10x
OUTAGE_BACKOFF_S = 0.5
OUTAGE_BACKOFF_MAX_S = 10.0


@dataclasses.dataclass(frozen=True)
class Kube:
    """The API groups this tool uses, bound to one cluster and namespace."""

    core: Any  # runtime.kube.core_api.JsonCoreApi (CoreV1Api's calls, answering dicts)
    namespace: str


def connect(namespace: str | None = None, context: str | None = None) -> Kube:
    """Load kubeconfig (or in-cluster config) and check the API server answers.

    Raises:
        KubeConfigError: no kubeconfig file and not running in a cluster.
        ClusterUnreachableError: the API server does not answer.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    from runtime.kube.core_api import JsonCoreApi

    try:
        if "KUBERNETES_SERVICE_HOST" in os.environ and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        else:
            # pass KUBECONFIG explicitly: the client reads it once, at import time
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.environ.get("KUBECONFIG") or None, context=context
            )
    except (ConfigException, FileNotFoundError, TypeError) as err:
        path = os.environ.get("KUBECONFIG", "~/.kube/config")
        raise KubeConfigError(
            f"no usable kubeconfig ({path}): {err}",
            hint="set KUBECONFIG or run `kind export kubeconfig`",
        ) from err
    probe = client.Configuration.get_default_copy()
    probe.retries = 1  # an unreachable cluster is reported at once, not after a minute
    try:
        client.VersionApi(client.ApiClient(probe)).get_code(_request_timeout=10)
    except Exception as err:  # urllib3 raises many types; all mean "unreachable"
        host = probe.host
        raise ClusterUnreachableError(
            f"cannot reach the Kubernetes API at {host}: {type(err).__name__}",
            hint="is the cluster running? check `kubectl cluster-info`",
        ) from err
    patient = client.Configuration.get_default_copy()
    patient.retries = outage_retry()
    return Kube(
        core=JsonCoreApi(client.ApiClient(patient)),
        namespace=namespace or os.environ.get("SPECKIT_PODS_NAMESPACE") or DEFAULT_NAMESPACE,
    )


def outage_retry() -> Any:
    """The ``urllib3.Retry`` policy of every API call after the first.

    Errors before the request was sent (connect, TLS) are retried for every method.
    Read errors before an answer (a pooled connection the old server closed) are
    retried a few times, for idempotent methods only: a POST may have been applied.
    A watch or log stream that drops mid-body is resumed by its caller, which knows
    where it was.
    """
    from urllib3.util.retry import Retry

    return Retry(
        total=OUTAGE_RETRIES,
        connect=OUTAGE_RETRIES,
        status=OUTAGE_RETRIES,
        read=OUTAGE_READ_RETRIES,
        other=OUTAGE_RETRIES,
        backoff_factor=OUTAGE_BACKOFF_S,
        backoff_max=OUTAGE_BACKOFF_MAX_S,
        status_forcelist=(429, 500, 502, 503, 504),
        raise_on_status=False,  # the last answer surfaces as an ApiException
    )


def api_error(err: Exception, action: str) -> KubeApiError:
    """Turn a kubernetes ``ApiException`` into a one-line error."""
    status = getattr(err, "status", "?")
    reason = getattr(err, "reason", "") or type(err).__name__
    body = getattr(err, "body", "") or ""
    message = ""
    if body:
        import json

        try:
            message = json.loads(body).get("message", "")
        except (ValueError, AttributeError):
            message = ""
    return KubeApiError(
        f"{action} failed: HTTP {status} {reason}. {message}".strip(),
        status=status if isinstance(status, int) else None,
    )
