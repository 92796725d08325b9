"""persistentVolumeClaim volumes backed by node-local PersistentVolumes.

The claim must be Bound and its PersistentVolume must point back at it (same claim uid),
as the kubelet checks before mounting anything. ``hostPath`` and ``local`` volumes are
bound straight from their path on this node. Volumes of the built-in
``kubesmith.io/local-path`` provisioner are ``hostPath`` volumes of type
``DirectoryOrCreate``; their directory is created on first use with mode 0777 (as
k3s's local-path provisioner does) so pods running as any user can write to their claim.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubesmith.agent.volumes.errors import SourceError
from kubesmith.agent.volumes.hostpath import setup_host_path
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH_PROVISIONER = "kubesmith.io/local-path"
LOCAL_PATH_MODE = 0o777


@dataclass(frozen=True, slots=True)
class ClaimVolume:
    """Where a claim's data is on this node."""

    path: Path
    pv_name: str
    #: ``local`` volumes take fsGroup ownership; hostPath ones do not (as upstream).
    supports_ownership: bool


async def fetch_claim_volume(client: Client, namespace: str, claim_name: str
                             ) -> tuple[Obj, Obj]:
    """The bound (claim, volume) pair; errors carry the kubelet's texts."""
    prefix = f"error processing PVC {namespace}/{claim_name}"
    try:
        claim = await client.get(PERSISTENTVOLUMECLAIMS, claim_name, namespace)
    except ApiError as exc:
        raise SourceError(f"{prefix}: failed to fetch PVC from API server: "
                          f"{exc.message}") from exc
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        raise SourceError(f"{prefix}: PVC is being deleted")
    if (claim.get("status") or {}).get("phase") != "Bound":
        raise SourceError(f"{prefix}: PVC is not bound")
    pv_name = str((claim.get("spec") or {}).get("volumeName") or "")
    if not pv_name:
        raise SourceError(f"{prefix}: PVC has empty pvc.Spec.VolumeName")
    try:
        volume = await client.get(PERSISTENTVOLUMES, pv_name)
    except ApiError as exc:
        raise SourceError(f"{prefix}: failed to fetch PV {pv_name} from API server: "
                          f"{exc.message}") from exc
    claim_ref = (volume.get("spec") or {}).get("claimRef")
    claim_uid = (claim.get("metadata") or {}).get("uid")
    if not claim_ref:
        raise SourceError(f"{prefix}: found PV object {pv_name} but it has a nil "
                          "pv.Spec.ClaimRef indicating it is not yet bound to the claim")
    if claim_ref.get("uid") != claim_uid:
        raise SourceError(f"{prefix}: found PV object {pv_name} but its "
                          f"pv.Spec.ClaimRef.UID {claim_ref.get('uid')} does not point to "
                          f"claim.UID {claim_uid}")
    return claim, volume


def local_volume_path(volume: Obj) -> ClaimVolume:
    """Prepare the node-local path of a bound PersistentVolume."""
    spec = volume.get("spec") or {}
    name = str((volume.get("metadata") or {}).get("name", ""))
    if spec.get("hostPath"):
        source = spec["hostPath"]
        annotations = (volume.get("metadata") or {}).get("annotations") or {}
        mode = LOCAL_PATH_MODE if annotations.get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER \
            else 0o755
        path = setup_host_path(str(source.get("path", "")), str(source.get("type") or ""),
                               create_mode=mode)
        return ClaimVolume(path, name, supports_ownership=False)
    if spec.get("local"):
        local = str(spec["local"].get("path", ""))
        if not os.path.exists(local):
            raise SourceError(f"path {local!r} does not exist")
        return ClaimVolume(Path(local), name, supports_ownership=True)
    raise SourceError(f"PersistentVolume {name} is neither hostPath nor local: "
                      "kubesmith's agent mounts node-local volumes only")
