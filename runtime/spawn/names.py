"""Kubernetes-safe names: pod names, label values and run ids.

Pod names are DNS-1123 labels (at most 63 characters, ``[a-z0-9-]``, alphanumeric
ends) so they are also valid hostnames.  They are stable per (feature, task): the
same task of the same feature always gets the same pod name, which makes a second
concurrent spawn of one task fail at creation time instead of running twice.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets

MAX_LABEL = 63
NAME_PREFIX = "sp"
_HASH_LEN = 6
_TASK_MAX = 12

_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def short_hash(*parts: str, length: int = _HASH_LEN) -> str:
    """Return a stable lowercase hex digest of ``parts`` (joined by NUL)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def is_dns_label(name: str) -> bool:
    """Whether ``name`` is a valid DNS-1123 label (pod name, namespace)."""
    return len(name) <= MAX_LABEL and bool(_DNS_LABEL_RE.fullmatch(name))


def is_label_value(value: str) -> bool:
    """Whether ``value`` is a valid Kubernetes label value (may be empty)."""
    return len(value) <= MAX_LABEL and bool(_LABEL_VALUE_RE.fullmatch(value))


def _dns_chunk(text: str, limit: int) -> str:
    """Lowercase ``text`` to ``[a-z0-9-]``, squeeze dashes, cut to ``limit``, trim dashes."""
    chunk = re.sub(r"[^a-z0-9]+", "-", text.lower())
    return chunk[:limit].strip("-")


def repo_id(url: str) -> str:
    """A short stable id of a repository: the same for ``https://Host/o/r.git`` and ``…/o/r``.

    Scheme and host are compared case-insensitively; a trailing ``/`` or ``.git`` is
    dropped. Empty for an empty URL.
    """
    text = url.strip().rstrip("/")
    if not text:
        return ""
    text = text[:-4] if text.endswith(".git") else text
    scheme, sep, rest = text.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        text = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return short_hash(text, length=10)


def pod_name(feature: str, task_id: str, repo: str = "") -> str:
    """Return the pod name for one task of one feature of one repository.

    Shape: ``sp-<feature>-<task>-<hash6>``; the feature part is truncated so the
    whole fits in 63 characters, and the hash (of the untruncated, unsanitised
    feature and task, and of the repository's :func:`repo_id`) keeps truncated or
    sanitised names distinct, and features of the same name in two repositories apart.

    Example: ``pod_name("001-photo-albums", "T012") == "sp-001-photo-albums-t012-<hash6>"``.
    """
    task = _dns_chunk(task_id, _TASK_MAX) or "task"
    digest = short_hash(feature, task_id, repo_id(repo)) if repo else short_hash(feature, task_id)
    room = MAX_LABEL - len(NAME_PREFIX) - len(task) - len(digest) - 3  # three dashes
    feat = _dns_chunk(feature, room)
    parts = [NAME_PREFIX, feat, task, digest] if feat else [NAME_PREFIX, task, digest]
    return "-".join(parts)


def configmap_name(pod: str, run: str) -> str:
    """Return the name of the task ConfigMap of pod ``pod`` in the spawn with run id ``run``.

    One name per spawn, not per pod: two spawns of one task racing (two dispatchers)
    each create their own ConfigMap and only the pod create decides which runs, so the
    loser never deletes or replaces the ConfigMap the winner's pod mounts.  A DNS
    subdomain: at most 63 + 6 + 22 characters.
    """
    return f"{pod}-task-{run}"


def label_value(text: str) -> str:
    """Sanitise ``text`` into a valid label value.

    Characters outside ``[A-Za-z0-9._-]`` become ``-``; the ends are trimmed to
    alphanumerics.  Values longer than 63 characters are cut and suffixed with a
    hash of the original so distinct inputs stay distinct.  May return ``""``.
    """
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)
    if len(value) > MAX_LABEL:
        value = value[: MAX_LABEL - _HASH_LEN - 1].rstrip("-_.") + "-" + short_hash(text)
    return value.strip("-_.")


def run_id(now: datetime.datetime | None = None) -> str:
    """Return a new run id: UTC timestamp plus random suffix, e.g. ``20261125t101500-a1b2c3``.

    Run ids sort by creation time and are valid label values.
    """
    moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return f"{moment:%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"
