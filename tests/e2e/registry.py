"""A real registry beside the e2e cluster (image from hack/bootstrap/registry.sh).

The agent image is pushed to it from the host and the kind node pulls it from there,
as a real cluster pulls from its registry: the e2e never ``kind load``s the agent
image, so every agent pod's first start on a node is a real pull (containerd, HTTP,
the registry's manifests and blobs). The registry joins the ``kind`` docker network
under a fixed name, which the node resolves through docker's DNS; the host pushes to
its published loopback port (docker lets 127.0.0.1 speak plain HTTP). The node's
containerd is told the registry speaks HTTP with a ``hosts.toml`` under
``/etc/containerd/certs.d`` (``config_path`` is set in hack/kind-config.yaml), the way
kind documents a local registry.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

HOST = "speckit-pods-registry"  # its name on the kind network: the node resolves it
PORT = 5000
CERTS_D = "/etc/containerd/certs.d"


class RegistryError(RuntimeError):
    """The registry did not start, or a push to it failed."""


def in_cluster_ref(image: str) -> str:
    """The reference of ``image`` in our registry: its repository path and tag, our host.

    ``ghcr.io/speckit-pods/agent:0.1.0`` -> ``speckit-pods-registry:5000/speckit-pods/agent:0.1.0``
    """
    first, _, rest = image.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else image
    return f"{HOST}:{PORT}/{path}"


@dataclass(frozen=True)
class Registry:
    host_port: int  # published on 127.0.0.1: where the host pushes

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    def push(self, image: str) -> str:
        """Push the local docker ``image``; returns the reference the cluster pulls."""
        ref = in_cluster_ref(image)
        local = f"127.0.0.1:{self.host_port}/{ref.split('/', 1)[1]}"
        _docker("tag", image, local)
        try:
            _docker("push", "--quiet", local)
        finally:
            _docker("rmi", local)  # the host keeps only its own name for the image
        return ref

    def digest(self, ref: str) -> str:
        """The manifest digest the registry serves for ``ref`` (``sha256:…``)."""
        path, _, tag = ref.split("/", 1)[1].rpartition(":")
        req = urllib.request.Request(
            f"{self.host_url}/v2/{path}/manifests/{tag}",
            method="HEAD",
            headers={
                "Accept": ", ".join(
                    [
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    ]
                )
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(resp.headers["Docker-Content-Digest"])

    def has(self, ref: str) -> bool:
        """Whether the registry serves a manifest for ``ref``."""
        try:
            self.digest(ref)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return False
            raise
        return True


def trust_on_node(node: str) -> None:
    """Tell the node's containerd that the registry speaks plain HTTP (``hosts.toml``)."""
    hosts = (
        f'server = "http://{HOST}:{PORT}"\n\n'
        f'[host."http://{HOST}:{PORT}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    directory = f"{CERTS_D}/{HOST}:{PORT}"
    write = f"mkdir -p '{directory}' && cat > '{directory}/hosts.toml'"
    subprocess.run(
        ["docker", "exec", "-i", node, "sh", "-c", write],
        input=hosts, text=True, check=True, capture_output=True,
    )  # fmt: skip


@contextmanager
def registry_server(network: str, image: str, ready_timeout: float = 60.0) -> Iterator[Registry]:
    """A started registry on docker ``network`` named :data:`HOST`; removed on exit.

    A leftover of a killed run under that name is removed first: its state is unknown.
    """
    subprocess.run(["docker", "rm", "-f", HOST], capture_output=True, check=False)
    testcontainers_config.ryuk_disabled = True  # no registry: the reaper image is absent
    container = DockerContainer(image).with_name(HOST).with_exposed_ports(PORT)
    container.with_kwargs(network=network)
    container.start()
    try:
        port = int(container.get_exposed_port(PORT))
        registry = Registry(port)
        _wait_ready(registry, ready_timeout)
        yield registry
    finally:
        container.stop()


def _wait_ready(registry: Registry, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{registry.host_url}/v2/", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as err:
            last = str(err)
        time.sleep(0.5)
    raise RegistryError(f"registry not ready on {registry.host_url} after {timeout:.0f}s: {last}")


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RegistryError(f"docker {' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done.stdout


def node_images(node: str) -> list[str]:
    """The image references the node's containerd holds (``crictl images``)."""
    out = subprocess.run(
        ["docker", "exec", node, "crictl", "images", "-o", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [tag for image in json.loads(out)["images"] for tag in image.get("repoTags") or []]
