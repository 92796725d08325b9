"""The PersistentVolume controller (upstream's persistent-volume-binder): binds claims to
volumes, provisions volumes for claims of a StorageClass, and handles volumes whose claim
is gone according to their reclaim policy.

Binding writes in upstream's order so a crash at any point leaves a state the next
reconcile completes: the volume's ``claimRef`` first (this reserves it: no other claim can
take it), the volume's status ``Bound``, then the claim's ``volumeName`` with the
``pv.kubernetes.io/bind-completed`` annotation, then the claim's status ``Bound``.

Keys are ``claim:<ns>/<name>`` and ``volume:<name>``; a change to either side queues both.
Claims waiting for something outside our control (a volume an administrator has not made
yet, an external provisioner) are re-checked every :data:`RESYNC_SECONDS`, like upstream's
periodic resync — never in a hot loop.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.rest import (
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    STORAGECLASSES,
)
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.util import meta
from kubesmith.controllers.volume.local_provisioner import LOCAL_PATH_PROVISIONER, LocalPath
from kubesmith.controllers.volume.matching import claim_class, find_matching_volume

RESYNC_SECONDS = 15.0

BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def _claim_ref(claim: Obj) -> dict[str, Any]:
    m = meta(claim)
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": m["namespace"],
            "name": m["name"], "uid": m["uid"], "resourceVersion": m["resourceVersion"]}


class PersistentVolumeController(Controller):
    name = "persistent-volume-binder"
    component = "persistentvolume-controller"
    default_workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.volumes = self.informer(PERSISTENTVOLUMES)
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        self.classes = self.informer(STORAGECLASSES)
        self.local_path = LocalPath(ctx.options.local_path_root)
        self.volumes.add_handlers(on_add=self._on_volume,
                                  on_update=lambda _o, n: self._on_volume(n),
                                  on_delete=self._on_volume)
        self.claims.add_handlers(on_add=self._on_claim,
                                 on_update=lambda _o, n: self._on_claim(n),
                                 on_delete=self._on_claim)
        self.classes.add_handlers(on_add=self._on_class,
                                  on_update=lambda _o, n: self._on_class(n))

    # -- event handlers ------------------------------------------------------------------

    def _on_volume(self, volume: Obj) -> None:
        self.queue.add(f"volume:{meta(volume)['name']}")
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if ref.get("name") and ref.get("namespace"):
            self.queue.add(f"claim:{ref['namespace']}/{ref['name']}")

    def _on_claim(self, claim: Obj) -> None:
        self.queue.add(f"claim:{object_key(claim)}")
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if volume_name:
            self.queue.add(f"volume:{volume_name}")

    def _on_class(self, storage_class: Obj) -> None:
        name = meta(storage_class)["name"]
        for claim in self.claims.list():
            if claim_class(claim) == name and not (claim.get("spec") or {}).get("volumeName"):
                self.queue.add(f"claim:{object_key(claim)}")

    # -- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        kind, _, name = key.partition(":")
        if kind == "claim":
            await self._sync_claim(name)
        else:
            await self._sync_volume(name)

    async def _sync_claim(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None or meta(claim).get("deletionTimestamp"):
            return
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name:
            await self._sync_unbound_claim(claim)
            return
        volume = self.volumes.get(volume_name)
        if volume is None:
            if (claim.get("status") or {}).get("phase") == "Bound":
                await self._claim_phase(claim, "Lost")
                self.recorder.event(claim, "Warning", "ClaimLost",
                                    "Bound claim has lost reference to PersistentVolume. "
                                    "Data on the volume is lost!")
            else:
                self.queue.add_after(f"claim:{key}", RESYNC_SECONDS)
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref:
            # A claim pre-bound to a volume by name: bind the volume to it.
            await self._bind(volume, claim)
            return
        if ref.get("uid") == meta(claim)["uid"]:
            await self._finish_claim(claim, volume)
            return
        if (claim.get("status") or {}).get("phase") != "Lost":
            await self._claim_phase(claim, "Lost")
            self.recorder.event(claim, "Warning", "ClaimMisbound",
                                "Two claims are bound to the same volume, this one is bound "
                                "incorrectly")

    async def _sync_unbound_claim(self, claim: Obj) -> None:
        key = object_key(claim)
        class_name = claim_class(claim)
        storage_class = self.classes.get(class_name) if class_name else None
        delayed = storage_class is not None and \
            storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"
        selected = (meta(claim).get("annotations") or {}).get(SELECTED_NODE)
        if delayed and not selected:
            await self._claim_phase(claim, "Pending")
            self.recorder.event(claim, "Normal", "WaitForFirstConsumer",
                                "waiting for first consumer to be created before binding")
            return
        volume = find_matching_volume(claim, self.volumes.list())
        if volume is not None:
            await self._bind(volume, claim)
            return
        await self._claim_phase(claim, "Pending")
        if storage_class is None:
            if class_name:
                self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                    f'storageclass.storage.k8s.io "{class_name}" not found')
            else:
                self.recorder.event(claim, "Normal", "FailedBinding",
                                    "no persistent volumes available for this claim and no "
                                    "storage class is set")
            self.queue.add_after(f"claim:{key}", RESYNC_SECONDS)
            return
        provisioner = str(storage_class.get("provisioner") or "")
        if provisioner == LOCAL_PATH_PROVISIONER:
            await self._provision_local(claim, storage_class, selected)
            return
        if provisioner and provisioner != "kubernetes.io/no-provisioner":
            await self._annotate_provisioner(claim, provisioner)
            self.recorder.event(
                claim, "Normal", "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner "
                f"'{provisioner}' or manually by the system administrator. If volume creation "
                "is delayed, please verify that the provisioner is running and correctly "
                "registered.")
        else:
            self.recorder.event(claim, "Normal", "FailedBinding",
                                "no persistent volumes available for this claim and no "
                                "storage class is set" if not class_name else
                                "no persistent volumes available for this claim")
        self.queue.add_after(f"claim:{key}", RESYNC_SECONDS)

    async def _provision_local(self, claim: Obj, storage_class: Obj,
                               node: str | None) -> None:
        if not node:
            self.recorder.event(
                claim, "Warning", "ProvisioningFailed",
                f"{LOCAL_PATH_PROVISIONER} volumes live on one node: set volumeBindingMode: "
                f"WaitForFirstConsumer on StorageClass {meta(storage_class)['name']}")
            self.queue.add_after(f"claim:{object_key(claim)}", RESYNC_SECONDS * 4)
            return
        volume = self.local_path.volume_for(claim, storage_class, node)
        volume["spec"]["claimRef"] = _claim_ref(claim)
        try:
            created = await self.client.create(PERSISTENTVOLUMES, volume)
        except ApiError as exc:
            if exc.code != 409:
                self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                    f"failed to provision volume with StorageClass "
                                    f"\"{meta(storage_class)['name']}\": {exc.message}")
                raise
            return
        self.recorder.event(claim, "Normal", "ProvisioningSucceeded",
                            f"Successfully provisioned volume {meta(created)['name']}")

    async def _annotate_provisioner(self, claim: Obj, provisioner: str) -> None:
        annotations = meta(claim).get("annotations") or {}
        if annotations.get(STORAGE_PROVISIONER) == provisioner:
            return
        claim = copy.deepcopy(claim)
        claim["metadata"].setdefault("annotations", {}).update(
            {STORAGE_PROVISIONER: provisioner, BETA_STORAGE_PROVISIONER: provisioner})
        await self.client.replace(PERSISTENTVOLUMECLAIMS, claim)

    # -- binding -------------------------------------------------------------------------

    async def _bind(self, volume: Obj, claim: Obj) -> None:
        volume = copy.deepcopy(volume)
        spec = volume.setdefault("spec", {})
        if not spec.get("claimRef") or not spec["claimRef"].get("uid"):
            spec["claimRef"] = _claim_ref(claim)
            volume["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
            volume = await self.client.replace(PERSISTENTVOLUMES, volume)
        await self._volume_phase(volume, "Bound")
        await self._finish_claim(claim, volume, bound_by_controller=True)

    async def _finish_claim(self, claim: Obj, volume: Obj, *,
                            bound_by_controller: bool = False) -> None:
        claim = copy.deepcopy(claim)
        m = claim["metadata"]
        annotations = m.setdefault("annotations", {})
        spec = claim.setdefault("spec", {})
        if spec.get("volumeName") != meta(volume)["name"] or \
                annotations.get(BIND_COMPLETED) != "yes":
            spec["volumeName"] = meta(volume)["name"]
            annotations[BIND_COMPLETED] = "yes"
            if bound_by_controller:
                annotations[BOUND_BY_CONTROLLER] = "yes"
            claim = await self.client.replace(PERSISTENTVOLUMECLAIMS, claim)
        vspec = volume.get("spec") or {}
        status = claim.get("status") or {}
        want = {"phase": "Bound", "accessModes": vspec.get("accessModes") or [],
                "capacity": vspec.get("capacity") or {}}
        if any(status.get(k) != v for k, v in want.items()):
            claim["status"] = {**status, **want}
            await self.client.replace(PERSISTENTVOLUMECLAIMS, claim, subresource="status")
        if (volume.get("status") or {}).get("phase") != "Bound":
            await self._volume_phase(volume, "Bound")

    async def _claim_phase(self, claim: Obj, phase: str) -> None:
        if (claim.get("status") or {}).get("phase") == phase:
            return
        claim = copy.deepcopy(claim)
        claim.setdefault("status", {})["phase"] = phase
        await self.client.replace(PERSISTENTVOLUMECLAIMS, claim, subresource="status")

    async def _volume_phase(self, volume: Obj, phase: str, message: str = "") -> Obj:
        status = volume.get("status") or {}
        if status.get("phase") == phase and (status.get("message") or "") == message:
            return volume
        volume = copy.deepcopy(volume)
        volume["status"] = {"phase": phase, **({"message": message} if message else {})}
        return await self.client.replace(PERSISTENTVOLUMES, volume, subresource="status")

    # -- volumes -------------------------------------------------------------------------

    async def _sync_volume(self, name: str) -> None:
        volume = self.volumes.get(name)
        if volume is None or meta(volume).get("deletionTimestamp"):
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref:
            await self._volume_phase(volume, "Available")
            return
        if not ref.get("uid"):
            # Pre-bound by an administrator to a claim that may not exist yet.
            await self._volume_phase(volume, "Available")
            return
        claim = self.claims.get(f"{ref.get('namespace')}/{ref.get('name')}")
        if claim is not None and meta(claim).get("uid") == ref.get("uid"):
            if not (claim.get("spec") or {}).get("volumeName"):
                # Our binding was interrupted after reserving the volume: finish it.
                await self._finish_claim(claim, volume, bound_by_controller=True)
            elif (volume.get("status") or {}).get("phase") != "Bound":
                await self._volume_phase(volume, "Bound")
            return
        await self._reclaim(volume)

    async def _reclaim(self, volume: Obj) -> None:
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        phase = (volume.get("status") or {}).get("phase")
        if policy == "Retain":
            if phase != "Released":
                await self._volume_phase(volume, "Released")
            return
        if policy == "Delete":
            provisioned_by = (meta(volume).get("annotations") or {}).get(PROVISIONED_BY)
            if provisioned_by == LOCAL_PATH_PROVISIONER:
                if phase != "Released":
                    volume = await self._volume_phase(volume, "Released")
                try:
                    await self.client.delete(PERSISTENTVOLUMES, meta(volume)["name"],
                                             preconditions={"uid": meta(volume)["uid"]})
                except ApiError as exc:
                    if exc.code not in (404, 409):
                        raise
                return
            if provisioned_by:
                # An external provisioner deletes what it made once the volume is
                # Released.
                if phase != "Released":
                    await self._volume_phase(volume, "Released")
                return
            message = (f'error getting deleter volume plugin for volume '
                       f'"{meta(volume)["name"]}": no deletable volume plugin matched')
        else:
            message = "Recycle is deprecated and not supported by this cluster"
        if phase != "Failed":
            await self._volume_phase(volume, "Failed", message)
            self.recorder.event(volume, "Warning", "VolumeFailedDelete"
                                if policy == "Delete" else "VolumeFailedRecycle", message)
