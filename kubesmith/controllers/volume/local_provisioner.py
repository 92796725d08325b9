"""The built-in ``kubesmith.io/local-path`` provisioner: a claim of a StorageClass with this
provisioner gets a ``hostPath`` volume in a directory of its own on the node the scheduler
picked (like Rancher's local-path provisioner that k3s ships). The volume carries a required
node affinity for that node, so pods using it always land there; the node agent creates the
directory (``DirectoryOrCreate``) when it first mounts it.

Only ``WaitForFirstConsumer`` makes sense for node-local storage: the node must be known
before the volume exists.
"""

from __future__ import annotations

from kubesmith.api.types import Obj
from kubesmith.controllers.util import meta

LOCAL_PATH_PROVISIONER = "kubesmith.io/local-path"


class LocalPath:
    """Builds local-path PersistentVolumes under ``root`` on the nodes."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def volume_for(self, claim: Obj, storage_class: Obj, node: str) -> Obj:
        """The PersistentVolume for ``claim`` on ``node`` (not yet created)."""
        m = meta(claim)
        spec = claim.get("spec") or {}
        name = f"pvc-{m['uid']}"
        requests = (spec.get("resources") or {}).get("requests") or {}
        return {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name,
                         "annotations": {"pv.kubernetes.io/provisioned-by":
                                         LOCAL_PATH_PROVISIONER}},
            "spec": {
                "capacity": {"storage": requests.get("storage", "1Gi")},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or
                "Delete",
                "storageClassName": meta(storage_class)["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": f"{self.root}/{name}_{m['namespace']}_{m['name']}",
                             "type": "DirectoryOrCreate"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In",
                     "values": [node]}]}]}},
            },
        }
