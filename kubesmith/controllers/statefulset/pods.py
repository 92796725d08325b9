"""Creating, repairing and deleting a StatefulSet's pods and claims, each write reported as
an Event on the StatefulSet in upstream's words (``create Pod web-0 in StatefulSet web
successful``, ``create Claim data-web-0 Pod web-0 in StatefulSet web success``) —
upstream ``StatefulPodControl``.

Claims are created before their pod and never deleted here: the retention policy only sets
owner references, the garbage collector does the deleting.
"""

from __future__ import annotations

import copy

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import PERSISTENTVOLUMECLAIMS, PODS
from kubesmith.controllers.statefulset.identity import (
    claims_for,
    identity_matches,
    ordinal_of,
    storage_matches,
    update_identity,
    update_storage,
)
from kubesmith.controllers.statefulset.retention import (
    POD_REF,
    RETAIN,
    claim_owner_up_to_date,
    has_stale_ref,
    has_unexpected_controller,
    owner_refs_for_policy,
    retention_policy,
)
from kubesmith.controllers.util import is_terminating, meta

_UPDATE_ATTEMPTS = 5


class StatefulPodControl:
    """The pod and claim writes of the StatefulSet controller."""

    def __init__(self, client: Client, recorder: EventRecorder, pods: Informer,
                 claims: Informer) -> None:
        self.client = client
        self.recorder = recorder
        self.pods = pods
        self.claims = claims

    # ---- events ------------------------------------------------------------------------

    def _pod_event(self, verb: str, sts: Obj, pod: Obj, error: Exception | None) -> None:
        name, set_name = meta(pod).get("name"), meta(sts).get("name")
        if error is None:
            self.recorder.event(sts, "Normal", f"Successful{verb.title()}",
                                f"{verb} Pod {name} in StatefulSet {set_name} successful")
        else:
            self.recorder.event(sts, "Warning", f"Failed{verb.title()}",
                                f"{verb} Pod {name} in StatefulSet {set_name} failed error: "
                                f"{_text(error)}")

    def _claim_event(self, verb: str, sts: Obj, pod: Obj, claim: Obj,
                     error: Exception | None) -> None:
        claim_name, pod_name = meta(claim).get("name"), meta(pod).get("name")
        set_name = meta(sts).get("name")
        if error is None:
            self.recorder.event(sts, "Normal", f"Successful{verb.title()}",
                                f"{verb} Claim {claim_name} Pod {pod_name} in StatefulSet "
                                f"{set_name} success")
        else:
            self.recorder.event(sts, "Warning", f"Failed{verb.title()}",
                                f"{verb} Claim {claim_name} for Pod {pod_name} in StatefulSet "
                                f"{set_name} failed error: {_text(error)}")

    # ---- claims ------------------------------------------------------------------------

    def _cached_claim(self, claim: Obj) -> Obj | None:
        return self.claims.get(f"{meta(claim)['namespace']}/{meta(claim)['name']}")

    async def create_claims(self, sts: Obj, pod: Obj) -> None:
        """Create the pod's missing claims; raise when one cannot be (or is being
        deleted)."""
        errors: list[str] = []
        for _, claim in claims_for(sts, ordinal_of(pod)):
            existing = self._cached_claim(claim)
            if existing is not None:
                if is_terminating(existing):
                    errors.append(f"pvc {meta(claim)['name']} is being deleted")
                continue
            try:
                await self.client.create(PERSISTENTVOLUMECLAIMS, claim)
            except ApiError as exc:
                if exc.code == 409:
                    # Created by an earlier sync the cache has not caught up with.
                    continue
                errors.append(f"failed to create PVC {meta(claim)['name']}: {exc.message}")
                self._claim_event("create", sts, pod, claim, exc)
                continue
            self._claim_event("create", sts, pod, claim, None)
        if errors:
            raise StatefulSetPodError("; ".join(errors))

    def claim_is_stale(self, sts: Obj, pod: Obj) -> bool:
        """Whether a claim of the pod about to be created still belongs to an earlier pod
        of that name (deleted with whenScaled Delete, the GC not done yet)."""
        if retention_policy(sts)[1] == RETAIN:
            return False
        for _, claim in claims_for(sts, ordinal_of(pod)):
            existing = self._cached_claim(claim)
            if existing is not None and has_stale_ref(existing, pod, POD_REF):
                return True
        return False

    def claims_follow_policy(self, sts: Obj, pod: Obj) -> bool:
        """Whether every existing claim of the pod has the owners its policy wants."""
        for _, claim in claims_for(sts, ordinal_of(pod)):
            existing = self._cached_claim(claim)
            if existing is not None and not claim_owner_up_to_date(existing, sts, pod):
                return False
        return True

    async def apply_claim_policy(self, sts: Obj, pod: Obj) -> None:
        """Set the owner references of the pod's claims as the retention policy wants."""
        for _, claim in claims_for(sts, ordinal_of(pod)):
            existing = self._cached_claim(claim)
            if existing is None:
                continue
            if has_unexpected_controller(existing, sts, pod):
                self.recorder.event(sts, "Warning", "ConflictingController",
                                    f"PersistentVolumeClaim {meta(claim)['name']} has a "
                                    "conflicting OwnerReference that acts as a managing "
                                    "controller, the retention policy is ignored for this "
                                    "claim")
            if claim_owner_up_to_date(existing, sts, pod):
                continue
            body = copy.deepcopy(existing)
            body["metadata"]["ownerReferences"] = owner_refs_for_policy(existing, sts, pod)
            try:
                await self.client.replace(PERSISTENTVOLUMECLAIMS, body)
            except ApiError as exc:
                raise StatefulSetPodError(f"could not update claim {meta(claim)['name']} for "
                                          f"delete policy ownerRefs: {exc.message}") from exc

    # ---- pods --------------------------------------------------------------------------

    async def create(self, sts: Obj, pod: Obj) -> None:
        """Create the pod's claims, then the pod, then set the claims' owners."""
        try:
            await self.create_claims(sts, pod)
        except StatefulSetPodError as exc:
            self._pod_event("create", sts, pod, exc)
            raise
        try:
            created = await self.client.create(PODS, pod)
        except ApiError as exc:
            if exc.code != 409:  # already there: the cache is behind, nothing to report
                self._pod_event("create", sts, pod, exc)
            raise
        try:
            await self.apply_claim_policy(sts, created)
        except StatefulSetPodError as exc:
            self._pod_event("update", sts, pod, exc)
            raise
        self._pod_event("create", sts, pod, None)

    async def repair(self, sts: Obj, pod: Obj) -> None:
        """Restore the pod's identity labels and claim volumes, and its claims' owners
        (upstream ``UpdateStatefulPod``); retried on conflicts."""
        attempted = False
        current = copy.deepcopy(pod)
        try:
            for attempt in range(_UPDATE_ATTEMPTS):
                changed = False
                if not identity_matches(sts, current):
                    update_identity(sts, current)
                    changed = True
                if not storage_matches(sts, current):
                    update_storage(sts, current)
                    changed = True
                    await self.create_claims(sts, current)
                if not self.claims_follow_policy(sts, current):
                    attempted = True
                    await self.apply_claim_policy(sts, current)
                if not changed:
                    break
                attempted = True
                try:
                    await self.client.replace(PODS, current)
                    break
                except ApiError as exc:
                    if exc.code != 409 or attempt == _UPDATE_ATTEMPTS - 1:
                        raise
                fresh = self.pods.get(f"{meta(pod)['namespace']}/{meta(pod)['name']}")
                current = copy.deepcopy(fresh if fresh is not None else pod)
        except (ApiError, StatefulSetPodError) as exc:
            self._pod_event("update", sts, pod, exc)
            raise
        if attempted:
            self._pod_event("update", sts, pod, None)

    async def delete(self, sts: Obj, pod: Obj) -> None:
        """Delete the pod (already gone is fine)."""
        try:
            await self.client.delete(PODS, meta(pod)["name"], meta(pod)["namespace"],
                                     preconditions={"uid": meta(pod)["uid"]})
        except ApiError as exc:
            if exc.code == 404:
                return
            self._pod_event("delete", sts, pod, exc)
            raise
        self._pod_event("delete", sts, pod, None)


class StatefulSetPodError(Exception):
    """A pod or claim write that failed (already reported as an Event)."""


def _text(error: Exception) -> str:
    return error.message if isinstance(error, ApiError) else str(error)
