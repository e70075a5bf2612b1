"""What the bench reads and does inside the kind node: pod CPU time, image removal.

Pod CPU comes from the cgroups (systemd driver) in the node container.  The kubelet
removes a pod's cgroup soon after the pod ends, but the CPU of a removed cgroup stays
counted in its parents: so the CPU our task pods used over a stretch of time is the
growth of ``kubelet-kubepods.slice`` minus the growth of every pod that was there at
both ends (kube-system, anything long-lived).  Read from cgroup v2 ``cpu.stat``
``usage_usec``; on a hybrid v1 host the v2 tree is at ``/sys/fs/cgroup/unified``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

KUBEPODS_CPU_SCRIPT = r"""
root=/sys/fs/cgroup
[ -d "$root/unified/kubelet.slice" ] && root=$root/unified
top=$(find "$root" -maxdepth 3 -type d -name "*kubepods.slice" | head -n 1)
[ -n "$top" ] || { echo "no kubepods cgroup under $root" >&2; exit 3; }
echo "total $(sed -n 's/^usage_usec //p' "$top/cpu.stat")"
find "$top" -maxdepth 2 -type d -name "*-pod*.slice" | while read -r pod; do
  echo "${pod##*/} $(sed -n 's/^usage_usec //p' "$pod/cpu.stat")"
done
"""


@dataclass(frozen=True)
class KubepodsCpu:
    """CPU microseconds of all pods together (``total``) and of each live pod slice."""

    total: int
    pods: dict[str, int]

    @classmethod
    def read(cls, node: str) -> KubepodsCpu:
        done = subprocess.run(
            ["docker", "exec", node, "sh", "-c", KUBEPODS_CPU_SCRIPT],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        values = {name: int(usec) for name, usec in (ln.split() for ln in done.stdout.splitlines())}
        return cls(values.pop("total"), values)

    @classmethod
    def read_nodes(cls, nodes: list[str]) -> KubepodsCpu:
        """:meth:`read` summed over ``nodes`` (pod slices keyed ``node/slice``)."""
        total, pods = 0, {}
        for node in nodes:
            one = cls.read(node)
            total += one.total
            pods.update({f"{node}/{name}": usec for name, usec in one.pods.items()})
        return cls(total, pods)

    def new_pods_seconds(self, before: KubepodsCpu) -> float:
        """CPU seconds of the pods that came (and perhaps went) since ``before``."""
        stayed = set(before.pods) & set(self.pods)
        others = sum(self.pods[name] - before.pods[name] for name in stayed)
        return (self.total - before.total - others) / 1e6


def remove_image(node: str, image: str) -> None:
    """Delete ``image`` from the node's containerd (no pod may be using it)."""
    subprocess.run(
        ["docker", "exec", node, "crictl", "rmi", image], capture_output=True, check=True
    )


def has_image(node: str, image: str) -> bool:
    found = subprocess.run(
        ["docker", "exec", node, "crictl", "inspecti", image], capture_output=True, check=False
    )
    return found.returncode == 0
